"""Speed and memory of MotionLatentSampler against a plain KSampler and the reference (diffusers).

  A     plain ComfyUI KSampler on the F frames as one batch (the limit: Text2Video-Zero cannot cost less)
  B     MotionLatentSampler, noise mode `motion`, cross-frame attention on
  C     diffusers' TextToVideoZeroPipeline with the very same UNet weights (copied with ComfyUI's own
        comfy.utils.unet_to_diffusers key map), DDIM, same frames/size/steps/t0/t1
  D     B with frames_per_chunk 8: B and D on 32 frames (chunk overhead), and F = 8, 32, 128 in one process each
        (peak memory, time per frame)
  L128  128 frames: B in chunks of 8 against the reference's chunked long-video recipe (its docs' frame_ids loop:
        chunks of 7 new frames with global frame 0 prepended, the generator re-seeded per chunk)
  T     B on a model through core TomePatchModel (token merging, --tome ratio): time against B, and the peak memory
        of each in a process of its own

Work is counted, not assumed: a forward hook on each side's UNet counts calls and batch rows; frame-steps are rows
over the 2 classifier-free-guidance rows per frame. Both sides use PyTorch SDPA attention (ComfyUI started with
use_pytorch_cross_attention, diffusers' CrossFrameAttnProcessor2_0), fp32 on CPU and fp16 on CUDA. Timings are
medians of --runs runs, interleaved in one process per comparison, under torch.inference_mode() as ComfyUI's
executor runs prompts; a ratio is the median of the per-run ratios (each pair timed back to back), printed with their
range. The last line printed is one JSON object.
Usage: python bench/bench.py [--quick] [--model tiny|mid|full] [--runs N] [--long-steps N]
                             [--parts timing,long,memory,tome] [--tome RATIO]
       python bench/bench.py --replot bench/scaling.json   (redraws bench/scaling.png from the saved data)
The memory part draws bench/scaling.png with matplotlib, a bench-only dependency (not the pack's):
  .host/venv/bin/python -m pip install -r bench/requirements.txt
"""
from __future__ import annotations

import argparse
import json
import os
import platform
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
MODEL_KINDS = ("tiny", "mid", "full")
"""tiny: the test UNet (32 channels); mid: SD1.5's first level only (320 channels, 768-d text, 8 heads: the tiny
checkpoint's UNet), a CPU-sized proxy whose layers have SD1.5's widths; full: SD1.5's UNet."""

CHUNK_OVERHEAD_FRAMES = 32
LONG_FRAMES = 128
QUICK_LONG_STEPS = 10
CFG = 7.5
PARTS = ("timing", "long", "memory", "tome")
DEFAULT_PARTS = ("timing", "long", "memory")


def bootstrap(device: str):
    sys.path.insert(0, str(HOST / "ComfyUI"))
    sys.path.insert(0, str(REPO / "tests"))
    import comfy.cli_args

    comfy.cli_args.args.cpu = device == "cpu"
    comfy.cli_args.args.use_pytorch_cross_attention = True  # SDPA, as diffusers: the same kernel on both sides
    pkg = types.ModuleType("t2vz")
    pkg.__path__ = [str(REPO)]
    sys.modules.setdefault("t2vz", pkg)


def unet_config(model_kind: str) -> dict:
    from tiny_models import CHECKPOINT_UNET, TINY_UNET

    return {"tiny": TINY_UNET, "mid": CHECKPOINT_UNET, "full": FULL_UNET}[model_kind]


def build(model_kind: str, device: str):
    import torch
    from tiny_models import tiny_unet_patcher

    cfg = unet_config(model_kind)
    patcher = tiny_unet_patcher(seed=0, unet_config=cfg)
    if device == "cuda":
        patcher.model.diffusion_model.to(torch.float16)
    return patcher, cfg["context_dim"]


def reference_t0_t1(steps: int) -> tuple[int, int]:
    """diffusers' t0/t1 that put its phases on the same steps as ours (44/47 at 50 steps; diffusers' own defaults
    fail below 48 steps, diffusers #5365)."""
    from t2vz.motion.schedule import phases

    plan = phases(steps, 44, 47)
    return steps - 1 - plan.warp_at, steps - 1 - plan.joint_start


