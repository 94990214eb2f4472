"""Cross-frame attention's hooks into a model, and the one function that applies it (with_cross_frame).

Which hook reaches a family's self-attention is the family table's (attention/families.py):

- UNet (SD1.x, SD2.x, SDXL): the attn1 patch with the UNet signature, ``p(n, context, value, extra_options)``, in
  every BasicTransformerBlock; CrossFrameAttention itself is the hook.
- Flux-style DiTs (Flux, Flux 2, Chroma, Qwen-Image): the same attn1 patch list, called with the DiT signature,
  ``p(q, k, v, pe=, attn_mask=, extra_options=) -> dict``, once per double and single block
  (CrossFrameAttention.dit_attn1).
- SD3 / SD3.5, Lumina 2, Z-Image and HiDream: no patch at all. The only thing every attention call sees is
  ``transformer_options["optimized_attention_override"]``, called as ``(func, q, k, v, heads, **kw)``. It is one
  slot: CrossFrameOverride keeps whatever override was there and calls it with the new keys and values.

Anchor first+previous doubles the keys: the override sees them after RoPE (SD3 has none), so that is all it takes;
on the attn1 route the patch rotates queries and keys itself and hands back ``pe=None`` (Flux, Chroma). Qwen-Image
rotates after the patch whatever it returns, so first+previous is refused there.

On the DiT routes guards check each sampling run: ReachGuard (an APPLY_MODEL wrapper) that its first model call
reached the patch; CrossFrameOverride that no other attention override sits above it (one that handles some calls
itself, as core's Block Sparse Attention does, would skip cross-frame attention there); RunGuard (an OUTER_SAMPLE wrapper)
refuses, before any step, what the conditioning makes impossible (first+previous with an attention mask).
"""
from __future__ import annotations

import weakref

from .cross_frame import (ANCHOR_FIRST, CLEANUP_KEY, CrossFrameAttention, cross_frame_in, find_cross_frame,
                          keep_own_tokens, reference_token_count, release_anchor_cache)
from .families import (REFERENCE_TOKENS_KEY, ROUTE_ATTENTION_OVERRIDE, ROUTE_DIT_ATTN1, ROUTE_UNET, anchor_layout,
                       attention_route, model_family, patch_tokens, reference_patch, sparse_causal_refusal,
                       trajectory_refusal)
from .trajectory import TRAJECTORY_KEY

OVERRIDE_KEY = "optimized_attention_override"
"""transformer_options key of ComfyUI's attention override (comfy/ldm/modules/attention.py wrap_attn)."""

LAYER_COUNTER_KEY = "t2vz_attention_calls"
"""transformer_options key: self-attention calls so far in this model call, the layer key of a call that has no
block index (MMDiT's forward does not set one). ComfyUI copies transformer_options for every model call
(BaseModel._apply_model), so the count starts at 0 in each call and each frame chunk."""

GUARD_KEY = "t2v-zero.cross-frame-reached"
RUN_GUARD_KEY = "t2v-zero.cross-frame-run"

LAST_FIX = "Fix: put Cross-Frame Attention last, right before the sampler."


def override_above_refusal(family: str, above) -> str:
    """The error for an attention override placed over ours."""
    name = getattr(above, "__qualname__", None) or type(above).__name__
    return (f"Cross-Frame Attention (T2V-Zero) on this {family} model works through ComfyUI's attention override, "
            f"but another override ({name}) was placed over it, by a node applied after Cross-Frame Attention (e.g. "
            f"Block Sparse Attention): it may compute some attention calls itself and skip cross-frame attention "
            f"there, giving frames that drift apart. {LAST_FIX}")


