"""Frame chunking: the UNet runs on a few frames at a time, so peak memory follows the chunk, not the video.

Each conditioning chunk of a call is cut into frame chunks; the chunk holding global frame 0 runs first and leaves
frame 0's hidden states in the cross-frame patch's cache, so later chunks attend to the very same anchor without
recomputing it (the official code instead re-generates frame 0 inside every chunk). Results equal those of one call
over all frames, up to float rounding.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .cross_frame import ANCHOR_FIRST_AND_PREVIOUS, COND_UUIDS_KEY, find_cross_frame
from .families import anchor_cache_bytes, anchor_layout, inference_element_size
from .frames import FRAMES_KEY, frames_per_chunk, global_frame_ids, window_positions
from .trajectory import TRAJECTORY_BLOCK_BYTES, table_bytes

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


def chunk_uuids(uuids: list | None, chunk: int) -> list | None:
    """The conditionings' uuids that frame chunk number ``chunk`` (in run order) of a call passes on as "uuids".

    Core keys per-conditioning state by them: EasyCache (comfy_extras/nodes_easycache.py) keeps one cached output per
    uuid, decides at each step from the call holding the first conditioning's uuid, and skipped calls add their
    uuids' cached outputs. With the same uuids in every chunk, a chunk added another chunk's frames' outputs (or
    failed where the chunks' sizes differ). The first chunk (the one holding frame 0, run first) keeps the real
    uuids, so it alone decides and the later chunks, with uuids of their own, skip or run with it: frame 0's keys and
    values are at hand whenever a chunk runs. The anchor cache keys by the real ones (COND_UUIDS_KEY)."""
    if chunk == 0 or not uuids:
        return uuids
    import uuid as uuid_module  # noqa: PLC0415

    tag = f"t2v-zero frame chunk {chunk}"
    return [uuid_module.uuid5(u, tag) if isinstance(u, uuid_module.UUID) else (u, tag) for u in uuids]


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
        uuids = base_options.get("uuids")
        for chunk, positions in enumerate(chunk_positions(base_ids, self.chunk_size)):
            import comfy.model_management  # noqa: PLC0415 -- the host, present whenever a sampler runs this
            comfy.model_management.throw_exception_if_processing_interrupted()
            rows = batch_rows(positions, chunks, frames)
            index = torch.tensor(rows, dtype=torch.long)
            options = {**base_options, FRAMES_KEY: [base_ids[p] for p in positions]}
            if uuids:
                options[COND_UUIDS_KEY] = base_options.get(COND_UUIDS_KEY) or uuids
                options["uuids"] = chunk_uuids(uuids, chunk)
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
        model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.APPLY_MODEL, WRAPPER_KEY,
                                   FrameChunker(chunk_size))
    return model


# --- memory: refuse before sampling what cannot fit ------------------------------------------------------------------

GIB = 2 ** 30
CONTEXT_HANDLER_KEY = "context_handler"
"""model_options key of ComfyUI's core context windows (comfy/context_windows.py IndexListContextHandler)."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a video pass needs on ``device``, as estimated before sampling.

    setting: what decides the split, in the words of its input ("frames_per_chunk = 2", or the Context Windows
    node's context_length); windows: whether core context windows split the batch (else frame chunks, or nothing);
    frames: rows of the joint pass (per conditioning); per_call: frames in one model call (the frame chunk or context
    window, with the frame a core window prepends), ``frames`` when nothing splits the batch; cache: the anchor cache
    (0 when nothing splits); free: what the device can give (its free memory, and what loaded models hold there, which
    ComfyUI can offload); one_frame, call, whole: a model call's working memory for one frame, ``per_call`` frames,
    all frames (each times the conditionings); largest: the most frames per split call that fit next to the cache
    (0: none); smaller_size: the largest latent (height, width) of the same aspect where a one-frame call fits next to
    its cache, when none fits at this size."""

    family: str
    device: object
    setting: str
    windows: bool
    frames: int
    per_call: int
    cache: int
    one_frame: int
    call: int
    whole: int
    free: int
    largest: int
    smaller_size: tuple[int, int] | None

    @property
    def splits(self) -> bool:
        return self.per_call < self.frames

    @property
    def whole_fits(self) -> bool:
        return self.whole <= self.free


def frame_chunk_size(model) -> int:
    """The frame chunk size ``model`` carries (with_frame_chunks), 0 when none."""
    import comfy.patcher_extension  # noqa: PLC0415

    wrappers = getattr(model, "wrappers", {}).get(comfy.patcher_extension.WrappersMP.APPLY_MODEL, {})
    for wrapper in wrappers.get(WRAPPER_KEY, []):
        if isinstance(wrapper, FrameChunker):
            return wrapper.chunk_size
    return 0


def _per_call(model, frames: int) -> tuple[int, str, bool]:
    """(frames in the largest model call, the setting that decides it, whether it is core context windows): a core
    window (with, under causal_window_fix, the frame before it), else a frame chunk (chunks never split a window),
    else the whole batch."""
    handler = model.model_options.get(CONTEXT_HANDLER_KEY)
    length = getattr(handler, "context_length", None)
    if handler is not None and getattr(handler, "dim", 0) == 0 and isinstance(length, int) and 0 < length < frames:
        extra = 1 if getattr(handler, "causal_window_fix", False) else 0
        with_frame = f" ({length + extra} frames per call with the frame before each window)" if extra else ""
        return min(length + extra, frames), f"the Context Windows node's context_length = {length}{with_frame}", True
    chunk = frame_chunk_size(model)
    if 0 < chunk < frames:
        return chunk, f"frames_per_chunk = {chunk}", False
    return frames, "frames_per_chunk = 0", False


def offloadable_free_memory(device) -> int:
    """What ``device`` can give a sampling run: its free memory (comfy.model_management.get_free_memory) plus, on an
    accelerator, the weights loaded models hold there, which ComfyUI offloads when it needs the room (lowvram
    streams them): so the check never counts the model's own weights against it."""
    import comfy.model_management as mm  # noqa: PLC0415

    free = int(mm.get_free_memory(device))
    if getattr(device, "type", "cpu") in ("cpu", "mps"):
        return free
    for loaded in list(getattr(mm, "current_loaded_models", [])):
        try:
            if loaded.device == device:
                free += int(loaded.model_loaded_memory())
        except Exception:  # noqa: BLE001 -- a half-unloaded entry: count nothing for it
            continue
    return free


def call_memory(model, shape, cond_shapes: dict | None = None) -> int:
    """ComfyUI's own estimate of one model call's working memory for an input of ``shape`` (what it budgets when it
    loads the model): ``call_model_memory_required`` where the host has it (newer ComfyUI moved the estimate there),
    else ``memory_required``. ``cond_shapes``: shapes of the conditionings the estimate counts (reference latents)."""
    base = model.model
    estimate = getattr(base, "call_model_memory_required", None) or base.memory_required
    return int(estimate(list(shape), cond_shapes=cond_shapes or {}))


def estimate_video_memory(model, latent_shape, text_tokens, reference_shapes=()) -> MemoryEstimate | None:
    """The memory a video pass of ``model`` (a ModelPatcher carrying cross-frame attention and, maybe, frame chunks
    or core context windows) needs for a latent of ``latent_shape`` (rows of the joint pass, channels, height, width)
    with conditionings of ``text_tokens`` text tokens each (one entry per conditioning a step evaluates: positive,
    and negative unless cfg 1 skips it) and ``reference_shapes``: one list per conditioning of the latent shapes of
    the reference images each frame gets (Kontext's, Qwen-Image-Edit's; their tokens join every joint call). None
    where there is no anchor cache to size (a UNet: frame 0's hidden states, tens of MB) or no cross-frame patch.

    A model call's working memory is ComfyUI's own estimate (call_memory), plus, with attention along the flow, what
    trajectory attention adds to a call (a copy of its output, one block of TRAJECTORY_BLOCK_BYTES, the grid's
    table); the anchor cache is anchor_cache_bytes, exact."""
    patch = find_cross_frame(model.model_options)
    layout = anchor_layout(model) if patch is not None else None
    if layout is None or not text_tokens:
        return None
    frames, channels, height, width = (int(s) for s in latent_shape)
    conds = len(text_tokens)
    kept = 2 if patch.anchor == ANCHOR_FIRST_AND_PREVIOUS else 1
    size = inference_element_size(model)
    references = [layout.reference_tokens(shapes) for shapes in reference_shapes]
    # a frame's references, in ComfyUI's own estimate: one per row (references ride on the batch like the frames)
    per_frame_refs = [list(shape) for shape in (reference_shapes[0] if reference_shapes else ())]

    def cache(h, w):
        return anchor_cache_bytes(layout, h, w, text_tokens, size, kept, references)

    def working(rows, h=height, w=width):
        refs = [[rows * conds, *shape[-3:]] for shape in per_frame_refs]
        need = call_memory(model, [rows * conds, channels, h, w], {"ref_latents": refs} if refs else None)
        if patch.along_flow:  # trajectory attention: a copy of a call's output, one block, the grid's table
            image = layout.image_tokens(h, w)
            tokens = image + max(references or [0]) + layout.extra_tokens + max(int(t) for t in text_tokens)
            need += conds * rows * tokens * layout.channels * size + TRAJECTORY_BLOCK_BYTES + table_bytes(frames, image)
        return need

    per_call, setting, windows = _per_call(model, frames)
    device = model.load_device
    free = offloadable_free_memory(device)
    full = cache(height, width)
    whole = working(frames)

    lo, hi = 0, frames - 1  # the most frames per split call that fit next to the cache (need grows with n)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if full + working(mid) <= free else (lo, mid - 1)
    largest = lo
    smaller = None
    if largest == 0:  # the largest latent of this aspect, in whole tokens, where a one-frame chunk fits
        step = layout.patch
        for h in range(height - step, step - 1, -step):
            w = max(step, round(width * h / height / step) * step)
            if cache(h, w) + working(1, h, w) <= free:
                smaller = (h, w)
                break
    return MemoryEstimate(layout.family, device, setting, windows, frames, per_call, full if per_call < frames else 0,
                          working(1), working(per_call), whole, free, largest, smaller)


def check_video_memory(model, latent_shape, text_tokens, pixels_per_latent: int = 8,
                       reference_shapes=()) -> MemoryEstimate | None:
    """Refuse, before any step runs, a split (frame chunks, context windows) that cannot fit even one frame per call
    next to the anchor cache, with a ValueError saying what fits. Anything that might fit runs: when the chosen size
    is over the estimate but a smaller one is not, a warning names the size that fits (ComfyUI's working-memory
    estimate is generous, and an unsplit batch may still run in ComfyUI's low-memory modes)."""
    import logging  # noqa: PLC0415

    estimate = estimate_video_memory(model, latent_shape, text_tokens, reference_shapes)
    if estimate is None:
        return None
    e = estimate
    height, width = (int(s) for s in latent_shape[-2:])

    def gib(n):  # GiB, the unit real sizes come in; MiB below a tenth of one
        return f"{n / GIB:.2f} GiB" if n >= GIB / 10 else f"{n / 2 ** 20:.2f} MiB"

    if e.splits and e.largest == 0:
        fixes = []
        if e.whole_fits:
            fixes.append(f"remove the Context Windows node (all {e.frames} frames in one pass: no anchor cache, "
                         f"about {gib(e.whole)})" if e.windows else
                         f"set frames_per_chunk to 0 (all {e.frames} frames in one pass: no anchor cache, about "
                         f"{gib(e.whole)})")
        if e.smaller_size is not None:
            h, w = e.smaller_size
            fixes.append(f"lower the resolution to {w * pixels_per_latent}x{h * pixels_per_latent} px or less")
        if len(text_tokens) > 1:
            fixes.append(f"use cfg 1 where the model allows it (one conditioning instead of {len(text_tokens)}: the "
                         f"cache shrinks in proportion)")
        fixes.append("free memory on the device (other programs, other loaded models' caches)")
        raise ValueError(
            f"{e.setting} cannot fit: on {e.family} at {width * pixels_per_latent}x"
            f"{height * pixels_per_latent} px the anchor cache (frame 0's keys and values in every attention layer, "
            f"for each of {len(text_tokens)} conditioning(s), kept while a step's calls run) needs {gib(e.cache)}, and "
            f"even a one-frame call {gib(e.one_frame)} more, but {gib(e.free)} are free on {e.device}. Fix: "
            + "; or ".join(fixes) + ".")
    if e.cache + e.call > e.free:
        fix = ("lower the resolution" if not e.largest else
               f"lower the Context Windows node's context_length (at most {e.largest} frames per call fit the "
               f"estimate)" if e.windows else f"set frames_per_chunk to {e.largest} (the most that fit the estimate)")
        logging.getLogger("t2v-zero").warning(
            "t2v-zero: %d frames per call on %s need about %s (anchor cache %s), %s are free on %s: if it runs out "
            "of memory, %s.", e.per_call, e.family, gib(e.cache + e.call), gib(e.cache), gib(e.free), e.device, fix)
    return estimate


def core_windows_refusal(model, sample_sigmas: torch.Tensor, frames: int) -> str | None:
    """Why the core context windows ``model`` carries cannot sample a batch of ``frames`` frames on this ComfyUI, None
    when they can (or there are none). Probed on the feature itself: the handler's set_step is handed one timestep per
    row, as the sampler hands it (0.3.75 compares them with the whole schedule and fails on the first step)."""
    handler = model.model_options.get(CONTEXT_HANDLER_KEY)
    length = getattr(handler, "context_length", None)
    if handler is None or not hasattr(handler, "set_step") or not isinstance(length, int) or length >= frames:
        return None
    step = getattr(handler, "_step", None)
    rows = 2 if sample_sigmas.shape[-1] != 2 else 3  # a row count that cannot broadcast against the schedule
    try:
        handler.set_step(sample_sigmas[:1].expand(rows).clone(), {"transformer_options":
                                                                 {"sample_sigmas": sample_sigmas}})
    except Exception as error:  # noqa: BLE001 -- whatever core raises, sampling would raise it on its first step
        return f"its set_step fails on a batch of frames ({type(error).__name__}: {error})"
    finally:
        if step is not None:
            handler._step = step
    return None


def check_core_windows(model, sample_sigmas: torch.Tensor, frames: int) -> None:
    """A ValueError before sampling, naming the fix, where this ComfyUI's core context windows cannot run a DiT's
    batch of frames (UNets keep core's own error there, which tests/test_motion.py pins on ComfyUI 0.3.75)."""
    if anchor_layout(model) is None:
        return
    why = core_windows_refusal(model, sample_sigmas, frames)
    if why:
        raise ValueError(f"ComfyUI's Context Windows cannot sample these {frames} frames on this ComfyUI: {why}. Fix: "
                         f"update ComfyUI (0.33 runs them), or remove the Context Windows node and set the Motion "
                         f"Latent Sampler's frames_per_chunk to bound memory instead (the same video).")
