"""Cross-frame attention on diffusion transformers: which hook reaches a model's attention, and the hooks themselves.

ComfyUI offers three ways into a model's self-attention, one per architecture family:

- UNet (SD1.x, SD2.x, SDXL and their fine-tunes): the attn1 patch with the UNet signature, ``p(n, context, value,
  extra_options)``, in every BasicTransformerBlock (attention/cross_frame.py, unchanged).
- Flux-style DiTs (Flux, Flux 2, Chroma, Qwen-Image): the same attn1 patch list, called with another signature,
  ``p(q, k, v, pe=, attn_mask=, extra_options=) -> dict``, once per double and single block
  (CrossFrameAttention.dit_attn1).
- SD3 / SD3.5 (MMDiT, and MMDiT-X's second, image-only attention), Lumina 2 and Z-Image (NextDiT: the text-only
  context refiner, the image-only noise refiner and the joint layers) and HiDream (its double- and single-stream
  blocks' joint attention): no patch at all. The only thing every attention call sees is
  ``transformer_options["optimized_attention_override"]``, called as ``(func, q, k, v, heads, **kw)``. It is one
  slot: CrossFrameOverride keeps whatever override was there and calls it with the new keys and values.

Every other family is refused when the patch is applied (UnsupportedModelError), so that a model the pack cannot
reach fails before sampling instead of sampling plain frames or crashing on its first step.

Anchor first+previous doubles the keys: the override sees them after RoPE (SD3 has none), so that is all it takes;
on the attn1 route the patch rotates queries and keys itself and hands back ``pe=None`` (Flux, Chroma). Qwen-Image
rotates after the patch whatever it returns, so first+previous is refused there (sparse_causal_refusal).

On the DiT routes a guard (ReachGuard, an APPLY_MODEL wrapper) also checks that the first model call of each sampling
run did reach the patch: a later node that empties the override slot (ComfyUI's set_model_optimized_attention does
not chain) or bypasses the blocks would otherwise make cross-frame attention silently do nothing.
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Sequence

from .cross_frame import REFERENCE_TOKENS_KEY, cross_frame_in, keep_own_tokens, reference_token_count
from .host import module_calls_attn1_patch

ROUTE_UNET = "unet"
ROUTE_DIT_ATTN1 = "dit-attn1"
ROUTE_ATTENTION_OVERRIDE = "attention-override"

OVERRIDE_KEY = "optimized_attention_override"
"""transformer_options key of ComfyUI's attention override (comfy/ldm/modules/attention.py wrap_attn)."""

LAYER_COUNTER_KEY = "t2vz_attention_calls"
"""transformer_options key: self-attention calls so far in this model call, the layer key of a call that has no
block index (MMDiT's forward does not set one). ComfyUI copies transformer_options for every model call
(BaseModel._apply_model), so the count starts at 0 in each call and each frame chunk."""

GUARD_KEY = "t2v-zero.cross-frame-reached"

SUPPORTED = ("SD1.x, SD2.x and SDXL (UNet), Flux, Flux 2, Chroma and Qwen-Image, SD3 and SD3.5, Lumina 2, Z-Image "
             "and HiDream")

_NOT_YET = {  # families whose attention the override would reach, but which the pack has not been tested on
    "HiDreamO1", "ZImagePixelSpace", "AuraFlow", "PixArt", "HunyuanDiT", "Omnigen2",
}
_VIDEO_PREFIXES = ("WAN", "Hunyuan", "LTXV", "LTXAV", "GenmoMochi", "Cosmos", "SVD", "SV3D")


_ATTN1_DITS = (  # (network classes, the module whose blocks would call the DiT attn1 patch)
    (("comfy.ldm.flux.model:Flux", "comfy.ldm.chroma.model:Chroma"), "comfy.ldm.flux.layers"),
    (("comfy.ldm.qwen_image.model:QwenImageTransformer2DModel",), "comfy.ldm.qwen_image.model"),
)

