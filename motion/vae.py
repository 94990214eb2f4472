"""Frames through a ComfyUI VAE in bounded batches: the IMAGE <-> LATENT steps of the video nodes (Instruct-Pix2Pix
Video's input and output, Decode Video Part). Cancel is honoured between batches."""
from __future__ import annotations

import torch

VAE_CHUNK = 16
"""Frames per VAE call unless a node asks for another: bounds the VAE's activations, whatever the video's length."""


def encode_frames(vae, images: torch.Tensor, chunk: int = VAE_CHUNK) -> torch.Tensor:
    """LATENT samples of every frame, ``chunk`` frames per VAE call (Cancel is honoured between chunks).

    A video VAE (Qwen-Image's, Wan 2.1's: 3-D latents) would take a batch of images as one clip and compress its time;
    each frame is then encoded on its own, as the picture it is: (frames, channels, 1, height, width)."""
    import comfy.model_management  # noqa: PLC0415

    if getattr(vae, "latent_dim", 2) == 3 and not getattr(vae, "not_video", False):
        chunk = 1
    parts = []
    for start in range(0, images.shape[0], chunk):
        comfy.model_management.throw_exception_if_processing_interrupted()
        with torch.no_grad():
            parts.append(vae.encode(images[start:start + chunk, :, :, :3]).to(
                comfy.model_management.intermediate_device()))
    return torch.cat(parts, dim=0)


def decode_frames(vae, latents: torch.Tensor, chunk: int = VAE_CHUNK) -> torch.Tensor:
    """IMAGE frames of LATENT samples, ``chunk`` latents per VAE call (Cancel is honoured between chunks)."""
    import comfy.model_management  # noqa: PLC0415

    parts = []
    for start in range(0, latents.shape[0], chunk):
        comfy.model_management.throw_exception_if_processing_interrupted()
        with torch.no_grad():
            images = vae.decode(latents[start:start + chunk])
        if images.ndim == 5:  # video VAEs return (batch, time, h, w, c)
            images = images.reshape(-1, *images.shape[-3:])
        parts.append(images.to(comfy.model_management.intermediate_device()))
    return torch.cat(parts, dim=0)
