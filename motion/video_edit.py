"""Video editing's shared steps, whatever model edits: which source frames, their sizes, the sigma schedule, the
noise (one x_T for every frame, and frame-shared per-step noise, or fresh noise per frame), and the sampling run.

Text2Video-Zero's Video Instruct-Pix2Pix (motion/instruct_pix2pix.py) and reference editing with Flux.1 Kontext /
Qwen-Image-Edit (motion/reference_edit.py) are two guidance variants over these steps: each builds its guider, this
module samples it.
"""
from __future__ import annotations

import logging

import torch

from ..attention import Trajectories, with_trajectories
from .flow_noise import SourceMotion, video_trajectories
from .parts import Part, video_part
from .sampler import (NOISE_FLOW, NOISE_INDEPENDENT, NOISE_SHARED, Progress, check_latent, check_part_anchor,
                      check_pass_memory, initial_noise, joint_sampler, mode_sampler, noise_patch, video_model)

EDIT_NOISE_MODES = (NOISE_SHARED, NOISE_FLOW, NOISE_INDEPENDENT)

log = logging.getLogger("t2v-zero")


def select_frames(images: torch.Tensor, start: int = 0, end: int = -1, every_nth: int = 1) -> torch.Tensor:
    """Frames start..end (inclusive; -1: the last frame), every ``every_nth`` one, of an IMAGE batch."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[0] < 1:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"frames must be an IMAGE batch (frames, height, width, channels) with at least one frame, "
                         f"got {shape}. Fix: connect Get Video Components' images (or a video loader's IMAGE).")
    count = images.shape[0]
    if every_nth < 1:
        raise ValueError(f"every_nth must be >= 1, got {every_nth}. Fix: 1 keeps every frame, 2 every other one.")
    if not 0 <= start < count:
        raise ValueError(f"start_frame {start} is outside the video's {count} frames (0..{count - 1}). Fix: set "
                         f"start_frame between 0 and {count - 1}.")
    last = count - 1 if end < 0 else end
    if last < start:
        raise ValueError(f"end_frame {end} is before start_frame {start}. Fix: set end_frame >= start_frame, or -1 "
                         f"for the last frame.")
    if last >= count:
        log.warning("t2v-zero video edit: end_frame %d is past the video's last frame (%d); using %d.",
                    end, count - 1, count - 1)
        last = count - 1
    return images[start:last + 1:every_nth]


def fit_frames(images: torch.Tensor, multiple: int = 8) -> torch.Tensor:
    """The frames resized (bilinear) to the nearest multiple of ``multiple`` in each side, with a warning when that
    changes them: the VAE and the model need it (core's InstructPixToPixConditioning crops instead, losing the
    edges; a DiT would pad the latent but not its reference)."""
    import comfy.utils  # noqa: PLC0415

    height, width = images.shape[1:3]
    new_h = max(multiple, int(round(height / multiple)) * multiple)
    new_w = max(multiple, int(round(width / multiple)) * multiple)
    if (new_h, new_w) == (height, width):
        return images
    log.warning("t2v-zero video edit: frames are %dx%d (width x height), not a multiple of %d; resized to %dx%d.",
                width, height, multiple, new_w, new_h)
    resized = comfy.utils.common_upscale(images.movedim(-1, 1), new_w, new_h, "bilinear", "disabled")
    return resized.movedim(1, -1).clamp(0.0, 1.0)


def edit_sigmas(model, steps: int, sampler_name: str, scheduler: str) -> torch.Tensor:
    """The sigma schedule KSampler would use for ``steps`` steps of ``sampler_name`` / ``scheduler``."""
    import comfy.samplers  # noqa: PLC0415

    return comfy.samplers.KSampler(model, steps=steps, device="cpu", sampler=sampler_name,
                                   scheduler=scheduler).sigmas.float().cpu()


def sampler_for(sampler_name: str, noise_mode: str, rows, trajectories: Trajectories | None = None, patch: int = 1):
    """ComfyUI's sampler object for a batch of the global frames ``rows`` (motion/sampler.py mode_sampler), after
    checking the name."""
    import comfy.samplers  # noqa: PLC0415

    if sampler_name not in comfy.samplers.SAMPLER_NAMES:
        raise ValueError(f"sampler {sampler_name!r} is not one of ComfyUI's samplers. Fix: pick one from the list "
                         f"(the reference uses euler_ancestral).")
    return mode_sampler(sampler_name, noise_mode, rows, trajectories, patch)


def edit_setup(model, sources: torch.Tensor, sampler_name: str, noise_mode: str, part: Part | None,
               frames_per_chunk: int = 0, positive=None, negative=None, cfg: float = 1.0,
               motion: SourceMotion | None = None, along_flow: bool = False):
    """(part, sampler, joint model, trajectories or None) of an edit of the frames whose latents are ``sources``,
    after checking them: the whole video when ``part`` is None. The joint model runs the frames ``frames_per_chunk``
    at a time (0: all), attends along the source's trajectories with ``along_flow`` (``motion``: the source's flow),
    and is refused before sampling where its frame chunks cannot fit next to the anchor cache of the conditionings
    a step evaluates (``positive``, and ``negative`` unless ``cfg`` is 1; DiTs only: a UNet's cache is small)."""
    if noise_mode not in EDIT_NOISE_MODES:
        raise ValueError(f"noise_mode must be one of {EDIT_NOISE_MODES}, got {noise_mode!r}")
    # a video VAE's picture latents (Qwen-Image) carry a time axis of one: (frames, channels, 1, height, width)
    check_latent(sources[:, :, 0] if sources.ndim == 5 and sources.shape[2] == 1 else sources)
    part = part or video_part(sources.shape[0], 0, 1)
    if sources.shape[0] != len(part.rows):
        raise ValueError(f"{part.describe()} needs the latents of frames {part.rows}, got {sources.shape[0]}")
    check_part_anchor(model, part)
    follows = noise_mode == NOISE_FLOW or along_flow
    trajectories = video_trajectories(motion, part.frames, *sources.shape[-2:], follows, "frames")
    joint = video_model(with_trajectories(model, trajectories, along_flow), frames_per_chunk, part)
    if positive is not None:
        check_pass_memory(joint, model, len(part.rows), (sources.shape[1], *sources.shape[-2:]), positive, negative,
                          cfg)
    sampler = joint_sampler(sampler_for(sampler_name, noise_mode, part.rows, trajectories,
                                        noise_patch(model, *sources.shape[-2:])),
                            sampler_name, noise_mode, part)
    return part, sampler, joint, trajectories


def sample_edit(guider, sampler, sources: torch.Tensor, seed: int, sigmas: torch.Tensor, noise_mode: str,
                part: Part, progress: Progress | None, trajectories: Trajectories | None = None) -> torch.Tensor:
    """The edited frames' LATENT samples (the part's own), sampled by ``guider`` from pure noise (the edit models
    start from an empty latent), one x_T for all frames in ``shared`` mode, carried along the ``trajectories`` in
    ``flow`` mode; Cancel stops within one step."""
    import comfy.model_management  # noqa: PLC0415

    latent = torch.zeros_like(sources)
    shape = (part.frames, *latent.shape[1:])
    noise, _ = initial_noise(shape, seed, noise_mode, trajectories,
                             noise_patch(guider.model_patcher, *sources.shape[-2:]))
    noise = noise[part.rows]
    total = sigmas.shape[-1] - 1

    def callback(step, x0, x, total_steps):
        comfy.model_management.throw_exception_if_processing_interrupted()
        if progress is not None:
            progress(step + 1, total, x0)

    comfy.model_management.throw_exception_if_processing_interrupted()
    out = guider.sample(noise, latent, sampler, sigmas, callback=callback, disable_pbar=True, seed=seed)
    return out[part.kept].to(comfy.model_management.intermediate_device())
