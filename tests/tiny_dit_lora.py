"""Tiny random LoRAs for the tiny DiTs of tests/tiny_dit.py, in the diffusers / PEFT key format that trainers write for
Flux and SD3 (``transformer.<diffusers module>.lora_A.weight`` / ``.lora_B.weight``, ``.alpha``), which ComfyUI maps
onto its own weights (comfy/lora.py model_lora_keys_unet: comfy.utils.flux_to_diffusers, mmdit_to_diffusers) when
LoraLoaderModelOnly or comfy.sd.load_lora_for_models loads the file.

The module names below are written out from diffusers' FluxTransformer2DModel and SD3Transformer2DModel for the tiny
configurations, not read from ComfyUI's key map, so that a test can tell that the core loader maps every one of them.
On Flux, q, k and v of a block are three diffusers modules but one fused ComfyUI weight (qkv, linear1): the LoRA lands
on slices of it.
"""
from __future__ import annotations

import torch

from tiny_dit import FLUX_CONFIG
from tiny_models import _cached, models_dir

RANK = 4
SCALE = 0.3
"""lora_B's size: the LoRA's change to a weight is about SCALE times the weight's own (tiny_models.randomize_)."""


def lora_modules(kind: str) -> list[tuple[str, int, int]]:
    """(diffusers module, in_features, out_features) the tiny ``kind``'s LoRA adapts: every attention projection."""
    hidden = FLUX_CONFIG["hidden_size"] if kind.startswith("flux") else 128
    square = ("to_q", "to_k", "to_v", "to_out.0")
    joint = ("add_q_proj", "add_k_proj", "add_v_proj")
    if kind.startswith("flux"):
        double = [f"transformer_blocks.{i}.attn.{m}" for i in range(FLUX_CONFIG["depth"])
                  for m in square + joint + ("to_add_out",)]
        single = [f"single_transformer_blocks.{i}.attn.{m}" for i in range(FLUX_CONFIG["depth_single_blocks"])
                  for m in ("to_q", "to_k", "to_v")]
        mlp = int(hidden * FLUX_CONFIG["mlp_ratio"])
        outs = [(f"single_transformer_blocks.{i}.proj_out", hidden + mlp, hidden)
                for i in range(FLUX_CONFIG["depth_single_blocks"])]
        return [(m, hidden, hidden) for m in double + single] + outs
    depth = 2
    names = []
    for i in range(depth):
        names += [f"transformer_blocks.{i}.attn.{m}" for m in square + joint]
        if i < depth - 1:  # the last block's text stream ends at its attention (context_pre_only): no to_add_out
            names.append(f"transformer_blocks.{i}.attn.to_add_out")
    if kind == "sd35-medium":  # MMDiT-X's second, image-only attention, in block 0 (tiny_dit._sd3_config)
        names += [f"transformer_blocks.0.attn2.{m}" for m in square]
    return [(m, hidden, hidden) for m in names]


def tiny_dit_lora_state(kind: str, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, fan_in, fan_out in lora_modules(kind):
        key = f"transformer.{name}"
        state[f"{key}.lora_A.weight"] = torch.randn((RANK, fan_in), generator=generator) / fan_in ** 0.5
        state[f"{key}.lora_B.weight"] = SCALE * torch.randn((fan_out, RANK), generator=generator) / RANK ** 0.5
        state[f"{key}.alpha"] = torch.tensor(float(RANK))
    return state


def tiny_dit_lora_name(kind: str, seed: int = 0) -> str:
    return f"t2vz-tiny-{kind}-lora-{seed}.safetensors"


def tiny_dit_lora_file(kind: str, seed: int = 0):
    """Path of the tiny ``kind``'s LoRA under the host's models/loras folder (built once)."""
    import safetensors.torch  # noqa: PLC0415

    def build(tmp):
        safetensors.torch.save_file(tiny_dit_lora_state(kind, seed), str(tmp))

    return _cached(models_dir() / "loras" / tiny_dit_lora_name(kind, seed), build)