def check_step_count(steps: int, option: str) -> None:
    """ComfyUI's ddim_uniform makes more steps than asked for most counts (ss = 1000 // steps, then every ss-th of
    the 1000 sigmas: 31 for 30, 7 for 6); diffusers' DDIM makes exactly ``steps``. The work would differ."""
    import comfy.model_sampling
    import comfy.samplers

    made = len(comfy.samplers.ddim_scheduler(comfy.model_sampling.ModelSamplingDiscrete(), steps)) - 1
    if made != steps:
        exact = [n for n in range(max(2, steps - 6), steps + 7) if
                 len(comfy.samplers.ddim_scheduler(comfy.model_sampling.ModelSamplingDiscrete(), n)) - 1 == n]
        raise SystemExit(f"{option} {steps}: ComfyUI's ddim_uniform runs {made} steps there and diffusers {steps}, so "
                         f"the work would differ. Fix: use one of {exact}.")


def attention_kernel() -> str:
    import comfy.ldm.modules.attention as attention

    return attention.optimized_attention.__name__


def environment(device: str) -> dict:
    import torch

    try:
        import diffusers
        diffusers_version = diffusers.__version__
    except ImportError:
        diffusers_version = None
    try:
        sys.path.insert(0, str(HOST / "ComfyUI"))
        from comfyui_version import __version__ as comfy_version
    except ImportError:
        comfy_version = None
    if device == "cuda":
        name = torch.cuda.get_device_name()
    else:
        name = platform.processor() or platform.machine()
        try:
            name = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
        except (OSError, StopIteration):
            pass
    return {"device": device, "device_name": name, "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "diffusers": diffusers_version,
            "comfyui": comfy_version, "dtype": "float16" if device == "cuda" else "float32",
            "attention": {"comfyui": attention_kernel(),
                          "diffusers": "CrossFrameAttnProcessor2_0 (torch scaled_dot_product_attention)"}}


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


