"""Where the three phases of Text2Video-Zero sit in a sampler's sigma schedule.

The reference defines t0=44 and t1=47 as indices into a 50-step DDIM schedule counted from its end (diffusers
TextToVideoZeroPipeline: ``timesteps[-t1-1]`` = 941, ``timesteps[-t0-1]`` = 881): frame 0 alone is denoised for
49 - t1 = 2 steps (to x_T^1, where the joint pass starts), then 49 - t0 - (49 - t1) = 3 steps more (to x_T'^1, which
is warped). diffusers fails below about 48 steps (diffusers #5365). Here those step counts are scaled to the actual
number of steps, so any schedule works and 50 steps reproduce the reference exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

REFERENCE_STEPS = 50
T_MAX_INDEX = REFERENCE_STEPS - 1  # largest meaningful t0/t1 (counted from the end of a 50-step schedule)


@dataclass(frozen=True)
class Phases:
    """Step indices into a sigma schedule of ``steps`` steps (sigmas has steps + 1 entries).

    joint_start: the step at which all frames start denoising together (the paper's T, the reference's t1).
    warp_at: the step at which frame 0's latent is taken for warping (the paper's T', the reference's t0).
    """

    steps: int
    joint_start: int
    warp_at: int

    @property
    def anchor_steps(self) -> int:
        """Single-frame steps spent on frame 0 before the joint pass reaches it (5 at the reference's defaults)."""
        return self.warp_at

    @property
    def total_progress(self) -> int:
        """Sampler steps over all phases: frame 0 alone up to warp_at, then the joint pass."""
        return self.warp_at + (self.steps - self.joint_start)


def validate_t0_t1(t0: int, t1: int) -> None:
    if not 0 <= t0 < t1:
        raise ValueError(f"t0 must be smaller than t1 (got t0={t0}, t1={t1}): t1 is where all frames start denoising "
                         f"together and t0 the later step whose frame-0 latent is warped. Fix: lower t0 or raise t1 "
                         f"(reference: t0=44, t1=47).")
    if t1 > T_MAX_INDEX:
        raise ValueError(f"t1={t1} lies beyond the schedule: t0/t1 count steps from the end of a "
                         f"{REFERENCE_STEPS}-step schedule, so t1 can be at most {T_MAX_INDEX}. Fix: set t1 <= "
                         f"{T_MAX_INDEX} (reference: 47).")


def phases(steps: int, t0: int, t1: int) -> Phases:
    """Scale the reference's t0/t1 (defined at 50 steps) to a schedule of ``steps`` steps."""
    validate_t0_t1(t0, t1)
    if steps < 2:
        raise ValueError(f"steps={steps}: motion mode needs at least 2 steps (one before the warp, one after). "
                         f"Fix: raise steps (reference: 50).")
    joint_start = round((T_MAX_INDEX - t1) * steps / REFERENCE_STEPS)
    warp_at = round((T_MAX_INDEX - t0) * steps / REFERENCE_STEPS)
    joint_start = min(joint_start, steps - 2)
    warp_at = min(max(warp_at, joint_start + 1), steps - 1)
    return Phases(steps=steps, joint_start=joint_start, warp_at=warp_at)


# --- flow and continuous models: t0/t1 placed by signal-to-noise ratio ------------------------------------------------
#
# Step fractions are the reference's own rule on its own kind of model (discrete SD, above). On a flow model they put
# t1/t0 at s = 0.98 / 0.96 (Flux, SD3 at their usual shift): far noisier than the reference's points, where SD1.5 at
# timesteps 941 / 881 has a signal-to-noise ratio that a flow model reaches at s = 0.92 / 0.89. What the warp moves is
# frame 0's layout, which exists at a given signal-to-noise ratio whatever the parametrisation, so for these models
# t0/t1 mean "the reference's signal-to-noise ratio at t0/t1":
#   reference timestep of t: 20 t + 1 (a 50-step DDIM schedule with steps_offset 1, counted from its end: t1=47 -> 941);
#   its SD1.5 alphas_cumprod (scaled_linear betas 0.00085..0.012, 1000 steps) -> noise level lam = sqrt((1-a)/a),
#   i.e. noise against signal (SNR = 1/lam^2);
#   the model's noise level at each sigma of the user's schedule, lam(sigma) = beta/alpha from its noise_scaling
#   (flow: s/(1-s); EDM/v: sigma), divided by the model's sigma_data (the latents' own scale: 0.5 for Playground 2.5);
#   the step whose lam is nearest in log (the ratio that matters) is the joint start (t1) / the warp step (t0).
# Then, as for discrete models, the joint start is moved to a step the re-noise can reach (a flow model's first step,
# sigma 1, is pure noise: nothing warped survives re-noising to it, and the hand-off space divides by 1 - s = 0), and
# the warp step after it. So Flux schnell's 4 steps (s = 1, 0.75, 0.5, 0.25) give joint start 1 and warp 2.

REFERENCE_TRAIN_STEPS = 1000
REFERENCE_BETAS = (0.00085, 0.012)  # SD1.5's scaled_linear schedule, the reference's model


def reference_timestep(t: int) -> int:
    """The reference's DDIM timestep at t (steps from the end of its 50-step schedule): 20 t + 1."""
    return (REFERENCE_TRAIN_STEPS // REFERENCE_STEPS) * t + 1


def reference_noise_level(t: int) -> float:
    """lam = sqrt((1 - alphas_cumprod) / alphas_cumprod) of SD1.5 at the reference's timestep for t."""
    import torch  # noqa: PLC0415

    lo, hi = REFERENCE_BETAS
    betas = torch.linspace(lo ** 0.5, hi ** 0.5, REFERENCE_TRAIN_STEPS, dtype=torch.float64) ** 2
    acp = float(torch.cumprod(1.0 - betas, dim=0)[reference_timestep(t)])
    return ((1.0 - acp) / acp) ** 0.5


def nearest_step(levels: list[float], target: float, first: int, last: int) -> int:
    """The index in [first, last] whose noise level is nearest ``target`` in log (ties: the earlier step)."""
    def distance(i):
        lam = levels[i]
        return abs(math.log(lam) - math.log(target)) if 0 < lam < math.inf else math.inf

    return min(range(first, last + 1), key=lambda i: (distance(i), i))


def phases_by_noise_level(levels: list[float], t0: int, t1: int) -> Phases:
    """Phases for a flow / continuous model: ``levels`` = the model's noise level (lam / sigma_data) at each of the
    schedule's sigmas (steps + 1 of them, the last 0). See the comment above for the rule."""
    validate_t0_t1(t0, t1)
    steps = len(levels) - 1
    first = 0 if math.isfinite(levels[0]) else 1  # the step the re-noise can reach: below pure noise
    if steps - first < 2:
        need = first + 2
        raise ValueError(f"steps={steps}: motion mode on this model needs at least {need} steps (the joint pass "
                         f"cannot start at pure noise{' (the first step, sigma 1)' if first else ''}; one step "
                         f"before the warp, one after). Fix: set steps to {need} or more.")
    joint_start = nearest_step(levels, reference_noise_level(t1), first, steps - 2)
    warp_at = nearest_step(levels, reference_noise_level(t0), joint_start + 1, steps - 1)
    return Phases(steps=steps, joint_start=joint_start, warp_at=warp_at)
