"""Camera paths: keyframed camera moves for the motion field, in the ``frame:(value)`` schedule syntax of the
FizzNodes / Deforum family.

A path gives, for any frame, the camera's pan x/y (pixels of a 512-pixel frame, the units of motion_x/motion_y:
positive moves the content left/up), zoom (> 1 moves in) and rotation (degrees, positive turns the content
anticlockwise). Keyframes set values at chosen frames; frames in between are interpolated (pan and rotation
linearly in the eased time, zoom geometrically, so a steady push-in has a steady speed), and the path holds its first
value before the first keyframe and its last after the last one. The warp of frame k is its position relative to
frame 0 (frame 0 itself is never moved). The constant motion inputs are the path pan = motion * k, zoom = zoom^k,
rotation = rotation * k, computed by the same code, so a path with those values gives a bit-identical video.

A camera is either of the two (``ConstantMotion``, ``CameraPath``): both answer ``relative(frames)`` and
``last_keyframe``, and one of them travels from the nodes through the sampler to the warp.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

import torch

INTERPOLATIONS = ("linear", "ease_in_out", "ease_in", "ease_out", "hold")
"""How time runs between two keyframes: evenly; slow-fast-slow (a cosine); starting slowly; ending slowly; or not
at all (the value jumps at the next keyframe)."""

SYNTAX = "frame:(value), frame:(value), ...  e.g.  0:(0), 12:(0), 36:(48)"
_KEYFRAME = re.compile(r"\s*([^:,()]*?)\s*:\s*\(\s*([^()]*?)\s*\)\s*(?:,|$)")


def ease(t: torch.Tensor, interpolation: str) -> torch.Tensor:
    """Eased time in [0, 1] for linear time ``t`` in [0, 1]."""
    if interpolation == "linear":
        return t
    if interpolation == "ease_in_out":
        return (1.0 - torch.cos(math.pi * t)) / 2.0
    if interpolation == "ease_in":
        return 1.0 - torch.cos(math.pi * t / 2.0)
    if interpolation == "ease_out":
        return torch.sin(math.pi * t / 2.0)
    if interpolation == "hold":
        return torch.zeros_like(t)
    raise ValueError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}")


@dataclass(frozen=True)
class Schedule:
    """Keyframes (frame, value), frames strictly increasing; ``geometric``: interpolate log(value) (zoom)."""

    keyframes: tuple[tuple[int, float], ...]
    geometric: bool = False

    @property
    def last_frame(self) -> int:
        return self.keyframes[-1][0]

    def at(self, frames: Sequence[int], interpolation: str) -> torch.Tensor:
        """Values (float64) at ``frames``."""
        ids = torch.tensor([float(f) for f in frames], dtype=torch.float64)
        keys = torch.tensor([float(f) for f, _ in self.keyframes], dtype=torch.float64)
        values = torch.tensor([v for _, v in self.keyframes], dtype=torch.float64)
        if self.geometric:
            values = torch.log(values)
        if len(self.keyframes) == 1:
            out = values[0].expand(len(ids)).clone()
        else:
            right = torch.searchsorted(keys, ids, right=True).clamp(1, len(keys) - 1)
            left = right - 1
            span = keys[right] - keys[left]
            t = ((ids - keys[left]) / span).clamp(0.0, 1.0)
            # past the right keyframe (after the last one) the value is the right one, whatever the easing: hold's
            # eased time is 0 everywhere, and ease_in ends an ulp short of 1
            eased = torch.where(t >= 1.0, torch.ones_like(t), ease(t, interpolation))
            out = values[left] + (values[right] - values[left]) * eased
            exact = ids[:, None] == keys[None, :]  # a keyframe's own frame gets its value as given, bit for bit
            hit = exact.any(dim=1)
            out[hit] = values[exact.float().argmax(dim=1)][hit]
        return torch.exp(out) if self.geometric else out


def parse_schedule(text: str, name: str, geometric: bool = False) -> Schedule:
    """A ``frame:(value)`` schedule; ValueError quoting the bad part, with the syntax and an example."""
    source = str(text).strip()
    if not source:
        raise ValueError(f"{name} is empty. Expected {SYNTAX}. Fix: write at least one keyframe, e.g. 0:(0).")
    keyframes, position = [], 0
    while position < len(source):
        match = _KEYFRAME.match(source, position)
        if not match or match.end() == position:
            bad = source[position:position + 40].strip()
            raise ValueError(f"{name}: cannot read {bad!r} (at character {position + 1}). Expected {SYNTAX}. Fix: "
                             f"write each keyframe as frame:(value), separated by commas.")
        frame_text, value_text = match.group(1), match.group(2)
        try:
            frame = int(frame_text)
        except ValueError:
            raise ValueError(f"{name}: {frame_text!r} in {match.group(0).strip()!r} is not a frame number. Expected "
                             f"{SYNTAX}. Fix: use whole frame numbers from 0.") from None
        try:
            value = float(value_text)
        except ValueError:
            raise ValueError(f"{name}: {value_text!r} in {match.group(0).strip()!r} is not a number. Expected "
                             f"{SYNTAX}. Fix: write plain numbers, e.g. 12:(-2.5).") from None
        if frame < 0:
            raise ValueError(f"{name}: frame {frame} in {match.group(0).strip()!r} is negative. Fix: frames count "
                             f"from 0.")
        if not math.isfinite(value):
            raise ValueError(f"{name}: {value_text!r} at frame {frame} is not a finite number. Fix: use a number.")
        keyframes.append((frame, value))
        position = match.end()
    return checked_schedule(keyframes, name, geometric)


def checked_schedule(keyframes: list[tuple[int, float]], name: str, geometric: bool = False) -> Schedule:
    frames = [f for f, _ in keyframes]
    for a, b in zip(frames, frames[1:]):
        if b == a:
            raise ValueError(f"{name}: frame {a} has two keyframes. Fix: keep one value per frame.")
        if b < a:
            raise ValueError(f"{name}: frame {b} comes after frame {a}. Fix: list keyframes in increasing frame "
                             f"order, e.g. {SYNTAX.split('e.g.')[1].strip()}.")
    if geometric:
        bad = [(f, v) for f, v in keyframes if v <= 0]
        if bad:
            raise ValueError(f"{name}: zoom {bad[0][1]} at frame {bad[0][0]} must be above 0 (1 = no zoom, 2 = twice "
                             f"as close, 0.5 = twice as far). Fix: use a positive zoom.")
    return Schedule(tuple((int(f), float(v)) for f, v in keyframes), geometric)


def values_schedule(values: Sequence[float], name: str, geometric: bool = False) -> Schedule:
    """A schedule with one keyframe per frame, from a list of floats (a FLOATS input: value k is frame k's)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError(f"{name} is an empty list. Fix: give one value per frame (value k for frame k).")
    bad = [k for k, v in enumerate(values) if not math.isfinite(v)]
    if bad:
        raise ValueError(f"{name}: value {bad[0]} is not a finite number. Fix: give numbers.")
    return checked_schedule(list(enumerate(values)), name, geometric)


@dataclass(frozen=True)
class CameraPath:
    """pan_x, pan_y (pixels of a 512 frame), zoom (factor), rotation (degrees): the camera at every frame."""

    pan_x: Schedule
    pan_y: Schedule
    zoom: Schedule
    rotation: Schedule
    interpolation: str = "linear"

    @property
    def last_keyframe(self) -> int:
        return max(s.last_frame for s in (self.pan_x, self.pan_y, self.zoom, self.rotation))

    def relative(self, frames: Sequence[int]) -> tuple[torch.Tensor, ...]:
        """(pan_x, pan_y, zoom, rotation) of ``frames`` relative to frame 0 (float64), what the warp applies."""
        ids = [0, *frames]
        px, py, z, r = (s.at(ids, self.interpolation) for s in (self.pan_x, self.pan_y, self.zoom, self.rotation))
        return px[1:] - px[0], py[1:] - py[0], z[1:] / z[0], r[1:] - r[0]


@dataclass(frozen=True)
class ConstantMotion:
    """The constant motion inputs as a path: frame k at k times the motion (zoom to the k-th power). motion_x/motion_y
    in the reference's units (pixels of a 512 canvas; positive drifts the content left/up); zoom per frame (> 1 moves
    in); rotation in degrees per frame (positive: anticlockwise). The defaults are the reference's (and the nodes')."""

    motion_x: float = 12.0
    motion_y: float = 12.0
    zoom: float = 1.0
    rotation: float = 0.0

    def __post_init__(self):
        # ComfyUI's min/max check lets NaN through (every comparison with NaN is false)
        for name in ("motion_x", "motion_y", "zoom", "rotation"):
            value = getattr(self, name)
            if not math.isfinite(float(value)):
                raise ValueError(f"{name} is {value}, not a number. Fix: enter a number in {name} (default "
                                 f"{getattr(ConstantMotion, name)}).")
        if self.zoom <= 0:
            raise ValueError(f"zoom is {self.zoom}; it must be above 0 (1 = no zoom, above 1 moves in). Fix: set "
                             f"zoom to a positive number.")

    @property
    def last_keyframe(self) -> int:
        return 0

    def relative(self, frames: Sequence[int]) -> tuple[torch.Tensor, ...]:
        ids = torch.tensor([float(f) for f in frames], dtype=torch.float64)
        return (self.motion_x * ids, self.motion_y * ids, torch.pow(torch.tensor(self.zoom, dtype=torch.float64), ids),
                self.rotation * ids)


Camera = ConstantMotion | CameraPath
"""What moves frame 0 for the later frames: the constant motion inputs or a keyframed path."""


def camera_path(pan_x: str = "0:(0)", pan_y: str = "0:(0)", zoom: str = "0:(1)", rotation: str = "0:(0)",
                interpolation: str = "linear", values: dict | None = None) -> CameraPath:
    """A CameraPath from schedule texts; ``values``: {name: list of per-frame floats} replacing those schedules."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}")
    texts = {"pan_x": pan_x, "pan_y": pan_y, "zoom": zoom, "rotation": rotation}
    schedules = {}
    for name, text in texts.items():
        listed = (values or {}).get(name)
        geometric = name == "zoom"
        schedules[name] = (values_schedule(listed, f"{name} (list)", geometric) if listed is not None
                           else parse_schedule(text, name, geometric))
    return CameraPath(interpolation=interpolation, **schedules)
