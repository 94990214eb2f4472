"""DDPM forward re-noising of warped latents from sigma_t0 back up to sigma_t1, in ComfyUI's sigma space.

The reference (Text2Video-Zero DDPM_forward, diffusers TextToVideoZeroPipeline.forward_loop) computes, in the
variance-preserving space, x_t1 = sqrt(a) x_t0 + sqrt(1 - a) eps with a = prod(alphas[t0:t1]) =
alphas_cumprod[t1 - 1] / alphas_cumprod[t0 - 1] (one index off the exact alphas_cumprod[t1] / alphas_cumprod[t0];
the two differ by about 5e-4 relative, invisible). ComfyUI keeps latents as x_vp / sqrt(alphas_cumprod), so the same
step reads x1 = sqrt(a * acp0 / acp1) x0 + sqrt((1 - a) / acp1) eps. We keep the reference's coefficient so results
match it; for sigmas between the training timesteps (any non-DDIM schedule) alphas_cumprod is interpolated through
the model's own sigma(t).
"""
from __future__ import annotations

import torch


def alphas_cumprod_at(model_sampling, sigma: float) -> tuple[float, float]:
    """(alphas_cumprod at sigma, alphas_cumprod one training timestep earlier) for a discrete-time ComfyUI model."""
    sigma_t = torch.tensor([float(sigma)], dtype=torch.float32)
    t = model_sampling.timestep(sigma_t).float()
    acp = 1.0 / (1.0 + sigma_t.double() ** 2)
    earlier = model_sampling.sigma(torch.clamp(t - 1.0, min=0.0)).double()
    acp_prev = 1.0 / (1.0 + earlier ** 2)
    return float(acp), float(acp_prev)


def renoise_coefficients(model_sampling, sigma_t0: float, sigma_t1: float) -> tuple[float, float]:
    """(scale, noise) with x_t1 = scale * x_t0 + noise * eps, in ComfyUI's (model) latent space."""
    if not sigma_t1 > sigma_t0 >= 0:
        raise ValueError(f"re-noising goes up in sigma: need sigma_t1 > sigma_t0 >= 0, got {sigma_t1} and {sigma_t0}")
    acp0, acp0_prev = alphas_cumprod_at(model_sampling, sigma_t0)
    acp1, acp1_prev = alphas_cumprod_at(model_sampling, sigma_t1)
    a = acp1_prev / acp0_prev  # prod(alphas[t0:t1]), the reference's coefficient
    scale = (a * acp0 / acp1) ** 0.5
    noise = ((1.0 - a) / acp1) ** 0.5
    return scale, noise


def renoise(latents: torch.Tensor, eps: torch.Tensor, model_sampling, sigma_t0: float, sigma_t1: float) -> torch.Tensor:
    """Re-noise model-space latents at sigma_t0 to sigma_t1 with the given standard-normal draws ``eps``."""
    scale, noise = renoise_coefficients(model_sampling, sigma_t0, sigma_t1)
    return latents * scale + eps.to(latents) * noise