_OVERRIDE_DITS = (  # networks whose every self-attention call hands transformer_options to ComfyUI's attention
    "comfy.ldm.modules.diffusionmodules.mmdit:MMDiT",  # SD3, SD3.5
    "comfy.ldm.lumina.model:NextDiT",  # Lumina 2, Z-Image (Z-Image pixel space subclasses it: in _NOT_YET)
    "comfy.ldm.hidream.model:HiDreamImageTransformer2DModel",  # HiDream I1
)


class UnsupportedModelError(ValueError):
    """Cross-frame attention cannot reach this model's attention."""


def _classes(*paths: str) -> tuple[type, ...]:
    """The classes at ``module:Name`` paths that this ComfyUI has (older hosts lack some families)."""
    import importlib  # noqa: PLC0415

    found = []
    for path in paths:
        module, name = path.split(":")
        try:
            cls = getattr(importlib.import_module(module), name, None)
        except ImportError:
            cls = None
        if isinstance(cls, type):
            found.append(cls)
    return tuple(found)


def model_family(model) -> str:
    """The ComfyUI model class's name (SD3, Flux, HiDream, WAN21...), which is what users know the family by."""
    base = getattr(model, "model", model)
    return type(base).__name__


def attention_route(model) -> str:
    """Which hook reaches ``model``'s self-attention (a ComfyUI ModelPatcher): ROUTE_UNET, ROUTE_DIT_ATTN1 or
    ROUTE_ATTENTION_OVERRIDE. Raises UnsupportedModelError, naming the family and what to use, for any other."""
    base = getattr(model, "model", None)
    network = getattr(base, "diffusion_model", None)
    if network is not None:
        if isinstance(network, _classes("comfy.ldm.modules.diffusionmodules.openaimodel:UNetModel")):
            return ROUTE_UNET
        for classes, blocks in _ATTN1_DITS:
            if isinstance(network, _classes(*classes)):
                # ComfyUI 0.33 calls the DiT attn1 patch in these blocks; older hosts do not, and there the override
                # reaches the same attention (after RoPE, which changes nothing: all frames share positions)
                return ROUTE_DIT_ATTN1 if module_calls_attn1_patch(blocks) else ROUTE_ATTENTION_OVERRIDE
        if isinstance(network, _classes(*_OVERRIDE_DITS)) and model_family(model) not in _NOT_YET:
            return ROUTE_ATTENTION_OVERRIDE
    family = model_family(model) if base is not None else type(model).__name__
    network_name = type(network).__name__ if network is not None else "no diffusion_model"
    if family in _NOT_YET:
        why = "the pack does not support it yet (its attention is reachable, but untested)"
    elif family.startswith(_VIDEO_PREFIXES):
        why = ("it is a video model with temporal attention of its own, which Text2Video-Zero's frame-0 attention "
               "would fight; sample video with it directly")
    else:
        why = "the pack has no hook into its attention"
    raise UnsupportedModelError(
        f"Cross-Frame Attention (T2V-Zero) cannot patch a {family} model ({network_name}): {why}. It supports "
        f"{SUPPORTED}. Fix: load one of those checkpoints, or remove the Cross-Frame Attention node (and the "
        f"Motion Latent Sampler, which applies it) from this model's path.")


def sparse_causal_refusal(model, route: str) -> str | None:
    """Why anchor first+previous (keys of frame 0 and of the previous frame, concatenated) cannot run on ``model``
    through ``route``, None when it can. The override sees keys after RoPE (SD3 has none), so longer keys are fine;
    the attn1 route rotates them itself, which Qwen-Image's blocks undo by rotating after the patch."""
    if route != ROUTE_DIT_ATTN1:
        return None
    network = getattr(getattr(model, "model", None), "diffusion_model", None)
    if isinstance(network, _classes("comfy.ldm.qwen_image.model:QwenImageTransformer2DModel")):
        return ("Qwen-Image applies RoPE to the keys after every attention patch, one position per query, so the "
                "previous frame's keys cannot be added")
    return None


