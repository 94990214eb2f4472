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

import math

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


# --- every other model sampling: the forward process read off the model's own noise_scaling ------------------------
#
# ComfyUI starts a sampler run at x = noise_scaling(sigma, noise, latent) and ends it with
# inverse_noise_scaling(sigma, x); between the phases of Text2Video-Zero the latents travel in that second space. For
# every model whose noise_scaling is x = alpha(sigma) x0 + beta(sigma) noise and whose inverse divides by alpha, that
# space reads y = x0 + lam(sigma) noise with lam = beta / alpha, and the forward (noising) process from sigma_t0 up to
# sigma_t1 is exactly
#     y1 = y0 + sqrt(lam1^2 - lam0^2) eps
# (the sum of two independent Gaussians: lam0 n0 + sqrt(lam1^2 - lam0^2) eps has variance lam1^2). Read in x it is
# x1 = a x0' + sqrt(beta1^2 - a^2 beta0^2) eps with a = alpha1 / alpha0. Instances:
#   flow (CONST: SD3, Flux, AuraFlow...): alpha = 1 - s, beta = noise_scale * s, lam = noise_scale * s / (1 - s);
#   continuous EDM / v (Playground 2.5, CosXL) and other variance-exploding ones: alpha = 1, lam = sigma.
# The discrete (SD1.x/SD2.x/SDXL) path above keeps the reference's DDPM coefficient, which differs from this exact
# form by the reference's one-timestep offset (about 5e-4 relative).

KIND_DISCRETE = "discrete"
KIND_FLOW = "flow"
KIND_CONTINUOUS = "continuous"

FAMILY_WORDS = {
    KIND_DISCRETE: "a discrete-time diffusion model (eps or v-prediction: SD1.x, SD2.x, SDXL and their fine-tunes)",
    KIND_FLOW: "a flow-matching model (SD3, Flux, AuraFlow, ...)",
    KIND_CONTINUOUS: "a continuous-time EDM / v-prediction model (Playground 2.5, CosXL, ...)",
}


def _family_in_words(model_sampling) -> str:
    """What a refused model is, in words (never a class name), read from how its sampling behaves, not from a list of
    classes: one that adds no noise to the latent (IMG_TO_IMG_FLOW, IMG_TO_IMG_VELOCITY, whatever comes next) or
    hands the model its input unscaled at a high sigma (IMG_TO_IMG) starts from an image."""
    import torch  # noqa: PLC0415

    try:
        sigma = float(model_sampling.sigma_max) * 0.5 if float(model_sampling.sigma_max) > 0 else 0.5
        if _scaled(model_sampling, sigma, 1.0, 0.0) == 0.0:
            return "an image-to-image model, whose sampling starts from an image and adds no noise"
        probe = torch.full((1, 1, 1, 1), 3.0)
        unscaled = bool(torch.equal(model_sampling.calculate_input(torch.tensor([max(sigma, 1.0)]), probe), probe))
    except Exception:  # noqa: BLE001 - a sampling that cannot take the probes: say what we know
        unscaled = False
    if unscaled:
        return "an image-to-image model, whose sampling starts from an image"
    return "a model whose sampling adds noise in a way this node does not know"


def _scaled(model_sampling, sigma: float, noise: float, latent: float) -> float:
    """noise_scaling(sigma, noise, latent) on one float64 number."""
    return float(model_sampling.noise_scaling(torch.tensor(float(sigma), dtype=torch.float64),
                                              torch.full((1,), float(noise), dtype=torch.float64),
                                              torch.full((1,), float(latent), dtype=torch.float64)))


def _lam_and_check(model_sampling, sigma: float) -> float | None:
    """lam(sigma) = beta / alpha from the model's own noise_scaling, or None where the model is not of that form
    (noise_scaling affine in latent and noise, inverse_noise_scaling dividing by alpha)."""
    s = torch.tensor(float(sigma), dtype=torch.float64)
    try:
        alpha = _scaled(model_sampling, sigma, 0.0, 1.0)
        beta = _scaled(model_sampling, sigma, 1.0, 0.0)
        both = _scaled(model_sampling, sigma, 1.0, 1.0)
        back = float(model_sampling.inverse_noise_scaling(s, torch.full((1,), alpha, dtype=torch.float64)))
    except Exception:  # noqa: BLE001 - a sampling that cannot take these probes is not of this form
        return None
    if not (alpha > 0 and beta > 0 and abs(both - alpha - beta) <= 1e-9 * (1 + abs(both))
            and abs(back - 1.0) <= 1e-9):
        return None
    return beta / alpha


