"""A small synthetic world whose pictures can be judged exactly: one coloured shape on a textured background.

Scenes live in world coordinates (pixels); a camera offset picks the 128x128 window that is rendered, so a camera
pan over a still scene is a moving clip whose true motion is known. Everything is drawn from signed distances with
a one-pixel soft edge (no aliasing for the VAE to learn), deterministically from the scene's fields.

- objects: SHAPES x COLOURS, all shapes with the same area (so area says nothing about shape), saturated colours;
- backgrounds: BACKGROUNDS, each a two-tone texture of low saturation that moves with the camera;
- prompts: prompt(scene), e.g. "a red circle on a striped background";
- an edit whose detail comes from noise: "add snow" scatters white flakes whose places come from a seed
  (in world coordinates, so snow that is part of the scene moves with it).

The judge (judge(frame)) reads a frame (H, W, 3 floats in [0, 1]) back: the object is the saturated pixels (the
backgrounds are all below JUDGE_SATURATION), its colour the nearest palette colour, its shape the best overlap with
the three shapes of the same area at its centroid, the background the palette most background pixels are nearest to.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

SIZE = 128
"""Frame side in pixels: 16x16 latents for an SD1.5-layout VAE (64 px lost the shapes in the VAE)."""

COLOURS = {
    "red": (0.86, 0.16, 0.14),
    "green": (0.16, 0.68, 0.24),
    "blue": (0.16, 0.30, 0.90),
    "yellow": (0.92, 0.80, 0.12),
}
SHAPES = ("circle", "square", "triangle")
BACKGROUNDS = {  # name: (tone a, tone b); all tones of saturation < 0.25, so the object alone is saturated
    "striped": ((0.68, 0.62, 0.53), (0.40, 0.36, 0.31)),
    "checkered": ((0.72, 0.74, 0.79), (0.44, 0.47, 0.53)),
    "dotted": ((0.50, 0.57, 0.50), (0.84, 0.87, 0.80)),
}
SNOW_COLOUR = (0.97, 0.97, 0.97)
PERIOD = 16.0
"""Texture period in pixels: two latent cells per period, so the VAE can draw it and a pan shows it move."""

RADIUS_RANGE = (17.0, 23.0)
"""Object size: the radius of the circle of equal area (objects are about 34-46 px across)."""

EDITS = ("add snow",)


@dataclass(frozen=True)
class Scene:
    shape: str
    colour: str
    background: str
    x: float  # object centroid, world pixels
    y: float
    radius: float = 20.0
    snow: int | None = None  # seed of the flakes, None: no snow


def prompt(scene: Scene) -> str:
    return f"a {scene.colour} {scene.shape} on a {scene.background} background"


def all_prompts() -> list[str]:
    return [prompt(Scene(s, c, b, 0.0, 0.0)) for c in COLOURS for s in SHAPES for b in BACKGROUNDS]


def parse_prompt(text: str) -> dict:
    """The colour, shape and background words a prompt names (None where it names none)."""
    words = text.lower().replace(",", " ").split()
    pick = lambda names: next((w for w in words if w in names), None)  # noqa: E731
    return {"colour": pick(COLOURS), "shape": pick(SHAPES), "background": pick(BACKGROUNDS)}


def shape_extent(shape: str, radius: float) -> tuple[float, float, float, float]:
    """How far a shape reaches from its centroid: (left, top, right, bottom) in pixels."""
    if shape == "circle":
        return (radius,) * 4
    if shape == "square":
        return (radius * np.sqrt(np.pi) / 2,) * 4
    side = radius * np.sqrt(4 * np.pi / np.sqrt(3))
    return side / 2, side / np.sqrt(3), side / 2, side / (2 * np.sqrt(3))


def random_scene(rng: np.random.Generator, border: float = 3.0, snow_rate: float = 0.0) -> Scene:
    """A scene whose object lies wholly inside the frame at camera (0, 0), `border` pixels from its edges."""
    shape = SHAPES[rng.integers(len(SHAPES))]
    colour = list(COLOURS)[rng.integers(len(COLOURS))]
    background = list(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))]
    radius = rng.uniform(*RADIUS_RANGE)
    left, top, right, bottom = shape_extent(shape, radius)
    x = rng.uniform(left + border, SIZE - right - border)
    y = rng.uniform(top + border, SIZE - bottom - border)
    snow = int(rng.integers(2**31)) if rng.random() < snow_rate else None
    return Scene(shape, colour, background, float(x), float(y), float(radius), snow)


def apply_edit(scene: Scene, instruction: str, seed: int) -> Scene:
    """The scene after an edit; the seed decides what the instruction leaves open (where the flakes fall)."""
    if instruction == "add snow":
        return replace(scene, snow=int(seed))
    raise ValueError(f"unknown edit {instruction!r}: the world knows {EDITS}")


# --- drawing ---------------------------------------------------------------------------------------------------

def _coverage(sdf: np.ndarray) -> np.ndarray:
    """Signed distance (negative inside) -> coverage with a one-pixel soft edge."""
    return np.clip(0.5 - sdf, 0.0, 1.0)


def shape_sdf(shape: str, u: np.ndarray, v: np.ndarray, radius: float) -> np.ndarray:
    """Signed distance to a shape of the area of a circle of `radius`, centroid at (0, 0); v points down."""
    if shape == "circle":
        return np.hypot(u, v) - radius
    if shape == "square":
        half = radius * np.sqrt(np.pi) / 2  # side^2 = pi r^2
        return np.maximum(np.abs(u), np.abs(v)) - half
    if shape == "triangle":  # equilateral, apex up; distance to the farthest edge line (exact inside)
        side = radius * np.sqrt(4 * np.pi / np.sqrt(3))
        inradius = side / (2 * np.sqrt(3))
        s, c = np.sin(np.pi / 6), np.cos(np.pi / 6)
        return np.maximum.reduce([v, c * u - s * v, -c * u - s * v]) - inradius
    raise ValueError(f"unknown shape {shape!r}: the world knows {SHAPES}")


def texture(background: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Mix (0: tone a, 1: tone b) of a background at world coordinates, soft-edged."""
    if background == "striped":  # diagonal, so a pan in any direction moves it
        d = (u + v) / np.sqrt(2)
        return np.clip(0.5 + 3.0 * np.cos(2 * np.pi * d / PERIOD), 0.0, 1.0)
    if background == "checkered":
        w = np.sin(np.pi * u / PERIOD) * np.sin(np.pi * v / PERIOD)
        return np.clip(0.5 + 4.0 * w, 0.0, 1.0)
    if background == "dotted":  # dots of radius 3.5 on a lattice with every other row shifted
        row = np.floor(v / PERIOD)
        shift = (row % 2) * PERIOD / 2
        du = np.mod(u - shift, PERIOD) - PERIOD / 2
        dv = np.mod(v, PERIOD) - PERIOD / 2
        return _coverage(np.hypot(du, dv) - 3.5)
    raise ValueError(f"unknown background {background!r}: the world knows {tuple(BACKGROUNDS)}")


