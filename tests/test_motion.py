"""MotionLatentSampler's library: phases, motion field, chunking, modes, errors (tiny model, real ComfyUI); context
windows: tests/test_animatediff.py."""
from __future__ import annotations

import math

import pytest
import torch

from t2vz.motion import frame_affines, phases, sample_video, warp_anchor, warp_frames
from t2vz.motion.camera import ConstantMotion
from checks import assert_close_rel
from tiny_models import conditioning

POS, NEG = conditioning(1), conditioning(2)


def video(model, frames=4, h=8, w=8, steps=6, **kw):
    kw.setdefault("sampler_name", "ddim")
    kw.setdefault("scheduler", "ddim_uniform")
    sampler, scheduler = kw.pop("sampler_name"), kw.pop("scheduler")
    return sample_video(model, POS, NEG, torch.zeros((frames, 4, h, w)), kw.pop("seed", 7), steps, kw.pop("cfg", 6.0),
                        sampler, scheduler, **kw)


def test_phases_reproduce_the_reference_at_50_steps_and_scale():
    p = phases(50, 44, 47)
    assert (p.joint_start, p.warp_at, p.anchor_steps, p.total_progress) == (2, 5, 5, 53)
    for steps in range(2, 101):
        p = phases(steps, 44, 47)
        assert 0 <= p.joint_start < p.warp_at <= steps - 1


@pytest.mark.parametrize("t0,t1,needle", [(47, 47, "t0 must be smaller"), (10, 50, "beyond the schedule"),
                                          (-1, 3, "t0 must be smaller")])
def test_bad_t0_t1_name_the_input_and_fix(t0, t1, needle):
    with pytest.raises(ValueError, match=needle) as err:
        phases(50, t0, t1)
    assert "Fix" in str(err.value)


@pytest.mark.parametrize("steps", [4, 7, 13, 30, 100])
def test_any_step_count_runs(tiny, steps):
    out = video(tiny, frames=3, h=8, w=12, steps=steps)
    assert out.shape == (3, 4, 8, 12) and torch.isfinite(out).all()
    assert (out[1] - out[2]).abs().max() > 1e-3


@pytest.mark.parametrize("sampler,scheduler", [("euler_ancestral", "normal"), ("dpmpp_2m", "karras"),
                                               ("uni_pc", "simple")])
def test_other_samplers_and_schedulers(tiny, sampler, scheduler):
    out = video(tiny, frames=3, steps=8, sampler_name=sampler, scheduler=scheduler)
    assert torch.isfinite(out).all()


def test_frame_zero_is_the_image_ksampler_makes(tiny):
    import comfy.sample

    out = video(tiny, frames=4, steps=10)
    single = comfy.sample.sample(tiny, comfy.sample.prepare_noise(torch.zeros((1, 4, 8, 8)), 7), 10, 6.0, "ddim",
                                 "ddim_uniform", POS, NEG, torch.zeros((1, 4, 8, 8)), disable_pbar=True, seed=7)
    assert_close_rel(out[0], single[0])


def test_independent_without_cross_frame_is_plain_ksampler(tiny):
    import comfy.sample
    from t2vz.attention import CrossFrameAttention, with_cross_frame

    off = with_cross_frame(tiny, CrossFrameAttention(strength=0.0))
    latent = torch.zeros((3, 4, 8, 8))
    out = video(off, frames=3, steps=6, noise_mode="independent")
    plain = comfy.sample.sample(tiny, comfy.sample.prepare_noise(latent, 7), 6, 6.0, "ddim", "ddim_uniform", POS, NEG,
                                latent, disable_pbar=True, seed=7)
    assert_close_rel(out, plain)


@pytest.mark.parametrize("sampler", ["ddim", "euler_ancestral", "dpmpp_2m_sde"])
def test_shared_noise_gives_identical_frames_without_motion(tiny, sampler):
    """Also with ancestral/SDE samplers: their per-step noise is shared across frames (motion/noise.py)."""
    out = video(tiny, frames=3, steps=5, noise_mode="shared", sampler_name=sampler, scheduler="normal")
    assert_close_rel(out[1], out[0])
    assert_close_rel(out[2], out[0])


@pytest.mark.parametrize("anchor", ["first", "first+previous"])
@pytest.mark.parametrize("frames,chunk", [(7, 3), (8, 1), (5, 4)])
def test_chunked_equals_unchunked(tiny, anchor, frames, chunk):
    from t2vz.attention import CrossFrameAttention, with_cross_frame

    model = with_cross_frame(tiny, CrossFrameAttention(anchor=anchor))
    whole = video(model, frames=frames, steps=6)
    chunked = video(model, frames=frames, steps=6, frames_per_chunk=chunk)
    assert_close_rel(chunked, whole)


def test_128_frames_in_chunks(tiny):
    out = video(tiny, frames=128, h=8, w=8, steps=4, frames_per_chunk=16)
    assert out.shape[0] == 128 and torch.isfinite(out).all()


