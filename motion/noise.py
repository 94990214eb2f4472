"""Frame-shared noise for ComfyUI's stochastic samplers.

A video whose frames start from the same x_T still flickers with an ancestral or SDE sampler (euler_ancestral,
dpmpp_2m_sde, ...): each step adds fresh noise drawn for the whole batch, so every frame gets its own. Here every
frame gets the *same* per-step noise instead: one frame's draw, repeated. That one-frame draw is exactly what ComfyUI
itself draws for a single image with the same seed (k-diffusion's default noise sampler, or the Brownian tree of the
SDE samplers), so frame k of a shared-noise video sees the per-step noise of a single-image run.

API:
- ``shared_noise_sampler(shape, seed, ...)``: a k-diffusion ``noise_sampler(sigma, sigma_next)`` for a batch of
  frames ``shape`` = (F, C, H, W).
- ``frame_shared_sampler(sampler_name)``: ComfyUI's sampler object for ``sampler_name`` (what
  ``comfy.samplers.sampler_object`` returns) wired to use it; deterministic samplers come back unchanged.
- ``video_rows_sampler(sampler_name, frames, rows)``: the same for part of a video: each frame of the batch gets the
  noise the whole video's run draws for it.
- ``flow_sampler(sampler_name, ids, rows)``: per-step noise along a source video's trajectories (motion/flow_noise.py):
  each step's draw for the whole video, carried along them, the batch's rows of it.
"""
from __future__ import annotations

import inspect

import torch

BROWNIAN_SAMPLERS = frozenset({
    "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu",
    "dpmpp_3m_sde", "dpmpp_3m_sde_gpu",
})
"""Samplers whose own default noise is a Brownian tree (ComfyUI 0.3.75, comfy/k_diffusion/sampling.py); the others
draw plain Gaussian noise per step."""


def comfy_noise_sampler(like: torch.Tensor, seed: int | None, sigmas: torch.Tensor | None, brownian: bool,
                        brownian_on_cpu: bool = True):
    """The per-step noise sampler ComfyUI's k-diffusion samplers build for a batch shaped like ``like``: a Brownian
    tree over the positive ``sigmas`` (the SDE samplers, for consistent sub-steps) or its default Gaussian draws from a
    generator seeded with ``seed``."""
    import comfy.k_diffusion.sampling as kd  # noqa: PLC0415

    if not brownian:
        return kd.default_noise_sampler(like, seed=seed)
    if sigmas is None:
        raise ValueError("a Brownian noise sampler needs the sampling's sigmas")
    positive = sigmas[sigmas > 0]
    return kd.BrownianTreeNoiseSampler(like, positive.min(), sigmas.max(), seed=seed, cpu=brownian_on_cpu)


def shared_noise_sampler(shape: tuple[int, ...], seed: int | None, *, device=None, dtype=torch.float32,
                         sigmas: torch.Tensor | None = None, brownian: bool = False, brownian_on_cpu: bool = True):
    """``noise_sampler(sigma, sigma_next)`` returning noise of ``shape`` (F, C, H, W) with all F frames equal.

    Each call draws one (1, C, H, W) frame and repeats it. ``brownian``: draw from a Brownian tree over the positive
    ``sigmas`` (what the SDE samplers need for consistent sub-steps), as ComfyUI builds it; otherwise independent
    Gaussian draws from a generator seeded with ``seed``, as ComfyUI's default noise sampler.
    """
    base = comfy_noise_sampler(torch.zeros((1, *shape[1:]), device=device, dtype=dtype), seed, sigmas, brownian,
                               brownian_on_cpu)
    frames = shape[0]

    def sample(sigma, sigma_next):
        return base(sigma, sigma_next).expand(frames, *shape[1:]).contiguous()

    return sample


def video_rows_noise_sampler(shape: tuple[int, ...], rows, seed: int | None, *, device=None, dtype=torch.float32,
                             sigmas: torch.Tensor | None = None, brownian: bool = False, brownian_on_cpu: bool = True):
    """``noise_sampler(sigma, sigma_next)`` for the frames ``rows`` of a video of ``shape`` (F, C, H, W): each call
    draws what ComfyUI draws for the whole video's batch (its default noise sampler, or the SDE samplers' Brownian
    tree, built on that shape) and returns those frames' rows, so part of a video gets the whole run's own noise."""
    base = comfy_noise_sampler(torch.zeros(shape, device=device, dtype=dtype), seed, sigmas, brownian,
                               brownian_on_cpu)
    index = torch.tensor([int(r) for r in rows], dtype=torch.long, device=device)

    def sample(sigma, sigma_next):
        return base(sigma, sigma_next).index_select(0, index)

    return sample


