"""Random-weight Chroma, Qwen-Image and Lumina 2 (and Z-Image) diffusion models as files that ComfyUI's own loader
(comfy.sd.load_diffusion_model, what UNETLoader calls) detects, built deterministically from a seed and cached under
the host's models folder like tests/tiny_dit.py's; HiDream, whose detection admits no small model, built directly.

Each file is the smallest that the host's model detection (comfy/model_detection.py) accepts. Detection reads only a
few things from these families' weights and fixes the rest, so none of them can be as narrow as tests/tiny_dit.py's
Flux; the builders ask the host's detection for its config (from a few zero tensors in the detected keys' shapes) and
build that model, so the file is what the same host's loader rebuilds:

- Chroma: the width (hidden_size) comes from img_in, but the modulation approximator's output is fixed at 3072, so
  the blocks are 3072 wide too (24 heads of 128); the approximator itself is fixed (5 layers of 5120). One double and
  one single block, 32-wide text tokens: 0.62B parameters, most of them the approximator's.
- Qwen-Image: detection reads only the input width and the block count; 3072 channels (24 heads of 128) and 3584-wide
  text tokens (Qwen2.5-VL's) are fixed. One block: 0.38B parameters.
- Lumina 2: the width comes from cap_embedder; 2304 is the one width with a head layout that fits Lumina 2's rotary
  embedding (24 heads of 96, 8 key/value heads), and the two context-refiner and two noise-refiner blocks are fixed.
  One main block, 32-wide text tokens: 0.42B parameters.
- Z-Image: Lumina 2 at 3840 channels (30 heads of 128), with its pad tokens. One main block plus the four refiner
  blocks: 0.90B parameters; built only by the tests that ask for it.
- HiDream: detection fixes the whole 17B configuration (16 double and 32 single blocks of 2560 with mixture-of-experts
  feed-forwards, Llama-3.1 features of 48 layers), so no small HiDream file loads; tiny_hidream_patcher builds the same
  architecture at 2 heads of 64 directly (not through the loader).

The files are stored in bfloat16, as such checkpoints ship (half the disk); the tests load them in float32. Norm
weights of Chroma are saved under Flux's checkpoint names (``.scale``), as real Chroma files have them, so the same
file loads on hosts whose blocks name them ``.weight`` (0.33, which renames on load) and ``.scale`` (0.3.75).
Conditioning is fed directly as seeded tensors (no text encoders).
"""
from __future__ import annotations

import torch

from tiny_models import _cached, models_dir, randomize_

LATENT_CHANNELS = 16
CONTEXT_DIM = 32
QWEN_CONTEXT_DIM = 3584  # fixed by Qwen-Image's architecture (its text encoder's width)


def _chroma_probe() -> dict:
    z = torch.zeros
    return {"img_in.weight": z(3072, 64), "txt_in.weight": z(3072, CONTEXT_DIM),
            "double_blocks.0.img_attn.norm.key_norm.scale": z(128), "single_blocks.0.norm.key_norm.scale": z(128),
            "distilled_guidance_layer.norms.0.scale": z(5120)}


def _qwen_image_probe() -> dict:
    z = torch.zeros
    return {"txt_norm.weight": z(QWEN_CONTEXT_DIM), "img_in.weight": z(3072, 64), "proj_out.weight": z(64, 3072),
            "transformer_blocks.0.img_mod.1.weight": z(1)}


def _lumina_probe(dim: int, pad_tokens: bool = False) -> dict:
    z = torch.zeros
    head = {2304: 96, 3840: 128}[dim]
    probe = {"cap_embedder.1.weight": z(dim, CONTEXT_DIM), "noise_refiner.0.attention.k_norm.weight": z(head),
             "layers.0.attention.qkv.weight": z(1)}
    if pad_tokens:
        probe["cap_pad_token"] = z(1, dim)
    return probe


PROBES = {
    "chroma": _chroma_probe,
    "qwen-image": _qwen_image_probe,
    "lumina2": lambda: _lumina_probe(2304),
    "z-image": lambda: _lumina_probe(3840, pad_tokens=True),
}
"""What each tiny model's detection reads (zeros in the real keys' shapes): the host's loader derives the same config
from the finished file."""

FAMILY = {"chroma": "Chroma", "qwen-image": "QwenImage", "lumina2": "Lumina2", "z-image": "ZImage"}
"""The host's model config class (comfy/supported_models.py) each file must be detected as."""


def host_model_config(kind: str):
    """The host's model config (comfy.supported_models class, its unet_config from the host's detection) for
    ``kind``; None when this host's detection does not accept it."""
    import comfy.model_detection  # noqa: PLC0415

    return comfy.model_detection.model_config_from_unet(PROBES[kind](), "")


def refusal(kind: str) -> str | None:
    """Why no tiny ``kind`` loads on this host (None: it does)."""
    config = host_model_config(kind)
    if config is None:
        return f"this ComfyUI's model detection does not detect a {FAMILY[kind]} model"
    if type(config).__name__ != FAMILY[kind]:
        return f"this ComfyUI detects the tiny {kind} as {type(config).__name__}, not {FAMILY[kind]}"
    return None


