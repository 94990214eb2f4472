"""The model families cross-frame attention knows: one table says, for each, which hook reaches its self-attention,
what the anchor cache keeps of a frame (its size), where reference images' tokens sit, and what users call it.

A family routed without a layout cannot be sized, so the table holds both (Family checks it). Everything a node says
about supported models (tooltips, errors) is written from this table.

Routes:
- ROUTE_UNET (SD1.x, SD2.x, SDXL): the attn1 patch with the UNet signature, in every BasicTransformerBlock.
- ROUTE_DIT_ATTN1 (Flux, Flux 2, Chroma, Qwen-Image): the same attn1 patch list, called with the DiT signature, once
  per block; on hosts whose blocks call no attn1 patch the override below reaches the same attention.
- ROUTE_ATTENTION_OVERRIDE (SD3 / SD3.5, Lumina 2, Z-Image, HiDream): ComfyUI's ``optimized_attention_override``,
  the one thing every attention call sees.
Video models (SVD, Wan, ...) and families the pack has not been tested on are refused by name before any routing: an
SVD network is a UNet subclass whose temporal attention the UNet route would otherwise patch.

Stands below attention/cross_frame.py and attention/dit.py: it imports neither.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import math
from dataclasses import dataclass
from typing import Callable, Sequence

from .host import module_calls_attn1_patch

ROUTE_UNET = "unet"
ROUTE_DIT_ATTN1 = "dit-attn1"
ROUTE_ATTENTION_OVERRIDE = "attention-override"

REFERENCES_NONE = "none"
"""The model takes no reference images as tokens (or, as Chroma's forward, ignores them)."""
REFERENCES_LAST = "last"
"""Each reference image's tokens are appended after the frame's image tokens, every call (Flux.1 Kontext, Flux 2,
Qwen-Image-Edit): a frame keeps its own (attention/cross_frame.py keep_own_tokens)."""

REFERENCE_TOKENS_KEY = "reference_image_num_tokens"
"""transformer_options key: how many tokens each reference image appends to every frame's image tokens. ComfyUI 0.33's
Flux and Qwen-Image write it themselves; ReachGuard writes it where the model does not (older hosts)."""


class UnsupportedModelError(ValueError):
    """Cross-frame attention cannot reach this model's attention."""


def patch_tokens(height: int, width: int, patch: int) -> int:
    """Tokens of a ``height`` x ``width`` latent cut into ``patch`` x ``patch`` patches (odd sides padded, as ComfyUI's
    DiTs pad them)."""
    return math.ceil(int(height) / patch) * math.ceil(int(width) / patch)


@dataclass(frozen=True)
class AnchorLayout:
    """What the anchor cache keeps of one frame of one conditioning on a DiT, read from the network's structure: every
    self-attention call keeps its keys and values (``channels`` wide each: heads x head_dim) for all its tokens.

    joint_layers: calls over the text (and register) tokens and the image tokens (Flux's double and single blocks,
        MMDiT's joint blocks, Qwen-Image's blocks, NextDiT's layers, HiDream's blocks); image_layers: calls over the
        image tokens only (MMDiT-X's second attention, NextDiT's noise refiner); text_layers: calls over the text
        tokens only (NextDiT's context refiner); patch: latent pixels per token side (ComfyUI pads the latent to it);
        extra_tokens: tokens every joint call adds (MMDiT's register tokens); pad_multiple: text and image tokens are
        each padded to a multiple of it (Z-Image's pad tokens); references: reference images' tokens join the joint
        calls (REFERENCES_LAST families)."""

    family: str
    joint_layers: int
    image_layers: int
    channels: int
    patch: int
    extra_tokens: int = 0
    text_layers: int = 0
    pad_multiple: int = 1
    references: bool = False

    def padded(self, tokens: int) -> int:
        return -(-int(tokens) // self.pad_multiple) * self.pad_multiple

    def image_tokens(self, height: int, width: int) -> int:
        return self.padded(patch_tokens(height, width, self.patch))

    def reference_tokens(self, shapes: Sequence[Sequence[int]]) -> int:
        """Tokens the reference latents of ``shapes`` (each ..., height, width) add to a frame's joint calls."""
        if not self.references:
            return 0
        return sum(patch_tokens(s[-2], s[-1], self.patch) for s in shapes)


FLUX1 = AnchorLayout("Flux", joint_layers=19 + 38, image_layers=0, channels=3072, patch=2, references=True)
"""Flux.1 dev / schnell / Kontext: 19 double and 38 single blocks of 3072 channels (24 heads of 128)."""

FLUX1_TEXT_TOKENS = 256
"""Text tokens of a Flux.1 conditioning in ComfyUI: its T5-XXL pads the prompt to 256 (longer prompts take more)."""


def anchor_cache_bytes(layout: AnchorLayout, height: int, width: int, text_tokens: Sequence[int], element_size: int,
                       frames_kept: int = 1, reference_tokens: Sequence[int] = ()) -> int:
    """Bytes of the anchor cache while a step's frame chunks or context windows run: for each conditioning (one entry
    of ``text_tokens``: its text tokens; ``reference_tokens``, where given: its reference images' tokens) and
    attention layer, the keys and values of ``frames_kept`` frames (1: frame 0; 2 for anchor first+previous: frame 0
    and the previous call's last frame) at a ``height`` x ``width`` latent.

    2 x frames_kept x sum over conds of (joint x (image + refs + extra + text) + image_layers x image + text_layers x
    text) x channels x element_size. The one formula: the memory check before sampling and bench/dit_bench.py both
    use it."""
    image = layout.image_tokens(height, width)
    refs = list(reference_tokens) + [0] * (len(text_tokens) - len(reference_tokens))
    tokens = 0
    for text, ref in zip(text_tokens, refs):
        text = layout.padded(int(text))
        tokens += (layout.joint_layers * (image + int(ref) + layout.extra_tokens + text)
                   + layout.image_layers * image + layout.text_layers * text)
    return 2 * frames_kept * tokens * layout.channels * element_size


# --- the layouts, read from each network --------------------------------------------------------------------------

def _patch_of(value) -> int:
    return int(value[-1] if isinstance(value, (tuple, list)) else value)


def _flux_layout(label: str, network, references: bool) -> AnchorLayout:
    return AnchorLayout(label, len(network.double_blocks) + len(network.single_blocks), 0, int(network.hidden_size),
                        _patch_of(network.patch_size), references=references)


def _qwen_layout(label: str, network) -> AnchorLayout:
    return AnchorLayout(label, len(network.transformer_blocks), 0, int(network.inner_dim),
                        _patch_of(network.patch_size), references=True)


def _mmdit_layout(label: str, network) -> AnchorLayout:
    blocks = list(network.joint_blocks)
    second = sum(1 for b in blocks if getattr(b.x_block, "x_block_self_attn", False))
    return AnchorLayout(label, len(blocks), second, int(network.hidden_size), _patch_of(network.patch_size),
                        int(getattr(network, "register_length", 0) or 0))


def _nextdit_layout(label: str, network) -> AnchorLayout:
    # keys reach the override after GQA's repeat: every call is n_heads x head_dim = dim wide
    return AnchorLayout(label, len(network.layers), len(network.noise_refiner), int(network.dim),
                        _patch_of(network.patch_size), text_layers=len(network.context_refiner),
                        pad_multiple=int(getattr(network, "pad_tokens_multiple", None) or 1))


def _hidream_layout(label: str, network) -> AnchorLayout:
    return AnchorLayout(label, len(network.double_stream_blocks) + len(network.single_stream_blocks), 0,
                        int(network.inner_dim), _patch_of(network.patch_size))


def _text_tokens(embedding, options) -> int:
    return int(embedding.shape[1])


def _hidream_text_tokens(embedding, options) -> int:
    """HiDream's joint calls see the T5 tokens, the last Llama layer's and the block's own Llama layer's."""
    llama = (options or {}).get("conditioning_llama3")
    return int(embedding.shape[1]) + (2 * int(llama.shape[-2]) if llama is not None else 0)


@dataclass(frozen=True)
class Family:
    """One row of the table. networks: ``module:Class`` of the diffusion network (the first row whose class the
    model's network is an instance of is its family); blocks: the module whose blocks call the attn1 patch (ROUTE_
    DIT_ATTN1; where this host's do not, the override reaches the same attention); layout(label, network): the
    anchor cache's layout (None only for UNets, whose cache is frame 0's hidden states, tens of MB); text_tokens(
    embedding, options): text tokens of one conditioning in a joint call; sparse_causal_refusal: why anchor
    first+previous cannot run on the attn1 route, if it cannot; image_last: each joint call's image tokens come last
    (before any reference tokens), where trajectory attention finds them (text first: Flux, Chroma, Qwen-Image, MMDiT;
    a UNet's calls are image tokens only)."""

    label: str
    networks: tuple[str, ...]
    route: str
    layout: Callable | None
    blocks: str | None = None
    references: str = REFERENCES_NONE
    text_tokens: Callable = _text_tokens
    sparse_causal_refusal: str | None = None
    image_last: bool = True

    def __post_init__(self):
        if self.route != ROUTE_UNET and self.layout is None:
            raise ValueError(f"{self.label}: a DiT family needs a layout (its anchor cache must be sized)")


FAMILIES = (
    Family("SD1.x, SD2.x and SDXL (UNet)", ("comfy.ldm.modules.diffusionmodules.openaimodel:UNetModel",), ROUTE_UNET,
           None),
    # Chroma's forward swallows ref_latents: it takes no references, whatever the conditioning carries
    Family("Chroma", ("comfy.ldm.chroma.model:Chroma",), ROUTE_DIT_ATTN1,
           lambda label, n: _flux_layout(label, n, False), "comfy.ldm.flux.layers"),
    Family("Flux (Flux.1, Kontext, Flux 2)", ("comfy.ldm.flux.model:Flux",), ROUTE_DIT_ATTN1,
           lambda label, n: _flux_layout(label, n, True), "comfy.ldm.flux.layers", REFERENCES_LAST),
    Family("Qwen-Image (and -Edit)", ("comfy.ldm.qwen_image.model:QwenImageTransformer2DModel",), ROUTE_DIT_ATTN1,
           _qwen_layout, "comfy.ldm.qwen_image.model", REFERENCES_LAST,
           sparse_causal_refusal="Qwen-Image applies RoPE to the keys after every attention patch, one position per "
                                 "query, so the previous frame's keys cannot be added"),
    Family("SD3 and SD3.5", ("comfy.ldm.modules.diffusionmodules.mmdit:MMDiT",), ROUTE_ATTENTION_OVERRIDE,
           _mmdit_layout),
    Family("Lumina 2 and Z-Image", ("comfy.ldm.lumina.model:NextDiT",), ROUTE_ATTENTION_OVERRIDE, _nextdit_layout,
           image_last=False),
    Family("HiDream", ("comfy.ldm.hidream.model:HiDreamImageTransformer2DModel",), ROUTE_ATTENTION_OVERRIDE,
           _hidream_layout, text_tokens=_hidream_text_tokens, image_last=False),
)

SUPPORTED = ", ".join(f.label for f in FAMILIES[:-1]) + " and " + FAMILIES[-1].label
"""The supported families in words, for tooltips and errors."""

_NOT_YET = {  # ComfyUI model classes whose attention the override would reach, but which the pack has not tested
    "HiDreamO1", "ZImagePixelSpace", "AuraFlow", "PixArt", "HunyuanDiT", "Omnigen2",
}
_VIDEO_PREFIXES = ("WAN", "Hunyuan", "LTXV", "LTXAV", "GenmoMochi", "Cosmos", "SVD", "SV3D")
"""ComfyUI model classes of video models: their own temporal attention would fight frame-0 attention."""

_NAMES = {  # ComfyUI's model configs (comfy/supported_models.py) by the names users know them by
    "SD15": "SD1.5", "SD15_instructpix2pix": "SD1.5 Instruct-Pix2Pix", "SD20": "SD2.x", "SD21UnclipL": "SD2.1 unCLIP",
    "SD21UnclipH": "SD2.1 unCLIP", "SDXL": "SDXL", "SDXLRefiner": "SDXL refiner", "SSD1B": "SSD-1B",
    "Segmind_Vega": "Segmind Vega", "SDXL_instructpix2pix": "SDXL Instruct-Pix2Pix", "SD3": "SD3 / SD3.5",
    "Flux": "Flux.1", "FluxSchnell": "Flux.1 schnell", "Flux2": "Flux 2", "Chroma": "Chroma",
    "QwenImage": "Qwen-Image", "Lumina2": "Lumina 2", "ZImage": "Z-Image", "HiDream": "HiDream",
    "SVD_img2vid": "Stable Video Diffusion", "SV3D_u": "SV3D", "SV3D_p": "SV3D",
}


def _classes(*paths: str) -> tuple[type, ...]:
    """The classes at ``module:Name`` paths that this ComfyUI has (older hosts lack some families)."""
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
    """The ComfyUI model class's name (SD3, Flux, HiDream, WAN21...), which is how families are refused by name."""
    base = getattr(model, "model", model)
    return type(base).__name__


def model_name(model) -> str:
    """What users call the model they loaded ("SD1.5", "Flux.1 schnell", "Chroma"), from ComfyUI's model config; the
    model class's name where the config is not one the pack knows."""
    base = getattr(model, "model", model)
    config = type(getattr(base, "model_config", None)).__name__
    return _NAMES.get(config) or _NAMES.get(type(base).__name__) or type(base).__name__


def family_of(model) -> Family | None:
    """The table's row for ``model`` (a ComfyUI ModelPatcher), None for a model the pack cannot patch (video models,
    families not tested yet, anything else)."""
    base = getattr(model, "model", None)
    network = getattr(base, "diffusion_model", None)
    if network is None or model_family(model) in _NOT_YET or model_family(model).startswith(_VIDEO_PREFIXES):
        return None
    for family in FAMILIES:
        if isinstance(network, _classes(*family.networks)):
            return family
    return None


def attention_route(model) -> str:
    """Which hook reaches ``model``'s self-attention (a ComfyUI ModelPatcher): ROUTE_UNET, ROUTE_DIT_ATTN1 or
    ROUTE_ATTENTION_OVERRIDE. Raises UnsupportedModelError, naming the family and what to use, for any other."""
    family = family_of(model)
    if family is not None:
        if family.route == ROUTE_DIT_ATTN1 and not module_calls_attn1_patch(family.blocks):
            # older hosts' blocks call no attn1 patch: the override reaches the same attention (after RoPE, which
            # changes nothing: all frames share positions)
            return ROUTE_ATTENTION_OVERRIDE
        return family.route
    base = getattr(model, "model", None)
    network = getattr(base, "diffusion_model", None)
    name = model_family(model) if base is not None else type(model).__name__
    network_name = type(network).__name__ if network is not None else "no diffusion_model"
    if name in _NOT_YET:
        why = "the pack does not support it yet (its attention is reachable, but untested)"
    elif name.startswith(_VIDEO_PREFIXES):
        why = ("it is a video model with temporal attention of its own, which Text2Video-Zero's frame-0 attention "
               "would fight; sample video with it directly")
    else:
        why = "the pack has no hook into its attention"
    raise UnsupportedModelError(
        f"Cross-Frame Attention (T2V-Zero) cannot patch a {name} model ({network_name}): {why}. It supports "
        f"{SUPPORTED}. Fix: load one of those checkpoints, or remove the Cross-Frame Attention node (and the "
        f"Motion Latent Sampler, which applies it) from this model's path.")


def sparse_causal_refusal(model, route: str) -> str | None:
    """Why anchor first+previous (keys of frame 0 and of the previous frame, concatenated) cannot run on ``model``
    through ``route``, None when it can. The override sees keys after RoPE, so longer keys are fine there; the attn1
    route rotates them itself, which some families' blocks undo."""
    family = family_of(model)
    if route != ROUTE_DIT_ATTN1 or family is None:
        return None
    return family.sparse_causal_refusal


def anchor_layout(model) -> AnchorLayout | None:
    """The anchor cache's layout for ``model`` (a ModelPatcher) on a DiT route; None for a UNet (its cache is frame
    0's hidden states, a few tens of MB at most) or a model the pack cannot patch."""
    family = family_of(model)
    if family is None or family.layout is None:
        return None
    return family.layout(model_family(model), model.model.diffusion_model)


def conditioning_text_tokens(model, embedding, options) -> int:
    """Text tokens one conditioning (``embedding``, its ``options``) puts into each joint attention call of
    ``model``."""
    family = family_of(model)
    return (family.text_tokens if family is not None else _text_tokens)(embedding, options)


@functools.lru_cache(maxsize=None)
def module_reports_reference_tokens(module_name: str) -> bool:
    """Whether the network module ``module_name`` writes the reference tokens' count into transformer_options itself
    (ComfyUI 0.33's Flux and Qwen-Image do): read from its source, the feature itself."""
    try:
        return REFERENCE_TOKENS_KEY in inspect.getsource(importlib.import_module(module_name))
    except (ImportError, OSError, TypeError):
        return False


def reference_patch(model) -> int | None:
    """Latent pixels per reference token side where the pack must count ``model``'s reference tokens itself: the
    model appends them after the image tokens but does not report their count (older hosts). None where nothing is to
    be counted: a model that reports its own count, or one that takes no references (Chroma ignores them) or places
    them elsewhere (Lumina 2 / Z-Image put them first: there every frame reads frame 0's, which are its own whenever
    all frames share one reference)."""
    family = family_of(model)
    if family is None or family.references != REFERENCES_LAST:
        return None
    network = model.model.diffusion_model
    if module_reports_reference_tokens(type(network).__module__):
        return None
    return _patch_of(getattr(network, "patch_size", 2))


def trajectory_refusal(model) -> str | None:
    """Why trajectory attention cannot run on ``model``, None when it can: it must find each call's image tokens."""
    family = family_of(model)
    if family is None or family.image_last:
        return None
    return (f"{family.label} puts its image tokens among the text tokens of an attention call, where trajectory "
            f"attention cannot find them")


def takes_references(model) -> bool:
    """Whether ``model`` reads reference images as tokens of every frame (an editing model's input)."""
    family = family_of(model)
    return family is not None and family.references == REFERENCES_LAST


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
