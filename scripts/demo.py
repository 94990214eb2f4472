"""The README's main job: render workflows/text-to-video.json headless through the real ComfyUI server to an .mp4.

Uses a real SD1.5 checkpoint from <host>/ComfyUI/models/checkpoints if there is one; otherwise the generated tiny
random-weight checkpoint (its frames are noise) on a smaller, shorter job.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOST = Path(os.environ.get("T2VZ_HOST") or REPO / ".host")
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "scripts"))

from comfy_server import ComfyServer  # noqa: E402
from workflow_api import substitute, to_api  # noqa: E402

TINY = "t2vz-tiny-sd15.safetensors"


def user_checkpoint() -> str | None:
    folder = HOST / "ComfyUI" / "models" / "checkpoints"
    found = sorted(p.name for p in folder.glob("*") if p.suffix in (".safetensors", ".ckpt") and p.name != TINY)
    return found[0] if found else None


def main() -> int:
    workflow = json.loads((REPO / "workflows" / "text-to-video.json").read_text())
    real = user_checkpoint()
    model_dirs = {}
    if real is None:
        sys.path.insert(0, str(HOST / "ComfyUI"))
        import comfy.cli_args

        comfy.cli_args.args.cpu = True
        from tiny_models import tiny_checkpoint

        model_dirs["checkpoints"] = tiny_checkpoint().parent
        print("No SD1.5 checkpoint in", HOST / "ComfyUI" / "models" / "checkpoints",
              "- using the generated tiny random-weight model: its frames are NOISE (the pipeline is real).")
    out_dir = REPO / "output"
    out_dir.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = ComfyServer(HOST / "ComfyUI", Path(tmp), model_dirs, python=sys.executable).start()
        try:
            prompt = to_api(workflow, server.get("/object_info"))
            if real:
                prompt = substitute(prompt, checkpoint=real)
                print(f"Rendering with {real}: 8 frames, 512x512, 50 steps (slow on a CPU).")
            else:
                prompt = substitute(prompt, checkpoint=TINY, width=128, height=128, frames=8, steps=10)
            start = time.time()
            entry = server.run(prompt, timeout=6 * 3600)
            videos = [v for outputs in entry["outputs"].values() for key in ("images", "videos", "gifs")
                      for v in outputs.get(key, []) if str(v.get("filename", "")).endswith(".mp4")]
            if not videos:
                print("The workflow produced no .mp4:", json.dumps(entry["outputs"])[:2000])
                return 1
            src = server.output_dir / videos[0].get("subfolder", "") / videos[0]["filename"]
            dst = out_dir / src.name
            n = 1
            while dst.exists():  # never overwrite an earlier demo
                dst = out_dir / f"{src.stem}_{n}{src.suffix}"
                n += 1
            shutil.copy2(src, dst.with_suffix(".partial"))
            os.replace(dst.with_suffix(".partial"), dst)
            print(f"Wrote {dst} in {time.time() - start:.1f}s")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
