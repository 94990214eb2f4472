"""The README's main job: render workflows/text-to-video.json headless through the real ComfyUI server to an .mp4
in <repo>/output/.

Uses the first SD1.5 checkpoint (*.safetensors / *.ckpt) in <host>/ComfyUI/models/checkpoints if there is one, at
the workflow's own settings (8 frames, 512x512, 50 steps: slow on a CPU). Otherwise it renders the small world's
model (bench/world: an SD1.5-layout model trained here on synthetic scenes, assembled into
<host>/models/checkpoints) on one of its scenes at 128x128 (WORLD_JOB, about a minute on 2 CPU cores): an object that
keeps its look while the camera pans. Either way the Video Consistency Metrics node measures the frames and its report
is printed beside the video's path. Beside the video it also writes the Motion Preview of the same camera move on
ComfyUI's example picture.

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

sys.path.insert(0, str(REPO / "bench" / "world"))

WORLD_PROMPT = "a red circle on a striped background"
WORLD_JOB = {"width": 128, "height": 128, "frames": 8, "steps": 10}
WORLD_SAMPLER = {"cfg": 4.0, "sampler_name": "euler", "scheduler": "normal", "motion_x": -16.0, "motion_y": 0.0,
                 "t0": 20, "t1": 25}
"""The ablation's settings (docs/consistency.md): euler, 10 steps, cfg 4, and the warp step with which the world's
video follows the camera best (20/25; the paper's 44/47 does not follow it there); motion_x in 512-px units: 4 px
a frame at 128 px, the content moving right (this seed's object starts near the centre and stays in view)."""


def user_checkpoint() -> str | None:
    import world_model  # noqa: PLC0415

    folder = HOST / "ComfyUI" / "models" / "checkpoints"
    found = sorted(p.name for p in folder.glob("*") if p.suffix in (".safetensors", ".ckpt")
                   and p.name != world_model.CHECKPOINT_NAME and not p.name.startswith("t2vz-"))
    return found[0] if found else None


def world_checkpoint_dir() -> Path:
    """The folder holding the world's SD1.5 checkpoint (assembled from bench/world's weights, cached)."""
    sys.path.insert(0, str(HOST / "ComfyUI"))
    import comfy.cli_args  # noqa: PLC0415

    comfy.cli_args.args.cpu = True  # the torch build may be a CUDA one: no driver lookups while assembling
    import world_model  # noqa: PLC0415

    return world_model.world_checkpoint().parent


def world_job(prompt: dict) -> dict:
    """The workflow's prompt set to the world's scene and sampler settings."""
    import world_model  # noqa: PLC0415

    prompt = substitute(prompt, checkpoint=world_model.CHECKPOINT_NAME, **WORLD_JOB)
    for node in prompt.values():
        inputs = node["inputs"]
        if node["class_type"] == "CLIPTextEncode" and inputs.get("text"):
            inputs["text"] = WORLD_PROMPT
        if node["class_type"] == "MotionLatentSampler":
            inputs.update(WORLD_SAMPLER)
    return prompt


def with_metrics(prompt: dict) -> tuple[dict, str]:
    """``prompt`` with a Video Consistency Metrics node on the decoded frames, and that node's id."""
    decoded = next(nid for nid, node in prompt.items() if node["class_type"] == "VAEDecode")
    prompt = {**prompt, "metrics": {"class_type": "VideoConsistencyMetrics",
                                    "inputs": {"frames": [decoded, 0], "flow_method": "dis"}}}
    return prompt, "metrics"


def camera_preview(server: ComfyServer, video_prompt: dict) -> Path:
    """The Motion Preview of the video's camera move (its size, frames and motion inputs) on ComfyUI's example
    picture, written next to the video as <name>-camera-preview_*.mp4. Milliseconds of work, no model."""
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
        banner(f"No SD1.5 checkpoint in {HOST / 'ComfyUI' / 'models' / 'checkpoints'}: rendering the small world's\n"
               f"model (trained here on synthetic scenes, bench/world) on \"{WORLD_PROMPT}\", "
               f"{WORLD_JOB['frames']} frames at {WORLD_JOB['width']}x{WORLD_JOB['height']}, the camera panning.\n"
               f"For a real video put e.g. v1-5-pruned-emaonly.safetensors there and run `make demo` again.")
        model_dirs["checkpoints"] = world_checkpoint_dir()
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
                prompt = world_job(prompt)
                print("Rendering workflows/text-to-video.json with the world's model ...", flush=True)
            prompt, metrics = with_metrics(prompt)
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
            report = "\n".join(entry["outputs"].get(metrics, {}).get("text", ["(no report)"]))
            preview = camera_preview(server, prompt)
        finally:
            server.stop()
    print(f"\nWrote {path}")
    print(f"  and {preview}: the camera move of this video (the Motion Preview node, the sampler's own warp) on "
          f"ComfyUI's example picture: what any model's video would do with that move")
    print(f"  workflow run {time.time() - run_start:.1f}s, total {time.time() - started:.1f}s (server start "
          f"included)")
    print("\nVideo Consistency Metrics on these frames (the node's report):\n" + report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
