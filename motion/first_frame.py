"""Image-to-video: a given first frame that the video starts from.

Frame 0 is held to the given image's latent, noised to each step's sigma with frame 0's own noise, for the first
``round(strength * steps)`` steps of the schedule (ComfyUI's inpainting noise mask does the holding inside the joint
pass); after that it is denoised freely. So strength 1 keeps the image as frame 0, and strength s < 1 is img2img of
frame 0 with denoise 1 - s on the same schedule. The other frames come from frame 0's latent at the warp step exactly
as in text-to-video, and attend to frame 0, so they inherit the image's identity and background.
"""
from __future__ import annotations

import logging

import torch

log = logging.getLogger("t2v-zero")


def held_steps(strength: float, steps: int) -> int:
    """How many steps frame 0 stays the (noised) image: all of them at strength 1, none at 0."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"first_frame_strength must be between 0 and 1, got {strength}. Fix: 1 keeps the image as "
                         f"frame 0; lower values let the model change it (0.5 = img2img with denoise 0.5).")
    return steps if strength >= 1.0 else int(round(strength * steps))


def prepare_first_frame(first_frame: torch.Tensor, latent_shape: tuple[int, ...]) -> torch.Tensor:
    """The first frame as one (1, C, H, W) latent of the video's size.

    A size different from the video's is resized (bilinear, as ComfyUI's latent upscale) with a warning; several
    latents are refused, because which of them is meant (the first? the last, for a continuation?) is the user's call.
    """
    if not isinstance(first_frame, torch.Tensor) or first_frame.ndim != 4:
        shape = tuple(first_frame.shape) if isinstance(first_frame, torch.Tensor) else type(first_frame).__name__
        raise ValueError(f"first_frame must be a LATENT holding one image, shaped (1, channels, height, width); got "
                         f"{shape}. Fix: connect VAEEncode's output (Load Image -> VAE Encode).")
    if first_frame.shape[0] != 1:
        count = first_frame.shape[0]
        raise ValueError(f"first_frame holds {count} latents; it must be one image. Fix: pick one with Latent From "
                         f"Batch (batch_index {count - 1}, length 1 takes the last frame, which continues a clip).")
    channels, height, width = latent_shape[1:]
    if first_frame.shape[1] != channels:
        raise ValueError(f"first_frame has {first_frame.shape[1]} latent channels but the video's latent has "
                         f"{channels}: they come from different model families. Fix: encode the image with the VAE "
                         f"of the checkpoint that samples the video.")
    if not torch.isfinite(first_frame).all():
        raise ValueError("first_frame contains NaN or infinite values. Fix: check the VAE Encode that produced it "
                         "(an fp16 VAE can overflow: run it in fp32 or bf16).")
    if tuple(first_frame.shape[-2:]) != (height, width):
        log.warning("first_frame is %dx%d pixels (latent %dx%d), the video %dx%d (latent %dx%d): resizing the first "
                    "frame (bilinear). Encode an image of the video's size to avoid this.",
                    first_frame.shape[-1] * 8, first_frame.shape[-2] * 8, first_frame.shape[-1],
                    first_frame.shape[-2], width * 8, height * 8, width, height)
        first_frame = torch.nn.functional.interpolate(first_frame.float(), size=(height, width), mode="bilinear",
                                                      align_corners=False)
    return first_frame.float()
