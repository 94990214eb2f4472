# Two commands: `make demo` (set up + render the text-to-video workflow to an .mp4) and `make test`.
# COMFYUI=0.33.0 (default, today's) or COMFYUI=0.3.75 (the oldest supported); each gets a host folder of its own.
COMFYUI ?= 0.33.0
HOST ?= $(CURDIR)/.host$(if $(filter-out 0.33.0,$(COMFYUI)),-$(COMFYUI))
PY := $(HOST)/venv/bin/python
export T2VZ_HOST := $(HOST)
export T2VZ_COMFYUI := $(COMFYUI)

.PHONY: host browser packs demo test serve bench ablation clean-host

host:
	bash scripts/install_host.sh

browser:  # Chromium for the browser tests (apt-get when absent)
	bash scripts/install_chromium.sh

packs:  # AnimateDiff-Evolved and VideoHelperSuite, for the tests only
	bash scripts/install_test_packs.sh

demo: host
	$(PY) scripts/demo.py

test: host browser packs
	$(PY) -m pytest $(PYTEST_ARGS)

serve: host
	cd $(HOST)/ComfyUI && $(PY) main.py --cpu --listen 127.0.0.1 --port $${PORT:-8188}

bench: host  # matplotlib draws the figures: a bench-only requirement
	$(PY) -m pip install -q -r bench/requirements.txt
	$(PY) bench/bench.py --quick

ablation: host  # the paper's ablation in the trained world (bench/world): docs/consistency.md's table and figures
	$(PY) -m pip install -q -r bench/requirements.txt
	OMP_NUM_THREADS=1 $(PY) bench/world_ablation.py

clean-host:
	rm -rf $(HOST)
