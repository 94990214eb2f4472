"""Tiny random-weight Flux ControlNets, as files that ComfyUI's own ControlNetLoader (comfy.controlnet.load_controlnet)
detects and loads, built deterministically from a seed and cached under the host's models/controlnet folder.

The architecture is ComfyUI's own comfy.ldm.flux.controlnet.ControlNetFlux with the tiny Flux dev's sizes
(tests/tiny_dit.py: hidden 128, one head, 32-wide text), in the three layouts the loader tells apart:

- ``xlabs``: XLabs-AI's layout (ComfyUI key names, a pixel-space hint block, double blocks only);
- ``mistoline``: TheMistoAI's MistoLine (its own hint block and SiLU'd control projections, single blocks named
  ``single_controlnet_blocks``);
- ``instantx`` / ``instantx-union``: InstantX's diffusers layout (``transformer_blocks``, ``controlnet_x_embedder``),
  latent-space hints (the control images go through the VAE), the union one with a control-mode embedding.

The control projections (zero-initialised in an untrained ControlNet) get small random values, so a hint that reaches
the transformer changes the image, without swamping the tiny model's own features.
"""
from __future__ import annotations

from pathlib import Path

import torch

from tiny_dit import FLUX_CONFIG
from tiny_models import _cached, models_dir, randomize_

FORMATS = ("xlabs", "mistoline", "instantx", "instantx-union")
LATENT_FORMATS = ("instantx", "instantx-union")
"""The formats whose hints are latents: they need a VAE (VideoControlNetApply's vae input)."""
UNION_MODES = 10  # InstantX's union ControlNet: canny, tile, depth, blur, pose, gray, low quality (and spare rows)
CONTROL_SCALE = 0.2
"""Shrinks the random control projections: the tiny model still denoises, visibly steered."""

_SHAPES = {  # (double blocks, single blocks) of each layout, as small as the layouts come
    "xlabs": (1, 0), "mistoline": (1, 1), "instantx": (1, 1), "instantx-union": (1, 1),
}


BUILDER_VERSION = 1  # part of the file name: bump when what control_state writes changes (cached files are rebuilt)


def control_name(kind: str, seed: int) -> str:
    return f"t2vz-tiny-flux-controlnet-{kind}-{seed}-v{BUILDER_VERSION}.safetensors"


def control_model(kind: str, seed: int = 4):
    """The comfy.ldm.flux.controlnet.ControlNetFlux behind a ``kind`` file (fp32, CPU), seeded random weights."""
    import comfy.ldm.flux.controlnet  # noqa: PLC0415
    import comfy.ops  # noqa: PLC0415

    if kind not in FORMATS:
        raise ValueError(f"kind must be one of {FORMATS}, got {kind!r}")
    depth, single = _SHAPES[kind]
    cfg = dict(FLUX_CONFIG, guidance_embed=True, depth=depth, depth_single_blocks=single)
    extra = {}
    if kind in LATENT_FORMATS:
        extra = {"latent_input": True, "control_latent_channels": cfg["in_channels"],
                 "num_union_modes": UNION_MODES if kind == "instantx-union" else 0}
    model = comfy.ldm.flux.controlnet.ControlNetFlux(mistoline=kind == "mistoline", dtype=torch.float32,
                                                     device="cpu", operations=comfy.ops.disable_weight_init,
                                                     **extra, **cfg)
    randomize_(model, seed)
    with torch.no_grad():
        for block in [*model.controlnet_blocks, *model.controlnet_single_blocks]:
            for p in block.parameters():
                p.mul_(CONTROL_SCALE)
    return model.eval()


def _diffusers_keys(state: dict, depth: int, single: int) -> dict:
    """A ComfyUI-named Flux ControlNet state in InstantX's diffusers names: the transformer's keys through ComfyUI's
    own map (comfy.utils.flux_to_diffusers: diffusers name -> ComfyUI name, slice of a fused weight, transform), the
    ControlNet's own keys as diffusers names them."""
    import comfy.utils  # noqa: PLC0415

    mapping = comfy.utils.flux_to_diffusers({"depth": depth, "depth_single_blocks": single,
                                             "hidden_size": FLUX_CONFIG["hidden_size"]}, output_prefix="")
    out = {}
    for name, target in mapping.items():
        key, offset, transform = (target, None, None) if isinstance(target, str) else \
            (target[0], target[1], target[2] if len(target) > 2 else None)
        if key not in state or key.startswith("pos_embed_input."):
            continue  # the map also names other variants' keys (final layer, fused projections)
        weight = state[key] if offset is None else state[key].narrow(offset[0], offset[1], offset[2])
        out[name] = (transform(weight) if transform is not None else weight).clone()
    for key, value in state.items():
        if key.startswith(("controlnet_blocks.", "controlnet_single_blocks.", "controlnet_mode_embedder.")):
            out[key] = value
    out["controlnet_x_embedder.weight"] = state["pos_embed_input.weight"]
    out["controlnet_x_embedder.bias"] = state["pos_embed_input.bias"]
    return out


def control_state(kind: str, seed: int = 4) -> dict:
    """The ``kind`` file's tensors, laid out as the published checkpoints of that format are."""
    model = control_model(kind, seed)
    state = model.state_dict()
    if kind in LATENT_FORMATS:
        return _diffusers_keys(state, *_SHAPES[kind])
    # Black Forest Labs' names, which the XLabs and MistoLine files keep and ComfyUI's loader looks for (it renames
    # the QK-norm ``scale`` to ``weight`` itself)
    out = {(k[:-len(".weight")] + ".scale" if k.endswith("_norm.weight") else k): v for k, v in state.items()}
    if kind == "mistoline":
        out = {k.replace("controlnet_single_blocks.", "single_controlnet_blocks.", 1): v for k, v in out.items()}
    return out


def tiny_flux_controlnet_file(kind: str = "xlabs", seed: int = 4) -> Path:
    """Path of the tiny ``kind`` Flux ControlNet (a safetensors in <host>/models/controlnet, cached)."""
    import safetensors.torch  # noqa: PLC0415

    def build(tmp: Path):
        safetensors.torch.save_file({k: v.contiguous() for k, v in control_state(kind, seed).items()}, str(tmp))

    return _cached(models_dir() / "controlnet" / control_name(kind, seed), build)


def load_tiny_flux_controlnet(kind: str = "xlabs", seed: int = 4):
    """The tiny ``kind`` ControlNet through ComfyUI's real loader (what ControlNetLoader calls), fp32."""
    import comfy.controlnet  # noqa: PLC0415

    return comfy.controlnet.load_controlnet(str(tiny_flux_controlnet_file(kind, seed)),
                                            model_options={"dtype": torch.float32})


def tiny_flux_vae(seed: int = 6):
    """A comfy.sd.VAE with Flux's 16 latent channels: ComfyUI's TAESD architecture (what it loads for taef1), seeded
    random weights, built in-process (the latent-space ControlNets encode their hints with it)."""
    import comfy.sd  # noqa: PLC0415
    import comfy.taesd.taesd  # noqa: PLC0415

    network = randomize_(comfy.taesd.taesd.TAESD(latent_channels=16), seed)
    vae = comfy.sd.VAE(sd=network.state_dict())
    vae.first_stage_model.float()
    return vae
