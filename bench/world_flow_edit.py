"""Edits that follow the source's optical flow, measured in the small trained world (bench/world).

Edit Video (motion/reference_edit.py edit_video_by_reference, the node's library call) on the world's Kontext-layout
editor, "add snow" (flakes drawn from the noise) on camera pans over random scenes, 8 frames at 128 px, 16 euler
steps, cfg 2, scheduler simple (bench/world_ablation.py's editing settings), in these modes:

  shared_attention   today's best: shared noise + frame-0 attention (the Edit Video default)
  flow               noise carried along the source's flow (noise_mode flow) + frame-0 attention
  trajectory         shared noise + frame-0 attention + attention along the flow (attention_along_flow)
  flow_trajectory    both
  flow_alone, flow_trajectory_alone: the same without frame-0 attention (strength 0)
  flow_true, flow_trajectory_true: flow noise (and trajectory attention) given the camera's true pan as the flow

on pans of 6 px a frame (the ablation's clip), 8 (one latent pixel), 12 and 16 (one token of the editor's 2x2
latent patches). The source's flow is OpenCV's DIS, as the nodes compute it without a linked optical_flow, except in
the *_true modes. Each edit is measured by the pack's metrics (motion/consistency.py): the warp error along the
true pan (true_warp_error: does the edit move with the scene), along the source's DIS flow (source_warp_error) and
along its own flow, flicker where the source stands still, motion alignment; by the world's judge (snowy on every
frame, scene kept), as bench/world_ablation.py measures its editing modes; and timed (wall-clock seconds of the
edit call, this machine). Every figure over the seeds: mean, std, min, max.

The pans of 8 and 16 px are edited again with euler_ancestral (every step's noise follows the flow too). Frame
chunks (2) and parts (3) of the flow modes are compared with the whole run on 3 seeds (``splits``).

Usage: .host/venv/bin/python bench/world_flow_edit.py [--seeds N] [--pans 6,8,12,16] [--out PATH]
(35 minutes on one thread of this 2-core machine.) Writes bench/world_flow_edit.json (or --out); the last line
printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import world_ablation as ablation  # noqa: E402

JSON_PATH = ablation.REPO / "bench" / "world_flow_edit.json"

MODES = {  # name: (noise mode, frame-0 attention, attention along the flow, label, flow: the camera's true pan)
    "shared_attention": ("shared", True, False, "shared noise + frame-0 attention (today)", False),
    "flow": ("flow", True, False, "flow noise + frame-0 attention", False),
    "trajectory": ("shared", True, True, "shared noise + frame-0 + trajectory attention", False),
    "flow_trajectory": ("flow", True, True, "flow noise + frame-0 + trajectory attention", False),
    "flow_alone": ("flow", False, False, "flow noise, no frame-0 attention", False),
    "flow_trajectory_alone": ("flow", False, True, "flow noise + trajectory attention, no frame-0 attention", False),
    "flow_true": ("flow", True, False, "flow noise from the true pan + frame-0 attention", True),
    "flow_trajectory_true": ("flow", True, True, "flow noise + trajectory attention from the true pan", True),
}
PANS = (6.0, 8.0, 12.0, 16.0)
"""Camera pans, px per frame."""
METRICS = ablation.EDIT_METRICS + ("source_warp_error", "true_warp_error", "seconds")


def source_clip(seed: int, frames: int, pan: float) -> np.ndarray:
    """A pan over a random scene, the object starting where it stays in view for the whole clip."""
    import world  # noqa: PLC0415

    rng = np.random.default_rng(500 + seed)
    scene = world.random_scene(rng)
    start = 76.0 + (pan - ablation.EDIT_PAN_PX) * (frames - 1) * 0.5
    scene = replace(scene, x=float(rng.uniform(start, start + 24.0)), y=float(rng.uniform(34.0, 94.0)))
    clip, _ = world.pan_clip(scene, frames, (pan, 0.0))
    return clip


def source_flow(source: np.ndarray):
    """The source's DIS flows as a KnownFlow: the pack's warp error measured along them (source_warp_error) says how
    far the edit moves as the source does, frame by frame, over the pixels the source's flow round-trips."""
    from t2vz.motion.consistency import KnownFlow, opencv_flow  # noqa: PLC0415

    pair = opencv_flow("dis").pair
    flows = [pair(np.ascontiguousarray(source[t]), np.ascontiguousarray(source[t + 1])) for t in range(len(source) - 1)]
    return KnownFlow(np.stack([f for f, _ in flows]), np.stack([b for _, b in flows]), "the source's DIS flow")


