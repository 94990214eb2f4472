"""One video in parts (motion/parts.py, sample_video's part): every part equals the same frames of the whole run, in
every noise mode, with first_frame, a foreground mask, frame chunks and a per-frame ControlNet; the re-noise and
per-step noise draws are the whole run's own. In-process, tiny model, real ComfyUI sampling."""
from __future__ import annotations

import pytest
import torch

from t2vz.attention import ANCHOR_FIRST_AND_PREVIOUS, CrossFrameAttention, with_cross_frame
from t2vz.motion import sample_video
from t2vz.motion.parts import video_part
from checks import assert_close_rel
from tiny_models import conditioning

POS, NEG = conditioning(1), conditioning(2)


def video(model, frames=7, part=None, steps=6, sampler="ddim", scheduler="ddim_uniform", positive=POS,
          negative=NEG, **kw):
    return sample_video(model, positive, negative, torch.zeros((frames, 4, 8, 8)), 11, steps, 6.0, sampler, scheduler,
                        part=part, **kw)


def in_parts(model, frames, count, **kw) -> torch.Tensor:
    """Every part computed on its own, put together in order."""
    parts = [video(model, frames, video_part(frames, index, count), **kw) for index in range(count)]
    for index, out in enumerate(parts):
        part = video_part(frames, index, count)
        assert out.shape[0] == part.stop - part.start
    return torch.cat(parts)


def test_the_split_balances_the_rows_of_the_joint_passes():
    """Parts 1..N-1 hold frame 0 besides their own: the rows (work) differ by one at most, every frame is in one
    part, in order, and every part has a frame."""
    assert [(p.start, p.stop) for p in (video_part(7, i, 3) for i in range(3))] == [(0, 3), (3, 5), (5, 7)]
    assert [(p.start, p.stop) for p in (video_part(8, i, 8) for i in range(8))] == [(i, i + 1) for i in range(8)]
    for frames in range(1, 40):
        for count in range(1, frames + 1):
            parts = [video_part(frames, i, count) for i in range(count)]
            assert [p.start for p in parts[1:]] == [p.stop for p in parts[:-1]]
            assert parts[0].start == 0 and parts[-1].stop == frames and all(p.stop > p.start for p in parts)
            rows = [len(p.rows) for p in parts]
            assert max(rows) - min(rows) <= 1, (frames, count, rows)
    part = video_part(10, 2, 3)
    assert part.rows == [0, 7, 8, 9] and part.kept == [1, 2, 3]
    assert video_part(10, 0, 3).rows == [0, 1, 2, 3] and video_part(10, 0, 3).kept == [0, 1, 2, 3]


@pytest.mark.parametrize("index,count,needle", [(3, 3, "part 3 is outside the 3 parts (valid: 0 to 2)"),
                                                (-1, 2, "part -1 is outside the 2 parts"),
                                                (0, 9, "parts is 9 but the video has 8 frames"),
                                                (0, 0, "parts must be at least 1")])
def test_bad_parts_name_the_input_and_the_valid_range(index, count, needle):
    with pytest.raises(ValueError) as err:
        video_part(8, index, count)
    assert needle in str(err.value) and "Fix" in str(err.value)


@pytest.mark.parametrize("noise_mode,sampler,scheduler", [
    ("motion", "ddim", "ddim_uniform"), ("motion", "euler_ancestral", "normal"), ("motion", "dpmpp_2m_sde", "karras"),
    ("shared", "euler_ancestral", "normal"), ("independent", "ddim", "ddim_uniform"),
    ("independent", "euler_ancestral", "normal"), ("independent", "dpmpp_sde", "normal")])
@pytest.mark.parametrize("frames,count", [(7, 3), (5, 5)])
def test_parts_equal_the_whole_video(tiny, noise_mode, sampler, scheduler, frames, count):
    whole = video(tiny, frames, noise_mode=noise_mode, sampler=sampler, scheduler=scheduler)
    assert_close_rel(in_parts(tiny, frames, count, noise_mode=noise_mode, sampler=sampler, scheduler=scheduler),
                     whole)