class CrossFrameOverride:
    """``optimized_attention_override`` for the override route (SD3 / SD3.5, Lumina 2, Z-Image, HiDream; Flux,
    Chroma and Qwen-Image on hosts whose blocks call no attn1 patch): each self-attention call's keys and values
    become their chunk's anchor frame's (CrossFrameAttention.cross_frame_states; first+previous: the anchor's and the
    previous frame's, concatenated: twice the keys), then the call goes on to the override that was in the slot
    before (``previous``), else to ComfyUI's own kernel (``func``).

    A call whose keys have another token count or batch than its queries is cross-attention and passes untouched.
    Tokens sit in dim 2 when the call says skip_reshape (Lumina 2, Flux on older hosts), else in dim 1.

    With the patch's ``along_flow``, each call's output then goes through trajectory attention over its image tokens
    (the last ones before any reference tokens, ``image_patch`` latent pixels a side). ``swap`` False: the attn1
    patch swaps keys and values already (the attn1 route), this override only adds that output step.
    """

    def __init__(self, patch, previous=None, family: str = "DiT", swap: bool = True, image_patch: int = 2):
        self.patch = patch
        self.previous = previous
        self.family = family
        self.swap = swap
        self.image_patch = image_patch

    def __call__(self, func, q, k, v, *args, **kwargs):
        options = kwargs.get("transformer_options")
        above = options.get(OVERRIDE_KEY) if options is not None else None
        if above is not None and above is not self:
            # ComfyUI calls what holds the slot: here an override installed over ours, maybe handling calls without us
            raise RuntimeError(override_above_refusal(self.family, above))
        # layouts: (batch, heads, tokens, head_dim) with skip_reshape, else (batch, tokens, channels) or
        # (batch, tokens, heads, head_dim): MMDiT hands its queries and keys in the first, its values in the second
        tokens = 2 if kwargs.get("skip_reshape") else 1
        if (self.swap and options is not None and tokens < min(q.ndim, k.ndim, v.ndim) and q.shape[0] == k.shape[0]
                and q.shape[tokens] == k.shape[tokens]):
            self.patch.reached += 1
            index = options.get(LAYER_COUNTER_KEY, 0)
            options[LAYER_COUNTER_KEY] = index + 1
            swapped = self.patch.cross_frame_states(k, v, options, ("attention", index), tokens_dim=tokens - k.ndim,
                                                    value_tokens_dim=tokens - v.ndim)
            if swapped is not None:  # reference images' tokens (Qwen-Image-Edit, Kontext on older hosts) stay own
                own = reference_token_count(options)
                k, v = (keep_own_tokens(swapped[0], k, own, tokens - k.ndim),
                        keep_own_tokens(swapped[1], v, own, tokens - v.ndim))
        out = (self.previous(func, q, k, v, *args, **kwargs) if self.previous is not None
               else func(q, k, v, *args, **kwargs))
        if options is None or options.get(TRAJECTORY_KEY) is None or not self.patch.along_flow:
            return out
        return self.along_trajectories(out, q.shape[tokens], options, args, kwargs)

    def along_trajectories(self, out, count: int, options: dict, args, kwargs):
        """The call's output with trajectory attention over its image tokens (CrossFrameAttention
        .along_trajectories), in the layout ComfyUI's kernel returned: (batch, tokens, heads x head_dim), or
        (batch, heads, tokens, head_dim) under skip_output_reshape."""
        trajectories = options[TRAJECTORY_KEY]
        heads = int(args[0] if args else kwargs.get("heads", 1))
        image = patch_tokens(trajectories.height, trajectories.width, self.image_patch)
        own = reference_token_count(options)
        if count < image + own:
            return out  # a call over the text tokens alone
        split = kwargs.get("skip_output_reshape") and out.ndim == 4
        flat = out.transpose(1, 2).reshape(out.shape[0], out.shape[2], -1) if split else out
        flat = self.patch.along_trajectories(flat, options, heads, count - own - image, image, self.image_patch)
        if split:
            return flat.reshape(out.shape[0], out.shape[2], out.shape[1], out.shape[3]).transpose(1, 2)
        return flat


