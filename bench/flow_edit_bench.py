"""What following the flow costs: time and peak memory of an edit in each flow mode against today's (shared noise +
frame-0 attention), at the same settings.

Two models, random weights at real width (speed and memory do not depend on the weights):
  dit   Edit Video's library call (motion/reference_edit.py) on the mid-size Flux of bench/dit_bench.py (hidden 512,
        2 double + 4 single blocks; ComfyUI's Flux takes reference latents as Kontext [dev] does), euler / simple
  unet  the Motion Latent Sampler's call (motion/sampler.py sample_video, ControlNet video's noise_mode) on the
        smallest SD1.5 UNet the checkpoint loader detects (320 channels, tests/tiny_models.py CHECKPOINT_UNET)
F frames of a rendered pan (a smooth texture moving 8 px a frame) at --size px; the flow is OpenCV's DIS, computed
inside the timed call as the nodes do. Modes: shared (today), flow (noise_mode flow), trajectory (shared noise +
attention_along_flow), flow_trajectory (both). Each (model, mode) runs in a child process of its own, so its peak
memory is its own: the CUDA allocator's peak on a GPU, the process's peak resident set on the CPU (which includes
the model and Python: compare modes, not absolute values). Time: the median of --runs after one warm-up.

Usage: python bench/flow_edit_bench.py [--frames 8] [--size 256] [--steps 4] [--runs 3] [--threads 2] [--device cpu]
The last line printed is one JSON object (bench/flow_edit_bench.json keeps the committed run).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parents[1]
MODES = {"shared": ("shared", False), "flow": ("flow", False), "trajectory": ("shared", True),
         "flow_trajectory": ("flow", True)}
MODELS = ("dit", "unet")


def pan_frames(frames: int, size: int, step: int = 8):
    """IMAGE (frames, size, size, 3): a smooth random texture whose content moves ``step`` px a frame."""
    import cv2
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.random((size, size + frames * step, 3)).astype(np.float32), (0, 0), 3.0)
    base = (base - base.min()) / (base.max() - base.min())
    return torch.from_numpy(np.stack([base[:, (frames - 1 - k) * step:(frames - 1 - k) * step + size]
                                      for k in range(frames)]))


def child(args) -> dict:
    """One (model, mode): time per run and the peak memory, as JSON on the last line."""
    import bench
    import dit_bench

    bench.bootstrap(args.device)
    dit_bench.setup(args.threads)
    import torch

    from t2vz.motion.flow_noise import source_motion

    noise_mode, along_flow = MODES[args.mode]
    images = pan_frames(args.frames, args.size)
    latent_side = args.size // 8
    if args.model == "dit":
        from t2vz.motion.reference_edit import edit_video_by_reference
        from t2vz.motion.video_edit import edit_sigmas

        with tempfile.TemporaryDirectory() as tmp:
            model = dit_bench.mid_flux(Path(tmp))
        sources = torch.randn((args.frames, 16, latent_side, latent_side), generator=torch.Generator().manual_seed(1))
        sigmas = edit_sigmas(model, args.steps, "euler", "simple")

        def run():
            motion = source_motion(images) if noise_mode == "flow" or along_flow else None
            return edit_video_by_reference(model, dit_bench.conditioning(1), dit_bench.conditioning(2), sources, 7,
                                           sigmas, "euler", 1.0, noise_mode, motion=motion, along_flow=along_flow)
    else:
        from t2vz.motion.sampler import sample_video
        from tiny_models import conditioning

        model, context = bench.build("mid", args.device)
        latent = torch.zeros((args.frames, 4, latent_side, latent_side))

        def run():
            motion = source_motion(images) if noise_mode == "flow" or along_flow else None
            return sample_video(model, conditioning(1, context), conditioning(2, context), latent, 7, args.steps,
                                7.5, "euler_ancestral", "normal", noise_mode=noise_mode, flow=motion,
                                along_flow=along_flow)

    with torch.inference_mode():
        run()  # warm-up
        times = [bench.time_it(run, args.device) for _ in range(args.runs)]
    return {"model": args.model, "mode": args.mode, "seconds": statistics.median(times), "runs": times,
            "peak_bytes": bench.peak_bytes(args.device)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.model:
        print(json.dumps(child(args)))
        return 0
    rows = []
    for model in args.models.split(","):
        for mode in MODES:
            command = [sys.executable, __file__, "--model", model, "--mode", mode, "--frames", str(args.frames),
                       "--size", str(args.size), "--steps", str(args.steps), "--runs", str(args.runs),
                       "--threads", str(args.threads), "--device", args.device]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            row = rows[-1]
            print(f"{model} {mode}: {row['seconds']:.2f} s, peak {row['peak_bytes'] / 2 ** 20:.0f} MiB", flush=True)
    import bench

    bench.bootstrap(args.device)
    result = {"frames": args.frames, "size": args.size, "steps": args.steps, "runs": args.runs,
              "threads": args.threads, "environment": bench.environment(args.device), "rows": rows}
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
