"""pytest setup: the real ComfyUI (installed by scripts/install_host.sh) in-process, on the CPU, and this pack
importable as the package ``t2vz`` without starting a server."""
from __future__ import annotations

import os
import sys
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _host() -> Path:
    """$T2VZ_HOST, else the host whose venv runs these tests (.host-0.3.75/venv/bin/python -m pytest), else .host."""
    if os.environ.get("T2VZ_HOST"):
        return Path(os.environ["T2VZ_HOST"])
    running = Path(sys.prefix).parent
    return running if (running / "ComfyUI" / "main.py").exists() else REPO / ".host"


HOST = _host()
os.environ["T2VZ_HOST"] = str(HOST)  # the tiny-model cache (tests/tiny_models.py) and child processes use it too
COMFY = HOST / "ComfyUI"

if not (COMFY / "main.py").exists():
    raise RuntimeError(f"ComfyUI host not found at {COMFY}. Fix: run `make test` (it installs it), or "
                       f"`bash scripts/install_host.sh`, or set T2VZ_HOST to an existing host folder.")

sys.path.insert(0, str(COMFY))
sys.path.insert(0, str(REPO / "tests"))

import comfy.cli_args  # noqa: E402

comfy.cli_args.args.cpu = True  # the torch build is a CUDA one: without this, model_management looks for a driver

# The pack as a package named t2vz (its folder name may be anything, e.g. "main" or "ComfyUI-T2V-Zero"), without
# running its __init__ (which registers nodes with the host): library code is testable on its own.
_pkg = types.ModuleType("t2vz")
_pkg.__path__ = [str(REPO)]
sys.modules.setdefault("t2vz", _pkg)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_checkpoint_path():
    from tiny_models import tiny_checkpoint

    return tiny_checkpoint()


@pytest.fixture(scope="session")
def tiny_controlnet_path():
    from tiny_controlnet import tiny_controlnet

    return tiny_controlnet()


@pytest.fixture(scope="session")
def comfy_server(tmp_path_factory, tiny_checkpoint_path, tiny_controlnet_path):
    """The real ComfyUI server (subprocess, --cpu, 127.0.0.1, free port, temp dirs) with this pack loaded, and
    ComfyUI-Distributed, which workflows/text-to-video-distributed.json uses (no workers: it runs alone). Its model
    folders hold the tiny models: SD1.5, its ControlNet, and the Flux / SD3 files of the DiT workflows."""
    from distributed import distributed_server
    from tiny_dit import workflow_model_folders

    server = distributed_server(HOST, tmp_path_factory.mktemp("comfy"),
                                {"checkpoints": tiny_checkpoint_path.parent, "controlnet": tiny_controlnet_path.parent,
                                 **workflow_model_folders()})
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def packs_server(tmp_path_factory, tiny_checkpoint_path, tiny_controlnet_path):
    """The real ComfyUI server with this pack and the packs users run beside it (AnimateDiff-Evolved,
    VideoHelperSuite: scripts/install_test_packs.sh), loaded from <host>/test_packs."""
    from comfy_server import ComfyServer
    from tiny_dit import workflow_model_folders

    packs = HOST / "test_packs"
    if not packs.is_dir():
        pytest.fail(f"the test packs are not installed at {packs}. Fix: `make test` (it installs them), or "
                    f"`bash scripts/install_test_packs.sh`.")
    server = ComfyServer(COMFY, tmp_path_factory.mktemp("comfy-packs"),
                         {"checkpoints": tiny_checkpoint_path.parent, "controlnet": tiny_controlnet_path.parent,
                          "custom_nodes": packs, **workflow_model_folders()},
                         python=str(HOST / "venv" / "bin" / "python"))
    server.start()
    yield server
    server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the server log to a failing test that used the server."""
    outcome = yield
    report = outcome.get_result()
    funcargs = getattr(item, "funcargs", {})
    server = funcargs.get("comfy_server") or funcargs.get("packs_server")
    if report.failed and server is not None:
        report.sections.append(("ComfyUI server log (tail)", server.log()[-8000:]))


@pytest.fixture(scope="module")
def tiny():
    """A tiny SD1.5-architecture UNet (seeded random weights), one per test module (test_ip2p has its own)."""
    from tiny_models import tiny_unet_patcher

    return tiny_unet_patcher(seed=0)
