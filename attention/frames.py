"""Where each row of a UNet batch sits in the video.

ComfyUI hands the model a batch of len(cond_or_uncond) chunks, one per conditioning, each holding the same frames in
the same order. Inside a chunk, the frames are either the whole video, a context window of it, or a frame chunk cut by
:mod:`attention.chunking`. These helpers recover the global frame index of every row, whichever of those applies.

A sampler may also sample part of a video (VIDEO_KEY): its batch is frame 0 and the part's frames. Context windows
(core's, AnimateDiff-Evolved's) are cut over that batch, so their indices are rows of the batch, which map through the
part's frames to the video's; frame chunks are cut from global indices already.
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


def window_positions(options: dict, frames: int) -> list[int] | None:
    """Positions, in the sampler's batch, of a context window's frames; None when the model sees the whole batch.

    Reads ComfyUI's core context windows (``context_window``, attention/host.py) and AnimateDiff-Evolved's
    (``ad_params["sub_idxs"]``). Both cut their windows over the batch the sampler was given, so these are rows of
    that batch, which are the video's frames only when the sampler runs the whole video (see window_frame_ids). A list
    whose length does not match the frame count is ignored: it belongs to another dimension (e.g. a window over time
    in a video model).
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


def video_frames_of(options: dict, positions: list[int]) -> list[int]:
    """Global frame indices of rows ``positions`` of the sampler's batch: the rows themselves, or, for a sampler
    computing part of a video (VIDEO_KEY), the part's frames at those rows (row 0 is frame 0, then the part's own)."""
    video = options.get(VIDEO_KEY)
    if video is None:
        return list(positions)
    rows = video["frames"]
    outside = [p for p in positions if not 0 <= p < len(rows)]
    if outside:
        raise ValueError(f"a context window holds rows {positions} of a batch of {len(rows)} frames (part of a "
                         f"{video['length']}-frame video): rows {outside} are not in the batch. Fix: give the context "
                         f"windows the batch the sampler samples (apply Context Options / Context Windows to the model "
                         f"given to the sampler, not to another one).")
    return [int(rows[p]) for p in positions]


def window_frame_ids(options: dict, frames: int) -> list[int] | None:
    """Global indices of a context window's frames, or None when the model sees the whole batch.

    The window's positions (window_positions) mapped through the part's frames when the sampler computes part of a
    video (VIDEO_KEY): a window over rows 2..5 of the part holding frames 0, 6..10 is frames 7..10, not 2..5.
    """
    positions = window_positions(options, frames)
    return None if positions is None else video_frames_of(options, positions)


def global_frame_ids(options: dict, frames: int) -> tuple[list[int], bool]:
    """(global index of each frame in a chunk, whether this call sees only part of the video).

    In order: a frame chunk's indices (FRAMES_KEY, global already), a context window's (through the part's frames,
    if any), the part's frames (VIDEO_KEY), else the call is the whole video.
    """
    ids = options.get(FRAMES_KEY)
    if ids is not None and len(ids) == frames:
        return list(ids), True
    ids = window_frame_ids(options, frames)
    if ids is not None:
        return ids, True
    video = options.get(VIDEO_KEY)
    if video is not None and len(video["frames"]) == frames:
        return list(video["frames"]), True
    return list(range(frames)), False


def with_video_frames(model, frame_ids: Sequence[int], length: int):
    """A clone of ``model`` (a ComfyUI ModelPatcher) whose calls hold frames ``frame_ids`` of a ``length``-frame video
    (VIDEO_KEY): cross-frame attention, frame chunks and per-frame ControlNet hints count them globally."""
    model = model.clone()
    options = model.model_options.setdefault("transformer_options", {})
    options[VIDEO_KEY] = {"frames": [int(f) for f in frame_ids], "length": int(length)}
    return model