class WorkCounter:
    """Counts UNet calls and batch rows through a forward pre-hook (rows / 2 = frame-steps, with CFG)."""

    def __init__(self, *modules):
        self.calls = self.rows = 0
        for module in modules:
            module.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module, args, kwargs):
        x = args[0] if args else next(iter(kwargs.values()))
        self.calls += 1
        self.rows += int(x.shape[0])

    def take(self) -> dict:
        out = {"unet_calls": self.calls, "frame_steps": self.rows // 2}
        self.calls = self.rows = 0
        return out


class Setup:
    """Model, conditioning and reference pipeline of one child process, and the configurations to time."""

    def __init__(self, args):
        import torch
        from reference import reference_pipeline
        from tiny_models import conditioning, diffusers_unet

        self.args = args
        self.patcher, ctx = build(args.model, args.device)
        self.positive, self.negative = conditioning(1, ctx), conditioning(2, ctx)
        self.pipe = None
        if args.child in ("timing", "long"):
            unet = diffusers_unet(self.patcher).to(args.device)
            if args.device == "cuda":
                unet = unet.half()
            self.pipe = reference_pipeline(unet, self.positive[0][0].to(args.device, unet.dtype),
                                           self.negative[0][0].to(args.device, unet.dtype))
            self.work = WorkCounter(self.patcher.model.diffusion_model, unet)
        else:
            self.work = WorkCounter(self.patcher.model.diffusion_model)
        self.torch = torch

    def latent(self, frames):
        return self.torch.zeros((frames, 4, self.args.size, self.args.size))

    def ksampler(self, frames, steps):
        import comfy.sample

        latent = self.latent(frames)
        return comfy.sample.sample(self.patcher, comfy.sample.prepare_noise(latent, 1), steps, CFG, "ddim",
                                   "ddim_uniform", self.positive, self.negative, latent, disable_pbar=True, seed=1)

    def motion_sampler(self, frames, steps, chunk=0, tome=0.0):
        from t2vz.motion import Motion, sample_video

        model = self.patcher
        if tome > 0:  # core's token merging node, as a user wires it before the sampler
            from comfy_extras.nodes_tomesd import TomePatchModel

            model = TomePatchModel.execute(model, tome).args[0]
        return sample_video(model, self.positive, self.negative, self.latent(frames), 1, steps, CFG, "ddim",
                            "ddim_uniform", "motion", Motion(), frames_per_chunk=chunk)

    def reference(self, frame_ids, steps):
        t0, t1 = reference_t0_t1(steps)
        with self.torch.no_grad():
            return self.pipe(prompt="-", video_length=len(frame_ids), frame_ids=frame_ids,
                             height=self.args.size * 8, width=self.args.size * 8, num_inference_steps=steps,
                             guidance_scale=CFG, t0=t0, t1=t1, generator=self.torch.Generator().manual_seed(1),
                             output_type="latent").images

    def reference_chunked(self, frames, steps, chunk):
        """The reference's long-video recipe (diffusers' TextToVideoZeroPipeline docs; official run_text2video with
        chunk_size): chunk starts every chunk-1 frames, each chunk [0] + its frames, same seed per chunk, frame 0's
        copy dropped from every chunk's output."""
        starts = list(range(0, frames, chunk - 1))
        parts = []
        for i, start in enumerate(starts):
            end = frames if i == len(starts) - 1 else starts[i + 1]
            parts.append(self.reference([0] + list(range(start, end)), steps)[1:])
        video = self.torch.cat(parts)
        assert video.shape[0] == frames, video.shape
        return video


def interleaved(setup, configs: dict, runs: int, warmups: dict | None = None) -> dict:
    """Warm-up, then ``runs`` rounds of every configuration in turn: seconds, work and per-run values."""
    for name, fn in configs.items():
        (warmups or {}).get(name, fn)()
    setup.work.take()
    seconds = {name: [] for name in configs}
    cpu_seconds = {name: [] for name in configs}
    work = {}
    for _ in range(runs):
        for name, fn in configs.items():
            cpu = time.process_time()
            seconds[name].append(time_it(fn, setup.args.device))
            cpu_seconds[name].append(time.process_time() - cpu)
            work[name] = setup.work.take()
    # cpu_seconds (all threads of this process): less sensitive than wall time to other processes on the machine
    return {"seconds": {k: statistics.median(v) for k, v in seconds.items()}, "all_seconds": seconds,
            "cpu_seconds": {k: statistics.median(v) for k, v in cpu_seconds.items()}, "work": work}


def run_timing(args) -> dict:
    """A, B and C on --frames frames, --steps steps."""
    s = Setup(args)
    f, steps = args.frames, args.steps
    return interleaved(s, {"A": lambda: s.ksampler(f, steps), "B": lambda: s.motion_sampler(f, steps),
                           "C": lambda: s.reference(list(range(f)), steps)}, args.runs)


def run_long(args) -> dict:
    """In one process (one start-up): B against D on CHUNK_OVERHEAD_FRAMES frames (the chunk overhead), then ours
    in frame chunks against the reference's chunked recipe on LONG_FRAMES frames."""
    s = Setup(args)
    steps, chunk = args.steps, args.chunk
    f = CHUNK_OVERHEAD_FRAMES
    chunks = interleaved(s, {"B": lambda: s.motion_sampler(f, steps), "D": lambda: s.motion_sampler(f, steps, chunk)},
                         args.runs)
    f = LONG_FRAMES
    # warm-up on two chunks' worth: the same shapes as the long runs at a fraction of their cost
    warm = {"ours": lambda: s.motion_sampler(2 * chunk, steps, chunk),
            "reference": lambda: s.reference_chunked(2 * chunk, steps, chunk)}
    long = interleaved(s, {"ours": lambda: s.motion_sampler(f, steps, chunk),
                           "reference": lambda: s.reference_chunked(f, steps, chunk)}, args.runs, warm)
    return {"chunks": chunks, "long": long}


def run_memory(args) -> dict:
    """D for one frame count: one run, peak memory of this process."""
    s = Setup(args)
    if args.device == "cuda":
        s.torch.cuda.reset_peak_memory_stats()
    base = peak_bytes(args.device)
    # a short warm-up on one chunk (first-call allocations, kernel selection): seconds per frame then compare
    # steady states; its peak is one chunk's, below the measured run's
    s.motion_sampler(min(args.frames, args.chunk), 2, args.chunk)
    s.work.take()
    seconds = time_it(lambda: s.motion_sampler(args.frames, args.steps, args.chunk), args.device)
    return {"seconds": seconds, "peak_bytes": peak_bytes(args.device), "baseline_bytes": base, "work": s.work.take()}


def run_tome(args) -> dict:
    """B without and with core's token merging (--tome ratio), interleaved."""
    s = Setup(args)
    f, steps = args.frames, args.steps
    return interleaved(s, {"B": lambda: s.motion_sampler(f, steps),
                           "T": lambda: s.motion_sampler(f, steps, tome=args.tome)}, args.runs)


def run_tome_memory(args) -> dict:
    """B with token merging at --tome (0: without) on --frames frames: one run, peak memory of this process."""
    s = Setup(args)
    if args.device == "cuda":
        s.torch.cuda.reset_peak_memory_stats()
    base = peak_bytes(args.device)
    seconds = time_it(lambda: s.motion_sampler(args.frames, args.steps, tome=args.tome), args.device)
    return {"seconds": seconds, "peak_bytes": peak_bytes(args.device), "baseline_bytes": base}


def child(args, mode: str, **overrides) -> dict:
    options = {"model": args.model, "device": args.device, "size": args.size, "steps": args.steps,
               "runs": args.runs, "frames": args.frames, "chunk": args.chunk, "threads": args.threads,
               "tome": args.tome}
    options.update(overrides)
    cmd = [sys.executable, __file__, "--child", mode] + [a for k, v in options.items() for a in (f"--{k}", str(v))]
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        sys.stderr.write(out.stderr[-4000:])
        raise SystemExit(f"bench child {mode} {overrides} failed (exit {out.returncode})")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # progress for long configurations (a full-size UNet on CPU runs for hours): what finished, its medians
    print(f"[bench] {mode} {overrides or ''} done in {time.perf_counter() - started:.0f}s: "
          f"{json.dumps(result.get('seconds') or {k: v.get('seconds') for k, v in result.items()})}",
          file=sys.stderr, flush=True)
    return result


def ratio(result: dict, num: str, den: str) -> dict:
    """The median of the per-run ratios num/den (each pair timed back to back in one round, so slow drifts of the
    machine cancel) and their range: the noise."""
    per_run = [a / b for a, b in zip(result["all_seconds"][num], result["all_seconds"][den])]
    return {"value": statistics.median(per_run), "per_run_min": min(per_run), "per_run_max": max(per_run),
            "ratio_of_medians": result["seconds"][num] / result["seconds"][den]}


def spread(values: list[float]) -> float:
    return (max(values) - min(values)) / statistics.median(values)


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no display). matplotlib is a bench/docs-only dependency
    (bench/requirements.txt), never one of the pack's: imported here, when a figure is drawn, and nowhere else."""
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError(f"matplotlib is needed to draw the bench figures and is not installed for this Python. "
                          f"Fix: {sys.executable} -m pip install -r {REPO / 'bench' / 'requirements.txt'} "
                          f"(or pass --plot '' to skip the figure).") from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


