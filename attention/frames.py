"""Where each row of a UNet batch sits in the video.

ComfyUI hands the model a batch of len(cond_or_uncond) chunks, one per conditioning, each holding the same frames in
the same order. Inside a chunk, the frames are either the whole video, a context window of it, or a frame chunk cut by
:mod:`attention.chunking`. These helpers recover the global frame index of every row, whichever of those applies.
"""
from __future__ import annotations

from typing import Sequence

from .host import core_window_frame_ids

FRAMES_KEY = "t2vz_frames"
"""transformer_options key: global frame indices of the frames in each chunk of this call (set by FrameChunker)."""

VIDEO_KEY = "t2vz_video"
"""transformer_options key: ``{"frames": [global frame index of each frame of the call], "length": frames in the
whole video}``, set by a sampler that computes part of a video (MotionLatentSampler's part of parts): its calls hold
frame 0 and the part's frames, not the video's first frames."""


def frames_per_chunk(batch: int, cond_or_uncond: Sequence[int] | None) -> tuple[int, int]:
    """(number of cond chunks, frames per chunk) for a batch of ``batch`` rows."""
    chunks = len(cond_or_uncond) if cond_or_uncond else 1
    if batch % chunks:
        raise ValueError(f"batch of {batch} rows does not split into {chunks} conditioning chunks")
    return chunks, batch // chunks


def window_frame_ids(options: dict, frames: int) -> list[int] | None:
    """Global indices of a context window's frames, or None when the model sees the whole video.

    Reads ComfyUI's core context windows (``context_window``, attention/host.py) and AnimateDiff-Evolved's
    (``ad_params["sub_idxs"]``). A list whose length does not match the frame count is ignored: it belongs to
    another dimension (e.g. a window over time in a video model).
    """
    ad_params = options.get("ad_params")
    if isinstance(ad_params, dict) and ad_params.get("sub_idxs") is not None:
        ids = [int(i) for i in ad_params["sub_idxs"]]
        if len(ids) == frames:
            return ids
    window = options.get("context_window")
    if window is not None and getattr(window, "dim", 0) == 0:
        ids = core_window_frame_ids(window)
        if len(ids) == frames:
            return ids
    return None


def global_frame_ids(options: dict, frames: int) -> tuple[list[int], bool]:
    """(global index of each frame in a chunk, whether this call sees only part of the video)."""
    ids = options.get(FRAMES_KEY)
    if ids is not None and len(ids) == frames:
        return list(ids), True
    video = options.get(VIDEO_KEY)
    if video is not None and len(video["frames"]) == frames:
        return list(video["frames"]), True
    ids = window_frame_ids(options, frames)
    if ids is not None:
        return ids, True
    return list(range(frames)), False


def with_video_frames(model, frame_ids: Sequence[int], length: int):
    """A clone of ``model`` (a ComfyUI ModelPatcher) whose calls hold frames ``frame_ids`` of a ``length``-frame video
    (VIDEO_KEY): cross-frame attention, frame chunks and per-frame ControlNet hints count them globally."""
    model = model.clone()
    options = model.model_options.setdefault("transformer_options", {})
    options[VIDEO_KEY] = {"frames": [int(f) for f in frame_ids], "length": int(length)}
    return model