def true_flow(pan: float):
    """The camera's pan as a flow estimator: the rendered content moves ``pan`` px a frame to the left, exactly.
    (The world's backgrounds are periodic, stripes, checks, dots, where DIS often finds another shift or none.)"""
    from t2vz.motion.consistency import FlowEstimator  # noqa: PLC0415

    def pair(first, second):
        forward = np.zeros((*first.shape[:2], 2), np.float32)
        forward[..., 0] = -pan
        return forward, -forward

    return FlowEstimator("the camera's true pan", pair)


def known_pan(pan: float, frames: int, size: int):
    """The true pan as the metrics' KnownFlow of a clip."""
    from t2vz.motion.consistency import KnownFlow  # noqa: PLC0415

    forward = np.zeros((frames - 1, size, size, 2), np.float32)
    forward[..., 0] = -pan
    return KnownFlow(forward, -forward, "the camera's true pan")


def measure(frames: np.ndarray, source: np.ndarray, along_source, pan: float) -> dict:
    """The ablation's edit figures (warp error along the edit's own flow, flicker, motion alignment, judge) and the
    warp error along the source's DIS flow and along the true pan."""
    import torch  # noqa: PLC0415
    from t2vz.motion.consistency import measure_consistency  # noqa: PLC0415

    video = torch.from_numpy(np.ascontiguousarray(frames))
    along = measure_consistency(video, flow_method=along_source)
    true = measure_consistency(video, flow_method=known_pan(pan, len(frames), frames.shape[1]))
    return {**ablation.measure_edit(frames, source), "source_warp_error": along.warp_error,
            "true_warp_error": true.warp_error}


def edit(loaded, source: np.ndarray, seed: int, settings, mode: str, frames_per_chunk: int = 0,
         parts: int = 1, pan: float | None = None) -> tuple[np.ndarray, float]:
    """(edited frames, seconds of the edit call): Edit Video's library call in ``mode``, the frames
    ``frames_per_chunk`` at a time, in ``parts`` parts (each part's call holds frame 0 and its own frames, as the
    node's part input runs it); the flow is OpenCV's DIS, or the true ``pan`` in the modes that take it."""
    import torch  # noqa: PLC0415
    from t2vz.motion.flow_noise import source_motion  # noqa: PLC0415
    from t2vz.motion.parts import video_part  # noqa: PLC0415
    from t2vz.motion.reference_edit import edit_video_by_reference  # noqa: PLC0415
    from t2vz.motion.video_edit import edit_sigmas  # noqa: PLC0415

    from t2vz.attention import CrossFrameAttention, with_cross_frame  # noqa: PLC0415

    model, clip, vae = loaded
    noise_mode, frame0, along_flow, _, exact = MODES[mode]
    if not frame0:  # strength 0 leaves every frame's own keys and values (trajectory attention still runs)
        model = with_cross_frame(model, CrossFrameAttention(strength=0.0))
    positive, negative = ablation.conditioning(clip, ablation.EDIT, "dit")
    frames = torch.from_numpy(np.ascontiguousarray(source))
    with torch.inference_mode():
        sources = vae.encode(frames)
        sigmas = edit_sigmas(model, settings.steps, settings.sampler, settings.scheduler)
        started = time.perf_counter()
        estimator = true_flow(pan) if exact else None
        motion = source_motion(frames, estimator) if noise_mode == "flow" or along_flow else None
        pieces = []
        for index in range(parts):
            part = video_part(len(source), index, parts)
            pieces.append(edit_video_by_reference(model, positive, negative, sources[part.rows], seed, sigmas,
                                                  settings.sampler, settings.cfg, noise_mode,
                                                  frames_per_chunk=frames_per_chunk, part=part, motion=motion,
                                                  along_flow=along_flow))
        latents = torch.cat(pieces)
        seconds = time.perf_counter() - started
    return ablation.decode(loaded, latents), seconds


SPLITS = {"frames_per_chunk 2": (2, 1), "parts 3": (0, 3)}
"""How the split runs are cut: (frames_per_chunk, parts)."""


