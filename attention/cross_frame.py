"""Cross-frame attention: each frame's self-attention reads keys and values from its chunk's anchor frame.

Text2Video-Zero replaces, in every self-attention (attn1) layer, the keys and values of frame k by those of frame 0
(Khachatryan et al. 2023, eq. 9; Picsart-AI-Research/Text2Video-Zero utils.CrossFrameAttnProcessor). This module does
it through ComfyUI's attn1 patch, which receives the hidden states *before* the K/V projections: handing every frame
its anchor's rows as ``context`` and ``value`` makes the projections produce the anchor's K and V, and ComfyUI's own
attention kernel (whatever it is) does the rest.
"""
from __future__ import annotations

import logging
import math
import weakref

import torch

from .families import REFERENCE_TOKENS_KEY
from .frames import FRAMES_KEY, frames_per_chunk, global_frame_ids, window_positions
from .trajectory import TRAJECTORY_KEY, trajectory_attention

ANCHOR_FIRST = "first"
ANCHOR_FIRST_AND_PREVIOUS = "first+previous"
ANCHOR_MODES = (ANCHOR_FIRST, ANCHOR_FIRST_AND_PREVIOUS)

CLEANUP_KEY = "t2v-zero.anchor-cache"

COND_UUIDS_KEY = "t2vz_cond_uuids"
"""transformer_options key: the conditionings' uuids of a frame chunk's call (attention/chunking.py), which keys the
anchor cache that every chunk of a step shares; the chunk's "uuids" may be its own."""

log = logging.getLogger("t2v-zero")

_UNET = object()  # default of __call__'s pe: only the DiT signature passes pe


class AnchorCache:
    """Hidden states that a later call of the same sampling step needs but cannot compute itself.

    When frames are split into chunks or context windows, a call that lacks global frame 0 (or, for first+previous,
    the frame just before its first one) reads them from here. Entries are valid for one sigma of one sampling run:
    frame 0 attends only to itself, so its states do not depend on which other frames shared its call, and reusing
    them gives the same result as one call over all frames.
    """

    def __init__(self):
        self._run = None
        self._sigma = None
        self._states: dict = {}

    def begin(self, run_token, sigma: float) -> None:
        run = self._run() if self._run is not None else None
        if run is not run_token or self._sigma != sigma:
            self._states.clear()
            self._run = weakref.ref(run_token) if run_token is not None else None
            self._sigma = sigma

    def put(self, key, frame_id: int, states: tuple[torch.Tensor, torch.Tensor], tail: bool = False) -> None:
        entry = self._states.setdefault(key, {})
        if tail:  # keep the anchor and the latest tail only: memory stays one or two frames per layer
            for fid in [f for f in entry if f != 0]:
                del entry[fid]
        # clone: a view would keep the whole call's hidden states alive; one clone when context and value are one
        context = states[0].detach().clone()
        value = context if _same_view(states[0], states[1]) else states[1].detach().clone()
        entry[frame_id] = (context, value)

    def get(self, key, frame_id: int):
        return self._states.get(key, {}).get(frame_id)

    def clear(self) -> None:
        """Drop every entry: the sampling run is over (ComfyUI's cleanup), and frame 0's keys and values of its last
        step (3 GB for Flux.1 at 1024 px) must not stay on the device with the model."""
        self._states.clear()
        self._run = None
        self._sigma = None

    def nbytes(self) -> int:
        """Bytes held, each tensor once (context and value are often one tensor)."""
        seen, total = set(), 0
        for entry in self._states.values():
            for pair in entry.values():
                for tensor in pair:
                    if id(tensor) not in seen:
                        seen.add(id(tensor))
                        total += tensor.numel() * tensor.element_size()
        return total


