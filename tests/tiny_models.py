"""Tiny random-weight models for tests and the demo, built deterministically from a seed.

No weights can be downloaded here, so the tests mock only that: the architectures are the real ones (ComfyUI's UNet,
ControlNet, CLIP and VAE classes, loaded through ComfyUI's own ModelPatcher and checkpoint loaders), with fewer
channels where ComfyUI's model detection allows it and random values instead of trained ones.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

TINY_UNET = {
    "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True, "legacy": False,
    "adm_in_channels": None, "in_channels": 4, "model_channels": 32, "num_res_blocks": [1, 1],
    "transformer_depth": [1, 1], "channel_mult": [1, 2], "transformer_depth_middle": 1,
    "use_linear_in_transformer": False, "context_dim": 64, "num_heads": 2, "num_head_channels": -1,
    "transformer_depth_output": [1, 1, 1, 1], "use_temporal_attention": False, "use_temporal_resblock": False,
}
"""An SD1.5-architecture UNet at 1/10 the width: two levels, one res block each, attention everywhere."""


def randomize_(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Fill every parameter from a seeded generator: weights ~ N(0, 1/fan_in), norms near 1, small biases.

    Default init would leave SD's zero-initialised output layers at zero (a UNet that outputs nothing); this gives
    every layer a say, so a test can tell a patch that works from one that does nothing.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(module.named_parameters(), key=lambda kv: kv[0]):
            draw = torch.randn(p.shape, generator=generator, dtype=torch.float32)
            if p.ndim == 0:
                continue  # scalars (e.g. TAESD's vae_scale) keep their meaning
            if p.ndim == 1 and ("norm" in name or name.endswith(".weight")):
                value = 1.0 + 0.1 * draw if ("norm" in name) else 0.02 * draw
            elif p.ndim == 1:
                value = 0.02 * draw
            else:
                fan_in = p[0].numel()
                value = draw / fan_in ** 0.5
            p.copy_(value.to(p.dtype))
    return module


def calibrate_unet_(unet: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Scale a random UNet's last conv so its eps prediction has unit spread, like a trained model's: otherwise
    the tiny model barely denoises and a sampler test could not tell steps apart."""
    cfg_ctx = next(m.attn2.to_k.in_features for m in unet.modules() if hasattr(m, "attn2"))
    generator = torch.Generator().manual_seed(seed + 7)
    x = torch.randn((2, unet.in_channels, 16, 16), generator=generator)
    context = torch.randn((2, 77, cfg_ctx), generator=generator)
    extra = {}
    if getattr(unet, "num_classes", None) is not None:  # SDXL-style: pooled text + size embedding
        extra["y"] = torch.randn((2, unet.label_emb[0][0].in_features), generator=generator)
    with torch.no_grad():
        spread = unet(x, torch.tensor([500.0, 500.0]), context=context, **extra).std()
        last = unet.out[-1]
        last.weight.mul_(1.0 / spread)
        last.bias.mul_(1.0 / spread)
    return unet


def tiny_model_config(unet_config: dict | None = None, base=None):
    import comfy.supported_models  # noqa: PLC0415

    base = base or comfy.supported_models.SD15
    cfg = dict(TINY_UNET if unet_config is None else unet_config)
    config = base(cfg)
    config.unet_config = cfg
    return config


def tiny_unet_patcher(seed: int = 0, unet_config: dict | None = None, base=None):
    """A ComfyUI ModelPatcher around a tiny SD1.5-architecture UNet with seeded random weights (CPU, fp32)."""
    import comfy.model_management  # noqa: PLC0415
    import comfy.model_patcher  # noqa: PLC0415

    config = tiny_model_config(unet_config, base)
    config.set_inference_dtype(torch.float32, None)
    model = config.get_model({})
    calibrate_unet_(randomize_(model.diffusion_model, seed), seed)
    model.diffusion_model.eval()
    device = comfy.model_management.get_torch_device()
    return comfy.model_patcher.ModelPatcher(model, load_device=device, offload_device=torch.device("cpu"))


