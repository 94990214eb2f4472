"""Tiny random-weight diffusion transformers (Flux dev, Flux schnell, SD3, SD3.5-Medium-style MMDiT-X) as files that
ComfyUI's own loader (comfy.sd.load_diffusion_model, what UNETLoader calls) detects, built deterministically from a
seed and cached under the host's models folder like tests/tiny_models.py's checkpoints.

Sizes are the smallest the detection allows: Flux reads its head count as hidden_size / sum(axes_dim) with axes_dim
fixed at 16 + 56 + 56, so hidden 128 gives one head of 128 channels; its context and pooled widths come from the
weights (txt_in, vector_in), so the tiny model takes 32-wide text tokens instead of T5's 4096. SD3 reads its depth
(and head count) as hidden / 64: depth 2, hidden 128. Conditioning is fed directly as seeded tensors (no text
encoders).
"""
from __future__ import annotations

import torch

from tiny_models import _cached, models_dir, randomize_

CONTEXT_DIM = 32
POOLED_DIM = 32
SD3_CONTEXT_DIM = 64
SD3_POOLED_DIM = 48

FLUX_CONFIG = {
    "image_model": "flux", "axes_dim": [16, 56, 56], "num_heads": 1, "mlp_ratio": 4.0, "theta": 10000,
    "out_channels": 16, "qkv_bias": True, "txt_ids_dims": [], "in_channels": 16, "hidden_size": 128,
    "context_in_dim": CONTEXT_DIM, "patch_size": 2, "vec_in_dim": POOLED_DIM, "depth": 1, "depth_single_blocks": 1,
    "yak_mlp": False, "txt_norm": False,
}
"""What comfy/model_detection.py reads from the tiny Flux's weights (checked by the tests: every weight loads)."""


def _sd3_config(x_block_self_attn: bool) -> dict:
    return {
        "in_channels": 16, "patch_size": 2, "out_channels": 16, "depth": 2, "input_size": None,
        "adm_in_channels": SD3_POOLED_DIM,
        "context_embedder_config": {"target": "torch.nn.Linear",
                                    "params": {"in_features": SD3_CONTEXT_DIM, "out_features": 128}},
        "num_patches": 16 * 16, "pos_embed_max_size": 16, "pos_embed_scaling_factor": None,
        "x_block_self_attn_layers": [0] if x_block_self_attn else [],
        **({"qk_norm": "rms"} if x_block_self_attn else {}),
    }


def _flux_state(seed: int, guidance: bool) -> dict:
    import comfy.supported_models  # noqa: PLC0415

    base = comfy.supported_models.Flux if guidance else comfy.supported_models.FluxSchnell
    cfg = dict(FLUX_CONFIG, guidance_embed=guidance)
    config = base(cfg)
    config.unet_config = cfg
    config.set_inference_dtype(torch.float32, None)
    network = randomize_(config.get_model({}).diffusion_model, seed)
    return network.state_dict()


def _sd3_state(seed: int, x_block_self_attn: bool) -> dict:
    import comfy.supported_models  # noqa: PLC0415

    cfg = _sd3_config(x_block_self_attn)
    config = comfy.supported_models.SD3(cfg)
    config.unet_config = cfg
    config.set_inference_dtype(torch.float32, None)
    network = randomize_(config.get_model({}).diffusion_model, seed)
    with torch.no_grad():  # left uninitialised by the model (filled from the checkpoint in real use)
        generator = torch.Generator().manual_seed(seed + 11)
        network.pos_embed.copy_(0.5 * torch.randn(network.pos_embed.shape, generator=generator))
    return network.state_dict()


BUILDERS = {
    "flux-dev": lambda seed: _flux_state(seed, guidance=True),
    "flux-schnell": lambda seed: _flux_state(seed, guidance=False),
    "sd3": lambda seed: _sd3_state(seed, x_block_self_attn=False),
    "sd35-medium": lambda seed: _sd3_state(seed, x_block_self_attn=True),
}


def tiny_dit_file(kind: str, seed: int = 0):
    """Path of the tiny ``kind`` model (a bare diffusion-model safetensors, like models/diffusion_models files)."""
    import safetensors.torch  # noqa: PLC0415

    def build(tmp):
        state = BUILDERS[kind](seed)
        safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))

    return _cached(models_dir() / "diffusion_models" / f"t2vz-tiny-{kind}-{seed}.safetensors", build)


def load_tiny_dit(kind: str, seed: int = 0):
    """The tiny model through ComfyUI's real loader (comfy.sd.load_diffusion_model, as UNETLoader), fp32."""
    import comfy.sd  # noqa: PLC0415

    return comfy.sd.load_diffusion_model(str(tiny_dit_file(kind, seed)), model_options={"dtype": torch.float32})


def conditioning(kind: str, seed: int, tokens: int = 8, guidance: float = 3.5):
    """CONDITIONING for a tiny DiT: seeded text tokens and pooled vector (standing in for the text encoders)."""
    generator = torch.Generator().manual_seed(seed)
    if kind.startswith("flux"):
        extra = {"pooled_output": torch.randn((1, POOLED_DIM), generator=generator)}
        if kind == "flux-dev":
            extra["guidance"] = guidance
        return [[torch.randn((1, tokens, CONTEXT_DIM), generator=generator), extra]]
    return [[torch.randn((1, tokens, SD3_CONTEXT_DIM), generator=generator),
             {"pooled_output": torch.randn((1, SD3_POOLED_DIM), generator=generator)}]]