class CrossFrameAttention:
    """ComfyUI attn1 patch (``ModelPatcher.set_model_attn1_patch``): Text2Video-Zero's cross-frame attention.

    anchor: ``first`` (the reference: K, V of frame 0 replace the frame's own) or ``first+previous`` (sparse-causal:
        K, V of frame 0 and of the previous frame, concatenated).

    Calls that see only part of the video (frame chunks, context windows) find global frame 0 in the anchor cache,
    filled by the call of the same step that held it. Policy when no call of this step has held frame 0 yet (a
    rotating window schedule that evaluates another window first): anchor on the window's own first frame, with a
    warning. For first+previous, the frame before a call's first frame comes from the previous call when that call
    ended with it (frame chunks, back-to-back windows); otherwise (overlapping windows) the frame stands in for its
    own predecessor, and the window fusion blends it with the window that did hold the predecessor.
    strength: 1 is the reference. Below 1 the keys/values interpolate between the frame's own and the anchor's
        (exact in K/V space, since SD's K/V projections are linear without bias): 0 is plain self-attention.
    sigma_start, sigma_end: active while sigma_end <= sigma <= sigma_start (from start/end percent).
    along_flow: also attend along the source video's trajectories (FLATTEN; attention/trajectory.py) after each
        self-attention, where the call's options carry them (with_trajectories puts them there): the UNet's attn1
        output patch (``after_attention``), the DiTs' attention override (attention/dit.py CrossFrameOverride).
    """

    def __init__(self, anchor: str = ANCHOR_FIRST, strength: float = 1.0,
                 sigma_start: float = math.inf, sigma_end: float = 0.0, along_flow: bool = False):
        if anchor not in ANCHOR_MODES:
            raise ValueError(f"anchor must be one of {ANCHOR_MODES}, got {anchor!r}")
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {strength}")
        self.anchor = anchor
        self.strength = float(strength)
        self.sigma_start = float(sigma_start)
        self.sigma_end = float(sigma_end)
        self.along_flow = bool(along_flow)
        self.cache = AnchorCache()
        self._warned = False
        self.reached = 0
        """Calls that reached this patch through a DiT hook (attention/dit.py ReachGuard checks that sampling does)."""

    def __deepcopy__(self, memo):
        # ModelPatcher.clone() deep-copies model_options: a clone gets the same settings and a cache of its own.
        return CrossFrameAttention(self.anchor, self.strength, self.sigma_start, self.sigma_end, self.along_flow)

    def settings(self) -> dict:
        return {"anchor": self.anchor, "strength": self.strength,
                "sigma_start": self.sigma_start, "sigma_end": self.sigma_end, "along_flow": self.along_flow}

    def active_at(self, sigma: float | None) -> bool:
        if sigma is None:
            return True
        tol = 1e-5 * max(1.0, abs(sigma))
        return self.sigma_end - tol <= sigma <= self.sigma_start + tol

    def range_sigma(self, options: dict) -> float | None:
        """The call's sigma where a start/end range asks for it, else None: reading it waits for the device, which
        the usual full range need not do on every attention call."""
        sigmas = options.get("sigmas")
        if sigmas is None or (self.sigma_start == math.inf and self.sigma_end <= 0.0):
            return None
        return float(sigmas.max())

    def __call__(self, n, context, value=None, extra_options=None, *, pe=_UNET, attn_mask=None):
        """Both attn1 patch signatures ComfyUI has.

        UNet (SD1.x/2.x/SDXL, BasicTransformerBlock): ``p(n, context, value, extra_options) -> (n, context, value)``
        with the hidden states before the K/V projections.
        DiT (Flux, Chroma, Qwen-Image): ``p(q, k, v, pe=, attn_mask=, extra_options=) -> dict`` with the joint
        (text + image) queries, keys and values, (batch, heads, tokens, head_dim), after QK-norm and before RoPE; the
        dict holds what changes (``k``, ``v``). Only the DiT call passes ``pe``, so its presence tells them apart.
        """
        if pe is not _UNET:
            return self.dit_attn1(n, context, value, pe, attn_mask, extra_options)
        layer = (extra_options.get("block"), extra_options.get("block_index"), extra_options.get("transformer_index"))
        swapped = self.cross_frame_states(context, value, extra_options, layer)
        if swapped is None:
            return n, context, value
        return n, swapped[0], swapped[1]

    def after_attention(self, out, extra_options):
        """The UNet's attn1 output patch, ``p(out, extra_options) -> out``: trajectory attention over the layer's
        output (after its output projection, the one place a UNet patch sees it; mixing values commutes with that
        affine map, only the similarities are taken in its space). Heads as the layer's own."""
        return self.along_trajectories(out, extra_options, int(extra_options.get("n_heads", 1) or 1), 0,
                                       out.shape[1], 1)

    def along_trajectories(self, out, options, heads: int, start: int, count: int, patch: int):
        """``out`` (batch, tokens, channels) with its image tokens ``start:start + count`` (a grid of the latent cut
        into ``patch``-pixel patches, maybe halved: a UNet level) replaced by trajectory attention over the call's
        frames; unchanged when off, outside the sigma range, for a lone frame, or without trajectories."""
        trajectories = options.get(TRAJECTORY_KEY) if self.along_flow else None
        if trajectories is None:
            return out
        if not self.active_at(self.range_sigma(options)):
            return out
        chunks, frames = frames_per_chunk(out.shape[0], options.get("cond_or_uncond"))
        ids, _ = global_frame_ids(options, frames)
        if frames == 1:
            return out
        grid = trajectories.grid_of(count, patch)
        if grid is None:
            raise ValueError(f"trajectory attention: an attention call has {count} image tokens, which no grid of "
                             f"the {trajectories.width}x{trajectories.height} latent the flow was computed for "
                             f"makes. Fix: give the edit the same frames (size) the flow was computed from.")
        if max(ids) >= trajectories.frames:
            raise ValueError(f"trajectory attention: the call holds frame {max(ids)}, but the flow covers "
                             f"{trajectories.frames} frames. Fix: compute the flow from the video being sampled "
                             f"(same frame count).")
        table = trajectories.table(*grid, device=out.device)
        channels = out.shape[-1]
        image = out[:, start:start + count].reshape(chunks, frames, count, channels)
        result = out.clone()
        into = result[:, start:start + count].view(chunks, frames, count, channels)
        for c in range(chunks):
            trajectory_attention(image[c], table, ids, heads, into[c])
        return result

    def dit_attn1(self, q, k, v, pe, attn_mask, extra_options) -> dict:
        """The DiT attn1 patch: every frame's joint keys and values (text and image tokens) become its chunk's anchor
        frame's. All frames share token positions (Flux img_ids/txt_ids), so swapping before RoPE equals swapping
        after it, and ``pe`` is left alone.

        first+previous doubles the keys, which the block's own RoPE (one position per query) cannot rotate: the patch
        rotates queries and keys itself (Flux's RoPE, comfy.ldm.flux.math) and hands back ``pe=None``, so the block
        rotates nothing again. Flux and Chroma accept that; Qwen-Image rotates after the patch whatever it returns,
        so with_cross_frame refuses first+previous there."""
        self.reached += 1
        layer = ("dit", extra_options.get("block_type"), extra_options.get("block_index"))
        own = reference_token_count(extra_options)
        if self.anchor == ANCHOR_FIRST:
            swapped = self.cross_frame_states(k, v, extra_options, layer)
            if swapped is None:
                return {}
            return {"k": keep_own_tokens(swapped[0], k, own), "v": keep_own_tokens(swapped[1], v, own)}
        if attn_mask is not None:
            raise ValueError("cross-frame attention: anchor 'first+previous' cannot extend this model's attention "
                             "mask to the doubled keys. Fix: set the Cross-Frame Attention node's anchor input to "
                             "'first'.")
        if pe is not None:  # the very call the block would make (comfy.ldm.flux.math.attention)
            from comfy.ldm.flux.math import apply_rope  # noqa: PLC0415 -- the host's own RoPE

            q, k = apply_rope(q, k, pe)
        swapped = self.cross_frame_states(k, v, extra_options, layer)
        if swapped is None:
            return {"q": q, "k": k, "pe": None}
        return {"q": q, "k": keep_own_tokens(swapped[0], k, own), "v": keep_own_tokens(swapped[1], v, own),
                "pe": None}

    def cross_frame_states(self, context, value, extra_options, layer, tokens_dim: int = -2,
                           value_tokens_dim: int | None = None):
        """(new context, new value) for one attention call, or None when this call is left alone (strength 0,
        outside the sigma range, a lone frame).

        ``context``/``value`` are the rows keys and values come from (the UNet's hidden states before the
        projections, or a DiT's keys and values themselves), batch first, tokens in dim ``tokens_dim`` (negative:
        counted from the end; ``value_tokens_dim`` for ``value`` when its layout differs: MMDiT hands keys as
        (batch, tokens, channels) and values as (batch, tokens, heads, head_dim)), along which first+previous
        concatenates. ``layer`` names the attention layer for the anchor cache (calls that lack frame 0 read it from
        the layer's earlier call).
        """
        sigma = self.range_sigma(extra_options)
        if self.strength == 0.0 or not self.active_at(sigma):
            return None

        chunks, frames = frames_per_chunk(context.shape[0], extra_options.get("cond_or_uncond"))
        ids, partial = global_frame_ids(extra_options, frames)
        if frames == 1 and not partial:
            return None  # a lone frame is its own anchor

        chunk_ids = (extra_options.get(COND_UUIDS_KEY) or extra_options.get("uuids")
                     or extra_options.get("cond_or_uncond") or [0])
        keys = [(chunk_ids[c] if c < len(chunk_ids) else c, layer) for c in range(chunks)]
        # only frame chunks and context windows have calls without frame 0 (or without a frame's predecessor) that
        # read what this call leaves; a part's call holds all of its rows, frame 0 with them: it keeps nothing
        store = partial and (extra_options.get(FRAMES_KEY) is not None or window_positions(extra_options, frames)
                             is not None)
        if partial:
            sigmas = extra_options.get("sigmas")
            if sigma is None and sigmas is not None:
                sigma = float(sigmas.max())
            self.cache.begin(extra_options.get("sample_sigmas"), sigma)

        # ComfyUI hands one tensor as both context and value (unless an earlier patch split them): then the new
        # context and value are one tensor too, built once
        shared = value is context
        ctx = context.reshape(chunks, frames, *context.shape[1:])
        val = ctx if shared else value.reshape(chunks, frames, *value.shape[1:])
        anchor = self._frame_states(ctx, val, ids, 0, keys, store)
        sources = [anchor]
        if self.anchor == ANCHOR_FIRST_AND_PREVIOUS:
            sources.append(self._previous_states(ctx, val, ids, keys, partial))
            if store:  # the next call's first frame has its predecessor here
                last = len(ids) - 1
                for c, key in enumerate(keys):
                    self.cache.put(key, ids[last], (ctx[c, last], val[c, last]), tail=True)

        new_ctx = self._mix(ctx, [s[0] for s in sources], tokens_dim)
        new_val = new_ctx if shared else self._mix(val, [s[1] for s in sources],
                                                   tokens_dim if value_tokens_dim is None else value_tokens_dim)
        return new_ctx, new_val

    def _mix(self, own: torch.Tensor, sources: list[torch.Tensor], tokens_dim: int = -2) -> torch.Tensor:
        """Each frame's new rows, (chunks * frames, tokens * len(sources), channels): the sources' rows (blended
        with the frame's own below strength 1), concatenated along the tokens."""
        parts = [source.expand_as(own) if self.strength == 1.0
                 else torch.lerp(own, source.expand_as(own), self.strength) for source in sources]
        mixed = parts[0] if len(parts) == 1 else torch.cat(parts, dim=tokens_dim)
        # materialised here, once (as a copy: never a stride-0 view aliasing the caller's hidden states)
        return mixed.reshape(-1, *mixed.shape[2:]).contiguous()

    def _frame_states(self, ctx, val, ids, frame_id, keys, store):
        """(context, value) of global frame ``frame_id`` for every chunk, shaped (chunks, 1, tokens, channels); with
        ``store``, left in the cache for the step's later calls."""
        if frame_id in ids:
            pos = ids.index(frame_id)
            if store:
                for c, key in enumerate(keys):
                    self.cache.put(key, frame_id, (ctx[c, pos], val[c, pos]))
            return ctx[:, pos:pos + 1], val[:, pos:pos + 1]
        cached = [self.cache.get(key, frame_id) for key in keys]
        if all(s is not None for s in cached):
            context = torch.stack([s[0] for s in cached]).unsqueeze(1).to(ctx)
            if val is ctx:
                return context, context
            return context, torch.stack([s[1] for s in cached]).unsqueeze(1).to(val)
        if not self._warned:
            self._warned = True
            log.warning("t2v-zero cross-frame attention: a context window without frame %d ran before any window "
                        "holding it at this step; it anchors on its own first frame (global %d) instead. Use the "
                        "'standard_static' context schedule so the window with frame 0 runs first.", frame_id, ids[0])
        return ctx[:, :1], val[:, :1]

    def _previous_states(self, ctx, val, ids, keys, partial):
        """(context, value) of each frame's predecessor (frame 0's is itself), shaped like ctx/val."""
        shared = val is ctx
        if all(b == a + 1 for a, b in zip(ids, ids[1:])):  # consecutive frames: all but the first have theirs here
            first_ctx, first_val = self._predecessor(ctx, val, ids, 0, keys, partial)
            own_ctx, own_val = ctx[:, :-1], val[:, :-1]
            exact = self._exact_first(ctx, val, ids, keys, partial) if len(ids) > 1 else None
            if exact is not None:  # the second frame's predecessor: the first frame's exact states
                own_ctx = torch.cat([exact[0].unsqueeze(1), ctx[:, 1:-1]], dim=1)
                own_val = own_ctx if shared else torch.cat([exact[1].unsqueeze(1), val[:, 1:-1]], dim=1)
            prev_ctx = torch.cat([first_ctx.unsqueeze(1), own_ctx], dim=1)
            return prev_ctx, prev_ctx if shared else torch.cat([first_val.unsqueeze(1), own_val], dim=1)
        pairs = [self._predecessor(ctx, val, ids, pos, keys, partial) for pos in range(len(ids))]
        prev_ctx = torch.stack([p[0] for p in pairs], dim=1)
        return prev_ctx, prev_ctx if shared else torch.stack([p[1] for p in pairs], dim=1)

    def _predecessor(self, ctx, val, ids, pos, keys, partial):
        """(context, value) of the predecessor of the frame at ``pos``, shaped (chunks, tokens, channels)."""
        want = max(ids[pos] - 1, 0)
        if want in ids:
            p = ids.index(want)
            exact = self._exact_first(ctx, val, ids, keys, partial) if p == 0 else None
            return (ctx[:, p], val[:, p]) if exact is None else exact
        cached = self._cached(ctx, val, want, keys) if partial else None
        if cached is not None:
            return cached
        return ctx[:, pos], val[:, pos]  # no predecessor at hand (window edge): the frame itself stands in

    def _cached(self, ctx, val, frame_id, keys):
        """(context, value) of ``frame_id`` from the cache for every chunk, (chunks, tokens, channels), or None."""
        cached = [self.cache.get(key, frame_id) for key in keys]
        if not all(s is not None for s in cached):
            return None
        context = torch.stack([s[0] for s in cached]).to(ctx)
        return context, context if val is ctx else torch.stack([s[1] for s in cached]).to(val)

    def _exact_first(self, ctx, val, ids, keys, partial):
        """The cached states of the call's first frame when this call lacks that frame's own predecessor, else None.

        A core context window under causal_window_fix starts with the frame before it: here that frame attends to
        itself in place of its missing predecessor, so its states past the first layer are not the video's. The call
        that ended with it (the previous window, same step) left its exact states in the cache: the next frame's
        predecessor is read from there, so non-overlapping windows give the video made without windows."""
        first = ids[0]
        if not partial or first == 0 or first - 1 in ids:
            return None
        return self._cached(ctx, val, first, keys)


