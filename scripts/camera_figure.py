"""Draws docs/camera-motion.png: the camera moves of MotionLatentSampler applied to a synthetic test pattern by the
very warp code the sampler uses (motion/field.py), frame by frame. The tiny test models only make noise, so the
figure shows the motion field itself, which is what the motion inputs control.

Run from the repo root with the host installed: .host/venv/bin/python scripts/camera_figure.py [--out FILE]
"""
from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path

import numpy
import torch
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
if "t2vz" not in sys.modules:  # the pack as a package, without its ComfyUI entry point
    package = types.ModuleType("t2vz")
    package.__path__ = [str(REPO)]
    sys.modules["t2vz"] = package

from t2vz.motion.field import warp_anchor  # noqa: E402

SIZE = 96  # pattern pixels (the warp works on any (C, H, W) tensor; motion is relative to the size)
SCALE = 2  # nearest upscale for display
FRAMES = [0, 2, 4, 6]
MOVES = [  # label, motion_x, motion_y, zoom, rotation
    ("motion_x 24: content moves left", 24.0, 0.0, 1.0, 0.0),
    ("motion_x/y 12/12 (the paper's default)", 12.0, 12.0, 1.0, 0.0),
    ("motion_y -24: content moves down", 0.0, -24.0, 1.0, 0.0),
    ("zoom 1.08: moves in", 0.0, 0.0, 1.08, 0.0),
    ("zoom 0.93: moves out", 0.0, 0.0, 0.93, 0.0),
    ("rotation 6: turns anticlockwise", 0.0, 0.0, 1.0, 6.0),
    ("zoom 1.05 + rotation -4 + motion_x 12", 12.0, 0.0, 1.05, -4.0),
]


def test_pattern(size: int = SIZE) -> torch.Tensor:
    """(1, 3, size, size) in 0..1: a grid, an asymmetric "F" and a red dot near the top left, so every move shows."""
    image = Image.new("RGB", (size, size), (235, 235, 225))
    draw = ImageDraw.Draw(image)
    for p in range(0, size, size // 8):
        draw.line([(p, 0), (p, size)], fill=(170, 190, 210))
        draw.line([(0, p), (size, p)], fill=(170, 190, 210))
    u = size // 16
    draw.rectangle([6 * u, 4 * u, 7 * u, 12 * u], fill=(30, 60, 160))  # the F's stem
    draw.rectangle([6 * u, 4 * u, 11 * u, 5 * u], fill=(30, 60, 160))  # top bar
    draw.rectangle([6 * u, 7 * u, 9 * u, 8 * u], fill=(30, 60, 160))  # middle bar
    draw.ellipse([2 * u, 2 * u, 4 * u, 4 * u], fill=(220, 40, 40))
    pixels = torch.from_numpy(numpy.asarray(image, dtype=numpy.float32).copy()) / 255.0
    return pixels.permute(2, 0, 1).unsqueeze(0)


def figure() -> Image.Image:
    pattern = test_pattern()
    cell, label_w, pad, head = SIZE * SCALE, 250, 6, 22
    sheet = Image.new("RGB", (label_w + len(FRAMES) * (cell + pad), head + len(MOVES) * (cell + pad)), "white")
    draw = ImageDraw.Draw(sheet)
    for col, k in enumerate(FRAMES):
        draw.text((label_w + col * (cell + pad) + cell // 2 - 20, 5), f"frame {k}", fill="black")
    for row, (label, mx, my, zoom, rotation) in enumerate(MOVES):
        top = head + row * (cell + pad)
        draw.text((8, top + cell // 2 - 6), label, fill="black")
        frames = warp_anchor(pattern, FRAMES, mx, my, zoom, rotation)
        for col, frame in enumerate(frames):
            pixels = (frame.permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
            tile = Image.fromarray(pixels).resize((cell, cell), Image.NEAREST)
            sheet.paste(tile, (label_w + col * (cell + pad), top))
    return sheet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "camera-motion.png"))
    args = parser.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure().save(out)
    print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