def snow_flakes(seed: int, region: tuple[float, float, float, float] = (-256.0, -256.0, 384.0, 384.0),
                density: float = 1 / 380) -> np.ndarray:
    """Flakes (x, y, radius) in world coordinates over a region, about 43 per frame; their places are the seed's."""
    x0, y0, x1, y1 = region
    rng = np.random.default_rng(seed)
    count = rng.poisson(density * (x1 - x0) * (y1 - y0))
    return np.stack([rng.uniform(x0, x1, count), rng.uniform(y0, y1, count), rng.uniform(1.4, 2.4, count)], axis=1)


def render(scene: Scene, camera: tuple[float, float] = (0.0, 0.0), size: int = SIZE) -> np.ndarray:
    """The frame (size, size, 3) float32 in [0, 1] seen by a camera whose top-left corner is at `camera`."""
    cx, cy = camera
    v, u = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    u, v = u + cx, v + cy  # world coordinates of the pixel centres
    tone_a, tone_b = (np.array(t) for t in BACKGROUNDS[scene.background])
    mix = texture(scene.background, u, v)[..., None]
    frame = tone_a * (1 - mix) + tone_b * mix
    cover = _coverage(shape_sdf(scene.shape, u - scene.x, v - scene.y, scene.radius))[..., None]
    frame = frame * (1 - cover) + np.array(COLOURS[scene.colour]) * cover
    if scene.snow is not None:
        flakes = snow_flakes(scene.snow)
        seen = ((flakes[:, 0] > cx - 4) & (flakes[:, 0] < cx + size + 4)
                & (flakes[:, 1] > cy - 4) & (flakes[:, 1] < cy + size + 4))
        flake_cover = np.zeros((size, size))
        for fx, fy, fr in flakes[seen]:
            flake_cover = np.maximum(flake_cover, _coverage(np.hypot(u - fx, v - fy) - fr))
        flake_cover = flake_cover[..., None]
        frame = frame * (1 - flake_cover) + np.array(SNOW_COLOUR) * flake_cover
    return frame.astype(np.float32)


