# Two commands: `make demo` (set up + render the text-to-video workflow to an .mp4) and `make test`.
HOST ?= $(CURDIR)/.host
PY := $(HOST)/venv/bin/python
export T2VZ_HOST := $(HOST)

.PHONY: host browser demo test serve bench clean-host

host:
	bash scripts/install_host.sh

browser:  # Chromium for the browser tests (apt-get when absent)
	bash scripts/install_chromium.sh

demo: host
	$(PY) scripts/demo.py

test: host browser
	$(PY) -m pytest $(PYTEST_ARGS)

serve: host
	cd $(HOST)/ComfyUI && $(PY) main.py --cpu --listen 127.0.0.1 --port $${PORT:-8188}

bench: host
	$(PY) bench/bench.py --quick

clean-host:
	rm -rf $(HOST)