def flow_noise_sampler(shape: tuple[int, ...], ids: torch.Tensor, rows, seed: int | None, *, patch: int = 1,
                       device=None, dtype=torch.float32, sigmas: torch.Tensor | None = None, brownian: bool = False,
                       brownian_on_cpu: bool = True):
    """``noise_sampler(sigma, sigma_next)`` for the frames ``rows`` of a video of ``shape``: each step's draws carried
    along the trajectories ``ids`` (in ``patch`` blocks: motion/flow_noise.py carry). Frame 0's draw is the shared
    noise's (one frame, as ComfyUI draws a single image with ``seed``), so a still video gets exactly the shared
    per-step noise; the later frames' draws, used where content appears, come from a second sampler seeded
    ``seed + 1``. Both are ComfyUI's own (its default sampler, or the SDE samplers' Brownian tree: a tree carried by
    one fixed index is still one, so sub-steps stay consistent), drawn for the whole video, so parts get its rows."""
    from .flow_noise import carry  # noqa: PLC0415

    first = comfy_noise_sampler(torch.zeros((1, *shape[1:]), device=device, dtype=dtype), seed, sigmas, brownian,
                                brownian_on_cpu)
    later = (comfy_noise_sampler(torch.zeros((shape[0] - 1, *shape[1:]), device=device, dtype=dtype),
                                 None if seed is None else seed + 1, sigmas, brownian, brownian_on_cpu)
             if shape[0] > 1 else None)
    index = torch.tensor([int(r) for r in rows], dtype=torch.long, device=device)

    def sample(sigma, sigma_next):
        draws = first(sigma, sigma_next)
        if later is not None:
            draws = torch.cat([draws, later(sigma, sigma_next)])
        return carry(draws, ids, patch).index_select(0, index)

    return sample


def _with_noise_sampler(sampler_name: str, make):
    """ComfyUI's sampler ``sampler_name`` with its per-step noise from ``make(x, seed, sigmas, brownian, on_cpu)``;
    samplers that add no per-step noise come back as ``comfy.samplers.sampler_object`` makes them."""
    import comfy.samplers  # noqa: PLC0415

    sampler = comfy.samplers.sampler_object(sampler_name)
    function = getattr(sampler, "sampler_function", None)
    if function is None or "noise_sampler" not in inspect.signature(function).parameters:
        return sampler
    brownian = sampler_name in BROWNIAN_SAMPLERS
    on_cpu = not sampler_name.endswith("_gpu")  # the _gpu variants build their tree on the device

    def sample(model, x, sigmas, extra_args=None, callback=None, disable=None, **options):
        options["noise_sampler"] = make(x, (extra_args or {}).get("seed"), sigmas, brownian, on_cpu)
        return function(model, x, sigmas, extra_args=extra_args, callback=callback, disable=disable, **options)

    return comfy.samplers.KSAMPLER(sample, extra_options=dict(sampler.extra_options),
                                   inpaint_options=dict(sampler.inpaint_options))


def frame_shared_sampler(sampler_name: str):
    """ComfyUI's sampler ``sampler_name``, drawing the same per-step noise for every frame of the batch.

    Samplers without a ``noise_sampler`` argument add no per-step noise (euler, ddim, dpmpp_2m, uni_pc, ...) and come
    back as ``comfy.samplers.sampler_object`` makes them. The seed is the one the sampling is given (``seed=`` of
    ``CFGGuider.sample`` / ``comfy.sample.sample_custom``).
    """
    return _with_noise_sampler(sampler_name, lambda x, seed, sigmas, brownian, on_cpu: shared_noise_sampler(
        tuple(x.shape), seed, device=x.device, dtype=x.dtype, sigmas=sigmas, brownian=brownian,
        brownian_on_cpu=on_cpu))


def video_rows_sampler(sampler_name: str, frames: int, rows):
    """ComfyUI's sampler ``sampler_name`` for a batch holding frames ``rows`` of a ``frames``-frame video: its
    per-step noise is the whole video's (video_rows_noise_sampler); deterministic samplers come back unchanged."""
    rows = [int(r) for r in rows]
    return _with_noise_sampler(sampler_name, lambda x, seed, sigmas, brownian, on_cpu: video_rows_noise_sampler(
        (frames, *x.shape[1:]), rows, seed, device=x.device, dtype=x.dtype, sigmas=sigmas, brownian=brownian,
        brownian_on_cpu=on_cpu))


def flow_sampler(sampler_name: str, ids: torch.Tensor, rows, patch: int = 1):
    """ComfyUI's sampler ``sampler_name`` whose per-step noise follows a video's trajectories ``ids`` (frames,
    pixels or ``patch`` blocks), for a batch holding frames ``rows`` of it (flow_noise_sampler); deterministic
    samplers come back unchanged."""
    rows = [int(r) for r in rows]
    frames = int(ids.shape[0])
    return _with_noise_sampler(sampler_name, lambda x, seed, sigmas, brownian, on_cpu: flow_noise_sampler(
        (frames, *x.shape[1:]), ids, rows, seed, patch=patch, device=x.device, dtype=x.dtype, sigmas=sigmas,
        brownian=brownian, brownian_on_cpu=on_cpu))