def test_parts_with_first_frame_mask_and_chunks(tiny):
    image = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(4))
    mask = torch.zeros((8, 64, 64))
    mask[:, 16:48, 20:40] = 1.0  # one foreground mask per frame
    options = dict(first_frame=image, first_frame_strength=0.6, foreground_mask=mask, smooth_bg_strength=0.3,
                   frames_per_chunk=2)
    whole = video(tiny, 8, **{**options, "frames_per_chunk": 0})
    assert_close_rel(in_parts(tiny, 8, 3, **options), whole)


def test_a_part_is_not_the_video_start(tiny):
    """Without the part's global frame indices a part would be the first frames of a shorter video."""
    shorter = video(tiny, 3)
    part = video(tiny, 7, video_part(7, 2, 3))
    assert (part[:2] - shorter[1:]).abs().max() > 1e-3


def test_first_plus_previous_is_refused_in_parts(tiny):
    model = with_cross_frame(tiny, CrossFrameAttention(anchor=ANCHOR_FIRST_AND_PREVIOUS))
    with pytest.raises(ValueError, match="first\\+previous.*Fix") as err:
        video(model, 6, video_part(6, 1, 2))
    assert "parts 2" in str(err.value)
    assert video(model, 6, video_part(6, 0, 1)).shape[0] == 6  # one part: the whole video, as ever


def test_parts_with_video_controlnet_get_hint_k(tiny):
    """Frame k of a part gets control image k of the video (counted globally), in chunks too."""
    from t2vz.attention.control import VideoControl
    from tiny_controlnet import tiny_control_net

    control_net = tiny_control_net(seed=3)
    hints = torch.rand((7, 3, 64, 64), generator=torch.Generator().manual_seed(0))

    def with_control():
        control = VideoControl(control_net, hints)
        return ([[POS[0][0], {"control": control, "control_apply_to_uncond": False}]],
                [[NEG[0][0], {"control": control, "control_apply_to_uncond": False}]])

    positive, negative = with_control()
    whole = video(tiny, 7, positive=positive, negative=negative, noise_mode="shared", steps=4)
    parts = []
    for index in range(3):
        positive, negative = with_control()
        parts.append(video(tiny, 7, video_part(7, index, 3), positive=positive, negative=negative,
                           noise_mode="shared", steps=4, frames_per_chunk=2))
    assert_close_rel(torch.cat(parts), whole)
    plain = video(tiny, 7, noise_mode="shared", steps=4)
    assert (plain - whole).abs().max() > 1e-2  # the ControlNet steered


# --- parts under context windows: the windows cut the part's rows, which map to the part's global frames ----------

WINDOW_FRAMES, WINDOW_PARTS = 16, 3
"""16 frames in 3 parts: each part's batch holds 6 rows (frame 0 and the part's 5 or 6 frames), so windows of 4 cut
it into several windows, and a part after the first has windows without its row 0 (rows 2-5: frames 7-10 of part
1)."""


def core_windows(model, length: int, overlap: int):
    """ComfyUI's own Context Windows (Manual) node (Standard Static, pyramid fusion) on ``model``, or None where the
    host's core windows cannot sample an SD1.5 batch (0.3.75; tests/test_motion.py shows that)."""
    import inspect

    from comfy_extras.nodes_context_windows import ContextWindowsManualNode

    accepted = inspect.signature(ContextWindowsManualNode.execute).parameters
    if "causal_window_fix" not in accepted:
        return None
    extra = {"freenoise": False} if "freenoise" in accepted else {}
    return ContextWindowsManualNode.execute(model, length, overlap, "standard_static", 1, False, "pyramid", 0,
                                            **extra).args[0]


def windowed(model, kind: str, length: int = 4, overlap: int = 2):
    if kind == "ade":
        from animatediff import context_options, evolved

        return evolved(model, context_options("static", length, overlap))
    out = core_windows(model, length, overlap)
    if out is None:
        pytest.skip("this ComfyUI's core context windows cannot sample an SD1.5 batch (tests/test_motion.py)")
    return out


