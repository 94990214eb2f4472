"""Tiny random-weight ControlNets, built deterministically from a seed (no weights can be downloaded here).

The architecture is ComfyUI's own ControlNet class (comfy.cldm.cldm.ControlNet) with the UNet configuration of the
tiny models in tiny_models.py, so the file loads through the real ControlNetLoader and pairs with the tiny SD1.5
checkpoint. Weights are random; the zero convolutions (zero in an untrained ControlNet) get random values too, so a
test can tell a hint that reached the UNet from one that did not.
"""
from __future__ import annotations

from pathlib import Path

import torch

from tiny_models import CHECKPOINT_UNET, TINY_UNET, _cached, models_dir, randomize_

CONTROLNET_NAME = "t2vz-tiny-controlnet-sd15.safetensors"
ZERO_CONV_SCALE = 0.2
"""Keeps the random residuals well below the UNet's own features: the tiny model still denoises, visibly steered."""


def control_model(seed: int = 3, unet_config: dict | None = None):
    """A comfy.cldm.cldm.ControlNet (fp32, CPU) matching ``unet_config`` (default: the tiny in-process UNet)."""
    import comfy.cldm.cldm  # noqa: PLC0415
    import comfy.ops  # noqa: PLC0415

    config = dict(TINY_UNET if unet_config is None else unet_config)
    config.pop("out_channels", None)
    model = comfy.cldm.cldm.ControlNet(hint_channels=3, dtype=torch.float32, device="cpu",
                                       operations=comfy.ops.disable_weight_init, **config)
    randomize_(model, seed)
    with torch.no_grad():
        for zero_conv in [*model.zero_convs, model.middle_block_out]:
            for p in zero_conv.parameters():
                p.mul_(ZERO_CONV_SCALE)
    return model.eval()


def tiny_control_net(seed: int = 3, unet_config: dict | None = None):
    """What ControlNetLoader returns (a comfy.controlnet.ControlNet), built in-process around control_model()."""
    import comfy.controlnet  # noqa: PLC0415
    import comfy.model_management  # noqa: PLC0415

    return comfy.controlnet.ControlNet(control_model(seed, unet_config),
                                       load_device=comfy.model_management.get_torch_device())


def tiny_controlnet(name: str = CONTROLNET_NAME, seed: int = 3) -> Path:
    """A ControlNet file for the tiny SD1.5 checkpoint (CHECKPOINT_UNET), laid out like the stock
    control_v11p_sd15_*.pth files ("control_model." keys), cached under the host's models/controlnet."""
    import safetensors.torch  # noqa: PLC0415

    def build(tmp: Path):
        model = control_model(seed, CHECKPOINT_UNET)
        state = {"control_model." + k: v.contiguous() for k, v in model.state_dict().items()}
        safetensors.torch.save_file(state, str(tmp))

    return _cached(models_dir() / "controlnet" / name, build)
