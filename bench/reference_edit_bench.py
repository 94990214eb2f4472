"""Video editing with a reference-taking DiT (Flux.1 Kontext's way): what frame k should read in cross-frame
attention, measured, and what the video edit costs against editing the frames as a plain batch.

The mid-size random Flux of bench/dit_bench.py (hidden 512, 2 double + 4 single blocks) is loaded through ComfyUI's
own loader; ComfyUI's Flux takes reference latents whatever its weights, as Kontext [dev] does. F source frames at
256x256 (32x32 latents; 256 image + 256 reference tokens per frame), alternating two pictures A, B, A, B...;
euler / simple, cfg 1, shared noise. Three ways to edit them:

  plain   the frames as one batch, each with its own reference (ComfyUI's Kontext run on a batch): no cross-frame
  own     the pack's choice: frame k reads frame 0's text and image tokens, and its own reference tokens
  anchor  frame k reads all of frame 0's joint tokens, its reference tokens too

Printed per way: how far frame k moves when its source changes (source B instead of A, relative to the frame's
size: 0 means the frame ignores its source), how far frames 1..F-1 are from the plain edit, and the time (median of
--runs). The last line printed is one JSON object.
Usage: python bench/reference_edit_bench.py [--frames 4] [--steps 4] [--runs 3] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dit_bench import conditioning, mid_flux, setup  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    setup(args.threads)
    import comfy.samplers
    import torch

    from t2vz.attention import cross_frame, dit
    from t2vz.motion.video_edit import edit_sigmas, sample_edit
    from t2vz.motion.parts import video_part
    from t2vz.motion.reference_edit import edit_video_by_reference, with_references

    with tempfile.TemporaryDirectory() as tmp:
        model = mid_flux(Path(tmp))
    generator = torch.Generator().manual_seed(5)
    a, b = torch.randn((2, 16, 32, 32), generator=generator)
    frames = args.frames
    sources = torch.stack([a if k % 2 == 0 else b for k in range(frames)])
    swapped = sources.clone()
    swapped[1:] = torch.stack([b if k % 2 == 0 else a for k in range(1, frames)])  # frame 0 keeps its source
    positive, negative = conditioning(1), conditioning(2)
    sigmas = edit_sigmas(model, args.steps, "euler", "simple")
    keep_own = cross_frame.keep_own_tokens

    def plain(source):
        guider = comfy.samplers.CFGGuider(model)
        guider.set_conds(with_references(positive, source), with_references(negative, source))
        guider.set_cfg(1.0)
        return sample_edit(guider, comfy.samplers.sampler_object("euler"), source, 7, sigmas, "shared",
                           video_part(frames, 0, 1), None)

    def video(source, way):
        for module in (cross_frame, dit):  # the attn1 patch's and the attention override's
            module.keep_own_tokens = keep_own if way == "own" else (lambda s, own, count, tokens_dim=-2: s)
        try:
            return edit_video_by_reference(model, positive, negative, source, 7, sigmas)
        finally:
            cross_frame.keep_own_tokens = dit.keep_own_tokens = keep_own

    ways = {"plain": plain, "own": lambda s: video(s, "own"), "anchor": lambda s: video(s, "anchor")}
    results, times = {}, {name: [] for name in ways}
    with torch.inference_mode():
        for _ in range(args.runs):
            for name, run in ways.items():
                start = time.perf_counter()
                results[name] = run(sources)
                times[name].append(time.perf_counter() - start)
        moved = {name: run(swapped) for name, run in ways.items()}

    def rel(x, y):
        return float((x - y).abs().max() / y.abs().max())

    summary = {"frames": frames, "steps": args.steps, "latent": [32, 32]}
    print(f"{frames} frames 256x256, {args.steps} steps, mid-size Flux (CPU, {args.threads} threads)")
    print(f"{'way':8} {'frame k follows its source':>27} {'off the plain edit':>19} {'time s':>8}")
    for name in ways:
        follows = max(rel(moved[name][k], results[name][k]) for k in range(1, frames))
        off = max(rel(results[name][k], results["plain"][k]) for k in range(1, frames))
        seconds = statistics.median(times[name])
        summary[name] = {"source_effect": follows, "off_plain": off, "seconds": seconds}
        print(f"{name:8} {follows:27.3e} {off:19.3e} {seconds:8.2f}")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
