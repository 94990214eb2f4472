"""Camera paths (motion/camera.py, the Camera Path node) and the motion preview (the Motion Preview node): the
schedule syntax and its errors, interpolation, bit-identity with the constant motion inputs, exact use of a path by
the sampler (frame by frame), parts, and the preview's frames (the sampler's own warp)."""
from __future__ import annotations

import logging
import math

import pytest
import torch

from t2vz.motion import frame_affines, sample_video, warp_anchor
from t2vz.motion.camera import INTERPOLATIONS, ConstantMotion, camera_path, parse_schedule
from t2vz.motion.parts import video_part
from t2vz.motion.sampler import Motion
from checks import assert_close_rel
from tiny_models import conditioning

POS, NEG = conditioning(1), conditioning(2)


def video(model, frames=7, motion=Motion(), **kw):
    return sample_video(model, POS, NEG, torch.zeros((frames, 4, 8, 8)), 5, 6, 6.0, "ddim", "ddim_uniform",
                        motion=motion, **kw)


# --- the syntax ------------------------------------------------------------------------------------------------------

def test_schedules_read_the_fizznodes_syntax():
    schedule = parse_schedule(" 0:(0),\n 12:( -2.5 ), 36:(1e2),", "pan_x")
    assert schedule.keyframes == ((0, 0.0), (12, -2.5), (36, 100.0))
    assert parse_schedule("5:(3)", "pan_x").keyframes == ((5, 3.0),)


@pytest.mark.parametrize("text,needles", [
    ("0:(0), 12:24", ["12:24", "frame:(value)", "e.g."]),
    ("0:(0) 12:(24)", ["12:(24)", "frame:(value)"]),
    ("0:(zero)", ["'zero'", "not a number", "e.g."]),
    ("a:(1)", ["'a'", "not a frame number"]),
    ("0:(0), 12:(5), 6:(2)", ["frame 6 comes after frame 12", "increasing"]),
    ("0:(0), 12:(5), 12:(2)", ["frame 12 has two keyframes"]),
    ("", ["empty", "0:(0)"]),
    ("-3:(1)", ["negative"]),
    ("0:(nan)", ["not a finite number"]),
])
def test_bad_keyframes_are_quoted_with_the_syntax_and_a_fix(text, needles):
    with pytest.raises(ValueError) as err:
        parse_schedule(text, "pan_x")
    message = str(err.value)
    assert message.startswith("pan_x") and "Fix" in message
    for needle in needles:
        assert needle in message, message


@pytest.mark.parametrize("text", ["0:(1), 10:(0)", "0:(1), 10:(-2)"])
def test_zoom_must_stay_above_zero(text):
    with pytest.raises(ValueError, match="must be above 0") as err:
        camera_path(zoom=text)
    assert "Fix" in str(err.value)


# --- interpolation -------------------------------------------------------------------------------------------------

def test_interpolations_hold_before_and_after_and_zoom_is_geometric():
    frames = list(range(0, 13))
    pan = camera_path(pan_x="2:(0), 10:(80)", interpolation="linear").pan_x.at(frames, "linear")
    assert pan[:3].tolist() == [0.0, 0.0, 0.0] and pan[10:].tolist() == [80.0, 80.0, 80.0]
    assert pan[6].item() == pytest.approx(40.0)
    eased = parse_schedule("0:(0), 10:(100)", "pan_x").at(frames, "ease_in_out")
    assert eased[5].item() == pytest.approx(50.0) and eased[1].item() < 10.0 and eased[9].item() > 90.0
    assert eased[3].item() + eased[7].item() == pytest.approx(100.0)  # symmetric
    held = parse_schedule("0:(0), 10:(100)", "pan_x").at(frames, "hold")
    assert held[:10].tolist() == [0.0] * 10 and held[10].item() == 100.0
    zoom = parse_schedule("0:(1), 10:(4)", "zoom", geometric=True).at([5], "linear")
    assert zoom.item() == pytest.approx(2.0)  # halfway in time is halfway in log zoom: a steady push-in


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_every_interpolation_holds_before_the_first_and_after_the_last_keyframe(interpolation):
    """Before the first keyframe the first value, between keyframes values between them (in order, and exactly at
    each keyframe), after the last keyframe exactly the last value: the camera never jumps back."""
    values = parse_schedule("3:(10), 10:(100), 12:(40)", "pan_x").at(range(16), interpolation).tolist()
    assert values[:4] == [10.0] * 4
    assert values[10] == 100.0 and values[12:] == [40.0] * 4
    rising, falling = values[3:11], values[10:13]
    assert rising == sorted(rising) and falling == sorted(falling, reverse=True)
    if interpolation == "hold":
        assert values[3:10] == [10.0] * 7 and values[10:12] == [100.0] * 2
    else:
        assert all(10.0 < v < 100.0 for v in values[4:10]) and 40.0 < values[11] < 100.0
    zoom = parse_schedule("0:(1), 4:(2)", "zoom", geometric=True).at(range(8), interpolation)
    assert zoom[4:].tolist() == pytest.approx([2.0] * 4, rel=1e-15)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_a_float_list_holds_its_last_value(interpolation):
    path = camera_path(interpolation=interpolation, values={"pan_x": [0.0, 5.0, 9.0], "zoom": [1.0, 1.5]})
    assert path.pan_x.at(range(6), interpolation).tolist() == [0.0, 5.0, 9.0, 9.0, 9.0, 9.0]
    assert path.zoom.at(range(5), interpolation).tolist() == pytest.approx([1.0, 1.5, 1.5, 1.5, 1.5], rel=1e-15)
    pan_x, _, _, _ = path.relative([1, 2, 3, 4])
    assert pan_x.tolist() == [5.0, 9.0, 9.0, 9.0]


