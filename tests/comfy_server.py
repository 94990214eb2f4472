"""The real ComfyUI server, started as a subprocess with this pack in custom_nodes, and a small API client."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PromptError(RuntimeError):
    """A prompt that ComfyUI rejected or that failed while running; ``details`` holds ComfyUI's answer."""

    def __init__(self, message: str, details):
        super().__init__(message)
        self.details = details


class ComfyServer:
    def __init__(self, comfy_dir: Path, workdir: Path, model_dirs: dict[str, Path], python: str | None = None,
                 extra_args: list[str] | None = None, env: dict[str, str] | None = None):
        self.comfy_dir = Path(comfy_dir)
        self.workdir = Path(workdir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.output_dir = self.workdir / "output"
        self.input_dir = self.workdir / "input"
        self.log_path = self.workdir / "server.log"
        self.python = python or sys.executable
        self.model_dirs = model_dirs
        self.extra_args = extra_args or []
        self.env = env or {}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 180.0) -> "ComfyServer":
        for d in (self.output_dir, self.input_dir, self.workdir / "temp", self.workdir / "user"):
            d.mkdir(parents=True, exist_ok=True)
        paths = self.workdir / "extra_model_paths.yaml"
        lines = ["t2vz_tests:", f"    base_path: {self.workdir}"]
        # "custom_nodes" here adds a folder of packs to ComfyUI's custom node search path, as for model folders
        lines += [f"    {kind}: {path}" for kind, path in self.model_dirs.items()]
        paths.write_text("\n".join(lines) + "\n")
        cmd = [self.python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
               "--output-directory", str(self.output_dir), "--input-directory", str(self.input_dir),
               "--temp-directory", str(self.workdir / "temp"), "--user-directory", str(self.workdir / "user"),
               "--database-url", f"sqlite:///{self.workdir / 'user' / 'comfyui.db'}",
               "--extra-model-paths-config", str(paths), "--disable-auto-launch", *self.extra_args]
        if self.log_path.exists():  # a restart keeps the earlier run's log beside the new one
            runs = len(list(self.workdir.glob("server.log.*")))
            self.log_path.rename(self.workdir / f"server.log.{runs + 1}")
        self._log = open(self.log_path, "wb")
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        self.proc = subprocess.Popen(cmd, cwd=self.comfy_dir, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.proc.returncode}:\n{self.log()}")
            try:
                self.get("/object_info/CheckpointLoaderSimple", timeout=5)
                return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.5)
        raise RuntimeError(f"ComfyUI did not answer within {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if getattr(self, "_log", None):
            self._log.close()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # --- HTTP -------------------------------------------------------------------------------------------------
    def get(self, path: str, timeout: float = 30):
        with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
            return json.loads(r.read())

    def post_text(self, path: str, text: str, timeout: float = 600) -> tuple[int, str]:
        """POST a plain-text body; (status, answer text), also for error statuses."""
        req = urllib.request.Request(self.url + path, data=text.encode(), headers={"Content-Type": "text/plain"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")

    def post(self, path: str, body: dict, timeout: float = 30):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                return json.loads(raw) if raw else {}
        except urllib.error.HTTPError as e:
            raise PromptError(f"{path} answered {e.code}", json.loads(e.read() or b"{}")) from None

    def queue(self, prompt: dict) -> str:
        answer = self.post("/prompt", {"prompt": prompt, "client_id": str(uuid.uuid4())})
        return answer["prompt_id"]

    def wait(self, prompt_id: str, timeout: float = 600) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            history = self.get(f"/history/{prompt_id}")
            if prompt_id in history:
                entry = history[prompt_id]
                status = entry.get("status", {})
                if status.get("completed") or status.get("status_str") in ("success", "error"):
                    if status.get("status_str") == "error":
                        raise PromptError(_error_text(status), entry)
                    return entry
            if not self.alive():
                raise RuntimeError(f"ComfyUI died while running the prompt:\n{self.log()}")
            time.sleep(0.25)
        raise TimeoutError(f"prompt {prompt_id} did not finish in {timeout}s")

    def run(self, prompt: dict, timeout: float = 600) -> dict:
        """Queue an API-format prompt and wait; returns its /history entry (outputs per node id)."""
        return self.wait(self.queue(prompt), timeout)


def _error_text(status: dict) -> str:
    for kind, data in status.get("messages", []):
        if kind == "execution_error":
            return f"{data.get('node_type')}: {data.get('exception_message')}"
    return json.dumps(status)[:2000]


def fresh_comfyui(comfy: Path, dest: Path) -> Path:
    """A copy of the ComfyUI at ``comfy`` without its custom nodes and run-time folders (its stock custom_nodes
    files stay): a stock ComfyUI, as a new user has it."""
    runtime = {"user", "output", "temp", "__pycache__"}
    shutil.copytree(comfy, dest, symlinks=True,
                    ignore=lambda folder, names: [n for n in names if n in runtime or
                                                  (Path(folder) == comfy and n == "custom_nodes")])
    (dest / "custom_nodes").mkdir()
    for stock in (comfy / "custom_nodes").iterdir():
        if stock.is_file() and not stock.is_symlink():
            shutil.copy2(stock, dest / "custom_nodes" / stock.name)
    return dest
