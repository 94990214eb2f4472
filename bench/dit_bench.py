"""Cross-frame attention and motion mode on a Flux-architecture DiT: the overhead against a plain KSampler batch, the
work done, and the anchor cache that frame chunks keep (measured, and sized for the real Flux.1 at 1024 px).

A mid-size random Flux (hidden 512 = 4 heads of 128, 2 double + 4 single blocks, 64-wide text) is written with the
real key layout and loaded through ComfyUI's own loader (comfy.sd.load_diffusion_model, as UNETLoader). Configurations,
F frames at 256x256 (32x32 latents, 256 image tokens + 16 text tokens), euler / simple, cfg 1 (one conditioning chunk,
as Flux dev with its distilled guidance):

  A  plain KSampler batch (comfy.sample.sample): the floor
  B  A with the Cross-Frame Attention patch
  M  Motion Latent Sampler's sampler (motion mode, cross-frame attention), the whole video in one call
  K  M in frame chunks of --chunk frames: the anchor cache holds frame 0's keys/values per layer

Work is counted by a forward hook on the diffusion model (calls, rows). Times are medians of --runs interleaved runs
under torch.inference_mode(), as ComfyUI's executor runs prompts. The last line printed is one JSON object.
Usage: python bench/dit_bench.py [--frames 8] [--steps 4] [--runs 3] [--chunk 2] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOST = Path(os.environ.get("T2VZ_HOST") or REPO / ".host")

MID_FLUX = {"hidden_size": 512, "num_heads": 4, "depth": 2, "depth_single_blocks": 4, "context_in_dim": 64,
            "vec_in_dim": 64}
TEXT_TOKENS = 16
REAL_FLUX_TEXT_TOKENS = 256
"""Flux.1 dev's T5 context as ComfyUI pads it (the layout, 19 double and 38 single blocks of 3072 channels, is
attention/families.py FLUX1)."""


def setup(threads: int):
    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, str(HOST / "ComfyUI"))
    sys.path.insert(0, str(REPO / "tests"))
    import comfy.cli_args

    comfy.cli_args.args.cpu = True
    package = types.ModuleType("t2vz")
    package.__path__ = [str(REPO)]
    sys.modules.setdefault("t2vz", package)


def mid_flux(folder: Path):
    """The mid-size Flux through ComfyUI's loader."""
    import comfy.sd
    import comfy.supported_models
    import safetensors.torch
    import torch
    from tiny_dit import FLUX_CONFIG
    from tiny_models import randomize_

    cfg = dict(FLUX_CONFIG, guidance_embed=False, **MID_FLUX)
    config = comfy.supported_models.FluxSchnell(cfg)
    config.unet_config = cfg
    config.set_inference_dtype(torch.float32, None)
    state = randomize_(config.get_model({}).diffusion_model, 0).state_dict()
    path = folder / "mid-flux.safetensors"
    safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return comfy.sd.load_diffusion_model(str(path), model_options={"dtype": torch.float32})


def conditioning(seed: int):
    import torch

    g = torch.Generator().manual_seed(seed)
    return [[torch.randn((1, TEXT_TOKENS, MID_FLUX["context_in_dim"]), generator=g),
             {"pooled_output": torch.randn((1, MID_FLUX["vec_in_dim"]), generator=g)}]]


class Work:
    """Calls and rows of the diffusion model's forward."""

    def __init__(self, model):
        self.calls = self.rows = 0
        model.model.diffusion_model.register_forward_pre_hook(self.hook)

    def hook(self, module, args):
        self.calls += 1
        self.rows += args[0].shape[0]

    def take(self) -> tuple[int, int]:
        out, self.calls, self.rows = (self.calls, self.rows), 0, 0
        return out