def _checkpoint_names(network: torch.nn.Module, state: dict) -> dict:
    """Norm weights under the names Flux-family checkpoints give them (``.scale``): every RMSNorm's weight."""
    norms = {name for name, module in network.named_modules() if type(module).__name__ == "RMSNorm"}
    out = {}
    for key, value in state.items():
        owner, _, leaf = key.rpartition(".")
        out[f"{owner}.scale" if owner in norms and leaf == "weight" else key] = value
    return out


def _state(kind: str, seed: int) -> dict:
    config = host_model_config(kind)
    reason = refusal(kind)
    if reason:
        raise RuntimeError(reason)
    config.set_inference_dtype(torch.float32, None)
    network = randomize_(config.get_model({}).diffusion_model, seed)
    state = network.state_dict()
    if kind == "chroma":
        state = _checkpoint_names(network, state)
    return state


def tiny_family_name(kind: str, seed: int = 0) -> str:
    return f"t2vz-tiny-{kind}-{seed}.safetensors"


def tiny_family_file(kind: str, seed: int = 0):
    """Path of the tiny ``kind`` model (a bare diffusion-model safetensors in bfloat16, as models/diffusion_models
    files are)."""
    import safetensors.torch  # noqa: PLC0415

    def build(tmp):
        state = _state(kind, seed)
        safetensors.torch.save_file({k: v.to(torch.bfloat16).contiguous() for k, v in state.items()}, str(tmp))

    return _cached(models_dir() / "diffusion_models" / tiny_family_name(kind, seed), build)


def load_tiny_family(kind: str, seed: int = 0):
    """The tiny model through ComfyUI's real loader (comfy.sd.load_diffusion_model, as UNETLoader), float32."""
    import comfy.sd  # noqa: PLC0415

    return comfy.sd.load_diffusion_model(str(tiny_family_file(kind, seed)), model_options={"dtype": torch.float32})


def checkpoint_key(kind: str, key: str, file_keys) -> str:
    """The file's name for a loaded model's state-dict key (Chroma's norms: ``.scale`` in the file)."""
    if key in file_keys:
        return key
    if key.endswith(".weight"):
        scale = key[: -len(".weight")] + ".scale"
        if scale in file_keys:
            return scale
    return key


def conditioning(kind: str, seed: int, tokens: int = 8):
    """CONDITIONING for a tiny model: seeded text tokens of the width the model takes (standing in for the text
    encoder); HiDream's also carries its pooled vector and Llama-3.1 features (tiny_hidream_patcher's widths)."""
    generator = torch.Generator().manual_seed(seed)
    if kind == "hidream":
        return [[torch.randn((1, tokens, HIDREAM_TEXT_DIM), generator=generator),
                 {"pooled_output": torch.randn((1, HIDREAM_POOLED_DIM), generator=generator),
                  "conditioning_llama3": torch.randn((1, HIDREAM_LLAMA_LAYERS, tokens, HIDREAM_TEXT_DIM),
                                                     generator=generator)}]]
    width = QWEN_CONTEXT_DIM if kind == "qwen-image" else CONTEXT_DIM
    # Chroma's text encoder (T5 alone) gives no pooled vector: its conditioning says so (0.3.75's Flux base reads it)
    extra = {"pooled_output": None} if kind == "chroma" else {}
    return [[torch.randn((1, tokens, width), generator=generator), extra]]


# --- HiDream: its architecture at a small size, built directly (its detection fixes the full-size configuration) ----

HIDREAM_TEXT_DIM = 32
HIDREAM_POOLED_DIM = 24
HIDREAM_LLAMA_LAYERS = 3

HIDREAM_CONFIG = {
    "image_model": "hidream", "attention_head_dim": 64, "axes_dims_rope": [32, 16, 16],
    "caption_channels": [HIDREAM_TEXT_DIM, HIDREAM_TEXT_DIM], "max_resolution": [128, 128], "in_channels": 16,
    "llama_layers": [0, 1, 2], "num_attention_heads": 2, "num_routed_experts": 4, "num_activated_experts": 2,
    "num_layers": 1, "num_single_layers": 1, "out_channels": 16, "patch_size": 2, "text_emb_dim": HIDREAM_POOLED_DIM,
}
"""HiDream-I1's layout (double-stream then single-stream blocks, each given one Llama layer's features; routed
mixture-of-experts feed-forwards; rotary embedding over 3 axes) at 2 heads of 64, one block of each kind."""


def tiny_hidream_patcher(seed: int = 0):
    """A ModelPatcher around the small HiDream (HIDREAM_CONFIG, seeded random weights, float32, CPU), built with the
    host's own supported_models.HiDream and model_base.HiDream; None where this host has no HiDream."""
    import comfy.model_management  # noqa: PLC0415
    import comfy.model_patcher  # noqa: PLC0415
    import comfy.supported_models  # noqa: PLC0415

    base = getattr(comfy.supported_models, "HiDream", None)
    if base is None:
        return None
    config = base(dict(HIDREAM_CONFIG))
    config.unet_config = dict(HIDREAM_CONFIG)
    config.set_inference_dtype(torch.float32, None)
    model = config.get_model({})
    randomize_(model.diffusion_model, seed).eval()
    return comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=torch.device("cpu"))
