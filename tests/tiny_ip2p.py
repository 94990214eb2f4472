"""Tiny random-weight Instruct-Pix2Pix models: the tiny SD1.5 ones with an 8-input-channel UNet (noisy latent +
the frame's latent), which ComfyUI detects as its SD15_instructpix2pix model."""
from __future__ import annotations

from pathlib import Path

import torch

from tiny_models import CHECKPOINT_UNET, TINY_UNET, _taesd_state, tiny_checkpoint, tiny_unet_patcher

IP2P_CHECKPOINT_NAME = "t2vz-tiny-ip2p-sd15.safetensors"
TINY_IP2P_UNET = dict(TINY_UNET, in_channels=8)
CHECKPOINT_IP2P_UNET = dict(CHECKPOINT_UNET, in_channels=8)


def tiny_ip2p_checkpoint() -> Path:
    """A checkpoint file the real CheckpointLoaderSimple loads as SD15_instructpix2pix (cached under the host)."""
    return tiny_checkpoint(IP2P_CHECKPOINT_NAME, seed=10, unet_config=CHECKPOINT_IP2P_UNET)


def tiny_ip2p_patcher(seed: int = 0):
    """In-process tiny IP2P model (ComfyUI's SD15_instructpix2pix model class, 32 channels, CPU, fp32)."""
    import comfy.supported_models  # noqa: PLC0415

    return tiny_unet_patcher(seed, unet_config=TINY_IP2P_UNET, base=comfy.supported_models.SD15_instructpix2pix)


def tiny_vae(seed: int = 2):
    """A ComfyUI VAE (TAESD architecture, random weights) as the tiny checkpoints carry."""
    import comfy.sd  # noqa: PLC0415

    state = {k.removeprefix("first_stage_model."): v for k, v in _taesd_state(seed).items()}
    return comfy.sd.VAE(sd=state)


def moving_square_frames(frames: int, height: int, width: int) -> torch.Tensor:
    """IMAGE frames (F, H, W, 3): a colour gradient with a white square moving right, so frames differ."""
    y = torch.linspace(0, 1, height)[:, None].expand(height, width)
    x = torch.linspace(0, 1, width)[None, :].expand(height, width)
    out = torch.stack([x, y, torch.full((height, width), 0.3)], dim=-1).repeat(frames, 1, 1, 1)
    side = max(2, min(height, width) // 4)
    for k in range(frames):
        left = (2 + 3 * k) % max(1, width - side)
        out[k, 2:2 + side, left:left + side] = 1.0
    return out


def write_video(path: Path, frames: torch.Tensor, fps: int = 4) -> Path:
    """An h264 .mp4 of IMAGE frames (for LoadVideo in server tests)."""
    import av  # noqa: PLC0415

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            array = (frame.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
