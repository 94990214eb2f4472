"""Speed and memory of MotionLatentSampler against a plain KSampler and the reference (diffusers).

  A  plain ComfyUI KSampler on the F frames as one batch (the limit: Text2Video-Zero cannot cost less)
  B  MotionLatentSampler, noise mode `motion`, cross-frame attention on
  C  diffusers' TextToVideoZeroPipeline with the very same UNet weights (copied with ComfyUI's own
     comfy.utils.unet_to_diffusers key map), DDIM, same frames/size/steps
  D  B with frames_per_chunk 8, for F = 8, 32, 128: peak memory (one process per F) and time per frame

Both sides use PyTorch SDPA attention (ComfyUI started with use_pytorch_cross_attention, diffusers' default), fp32 on
CPU and fp16 on CUDA. Timings are medians of --runs runs; ratios come from the same process. The last line printed is
one JSON object. Usage: python bench/bench.py [--quick] [--model tiny|full] [--runs N]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOST = Path(os.environ.get("T2VZ_HOST") or REPO / ".host")

FULL_UNET = {
    "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True, "legacy": False,
    "adm_in_channels": None, "in_channels": 4, "model_channels": 320, "num_res_blocks": [2, 2, 2, 2],
    "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0], "channel_mult": [1, 2, 4, 4], "transformer_depth_middle": 1,
    "use_linear_in_transformer": False, "context_dim": 768, "num_heads": 8, "num_head_channels": -1,
    "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0], "use_temporal_attention": False,
    "use_temporal_resblock": False,
}


def bootstrap(device: str):
    sys.path.insert(0, str(HOST / "ComfyUI"))
    sys.path.insert(0, str(REPO / "tests"))
    import comfy.cli_args

    comfy.cli_args.args.cpu = device == "cpu"
    comfy.cli_args.args.use_pytorch_cross_attention = True  # SDPA, as diffusers: the same kernel on both sides
    pkg = types.ModuleType("t2vz")
    pkg.__path__ = [str(REPO)]
    sys.modules.setdefault("t2vz", pkg)


def build(model_kind: str, device: str):
    import torch
    from tiny_models import TINY_UNET, tiny_unet_patcher

    cfg = FULL_UNET if model_kind == "full" else TINY_UNET
    patcher = tiny_unet_patcher(seed=0, unet_config=cfg)
    if device == "cuda":
        patcher.model.diffusion_model.to(torch.float16)
    context = cfg["context_dim"]
    return patcher, context


def peak_bytes(device: str) -> int:
    if device == "cuda":
        import torch

        return int(torch.cuda.max_memory_allocated())
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def sync(device):
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def time_it(fn, device):
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def run_timing(args) -> dict:
    """A, B and C in one process, interleaved, medians of args.runs."""
    import torch
    import comfy.sample
    from reference import reference_pipeline
    from t2vz.motion import Motion, sample_video
    from tiny_models import conditioning, diffusers_unet

    patcher, ctx = build(args.model, args.device)
    frames, size, steps = args.frames, args.size, args.steps
    positive, negative = conditioning(1, ctx), conditioning(2, ctx)
    latent = torch.zeros((frames, 4, size, size))
    unet = diffusers_unet(patcher).to(args.device)
    if args.device == "cuda":
        unet = unet.half()
    pipe = reference_pipeline(unet, positive[0][0].to(args.device, unet.dtype), negative[0][0].to(args.device, unet.dtype))

    def a():
        comfy.sample.sample(patcher, comfy.sample.prepare_noise(latent, 1), steps, 7.5, "ddim", "ddim_uniform",
                            positive, negative, latent, disable_pbar=True, seed=1)

    def b():
        sample_video(patcher, positive, negative, latent, 1, steps, 7.5, "ddim", "ddim_uniform", "motion", Motion())

    def c():
        with torch.no_grad():
            pipe(prompt="-", video_length=frames, height=size * 8, width=size * 8, num_inference_steps=steps,
                 guidance_scale=7.5, generator=torch.Generator().manual_seed(1), output_type="latent")

    for fn in (a, b, c):  # warm-up (allocations, kernel selection)
        fn()
    times = {"A": [], "B": [], "C": []}
    for _ in range(args.runs):
        for name, fn in (("A", a), ("B", b), ("C", c)):
            times[name].append(time_it(fn, args.device))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"seconds": med, "all_seconds": times}


def run_memory(args) -> dict:
    """D for one frame count: one run, peak memory of this process."""
    import torch
    from t2vz.motion import Motion, sample_video
    from tiny_models import conditioning

    patcher, ctx = build(args.model, args.device)
    positive, negative = conditioning(1, ctx), conditioning(2, ctx)
    latent = torch.zeros((args.frames, 4, args.size, args.size))
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    base = peak_bytes(args.device)
    seconds = time_it(lambda: sample_video(patcher, positive, negative, latent, 1, args.steps, 7.5, "ddim",
                                           "ddim_uniform", "motion", Motion(), frames_per_chunk=args.chunk),
                      args.device)
    return {"seconds": seconds, "peak_bytes": peak_bytes(args.device), "baseline_bytes": base}


def child(args, mode: str, **overrides) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--model", args.model, "--device", args.device,
           "--size", str(args.size), "--steps", str(args.steps), "--runs", str(args.runs)]
    for k, v in overrides.items():
        cmd += [f"--{k}", str(v)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def plot(path: Path, frame_counts, seconds_per_frame, peaks):
    """A small PNG: time per frame and peak memory against frame count (Pillow; no plotting library needed)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (640, 300), "white")
    draw = ImageDraw.Draw(img)
    panels = [("seconds per frame", seconds_per_frame, (20, 20)), ("peak memory (MiB)", [p / 2**20 for p in peaks], (330, 20))]
    for title, values, (x0, y0) in panels:
        draw.rectangle([x0, y0, x0 + 290, y0 + 250], outline="black")
        draw.text((x0 + 8, y0 + 6), title + " vs frames (chunks of 8)", fill="black")
        top = max(values) * 1.15 or 1.0
        points = []
        for i, (f, v) in enumerate(zip(frame_counts, values)):
            x = x0 + 40 + i * (220 / max(1, len(values) - 1))
            y = y0 + 230 - (v / top) * 190
            points.append((x, y))
            draw.text((x - 8, y0 + 234), str(f), fill="black")
            draw.text((x - 10, y - 16), f"{v:.3g}", fill="blue")
        draw.line(points, fill="blue", width=2)
    img.save(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny model, small sizes: under 3 minutes on 2 cores")
    parser.add_argument("--model", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=None, help="latent size (64 = 512 px)")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=8)
    parser.add_argument("--frame-counts", default="8,32,128", help="frame counts for the chunked memory runs (D)")
    parser.add_argument("--plot", default=str(REPO / "bench" / "scaling.png"))
    parser.add_argument("--child", choices=["timing", "memory"], default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.size is None:
        args.size = 64 if args.device == "cuda" else (8 if args.quick else 16)
    if args.quick:
        args.model = "tiny"
    bootstrap(args.device)

    if args.child == "timing":
        print(json.dumps(run_timing(args)))
        return
    if args.child == "memory":
        print(json.dumps(run_memory(args)))
        return

    timing = child(args, "timing", frames=args.frames)
    timing32 = child(args, "timing", frames=32) if (not args.quick and "32" in args.frame_counts.split(",")) else None
    frame_counts = [int(f) for f in args.frame_counts.split(",")]
    memory = [child(args, "memory", frames=f, chunk=args.chunk) for f in frame_counts]
    sec = timing["seconds"]
    result = {
        "device": args.device, "model": args.model, "frames": args.frames, "latent_size": args.size,
        "steps": args.steps, "runs": args.runs, "attention": "pytorch sdpa (both sides)",
        "overhead_vs_ksampler": sec["B"] / sec["A"],
        "speedup_vs_reference": sec["C"] / sec["B"],
        f"peak_mem_ratio_{frame_counts[-1]}_vs_{frame_counts[0]}": memory[-1]["peak_bytes"] / memory[0]["peak_bytes"],
        # on CPU the process peak includes torch and the model: the sampling's own growth tells more
        f"peak_growth_ratio_{frame_counts[-1]}_vs_{frame_counts[0]}":
            (memory[-1]["peak_bytes"] - memory[-1]["baseline_bytes"])
            / max(1, memory[0]["peak_bytes"] - memory[0]["baseline_bytes"]),
        "seconds": {"ksampler_A": sec["A"], "motion_sampler_B": sec["B"], "reference_C": sec["C"]},
        "chunked_D": {str(f): {"seconds": m["seconds"], "seconds_per_frame": m["seconds"] / f,
                               "peak_bytes": m["peak_bytes"], "baseline_bytes": m["baseline_bytes"]} for f, m in zip(frame_counts, memory)},
        "peak_memory_measure": "max RSS of a process per frame count" if args.device == "cpu"
        else "torch.cuda.max_memory_allocated",
    }
    if timing32 is not None:
        result["chunk_overhead"] = memory[frame_counts.index(32)]["seconds"] / timing32["seconds"]["B"]
    try:
        plot(Path(args.plot), frame_counts, [m["seconds"] / f for f, m in zip(frame_counts, memory)],
             [m["peak_bytes"] for m in memory])
        result["plot"] = args.plot
    except Exception as e:  # the figures matter more than the picture
        result["plot_error"] = str(e)
    print(f"A KSampler {sec['A']:.3f}s  B MotionLatentSampler {sec['B']:.3f}s  C reference {sec['C']:.3f}s  "
          f"(median of {args.runs}, {args.frames} frames, {args.steps} steps, latent {args.size}x{args.size}, "
          f"{args.model} UNet, {args.device})")
    for f, m in zip(frame_counts, memory):
        print(f"D chunks of {args.chunk}: {f:4d} frames  {m['seconds']:.2f}s  {m['seconds'] / f:.4f}s/frame  "
              f"peak {m['peak_bytes'] / 2**20:.0f} MiB")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
