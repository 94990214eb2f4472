"""Motion dynamics for Text2Video-Zero: motion field, re-noising, phase schedule, and the video sampler."""
from .field import REFERENCE_CANVAS, frame_affines, sampling_grid, warp_anchor, warp_frames
from .renoise import renoise, renoise_coefficients
from .sampler import (NOISE_INDEPENDENT, NOISE_MODES, NOISE_MOTION, NOISE_SHARED, Motion, check_latent,
                      initial_noise, sample_video, video_model)
from .schedule import REFERENCE_STEPS, T_MAX_INDEX, Phases, phases, validate_t0_t1

__all__ = [
    "Motion", "NOISE_INDEPENDENT", "NOISE_MODES", "NOISE_MOTION", "NOISE_SHARED", "Phases", "REFERENCE_CANVAS",
    "REFERENCE_STEPS", "T_MAX_INDEX", "check_latent", "frame_affines", "initial_noise", "phases", "renoise",
    "renoise_coefficients", "sample_video", "sampling_grid", "validate_t0_t1", "video_model", "warp_anchor",
    "warp_frames",
]