def conditioning(seed: int, context_dim: int = 64, tokens: int = 77):
    """ComfyUI CONDITIONING holding one seeded random text embedding (stands in for CLIP's output)."""
    generator = torch.Generator().manual_seed(seed)
    return [[torch.randn((1, tokens, context_dim), generator=generator), {}]]


def diffusers_unet(patcher):
    """A diffusers UNet2DConditionModel carrying exactly the weights of a tiny ComfyUI UNet.

    Keys are mapped with ComfyUI's own comfy.utils.unet_to_diffusers (diffusers name -> ComfyUI name).
    """
    import comfy.utils  # noqa: PLC0415
    from diffusers import UNet2DConditionModel  # noqa: PLC0415

    cfg = patcher.model.model_config.unet_config
    levels = len(cfg["channel_mult"])
    per_level = cfg["num_res_blocks"][0]
    attention = [cfg["transformer_depth"][level * per_level] > 0 for level in range(levels)]
    down = tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attention)
    up = tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attention))
    unet = UNet2DConditionModel(
        sample_size=cfg.get("image_size", 32), in_channels=cfg["in_channels"], out_channels=cfg["out_channels"],
        layers_per_block=cfg["num_res_blocks"][0],
        block_out_channels=tuple(cfg["model_channels"] * m for m in cfg["channel_mult"]),
        down_block_types=down, up_block_types=up,
        cross_attention_dim=cfg["context_dim"], attention_head_dim=cfg["num_heads"], norm_num_groups=32,
    )
    source = patcher.model.diffusion_model.state_dict()
    mapping = comfy.utils.unet_to_diffusers(cfg)
    state = {k: source[v] for k, v in mapping.items() if v in source}
    unet.load_state_dict(state, strict=True)
    return unet.eval()


# --- checkpoint files for the real loaders (server and workflow tests, the demo) ---------------------------------

CHECKPOINT_UNET = dict(TINY_UNET, model_channels=320, context_dim=768, num_heads=8, channel_mult=[1],
                       num_res_blocks=[1], transformer_depth=[1], transformer_depth_output=[1, 1])
"""Smallest UNet the real CheckpointLoaderSimple still detects as SD1.5 (model_channels, context_dim, heads fixed)."""

GENERATOR_VERSION = "1"  # bump when what the generators write changes: cached files are rebuilt


def models_dir() -> Path:
    root = os.environ.get("T2VZ_HOST") or str(Path(__file__).resolve().parents[1] / ".host")
    return Path(root) / "models"


def _cached(path: Path, build) -> Path:
    stamp = path.with_suffix(path.suffix + ".v")
    if path.exists() and stamp.exists() and stamp.read_text() == GENERATOR_VERSION:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    build(tmp)
    os.replace(tmp, path)
    stamp.write_text(GENERATOR_VERSION)
    return path