def pan_clip(scene: Scene, frames: int, step: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """A camera pan over a still scene: frames (F, H, W, 3) and each frame's camera offset (F, 2).

    The camera moves by `step` pixels per frame, so the object moves by -step on screen."""
    cameras = np.array([(k * step[0], k * step[1]) for k in range(frames)], dtype=np.float64)
    return np.stack([render(scene, tuple(c)) for c in cameras]), cameras


# --- the judge -------------------------------------------------------------------------------------------------

JUDGE_SATURATION = 0.45
"""Object pixels are more saturated than this; every background tone and snow are below 0.25."""

MIN_OBJECT_AREA = 80
"""Pixels: a smaller saturated blob is no object (objects have 900-1700)."""


def _saturation(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    top, bottom = frame.max(axis=2), frame.min(axis=2)
    return (top - bottom) / np.maximum(top, 1e-6), top


def object_mask(frame: np.ndarray) -> np.ndarray:
    """The largest saturated blob (bool H x W), or an all-false mask when there is none big enough."""
    frame = np.asarray(frame, dtype=np.float32)
    saturation, value = _saturation(frame)
    mask = ((saturation > JUDGE_SATURATION) & (value > 0.3)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return np.zeros(mask.shape, bool)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[biggest, cv2.CC_STAT_AREA] < MIN_OBJECT_AREA:
        return np.zeros(mask.shape, bool)
    return labels == biggest


def object_colour(frame: np.ndarray, mask: np.ndarray | None = None) -> str | None:
    mask = object_mask(frame) if mask is None else mask
    if not mask.any():
        return None
    mean = np.asarray(frame, dtype=np.float32)[mask].mean(axis=0)
    names = list(COLOURS)
    return names[int(np.argmin([np.sum((mean - np.array(COLOURS[n])) ** 2) for n in names]))]


def object_centre(frame: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, float] | None:
    """The object's centroid (x, y) in pixels (pixel centres at +0.5), None without an object."""
    mask = object_mask(frame) if mask is None else mask
    if not mask.any():
        return None
    ys, xs = np.nonzero(mask)
    return float(xs.mean() + 0.5), float(ys.mean() + 0.5)


def shape_scores(frame: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """Overlap (IoU) of the object with each shape of the same area at its centroid; empty without an object."""
    mask = object_mask(frame) if mask is None else mask
    if not mask.any():
        return {}
    x, y = object_centre(frame, mask)
    radius = np.sqrt(mask.sum() / np.pi)
    v, u = np.mgrid[0:mask.shape[0], 0:mask.shape[1]].astype(np.float64) + 0.5
    scores = {}
    for shape in SHAPES:
        template = shape_sdf(shape, u - x, v - y, radius) < 0
        scores[shape] = float((template & mask).sum() / max((template | mask).sum(), 1))
    return scores


def object_shape(frame: np.ndarray, mask: np.ndarray | None = None) -> str | None:
    scores = shape_scores(frame, mask)
    return max(scores, key=scores.get) if scores else None


def background_kind(frame: np.ndarray, mask: np.ndarray | None = None) -> str | None:
    """The background whose two tones most background pixels are nearest to (the object, its rim and white snow
    left out)."""
    frame = np.asarray(frame, dtype=np.float32)
    mask = object_mask(frame) if mask is None else mask
    keep = ~cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    saturation, value = _saturation(frame)
    keep &= (saturation < JUDGE_SATURATION) & ~((value > 0.93) & (saturation < 0.06))
    if keep.sum() < 64:
        return None
    pixels = frame[keep]
    names = list(BACKGROUNDS)
    tones = np.array([t for n in names for t in BACKGROUNDS[n]])  # (2 * kinds, 3)
    nearest = np.argmin(((pixels[:, None, :] - tones[None]) ** 2).sum(axis=2), axis=1) // 2
    return names[int(np.argmax(np.bincount(nearest, minlength=len(names))))]


def snow_flake_count(frame: np.ndarray) -> int:
    """White specks (bright, unsaturated blobs of 3-40 px): the flakes of "add snow"."""
    saturation, value = _saturation(np.asarray(frame, dtype=np.float32))
    white = ((value > 0.92) & (saturation < 0.08)).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(white, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    return int(((areas >= 3) & (areas <= 40)).sum())


def judge(frame: np.ndarray) -> dict:
    """What a frame shows: colour, shape, background (names, or None), centre (x, y) or None, object area (px),
    whether the object touches the frame's border (its shape is then unreliable), snow flakes counted."""
    frame = np.asarray(frame, dtype=np.float32)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"judge takes one frame (H, W, 3), got shape {frame.shape}")
    mask = object_mask(frame)
    touches = bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
    return {"colour": object_colour(frame, mask), "shape": object_shape(frame, mask),
            "background": background_kind(frame, mask), "centre": object_centre(frame, mask),
            "area": int(mask.sum()), "clipped": touches, "snow_flakes": snow_flake_count(frame)}


def matches(result: dict, text: str) -> dict[str, bool]:
    """Per named attribute of a prompt: does the judged frame show it."""
    named = parse_prompt(text)
    return {k: result.get(k) == v for k, v in named.items() if v is not None}
