"""Frame chunking: the UNet runs on a few frames at a time, so peak memory follows the chunk, not the video.

Each conditioning chunk of a call is cut into frame chunks; the chunk holding global frame 0 runs first and leaves
frame 0's hidden states in the cross-frame patch's cache, so later chunks attend to the very same anchor without
recomputing it (the official code instead re-generates frame 0 inside every chunk). Results equal those of one call
over all frames, up to float rounding.
"""
from __future__ import annotations

import torch

from .frames import FRAMES_KEY, frames_per_chunk, global_frame_ids, window_positions

WRAPPER_KEY = "t2v-zero.frame-chunks"

DEFERRED_CONTROLS_KEY = "t2vz_deferred_controls"
"""transformer_options key: controls that asked to run per frame chunk rather than on the whole batch (ComfyUI calls
get_control before apply_model, on every frame), so that the ControlNet's memory follows the chunk too. Each entry is
a callable ``control(rows, index, options) -> control dict`` for the given batch rows (attention/control.py)."""


def chunk_positions(frame_ids: list[int], chunk_size: int) -> list[list[int]]:
    """Positions (within a cond chunk) of each frame chunk, the chunk holding global frame 0 first.

    Consecutive runs of ``chunk_size`` frames; order otherwise kept, so a frame's predecessor is always in its own
    chunk or in the chunk just before (what first+previous attention needs).
    """
    if chunk_size <= 0 or chunk_size >= len(frame_ids):
        return [list(range(len(frame_ids)))]
    blocks = [list(range(s, min(s + chunk_size, len(frame_ids)))) for s in range(0, len(frame_ids), chunk_size)]
    if 0 in frame_ids:
        pos = frame_ids.index(0)
        first = next(i for i, b in enumerate(blocks) if pos in b)
        blocks = [blocks[first]] + blocks[:first] + blocks[first + 1:]
    return blocks


def batch_rows(positions: list[int], chunks: int, frames: int) -> list[int]:
    """Batch rows of ``positions`` in every one of ``chunks`` cond chunks of ``frames`` frames."""
    return [c * frames + p for c in range(chunks) for p in positions]


def add_controls(control: dict | None, other: dict | None) -> dict | None:
    """Sum of two ControlNet outputs ({"input"/"middle"/"output": [tensor or None, ...]}), as chained ControlNets
    add up."""
    if control is None or other is None:
        return other if control is None else control
    out = {}
    for name in {*control, *other}:
        a, b = list(control.get(name, [])), list(other.get(name, []))
        merged = []
        for i in range(max(len(a), len(b))):
            x = a[i] if i < len(a) else None
            y = b[i] if i < len(b) else None
            merged.append(y if x is None else (x if y is None else x + y))
        out[name] = merged
    return out


def find_frame_chunker(transformer_options: dict) -> "FrameChunker | None":
    """The FrameChunker that will split this call's apply_model, if the model carries one."""
    import comfy.patcher_extension  # noqa: PLC0415

    wrappers = transformer_options.get("wrappers", {}).get(comfy.patcher_extension.WrappersMP.APPLY_MODEL, {})
    for wrapper in wrappers.get(WRAPPER_KEY, []):
        if isinstance(wrapper, FrameChunker):
            return wrapper
    return None


def _slice_rows(value, rows, index, batch):
    if isinstance(value, torch.Tensor) and value.ndim > 0 and value.shape[0] == batch:
        return value.index_select(0, index.to(value.device))
    if isinstance(value, dict):
        return {k: _slice_rows(v, rows, index, batch) for k, v in value.items()}
    if isinstance(value, list):
        return [_slice_rows(v, rows, index, batch) for v in value]
    return value


class FrameChunker:
    """APPLY_MODEL wrapper (ModelPatcher.add_wrapper_with_key) that runs the model on frame chunks."""

    def __init__(self, chunk_size: int):
        if chunk_size < 1:
            raise ValueError(f"frames per chunk must be >= 1, got {chunk_size}")
        self.chunk_size = int(chunk_size)

    def will_split(self, options: dict, frames: int) -> bool:
        """Whether a call of ``frames`` frames per cond chunk is cut into frame chunks. A context window
        (AnimateDiff-Evolved's, core's) never is: it bounds memory already, and a motion module's temporal layers
        need all of its frames in one call."""
        return frames > self.chunk_size and window_positions(options, frames) is None

    def __call__(self, executor, x, t, c_concat=None, c_crossattn=None, control=None, transformer_options={}, **kwargs):
        chunks, frames = frames_per_chunk(x.shape[0], transformer_options.get("cond_or_uncond"))
        deferred = transformer_options.get(DEFERRED_CONTROLS_KEY) or []
        # what a deferred control and each chunk's model call see: the deferred controls are consumed here
        base_options = {k: v for k, v in transformer_options.items() if k != DEFERRED_CONTROLS_KEY}
        if not self.will_split(transformer_options, frames):
            if deferred:
                rows = list(range(x.shape[0]))
                index = torch.tensor(rows, dtype=torch.long)
                for evaluate in deferred:
                    control = add_controls(control, evaluate(rows, index, base_options))
            return executor(x, t, c_concat, c_crossattn, control, transformer_options, **kwargs)
        base_ids, _ = global_frame_ids(transformer_options, frames)  # the video's first frames, or a part's
        batch = x.shape[0]
        out = None
        for positions in chunk_positions(base_ids, self.chunk_size):
            import comfy.model_management  # noqa: PLC0415 -- the host, present whenever a sampler runs this
            comfy.model_management.throw_exception_if_processing_interrupted()
            rows = batch_rows(positions, chunks, frames)
            index = torch.tensor(rows, dtype=torch.long)
            options = {**base_options, FRAMES_KEY: [base_ids[p] for p in positions]}
            part_control = _slice_rows(control, rows, index, batch)
            for evaluate in deferred:  # the chunk's own ControlNet pass, right before its UNet pass
                part_control = add_controls(part_control, evaluate(rows, index, options))
            part = executor(_slice_rows(x, rows, index, batch), _slice_rows(t, rows, index, batch),
                            _slice_rows(c_concat, rows, index, batch), _slice_rows(c_crossattn, rows, index, batch),
                            part_control, options,
                            **{k: _slice_rows(v, rows, index, batch) for k, v in kwargs.items()})
            if out is None:
                out = part.new_empty((batch, *part.shape[1:]))
            out[index.to(out.device)] = part
        return out


def with_frame_chunks(model, chunk_size: int):
    """A clone of ``model`` whose UNet calls run on ``chunk_size`` frames at a time (0: no chunking)."""
    import comfy.patcher_extension  # noqa: PLC0415

    model = model.clone()
    model.remove_wrappers_with_key(comfy.patcher_extension.WrappersMP.APPLY_MODEL, WRAPPER_KEY)
    if chunk_size > 0:
        model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.APPLY_MODEL, WRAPPER_KEY, FrameChunker(chunk_size))
    return model