def test_the_warp_is_relative_to_frame_zero():
    path = camera_path(pan_x="0:(30), 4:(70)", zoom="0:(2), 4:(4)", rotation="0:(10)", interpolation="linear")
    pan_x, _, zoom, rotation = path.relative([0, 4])
    assert pan_x.tolist() == [0.0, 40.0] and zoom.tolist() == [1.0, 2.0] and rotation.tolist() == [0.0, 0.0]


# --- the constant motion inputs and what the nodes log ---------------------------------------------------------------

@pytest.mark.parametrize("name", ["motion_x", "motion_y", "zoom", "rotation"])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_motion_input_that_is_not_a_number_is_refused_naming_it(name, value):
    """ComfyUI's min/max check lets NaN through (every comparison with it is false): the camera refuses it."""
    from t2vz.nodes.camera import chosen_camera

    motion = {"motion_x": 12.0, "motion_y": 12.0, "zoom": 1.0, "rotation": 0.0, name: value}
    with pytest.raises(ValueError, match=f"^{name} is (nan|inf), not a number. Fix: enter a number in {name}"):
        chosen_camera("Motion Latent Sampler", None, "motion", **motion)
    with pytest.raises(ValueError, match=f"^{name} is"):  # also under a linked path: the input is wrong either way
        chosen_camera("Motion Latent Sampler", camera_path(), "motion", **motion)


def test_the_defaults_are_one_camera():
    """The nodes' widgets, the sampler's Motion and the warp share one set of defaults: ConstantMotion's."""
    from t2vz.nodes.camera import MOTION_DEFAULTS, motion_inputs

    assert Motion().camera == ConstantMotion() == ConstantMotion(**MOTION_DEFAULTS)
    assert {i.id: i.default for i in motion_inputs()} == MOTION_DEFAULTS == {"motion_x": 12.0, "motion_y": 12.0,
                                                                              "zoom": 1.0, "rotation": 0.0}


@pytest.mark.parametrize("noise_mode", ["shared", "independent"])
def test_a_camera_in_a_mode_without_motion_is_logged_once_as_doing_nothing(noise_mode, caplog):
    from t2vz.nodes.camera import chosen_camera

    node = "Motion Latent Sampler"
    with caplog.at_level(logging.INFO, logger="t2v-zero"):
        chosen_camera(node, camera_path(), noise_mode, motion_x=20.0, motion_y=12.0, zoom=1.0, rotation=0.0)
    assert caplog.text.count(f"noise_mode is '{noise_mode}', which makes no camera move, so these inputs do "
                             f"nothing: camera_path.") == 1
    assert "sets the camera" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="t2v-zero"):
        chosen_camera(node, None, noise_mode, motion_x=20.0, motion_y=12.0, zoom=1.1, rotation=0.0)
    assert caplog.text.count("so these inputs do nothing: motion_x=20.0, zoom=1.1.") == 1
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="t2v-zero"):  # the defaults, untouched: nothing to say
        chosen_camera(node, None, noise_mode, motion_x=12.0, motion_y=12.0, zoom=1.0, rotation=0.0)
    assert caplog.text == ""