class CrossFrameOverride:
    """``optimized_attention_override`` for MMDiT (SD3, SD3.5): each self-attention call's keys and values become
    their chunk's anchor frame's (CrossFrameAttention.cross_frame_states; first+previous: the anchor's and the
    previous frame's, concatenated: twice the keys), then the call goes on to the override that was in the slot
    before (``previous``), else to ComfyUI's own kernel (``func``).

    A call whose keys have another token count or batch than its queries is cross-attention and passes untouched.
    Tokens sit in dim 2 when the call says skip_reshape (Flux on older hosts), else in dim 1.
    """

    def __init__(self, patch, previous=None):
        self.patch = patch
        self.previous = previous

    def __call__(self, func, q, k, v, *args, **kwargs):
        options = kwargs.get("transformer_options")
        # layouts: (batch, heads, tokens, head_dim) with skip_reshape, else (batch, tokens, channels) or
        # (batch, tokens, heads, head_dim): MMDiT hands its queries and keys in the first, its values in the second
        tokens = 2 if kwargs.get("skip_reshape") else 1
        if (options is not None and tokens < min(q.ndim, k.ndim, v.ndim) and q.shape[0] == k.shape[0]
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
        if self.previous is not None:
            return self.previous(func, q, k, v, *args, **kwargs)
        return func(q, k, v, *args, **kwargs)


class ReachGuard:
    """APPLY_MODEL wrapper: the first model call of each sampling run must reach the cross-frame patch, else the
    run stops with an error naming the cause instead of sampling plain frames.

    The patch is looked up in the call's own options (the attn1 patch list), not held: ComfyUI 0.3.75's clone
    deep-copies model_options (the patch with it) but not the wrappers."""

    def __init__(self, family: str, route: str):
        self.family = family
        self.route = route
        self._run = None

    def __call__(self, executor, *args, **kwargs):
        options = kwargs.get("transformer_options")
        if options is None and len(args) > 5:
            options = args[5]
        options = options or {}
        note_reference_tokens(options, kwargs.get("ref_latents"))
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
                f"Cross-Frame Attention probably replaced the attention override or the model's blocks. Fix: put "
                f"Cross-Frame Attention last, right before the sampler.")
        self._run = weakref.ref(run)
        return out


def note_reference_tokens(options: dict, references) -> None:
    """Puts the token count of each reference image (Kontext's, Qwen-Image-Edit's ``ref_latents``) into the call's
    options where the model does not (ComfyUI before 0.33 leaves it out), so that cross-frame attention keeps every
    frame's own reference tokens (attention/cross_frame.py keep_own_tokens). Flux and Qwen-Image cut latents into
    2x2 patches, padding odd sides."""
    if not references or options.get(REFERENCE_TOKENS_KEY) is not None:
        return
    options[REFERENCE_TOKENS_KEY] = [math.ceil(ref.shape[-2] / 2) * math.ceil(ref.shape[-1] / 2) for ref in references]


def install(model, patch, route: str):
    """Add a DiT route's hooks for ``patch`` to ``model`` (a clone the caller owns), replacing earlier ones (UNets
    need none: the attn1 patch is all)."""
    import comfy.patcher_extension  # noqa: PLC0415

    options = model.model_options.setdefault("transformer_options", {})
    previous = options.get(OVERRIDE_KEY)
    while isinstance(previous, CrossFrameOverride):  # re-patching replaces our override, keeps what it chained
        previous = previous.previous
    if route == ROUTE_ATTENTION_OVERRIDE:
        options[OVERRIDE_KEY] = CrossFrameOverride(patch, previous)
    elif isinstance(options.get(OVERRIDE_KEY), CrossFrameOverride):
        if previous is None:
            del options[OVERRIDE_KEY]
        else:
            options[OVERRIDE_KEY] = previous
    model.remove_wrappers_with_key(comfy.patcher_extension.WrappersMP.APPLY_MODEL, GUARD_KEY)
    model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.APPLY_MODEL, GUARD_KEY,
                               ReachGuard(model_family(model), route))
    return model


