"""Trajectories through a video's frames, from its optical flow, and attention along them.

A trajectory is one piece of content followed from frame to frame. Each pixel (or token) of frame k is traced back
along the backward flow k -> k-1 to the point it came from in frame k-1, and so on: it carries an *origin*, a frame
j and a position there, tracked in floats so that motion below a pixel a frame adds up instead of rounding away.
Pixels whose backward flow does not round-trip (``valid`` False: occlusions, content that appears) or lands outside
the frame start a trajectory of their own at frame k. Where several pixels of one frame trace back to the same origin
pixel (content that expands, or motion of half a pixel), the one landing nearest to it keeps the trajectory there and
the others get an id of their own in that frame only (they go on following their origin), so a trajectory crosses
each frame at most once.

Two things are built on it:
- flow-warped noise (motion/flow_noise.py): every trajectory gets one noise value (drawn for the pixel where it
  starts), so frame k's noise is frame 0's carried along the motion, fresh where content appears; each frame's
  pixels hold distinct draws, so each frame's noise is exactly i.i.d. Gaussian.
- trajectory attention (FLATTEN, Cong et al. 2024): after a self-attention, each image token's output attends to the
  outputs of the tokens on its trajectory in the other frames of the call (queries, keys and values are the outputs
  themselves, per head, as FLATTEN's released code does), so patches that show the same content agree.

Torch only: stands with the rest of attention/, knowing nothing of motion/ or nodes/.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

TRAJECTORY_KEY = "t2vz_trajectories"
"""transformer_options key: the Trajectories of the video being sampled (set by with_trajectories)."""


def _pool_flow(backward: torch.Tensor, valid: torch.Tensor, height: int, width: int):
    """The flow and its validity on a coarser ``height`` x ``width`` grid: flow area-averaged and scaled to that
    grid's units (pooling of an odd side pads it, as a UNet's strided convolutions do); a coarse cell is valid when
    most of it is."""
    if tuple(backward.shape[1:3]) == (height, width):
        return backward, valid
    scale_y, scale_x = height / backward.shape[1], width / backward.shape[2]
    flow = F.adaptive_avg_pool2d(backward.permute(0, 3, 1, 2), (height, width))
    flow = torch.stack([flow[:, 0] * scale_x, flow[:, 1] * scale_y], dim=-1)
    kept = F.adaptive_avg_pool2d(valid.float().unsqueeze(1), (height, width))[:, 0] > 0.5
    return flow, kept


def trace(backward: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Trajectory id of every pixel of every frame, (frames, height * width) int64.

    ``backward``: (frames - 1, height, width, 2) flows k -> k-1 in pixels (x, y) of this grid: the content at (x, y)
    of frame k is at (x + fx, y + fy) of frame k-1. ``valid``: (frames - 1, height, width) bool, where that flow can
    be trusted (round trip). An id is ``j * height * width + pixel``: the trajectory starts at that pixel of frame j.
    Frame 0's ids are its pixels; a still video keeps them in every frame.
    """
    frames = backward.shape[0] + 1
    height, width = backward.shape[1:3]
    size = height * width
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64),
                            indexing="ij")
    xs, ys = xs.reshape(-1), ys.reshape(-1)
    pixels = torch.arange(size)
    origin_frame = torch.zeros(size, dtype=torch.long)
    origin_x, origin_y = xs.clone(), ys.clone()
    ids = [pixels.clone()]
    for k in range(1, frames):
        flow = backward[k - 1].reshape(-1, 2).double()
        qx, qy = xs + flow[:, 0], ys + flow[:, 1]
        rx, ry = torch.round(qx), torch.round(qy)
        ok = valid[k - 1].reshape(-1) & (rx >= 0) & (rx < width) & (ry >= 0) & (ry < height)
        there = (ry.clamp(0, height - 1) * width + rx.clamp(0, width - 1)).long()
        # the origin of the pixel it came from, moved by the part of the flow the rounding dropped
        new_x, new_y = origin_x[there] + (qx - rx), origin_y[there] + (qy - ry)
        new_frame = origin_frame[there]
        sx, sy = torch.round(new_x), torch.round(new_y)
        ok &= (sx >= 0) & (sx < width) & (sy >= 0) & (sy < height)
        track = new_frame * size + (sy.clamp(0, height - 1) * width + sx.clamp(0, width - 1)).long()
        # one pixel per trajectory per frame: the one that lands nearest its origin pixel keeps it
        distance = (new_x - sx) ** 2 + (new_y - sy) ** 2
        order = pixels[ok]
        order = order[torch.argsort(distance[order], stable=True)]
        order = order[torch.argsort(track[order], stable=True)]
        first = torch.ones(order.numel(), dtype=torch.bool)
        first[1:] = track[order][1:] != track[order][:-1]
        keep = torch.zeros(size, dtype=torch.bool)
        keep[order[first]] = True
        frame_ids = torch.where(keep, track, k * size + pixels)
        # a pixel that lost its origin pixel to a nearer one still follows the content: only its id is its own here
        # (so motion of half a pixel a frame, which pairs pixels up in every other frame, is not cut there)
        origin_frame = torch.where(ok, new_frame, torch.full_like(new_frame, k))
        origin_x, origin_y = torch.where(ok, new_x, xs), torch.where(ok, new_y, ys)
        ids.append(frame_ids)
    return torch.stack(ids)