def test_the_sampler_node_logs_the_idle_camera_in_shared_mode(tiny, caplog):
    from t2vz.nodes.motion_sampler import MotionLatentSampler

    with caplog.at_level(logging.INFO, logger="t2v-zero"):
        MotionLatentSampler.execute(tiny, POS, NEG, {"samples": torch.zeros((2, 4, 8, 8))}, 1, 1, 6.0, "euler",
                                    "normal", "shared", 30.0, 12.0, 1.0, 0.0, 44, 47, 0)
    assert caplog.text.count("Motion Latent Sampler: noise_mode is 'shared', which makes no camera move, so these "
                             "inputs do nothing: motion_x=30.0.") == 1


def test_motion_inputs_and_the_path_say_they_act_only_in_motion_mode():
    from t2vz.nodes.camera import camera_path_input, motion_inputs

    for widget in [*motion_inputs(), camera_path_input()]:
        assert "only in noise_mode 'motion'" in widget.tooltip, widget.id


# --- the sampler uses the path exactly --------------------------------------------------------------------------------

def constant_as_path(frames=7, motion_x=12.0, motion_y=-5.0, zoom=1.03, rotation=1.5):
    """The constant motion as keyframes: pan and rotation from two keyframes, zoom as a float list (zoom^k)."""
    last = frames - 1
    return camera_path(pan_x=f"0:(0), {last}:({motion_x * last})", pan_y=f"0:(0), {last}:({motion_y * last})",
                       rotation=f"0:(0), {last}:({rotation * last})", interpolation="linear",
                       values={"zoom": [zoom ** k for k in range(frames)]})


def test_a_path_equal_to_the_constant_motion_gives_the_same_maps_bit_for_bit():
    ids = list(range(7))
    assert torch.equal(frame_affines(ids, 8, 12, constant_as_path()),
                       frame_affines(ids, 8, 12, ConstantMotion(12.0, -5.0, 1.03, 1.5)))


def test_a_path_equal_to_the_constant_motion_gives_a_bit_identical_video(tiny):
    constant = Motion(ConstantMotion(12.0, -5.0, 1.03, 1.5))
    keyframed = Motion(constant_as_path())
    assert torch.equal(video(tiny, motion=keyframed), video(tiny, motion=constant))


def test_each_frame_gets_exactly_the_path_s_move(tiny):
    """Every frame depends only on itself and frame 0: where the path is at 12 px per frame (frames 0-2, 6) the
    frames are bit for bit the constant 12-px video's; where it holds (3-5) they are not."""
    path = camera_path(pan_x="0:(0), 2:(24), 5:(24), 6:(72)", pan_y="0:(0)", interpolation="linear")
    constant = video(tiny, motion=Motion(ConstantMotion(12.0, 0.0)))
    keyframed = video(tiny, motion=Motion(path))
    for k in (0, 1, 2, 6):
        assert torch.equal(keyframed[k], constant[k]), k
    for k in (3, 4, 5):
        assert (keyframed[k] - constant[k]).abs().max() > 1e-3, k


def test_a_path_in_parts_with_a_first_frame_and_chunks_equals_the_whole_video(tiny):
    path = camera_path(pan_x="0:(0), 3:(0), 9:(60)", zoom="0:(1), 9:(1.3)", rotation="0:(0), 9:(-6)")
    image = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(2))
    motion = Motion(path)
    whole = video(tiny, 10, motion, first_frame=image)
    parts = torch.cat([video(tiny, 10, motion, first_frame=image, frames_per_chunk=2, part=video_part(10, i, 3))
                       for i in range(3)])
    assert_close_rel(parts, whole)


def test_keyframes_beyond_the_video_are_logged_once(tiny, caplog):
    with caplog.at_level(logging.INFO, logger="t2v-zero"):
        video(tiny, 4, Motion(camera_path(pan_x="0:(0), 40:(200)")))
    assert caplog.text.count("beyond this video's last frame (3)") == 1


# --- the preview ---------------------------------------------------------------------------------------------------

def test_the_preview_is_the_sampler_s_warp_of_frame_zero():
    from t2vz.motion.preview import grid_pattern, preview_frames

    pattern = grid_pattern(64, 96)
    path = camera_path(pan_x="0:(0), 7:(84)", zoom="0:(1), 7:(1.4)", rotation="0:(0), 7:(14)")
    frames = preview_frames(pattern, 8, path)
    assert frames.shape == (8, 64, 96, 3) and torch.equal(frames[0], pattern[0])
    expected = warp_anchor(pattern.movedim(-1, 1), list(range(1, 8)), path).movedim(1, -1)
    assert torch.equal(frames[1:], expected)
    # and the constant inputs, the same way
    constant = preview_frames(pattern, 4, ConstantMotion(12.0, 0.0))
    assert torch.equal(constant[1:],
                       warp_anchor(pattern.movedim(-1, 1), [1, 2, 3], ConstantMotion(12.0, 0.0)).movedim(1, -1))