@pytest.mark.parametrize("frames,steps,chunk", [(8, 50, 0), (8, 50, 3), (20, 10, 8)])
def test_work_is_the_methods_count(tiny, frames, steps, chunk):
    """Counted UNet rows: frame 0 alone up to the warp step, then every frame from the joint start (5 + 48 x 8 = 389
    frame-steps at 50 steps, against 400 for a plain batch), chunks or not: frame 0 is never re-run per chunk."""
    calls, rows = [], []

    def count(module, args, kwargs):
        calls.append(1)
        rows.append((args[0] if args else kwargs["x"]).shape[0])

    plan = phases(steps, 44, 47)
    handle = tiny.model.diffusion_model.register_forward_pre_hook(count, with_kwargs=True)
    try:
        video(tiny, frames=frames, steps=steps, frames_per_chunk=chunk)
    finally:
        handle.remove()
    chunks = 1 if chunk in (0, frames) else -(-frames // chunk)
    assert sum(rows) // 2 == plan.warp_at + (steps - plan.joint_start) * frames  # 2 rows per frame: cfg
    assert len(calls) == plan.warp_at + (steps - plan.joint_start) * chunks
    if (frames, steps) == (8, 50):
        assert sum(rows) // 2 == 389


def test_progress_counts_every_step_of_every_phase(tiny):
    seen = []
    video(tiny, frames=3, steps=50, progress=lambda done, total, x0: seen.append((done, total)))
    assert [d for d, _ in seen] == list(range(1, 54)) and {t for _, t in seen} == {53}


def test_cancel_stops_within_one_step(tiny):
    import comfy.model_management as mm

    seen = []

    def progress(done, total, x0):
        seen.append(done)
        if done == 3:
            mm.interrupt_current_processing(True)

    try:
        with pytest.raises(mm.InterruptProcessingException):
            video(tiny, frames=3, steps=20, progress=progress)
    finally:
        mm.interrupt_current_processing(False)
    assert max(seen) == 3


@pytest.mark.parametrize("latent,needle", [
    (torch.zeros((0, 4, 8, 8)), "0 frames"),
    (torch.zeros((4, 8, 8)), "batch of frames"),
    (torch.full((2, 4, 8, 8), float("nan")), "NaN"),
])
def test_bad_latents_are_named(tiny, latent, needle):
    with pytest.raises(ValueError, match=needle):
        sample_video(tiny, POS, NEG, latent, 0, 4, 6.0, "ddim", "ddim_uniform")


def test_background_smoothing(tiny):
    mask = torch.zeros((1, 128, 128))
    mask[:, 48:80, 48:80] = 1.0
    plain = video(tiny, frames=3, h=16, w=16, steps=6)
    smoothed = video(tiny, frames=3, h=16, w=16, steps=6, foreground_mask=mask, smooth_bg_strength=0.4)
    same = video(tiny, frames=3, h=16, w=16, steps=6, foreground_mask=mask, smooth_bg_strength=1.0)
    assert_close_rel(same, plain)
    assert (smoothed[1:] - plain[1:]).abs().max() > 1e-3
    assert_close_rel(smoothed[0], plain[0])
    with pytest.raises(ValueError, match="foreground_mask"):
        video(tiny, frames=3, steps=6, foreground_mask=torch.zeros((2, 64, 64)))  # 2 masks for 3 frames
    with pytest.raises(ValueError, match="foreground_mask.*aspect"):
        video(tiny, frames=3, steps=6, foreground_mask=torch.zeros((1, 64, 128)))  # 1:2 mask, square video


# --- the affine motion field --------------------------------------------------------------------------------------

def _marker(h, w, y, x):
    latent = torch.zeros((1, 1, h, w))
    latent[0, 0, y, x] = 1.0
    return latent


def _position(frame):
    idx = torch.nonzero(frame[0] > 0.5)
    return idx.float().mean(0)  # (y, x)


@pytest.mark.parametrize("h,w", [(64, 64), (33, 47), (24, 40)])
def test_identity_zoom_and_rotation_is_the_translation_warp(h, w):
    anchor = torch.randn((1, 4, h, w), generator=torch.Generator().manual_seed(1))
    ids = list(range(1, 6))
    plain = frame_affines(ids, h, w, ConstantMotion(12.0, -4.0))
    explicit = frame_affines(ids, h, w, ConstantMotion(12.0, -4.0, zoom=1.0, rotation=0.0))
    translation = torch.zeros((len(ids), 2, 3), dtype=torch.float64)
    translation[:, 0, 0] = translation[:, 1, 1] = 1.0
    translation[:, 0, 2] = torch.tensor([(12.0 * k - 0.5) * w / 512 for k in ids])
    translation[:, 1, 2] = torch.tensor([(-4.0 * k - 0.5) * h / 512 for k in ids])
    assert torch.equal(explicit, plain)
    assert torch.equal(warp_frames(anchor.expand(5, -1, -1, -1), translation.float()),
                       warp_anchor(anchor, ids, ConstantMotion(12.0, -4.0, zoom=1.0, rotation=0.0)))


def test_positive_motion_moves_content_left_and_up():
    frames = warp_anchor(_marker(64, 64, 32, 32), [0, 4], ConstantMotion(12.0, 12.0))
    y0, x0 = _position(frames[0])
    y4, x4 = _position(frames[1])
    assert (x0 - x4).item() == pytest.approx(6, abs=1) and (y0 - y4).item() == pytest.approx(6, abs=1)


def test_zoom_moves_a_marker_away_from_the_centre():
    h = w = 65  # odd: the centre is a pixel
    c = (h - 1) / 2
    frames = warp_anchor(_marker(h, w, 32, 42), [0, 1, 2], ConstantMotion(0.0, 0.0, zoom=1.1))
    for k, frame in enumerate(frames):
        _, x = _position(frame)
        assert (x - c).item() == pytest.approx(10 * 1.1 ** k, abs=1.0)


def test_rotation_turns_a_marker_anticlockwise_about_the_centre():
    h = w = 65
    c = (h - 1) / 2
    frames = warp_anchor(_marker(h, w, 32, 52), [0, 3], ConstantMotion(0.0, 0.0, rotation=30.0))
    y, x = _position(frames[1])
    angle = math.degrees(math.atan2(-(y - c).item(), (x - c).item()))  # y grows downwards: negate for on-screen
    assert angle == pytest.approx(90.0, abs=4.0)
    assert math.hypot((y - c).item(), (x - c).item()) == pytest.approx(20.0, abs=1.0)


def test_camera_figures_draw_every_move_with_the_sampler_warp():
    """docs/camera-motion.png's and docs/camera-path.png's generator: one row per move, every move changes the later
    frames, one tile per frame of the path's strip."""
    import sys

    from conftest import REPO
    from t2vz.motion.preview import grid_pattern, preview_frames

    sys.path.insert(0, str(REPO / "scripts"))
    import camera_figure

    pattern = grid_pattern(camera_figure.SIZE, camera_figure.SIZE)
    for _, mx, my, zoom, rotation in camera_figure.MOVES:
        frames = preview_frames(pattern, max(camera_figure.FRAMES) + 1, ConstantMotion(mx, my, zoom, rotation))
        assert torch.equal(frames[0], pattern[0])
        assert all((frames[k] - frames[0]).abs().max() > 0.5 for k in camera_figure.FRAMES[1:])
    assert camera_figure.motion_figure().height > len(camera_figure.MOVES) * camera_figure.SIZE * camera_figure.SCALE
    assert camera_figure.path_figure().width > len(camera_figure.PATH_FRAMES) * camera_figure.SIZE
    assert camera_figure.icon_figure().size == (400, 400)  # the registry's icon: at most 800x400


def core_context_windows(model, length: int, overlap: int, **options):
    """ComfyUI's own Context Windows (Manual) node (Standard Static, pyramid fusion) on ``model``."""
    import inspect

    from comfy_extras.nodes_context_windows import ContextWindowsManualNode

    accepted = inspect.signature(ContextWindowsManualNode.execute).parameters
    out = ContextWindowsManualNode.execute(model, length, overlap, "standard_static", 1, False, "pyramid", 0,
                                           **{k: v for k, v in options.items() if k in accepted})
    return out.args[0]


CORE_WINDOWS_RUN = "causal_window_fix" in __import__("inspect").signature(
    __import__("comfy_extras.nodes_context_windows", fromlist=["x"]).ContextWindowsManualNode.execute).parameters
"""ComfyUI 0.33's core context windows sample an SD1.5 batch (and add the causal_window_fix frame); 0.3.75's cannot
(their set_step compares a per-row timestep with the schedule)."""


@pytest.mark.parametrize("causal_window_fix", [True, False])
def test_core_context_windows_equal_one_window(tiny, causal_window_fix):
    """Core windows, where they run: each window (with the frame before it, under causal_window_fix) anchors on the
    same step's frame 0, so the video equals the one made without windows; on ComfyUI 0.3.75 they fail as
    documented (docs/compatibility.md)."""
    from t2vz.attention import CrossFrameAttention, with_cross_frame

    model = with_cross_frame(tiny, CrossFrameAttention())
    windowed = core_context_windows(model, 4, 1, freenoise=False, causal_window_fix=causal_window_fix)
    if not CORE_WINDOWS_RUN:
        # 0.3.75's IndexListContextHandler.set_step: torch.isclose(sample_sigmas (steps + 1), timestep (one per row))
        with pytest.raises(RuntimeError, match=r"^The size of tensor a \(6\) must match the size of tensor b \(10\) "
                                               r"at non-singleton dimension 0$") as failure:
            video(windowed, frames=10, steps=5)
        assert failure.traceback[-1].name == "set_step", failure.traceback[-1]
        return
    assert_close_rel(video(windowed, frames=10, steps=5), video(model, frames=10, steps=5))
