"""The motion preview: what the camera does to frame 0, by the sampler's own warp (motion/field.py), on a picture or a
test pattern. Milliseconds, no model: a user sees the move before spending minutes on the video."""
from __future__ import annotations

import torch

from .camera import Camera
from .field import warp_anchor

PREVIEW_SIDE = 256
"""Longest side of the animation shown on the node (the frames output keeps the video's size): encoding it stays a
fraction of a second."""


def grid_pattern(height: int, width: int) -> torch.Tensor:
    """(1, H, W, 3) IMAGE: a colour ramp (red grows to the right, green downwards), a white grid of eighths, a red
    cross at the centre and a yellow square in the top-left corner, so pan, zoom and rotation read at a glance."""
    ys = torch.linspace(0.0, 1.0, height).reshape(-1, 1).expand(height, width)
    xs = torch.linspace(0.0, 1.0, width).reshape(1, -1).expand(height, width)
    image = torch.stack([0.15 + 0.6 * xs, 0.15 + 0.6 * ys, torch.full_like(xs, 0.35)], dim=-1)
    line = max(1, min(height, width) // 128)
    for k in range(9):
        image[min(height - line, k * height // 8):min(height - line, k * height // 8) + line] = 1.0
        image[:, min(width - line, k * width // 8):min(width - line, k * width // 8) + line] = 1.0
    cy, cx, arm = height // 2, width // 2, max(2, min(height, width) // 10)
    image[cy - line:cy + line + 1, cx - arm:cx + arm + 1] = torch.tensor([1.0, 0.1, 0.1])
    image[cy - arm:cy + arm + 1, cx - line:cx + line + 1] = torch.tensor([1.0, 0.1, 0.1])
    side = max(2, min(height, width) // 8)
    image[line * 2:line * 2 + side, line * 2:line * 2 + side] = torch.tensor([1.0, 0.9, 0.1])
    return image.unsqueeze(0)


def preview_frames(first: torch.Tensor, frames: int, camera: Camera) -> torch.Tensor:
    """(frames, H, W, 3) IMAGE: frame 0 (``first``, (1, H, W, 3)) moved for every frame by the sampler's warp (the
    same affine maps, nearest sampling and edge reflection, at the picture's resolution)."""
    anchor = first[..., :3].movedim(-1, 1).float()
    moved = warp_anchor(anchor, list(range(1, frames)), camera) if frames > 1 else anchor[:0]
    return torch.cat([anchor, moved]).movedim(1, -1)


def preview_size(height: int, width: int) -> tuple[int, int]:
    """(height, width) of the animation shown on the node: the longer side PREVIEW_SIDE, the aspect kept."""
    scale = PREVIEW_SIDE / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def fit_image(image: torch.Tensor, height: int, width: int, first_only: bool = True) -> torch.Tensor:
    """Images (the first only, or all) scaled and centre-cropped to (height, width), as core's Upscale Image with
    crop."""
    import comfy.utils  # noqa: PLC0415

    picture = image[:1 if first_only else None, ..., :3].movedim(-1, 1)
    if tuple(picture.shape[-2:]) != (height, width):
        picture = comfy.utils.common_upscale(picture, width, height, "bilinear", "center")
    return picture.movedim(1, -1).clamp(0.0, 1.0)