class ReachGuard:
    """APPLY_MODEL wrapper: the first model call of each sampling run must reach the cross-frame patch, else the run
    stops with an error naming the cause instead of sampling plain frames (an override placed over ours that does
    call it now and then is CrossFrameOverride's own check). It also notes reference images' token counts where the
    model appends them without saying how many (``reference_patch``: their patch side; None: nothing to note).

    The patch is looked up in the call's own options (the attn1 patch list), not held: ComfyUI 0.3.75's clone
    deep-copies model_options (the patch with it) but not the wrappers."""

    def __init__(self, family: str, route: str, reference_patch: int | None = None):
        self.family = family
        self.route = route
        self.reference_patch = reference_patch
        self._run = None

    def __call__(self, executor, *args, **kwargs):
        options = kwargs.get("transformer_options")
        if options is None and len(args) > 5:
            options = args[5]
        if options is None:
            options = {}
        references = kwargs.get("ref_latents")
        if references and self.reference_patch and options.get(REFERENCE_TOKENS_KEY) is None:
            options[REFERENCE_TOKENS_KEY] = [patch_tokens(ref.shape[-2], ref.shape[-1], self.reference_patch)
                                             for ref in references]
        run = options.get("sample_sigmas")
        checked = self._run() if self._run is not None else None
        patch = cross_frame_in(options)
        if run is None or checked is run or patch is None:
            return executor(*args, **kwargs)
        before = patch.reached
        out = executor(*args, **kwargs)
        if patch.reached == before:
            hook = ("the attn1 patch list" if self.route == ROUTE_DIT_ATTN1
                    else "transformer_options['optimized_attention_override']")
            raise RuntimeError(
                f"Cross-Frame Attention (T2V-Zero) was applied to this {self.family} model but its attention never "
                f"reached it ({hook}): the frames would come out as plain, independent images. A node applied after "
                f"Cross-Frame Attention probably replaced the attention override or the model's blocks. {LAST_FIX}")
        self._run = weakref.ref(run)
        return out


class RunGuard:
    """OUTER_SAMPLE wrapper: refuses, before the sampler loads the model or takes a step, what this run's
    conditioning makes impossible: anchor first+previous on the attn1 route with an attention mask (a masked text
    encoder's, e.g. Chroma's T5 padding mask), which the doubled keys cannot extend."""

    def __init__(self, family: str):
        self.family = family

    def __call__(self, executor, *args, **kwargs):
        guider = getattr(executor, "class_obj", None)
        patch = find_cross_frame(getattr(guider, "model_options", {}) or {})
        if patch is not None and patch.anchor != ANCHOR_FIRST:
            for conds in (getattr(guider, "conds", None) or {}).values():
                if any(isinstance(c, dict) and c.get("attention_mask") is not None for c in conds or ()):
                    raise ValueError(
                        f"Cross-Frame Attention: anchor {patch.anchor!r} cannot extend this {self.family} model's "
                        f"attention mask (its conditioning carries one) to the doubled keys. Fix: set the "
                        f"Cross-Frame Attention node's anchor input to 'first'.")
        return executor(*args, **kwargs)


def install(model, patch, route: str):
    """Add a DiT route's hooks for ``patch`` to ``model`` (a clone the caller owns), replacing earlier ones (UNets
    need none: the attn1 patch is all)."""
    import comfy.patcher_extension  # noqa: PLC0415

    family = model_family(model)
    options = model.model_options.setdefault("transformer_options", {})
    previous = options.get(OVERRIDE_KEY)
    while isinstance(previous, CrossFrameOverride):  # re-patching replaces our override, keeps what it chained
        previous = previous.previous
    if route == ROUTE_ATTENTION_OVERRIDE or patch.along_flow:
        layout = anchor_layout(model)
        options[OVERRIDE_KEY] = CrossFrameOverride(patch, previous, family, swap=route == ROUTE_ATTENTION_OVERRIDE,
                                                   image_patch=layout.patch if layout is not None else 2)
    elif isinstance(options.get(OVERRIDE_KEY), CrossFrameOverride):
        if previous is None:
            del options[OVERRIDE_KEY]
        else:
            options[OVERRIDE_KEY] = previous
    wrappers = comfy.patcher_extension.WrappersMP
    model.remove_wrappers_with_key(wrappers.APPLY_MODEL, GUARD_KEY)
    model.add_wrapper_with_key(wrappers.APPLY_MODEL, GUARD_KEY, ReachGuard(family, route, reference_patch(model)))
    model.remove_wrappers_with_key(wrappers.OUTER_SAMPLE, RUN_GUARD_KEY)
    if route == ROUTE_DIT_ATTN1:
        model.add_wrapper_with_key(wrappers.OUTER_SAMPLE, RUN_GUARD_KEY, RunGuard(family))
    return model