@pytest.mark.parametrize("kind", ["ade", "core"])
def test_parts_under_context_windows_with_video_controlnet_equal_the_whole_video(tiny, kind, monkeypatch):
    """Standard Static windows (4 frames, overlap 2) plus Video ControlNet Apply, in 3 parts: the joined parts are
    the whole video (made without windows). A window of part k is rows of the part's batch: frame k of the video gets
    control image k (not image 2..5 for frames 7..10), and every window anchors on the part's row 0, frame 0."""
    from t2vz.attention.control import VideoControl
    from t2vz.nodes.controlnet_apply import VideoControlNetApply
    from tiny_controlnet import tiny_control_net

    control_net = tiny_control_net(seed=3)
    images = torch.rand((WINDOW_FRAMES, 64, 64, 3), generator=torch.Generator().manual_seed(0))

    def with_control():  # the node, as in a workflow: one hint per frame of the whole video
        return VideoControlNetApply.execute(POS, NEG, control_net, images, 1.0, 0.0, 1.0, "none", 100, 200,
                                            "error").args

    options = dict(noise_mode="shared", steps=3)
    positive, negative = with_control()
    whole = video(tiny, WINDOW_FRAMES, positive=positive, negative=negative, **options)
    model = windowed(tiny, kind)
    parts = []
    for index in range(WINDOW_PARTS):
        part = video_part(WINDOW_FRAMES, index, WINDOW_PARTS)
        assert len(part.rows) == 6
        positive, negative = with_control()
        parts.append(video(model, WINDOW_FRAMES, part, positive=positive, negative=negative, **options))
    assert_close_rel(torch.cat(parts), whole)
    seen = []  # the control images of every ControlNet call of part 1, again
    evaluate = VideoControl.evaluate
    monkeypatch.setattr(VideoControl, "evaluate", lambda self, x, t, cond, indices, options:
                        seen.append(tuple(indices)) or evaluate(self, x, t, cond, indices, options))
    positive, negative = with_control()
    video(model, WINDOW_FRAMES, video_part(WINDOW_FRAMES, 1, WINDOW_PARTS), positive=positive, negative=negative,
          **options)
    # part 1's windows, rows 0-3 and 2-5 of its batch (frames 0, 6-10), with core's causal_window_fix frame before
    assert {(0, 6, 7, 8), (7, 8, 9, 10)} <= set(seen) or {(0, 6, 7, 8), (6, 7, 8, 9, 10)} <= set(seen), set(seen)
    plain = video(tiny, WINDOW_FRAMES, **options)
    assert (plain - whole).abs().max() > 1e-2  # the ControlNet steered


@pytest.mark.parametrize("kind", ["ade", "core"])
def test_parts_under_context_windows_equal_the_whole_video(tiny, kind):
    """Cross-frame attention alone (motion noise): windows without the part's row 0 anchor on the same step's frame
    0, so the parts equal the whole video too."""
    whole = video(tiny, WINDOW_FRAMES, steps=4)
    model = windowed(tiny, kind)
    assert_close_rel(in_parts(model, WINDOW_FRAMES, WINDOW_PARTS, steps=4), whole)


def test_a_window_of_a_part_counts_its_rows_through_the_parts_frames():
    """Core and ADE windows index the sampler's batch; under a part (VIDEO_KEY) that is frame 0, then the part's."""
    from t2vz.attention import VIDEO_KEY, global_frame_ids, window_frame_ids
    from t2vz.attention.control import call_hint_indices

    part = {VIDEO_KEY: {"frames": [0, 6, 7, 8, 9, 10], "length": 16}, "cond_or_uncond": [1, 0]}
    ade = dict(part, ad_params={"sub_idxs": [2, 3, 4, 5], "full_length": 6, "context_length": 4})
    assert global_frame_ids(ade, 4) == ([7, 8, 9, 10], True)
    assert call_hint_indices(ade, 8, 2, 16, "error")[1] == [7, 8, 9, 10]
    first = dict(part, ad_params={"sub_idxs": [0, 1, 2, 3], "full_length": 6, "context_length": 4})
    assert global_frame_ids(first, 4) == ([0, 6, 7, 8], True)
    window = type("W", (), {"index_list": [2, 3, 4, 5], "dim": 0, "causal_anchor_index": 1})()
    assert window_frame_ids(dict(part, context_window=window), 5) == [6, 7, 8, 9, 10]
    assert global_frame_ids(part, 6) == ([0, 6, 7, 8, 9, 10], True)  # no window: the part's rows
    stray = dict(part, ad_params={"sub_idxs": [5, 6, 7, 8]})
    with pytest.raises(ValueError, match="rows \\[6, 7, 8\\] are not in the batch.*Fix"):
        global_frame_ids(stray, 4)