def sampling_kind(model_sampling) -> str:
    """KIND_DISCRETE (the reference's DDPM path, unchanged), KIND_FLOW or KIND_CONTINUOUS; ValueError naming the
    model's family in words for a sampling that cannot be re-noised."""
    import comfy.model_sampling as cms  # noqa: PLC0415

    eps_or_v = (cms.EPS,) + tuple(getattr(cms, name) for name in ("V_PREDICTION_DDPM",) if hasattr(cms, name))
    img2img = tuple(getattr(cms, name) for name in ("IMG_TO_IMG", "IMG_TO_IMG_FLOW") if hasattr(cms, name))
    if (isinstance(model_sampling, eps_or_v) and not isinstance(model_sampling, img2img)
            and isinstance(model_sampling, cms.ModelSamplingDiscrete)
            and not isinstance(model_sampling, (cms.ModelSamplingDiscreteEDM, cms.StableCascadeSampling))):
        return KIND_DISCRETE
    probe = float(model_sampling.sigma_max) * 0.5 if float(model_sampling.sigma_max) > 0 else 0.5
    if not isinstance(model_sampling, img2img) and _lam_and_check(model_sampling, probe) is not None:
        return KIND_FLOW if isinstance(model_sampling, cms.CONST) else KIND_CONTINUOUS
    raise ValueError(f"this model is {_family_in_words(model_sampling)}; Text2Video-Zero's motion mode re-noises the "
                     f"warped frames along the model's noise schedule, and this model has none it can use. Fix: use a "
                     f"text-to-image model ({FAMILY_WORDS[KIND_DISCRETE]}, {FAMILY_WORDS[KIND_FLOW]} or "
                     f"{FAMILY_WORDS[KIND_CONTINUOUS]}), or noise_mode 'shared' / 'independent'.")


def noise_level(model_sampling, sigma: float) -> float:
    """lam(sigma): the noise's scale against the clean latent at ``sigma`` (inf at a flow model's sigma 1)."""
    lam = _lam_and_check(model_sampling, sigma)
    if lam is None:
        if float(sigma) <= 0:
            return 0.0
        if _scaled(model_sampling, sigma, 0.0, 1.0) == 0.0:  # alpha 0: pure noise
            return math.inf
        raise ValueError(f"cannot read the noise level of this model at sigma {sigma}")
    return lam


def forward_coefficient(model_sampling, sigma_t0: float, sigma_t1: float) -> float:
    """sqrt(lam1^2 - lam0^2): the added noise's scale for re-noising from sigma_t0 up to sigma_t1 (flow and
    continuous models), in the space between sampler runs."""
    if not sigma_t1 > sigma_t0 >= 0:
        raise ValueError(f"re-noising goes up in sigma: need sigma_t1 > sigma_t0 >= 0, got {sigma_t1} and {sigma_t0}")
    lam0, lam1 = noise_level(model_sampling, sigma_t0), noise_level(model_sampling, sigma_t1)
    if not math.isfinite(lam1):
        raise ValueError(f"re-noising up to sigma {sigma_t1} would leave no trace of the warped latent (pure noise): "
                         f"the joint pass must start below the model's largest sigma")
    return math.sqrt(lam1 * lam1 - lam0 * lam0)


def renoise_forward(latents: torch.Tensor, eps: torch.Tensor, model_sampling, sigma_t0: float,
                    sigma_t1: float) -> torch.Tensor:
    """Flow / continuous models: latents (between sampler runs, at sigma_t0) re-noised to sigma_t1 exactly as the
    model's forward process: y1 = y0 + sqrt(lam1^2 - lam0^2) eps."""
    return latents + eps.to(latents) * forward_coefficient(model_sampling, sigma_t0, sigma_t1)