def with_cross_frame(model, patch: CrossFrameAttention, route: str | None = None):
    """A clone of ``model`` (a ComfyUI ModelPatcher) carrying ``patch``; any earlier CrossFrameAttention is replaced,
    other attn1 patches (IPAdapter, PAG, ToMe...) are kept in order.

    The hook depends on the model's family (attention/families.py): UNets get the attn1 patch as always; Flux-style
    DiTs get it too (it answers their signature); the override route's families get the attention override, chained
    to any override already there. Any other family raises UnsupportedModelError here, before sampling, as does
    anchor first+previous where the family cannot take it.
    ``route`` forces a DiT's hook (tests: the override route a Flux takes on hosts without DiT attn1 patches).
    """
    import comfy.patcher_extension  # noqa: PLC0415

    natural = attention_route(model)
    route = natural if route is None or natural == ROUTE_UNET else route
    refusal = sparse_causal_refusal(model, route) if patch.anchor != ANCHOR_FIRST else None
    if refusal:
        raise ValueError(f"Cross-Frame Attention: anchor {patch.anchor!r} is not supported on {model_family(model)}: "
                         f"{refusal}. Fix: set the anchor input to 'first'.")
    refusal = trajectory_refusal(model) if patch.along_flow else None
    if refusal:
        raise ValueError(f"Cross-Frame Attention: attention along the flow is not supported on {model_family(model)}: "
                         f"{refusal}. Fix: turn attention along the flow off.")
    model = model.clone()
    patches = model.model_options.setdefault("transformer_options", {}).setdefault("patches", {})
    patches["attn1_patch"] = [p for p in patches.get("attn1_patch", []) if not isinstance(p, CrossFrameAttention)]
    patches["attn1_output_patch"] = [p for p in patches.get("attn1_output_patch", [])
                                     if not isinstance(getattr(p, "__self__", None), CrossFrameAttention)]
    model.set_model_attn1_patch(patch)
    if patch.along_flow and route == ROUTE_UNET:
        model.set_model_attn1_output_patch(patch.after_attention)
    model.remove_callbacks_with_key(comfy.patcher_extension.CallbacksMP.ON_CLEANUP, CLEANUP_KEY)
    model.add_callback_with_key(comfy.patcher_extension.CallbacksMP.ON_CLEANUP, CLEANUP_KEY, release_anchor_cache)
    if route != ROUTE_UNET:
        install(model, patch, route)
    return model


def with_trajectories(model, trajectories, along_flow: bool = True):
    """A clone of ``model`` sampling a video whose trajectories (attention/trajectory.py Trajectories, on the
    latent's grid) are ``trajectories``; with ``along_flow``, its cross-frame attention (the one it carries, else a
    new one with the reference's settings) also attends along them. Without ``along_flow`` the model is returned as
    it is."""
    if not along_flow:
        return model
    current = find_cross_frame(model.model_options)
    patch = CrossFrameAttention(**{**(current.settings() if current is not None else {}), "along_flow": True})
    model = with_cross_frame(model, patch)
    model.model_options["transformer_options"][TRAJECTORY_KEY] = trajectories
    return model
