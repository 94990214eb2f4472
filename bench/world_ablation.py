"""The paper's ablation reproduced in the small trained world (bench/world): what each part of Text2Video-Zero does
to a video, measured by the pack's metrics and by the world's judge, over several seeds.

Text-to-video on the world's SD1.5-layout model (bench/world/world_model.py, loaded by ComfyUI's checkpoint loader)
through the pack's own sampler (motion/sampler.py sample_video), 8 frames at 128 px, a camera pan of one latent pixel
(8 px) per frame, in the four modes of the paper's ablation:

  independent   frames sampled independently: a plain batch (noise_mode independent, cross-frame attention at
                strength 0, which leaves every attention call alone: KSampler's batch)
  cross_frame   cross-frame attention only (noise_mode independent, the sampler's CrossFrameAttention)
  motion        motion only (noise_mode motion, cross-frame attention at strength 0: the motion field warps frame 0's
                latent and re-noises it, the joint pass is plain self-attention)
  t2vz          both: Text2Video-Zero (noise_mode motion with cross-frame attention)

motion and t2vz run at the paper's warp step t0/t1 44/47 and at 30/35; t2vz sweeps t0/t1. Frame chunks
(frames_per_chunk 2) and parts (3) of t2vz are checked to give the very frames of the whole run (asserted).

Each video is measured by the pack's metrics (motion/consistency.py measure_consistency, OpenCV DIS flow: warp
error, flicker, in 8-bit levels) and by the world's judge (bench/world/world.py judge): identity kept (the share of
frames 1..F-1 whose object has frame 0's colour and shape; the shape of an object cut by the frame's border is not
compared), the object following the camera (its centre's displacement from frame 0 against the pan's, px), the
prompt drawn (frame 0's colour / shape / background). Every figure over the seeds: mean, std, min, max.

Editing (Edit Video on the world's Kontext-layout editor, "add snow" on a panning clip) and text-to-video on that
DiT run when its weights (bench/world/editor_model.py WEIGHTS) exist; otherwise they are marked pending.

Usage:
  .host/venv/bin/python bench/world_ablation.py [--quick] [--seeds N] [--steps N] [--out DIR] [--weights PATH]
  (make ablation: the full run; matplotlib draws the figures: bench/requirements.txt)
The full run writes bench/world_ablation.json and docs/consistency-*.png; --quick (2 seeds, fewer steps, fewer
t0/t1) writes into output/world-ablation-quick/ unless --out says where; every video's frames go into
world_ablation_frames.npz beside the JSON (output/ for the full run: not committed). The last line printed is one
JSON object.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import types
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
WORLD_DIR = REPO / "bench" / "world"
JSON_PATH = REPO / "bench" / "world_ablation.json"
DOCS = REPO / "docs"
QUICK_OUT = REPO / "output" / "world-ablation-quick"

PAPER_T0T1 = (44, 47)
FOLLOW_T0T1 = (30, 35)
SWEEP = ((44, 47), (38, 42), (30, 35), (20, 25))
QUICK_SWEEP = ((44, 47), (30, 35))

MODES = {  # name: (noise mode, cross-frame attention on, what the paper's ablation calls it)
    "independent": ("independent", False, "frames sampled independently"),
    "cross_frame": ("independent", True, "cross-frame attention only"),
    "motion": ("motion", False, "motion only"),
    "t2vz": ("motion", True, "both: Text2Video-Zero"),
}


def bootstrap() -> None:
    """ComfyUI in-process on the CPU (the world's host), the pack importable as the package t2vz, the world's
    modules importable (a no-op where tests/conftest.py did it already)."""
    if str(WORLD_DIR) not in sys.path:
        sys.path.insert(0, str(WORLD_DIR))
    import world_model  # noqa: PLC0415

    world_model.import_comfy()
    if "t2vz" not in sys.modules:
        pkg = types.ModuleType("t2vz")
        pkg.__path__ = [str(REPO)]
        sys.modules["t2vz"] = pkg


@dataclass(frozen=True)
class Settings:
    frames: int = 8
    size: int = 128
    steps: int = 10
    cfg: float = 4.0
    sampler: str = "euler"
    scheduler: str = "normal"
    pan_latent_px: int = 1
    """Camera pan per frame in latent pixels (8 image px): the motion field moves whole latent pixels exactly."""
    sweep: tuple = SWEEP
    check_seeds: int = 2
    """Seeds on which frame chunks and parts are run and compared with the whole video."""
    family: str = "unet"
    """"unet": the world's SD1.5-layout model; "dit": the world's Kontext-layout editor drawing from text alone."""

    @property
    def channels(self) -> int:
        return 4 if self.family == "unet" else 16

    @property
    def pan_px(self) -> int:
        return 8 * self.pan_latent_px


@dataclass(frozen=True)
class Config:
    """One video recipe: a mode, its warp step (motion modes), frame chunks and parts."""

    mode: str
    t0t1: tuple | None = None
    frames_per_chunk: int = 0
    parts: int = 1

    @property
    def key(self) -> str:
        key = self.mode + (f"@{self.t0t1[0]}/{self.t0t1[1]}" if self.t0t1 else "")
        if self.frames_per_chunk:
            key += f"+chunks{self.frames_per_chunk}"
        if self.parts > 1:
            key += f"+parts{self.parts}"
        return key

    @property
    def label(self) -> str:
        text = {"independent": "a. independent", "cross_frame": "b. cross-frame only", "motion": "c. motion only",
                "t2vz": "d. T2V-Zero"}[self.mode]
        if self.t0t1:
            text += f" t0/t1 {self.t0t1[0]}/{self.t0t1[1]}"
        if self.frames_per_chunk:
            text += f", chunks of {self.frames_per_chunk}"
        if self.parts > 1:
            text += f", {self.parts} parts"
        return text


def configs(settings: Settings) -> list[Config]:
    """The ablation's videos per seed: the four modes (motion ones at the paper's t0/t1 and at 30/35), and t2vz's
    sweep of t0/t1."""
    out = [Config("independent"), Config("cross_frame")]
    for t0t1 in (PAPER_T0T1, FOLLOW_T0T1):
        out += [Config("motion", t0t1), Config("t2vz", t0t1)]
    for t0t1 in settings.sweep:
        out.append(Config("t2vz", t0t1))
    seen, unique = set(), []
    for c in out:
        if c.key not in seen:
            seen.add(c.key)
            unique.append(c)
    return unique


def prompt_for(seed: int) -> str:
    """A world prompt per seed: colours, shapes and backgrounds in turn (every combination within 12 seeds)."""
    import world  # noqa: PLC0415

    colours, backgrounds = list(world.COLOURS), list(world.BACKGROUNDS)
    return world.prompt(world.Scene(world.SHAPES[seed % 3], colours[seed % 4], backgrounds[(seed // 4) % 3], 0, 0))


def choose_pan(first_frame: np.ndarray, settings: Settings) -> tuple[int, int]:
    """The pan (dx, dy) in latent pixels per frame, of the camera (motion_x / motion_y's sign: positive moves the
    content left / up) that keeps the object of frame 0 longest in view: the content moves towards the farthest
    border. Left (dx = +1) when frame 0 shows no object."""
    import world  # noqa: PLC0415

    centre = world.judge(first_frame)["centre"]
    step = settings.pan_latent_px
    if centre is None:
        return step, 0
    x, y = centre
    size = first_frame.shape[1]
    room = {(step, 0): x, (-step, 0): size - x, (0, step): y, (0, -step): size - y}  # content moves -pan
    return max(room, key=room.get)


def expected_displacement(pan: tuple[int, int], frames: int) -> np.ndarray:
    """(F, 2) on-screen displacement (x, y) of the content of frame k from frame 0 in pixels, as the motion field
    moves it: the camera pans by pan latent px per frame, the content moves the other way, 8 px per latent px."""
    k = np.arange(frames, dtype=np.float64)[:, None]
    return -8.0 * k * np.array(pan, dtype=np.float64)[None, :]


def camera_for(pan: tuple[int, int], latent_size: int):
    """ConstantMotion moving whole latent pixels: motion_x/motion_y are pixels of a 512 canvas (motion/field.py),
    so one latent pixel of a latent_size-wide latent is 512 / latent_size of them."""
    from t2vz.motion.camera import ConstantMotion  # noqa: PLC0415

    unit = 512.0 / latent_size
    return ConstantMotion(motion_x=pan[0] * unit, motion_y=pan[1] * unit)


def conditioning(clip, prompt: str, family: str = "unet"):
    """(positive, negative): the UNet's negative is the empty prompt (KSampler's usual), the DiT's the positive zeroed
    out (the Kontext workflow's ConditioningZeroOut)."""
    if family == "dit":
        import editor_model  # noqa: PLC0415

        positive = editor_model.encode_text(clip, [prompt])
        return positive, editor_model.zero_out(positive)
    import world_model  # noqa: PLC0415

    return world_model.encode(clip, [prompt]), world_model.encode(clip, [""])


def video_latents(loaded, prompt: str, seed: int, settings: Settings, config: Config, pan=(1, 0), conds=None):
    """The video's LATENT samples (F, 4, H/8, W/8) through sample_video, or its parts put together in order."""
    import torch  # noqa: PLC0415
    from t2vz.attention import CrossFrameAttention, with_cross_frame  # noqa: PLC0415
    from t2vz.motion.parts import video_part  # noqa: PLC0415
    from t2vz.motion.sampler import Motion, sample_video  # noqa: PLC0415

    model, clip, _ = loaded
    positive, negative = conds or conditioning(clip, prompt, settings.family)
    noise_mode, cross_frame, _ = MODES[config.mode]
    if not cross_frame:  # the honest "off": the patch at strength 0 leaves every attention call alone
        model = with_cross_frame(model, CrossFrameAttention(strength=0.0))
    latent_size = settings.size // 8
    latent = torch.zeros((settings.frames, settings.channels, latent_size, latent_size))
    t0, t1 = config.t0t1 or PAPER_T0T1
    motion = Motion(camera_for(pan, latent_size), t0, t1)
    options = dict(noise_mode=noise_mode, motion=motion, frames_per_chunk=config.frames_per_chunk)
    run = lambda part=None: sample_video(model, positive, negative, latent, seed, settings.steps,  # noqa: E731
                                         settings.cfg, settings.sampler, settings.scheduler, part=part, **options)
    with torch.inference_mode():
        if config.parts == 1:
            return run()
        return torch.cat([run(video_part(settings.frames, i, config.parts)) for i in range(config.parts)])


def decode(loaded, latents) -> np.ndarray:
    import torch  # noqa: PLC0415

    with torch.inference_mode():
        return loaded[2].decode(latents).float().clamp(0, 1).cpu().numpy()


# --- measuring a video -------------------------------------------------------------------------------------------

def judge_video(frames: np.ndarray, prompt: str, pan: tuple[int, int]) -> dict:
    """The world's judge on a video: identity kept, the object following the camera, the prompt drawn."""
    import world  # noqa: PLC0415

    judged = [world.judge(f) for f in frames]
    first = judged[0]
    drawn = world.matches(first, prompt)
    expected = expected_displacement(pan, len(frames))
    result = {"drawn": {k: float(v) for k, v in drawn.items()}, "frame0_object": first["colour"] is not None,
              "colours": [j["colour"] for j in judged], "shapes": [j["shape"] for j in judged],
              "centres": [j["centre"] for j in judged], "clipped": [j["clipped"] for j in judged]}
    if first["colour"] is None:
        result.update(identity=math.nan, colour_kept=math.nan, shape_kept=math.nan, follow_error_px=math.nan,
                      follow_gain=math.nan, still_error_px=math.nan, followed_frames=0, shape_iou=math.nan,
                      colour_diff=math.nan)
        return result
    colour_kept, shape_kept, identity = [], [], []
    errors, dot, norm, still = [], 0.0, 0.0, []
    look = appearance(frames, judged)
    for k, j in enumerate(judged[1:], start=1):
        same_colour = j["colour"] == first["colour"]
        same_shape = j["shape"] == first["shape"] or j["clipped"] or first["clipped"]
        colour_kept.append(same_colour)
        shape_kept.append(j["colour"] is not None and same_shape)
        identity.append(same_colour and same_shape)
        if j["centre"] is not None and not j["clipped"] and not first["clipped"]:
            moved = np.subtract(j["centre"], first["centre"])
            errors.append(float(np.linalg.norm(moved - expected[k])))
            still.append(float(np.linalg.norm(expected[k])))
            dot += float(moved @ expected[k])
            norm += float(expected[k] @ expected[k])
    result.update(identity=float(np.mean(identity)), colour_kept=float(np.mean(colour_kept)),
                  shape_kept=float(np.mean(shape_kept)),
                  follow_error_px=float(np.mean(errors)) if errors else math.nan,
                  follow_gain=dot / norm if norm > 0 else math.nan,
                  still_error_px=float(np.mean(still)) if still else math.nan, followed_frames=len(errors), **look)
    return result


def appearance(frames: np.ndarray, judged: list[dict]) -> dict:
    """How alike the object of each later frame is to frame 0's, wherever it is: the overlap (IoU) of their masks
    laid on each other at their centres, and the difference of their mean colours (8-bit levels); over the frames
    where both objects are whole (not cut by the border)."""
    import world  # noqa: PLC0415

    first = judged[0]
    if first["centre"] is None or first["clipped"]:
        return {"shape_iou": math.nan, "colour_diff": math.nan}
    mask0 = world.object_mask(frames[0])
    colour0 = frames[0][mask0].mean(axis=0)
    ious, diffs = [], []
    for k, j in enumerate(judged[1:], start=1):
        if j["centre"] is None or j["clipped"]:
            ious.append(0.0 if j["centre"] is None else math.nan)
            continue
        mask = world.object_mask(frames[k])
        shift = np.round(np.subtract(first["centre"], j["centre"])).astype(int)
        moved = np.roll(mask, (shift[1], shift[0]), axis=(0, 1))
        ious.append(float((moved & mask0).sum() / max((moved | mask0).sum(), 1)))
        diffs.append(float(np.abs(frames[k][mask].mean(axis=0) - colour0).mean() * 255))
    finite = [v for v in ious if math.isfinite(v)]
    return {"shape_iou": float(np.mean(finite)) if finite else math.nan,
            "colour_diff": float(np.mean(diffs)) if diffs else math.nan}


def consistency(frames: np.ndarray) -> dict:
    """The pack's metrics (motion/consistency.py), OpenCV DIS flow."""
    import torch  # noqa: PLC0415
    from t2vz.motion.consistency import measure_consistency  # noqa: PLC0415

    result = measure_consistency(torch.from_numpy(np.ascontiguousarray(frames)), flow_method="dis")
    return {"warp_error": result.warp_error, "flicker": result.flicker}


METRICS = ("identity", "shape_iou", "colour_diff", "follow_error_px", "follow_gain", "warp_error", "flicker",
           "colour_kept", "shape_kept")


def measure(frames: np.ndarray, prompt: str, pan) -> dict:
    record = judge_video(frames, prompt, pan)
    record.update(consistency(frames))
    return record


def spread(values) -> dict:
    """mean, std (sample, ddof 1), min, max and count of the finite values."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return {"mean": math.nan, "std": math.nan, "min": math.nan, "max": math.nan, "n": 0}
    return {"mean": float(np.mean(finite)), "std": float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0,
            "min": min(finite), "max": max(finite), "n": len(finite)}


def relative_difference(a, b) -> float:
    return float((a - b).abs().max() / b.abs().max())


# --- the text-to-video ablation ------------------------------------------------------------------------------------

@dataclass
class SeedRun:
    seed: int
    prompt: str
    pan: tuple
    records: dict = field(default_factory=dict)
    frames: dict = field(default_factory=dict)
    latents: dict = field(default_factory=dict)
    equal: dict = field(default_factory=dict)


def run_seed(loaded, seed: int, settings: Settings, recipes: list[Config], check: bool = False,
             log=print) -> SeedRun:
    """All recipes on one seed; with ``check``, t2vz in frame chunks and in parts, compared with the whole run."""
    prompt = prompt_for(seed)
    conds = conditioning(loaded[1], prompt, settings.family)
    recipes = sorted(recipes, key=lambda c: c.mode != "independent")  # the pan is chosen from frame 0 of a plain run
    run = SeedRun(seed, prompt, (settings.pan_latent_px, 0))
    latents = run.latents
    for config in recipes:
        started = time.time()
        latents[config.key] = video_latents(loaded, prompt, seed, settings, config, run.pan, conds)
        frames = decode(loaded, latents[config.key])
        if config.mode == "independent" and config.key == "independent":
            run.pan = choose_pan(frames[0], settings)
        run.frames[config.key] = frames
        log(f"  seed {seed} {config.key}: {time.time() - started:.0f} s")
    for key, frames in run.frames.items():
        run.records[key] = measure(frames, prompt, run.pan)
    if check:
        whole = Config("t2vz", PAPER_T0T1)
        for variant in (Config("t2vz", PAPER_T0T1, frames_per_chunk=2), Config("t2vz", PAPER_T0T1, parts=3)):
            started = time.time()
            other = video_latents(loaded, prompt, seed, settings, variant, run.pan, conds)
            diff = relative_difference(other, latents[whole.key])
            frames = decode(loaded, other)
            record = measure(frames, prompt, run.pan)
            same = {m: _same(record[m], run.records[whole.key][m], m) for m in METRICS}
            run.equal[variant.key] = {"max_relative_difference": diff, "same_figures": all(same.values()),
                                      **{m: record[m] for m in METRICS}}
            log(f"  seed {seed} {variant.key}: {time.time() - started:.0f} s, max relative difference {diff:.1e}")
            if diff > 1e-4 or not all(same.values()):
                raise AssertionError(f"{variant.label} differs from the whole run on seed {seed}: max relative "
                                     f"difference {diff:.1e}, figures {record} against {run.records[whole.key]}")
    return run


def _same(a: float, b: float, metric: str) -> bool:
    """Equal figures: the judge's within 0.01 (a centroid can move by a thousandth of a pixel), the flow-based ones
    within 2% (OpenCV's flow reads 8-bit frames: a float-rounding difference can flip a level here and there)."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= (0.02 * max(1.0, abs(b)) if metric in ("warp_error", "flicker") else 0.01)


def summarise(runs: list[SeedRun], recipes: list[Config]) -> dict:
    summary = {}
    for config in recipes:
        records = [r.records[config.key] for r in runs]
        summary[config.key] = {"label": config.label, **{m: spread([rec[m] for rec in records]) for m in METRICS}}
    keys = ("colour", "shape", "background")
    first = recipes[0].key  # frame 0 is the same in every mode (asserted in tests/test_world_ablation.py)
    summary["prompt_drawn"] = {k: spread([r.records[first]["drawn"].get(k, math.nan) for r in runs]) for k in keys}
    return summary


# --- editing and the DiT (the world's Kontext-layout editor) ------------------------------------------------------

EDIT_MODES = {  # name: (noise mode, frame-0 attention on, label)
    "fresh": ("independent", False, "frame by frame, fresh noise"),
    "shared": ("shared", False, "shared noise"),
    "shared_attention": ("shared", True, "shared noise + frame-0 attention (Edit Video)"),
}
EDIT = "add snow"
EDIT_PAN_PX = 6.0
"""The source clip's camera pan, px per frame (the object moves 42 px over 8 frames and stays in view)."""
EDIT_METRICS = ("snowy", "kept", "flakes", "warp_error", "flicker", "motion_alignment")


def edit_source(seed: int, frames: int) -> tuple[np.ndarray, object]:
    """A panning clip of a random scene (world.pan_clip), the object starting right of centre so it stays in view."""
    from dataclasses import replace  # noqa: PLC0415

    import world  # noqa: PLC0415

    rng = np.random.default_rng(500 + seed)
    scene = world.random_scene(rng)
    scene = replace(scene, x=float(rng.uniform(76.0, 100.0)), y=float(rng.uniform(34.0, 94.0)))
    clip, _ = world.pan_clip(scene, frames, (EDIT_PAN_PX, 0.0))
    return clip, scene


def edit_video(loaded, source: np.ndarray, seed: int, settings: Settings, mode: str) -> np.ndarray:
    """"add snow" on every frame with Edit Video's library call (motion/reference_edit.py edit_video_by_reference)."""
    import torch  # noqa: PLC0415
    from t2vz.attention import CrossFrameAttention, with_cross_frame  # noqa: PLC0415
    from t2vz.motion.reference_edit import edit_video_by_reference  # noqa: PLC0415
    from t2vz.motion.video_edit import edit_sigmas  # noqa: PLC0415

    model, clip, vae = loaded
    noise_mode, attention, _ = EDIT_MODES[mode]
    if not attention:
        model = with_cross_frame(model, CrossFrameAttention(strength=0.0))
    positive, negative = conditioning(clip, EDIT, "dit")
    with torch.inference_mode():
        sources = vae.encode(torch.from_numpy(np.ascontiguousarray(source)))
        sigmas = edit_sigmas(model, settings.steps, settings.sampler, settings.scheduler)
        latents = edit_video_by_reference(model, positive, negative, sources, seed, sigmas, settings.sampler,
                                          settings.cfg, noise_mode)
    return decode(loaded, latents)


def measure_edit(frames: np.ndarray, source: np.ndarray) -> dict:
    """The instruction applied on every frame (judged snowy), the scene kept (colour, shape, background of each
    source frame), and the pack's metrics given the source (flicker where the source stands still, motion
    alignment: does the edit move as the source moves)."""
    import torch  # noqa: PLC0415
    import world  # noqa: PLC0415
    from t2vz.motion.consistency import measure_consistency  # noqa: PLC0415

    import editor_model  # noqa: PLC0415

    after, before = [world.judge(f) for f in frames], [world.judge(f) for f in source]
    kept = [all(a[k] == b[k] for k in ("colour", "background")) and (a["shape"] == b["shape"] or b["clipped"])
            for a, b in zip(after, before)]
    result = measure_consistency(torch.from_numpy(np.ascontiguousarray(frames)),
                                 source_frames=torch.from_numpy(np.ascontiguousarray(source)), flow_method="dis")
    return {"snowy": float(np.mean([a["snow_flakes"] >= editor_model.SNOWY_FLAKES for a in after])),
            "kept": float(np.mean(kept)), "flakes": float(np.mean([a["snow_flakes"] for a in after])),
            "warp_error": result.warp_error, "flicker": result.flicker, "motion_alignment": result.motion_alignment}


def load_editor(weights: Path | None):
    import editor_model  # noqa: PLC0415

    if weights is None or Path(weights).resolve() == editor_model.WEIGHTS.resolve():
        return editor_model.load_editor()
    return editor_model.load_editor(Path(weights), prefix="ablation-")  # files of its own: the host's stay


def editor_weights_path(weights: Path | None) -> Path | None:
    """The editor's weights, or None when they do not exist (yet)."""
    if str(WORLD_DIR) not in sys.path:
        sys.path.insert(0, str(WORLD_DIR))
    try:
        import editor_model  # noqa: PLC0415
    except Exception:  # noqa: BLE001
        return None
    path = Path(weights) if weights else editor_model.WEIGHTS
    return path if path.exists() else None


def pending_editor(weights: Path | None) -> dict:
    import editor_model  # noqa: PLC0415

    path = Path(weights) if weights else editor_model.WEIGHTS
    shown = path.resolve().relative_to(REPO) if path.resolve().is_relative_to(REPO) else path
    return {"status": "pending",
            "why": f"the world's Kontext-layout editor has no weights yet ({shown} is missing): the editing ablation "
                   f"(fresh noise / shared noise / shared noise + frame-0 attention on a panning clip, "
                   f"'{EDIT}') and text-to-video on the DiT run once it exists"}


def editing_ablation(loaded, seeds: list[int], settings: Settings, log=print) -> tuple[dict, dict]:
    """(result for the JSON, {mode: frames} and the source of the first seed for the figure)."""
    per_seed, shown = {}, {}
    for seed in seeds:
        source, scene = edit_source(seed, settings.frames)
        per_seed[seed] = {"scene": asdict(scene)}
        for mode in EDIT_MODES:
            started = time.time()
            frames = edit_video(loaded, source, seed, settings, mode)
            per_seed[seed][mode] = measure_edit(frames, source)
            if seed == seeds[0]:
                shown[mode] = frames
            log(f"  edit seed {seed} {mode}: {time.time() - started:.0f} s")
        if seed == seeds[0]:
            shown["source"] = source
    summary = {mode: {"label": EDIT_MODES[mode][2],
                      **{m: spread([per_seed[s][mode][m] for s in seeds]) for m in EDIT_METRICS}}
               for mode in EDIT_MODES}
    return {"status": "measured", "instruction": EDIT, "pan_px_per_frame": EDIT_PAN_PX,
            "settings": asdict(settings), "summary": summary, "per_seed": per_seed}, shown


# --- figures -------------------------------------------------------------------------------------------------------

def pyplot():
    """matplotlib.pyplot on the Agg backend; matplotlib is a bench-only dependency (bench/requirements.txt)."""
    try:
        import matplotlib  # noqa: PLC0415
    except ImportError as e:
        raise ImportError(f"matplotlib draws the ablation's figures and is not installed for this Python. Fix: "
                          f"{sys.executable} -m pip install -r {REPO / 'bench' / 'requirements.txt'}") from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def _label_panel(text_lines: list[str], height: int, width: int) -> np.ndarray:
    import cv2  # noqa: PLC0415

    panel = np.full((height, width, 3), 255, np.uint8)
    for i, line in enumerate(text_lines):
        cv2.putText(panel, line, (6, 22 + 18 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (30, 30, 30), 1, cv2.LINE_AA)
    return panel


def save_png(path: Path, rgb: np.ndarray) -> None:
    """An RGB uint8 picture as a PNG of 256 colours (the frames' grain compresses badly: a third of the bytes)."""
    from PIL import Image  # noqa: PLC0415

    Image.fromarray(np.ascontiguousarray(rgb)).quantize(256, dither=Image.Dither.NONE).save(path, optimize=True)


def _num(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "n/a"


def _to_u8(frame: np.ndarray) -> np.ndarray:
    return (np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8)


def _mark(frame: np.ndarray, point, colour=(255, 255, 255)) -> np.ndarray:
    """A small cross (outlined) where the camera puts the object."""
    import cv2  # noqa: PLC0415

    out = frame.copy()
    x, y = int(round(point[0])), int(round(point[1]))
    for thickness, ink in ((3, (0, 0, 0)), (1, colour)):
        cv2.drawMarker(out, (x, y), ink, cv2.MARKER_CROSS, 11, thickness, cv2.LINE_AA)
    return out


def frame_strip(path: Path, run: SeedRun, keys: list[str], labels: dict, label_width: int = 250) -> None:
    """One row per recipe: a label (with its figures) and the video's frames side by side; a cross marks where the
    camera puts frame 0's object on each frame."""
    first = run.records[keys[0]]["centres"][0]
    expected = expected_displacement(run.pan, len(run.frames[keys[0]]))
    rows = []
    for key in keys:
        frames = run.frames[key]
        rec = run.records[key]
        tiles = []
        for k, frame in enumerate(frames):
            tile = _to_u8(frame)
            if first is not None:
                tile = _mark(tile, np.add(first, expected[k]))
            tiles.append(np.pad(tile, ((2, 2), (2, 2), (0, 0)), constant_values=255))
        height = tiles[0].shape[0]
        lines = [labels[key],
                 f"identity kept {_num(100 * rec['identity'], 0)}%, IoU {_num(100 * rec['shape_iou'], 0)}%",
                 f"follow error {_num(rec['follow_error_px'])} px", f"warp error {_num(rec['warp_error'])}"]
        rows.append(np.concatenate([_label_panel(lines, height, label_width)] + tiles, axis=1))
    header = _label_panel([f"seed {run.seed}: \"{run.prompt}\", frames 0..{len(expected) - 1}; the camera pans "
                           f"{run.pan} latent px (8 px) per frame,",
                           "+ marks where it puts frame 0's object on each frame"], 48, rows[0].shape[1])
    save_png(path, np.concatenate([header] + rows))


def plot_ablation(path: Path, summary: dict, main_keys: list[str], caption: str) -> None:
    plt = pyplot()
    panels = (("identity", "identity kept (share of frames)", 1.0), ("shape_iou", "shape IoU with frame 0", 1.0),
              ("follow_error_px", "follow error (px)", 1.0), ("warp_error", "warp error (8-bit levels)", 1.0))
    fig, axes = plt.subplots(1, len(panels), figsize=(14, 4.2), layout="constrained")
    colours = {"independent": "tab:gray", "cross_frame": "tab:blue", "motion": "tab:orange", "t2vz": "tab:green"}
    for ax, (metric, title, _) in zip(axes, panels):
        for i, key in enumerate(main_keys):
            s = summary[key][metric]
            ax.bar(i, s["mean"], yerr=s["std"] if s["n"] > 1 else None, capsize=4,
                   color=colours[key.split("@")[0]], alpha=0.8)
            ax.plot([i, i], [s["min"], s["max"]], color="black", linewidth=0, marker="_", markersize=10)
        ax.set_xticks(range(len(main_keys)), [summary[k]["label"].replace(" t0/t1", "\nt0/t1") for k in main_keys],
                      rotation=60, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle("Text2Video-Zero's parts in the trained world (bars: mean; error bars: std; ticks: min and max "
                 "over seeds)", fontsize=11)
    fig.text(0.5, -0.02, caption, ha="center", va="top", fontsize=8)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)


def plot_sweep(path: Path, summary: dict, sweep_keys: list[str], caption: str) -> None:
    plt = pyplot()
    panels = (("follow_error_px", "follow error (px)"), ("follow_gain", "follow gain (1 = moves with the camera)"),
              ("identity", "identity kept"), ("warp_error", "warp error (8-bit levels)"))
    x = list(range(len(sweep_keys)))
    names = [k.split("@")[1] for k in sweep_keys]
    fig, axes = plt.subplots(1, len(panels), figsize=(14, 3.6), layout="constrained")
    for ax, (metric, title) in zip(axes, panels):
        means = [summary[k][metric]["mean"] for k in sweep_keys]
        stds = [summary[k][metric]["std"] for k in sweep_keys]
        ax.errorbar(x, means, yerr=stds, marker="o", capsize=4, color="tab:green")
        ax.fill_between(x, [summary[k][metric]["min"] for k in sweep_keys],
                        [summary[k][metric]["max"] for k in sweep_keys], color="tab:green", alpha=0.15)
        ax.set_xticks(x, names)
        ax.set_xlabel("t0/t1 (the paper: 44/47; lower = warp later)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
    fig.suptitle("Text2Video-Zero's warp step t0/t1 in the trained world (mean, std, min-max band over seeds)",
                 fontsize=11)
    fig.text(0.5, -0.04, caption, ha="center", va="top", fontsize=8)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)


def world_picture(path: Path, loaded, settings: Settings) -> None:
    """The world: rendered scenes, a camera pan, "add snow"; and what the trained model draws from prompts."""
    import world  # noqa: PLC0415
    import world_model  # noqa: PLC0415

    rng = np.random.default_rng(3)
    scenes = [world.random_scene(rng) for _ in range(7)]
    rendered = [world.render(s) for s in scenes]
    clip, _ = world.pan_clip(world.Scene("triangle", "blue", "checkered", 84.0, 60.0, 20.0), 6, (8.0, 0.0))
    snowy = [world.render(world.apply_edit(s, "add snow", 11 + i)) for i, s in enumerate(scenes[:1])]
    prompts = [prompt_for(s) for s in range(7)]
    drawn = world_model.draw(loaded, prompts, seed=5, steps=settings.steps, cfg=settings.cfg,
                             sampler=settings.sampler, scheduler=settings.scheduler, size=settings.size)
    label_width = 170

    def row(frames, lines):
        tiles = [np.pad(_to_u8(f), ((2, 2), (2, 2), (0, 0)), constant_values=255) for f in frames]
        tiles += [np.full_like(tiles[0], 255)] * (7 - len(tiles))
        return np.concatenate([_label_panel(lines, tiles[0].shape[0], label_width)] + tiles, axis=1)

    rows = [row(rendered, ["rendered scenes", "(the world: shape,", "colour, background)"]),
            row(list(clip) + snowy, ["a camera pan (6 frames,", "8 px/frame) and", "'add snow' (last)"]),
            row(drawn, ["the trained model", "draws 7 prompts", "(seed 5)"])]
    captions = _label_panel(["model prompts: " + "; ".join(p.replace(" background", "") for p in prompts[:4]),
                             "  " + "; ".join(p.replace(" background", "") for p in prompts[4:])],
                            44, rows[0].shape[1])
    save_png(path, np.concatenate(rows + [captions]))


# --- the table -------------------------------------------------------------------------------------------------------

def _cell(s: dict, scale: float = 1.0, digits: int = 1, unit: str = "") -> str:
    if s["n"] == 0:
        return "n/a"
    return (f"{scale * s['mean']:.{digits}f}{unit} ± {scale * s['std']:.{digits}f} "
            f"({scale * s['min']:.{digits}f}-{scale * s['max']:.{digits}f})")


def markdown_table(summary: dict, keys: list[str]) -> str:
    lines = ["| mode | identity kept (%) | shape IoU (%) | colour diff | follow error (px) | follow gain | warp error "
             "| flicker |", "|---|---|---|---|---|---|---|---|"]
    for key in keys:
        s = summary[key]
        lines.append(f"| {s['label']} | {_cell(s['identity'], 100, 0)} | {_cell(s['shape_iou'], 100, 0)} | "
                     f"{_cell(s['colour_diff'])} | {_cell(s['follow_error_px'])} | "
                     f"{_cell(s['follow_gain'], digits=2)} | {_cell(s['warp_error'])} | "
                     f"{_cell(s['flicker'], digits=2)} |")
    return "\n".join(lines)


def _json_safe(value):
    if isinstance(value, float):
        return None if not math.isfinite(value) else float(f"{value:.6g}")
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return _json_safe(value.item())
    return value


def comfyui_version() -> str:
    try:
        import comfyui_version  # noqa: PLC0415

        return comfyui_version.__version__
    except Exception:  # noqa: BLE001
        return "unknown"


def t2v_ablation(loaded, settings: Settings, seeds: list[int], log) -> tuple[list[SeedRun], dict, list, list]:
    recipes = configs(settings)
    log(f"{settings.family} text-to-video: {len(seeds)} seeds, {len(recipes)} videos each, {settings.frames} frames "
        f"at {settings.size} px, {settings.steps} {settings.sampler} steps, cfg {settings.cfg}")
    runs = [run_seed(loaded, seed, settings, recipes, check=seed < settings.check_seeds, log=log) for seed in seeds]
    summary = summarise(runs, recipes)
    main_keys = ["independent", "cross_frame"] + [f"{mode}@{a}/{b}" for a, b in (PAPER_T0T1, FOLLOW_T0T1)
                                                  for mode in ("motion", "t2vz")]
    sweep_keys = [f"t2vz@{a}/{b}" for a, b in settings.sweep]
    return runs, summary, main_keys, sweep_keys


def t2v_result(settings: Settings, runs: list[SeedRun], summary: dict, main_keys, sweep_keys) -> dict:
    return {"settings": {**asdict(settings), "pan_px_per_frame": settings.pan_px},
            "prompts": {r.seed: r.prompt for r in runs}, "pans": {r.seed: list(r.pan) for r in runs},
            "main": main_keys, "sweep": sweep_keys, "summary": summary,
            "per_seed": {r.seed: r.records for r in runs},
            "chunks_and_parts_equal": {r.seed: r.equal for r in runs if r.equal}}


def edit_strip(path: Path, shown: dict, summary: dict, label_width: int = 250) -> None:
    rows = []
    for key in ["source", *EDIT_MODES]:
        tiles = [np.pad(_to_u8(f), ((2, 2), (2, 2), (0, 0)), constant_values=255) for f in shown[key]]
        if key == "source":
            lines = ["source clip (a pan,", f"{EDIT_PAN_PX:.0f} px/frame)"]
        else:
            s = summary[key]
            lines = [EDIT_MODES[key][2][:34], EDIT_MODES[key][2][34:],
                     f"snowy {100 * s['snowy']['mean']:.0f}%, flicker {_num(s['flicker']['mean'])}",
                     f"motion alignment {_num(s['motion_alignment']['mean'], 2)}"]
        rows.append(np.concatenate([_label_panel([x for x in lines if x], tiles[0].shape[0], label_width)] + tiles,
                                   axis=1))
    save_png(path, np.concatenate(rows))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 seeds, 6 steps, t0/t1 44/47 and 30/35 only")
    ap.add_argument("--seeds", type=int, help="seeds 0..N-1 (default 5; --quick 2)")
    ap.add_argument("--steps", type=int, help="UNet sampler steps (default 10; --quick 6)")
    ap.add_argument("--out", type=Path, help="folder for the JSON and the figures (default: bench/world_ablation.json "
                                             "and docs/consistency-*.png; --quick: output/world-ablation-quick)")
    ap.add_argument("--weights", type=Path, help="the world's narrow weights (default: the committed ones)")
    ap.add_argument("--editor-weights", type=Path, help="the editor's weights (default: the committed ones)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--no-figures", action="store_true")
    args = ap.parse_args(argv)

    import torch  # noqa: PLC0415

    torch.set_num_threads(args.threads)
    bootstrap()
    import world_model  # noqa: PLC0415

    def log(message: str) -> None:
        print(message, flush=True)

    settings = Settings(steps=args.steps or (6 if args.quick else 10), sweep=QUICK_SWEEP if args.quick else SWEEP)
    seeds = list(range(args.seeds or (2 if args.quick else 5)))
    if args.out:
        json_path, figures = args.out / "world_ablation.json", args.out
    elif args.quick:
        json_path, figures = QUICK_OUT / "world_ablation.json", QUICK_OUT
    else:
        json_path, figures = JSON_PATH, DOCS
    prefix = "consistency-"
    figures.mkdir(parents=True, exist_ok=True)
    started = time.time()
    weights = args.weights or world_model.WEIGHTS
    loaded = world_model.load_world(world_model.world_checkpoint(weights))
    runs, summary, main_keys, sweep_keys = t2v_ablation(loaded, settings, seeds, log)
    rest = [k for k in sweep_keys if k not in main_keys]
    command = ("make ablation" if argv is None and len(sys.argv) == 1 else
               "python bench/world_ablation.py " + " ".join(argv if argv is not None else sys.argv[1:]))

    def shown_path(path) -> str:
        path = Path(path).resolve()
        return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)

    result = {
        "command": command,
        "host": {"comfyui": comfyui_version(), "torch": torch.__version__, "python": platform.python_version(),
                 "machine": platform.machine(), "threads": args.threads},
        "weights": {"world": shown_path(weights), "world_sha256": world_model.file_digest(Path(weights))},
        "metrics": "identity / follow / drawn: the world's judge (bench/world/world.py); warp error and flicker: "
                   "motion/consistency.py with OpenCV DIS flow, 8-bit levels",
        "seeds": seeds,
        "unet": t2v_result(settings, runs, summary, main_keys, sweep_keys),
    }
    editor_weights = editor_weights_path(args.editor_weights)
    shown_edit, dit_summary = None, None
    if editor_weights is None:
        result["dit"] = result["editing"] = pending_editor(args.editor_weights)
    else:
        result["weights"]["editor"] = shown_path(editor_weights)
        result["weights"]["editor_sha256"] = world_model.file_digest(Path(editor_weights))
        editor = load_editor(editor_weights)
        dit_settings = Settings(steps=16 if not args.quick else 10, cfg=2.0, scheduler="simple", family="dit",
                                sweep=QUICK_SWEEP, check_seeds=1)
        dit_runs, dit_summary, dit_main, dit_sweep = t2v_ablation(editor, dit_settings, seeds, log)
        result["dit"] = {"status": "measured",
                         **t2v_result(dit_settings, dit_runs, dit_summary, dit_main, dit_sweep)}
        edit_settings = Settings(steps=16 if not args.quick else 10, cfg=2.0, scheduler="simple", family="dit")
        result["editing"], shown_edit = editing_ablation(editor, seeds, edit_settings, log)
    result["seconds"] = round(time.time() - started, 1)
    frames_file = (args.out or QUICK_OUT if (args.out or args.quick) else REPO / "output") / "world_ablation_frames.npz"
    frames_file.parent.mkdir(parents=True, exist_ok=True)  # every video's frames (8-bit), to measure again
    np.savez_compressed(frames_file, **{f"{r.seed}/{k}": (np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8)
                                        for r in runs for k, f in r.frames.items()})
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(_json_safe(result), indent=1) + "\n")
    if not args.no_figures:
        caption = (f"{len(seeds)} seeds, {settings.frames} frames at {settings.size} px, {settings.steps} "
                   f"{settings.sampler} steps, cfg {settings.cfg}, pan {settings.pan_px} px/frame; {command}")
        plot_ablation(figures / f"{prefix}ablation.png", summary, main_keys, caption)
        plot_sweep(figures / f"{prefix}sweep.png", summary, sweep_keys, caption)
        labels = {k: summary[k]["label"] for k in main_keys + sweep_keys}
        shown = next((r for r in runs if r.records["independent"]["frame0_object"]), runs[0])
        frame_strip(figures / f"{prefix}frames.png", shown, main_keys, labels)
        frame_strip(figures / f"{prefix}sweep-frames.png", shown, sweep_keys, labels)
        world_picture(figures / f"{prefix}world.png", loaded, settings)
        if shown_edit is not None:
            edit_strip(figures / f"{prefix}edit-frames.png", shown_edit, result["editing"]["summary"])
    log("UNet text-to-video:\n" + markdown_table(summary, main_keys + rest))
    log("prompt drawn (frame 0): " + ", ".join(f"{k} {_cell(v, 100, 0)}%" for k, v in
                                               summary["prompt_drawn"].items()))
    if dit_summary is not None:
        log("DiT text-to-video:\n" + markdown_table(dit_summary, result["dit"]["main"]))
        log("editing:\n" + edit_table(result["editing"]["summary"]))
    log(f"wrote {json_path} in {time.time() - started:.0f} s")
    print(json.dumps(_json_safe({"unet": summary, "dit": dit_summary,
                                 "editing": result["editing"].get("summary"), "seconds": result["seconds"]})))
    return 0


def edit_table(summary: dict) -> str:
    lines = ["| edit | snowy frames (%) | scene kept (%) | flicker | motion alignment | warp error |",
             "|---|---|---|---|---|---|"]
    for s in summary.values():
        lines.append(f"| {s['label']} | {_cell(s['snowy'], 100, 0)} | {_cell(s['kept'], 100, 0)} | "
                     f"{_cell(s['flicker'], digits=2)} | {_cell(s['motion_alignment'], digits=2)} | "
                     f"{_cell(s['warp_error'])} |")
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
