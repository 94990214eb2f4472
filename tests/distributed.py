"""A ComfyUI-Distributed cluster for the tests: a master and workers, each a real ComfyUI server (separate process,
--cpu, 127.0.0.1) with this pack and its own copy of ComfyUI-Distributed 1.4.4 (scripts/install_test_packs.sh; the
extension keeps its worker list, gpu_config.json, in its own folder). Jobs are queued as the extension's frontend
queues them: POST /distributed/queue on the master."""
from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

from comfy_server import ComfyServer

THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # a cluster's processes share few cores: one thread each


def distributed_packs(host: Path, workdir: Path) -> Path:
    """A custom_nodes folder in ``workdir`` holding a copy of the host's ComfyUI-Distributed (each server needs its
    own: the extension rewrites its worker list, gpu_config.json, in its folder)."""
    source = host / "distributed" / "ComfyUI-Distributed"
    if not (source / "__init__.py").exists():
        raise RuntimeError(f"ComfyUI-Distributed is not installed at {source}. Fix: `make test` (it installs it), or "
                           f"`bash scripts/install_test_packs.sh`.")
    packs = workdir / "custom_nodes"
    shutil.copytree(source, packs / source.name)
    return packs


def distributed_server(host: Path, workdir: Path, model_dirs: dict, env: dict | None = None) -> ComfyServer:
    """A ComfyUI server of ``host`` (not started) with this pack and its own copy of ComfyUI-Distributed."""
    return ComfyServer(host / "ComfyUI", workdir, {**model_dirs, "custom_nodes": distributed_packs(host, workdir)},
                       python=str(host / "venv" / "bin" / "python"), env=env)


class Cluster:
    """A master and ``workers`` workers (ids w1, w2, ...), in the master's worker list in that order.
    ``delegate_master``: the master only coordinates (the panel's "Master orchestrator only", the setting
    master_delegate_only): it runs no part of the workflow before the collector, only the collector and what follows."""

    def __init__(self, host: Path, root: Path, model_dirs: dict, workers: int = 2, timeout_seconds: int = 10,
                 delegate_master: bool = False):
        self.delegate_master = delegate_master
        self.workers = {f"w{k + 1}": distributed_server(host, root / f"w{k + 1}", model_dirs,
                                                        {**THREADS, "COMFYUI_IS_WORKER": "1"}) for k in range(workers)}
        self.master = distributed_server(host, root / "master", model_dirs, THREADS)
        config = {"master": {"host": ""},
                  "workers": [{"id": wid, "name": wid, "host": "127.0.0.1", "port": server.port, "enabled": True,
                               "type": "local", "cuda_device": 0, "extra_args": "--cpu"}
                              for wid, server in self.workers.items()],
                  # a quiet worker is dropped after timeout_seconds (then probed: a busy one is waited for)
                  "settings": {"worker_timeout_seconds": timeout_seconds, "websocket_orchestration": False,
                               "master_delegate_only": delegate_master, "auto_launch_workers": False,
                               "stop_workers_on_master_exit": False, "debug": True}}
        (root / "master" / "custom_nodes" / "ComfyUI-Distributed" / "gpu_config.json").write_text(json.dumps(config))

    def start(self) -> "Cluster":
        for server in (*self.workers.values(), self.master):
            server.start()
        return self

    def stop(self) -> None:
        for server in (self.master, *self.workers.values()):
            server.stop()

    def queue(self, prompt: dict, worker_ids: list[str] | None = None) -> dict:
        """POST /distributed/queue on the master; its answer (prompt_id, worker_count)."""
        ids = list(self.workers) if worker_ids is None else worker_ids
        return self.master.post("/distributed/queue", {"prompt": prompt, "enabled_worker_ids": ids,
                                                        "client_id": str(uuid.uuid4())}, timeout=120)