def _clip_l_state(seed: int) -> dict:
    from transformers import CLIPTextConfig, CLIPTextModel  # noqa: PLC0415

    config = CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                            max_position_embeddings=77, vocab_size=49408, projection_dim=768, hidden_act="quick_gelu")
    torch.manual_seed(seed)
    model = CLIPTextModel(config)
    state = {}
    for k, v in model.state_dict().items():
        if k.endswith("position_ids"):
            continue
        state["cond_stage_model.transformer." + k] = v.to(torch.float8_e4m3fn) if v.ndim == 2 else v
    state["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(77).unsqueeze(0)
    return state


def _taesd_state(seed: int) -> dict:
    import comfy.taesd.taesd  # noqa: PLC0415

    vae = randomize_(comfy.taesd.taesd.TAESD(), seed)
    return {"first_stage_model." + k: v for k, v in vae.state_dict().items()}


def checkpoint_unet_state(seed: int, unet_config: dict) -> dict:
    import comfy.supported_models  # noqa: PLC0415

    config = comfy.supported_models.SD15(dict(unet_config))
    config.unet_config = dict(unet_config)
    model = config.get_model({})
    calibrate_unet_(randomize_(model.diffusion_model, seed), seed)
    return {"model.diffusion_model." + k: v for k, v in model.diffusion_model.state_dict().items()}


def tiny_checkpoint(name: str = "t2vz-tiny-sd15.safetensors", seed: int = 0, unet_config: dict | None = None) -> Path:
    """A small SD1.5 checkpoint the real CheckpointLoaderSimple accepts (random weights; cached under the host)."""
    import safetensors.torch  # noqa: PLC0415

    def build(tmp: Path):
        state = checkpoint_unet_state(seed, unet_config or CHECKPOINT_UNET)
        state.update(_clip_l_state(seed + 1))
        state.update(_taesd_state(seed + 2))
        safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))

    return _cached(models_dir() / "checkpoints" / name, build)


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- an AnimateDiff motion module (AnimateDiff-Evolved's loader) and a UNet it fits ---------------------------------

MOTION_UNET = dict(TINY_UNET, model_channels=320, context_dim=768, num_heads=8, channel_mult=[1, 2, 4],
                   num_res_blocks=[2, 2, 4], transformer_depth=[1, 1, 0, 0, 0, 0, 0, 0], transformer_depth_middle=-1,
                   transformer_depth_output=[0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1])
"""The smallest SD1.5-architecture UNet an SD1.5 AnimateDiff motion module injects into (592M parameters): its eight
down-block temporal modules have fixed widths 320, 320, 640, 640, 1280 x 4 and follow the first eight input blocks
that hold a res block; attention at the first level only, a middle block without attention (the module's ejection
walks it)."""

MOTION_MODULE_WIDTHS = (320, 640, 1280, 1280)  # per down block, two temporal modules each (AnimateDiff SD1.5)
MOTION_MODULE_FRAMES = 32  # positional encoding length; 32 makes ADE read it as AnimateDiff v3 (no GroupNorm hack)


def _temporal_module_shapes(prefix: str, width: int) -> dict[str, tuple[int, ...]]:
    """Key -> shape of one temporal transformer, in AnimateDiff's layout (one attention block)."""
    p, t = f"{prefix}.temporal_transformer.", f"{prefix}.temporal_transformer.transformer_blocks.0."
    a = t + "attention_blocks.0."
    return {p + "norm.weight": (width,), p + "norm.bias": (width,), p + "proj_in.weight": (width, width),
            p + "proj_in.bias": (width,), p + "proj_out.weight": (width, width), p + "proj_out.bias": (width,),
            a + "to_q.weight": (width, width), a + "to_k.weight": (width, width), a + "to_v.weight": (width, width),
            a + "to_out.0.weight": (width, width), a + "to_out.0.bias": (width,),
            a + "pos_encoder.pe": (1, MOTION_MODULE_FRAMES, width), t + "norms.0.weight": (width,),
            t + "norms.0.bias": (width,), t + "ff.net.0.proj.weight": (8 * width, width),
            t + "ff.net.0.proj.bias": (8 * width,), t + "ff.net.2.weight": (width, 4 * width),
            t + "ff.net.2.bias": (width,), t + "ff_norm.weight": (width,), t + "ff_norm.bias": (width,)}


def tiny_motion_module(name: str = "t2vz-tiny-mm-sd15.safetensors", seed: int = 0) -> Path:
    """An AnimateDiff SD1.5 motion module (down blocks only, random weights, fp16; 137M parameters) that
    AnimateDiff-Evolved's loader accepts, in <host>/models/animatediff_models (cached)."""
    import safetensors.torch  # noqa: PLC0415

    def build(tmp: Path):
        generator = torch.Generator().manual_seed(seed)
        state = {}
        for level, width in enumerate(MOTION_MODULE_WIDTHS):
            for module in range(2):
                shapes = _temporal_module_shapes(f"down_blocks.{level}.motion_modules.{module}", width)
                for key, shape in shapes.items():
                    draw = torch.randn(shape, generator=generator)
                    if key.endswith("pe"):
                        value = 0.1 * draw
                    elif len(shape) == 1:
                        value = (1.0 + 0.1 * draw) if "norm" in key else 0.02 * draw
                    else:
                        value = draw / shape[-1] ** 0.5
                    state[key] = value.to(torch.float16).contiguous()
        safetensors.torch.save_file(state, str(tmp))

    return _cached(models_dir() / "animatediff_models" / name, build)