def crossings(ids: torch.Tensor) -> torch.Tensor:
    """(frames, tokens, frames) int64: for token p of frame k, the token of frame f on the same trajectory, or -1."""
    frames, size = ids.shape
    table = torch.full((frames, size, frames), -1, dtype=torch.long)
    for f in range(frames):
        where = torch.full((frames * size,), -1, dtype=torch.long)  # trajectory id -> its token in frame f
        where[ids[f]] = torch.arange(size)
        table[:, :, f] = where[ids]
    return table


class Trajectories:
    """A video's trajectories, from its backward flows on one grid (the latent's), for any coarser grid on demand
    (a UNet's levels, a DiT's patches); each grid's are built once and kept.

    ``backward``: (frames - 1, height, width, 2) float, ``valid``: (frames - 1, height, width) bool, as ``trace``
    takes them."""

    def __init__(self, backward: torch.Tensor, valid: torch.Tensor):
        backward = torch.as_tensor(backward, dtype=torch.float32)
        valid = torch.as_tensor(valid, dtype=torch.bool)
        if backward.ndim != 4 or backward.shape[-1] != 2 or tuple(valid.shape) != tuple(backward.shape[:3]):
            raise ValueError(f"trajectories need backward flows (frames - 1, height, width, 2) and their validity "
                             f"(frames - 1, height, width), got {tuple(backward.shape)} and {tuple(valid.shape)}")
        if not torch.isfinite(backward).all():
            raise ValueError("the optical flow holds NaN or infinite values. Fix: check the optical_flow input (or "
                             "leave it unlinked for OpenCV's flow).")
        self.backward, self.valid = backward, valid
        self.frames = backward.shape[0] + 1
        self.height, self.width = backward.shape[1:3]
        self._ids: dict = {}
        self._tables: dict = {}

    def __deepcopy__(self, memo):
        return self  # read-only once built (ModelPatcher.clone deep-copies model_options): clones share it

    def ids(self, height: int | None = None, width: int | None = None) -> torch.Tensor:
        """(frames, height * width) trajectory ids on a grid (default: the flows' own)."""
        key = (height or self.height, width or self.width)
        if key not in self._ids:
            self._ids[key] = trace(*_pool_flow(self.backward, self.valid, *key))
        return self._ids[key]

    def table(self, height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """``crossings`` on a grid, kept on each device asked for: a sampling run reads it every attention call."""
        key = (height, width, str(torch.device(device)))
        if key not in self._tables:
            cpu = (height, width, "cpu")
            if cpu not in self._tables:
                self._tables[cpu] = crossings(self.ids(height, width))
            self._tables[key] = self._tables[cpu].to(device)
        return self._tables[key]

    def grid_of(self, tokens: int, patch: int = 1) -> tuple[int, int] | None:
        """The grid whose cells number ``tokens``: the flows' grid cut into ``patch`` x ``patch`` patches and halved
        0..5 times (a UNet's levels: each halving rounds odd sides up), or None."""
        height, width = math.ceil(self.height / patch), math.ceil(self.width / patch)
        for _ in range(6):
            if height * width == tokens:
                return height, width
            height, width = math.ceil(height / 2), math.ceil(width / 2)
        return None


def table_bytes(frames: int, tokens: int) -> int:
    """Bytes of a ``Trajectories.table`` of ``frames`` frames on a grid of ``tokens``: one int64 per token, frame and
    frame."""
    return frames * tokens * frames * 8


TRAJECTORY_BLOCK_BYTES = 128 * 2 ** 20
"""Working memory of one block of trajectory attention: the outputs gathered along the trajectories of a block of
tokens (tokens x the call's frames x channels, in the call's dtype and in float32 for the softmax)."""


def trajectory_attention(out: torch.Tensor, table: torch.Tensor, frame_ids: list[int], heads: int,
                         into: torch.Tensor | None = None) -> torch.Tensor:
    """FLATTEN's flow-guided attention over one conditioning's frames.

    ``out``: (frames, tokens, channels), the self-attention outputs of the image tokens of the call's frames (global
    indices ``frame_ids``); ``table``: the video's ``crossings`` on this grid. Each token attends, per head (channels
    split into ``heads``), to the tokens of its trajectory among the call's frames, itself included, with queries,
    keys and values all the outputs. Written into ``into`` (same shape; a new tensor when None), block by block of
    tokens: the working memory stays under TRAJECTORY_BLOCK_BYTES however long the video.
    """
    frames, tokens, channels = out.shape
    head_dim = channels // heads
    index = torch.as_tensor(frame_ids, dtype=torch.long, device=table.device)
    local = table.index_select(0, index).index_select(2, index).to(out.device)  # (frames, tokens, frames of the call)
    rows = torch.arange(frames, device=out.device).view(1, frames)
    result = torch.empty_like(out) if into is None else into
    scale = 1.0 / math.sqrt(head_dim)
    block = max(1, TRAJECTORY_BLOCK_BYTES // max(1, frames * channels * (out.element_size() + 4)))
    for k in range(frames):
        for start in range(0, tokens, block):
            crossing = local[k, start:start + block]
            count = crossing.shape[0]
            gathered = out[rows, crossing.clamp(min=0)]  # (count, frames, channels)
            query = out[k, start:start + block].reshape(count, heads, head_dim).float()
            keys = gathered.reshape(count, frames, heads, head_dim).float()
            logits = torch.einsum("nhd,nfhd->nhf", query, keys) * scale
            logits = logits.masked_fill((crossing < 0).unsqueeze(1), float("-inf"))
            weights = torch.softmax(logits, dim=-1)
            mixed = torch.einsum("nhf,nfhd->nhd", weights, keys)
            result[k, start:start + block] = mixed.reshape(count, channels).to(out.dtype)
    return result
