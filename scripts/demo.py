"""The README's main job: render workflows/text-to-video.json headless through the real ComfyUI server to an .mp4
in <repo>/output/.

Uses the first SD1.5 checkpoint (*.safetensors / *.ckpt) in <host>/ComfyUI/models/checkpoints if there is one, at
the workflow's own settings (8 frames, 512x512, 50 steps: slow on a CPU). Otherwise it generates the tiny
random-weight test checkpoint (cached under <host>/models) and runs a smaller, shorter job (128x128, 8 frames,
10 steps, about a minute on 2 CPU cores): the pipeline is the real one, but that model's frames are NOISE. Beside the
video it writes the Motion Preview of the same camera move on ComfyUI's example picture, which shows something true.

Host: T2VZ_HOST (default <repo>/.host). Run: make demo  (= <host>/venv/bin/python scripts/demo.py)
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOST = Path(os.environ.get("T2VZ_HOST") or REPO / ".host").resolve()
OUTPUT = REPO / "output"
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "scripts"))

from comfy_server import ComfyServer, PromptError  # noqa: E402
from workflow_api import substitute, to_api  # noqa: E402

TINY = "t2vz-tiny-sd15.safetensors"
TINY_JOB = {"width": 128, "height": 128, "frames": 8, "steps": 10}


def user_checkpoint() -> str | None:
    folder = HOST / "ComfyUI" / "models" / "checkpoints"
    found = sorted(p.name for p in folder.glob("*") if p.suffix in (".safetensors", ".ckpt") and p.name != TINY)
    return found[0] if found else None


def tiny_checkpoint_dir() -> Path:
    sys.path.insert(0, str(HOST / "ComfyUI"))
    import comfy.cli_args  # noqa: PLC0415

    comfy.cli_args.args.cpu = True  # the torch build may be a CUDA one; the generator must not look for a driver
    from tiny_models import tiny_checkpoint  # noqa: PLC0415

    return tiny_checkpoint().parent


def camera_preview(server: ComfyServer, video_prompt: dict) -> Path:
    """The Motion Preview of the video's camera move (its size, frames and motion inputs) on ComfyUI's example
    picture, written next to the video as <name>-camera-preview_*.mp4. Milliseconds of work, no model: unlike the
    tiny model's frames it shows something true."""
    import shutil  # noqa: PLC0415

    shutil.copyfile(HOST / "ComfyUI" / "input" / "example.png", server.input_dir / "example.png")
    nodes = {node["class_type"]: (nid, node["inputs"]) for nid, node in video_prompt.items()}
    latent_id, sampler = nodes["EmptyLatentImage"][0], nodes["MotionLatentSampler"][1]
    fps = nodes["FramesToVideo"][1]["frame_rate"]
    prompt = {
        latent_id: video_prompt[latent_id],
        "p1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
        "p2": {"class_type": "MotionPreview", "inputs": {
            "latent_image": [latent_id, 0], "first_frame": ["p1", 0], "frame_rate": fps,
            **{k: sampler[k] for k in ("motion_x", "motion_y", "zoom", "rotation")}}},
        "p3": {"class_type": "FramesToVideo", "inputs": {
            "images": ["p2", 0], "frame_rate": fps, "format": "mp4", "quality": 19, "loop_count": 0,
            "pingpong": False, "filename_prefix": "text-to-video-camera-preview", "save_output": True}},
    }
    (video,) = server.run(prompt)["outputs"]["p3"]["images"]
    return OUTPUT / video.get("subfolder", "") / video["filename"]


def banner(text: str) -> None:
    print("\n" + "!" * 100 + "\n" + text + "\n" + "!" * 100 + "\n", flush=True)


def main() -> int:
    started = time.time()
    if not (HOST / "ComfyUI" / "main.py").exists():
        print(f"No ComfyUI host at {HOST}. Fix: run `make demo` (it installs one) or set T2VZ_HOST.")
        return 2
    workflow = json.loads((REPO / "workflows" / "text-to-video.json").read_text())
    real = user_checkpoint()
    model_dirs = {}
    if real is None:
        banner(f"No SD1.5 checkpoint in {HOST / 'ComfyUI' / 'models' / 'checkpoints'}: using the generated TINY\n"
               f"RANDOM-WEIGHT model on a small job ({TINY_JOB['frames']} frames, {TINY_JOB['width']}x"
               f"{TINY_JOB['height']}, {TINY_JOB['steps']} steps). The pipeline is real; the frames are NOISE.\n"
               f"For a real video put e.g. v1-5-pruned-emaonly.safetensors there and run `make demo` again.")
        model_dirs["checkpoints"] = tiny_checkpoint_dir()
    OUTPUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # ComfyUI writes straight into <repo>/output: FramesToVideo's counter never overwrites an earlier demo
        server = ComfyServer(HOST / "ComfyUI", Path(tmp), model_dirs, python=sys.executable,
                             extra_args=["--output-directory", str(OUTPUT)])
        print("Starting ComfyUI (headless, CPU) ...", flush=True)
        server.start()
        try:
            prompt = to_api(workflow, server.get("/object_info"))
            if real:
                prompt = substitute(prompt, checkpoint=real)
                print(f"Rendering workflows/text-to-video.json with {real}: 8 frames, 512x512, 50 steps "
                      f"(slow on a CPU; minutes to hours).", flush=True)
            else:
                prompt = substitute(prompt, checkpoint=TINY, **TINY_JOB)
                print("Rendering workflows/text-to-video.json with the tiny model ...", flush=True)
            for node in prompt.values():
                if node["class_type"] == "FramesToVideo":
                    node["inputs"]["filename_prefix"] = "text-to-video"
            run_start = time.time()
            try:
                # the UI workflow goes along as ComfyUI's frontend sends it: FramesToVideo embeds it in the .mp4
                queued = server.post("/prompt", {"prompt": prompt, "client_id": str(uuid.uuid4()),
                                                 "extra_data": {"extra_pnginfo": {"workflow": workflow}}})
                entry = server.wait(queued["prompt_id"], timeout=12 * 3600)
            except PromptError as err:
                print(f"ComfyUI refused or failed the workflow: {err}\n{json.dumps(err.details)[:3000]}")
                return 1
            videos = [item for out in entry["outputs"].values() for item in out.get("images", [])
                      if str(item.get("filename", "")).endswith(".mp4")]
            if not videos:
                print("The workflow produced no .mp4:", json.dumps(entry["outputs"])[:2000])
                return 1
            path = OUTPUT / videos[0].get("subfolder", "") / videos[0]["filename"]
            preview = camera_preview(server, prompt)
        finally:
            server.stop()
    print(f"\nWrote {path}")
    print(f"  and {preview}: the camera move of this video (the Motion Preview node, the sampler's own warp) on "
          f"ComfyUI's example picture: what any model's video would do with that move")
    print(f"  workflow run {time.time() - run_start:.1f}s, total {time.time() - started:.1f}s (server start "
          f"included)")
    if real is None:
        print("  (tiny random-weight model: the frames are noise, by design)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
