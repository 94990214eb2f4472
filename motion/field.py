"""Motion field: move frame 0's latent to where each later frame's content should be.

The reference (Text2Video-Zero, diffusers create_motion_field_and_warp_latents) builds, per frame k, a flow of
(motion_x * k, motion_y * k) pixels on a fixed 512x512 canvas, bilinearly shrinks that sampling grid to the latent
size and reads the latent with grid_sample(mode="nearest", padding_mode="reflection"). Worked out in latent pixels
(align_corners=False centres), that grid reads output pixel x from

    x_src = x + (motion * k - 0.5) * latent_size / 512

so motion is a fraction of the frame size (1.5 latent px per unit-12 frame at 64 px, 3 at SDXL's 128 px, and along
each axis by that axis' size for non-square frames), and positive motion reads from larger x: the content drifts
left (motion_x > 0) and up (motion_y > 0). The -0.5 canvas pixel is the reference's half-pixel grid offset; keeping it
makes nearest sampling pick exactly the reference's pixels (without it, x + 1.5k lands on ties for odd k).

Zoom and rotation compose with the translation into one affine map per frame, about the latent's centre; kornia
builds the matrices and maps the pixel grid, and the read is the same nearest/reflection grid_sample.
"""
from __future__ import annotations

from typing import Sequence

import kornia
import torch
import torch.nn.functional as F

from .camera import Camera

REFERENCE_CANVAS = 512.0
"""The reference measures motion in pixels of a 512x512 canvas, whatever the real size."""


def frame_affines(frame_ids: Sequence[int], height: int, width: int, camera: Camera,
                  dtype=torch.float32) -> torch.Tensor:
    """(len(frame_ids), 2, 3) maps from output to source pixel coordinates (latent pixels, pixel centres at
    integers) for each frame: the ``camera``'s (motion/camera.py) pan, zoom and rotation of each frame relative to
    frame 0, about the latent centre. Zoom > 1 moves in (content grows); positive rotation turns the content
    anticlockwise as displayed (y down).
    """
    pan_x, pan_y, scale, angle = camera.relative(frame_ids)
    count = pan_x.shape[0]
    shift_x = (pan_x - 0.5) * (width / REFERENCE_CANVAS)
    shift_y = (pan_y - 0.5) * (height / REFERENCE_CANVAS)
    center = torch.tensor([[(width - 1) / 2.0, (height - 1) / 2.0]], dtype=torch.float64).expand(count, 2)
    # Source = R(angle) * (p - c) / scale + c: reading from a shrunk, turned grid makes content grow and turn the
    # other way. kornia's get_rotation_matrix2d(center, angle, scale) is exactly scale * R(angle) about center.
    shrink = torch.reciprocal(scale).unsqueeze(1).expand(count, 2).contiguous()
    mats = kornia.geometry.transform.get_rotation_matrix2d(center, -angle, shrink)  # (N, 2, 3)
    mats = mats.clone()
    mats[:, 0, 2] += shift_x
    mats[:, 1, 2] += shift_y
    return mats.to(dtype)


def sampling_grid(affines: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """grid_sample grid (N, H, W, 2), align_corners=False, for output->source pixel maps ``affines``."""
    pixels = kornia.utils.create_meshgrid(height, width, normalized_coordinates=False,
                                          device=affines.device, dtype=torch.float64)  # (1, H, W, 2) as (x, y)
    points = torch.cat([pixels, torch.ones_like(pixels[..., :1])], dim=-1).reshape(1, -1, 3)  # homogeneous
    # what kornia's transform_points computes (the same batched matrix product, bit for bit) without its per-frame
    # copies of the pixel grid: half the time, which the motion preview feels at full resolution
    source = torch.matmul(points, _to_3x3(affines.to(torch.float64)).transpose(1, 2))[..., :2]
    norm = torch.tensor([width, height], dtype=torch.float64, device=affines.device)
    grid = (2.0 * source + 1.0) / norm - 1.0
    return grid.reshape(affines.shape[0], height, width, 2)


def _to_3x3(affines: torch.Tensor) -> torch.Tensor:
    bottom = torch.tensor([0.0, 0.0, 1.0], dtype=affines.dtype, device=affines.device)
    return torch.cat([affines, bottom.expand(affines.shape[0], 1, 3)], dim=1)


def warp_frames(latents: torch.Tensor, affines: torch.Tensor) -> torch.Tensor:
    """Read each latent (N, C, H, W) through its frame's affine map: nearest, reflection padding (the reference's)."""
    height, width = latents.shape[-2:]
    grid = sampling_grid(affines.to(latents.device), height, width).to(latents.dtype)
    return F.grid_sample(latents, grid, mode="nearest", padding_mode="reflection", align_corners=False)


def warp_anchor(anchor: torch.Tensor, frame_ids: Sequence[int], camera: Camera) -> torch.Tensor:
    """Frame 0 (1, C, H, W) moved for every frame in ``frame_ids`` -> (len(frame_ids), C, H, W): a latent, or an
    image in channels-first layout (the motion preview)."""
    if anchor.ndim != 4 or anchor.shape[0] != 1:
        raise ValueError(f"anchor must be one latent of shape (1, C, H, W), got {tuple(anchor.shape)}")
    height, width = anchor.shape[-2:]
    affines = frame_affines(frame_ids, height, width, camera)
    return warp_frames(anchor.expand(len(frame_ids), -1, -1, -1), affines)