def reference_token_count(options: dict) -> int:
    return int(sum(options.get(REFERENCE_TOKENS_KEY) or ()))


def keep_own_tokens(swapped: torch.Tensor, own: torch.Tensor, count: int, tokens_dim: int = -2) -> torch.Tensor:
    """``swapped`` (keys or values read from the anchor, first+previous: followed by the predecessor's) with the
    anchor's last ``count`` tokens put back to the frame's own: a frame's reference tokens are its input (its source
    frame, as Instruct-Pix2Pix's concatenated frame is), and reading frame 0's would make every frame frame 0's edit.
    The predecessor's block stays whole. Tokens are dim ``tokens_dim`` (-2 in the DiT attn1 patch's (batch, heads,
    tokens, head_dim)). A count that leaves no image token in the call is refused: the model does not put its
    reference tokens where the count says."""
    if count <= 0:
        return swapped
    tokens = own.shape[tokens_dim]
    if count >= tokens:
        raise RuntimeError(f"Cross-Frame Attention (T2V-Zero): this attention call has {tokens} tokens, but the model "
                           f"reports {count} reference-image tokens at their end: the reference images do not sit "
                           f"where cross-frame attention expects them on this model. Fix: remove the reference "
                           f"image (ReferenceLatent) from the conditioning, or Cross-Frame Attention from the model.")
    if swapped.untyped_storage().data_ptr() == own.untyped_storage().data_ptr():
        swapped = swapped.clone()  # a lone frame 0's rows are a view of its own: never write into the caller's
    start = tokens - count
    swapped.narrow(tokens_dim, start, count).copy_(own.narrow(tokens_dim, start, count))
    return swapped


