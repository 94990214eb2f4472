"""Where MotionLatentSampler's time goes, against a plain KSampler and diffusers' pipeline (CPU or CUDA).

For each of A (KSampler), B (MotionLatentSampler), C (diffusers' TextToVideoZeroPipeline, same weights) and,
with --chunk, D (B in frame chunks), one warm-up run then --runs timed runs, interleaved. Low-overhead timers
(perf_counter in forward hooks) split each run into: UNet forwards, attn1 K/V projections inside them, the
cross-frame patch, the frame chunker's slicing, and what is left outside the UNet (sampler and Python work).
B' runs B with the anchor's K/V projected once per conditioning chunk instead of once per frame (a prototype:
frames folded into the token axis by an attn1 patch, unfolded by an attn1 output patch), to measure whether that
saving matters. --torch-profile adds torch.profiler's op table for one run of each.

Usage: python bench/profile_sampler.py --model tiny|mid|full [--size 16] [--frames 8] [--steps 20] [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict

import bench  # bench/bench.py: bootstrap, build, the model configs


class Timers:
    """Accumulated wall seconds per category; nested categories are counted in their parent too."""

    def __init__(self):
        self.total = defaultdict(float)
        self.calls = defaultdict(int)

    def reset(self):
        self.total.clear()
        self.calls.clear()

    def hook(self, module, name):
        starts = []

        def pre(*_):
            starts.append(time.perf_counter())

        def post(*_):
            self.total[name] += time.perf_counter() - starts.pop()
            self.calls[name] += 1

        module.register_forward_pre_hook(pre)
        module.register_forward_hook(post)

    def wrap(self, fn, name):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.total[name] += time.perf_counter() - start
                self.calls[name] += 1
        return timed


def self_attention_projections(unet):
    """(to_k, to_v) of every self-attention layer (attn1) of a ComfyUI or diffusers UNet."""
    for name, module in unet.named_modules():
        if name.endswith("attn1"):
            yield module.to_k, module.to_v


def instrument(timers: Timers, comfy_unet, diffusers_unet):
    for unet, tag in ((comfy_unet, "comfy"), (diffusers_unet, "diffusers")):
        timers.hook(unet, f"{tag}.unet")
        for to_k, to_v in self_attention_projections(unet):
            timers.hook(to_k, f"{tag}.attn1_kv")
            timers.hook(to_v, f"{tag}.attn1_kv")


def folded_anchor_patches():
    """The prototype of 'project the anchor once': (attn1 patch, attn1 output patch) for anchor=first, strength 1.

    The attn1 patch reshapes the F frames of each conditioning chunk into one row of F*N tokens and hands the
    anchor's N rows as context/value, so to_k/to_v run on N rows per chunk instead of F*N; every query still
    attends to exactly the anchor's keys (softmax is per query). The output patch restores (chunks*F, N, C).
    """
    from t2vz.attention import CrossFrameAttention
    from t2vz.attention.frames import frames_per_chunk, global_frame_ids

    class FoldedAnchor(CrossFrameAttention):
        def __init__(self):
            super().__init__()
            self.folded = None

        def __deepcopy__(self, memo):
            return FoldedAnchor()

        def __call__(self, n, context, value, extra_options):
            chunks, frames = frames_per_chunk(n.shape[0], extra_options.get("cond_or_uncond"))
            ids, partial = global_frame_ids(extra_options, frames)
            if frames == 1 or partial:  # the prototype covers whole-video calls only
                self.folded = None
                return super().__call__(n, context, value, extra_options)
            self.folded = n.shape
            anchor = context.reshape(chunks, frames, *context.shape[1:])[:, 0]
            return n.reshape(chunks, -1, n.shape[-1]), anchor, anchor

    class Unfold:
        def __init__(self, owner):
            self.owner = owner

        def __call__(self, n, extra_options):
            shape, self.owner.folded = self.owner.folded, None
            return n if shape is None else n.reshape(shape)

    fold = FoldedAnchor()
    return fold, Unfold(fold)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=bench.MODEL_KINDS, default="tiny")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=0, help="also time D: B with this many frames per chunk")
    parser.add_argument("--only", default="A,B,B',C", help="configurations to run")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--torch-profile", action="store_true")
    args = parser.parse_args()
    bench.bootstrap(args.device)

    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    import comfy.sample
    from reference import reference_pipeline
    from t2vz.attention import chunking, cross_frame
    from t2vz.motion import Motion, sample_video
    from tiny_models import conditioning, diffusers_unet

    patcher, ctx = bench.build(args.model, args.device)
    t0, t1 = bench.reference_t0_t1(args.steps)
    positive, negative = conditioning(1, ctx), conditioning(2, ctx)
    latent = torch.zeros((args.frames, 4, args.size, args.size))
    unet = diffusers_unet(patcher).to(args.device)
    pipe = reference_pipeline(unet, positive[0][0].to(args.device), negative[0][0].to(args.device))
    timers = Timers()
    instrument(timers, patcher.model.diffusion_model, unet)
    cross_frame.CrossFrameAttention.__call__ = timers.wrap(cross_frame.CrossFrameAttention.__call__, "patch")
    chunking._slice_rows = timers.wrap(chunking._slice_rows, "chunker.slice")

    fold, unfold = folded_anchor_patches()
    folded = patcher.clone()
    folded.set_model_attn1_patch(fold)
    folded.set_model_attn1_output_patch(unfold)

    motion = Motion()
    configs = {
        "A": lambda: comfy.sample.sample(patcher, comfy.sample.prepare_noise(latent, 1), args.steps, 7.5, "ddim",
                                         "ddim_uniform", positive, negative, latent, disable_pbar=True, seed=1),
        "B": lambda: sample_video(patcher, positive, negative, latent, 1, args.steps, 7.5, "ddim", "ddim_uniform",
                                  "motion", motion),
        "B'": lambda: sample_video(folded, positive, negative, latent, 1, args.steps, 7.5, "ddim", "ddim_uniform",
                                   "motion", motion),
        "C": lambda: pipe(prompt="-", video_length=args.frames, height=args.size * 8, width=args.size * 8,
                          num_inference_steps=args.steps, guidance_scale=7.5, t0=t0, t1=t1,
                          generator=torch.Generator().manual_seed(1), output_type="latent"),
    }
    if args.chunk:
        configs["D"] = lambda: sample_video(patcher, positive, negative, latent, 1, args.steps, 7.5, "ddim",
                                            "ddim_uniform", "motion", motion, frames_per_chunk=args.chunk)
    names = [n for n in args.only.split(",") if n in configs] + (["D"] if args.chunk else [])

    with torch.no_grad():
        b = configs["B"]()
        b_fold = configs["B'"]()
    fold_max_diff = float((b - b_fold).abs().max() / b.abs().max())

    records = {n: defaultdict(list) for n in names}
    with torch.no_grad():
        for name in names:
            configs[name]()  # warm-up
        for _ in range(args.runs):
            for name in names:
                timers.reset()
                bench.sync(args.device)
                start, cpu = time.perf_counter(), time.process_time()
                configs[name]()
                bench.sync(args.device)
                wall = time.perf_counter() - start
                rec = records[name]
                rec["wall"].append(wall)
                rec["cpu"].append(time.process_time() - cpu)
                tag = "diffusers" if name == "C" else "comfy"
                rec["unet"].append(timers.total[f"{tag}.unet"])
                rec["unet_calls"].append(timers.calls[f"{tag}.unet"])
                rec["attn1_kv"].append(timers.total[f"{tag}.attn1_kv"])
                rec["patch"].append(timers.total["patch"])
                rec["chunker_slice"].append(timers.total["chunker.slice"])
                rec["outside_unet"].append(wall - timers.total[f"{tag}.unet"])

    summary = {}
    for name, rec in records.items():
        med = {k: statistics.median(v) for k, v in rec.items()}
        spread = (max(rec["wall"]) - min(rec["wall"])) / med["wall"]
        summary[name] = {**{k: round(v, 4) for k, v in med.items()}, "wall_spread": round(spread, 3),
                         "share": {k: round(med[k] / med["wall"], 3) for k in
                                   ("unet", "attn1_kv", "patch", "chunker_slice", "outside_unet")}}
    ratios = {}
    cpu_ratios = {}
    for num, den in (("B", "A"), ("C", "B"), ("B'", "B"), ("D", "B")):
        if num in summary and den in summary:
            cpu_ratios[f"{num}/{den}"] = summary[num]["cpu"] / summary[den]["cpu"]
    if "A" in summary and "B" in summary:
        ratios["B/A"] = summary["B"]["wall"] / summary["A"]["wall"]
    if "C" in summary and "B" in summary:
        ratios["C/B"] = summary["C"]["wall"] / summary["B"]["wall"]
    if "B'" in summary and "B" in summary:
        ratios["B'/B"] = summary["B'"]["wall"] / summary["B"]["wall"]
    if "D" in summary and "B" in summary:
        ratios["D/B"] = summary["D"]["wall"] / summary["B"]["wall"]

    if args.torch_profile:
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device == "cuda" else [])
        for name in names:
            with torch.no_grad(), profile(activities=activities) as prof:
                configs[name]()
            print(f"=== torch.profiler: {name} ===")
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=14))

    for name, s in summary.items():
        print(f"{name:3s} wall {s['wall']:.3f}s (spread {s['wall_spread']:.0%}) cpu {s['cpu']:.3f}s  unet {s['share']['unet']:.0%} "
              f"[{s['unet_calls']} calls]  attn1 K/V {s['share']['attn1_kv']:.1%}  patch {s['share']['patch']:.1%}  "
              f"chunker {s['share']['chunker_slice']:.1%}  outside unet {s['share']['outside_unet']:.0%}")
    print(json.dumps({"model": args.model, "device": args.device, "size": args.size, "frames": args.frames,
                      "steps": args.steps, "runs": args.runs, "torch_threads": torch.get_num_threads(),
                      "attention": bench.attention_kernel(), "fold_max_rel_diff": fold_max_diff,
                      "ratios": ratios, "cpu_ratios": cpu_ratios, "configs": summary}))


if __name__ == "__main__":
    main()