def test_the_grid_pattern_marks_centre_and_orientation():
    from t2vz.motion.preview import grid_pattern

    image = grid_pattern(80, 120)[0]
    assert image.shape == (80, 120, 3)
    assert image[40, 60].tolist() == pytest.approx([1.0, 0.1, 0.1])  # the centre cross
    assert image[6, 6].tolist() == pytest.approx([1.0, 0.9, 0.1])  # the top-left square
    assert image[45, 100, 0] > image[45, 20, 0] and image[65, 33, 1] > image[25, 33, 1]  # the ramps, off the grid


def test_the_preview_shows_a_pan_moving_the_content_the_sampler_s_way():
    """motion_x > 0 moves the content left: the centre cross moves left by 12 px per frame at 512 px width."""
    from t2vz.motion.preview import grid_pattern, preview_frames

    frames = preview_frames(grid_pattern(128, 512), 3, ConstantMotion(12.0, 0.0))
    red = [(f[64, :, 0] > 0.95) & (f[64, :, 1] < 0.2) for f in frames]
    centres = [torch.nonzero(r).float().mean().item() for r in red]
    assert centres[0] - centres[1] == pytest.approx(12.0, abs=1.0)
    assert centres[1] - centres[2] == pytest.approx(12.0, abs=1.0)
    assert math.isfinite(centres[2])


# --- the nodes in the real server -------------------------------------------------------------------------------------

def camera_prompt(pan_x="0:(0), 2:(0), 3:(36)", zoom="0:(1), 3:(1.2)", motion_x=12.0) -> dict:
    from prompts import text_to_video

    prompt = text_to_video(frames=4, steps=4)
    prompt["20"] = {"class_type": "CameraPath", "inputs": {"pan_x": pan_x, "pan_y": "0:(0)", "zoom": zoom,
                                                           "rotation": "0:(0)", "interpolation": "ease_in_out"}}
    prompt["5"]["inputs"].update(camera_path=["20", 0], motion_x=motion_x)
    prompt["21"] = {"class_type": "MotionPreview", "inputs": {
        "latent_image": ["4", 0], "motion_x": motion_x, "motion_y": 12.0, "zoom": 1.0, "rotation": 0.0,
        "camera_path": ["20", 0], "frame_rate": 4.0}}
    return prompt


def test_camera_path_and_preview_run_in_the_server(comfy_server):
    entry = comfy_server.run(camera_prompt(motion_x=20.0))
    assert len(entry["outputs"]["7"]["images"]) == 4
    (preview,) = entry["outputs"]["21"]["images"]
    assert preview["type"] == "temp" and preview["filename"].endswith(".webp")
    assert entry["outputs"]["21"].get("animated") in ([True], True)
    import io as bytes_io
    import urllib.parse
    import urllib.request

    from PIL import Image

    query = urllib.parse.urlencode({k: preview[k] for k in ("filename", "subfolder", "type")})
    with urllib.request.urlopen(f"{comfy_server.url}/view?{query}") as answer:  # what the node shows
        animation = Image.open(bytes_io.BytesIO(answer.read()))
        assert animation.n_frames == 4 and animation.size == (64, 64)
    log = comfy_server.log()
    for node in ("Motion Latent Sampler", "Motion Preview"):
        assert f"{node}: camera_path is linked and sets the camera, so these inputs are ignored: motion_x=20.0." in log


@pytest.mark.parametrize("pan_x,zoom,motion_x,needle", [
    ("0:(0), 3:36", "0:(1)", 12.0, "cannot read '3:36'"),
    ("0:(0)", "0:(1), 3:(0)", 12.0, "must be above 0"),
    ("0:(0), 3:(1), 3:(2)", "0:(1)", 12.0, "frame 3 has two keyframes"),
    ("0:(0)", "0:(1)", math.nan, "motion_x is nan, not a number"),  # passes ComfyUI's own min/max check
])
def test_bad_keyframes_are_answered_and_the_server_keeps_running(comfy_server, pan_x, zoom, motion_x, needle):
    from comfy_server import PromptError

    with pytest.raises(PromptError) as err:
        comfy_server.run(camera_prompt(pan_x=pan_x, zoom=zoom, motion_x=motion_x))
    assert needle in str(err.value) and "Fix" in str(err.value)
    assert comfy_server.alive()