class CachePeak:
    """The most bytes any anchor cache held during the runs (measured at every store: ComfyUI's cleanup empties the
    cache when a run ends, so it cannot be read afterwards)."""

    def __init__(self):
        from t2vz.attention import AnchorCache

        self.bytes = 0
        put = AnchorCache.put

        def measured(cache, *args, **kwargs):
            put(cache, *args, **kwargs)
            self.bytes = max(self.bytes, cache.nbytes())

        AnchorCache.put = measured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    setup(args.threads)
    import comfy.sample
    import torch
    from t2vz.attention import CrossFrameAttention, with_cross_frame, with_frame_chunks
    from t2vz.attention.chunking import estimate_video_memory
    from t2vz.attention.families import FLUX1, anchor_cache_bytes
    from t2vz.motion import Motion, sample_video

    with tempfile.TemporaryDirectory() as tmp:
        model = mid_flux(Path(tmp))
    work = Work(model)
    positive, negative = conditioning(1), conditioning(2)
    latent = torch.zeros((args.frames, 16, 32, 32))
    patched = with_cross_frame(model, CrossFrameAttention())
    chunked = with_frame_chunks(patched, args.chunk)

    def plain(m):
        return lambda: comfy.sample.sample(m, comfy.sample.prepare_noise(latent, 1), args.steps, 1.0, "euler",
                                           "simple", positive, negative, latent, disable_pbar=True, seed=1)

    def motion(m):
        return lambda: sample_video(m, positive, negative, latent, 1, args.steps, 1.0, "euler", "simple", "motion",
                                    Motion())

    configs = {"A": plain(model), "B": plain(patched), "M": motion(patched), "K": motion(chunked)}
    times = {name: [] for name in configs}
    counted = {}
    peak = CachePeak()
    with torch.inference_mode():
        for name, run in configs.items():  # warm-up, and the work count
            run()
            counted[name] = work.take()
            if name == "K":
                measured_cache = peak.bytes  # only K splits the batch: the others keep no cache
        for _ in range(args.runs):
            for name, run in configs.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    image_tokens = (32 // 2) * (32 // 2)
    blocks = MID_FLUX["depth"] + MID_FLUX["depth_single_blocks"]
    # the library's sizing (the same the Motion Latent Sampler checks free memory with): cfg 1, one conditioning
    sized = estimate_video_memory(chunked, tuple(latent.shape), [TEXT_TOKENS]).cache
    real = {px: anchor_cache_bytes(FLUX1, px // 8, px // 8, [REAL_FLUX_TEXT_TOKENS], 2)
            for px in (512, 1024)}  # bf16, one conditioning
    print(f"mid Flux ({sum(p.numel() for p in model.model.diffusion_model.parameters()) / 1e6:.1f}M parameters), "
          f"{args.frames} frames 256x256, {args.steps} steps, {args.threads} threads, median of {args.runs}:")
    for name in configs:
        calls, rows = counted[name]
        print(f"  {name}: {medians[name]:.2f} s ({medians[name] / medians['A']:.2f}x A), {calls} model calls, "
              f"{rows} frame-steps")
    print(f"  anchor cache during K: {measured_cache / 2**20:.2f} MiB measured, {sized / 2**20:.2f} MiB sized "
          f"(2 x {blocks} blocks x {image_tokens + TEXT_TOKENS} tokens x {MID_FLUX['hidden_size']} x fp32)")
    for px, size in real.items():
        print(f"  Flux.1 at {px}x{px}, bf16: {size / 2**30:.2f} GiB per conditioning chunk "
              f"(2 x 57 blocks x {(px // 16) ** 2 + REAL_FLUX_TEXT_TOKENS} tokens x 3072)")
    print(json.dumps({"seconds": medians, "work": counted, "cache_mib_measured": measured_cache / 2**20,
                      "cache_mib_sized": sized / 2**20,
                      "flux_cache_gib": {str(k): v / 2**30 for k, v in real.items()}}))
    return 0 if measured_cache == sized else 1


if __name__ == "__main__":
    sys.exit(main())
