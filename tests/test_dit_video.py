"""Text2Video-Zero on the flow DiTs, end to end: the Motion Latent Sampler node on tiny Flux dev, Flux schnell, SD3
and SD3.5-Medium-style MMDiT-X models loaded through ComfyUI's own loader: motion mode at few and more steps, frame 0
as plain sampling makes it, the later frames moved by the camera, and parts and frame chunks exact."""
from __future__ import annotations

import pytest
import torch

from t2vz.motion.parts import video_part
from checks import assert_close_rel
from test_dit_attention import KINDS, cfg_of, models  # noqa: F401  (the module-scoped loader fixture)
from tiny_dit import conditioning

FRAMES = 5


def video(model, kind, steps=4, frames=FRAMES, part=0, parts=1, chunk=0, noise_mode="motion", motion_x=24.0):
    from t2vz.nodes.motion_sampler import MotionLatentSampler

    latent = {"samples": torch.zeros((frames, 16, 8, 8))}
    return MotionLatentSampler.execute(model, conditioning(kind, 1), conditioning(kind, 2), latent, 7, steps,
                                       cfg_of(kind), "euler", "simple", noise_mode, motion_x, 0.0, 1.0, 0.0, 44, 47,
                                       chunk, part=part, parts=parts).args[0]["samples"]


def plain_image(model, kind, steps):
    """The single image of the same seed, as KSampler makes it."""
    import comfy.sample

    latent = torch.zeros((1, 16, 8, 8))
    return comfy.sample.sample(model, comfy.sample.prepare_noise(latent, 7), steps, cfg_of(kind), "euler", "simple",
                               conditioning(kind, 1), conditioning(kind, 2), latent, disable_pbar=True, seed=7)


@pytest.mark.parametrize("steps", [4, 8])
@pytest.mark.parametrize("kind", KINDS)
def test_motion_mode_makes_a_video_whose_frame_zero_is_the_image_of_the_seed(models, kind, steps):
    model = models(kind)
    frames = video(model, kind, steps)
    assert frames.shape == (FRAMES, 16, 8, 8) and torch.isfinite(frames).all()
    # frame 0 attends to itself only: in the batch it is the image plain sampling makes (float rounding of batched
    # matmuls apart)
    assert_close_rel(frames[:1], plain_image(model, kind, steps), rel=1e-4)
    for k in range(1, FRAMES):
        assert (frames[k] - frames[0]).abs().max() > 1e-2 * frames[0].abs().max(), k


@pytest.mark.parametrize("kind", KINDS)
def test_the_camera_moves_the_later_frames(models, kind):
    model = models(kind)
    still, moving = video(model, kind, motion_x=0.0), video(model, kind, motion_x=48.0)
    assert torch.equal(still[0], moving[0])
    assert all((still[k] - moving[k]).abs().max() > 1e-3 for k in range(1, FRAMES))


@pytest.mark.parametrize("kind", ["flux-schnell", "sd3"])
def test_parts_and_frame_chunks_equal_the_whole_video(models, kind):
    model = models(kind)
    whole = video(model, kind, frames=7)
    parts = torch.cat([video(model, kind, frames=7, part=i, parts=3, chunk=2) for i in range(3)])
    assert [video_part(7, i, 3).stop - video_part(7, i, 3).start for i in range(3)] == [3, 2, 2]
    assert_close_rel(parts, whole)
    assert_close_rel(video(model, kind, frames=7, chunk=3), whole)


@pytest.mark.parametrize("kind", ["flux-schnell", "sd3"])
def test_sizes_that_are_not_a_multiple_of_the_patch_work(models, kind):
    """40x56 px (latent 5x7, odd against the DiTs' 2x2 patches): ComfyUI pads to the patch size and crops back, the
    warp works on any latent size, and every frame has the same token count, so the video comes out at that size."""
    from t2vz.nodes.motion_sampler import MotionLatentSampler

    latent = {"samples": torch.zeros((3, 16, 5, 7))}
    frames = MotionLatentSampler.execute(models(kind), conditioning(kind, 1), conditioning(kind, 2), latent, 7, 4,
                                         cfg_of(kind), "euler", "simple", "motion", 24.0, 0.0, 1.0, 0.0, 44, 47,
                                         0).args[0]["samples"]
    assert frames.shape == (3, 16, 5, 7) and torch.isfinite(frames).all()
