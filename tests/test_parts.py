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