# --- labelled parts and joining them -------------------------------------------------------------------------------

def png_round_trip(images: torch.Tensor) -> torch.Tensor:
    """What ComfyUI-Distributed does to a worker's frames: uint8(255 x) (truncated) into a PNG, back / 255."""
    import io as bytes_io

    import numpy as np
    from PIL import Image

    out = []
    for frame in images:
        buffer = bytes_io.BytesIO()
        Image.fromarray((255 * frame.numpy()).astype(np.uint8)).save(buffer, format="PNG")
        out.append(torch.from_numpy(np.array(Image.open(buffer)).astype(np.float32) / 255.0))
    return torch.stack(out)


def labelled(frames=7, count=3, video=None, size=(24, 32)):
    from t2vz.motion.parts import labelled_part

    images = torch.rand((frames, *size, 3), generator=torch.Generator().manual_seed(1))
    parts = []
    for index in range(count):
        part = video_part(frames, index, count)
        parts.append(labelled_part(images[part.start:part.stop], part, video or {"seed": 1}))
    return images, parts


def test_joined_parts_are_the_quantized_frames_even_through_png():
    from t2vz.motion.parts import join_parts, quantize_frames

    images, parts = labelled()
    parts[1] = png_round_trip(parts[1])  # a worker's part; the master's stays float
    parts[2] = png_round_trip(parts[2])
    joined = join_parts(torch.cat(parts))
    assert torch.equal(joined, quantize_frames(images))
    assert (quantize_frames(images) - images).abs().max() <= 0.5 / 255 + 1e-7


@pytest.mark.parametrize("arrived,needle", [
    ([0, 2], "part 1 of 3 (frames 3-4 of 7) did not arrive"),
    ([0, 1], "part 2 of 3 (frames 5-6 of 7) did not arrive"),
    ([1, 2], "part 0 of 3 (frames 0-2 of 7) did not arrive"),
    ([0, 2, 1], "arrived as [0, 2, 1]"),
    ([0, 1, 1, 2], "arrived as [0, 1, 1, 2]"),
])
def test_an_incomplete_or_shuffled_video_is_refused_naming_the_part(arrived, needle):
    from t2vz.motion.parts import join_parts

    _, parts = labelled()
    with pytest.raises(ValueError) as err:
        join_parts(torch.cat([parts[i] for i in arrived]))
    assert needle in str(err.value) and "Fix" in str(err.value)


def test_parts_of_different_videos_or_unlabelled_frames_are_refused():
    from t2vz.motion.parts import join_parts

    _, parts = labelled()
    _, other = labelled(video={"seed": 2})
    with pytest.raises(ValueError, match="different videos"):
        join_parts(torch.cat([parts[0], other[1], parts[2]]))
    with pytest.raises(ValueError, match="no part labels"):
        join_parts(torch.rand((3, 24, 32, 3)))
    with pytest.raises(ValueError, match="came with 4 frames instead of 3"):
        join_parts(torch.cat([torch.rand((1, 24, 32, 3)), parts[0], parts[1], parts[2]]))
    with pytest.raises(ValueError, match="too small"):
        labelled(size=(4, 4))


@pytest.mark.parametrize("sampler,scheduler", [("euler_ancestral", "normal"), ("dpmpp_2m_sde", "karras")])
def test_flow_noise_in_parts_equals_the_whole_video(tiny, sampler, scheduler):
    """noise_mode flow (ControlNet video's way to follow a source clip): the parts draw the whole video's flow noise,
    x_T and every step's, and take their rows; the anchor cache keeps frame chunks exact too."""
    from t2vz.motion.flow_noise import source_motion
    from test_flow_edit import shifted_texture

    flow = source_motion(shifted_texture(7, 64, 8))
    kw = dict(noise_mode="flow", sampler=sampler, scheduler=scheduler, flow=flow)
    whole = video(tiny, 7, **kw)
    assert_close_rel(in_parts(tiny, 7, 3, frames_per_chunk=2, **kw), whole)
    assert (whole - video(tiny, 7, noise_mode="shared", sampler=sampler, scheduler=scheduler)).abs().max() > 1e-3
