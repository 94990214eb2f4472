"""Where the three phases of Text2Video-Zero sit in a sampler's sigma schedule.

The reference defines t0=44 and t1=47 as indices into a 50-step DDIM schedule counted from its end (diffusers
TextToVideoZeroPipeline: ``timesteps[-t1-1]`` = 941, ``timesteps[-t0-1]`` = 881): frame 0 alone is denoised for
49 - t1 = 2 steps (to x_T^1, where the joint pass starts), then 49 - t0 - (49 - t1) = 3 steps more (to x_T'^1, which
is warped). diffusers fails below about 48 steps (diffusers #5365). Here those step counts are scaled to the actual
number of steps, so any schedule works and 50 steps reproduce the reference exactly.
"""
from __future__ import annotations

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