def split_runs(loaded, settings, seeds: list[int], pans, modes=("flow", "flow_trajectory")) -> dict:
    """For each pan and mode, how far frame chunks and parts move the decoded frames from the whole run's (mean and
    largest |difference| in 8-bit levels over every pixel) and the source warp error each gives: flow noise is
    exact in both, trajectory attention is not (a call attends along trajectories among its own frames only)."""
    out = {}
    for pan in pans:
        for mode in modes:
            rows = {name: {"mean_levels": [], "max_levels": [], "source_warp_error": []} for name in SPLITS}
            whole_errors = []
            for seed in seeds:
                source = source_clip(seed, settings.frames, pan)
                along_source = source_flow(source)
                whole, _ = edit(loaded, source, seed, settings, mode, pan=pan)
                whole_errors.append(measure(whole, source, along_source, pan)["source_warp_error"])
                for name, (chunk, parts) in SPLITS.items():
                    frames, _ = edit(loaded, source, seed, settings, mode, chunk, parts, pan)
                    gap = np.abs(frames - whole) * 255.0
                    rows[name]["mean_levels"].append(float(gap.mean()))
                    rows[name]["max_levels"].append(float(gap.max()))
                    rows[name]["source_warp_error"].append(
                        measure(frames, source, along_source, pan)["source_warp_error"])
            out[f"pan {pan:g} px, {mode}"] = {
                "whole_source_warp_error": ablation.spread(whole_errors),
                **{name: {k: ablation.spread(v) for k, v in row.items()} for name, row in rows.items()}}
            print(f"splits pan {pan:g} {mode}: " + "; ".join(
                f"{name} mean {ablation.spread(row['mean_levels'])['mean']:.3f} max "
                f"{ablation.spread(row['max_levels'])['max']:.1f} levels" for name, row in rows.items()), flush=True)
    return out


def run_clips(loaded, settings, seeds: list[int], pans, modes) -> dict:
    """{clip name: the per-seed figures and their spread over the seeds, per mode} for one sampler."""
    clips = {}
    for pan in pans:
        per_seed = {}
        for seed in seeds:
            source = source_clip(seed, settings.frames, pan)
            along_source = source_flow(source)
            per_seed[seed] = {}
            for mode in modes:
                frames, seconds = edit(loaded, source, seed, settings, mode, pan=pan)
                per_seed[seed][mode] = {**measure(frames, source, along_source, pan), "seconds": seconds}
                print(f"{settings.sampler} pan {pan:g} seed {seed} {mode}: " + ", ".join(
                    f"{k} {v:.3f}" for k, v in per_seed[seed][mode].items()), flush=True)
        summary = {mode: {"label": MODES[mode][3],
                          **{m: ablation.spread([per_seed[s][mode][m] for s in seeds]) for m in METRICS}}
                   for mode in modes}
        clips[f"pan {pan:g} px"] = {"pan_px_per_frame": pan, "summary": summary, "per_seed": per_seed}
    return clips


def table(name: str, clip: dict, seeds: int) -> str:
    lines = [f"{name}: mean ± std over {seeds} seeds",
             "| mode | snowy % | kept % | warp error along the true pan | along the source's DIS flow | along its own "
             "flow | flicker | motion alignment | seconds |", "|---|---|---|---|---|---|---|---|---|"]
    for row in clip["summary"].values():
        cells = [f"{100 * row['snowy']['mean']:.0f}", f"{100 * row['kept']['mean']:.0f}"] + [
            f"{row[m]['mean']:.2f} ± {row[m]['std']:.2f}"
            for m in ("true_warp_error", "source_warp_error", "warp_error", "flicker", "motion_alignment")]
        lines.append(f"| {row['label']} | " + " | ".join(cells) + f" | {row['seconds']['mean']:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--pans", default=",".join(f"{p:g}" for p in PANS))
    parser.add_argument("--ancestral-pans", default="8,16",
                        help="pans edited again with euler_ancestral (every step's noise follows the flow)")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--split-seeds", type=int, default=3, help="seeds of the frame-chunk / part comparison")
    parser.add_argument("--out", type=Path, default=JSON_PATH)
    args = parser.parse_args(argv)
    ablation.bootstrap()
    import torch  # noqa: PLC0415

    torch.set_num_threads(1)
    settings = ablation.Settings(steps=16, cfg=2.0, scheduler="simple", family="dit")
    loaded = ablation.load_editor(None)
    seeds = list(range(args.seeds))
    modes = args.modes.split(",")
    runs = {"euler": run_clips(loaded, settings, seeds, [float(p) for p in args.pans.split(",")], modes)}
    if args.ancestral_pans:
        runs["euler_ancestral"] = run_clips(loaded, replace(settings, sampler="euler_ancestral"), seeds,
                                            [float(p) for p in args.ancestral_pans.split(",")], modes)
    splits = split_runs(loaded, settings, list(range(args.split_seeds)), (6.0, 16.0)) if args.split_seeds else {}
    result = {"instruction": ablation.EDIT, "settings": asdict(settings), "seeds": seeds, "flow": "OpenCV DIS",
              "machine": f"{platform.machine()}, {torch.get_num_threads()} thread(s), torch {torch.__version__}",
              "samplers": runs, "splits": splits}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for sampler, clips in runs.items():
        for name, clip in clips.items():
            print(f"\n{sampler}, " + table(name, clip, len(seeds)))
    print(json.dumps({"out": str(args.out), "samplers": {k: list(v) for k, v in runs.items()}}))
    return result


if __name__ == "__main__":
    main()
