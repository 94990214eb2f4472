"""Draws the camera figures (README, docs/camera.md) with the very warp code the sampler uses (motion/field.py,
through the motion preview, motion/preview.py), on the preview's grid pattern. The tiny test models only make noise, so the figures show
the motion field itself, which is what the motion inputs and camera paths control.

- docs/camera-motion.png: the constant moves (motion_x/y, zoom, rotation), frame by frame;
- docs/camera-path.png: a keyframed camera path (workflows/text-to-video-camera-path.json's: hold, ease into a pan,
  push in) as the Motion Preview node shows it, a strip of its frames;
- docs/icon.png: the pack's icon in the Comfy Registry (pyproject's Icon, at most 800x400 px): four frames of that
  path, 2x2, in 400x400 px.

Run from the repo root with the host installed: .host/venv/bin/python scripts/camera_figure.py [--out FOLDER]
"""
from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path

import torch
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
if "t2vz" not in sys.modules:  # the pack as a package, without its ComfyUI entry point
    package = types.ModuleType("t2vz")
    package.__path__ = [str(REPO)]
    sys.modules["t2vz"] = package

from t2vz.motion.camera import ConstantMotion, camera_path  # noqa: E402
from t2vz.motion.preview import grid_pattern, preview_frames  # noqa: E402

SIZE = 96  # pattern pixels (the warp works on any size; motion is relative to it)
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
# workflows/text-to-video-camera-path.json's path over its 32 frames: hold to 8, pan to 20, push in to 31
PATH = {"pan_x": "0:(0), 8:(0), 20:(120)", "pan_y": "0:(0)", "zoom": "0:(1), 20:(1), 31:(1.4)", "rotation": "0:(0)",
        "interpolation": "ease_in_out"}
PATH_FRAMES = [0, 4, 8, 12, 16, 20, 24, 28, 31]


def tile(frame: torch.Tensor, cell: int) -> Image.Image:
    pixels = (frame.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return Image.fromarray(pixels).resize((cell, cell), Image.NEAREST)


def motion_figure() -> Image.Image:
    pattern = grid_pattern(SIZE, SIZE)
    cell, label_w, pad, head = SIZE * SCALE, 250, 6, 22
    sheet = Image.new("RGB", (label_w + len(FRAMES) * (cell + pad), head + len(MOVES) * (cell + pad)), "white")
    draw = ImageDraw.Draw(sheet)
    for col, k in enumerate(FRAMES):
        draw.text((label_w + col * (cell + pad) + cell // 2 - 20, 5), f"frame {k}", fill="black")
    for row, (label, mx, my, zoom, rotation) in enumerate(MOVES):
        top = head + row * (cell + pad)
        draw.text((8, top + cell // 2 - 6), label, fill="black")
        frames = preview_frames(pattern, max(FRAMES) + 1, ConstantMotion(mx, my, zoom, rotation))
        for col, k in enumerate(FRAMES):
            sheet.paste(tile(frames[k], cell), (label_w + col * (cell + pad), top))
    return sheet


def path_frames(count: int) -> torch.Tensor:
    """The first ``count`` frames of PATH's camera on the grid pattern."""
    return preview_frames(grid_pattern(SIZE, SIZE), count, camera_path(**PATH))


def path_figure() -> Image.Image:
    frames = path_frames(PATH_FRAMES[-1] + 1)
    cell, pad, head = SIZE + SIZE // 3, 4, 40
    sheet = Image.new("RGB", (len(PATH_FRAMES) * (cell + pad), head + cell + 4), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((4, 4), f"pan_x {PATH['pan_x']}   zoom {PATH['zoom']}   ({PATH['interpolation']})", fill="black")
    for col, k in enumerate(PATH_FRAMES):
        draw.text((col * (cell + pad) + cell // 2 - 20, 22), f"frame {k}", fill="black")
        sheet.paste(tile(frames[k], cell), (col * (cell + pad), head))
    return sheet


ICON_FRAMES = [0, 14, 20, 31]  # the path's hold, pan, and push in
ICON_SIZE = 400


def icon_figure() -> Image.Image:
    frames = path_frames(ICON_FRAMES[-1] + 1)
    pad = 8
    cell = (ICON_SIZE - 3 * pad) // 2
    sheet = Image.new("RGB", (ICON_SIZE, ICON_SIZE), "white")
    for index, k in enumerate(ICON_FRAMES):
        row, col = divmod(index, 2)
        sheet.paste(tile(frames[k], cell), (pad + col * (cell + pad), pad + row * (cell + pad)))
    return sheet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "docs"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, figure in (("camera-motion.png", motion_figure), ("camera-path.png", path_figure),
                         ("icon.png", icon_figure)):
        figure().save(out / name)
        print("wrote", out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
