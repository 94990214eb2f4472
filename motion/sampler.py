"""Text2Video-Zero sampling inside ComfyUI: motion dynamics in the latents, then a joint denoise of all frames.

1. x_T for frame 0 (ComfyUI's noise from the seed) is denoised alone with the chosen sampler down to the joint start
   (x_T^1) and on to the warp step (x_T'^1);
2. x_T'^1 is moved by the motion field for frames 1..F-1 (motion/field.py);
3. those latents are re-noised back to the joint start (motion/renoise.py: the reference's DDPM step on discrete
   eps/v models, the model's own forward process on flow and continuous EDM/v models);
4. all frames are denoised together from there with cross-frame attention, frame 0 continuing from x_T^1.
Every phase runs ComfyUI's own sampler on a slice of one sigma schedule, so any sampler/scheduler/step count works.
Where the phases sit: motion/schedule.py (step fractions on discrete models, the reference's signal-to-noise ratio
on the others). Flow models start at sigma 1, where the noised latent is the noise alone: their starts are handed to
ComfyUI as (clean latent, noise), exactly as KSampler's, and their joint pass starts at the second step at the
earliest (motion/schedule.py phases_by_noise_level).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Callable

import torch

from ..attention import (ANCHOR_FIRST_AND_PREVIOUS, CrossFrameAttention, Trajectories, find_cross_frame,
                         with_cross_frame, with_frame_chunks, with_trajectories, with_video_frames)
from ..attention.chunking import check_core_windows, check_video_memory
from ..attention.families import anchor_layout, conditioning_text_tokens
from .background import latent_masks, smooth_background
from .camera import Camera, ConstantMotion
from .field import frame_affines, warp_frames
from .first_frame import held_steps, prepare_first_frame
from .flow_noise import SourceMotion, flow_noise, noise_ids, video_trajectories
from .noise import flow_sampler, frame_shared_sampler, video_rows_sampler
from .parts import Part, video_part
from .renoise import KIND_DISCRETE, noise_level, renoise, renoise_forward, sampling_kind
from .schedule import phases, phases_by_noise_level

NOISE_MOTION = "motion"
NOISE_SHARED = "shared"
NOISE_INDEPENDENT = "independent"
NOISE_FLOW = "flow"
"""Noise carried along a source video's optical flow (motion/flow_noise.py): the edits' mode."""
NOISE_MODES = (NOISE_MOTION, NOISE_SHARED, NOISE_FLOW, NOISE_INDEPENDENT)

REFERENCE_KEY = "reference_latents"
"""Conditioning key of the reference images (core ReferenceLatent, TextEncodeQwenImageEdit)."""

log = logging.getLogger("t2v-zero")

Progress = Callable[[int, int, torch.Tensor], None]
"""progress(steps_done, steps_total, x0_preview): called after every sampler step of every phase."""


@dataclass(frozen=True)
class Motion:
    """Motion mode's settings: the camera that moves frame 0 for the later frames (motion/camera.py: the constant
    motion or a keyframed path) and the warp / joint-start steps t0 < t1 (the reference's units)."""

    camera: Camera = ConstantMotion()
    t0: int = 44
    t1: int = 47


def check_latent(samples: torch.Tensor) -> None:
    if not isinstance(samples, torch.Tensor) or samples.ndim != 4:
        shape = tuple(samples.shape) if isinstance(samples, torch.Tensor) else type(samples).__name__
        raise ValueError(f"latent must be a batch of frames shaped (frames, channels, height, width), got {shape}. "
                         f"Fix: use EmptyLatentImage with batch_size = number of frames (or VAEEncode a batch of "
                         f"images).")
    if samples.shape[0] < 1:
        raise ValueError("latent holds 0 frames. Fix: set EmptyLatentImage's batch_size to the number of frames "
                         "(>= 1).")
    if not torch.isfinite(samples).all():
        raise ValueError("latent contains NaN or infinite values. Fix: check the node that produced it (a VAE in fp16 "
                         "can overflow: run it in fp32 or bf16).")


def motion_phases(model_sampling, sigmas: torch.Tensor, steps: int, t0: int, t1: int):
    """The phases of motion mode on this model's schedule: discrete diffusion models scale the reference's t0/t1 with
    the step count (motion/schedule.py phases, the reference's rule, unchanged); flow and continuous models place
    them at the reference's signal-to-noise ratio (phases_by_noise_level). (kind, Phases); ValueError, naming the
    model's family in words, for a model that cannot be re-noised."""
    kind = sampling_kind(model_sampling)
    if kind == KIND_DISCRETE:
        return kind, phases(steps, t0, t1)
    sigma_data = float(getattr(model_sampling, "sigma_data", 1.0) or 1.0)
    levels = [noise_level(model_sampling, float(sigma)) / sigma_data for sigma in sigmas]
    return kind, phases_by_noise_level(levels, t0, t1)


def _hand_off_is_latent(model_sampling) -> bool:
    """True when the space between sampler runs is the sampler's own x (inverse_noise_scaling is the identity:
    eps/v/EDM models); then a start is passed as the noised latent with zero noise, as always. Otherwise (flow) each
    start from noise is handed to ComfyUI as (clean latent, noise), as KSampler does: at a flow model's sigma 1 the
    noised latent is the noise alone, and ComfyUI's noise_scaling of it with zero noise would be 0."""
    probe = torch.ones(1)
    try:
        back = model_sampling.inverse_noise_scaling(torch.tensor(0.5), probe.clone())
    except Exception:  # noqa: BLE001
        return True
    return isinstance(back, torch.Tensor) and torch.equal(back, probe)


def noise_patch(model, height: int, width: int) -> int:
    """Latent pixels per side that ``model`` reads as one token (a DiT's patch; 1 for a UNet), where a ``height`` x
    ``width`` latent divides into them: flow noise moves in blocks of it (motion/flow_noise.py carry)."""
    layout = anchor_layout(model)
    patch = layout.patch if layout is not None else 1
    return patch if height % patch == 0 and width % patch == 0 else 1


def video_model(model, frames_per_chunk: int = 0, part: Part | None = None):
    """The model for the joint pass: cross-frame attention (unless the model already carries it) and chunking; for
    part of a video, the global frame indices of its rows (frame 0 and the part's frames)."""
    if find_cross_frame(model.model_options) is None:
        model = with_cross_frame(model, CrossFrameAttention())
    if frames_per_chunk > 0:
        model = with_frame_chunks(model, frames_per_chunk)
    if part is not None and not part.whole:
        model = with_video_frames(model, part.rows, part.frames)
    return model


def evaluated_conditionings(model, positive, negative, cfg: float) -> list[tuple[torch.Tensor, dict]]:
    """(embedding, options) of each conditioning a step evaluates (the anchor cache keeps one entry per
    conditioning): the positive ones, and the negative ones unless cfg 1 lets ComfyUI skip them (its cfg1
    optimisation)."""
    skip = math.isclose(cfg, 1.0) and not model.model_options.get("disable_cfg1_optimization", False)
    out = []
    for entry in list(positive or []) + ([] if skip else list(negative or [])):
        cond = entry[0] if isinstance(entry, (list, tuple)) and entry else None
        if isinstance(cond, torch.Tensor) and cond.ndim >= 2:
            out.append((cond, entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {}))
    return out


def conditioning_tokens(model, positive, negative, cfg: float) -> list[int]:
    """Text tokens each evaluated conditioning puts into a joint attention call of ``model`` (its family's count:
    HiDream's calls add two Llama layers' tokens to the T5 ones)."""
    return [conditioning_text_tokens(model, cond, options)
            for cond, options in evaluated_conditionings(model, positive, negative, cfg)]


def conditioning_references(model, positive, negative, cfg: float) -> list[list[tuple[int, ...]]]:
    """For each evaluated conditioning, the latent shapes of the reference images one frame gets (core
    ReferenceLatent's ``reference_latents``: a batch of one picture, or one latent per frame as Edit Video gives)."""
    return [[tuple(ref.shape[1:]) for ref in options.get(REFERENCE_KEY) or () if isinstance(ref, torch.Tensor)]
            for _, options in evaluated_conditionings(model, positive, negative, cfg)]


def check_pass_memory(joint_model, model, rows: int, spatial_shape, positive, negative, cfg: float) -> None:
    """The memory check before sampling (attention/chunking.py check_video_memory) for a joint pass of ``rows``
    frames of ``spatial_shape`` (channels, height, width) with these conditionings."""
    latent_format = model.get_model_object("latent_format")
    check_video_memory(joint_model, (rows, *spatial_shape), conditioning_tokens(model, positive, negative, cfg),
                       int(getattr(latent_format, "spacial_downscale_ratio", 8) or 8),
                       conditioning_references(model, positive, negative, cfg))


def joint_sampler(sampler, sampler_name: str, noise_mode: str, part: Part):
    """The joint pass's sampler: ``sampler`` itself, or for part of a video (unless the noise is frame-shared) one
    whose per-step noise is the whole video's, this part's rows (flow noise is already)."""
    if part.whole or noise_mode in (NOISE_SHARED, NOISE_FLOW):
        return sampler
    return video_rows_sampler(sampler_name, part.frames, part.rows)


def mode_sampler(sampler_name: str, noise_mode: str, rows, trajectories: Trajectories | None = None,
                 patch: int = 1):
    """ComfyUI's sampler object for a noise mode: frame-shared per-step noise in ``shared`` mode (ancestral/SDE
    samplers add the same noise to every frame too, or the frames drift apart), noise along the ``trajectories`` (in
    ``patch`` blocks) for the batch's global frames ``rows`` in ``flow`` mode, ComfyUI's own draws otherwise."""
    import comfy.samplers  # noqa: PLC0415

    if noise_mode == NOISE_SHARED:
        return frame_shared_sampler(sampler_name)
    if noise_mode == NOISE_FLOW:
        return flow_sampler(sampler_name, noise_ids(trajectories, patch), rows, patch)
    return comfy.samplers.sampler_object(sampler_name)


def initial_noise(shape: tuple[int, ...], seed: int, noise_mode: str, trajectories: Trajectories | None = None,
                  patch: int = 1) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(x_T noise for the sampled frames, re-noise draws for frames 1..F-1 or None).

    All draws come from one CPU generator seeded like ComfyUI's prepare_noise, in this order: frame 0's noise, then
    (motion mode) the re-noise draws. ``independent`` draws the whole batch at once, exactly as KSampler does;
    ``flow`` carries frame 0's noise along the ``trajectories`` in ``patch`` blocks (motion/flow_noise.py).
    """
    if noise_mode == NOISE_FLOW:
        return flow_noise(shape, seed, noise_ids(trajectories, patch), patch), None
    frames = shape[0]
    generator = torch.Generator(device="cpu").manual_seed(seed)
    one = (1, *shape[1:])
    if noise_mode == NOISE_INDEPENDENT:
        return torch.randn(shape, generator=generator), None
    noise0 = torch.randn(one, generator=generator)
    if noise_mode == NOISE_SHARED:
        return noise0.expand(shape).clone(), None
    eps = torch.randn((frames - 1, *shape[1:]), generator=generator) if frames > 1 else None
    return noise0, eps


class _Phases:
    """Runs slices of one sigma schedule with ComfyUI's sampler, reporting progress across all of them."""

    def __init__(self, model, positive, negative, cfg, sampler, seed, total, progress: Progress | None):
        self.model, self.positive, self.negative = model, positive, negative
        self.cfg, self.sampler, self.seed = cfg, sampler, seed
        self.total, self.done, self.progress = total, 0, progress

    def run(self, model, latent: torch.Tensor, sigmas: torch.Tensor, hold: "_Hold | None" = None,
            sampler=None, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Denoise ``latent`` (LATENT space, already at sigmas[0]; or, given ``noise``, the clean latent that ComfyUI
        noises to sigmas[0] with it) along ``sigmas`` (with ``sampler``, else the phases' own). With ``hold``, frame
        0 is kept at the given image noised to each sigma (ComfyUI's inpainting noise mask)."""
        import comfy.model_management  # noqa: PLC0415
        import comfy.sample  # noqa: PLC0415

        comfy.model_management.throw_exception_if_processing_interrupted()
        if sigmas.shape[-1] < 2:
            return latent
        offset = self.done

        def callback(step, x0, x, total_steps):
            comfy.model_management.throw_exception_if_processing_interrupted()  # Cancel stops within one step
            if self.progress is not None:
                self.progress(offset + step + 1, self.total, x0)

        noise, mask = torch.zeros_like(latent) if noise is None else noise.to(latent), None
        if hold is not None:
            # row 0 starts and stays at image + sigma * noise0; the other rows start at ``latent`` (zero noise)
            latent, noise, mask = latent.clone(), noise.clone(), torch.ones_like(latent[:, :1])
            latent[:1], noise[:1], mask[:1] = hold.image.to(latent), hold.noise.to(latent), 0.0
        out = comfy.sample.sample_custom(model, noise, self.cfg, sampler or self.sampler, sigmas, self.positive,
                                         self.negative, latent, noise_mask=mask, callback=callback, disable_pbar=True,
                                         seed=self.seed)
        self.done = offset + sigmas.shape[-1] - 1
        return out

    def skip(self, steps: int) -> None:
        """Count steps that needed no model call (frame 0 held to the image) on the progress bar."""
        self.done += steps
        if self.progress is not None and steps > 0:
            self.progress(self.done, self.total, None)


@dataclass(frozen=True)
class _Hold:
    """Frame 0 held to an image: its latent (LATENT space) and its noise, for the steps before ``until``."""

    image: torch.Tensor
    noise: torch.Tensor
    until: int


def check_part_anchor(model, part: Part) -> None:
    """A part cannot use first+previous attention: a frame would need its predecessor, computed in another part."""
    patch = find_cross_frame(model.model_options)
    if not part.whole and patch is not None and patch.anchor == ANCHOR_FIRST_AND_PREVIOUS:
        raise ValueError(f"parts {part.count} with cross-frame anchor 'first+previous': each frame also attends to its "
                         f"previous frame, which another part computes, so the video cannot be split exactly. Fix: "
                         f"set CrossFrameAttentionPatch's anchor to 'first', or parts to 1.")


def sample_video(model, positive, negative, latent: torch.Tensor, seed: int, steps: int, cfg: float,
                 sampler_name: str, scheduler: str, noise_mode: str = NOISE_MOTION, motion: Motion = Motion(),
                 frames_per_chunk: int = 0, foreground_mask: torch.Tensor | None = None,
                 smooth_bg_strength: float = 0.4, first_frame: torch.Tensor | None = None,
                 first_frame_strength: float = 1.0, progress: Progress | None = None,
                 part: Part | None = None, flow: SourceMotion | None = None, along_flow: bool = False) -> torch.Tensor:
    """Text-to-video (or image-to-video, given ``first_frame``: one LATENT image) with a ComfyUI model.
    ``latent``: (F, C, H, W) LATENT samples of the whole video; returns them denoised, or, given ``part``
    (motion/parts.py), that part's frames as the whole video's run makes them. ``flow``: the optical flow of the
    video the noise (noise_mode ``flow``) and, with ``along_flow``, the attention follow (e.g. ControlNet's control
    frames)."""
    import comfy.sample  # noqa: PLC0415
    import comfy.samplers  # noqa: PLC0415

    if noise_mode not in NOISE_MODES:
        raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
    check_latent(latent)
    latent = comfy.sample.fix_empty_latent_channels(model, latent)
    # a video VAE's picture latents (Qwen-Image: Wan 2.1's format) carry a time axis of one, (F, C, 1, H, W): the
    # model sees them so, the motion field and masks work on (F, C, H, W)
    picture = latent.ndim == 5 and latent.shape[2] == 1
    spatial_shape = (latent.shape[0], latent.shape[1], *latent.shape[-2:])
    frames = latent.shape[0]
    part = part or video_part(frames, 0, 1)
    if part.frames != frames:
        raise ValueError(f"{part.describe()} does not fit a latent of {frames} frames")
    check_part_anchor(model, part)
    rows = part.rows  # global frames of the joint pass: all of them, or frame 0 and the part's
    sampling = model.get_model_object("model_sampling")
    latent_format = model.get_model_object("latent_format")
    sigmas = comfy.samplers.KSampler(model, steps=steps, device="cpu", sampler=sampler_name,
                                     scheduler=scheduler).sigmas.float().cpu()
    follows = noise_mode == NOISE_FLOW or along_flow
    trajectories = video_trajectories(flow, frames, *latent.shape[-2:], follows, "flow_frames")
    patch = noise_patch(model, *latent.shape[-2:])
    sampler = mode_sampler(sampler_name, noise_mode, rows, trajectories, patch)
    joint = joint_sampler(sampler, sampler_name, noise_mode, part)
    joint_model = video_model(with_trajectories(model, trajectories, along_flow), frames_per_chunk, part)
    # what cannot run is refused here, before any step: core windows this host cannot run, a frame chunk (or context
    # window) that cannot fit next to the anchor cache
    check_core_windows(joint_model, sigmas, len(rows))
    check_pass_memory(joint_model, model, len(rows), spatial_shape[1:], positive, negative, cfg)
    noise, eps = initial_noise(tuple(latent.shape), seed, noise_mode, trajectories, patch)
    if noise_mode != NOISE_MOTION:
        noise = noise[rows]
    hold = None
    if first_frame is not None:
        if picture and first_frame.ndim == 5 and first_frame.shape[2] == 1:
            first_frame = first_frame[:, :, 0]
        image = prepare_first_frame(first_frame, spatial_shape)
        hold = _Hold(image.unsqueeze(2) if picture else image, noise[:1].clone(),
                     held_steps(first_frame_strength, steps))

    sigma_max = float(sampling.sigma_max)
    max_denoise = math.isclose(sigma_max, float(sigmas[0]), rel_tol=1e-5) or float(sigmas[0]) > sigma_max

    direct = not _hand_off_is_latent(sampling)

    def noised(latent_part, noise_part, index=0):  # as KSampler builds x at sigmas[index], back in LATENT space
        x = sampling.noise_scaling(sigmas[index], noise_part, latent_format.process_in(latent_part),
                                   max_denoise and index == 0)
        if direct:  # the space between sampler runs (finite below a flow model's sigma 1)
            x = sampling.inverse_noise_scaling(sigmas[index], x)
        return latent_format.process_out(x)

    if direct:  # (clean latent, noise): ComfyUI noises it at the start of the first run
        x_start, start_noise = latent[rows[:noise.shape[0]]].clone(), noise.clone()
        if hold is not None:
            x_start[:1] = hold.image.to(x_start)
            start_noise[:1] = hold.noise.to(start_noise)
    else:
        x_start, start_noise = noised(latent[rows[:noise.shape[0]]], noise), None  # motion mode: frame 0 only
        if hold is not None:
            x_start[:1] = noised(hold.image, hold.noise)  # img2img's start for frame 0, whatever the strength

    def alone(x, a: int, b: int, pending=None):  # frame 0 alone from step a to step b (pending: its start noise)
        if hold is not None and a < hold.until:  # held: the noised image needs no model call
            held_until = min(b, hold.until)
            run.skip(held_until - a)
            if direct:
                x, a, pending = hold.image, held_until, hold.noise
            else:
                x, a = noised(hold.image, hold.noise, held_until), held_until
        if pending is not None and a == b:  # no step to take: the start itself, noised, between runs
            return noised(x, pending, a)
        return run.run(model, x, sigmas[a:b + 1], noise=pending)

    def together(x, a: int, pending=None):  # all frames (of the part) from step a to the end; the part's own come back
        if hold is not None and a < hold.until:
            x = run.run(joint_model, x, sigmas[a:min(steps, hold.until) + 1], hold, joint, noise=pending)
            a, pending = min(steps, hold.until), None
        x = run.run(joint_model, x, sigmas[a:], sampler=joint, noise=pending)
        if hold is not None and hold.until >= steps:
            # Held to the end, frame 0 is the image: single-step samplers land on it within float rounding, but
            # multistep correctors (uni_pc) leave a ~1e-3 relative residue; put the image back, as inpainting does.
            x[:1] = hold.image.to(x)
        return x if part.whole else x[part.kept]

    if noise_mode != NOISE_MOTION:
        run = _Phases(model, positive, negative, cfg, sampler, seed, steps, progress)
        return together(x_start, 0, start_noise)

    kind, plan = motion_phases(sampling, sigmas, steps, motion.t0, motion.t1)
    run = _Phases(model, positive, negative, cfg, sampler, seed, plan.total_progress, progress)
    x_t1 = alone(x_start[:1], 0, plan.joint_start, None if start_noise is None else start_noise[:1])
    if frames == 1:
        return together(x_t1, plan.joint_start)
    x_t0 = alone(x_t1, plan.joint_start, plan.warp_at)

    height, width = latent.shape[-2:]
    if motion.camera.last_keyframe >= frames:
        log.info("t2v-zero: the camera path has keyframes up to frame %d, beyond this video's last frame (%d): they "
                 "shape the path up to it, the rest is not shown.", motion.camera.last_keyframe, frames - 1)
    affines = frame_affines(rows, height, width, motion.camera)
    moved = warp_frames((x_t0[:, :, 0] if picture else x_t0).expand(len(rows) - 1, -1, -1, -1), affines[1:])
    moved = moved.unsqueeze(2) if picture else moved
    sigma_t0, sigma_t1 = float(sigmas[plan.warp_at]), float(sigmas[plan.joint_start])
    eps = eps[[f - 1 for f in rows[1:]]]  # the whole video's re-noise draws, for the frames held here
    forward = renoise if kind == KIND_DISCRETE else renoise_forward  # the reference's DDPM step / the exact one
    moved = latent_format.process_out(forward(latent_format.process_in(moved), eps, sampling, sigma_t0, sigma_t1))
    x_joint = torch.cat([x_t1, moved.to(x_t1)], dim=0)
    if foreground_mask is not None:
        masks = latent_masks(foreground_mask, frames, height, width)
        smoothed = smooth_background(x_joint[:, :, 0] if picture else x_joint,
                                     masks if masks.shape[0] == 1 else masks[rows], affines, smooth_bg_strength)
        x_joint = smoothed.unsqueeze(2) if picture else smoothed
    return together(x_joint, plan.joint_start)
