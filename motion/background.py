"""Background smoothing (the paper's optional step; its official code cannot run it: issue #68, no detector shipped).

Given the foreground of frame 0 (or of every frame), the background of each frame at T is pulled towards frame 0's
background moved by the same motion field, so static scenery stays put:

    M_BG = (1 - M_FG) * (1 - warp(M_FG_0))
    x_k <- (1 - M_BG) x_k + M_BG (a x_k + (1 - a) warp(x_0 * (1 - M_FG_0)))

as the reference's smooth_bg (a = smooth_bg_strength, default 0.4), with masks shrunk to latent size (nearest) and
dilated by a 5x5 kernel.
"""
from __future__ import annotations

import kornia
import torch
import torch.nn.functional as F

from .field import warp_frames

DILATION = 5


def latent_masks(mask: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
    """A foreground MASK (B, H, W) with B == 1 or B == frames, at latent size and dilated -> (B, 1, h, w)."""
    if mask.ndim == 2:
        mask = mask.unsqueeze(0)
    if mask.ndim != 3 or mask.shape[0] not in (1, frames):
        raise ValueError(f"foreground_mask must hold 1 mask (frame 0) or one per frame ({frames}), got shape "
                         f"{tuple(mask.shape)}. Fix: pass frame 0's mask, or a batch of {frames} masks.")
    mask_h, mask_w = mask.shape[-2:]
    if abs(mask_h * width - mask_w * height) > 0.02 * mask_h * width:
        raise ValueError(f"foreground_mask is {mask_w}x{mask_h} but the video is {width * 8}x{height * 8}: their "
                         f"aspect ratios differ. Fix: make the mask from the same frames (or resize/crop it to the "
                         f"video's size).")
    small = F.interpolate(mask.unsqueeze(1).float(), size=(height, width), mode="nearest")
    kernel = torch.ones(DILATION, DILATION, dtype=small.dtype)
    return kornia.morphology.dilation(small, kernel).clamp(0.0, 1.0)


def smooth_background(latents: torch.Tensor, masks: torch.Tensor, affines: torch.Tensor, strength: float) -> torch.Tensor:
    """Blend each frame's background (latents (F, C, h, w), frame 0 first) towards frame 0's moved background.

    masks: (1 or F, 1, h, w) foreground at latent size; affines: the motion field's (F, 2, 3) maps.
    """
    frames = latents.shape[0]
    masks = masks.to(latents)
    mask0 = masks[:1]
    warped_mask0 = warp_frames(mask0.expand(frames, -1, -1, -1), affines)
    # with frame 0's mask alone, each frame's foreground is that mask moved by the field
    fg = warped_mask0 if masks.shape[0] == 1 else masks
    background = (1.0 - fg) * (1.0 - warped_mask0)
    moved_bg0 = warp_frames((latents[:1] * (1.0 - mask0)).expand(frames, -1, -1, -1), affines)
    blended = strength * latents + (1.0 - strength) * moved_bg0
    return (1.0 - background) * latents + background * blended
