"""The paper's ablation in the trained world (bench/world_ablation.py), its directions held with margins on fixed
seeds and short videos (4 frames, 6 steps), so that a regression shows: Text2Video-Zero keeps the object's identity
far better than independent frames, lowers the warp error and makes the object follow the camera; cross-frame
attention is on and does not cost identity; frame chunks give the very frames of the whole run; and the switches are
honest (independent frames without cross-frame attention are KSampler's plain batch, frame 0 is the seed's picture in
every mode).

Measured on the committed world (seeds 3, 4, 7; shape IoU / colour difference of the object with frame 0's, follow
error in px, the pack's warp error in 8-bit levels), the numbers the margins come from:
  independent        IoU 0.66 0.47 0.46 (mean 0.53), colour diff 7.3 0.9 13.2 (7.1), warp error 8.5 27.2 23.4 (19.7)
  cross-frame only   IoU 0.64 0.49 0.47 (mean 0.53), follow error 32.2 21.9 30.8 (28.3)
  T2V-Zero 30/35     IoU 0.76 0.85 0.66 (mean 0.76), colour diff 1.5 0.5 1.5 (1.2), follow error 7.0 6.0 5.0 (6.0),
                     warp error 7.3 5.0 6.5 (6.2)
The paper's direction "cross-frame attention alone keeps identity better than independent frames" does not show in
this world (docs/consistency.md says so): there the test holds only that it costs none.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import world_ablation as wa  # noqa: E402

SEEDS = (3, 4, 7)
"""Seeds whose frame 0 holds a whole object (the judge's figures need one)."""
SETTINGS = wa.Settings(frames=4, steps=6, sweep=(wa.FOLLOW_T0T1,))
T2VZ = f"t2vz@{wa.FOLLOW_T0T1[0]}/{wa.FOLLOW_T0T1[1]}"
RECIPES = [wa.Config("independent"), wa.Config("cross_frame"), wa.Config("t2vz", wa.FOLLOW_T0T1)]


@pytest.fixture(scope="module")
def world_sd15():
    wa.bootstrap()
    import world_model

    if not world_model.WEIGHTS.exists():
        pytest.skip(f"the world's weights are not there yet ({world_model.WEIGHTS}): bench/world/train_world.py")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield world_model.load_world(world_model.world_checkpoint())
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def runs(world_sd15):
    return [wa.run_seed(world_sd15, seed, SETTINGS, RECIPES, log=lambda _m: None) for seed in SEEDS]


def mean(runs, key, metric):
    values = [r.records[key][metric] for r in runs]
    assert all(np.isfinite(values)), f"{key} {metric}: {values} (frame 0 drew no object?)"
    return float(np.mean(values))


def test_frame_0_is_the_seed_s_picture_in_every_mode(runs):
    for run in runs:
        first = run.frames["independent"][0]
        for key, frames in run.frames.items():
            np.testing.assert_allclose(frames[0], first, atol=2e-3, err_msg=f"seed {run.seed} {key}")


def test_text2video_zero_keeps_the_object_s_identity_far_better_than_independent_frames(runs):
    independent, t2vz = mean(runs, "independent", "shape_iou"), mean(runs, T2VZ, "shape_iou")
    assert t2vz >= 0.65 and t2vz - independent >= 0.15, (independent, t2vz)  # measured 0.76 against 0.53
    independent, t2vz = mean(runs, "independent", "colour_diff"), mean(runs, T2VZ, "colour_diff")
    assert t2vz <= 4.0 and t2vz * 3 <= independent, (independent, t2vz)  # measured 1.2 against 7.1 levels


def test_text2video_zero_lowers_the_pack_s_warp_error(runs):
    independent, t2vz = mean(runs, "independent", "warp_error"), mean(runs, T2VZ, "warp_error")
    assert t2vz * 2 <= independent, (independent, t2vz)  # measured 6.2 against 19.7 levels


def test_cross_frame_attention_is_on_and_costs_no_identity(runs):
    for run in runs:  # the patch changes the later frames (frame 0 attends to itself)
        difference = np.abs(run.frames["cross_frame"][1:] - run.frames["independent"][1:]).max()
        assert difference > 0.05, (run.seed, difference)
    independent, cross_frame = mean(runs, "independent", "shape_iou"), mean(runs, "cross_frame", "shape_iou")
    assert cross_frame >= independent - 0.05, (independent, cross_frame)  # measured 0.53 against 0.53


def test_motion_makes_the_object_follow_the_camera(runs):
    still, moving = mean(runs, "cross_frame", "follow_error_px"), mean(runs, T2VZ, "follow_error_px")
    assert moving <= 15.0 and moving * 2 <= still, (still, moving)  # measured 6.0 px against 28.3 px


def test_frame_chunks_give_the_same_frames(world_sd15, runs):
    from checks import assert_close_rel

    run = runs[0]
    chunked = wa.video_latents(world_sd15, run.prompt, run.seed, SETTINGS,
                               wa.Config("t2vz", wa.FOLLOW_T0T1, frames_per_chunk=2), run.pan)
    assert_close_rel(chunked, run.latents[T2VZ])


def test_independent_frames_are_ksampler_s_plain_batch(world_sd15, runs):
    import comfy.sample

    from checks import assert_close_rel

    run = runs[0]
    model = world_sd15[0]
    positive, negative = wa.conditioning(world_sd15[1], run.prompt)
    latent = torch.zeros((SETTINGS.frames, 4, SETTINGS.size // 8, SETTINGS.size // 8))
    with torch.inference_mode():
        plain = comfy.sample.sample(model, comfy.sample.prepare_noise(latent, run.seed), SETTINGS.steps,
                                    SETTINGS.cfg, SETTINGS.sampler, SETTINGS.scheduler, positive, negative, latent,
                                    seed=run.seed)
    assert_close_rel(run.latents["independent"], plain)


def test_the_camera_moves_whole_latent_pixels_as_the_judge_expects():
    """The pan's expected displacement is what the motion field does: a latent moved by camera_for's motion is the
    latent shifted by whole pixels (content against the camera), 8 image px each."""
    wa.bootstrap()
    from t2vz.motion.field import frame_affines, warp_frames

    latent = torch.arange(16 * 16, dtype=torch.float32).reshape(1, 1, 16, 16)
    for pan in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        affines = frame_affines([0, 1, 2], 16, 16, wa.camera_for(pan, 16))
        moved = warp_frames(latent.expand(3, -1, -1, -1), affines)
        expected = wa.expected_displacement(pan, 3) / 8
        for k in (1, 2):
            dx, dy = (int(v) for v in expected[k])
            shifted = torch.roll(latent[0, 0], shifts=(dy, dx), dims=(0, 1))
            inner = (slice(2, 14), slice(2, 14))
            assert torch.equal(moved[k, 0][inner], shifted[inner]), (pan, k)