PLOT_KEYS = ("model", "latent_size", "long_steps", "chunk", "device", "peak_memory_measure", "chunked_D")


def plot_data(result: dict) -> dict:
    """What bench/scaling.png shows, from a run's JSON (the memory part's chunked_D and the run's settings)."""
    rows = sorted(result["chunked_D"].items(), key=lambda item: int(item[0]))
    return {"frame_counts": [int(f) for f, _ in rows],
            "seconds_per_frame": [m["seconds_per_frame"] for _, m in rows],
            "peak_mib": [m["peak_bytes"] / 2**20 for _, m in rows],
            "caption": f"{result['model']} UNet, latent {result['latent_size']}x{result['latent_size']}, "
                       f"{result['long_steps']} steps, chunks of {result['chunk']}, {result['device']}; "
                       f"peak memory: {result['peak_memory_measure']}"}


def plot(path: Path, result: dict) -> None:
    """Time per frame and peak memory against frame count (log2 axis), the measured points marked and labelled."""
    plt = pyplot()
    data = plot_data(result)
    frames = data["frame_counts"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), layout="constrained")
    panels = [(axes[0], data["seconds_per_frame"], "seconds per frame", "{:.3f} s"),
              (axes[1], data["peak_mib"], "peak memory (MiB)", "{:.0f} MiB")]
    for ax, values, ylabel, label in panels:
        ax.plot(frames, values, color="tab:blue", linewidth=1, linestyle=":")  # a guide between points, no model
        ax.plot(frames, values, "o", color="tab:blue", markersize=7, label="measured (one process per frame count)")
        for f, v in zip(frames, values):
            ax.annotate(label.format(v), (f, v), textcoords="offset points", xytext=(0, 9), ha="center", fontsize=8)
        ax.set_xscale("log", base=2)
        ax.set_xticks(frames, [str(f) for f in frames])
        ax.minorticks_off()
        ax.set_xlim(frames[0] / 1.5, frames[-1] * 1.5)
        ax.set_ylim(0, max(values) * 1.2)
        ax.set_xlabel("frames in the video (log scale)")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
    axes[0].set_title("time per frame", fontsize=10)
    axes[1].set_title("peak memory", fontsize=10)
    fig.suptitle("MotionLatentSampler in chunks, against the video's length", fontsize=11)
    fig.text(0.5, -0.02, data["caption"], ha="center", va="top", fontsize=8)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"tiny model, 8x8 latents, {QUICK_LONG_STEPS} steps for the 32- and 128-frame runs: "
                             f"under 3 minutes on 2 cores")
    parser.add_argument("--model", choices=MODEL_KINDS, default="tiny")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=None, help="latent size (64 = 512 px)")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--long-steps", type=int, default=None,
                        help="steps for the chunk-overhead, 128-frame and memory runs (default: --steps; "
                             f"--quick: {QUICK_LONG_STEPS})")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=8)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: torch's default). On a busy machine use 1: with more, a thread "
                             "descheduled by another process stalls every parallel op (measured: 40x slower)")
    parser.add_argument("--frame-counts", default="8,32,128", help="frame counts for the chunked memory runs (D)")
    parser.add_argument("--plot", default=str(REPO / "bench" / "scaling.png"),
                        help="the memory part's figure ('' for none; needs matplotlib: bench/requirements.txt); its "
                             "data is written beside it as .json")
    parser.add_argument("--replot", metavar="JSON", default=None,
                        help="only draw --plot from a saved run (bench/scaling.json, or a run's last line), no bench")
    parser.add_argument("--parts", default=",".join(DEFAULT_PARTS),
                        help="which comparisons to run: timing (A, B, C on --frames), long (chunk overhead and "
                             f"{LONG_FRAMES} frames against the reference's recipe), memory (D per frame count), "
                             "tome (B with core's token merging against B; not by default). A full-size UNet on CPU "
                             "takes hours for the first three: timing alone is one configuration")
    parser.add_argument("--tome", type=float, default=0.5, help="token merging ratio for --parts tome (core "
                        "TomePatchModel's ratio)")
    parser.add_argument("--child", choices=["timing", "long", "memory", "tome", "tome_memory"], default=None,
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replot is not None:
        text = Path(args.replot).read_text()
        try:
            result = json.loads(text)
        except json.JSONDecodeError:  # a run's whole output: the JSON is its last line
            result = json.loads(text.strip().splitlines()[-1])
        plot(Path(args.plot), result)
        print(f"{args.plot} drawn from {args.replot}")
        return
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.size is None:
        args.size = 64 if args.device == "cuda" else (8 if args.quick else 16)
    if args.quick:
        args.model = "tiny"
    bootstrap(args.device)
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)

    if args.child is not None:
        import torch

        with torch.inference_mode():  # as ComfyUI's executor runs every prompt (and diffusers' pipeline, no_grad)
            print(json.dumps({"timing": run_timing, "long": run_long, "memory": run_memory, "tome": run_tome,
                              "tome_memory": run_tome_memory}[args.child](args)))
        return

    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        raise SystemExit(f"--parts {args.parts}: unknown {unknown or 'empty'}. Fix: a comma list of {', '.join(PARTS)}.")
    started, load_before = time.perf_counter(), os.getloadavg()
    long_steps = args.long_steps or (QUICK_LONG_STEPS if args.quick else args.steps)
    check_step_count(args.steps, "--steps")
    check_step_count(long_steps, "--long-steps")
    frame_counts = [int(f) for f in args.frame_counts.split(",")]
    result = {**environment(args.device), "model": args.model, "frames": args.frames, "latent_size": args.size,
              "steps": args.steps, "long_steps": long_steps, "chunk": args.chunk, "runs": args.runs, "cfg": CFG,
              "sampler": "ddim/ddim_uniform", "parts": parts}
    figures, seconds, cpu_seconds, all_seconds, work, lines = {}, {}, {}, {}, {}, []

    def merge(part: dict, suffix: str = ""):
        for into, key in ((cpu_seconds, "cpu_seconds"), (all_seconds, "all_seconds"), (work, "work")):
            into.update({f"{k}{suffix}": v for k, v in part[key].items()})

    if "timing" in parts:
        timing = child(args, "timing")
        sec = timing["seconds"]
        figures.update(overhead_vs_ksampler=ratio(timing, "B", "A"), speedup_vs_reference=ratio(timing, "C", "B"))
        seconds.update(ksampler_A=sec["A"], motion_sampler_B=sec["B"], reference_C=sec["C"])
        merge(timing)
        result["equal_work_B_C"] = timing["work"]["B"] == timing["work"]["C"]  # same UNet calls and rows, counted
        lines.append(f"A KSampler {sec['A']:.3f}s  B MotionLatentSampler {sec['B']:.3f}s  C reference {sec['C']:.3f}s  "
                     f"(median of {args.runs}, {args.frames} frames, {args.steps} steps, latent {args.size}x{args.size}, "
                     f"{args.model} UNet, {args.device}, {result['torch_threads']} threads, attention "
                     f"{result['attention']['comfyui']})")
    if "long" in parts:
        both = child(args, "long", steps=long_steps)
        chunks, long = both["chunks"], both["long"]
        figures["chunk_overhead"] = ratio(chunks, "D", "B")
        figures[f"speedup_vs_reference_{LONG_FRAMES}"] = ratio(long, "reference", "ours")
        seconds.update({f"motion_sampler_B_{CHUNK_OVERHEAD_FRAMES}": chunks["seconds"]["B"],
                        f"chunked_D_{CHUNK_OVERHEAD_FRAMES}": chunks["seconds"]["D"],
                        f"ours_chunked_{LONG_FRAMES}": long["seconds"]["ours"],
                        f"reference_recipe_{LONG_FRAMES}": long["seconds"]["reference"]})
        merge(chunks, f"_{CHUNK_OVERHEAD_FRAMES}")
        merge(long, f"_{LONG_FRAMES}")
        work_long = long["work"]
        # the speedup over the reference's recipe if a frame-step cost the same on both sides: the method's limit
        result[f"work_ratio_reference_vs_ours_{LONG_FRAMES}"] = (work_long["reference"]["frame_steps"]
                                                                 / work_long["ours"]["frame_steps"])
        result[f"long_{LONG_FRAMES}"] = {
            "steps": long_steps, "t0_t1_reference": list(reference_t0_t1(long_steps)),
            "ours": f"MotionLatentSampler, frames_per_chunk {args.chunk}",
            "reference": f"TextToVideoZeroPipeline once per chunk: frame_ids [0] + the next {args.chunk - 1} frames, "
                         f"generator re-seeded per chunk, each chunk's output [1:] concatenated",
        }
        lines.append(f"{LONG_FRAMES} frames, {long_steps} steps: ours {long['seconds']['ours']:.2f}s "
                     f"({work_long['ours']['frame_steps']} frame-steps, {work_long['ours']['unet_calls']} UNet calls)  "
                     f"reference recipe {long['seconds']['reference']:.2f}s ({work_long['reference']['frame_steps']} "
                     f"frame-steps, {work_long['reference']['unet_calls']} UNet calls)")
    for name, r in figures.items():
        lines.append(f"{name:26s} {r['value']:.3f}  (per-run {r['per_run_min']:.3f}..{r['per_run_max']:.3f})")
    result.update({name: r["value"] for name, r in figures.items()})
    if "memory" in parts:
        memory = [child(args, "memory", frames=f, steps=long_steps, runs=1) for f in frame_counts]
        last, first = memory[-1], memory[0]
        result[f"peak_mem_ratio_{frame_counts[-1]}_vs_{frame_counts[0]}"] = last["peak_bytes"] / first["peak_bytes"]
        # on CPU the process peak includes torch and the model: the sampling's own growth tells more
        result[f"peak_growth_ratio_{frame_counts[-1]}_vs_{frame_counts[0]}"] = (
            (last["peak_bytes"] - last["baseline_bytes"]) / max(1, first["peak_bytes"] - first["baseline_bytes"]))
        result["chunked_D"] = {str(f): {"seconds": m["seconds"], "seconds_per_frame": m["seconds"] / f,
                                        "peak_bytes": m["peak_bytes"], "baseline_bytes": m["baseline_bytes"],
                                        **m["work"]} for f, m in zip(frame_counts, memory)}
        result["peak_memory_measure"] = ("max RSS of a process per frame count" if args.device == "cpu"
                                         else "torch.cuda.max_memory_allocated")
        for f, m in zip(frame_counts, memory):
            lines.append(f"D chunks of {args.chunk}: {f:4d} frames  {m['seconds']:.2f}s  "
                         f"{m['seconds'] / f:.4f}s/frame  peak {m['peak_bytes'] / 2**20:.0f} MiB")
        if args.plot:
            # the figure's data beside it, so that it can be redrawn (--replot) without measuring again
            data = Path(args.plot).with_suffix(".json")
            data.write_text(json.dumps({k: result[k] for k in PLOT_KEYS}, indent=1) + "\n")
            try:
                plot(Path(args.plot), result)
                result["plot"], result["plot_data"] = args.plot, str(data)
            except Exception as e:  # the figures matter more than the picture
                result["plot_error"] = str(e)
                print(f"[bench] no figure: {e}", file=sys.stderr)
    if "tome" in parts:
        tome = child(args, "tome")
        figures["tome_speedup"] = ratio(tome, "B", "T")
        seconds.update(motion_sampler_B=tome["seconds"]["B"], with_tome_T=tome["seconds"]["T"])
        merge(tome, "_tome")
        peaks = {r: child(args, "tome_memory", tome=r, runs=1) for r in (0.0, args.tome)}
        result["tome"] = {"ratio": args.tome, "peak_bytes_without": peaks[0.0]["peak_bytes"],
                          "peak_bytes_with": peaks[args.tome]["peak_bytes"],
                          "peak_growth_ratio_with_vs_without": (
                              (peaks[args.tome]["peak_bytes"] - peaks[args.tome]["baseline_bytes"])
                              / max(1, peaks[0.0]["peak_bytes"] - peaks[0.0]["baseline_bytes"]))}
        lines.append(f"token merging {args.tome}: B {tome['seconds']['B']:.2f}s  with ToMe {tome['seconds']['T']:.2f}s  "
                     f"tome_speedup {figures['tome_speedup']['value']:.3f} (per-run {figures['tome_speedup']['per_run_min']:.3f}"
                     f"..{figures['tome_speedup']['per_run_max']:.3f})  peak {peaks[0.0]['peak_bytes'] / 2**20:.0f} -> "
                     f"{peaks[args.tome]['peak_bytes'] / 2**20:.0f} MiB")
        result["tome_speedup"] = figures["tome_speedup"]["value"]
    result.update(ratio_noise=figures, seconds=seconds, cpu_seconds=cpu_seconds, all_seconds=all_seconds, work=work)
    result["bench_seconds"] = time.perf_counter() - started
    result["load_average_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    print("\n".join(lines))
    print(json.dumps(result))

if __name__ == "__main__":
    main()