def _same_view(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a is b or (a.data_ptr() == b.data_ptr() and a.shape == b.shape and a.stride() == b.stride()
                      and a.dtype == b.dtype)


def find_cross_frame(model_options: dict) -> CrossFrameAttention | None:
    """The CrossFrameAttention patch a model carries, if any."""
    return cross_frame_in(model_options.get("transformer_options", {}))


def cross_frame_in(transformer_options: dict) -> CrossFrameAttention | None:
    """The CrossFrameAttention patch among ``transformer_options``' attn1 patches (a model's, or one call's), if any."""
    for p in transformer_options.get("patches", {}).get("attn1_patch", []):
        if isinstance(p, CrossFrameAttention):
            return p
    return None


def release_anchor_cache(model) -> None:
    """ON_CLEANUP callback (ComfyUI calls it when a sampling run ends, also when it fails): the patch the model
    carries (the Cross-Frame Attention node's output stays cached between prompts) lets go of its anchor cache."""
    patch = find_cross_frame(getattr(model, "model_options", {}))
    if patch is not None:
        patch.cache.clear()


def percent_sigmas(model, start_percent: float, end_percent: float) -> tuple[float, float]:
    """(sigma_start, sigma_end) for a ComfyUI model, as ControlNet's start/end percent map them."""
    sampling = model.get_model_object("model_sampling")
    sigma_start = math.inf if start_percent <= 0.0 else float(sampling.percent_to_sigma(start_percent))
    sigma_end = 0.0 if end_percent >= 1.0 else float(sampling.percent_to_sigma(end_percent))
    return sigma_start, sigma_end