# --- the anchor cache's size -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AnchorLayout:
    """What the anchor cache keeps of one frame of one conditioning on a DiT, read from the network's structure: every
    self-attention call keeps its keys and values (``channels`` wide each: heads x head_dim) for all its tokens.

    joint_layers: calls over the text (and register) tokens and the image tokens (Flux's double and single blocks,
        MMDiT's joint blocks, Qwen-Image's blocks); image_layers: calls over the image tokens only (MMDiT-X's second
        attention); patch: latent pixels per token side (ComfyUI pads the latent to it); extra_tokens: tokens every
        joint call adds (MMDiT's register tokens)."""

    family: str
    joint_layers: int
    image_layers: int
    channels: int
    patch: int
    extra_tokens: int = 0

    def image_tokens(self, height: int, width: int) -> int:
        return math.ceil(height / self.patch) * math.ceil(width / self.patch)


FLUX1 = AnchorLayout("Flux", joint_layers=19 + 38, image_layers=0, channels=3072, patch=2)
"""Flux.1 dev / schnell: 19 double and 38 single blocks of 3072 channels (24 heads of 128)."""


def anchor_cache_bytes(layout: AnchorLayout, height: int, width: int, text_tokens: Sequence[int], element_size: int,
                       frames_kept: int = 1) -> int:
    """Bytes of the anchor cache while a step's frame chunks or context windows run: for each conditioning (one entry
    of ``text_tokens``: its text tokens) and attention layer, the keys and values of ``frames_kept`` frames (1: frame
    0; 2 for anchor first+previous: frame 0 and the previous call's last frame) at a ``height`` x ``width`` latent.

    2 x frames_kept x sum over conds of (joint_layers x (image + extra + text) + image_layers x image) x channels
    x element_size. The one formula: the memory check before sampling and bench/dit_bench.py both use it."""
    image = layout.image_tokens(height, width)
    tokens = sum(layout.joint_layers * (image + layout.extra_tokens + int(t)) + layout.image_layers * image
                 for t in text_tokens)
    return 2 * frames_kept * tokens * layout.channels * element_size


def anchor_layout(model) -> AnchorLayout | None:
    """The anchor cache's layout for ``model`` (a ModelPatcher) on a DiT route; None for a UNet (its cache is frame
    0's hidden states, a few tens of MB at most) or a network the pack does not know."""
    network = getattr(getattr(model, "model", None), "diffusion_model", None)
    if network is None:
        return None
    family = model_family(model)

    def patch_of(value) -> int:
        return int(value[-1] if isinstance(value, (tuple, list)) else value)

    if isinstance(network, _classes("comfy.ldm.flux.model:Flux", "comfy.ldm.chroma.model:Chroma")):
        return AnchorLayout(family, len(network.double_blocks) + len(network.single_blocks), 0,
                            int(network.hidden_size), patch_of(network.patch_size))
    if isinstance(network, _classes("comfy.ldm.qwen_image.model:QwenImageTransformer2DModel")):
        return AnchorLayout(family, len(network.transformer_blocks), 0, int(network.inner_dim),
                            patch_of(network.patch_size))
    if isinstance(network, _classes("comfy.ldm.modules.diffusionmodules.mmdit:MMDiT")):
        blocks = list(network.joint_blocks)
        second = sum(1 for b in blocks if getattr(b.x_block, "x_block_self_attn", False))
        return AnchorLayout(family, len(blocks), second, int(network.hidden_size), patch_of(network.patch_size),
                            int(getattr(network, "register_length", 0) or 0))
    return None


def inference_element_size(model) -> int:
    """Bytes per element of the keys and values the model's attention computes (its compute dtype: bf16 for a bf16 or
    fp8 Flux, whatever the weights' storage)."""
    import torch  # noqa: PLC0415

    base = model.model
    if hasattr(base, "get_dtype_inference"):
        dtype = base.get_dtype_inference()
    else:  # ComfyUI 0.3.75
        dtype = getattr(base, "manual_cast_dtype", None) or base.get_dtype()
    return torch.empty((), dtype=dtype).element_size()
