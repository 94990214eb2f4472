"""Consistency metrics (motion/consistency.py, the Video Consistency Metrics node) against known answers: synthetic
textured clips moved by a known motion, with flicker injected, still, and edits that do or do not move as their
source; the forward-backward occlusion check; RAFT's plumbing (core's OPTICAL_FLOW); errors that name the input;
and the node in the real server, with known answers through LoadImage of animated PNGs."""
from __future__ import annotations

import math
import re

import cv2
import numpy as np
import pytest
import torch

from t2vz.motion.consistency import (LEVELS, MIN_SIDE, FlowEstimator, KnownFlow, consistency_plot,
                                     measure_consistency, opencv_flow, raft_flow, round_trip, warp)

SIZE = 64


def texture(seed=0, side=320) -> np.ndarray:
    """A smooth colour texture (blurred noise, 0..1): rich enough for optical flow at every pixel."""
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.random((side, side, 3)).astype(np.float32), (0, 0), 2.0)
    return (image - image.min()) / (image.max() - image.min())


TEXTURE = texture()


def moving_clip(frames=6, dx=2, dy=1, size=SIZE) -> torch.Tensor:
    """(frames, size, size, 3): a window over TEXTURE whose content moves by (dx, dy) px per frame (right, down)."""
    return torch.from_numpy(np.stack([TEXTURE[100 - k * dy:100 - k * dy + size, 100 - k * dx:100 - k * dx + size]
                                      for k in range(frames)]))


def constant_flow(frames, dx, dy, size=SIZE) -> KnownFlow:
    forward = np.zeros((frames - 1, size, size, 2), np.float32)
    forward[..., 0], forward[..., 1] = dx, dy
    return KnownFlow(forward, -forward, name="the true flow")


def still_clip(frames=6) -> torch.Tensor:
    return moving_clip(1).repeat(frames, 1, 1, 1)


JITTER = [0.0, 0.05, -0.03, 0.04, 0.0, -0.05]
"""Brightness offsets of the flickering clip's frames (well inside 0..1 for TEXTURE's middle: no clipping)."""


def flickering(clip: torch.Tensor) -> torch.Tensor:
    offsets = torch.tensor(JITTER[:clip.shape[0]]).view(-1, 1, 1, 1)
    return (clip * 0.8 + 0.1 + offsets).float()


def expected_jitter() -> list[float]:
    return [abs(b - a) * LEVELS for a, b in zip(JITTER, JITTER[1:])]


# --- flow, warp and the round-trip check ------------------------------------------------------------------------------

def test_warping_along_the_true_flow_gives_the_next_frame():
    clip = moving_clip(2, dx=3, dy=2).numpy()
    backward = np.zeros((SIZE, SIZE, 2), np.float32)
    backward[..., 0], backward[..., 1] = -3, -2
    warped, inside = warp(clip[0], backward)
    assert inside[2:, 3:].all() and not inside[:2].any() and not inside[:, :3].any()
    assert np.abs(warped - clip[1])[inside].max() < 1e-5  # integer motion: bilinear reads the exact pixels
    assert np.abs(clip[0] - clip[1]).mean() > 0.02  # the frames do differ: the warp did the work


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_opencv_flows_find_a_known_translation(method):
    clip = moving_clip(2, dx=2, dy=1).numpy()
    forward, backward = opencv_flow(method).pair(clip[0], clip[1])
    centre = (slice(8, -8), slice(8, -8))  # away from the edges, where content enters and leaves
    assert np.median(forward[centre][..., 0]) == pytest.approx(2.0, abs=0.1)
    assert np.median(forward[centre][..., 1]) == pytest.approx(1.0, abs=0.1)
    assert np.median(backward[centre][..., 0]) == pytest.approx(-2.0, abs=0.1)
    assert np.median(backward[centre][..., 1]) == pytest.approx(-1.0, abs=0.1)


def test_the_round_trip_check_drops_inconsistent_and_outside_pixels():
    forward = np.zeros((SIZE, SIZE, 2), np.float32)
    forward[..., 0] = 3.0
    backward = -forward.copy()
    valid = round_trip(forward, backward)
    assert valid[:, 3:].all() and not valid[:, :3].any()  # the first 3 columns came from outside frame t
    backward[20:30, 20:30] = (5.0, -4.0)  # flow that does not come back
    valid = round_trip(forward, backward)
    assert not valid[20:30, 20:30].any() and valid[40:50, 40:50].all()


# --- warp error -----------------------------------------------------------------------------------------------------

def test_warp_error_is_zero_with_the_true_flow_and_large_with_a_wrong_one():
    clip = moving_clip(6, dx=2, dy=1)
    true = measure_consistency(clip, flow_method=constant_flow(6, 2, 1))
    assert true.warp_error < 1e-3 and np.all(true.pair_warp_error < 1e-3)
    assert true.measured_fraction == pytest.approx(np.full(5, (SIZE - 2) * (SIZE - 1) / SIZE ** 2))
    wrong = measure_consistency(clip, flow_method=constant_flow(6, 0, 0))
    assert wrong.warp_error > 5.0 and np.all(wrong.pair_warp_error > 5.0)  # levels: the texture moved under it
    assert wrong.measured_fraction == pytest.approx(np.ones(5))


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_estimated_flow_gives_a_small_warp_error_on_a_moving_clip(method):
    clip = moving_clip(6, dx=2, dy=1)
    estimated = measure_consistency(clip, flow_method=method)
    wrong = measure_consistency(clip, flow_method=constant_flow(6, 0, 0))
    assert estimated.warp_error < 1.0 and estimated.warp_error < 0.1 * wrong.warp_error
    assert np.all(estimated.measured_fraction > 0.8)


def test_sub_pixel_motion_with_the_true_flow_is_nearly_exact():
    """Content moved by half a pixel (the texture resampled): the true flow's warp error stays well under a level."""
    shifted = cv2.warpAffine(TEXTURE, np.float32([[1, 0, 0.5], [0, 1, 0.0]]), TEXTURE.shape[1::-1])
    clip = torch.from_numpy(np.stack([TEXTURE[100:164, 100:164], shifted[100:164, 100:164]]))
    assert measure_consistency(clip, flow_method=constant_flow(2, 0.5, 0)).warp_error < 0.5
    assert measure_consistency(clip, flow_method=constant_flow(2, 0, 0)).warp_error > 2.0


def square_on_still_background(frames=5, step=4, side=16):
    """A flat white square moving right by ``step`` px per frame over a still TEXTURE background, with its true
    flows (the square's pixels move, the background's do not)."""
    clip = []
    forward, backward = np.zeros((2, frames - 1, SIZE, SIZE, 2), np.float32)
    for k in range(frames):
        frame = TEXTURE[100:164, 100:164].copy()
        frame[24:24 + side, 8 + k * step:8 + k * step + side] = 1.0
        clip.append(frame)
    for k in range(frames - 1):
        forward[k, 24:24 + side, 8 + k * step:8 + k * step + side, 0] = step
        backward[k, 24:24 + side, 8 + (k + 1) * step:8 + (k + 1) * step + side, 0] = -step
    return torch.from_numpy(np.stack(clip)), KnownFlow(forward, backward, name="the true flow")


def test_occluded_pixels_are_left_out_of_the_warp_error():
    """Where the square uncovers the background, frame t holds nothing of it: the round-trip check drops those
    pixels (the strip it uncovers each frame), and what is left matches exactly."""
    clip, flow = square_on_still_background()
    result = measure_consistency(clip, flow_method=flow)
    uncovered = 16 * 4  # rows of the square times its step
    assert result.warp_error < 1e-5
    assert result.measured_fraction == pytest.approx(np.full(4, 1 - uncovered / SIZE ** 2))
    # without the check those pixels would count: warping along the same flow leaves them wrong
    warped, _ = warp(clip[0].numpy(), flow.backward[0])
    assert np.abs(warped - clip[1].numpy())[24:40, 8:12].mean() * LEVELS > 20.0


# --- flicker --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_a_still_clip_scores_zero_everywhere(method):
    clip = still_clip()
    alone = measure_consistency(clip, flow_method=method)
    # a twentieth of a level: Farneback finds a hair of flow in identical frames, and bilinear reads blur it
    assert alone.warp_error == pytest.approx(0.0, abs=0.05) and alone.flicker == 0.0
    assert np.all(alone.static_fraction > 0.99)
    with_source = measure_consistency(clip, clip, flow_method=method)
    assert with_source.flicker == 0.0
    assert with_source.motion_alignment == pytest.approx(0.0, abs=1e-4)
    assert math.isnan(alone.motion_alignment) and alone.pair_motion_alignment is None


def test_injected_flicker_is_measured_exactly_given_the_source():
    source = still_clip()
    result = measure_consistency(flickering(source), source)
    assert result.pair_flicker == pytest.approx(expected_jitter(), abs=0.05)
    assert result.flicker == pytest.approx(np.mean(expected_jitter()), abs=0.05)
    assert np.all(result.static_fraction == 1.0)


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_injected_flicker_is_found_without_a_source(method):
    result = measure_consistency(flickering(still_clip()), flow_method=method)
    assert result.flicker > 0.8 * np.mean(expected_jitter())
    assert np.all(result.static_fraction > 0.5)
    assert result.warp_error > 0.8 * np.mean(expected_jitter())  # the brightness jumps break the warp too


def test_motion_is_not_flicker():
    """A square moving over a still background is a clean video: no flicker, with or without its source. With
    flicker on top, the background's jumps are measured and the square's motion still is not."""
    clip, _ = square_on_still_background()
    for source in (clip, None):
        result = measure_consistency(clip, source)
        assert result.flicker == pytest.approx(0.0, abs=0.05), source is None
        assert np.all(result.static_fraction < 0.97)  # the square's pixels were left out
    jittery = measure_consistency(flickering(clip), clip)
    assert jittery.pair_flicker == pytest.approx(expected_jitter()[:4], abs=0.05)


# --- motion alignment -----------------------------------------------------------------------------------------------

def recoloured(clip: torch.Tensor) -> torch.Tensor:
    """An 'edit' that changes every colour but keeps the motion: channels swapped, contrast and gamma changed."""
    return (clip[..., [2, 0, 1]] * 0.7 + 0.15) ** 1.3


def test_an_edit_that_moves_as_its_source_aligns_and_a_still_one_does_not():
    source = moving_clip(6, dx=2, dy=1)
    follows = measure_consistency(recoloured(source), source)
    still = measure_consistency(still_clip(), source)
    assert -0.3 < follows.motion_alignment <= 0.0
    assert still.motion_alignment == pytest.approx(-math.sqrt(5.0), abs=0.3)  # the source's 2-by-1 px per frame
    assert np.all(still.pair_motion_alignment < -1.5)


def test_motion_alignment_with_known_flows_is_minus_the_end_point_error():
    source = moving_clip(4, dx=2, dy=1)
    result = measure_consistency(still_clip(4), source, flow_method=constant_flow(4, 0, 0),
                                 source_flow=constant_flow(4, 3, -3))
    assert result.motion_alignment == pytest.approx(-math.sqrt(18.0), rel=1e-6)
    same = measure_consistency(source, source, flow_method=constant_flow(4, 2, 1), source_flow=constant_flow(4, 2, 1))
    assert same.motion_alignment == 0.0


# --- RAFT (core's OPTICAL_FLOW) -------------------------------------------------------------------------------------

class TranslationRaft(torch.nn.Module):
    """Stands in for torchvision's RAFT: returns, as RAFT does, a list of (B, 2, H, W) flows, here the best integer
    translation from each first image to its second (searched within 4 px), and records what it was given."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))  # a parameter, so the loader's device/dtype logic sees one
        self.seen = []

    def forward(self, first, second):
        self.seen.append((tuple(first.shape), float(first.min()), float(first.max())))
        flows = []
        for a, b in zip(first, second):
            errors = {(dx, dy): (torch.roll(a, (dy, dx), (1, 2)) - b)[:, 8:-8, 8:-8].abs().mean().item()
                      for dx in range(-4, 5) for dy in range(-4, 5)}
            dx, dy = min(errors, key=errors.get)
            flow = torch.zeros((2, *a.shape[1:]))
            flow[0], flow[1] = dx, dy
            flows.append(flow * self.scale)
        return [torch.stack(flows) * 0.0, torch.stack(flows)]  # the last refinement is the answer


def test_raft_flow_pads_scales_and_returns_both_directions():
    raft = TranslationRaft()
    clip = moving_clip(2, dx=3, dy=-2, size=40)
    forward, backward = raft_flow(raft).pair(clip[0].numpy(), clip[1].numpy())
    (shape, low, high), = raft.seen
    assert shape == (2, 3, 128, 128)  # forward and backward in one batch; 40 px padded to RAFT's 128
    assert -1.0 <= low < -0.5 and 0.5 < high <= 1.0  # RAFT's input range
    assert forward.shape == backward.shape == (40, 40, 2)
    assert np.all(forward == (3, -2)) and np.all(backward == (-3, 2))


def test_measuring_with_raft_uses_its_flow_for_the_video_and_the_source():
    raft = TranslationRaft()
    source = moving_clip(4, dx=2, dy=1)
    result = measure_consistency(recoloured(source), source, flow_method=raft_flow(raft))
    assert result.flow_name == "optical_flow (RAFT)"
    assert len(raft.seen) == 6  # 3 pairs, the video's and the source's
    assert result.warp_error < 1.0 and result.motion_alignment == 0.0


def test_the_real_raft_architecture_runs_on_small_odd_frames():
    """torchvision's RAFT-large (random weights: only shapes are checked) takes the padded frames and its flow
    comes back at the frames' size."""
    from torchvision.models.optical_flow import raft_large

    torch.manual_seed(0)
    model = raft_large(weights=None, progress=False).eval()
    clip = torch.from_numpy(np.stack([TEXTURE[:36, :52], TEXTURE[1:37, 2:54]]))
    forward, backward = raft_flow(model).pair(clip[0].numpy(), clip[1].numpy())
    assert forward.shape == backward.shape == (36, 52, 2)
    assert np.isfinite(forward).all() and np.isfinite(backward).all()


def test_the_node_computes_flow_with_a_linked_optical_flow_model(tmp_path, monkeypatch):
    """The node in-process with an OPTICAL_FLOW as core's loader makes it: a ModelPatcher around the model."""
    import comfy.model_management
    import comfy.model_patcher
    import folder_paths

    from t2vz.nodes.consistency import VideoConsistencyMetrics

    monkeypatch.setattr(folder_paths, "get_temp_directory", lambda: str(tmp_path))
    raft = TranslationRaft()
    patcher = comfy.model_patcher.ModelPatcher(raft, load_device=comfy.model_management.get_torch_device(),
                                               offload_device=comfy.model_management.unet_offload_device())
    source = moving_clip(4, dx=2, dy=1)
    output = VideoConsistencyMetrics.execute(still_clip(4), "dis", source, patcher)
    warp_error, flicker, alignment, report, plot = output.args
    assert len(raft.seen) == 6 and "flow: optical_flow (RAFT)" in report
    assert alignment == pytest.approx(-math.sqrt(5.0), abs=1e-5) and warp_error == pytest.approx(0.0, abs=1e-4)
    assert math.isnan(flicker)  # every source pixel moves: nowhere to measure flicker
    assert plot.shape[0] == 1 and plot.shape[-1] == 3
    (image,) = output.ui["images"]
    assert (tmp_path / image["subfolder"] / image["filename"]).is_file() and output.ui["text"] == (report,)


# --- the plot and the report ----------------------------------------------------------------------------------------

def test_the_plot_has_one_panel_per_figure_and_draws_the_values():
    source = moving_clip(6)
    plain = consistency_plot(measure_consistency(flickering(still_clip())))
    edit = consistency_plot(measure_consistency(flickering(still_clip()), source))
    assert plain.shape[0] == edit.shape[0] == 1 and plain.shape[-1] == edit.shape[-1] == 3
    assert edit.shape[1] > plain.shape[1] and plain.shape[2] == edit.shape[2] == 512
    assert 0.0 <= float(plain.min()) and float(plain.max()) <= 1.0 and plain.dtype == torch.float32
    green = (edit[0, ..., 1] > 0.55) & (edit[0, ..., 0] < 0.3) & (edit[0, ..., 2] < 0.3)  # motion alignment's line
    rows = torch.nonzero(green)[:, 0]
    assert rows.numel() > 50 and rows.min() > plain.shape[1] - 10  # drawn in the third panel only
    blank = consistency_plot(measure_consistency(still_clip(), source))
    assert not torch.equal(blank, edit)


def test_the_report_names_every_figure_with_its_unit():
    source = moving_clip(3)
    report = measure_consistency(recoloured(source), source).report()
    assert "3 frames, 64x64, flow: DIS" in report
    assert re.search(r"warp error \d+\.\d+: .*8-bit levels", report)
    assert re.search(r"motion alignment -?\d+\.\d+: minus the mean end-point error \(px\)", report)
    assert "0->1 warp" in report and "1->2 warp" in report
    assert "n/a (no source_frames" in measure_consistency(source).report()


# --- bad input ------------------------------------------------------------------------------------------------------

def bad_nan(clip):
    clip = clip.clone()
    clip[2, 5, 5, 1] = math.nan
    return clip


def bad_inf(clip):
    clip = clip.clone()
    clip[1, 0, 0, 0] = math.inf
    return clip


@pytest.mark.parametrize("case,needles", [
    (dict(frames=still_clip(1)), ["frames has 1 frame", "at least 2", "not a single image"]),
    (dict(frames=still_clip()[0]), ["frames must be an IMAGE batch", "(64, 64, 3)"]),
    (dict(frames=bad_nan(still_clip())), ["frames frame 2 holds NaN or infinite values"]),
    (dict(frames=still_clip(), source_frames=bad_inf(still_clip())), ["source_frames frame 1 holds NaN"]),
    (dict(frames=still_clip(4), source_frames=still_clip(3)), ["source_frames has 3 frames but frames has 4",
                                                              "so both have 4"]),
    (dict(frames=still_clip(4), source_frames=still_clip(4)[:, :32, :48]),
     ["source_frames are 48x32 px but frames are 64x64 px", "Upscale Image to 64x64"]),
    (dict(frames=still_clip(3)[:, :MIN_SIDE - 4]), ["frames: frames of 64x12 px", f"at least {MIN_SIDE} px"]),
    (dict(frames=still_clip(3), flow_method="raft"), ["flow_method is 'raft'", "dis, farneback"]),
    (dict(frames=still_clip(3), flow_method=KnownFlow(np.zeros((2, 32, 32, 2)), np.zeros((2, 32, 32, 2)))),
     ["flow_method.forward has shape (2, 32, 32, 2) but the video needs (2, 64, 64, 2)"]),
    (dict(frames=still_clip(3), flow_method=KnownFlow(np.zeros((2, 64, 64, 2)), np.full((2, 64, 64, 2), np.nan))),
     ["flow_method.backward holds NaN"]),
    (dict(frames=still_clip(3), flow_method=FlowEstimator("optical_flow (RAFT)", lambda a, b: (a[..., :2], a[:8]))),
     ["optical_flow (RAFT) gave a flow of shape (8, 64, 3)", "must be (64, 64, 2)"]),
    (dict(frames=still_clip(3), static_threshold=math.nan), ["static_threshold is nan"]),
])
def test_bad_input_is_refused_naming_the_input_and_the_fix(case, needles):
    with pytest.raises(ValueError) as err:
        measure_consistency(**case)
    message = str(err.value)
    assert "Fix:" in message, message
    for needle in needles:
        assert needle in message, message


def test_a_linked_optical_flow_that_is_not_a_model_is_refused():
    from t2vz.nodes.consistency import VideoConsistencyMetrics

    with pytest.raises(ValueError, match=r"^optical_flow is not an optical flow model but dict\. Fix: connect Load"):
        VideoConsistencyMetrics.execute(still_clip(2), "dis", None, {"model": None})


# --- the node in the real server ------------------------------------------------------------------------------------

def save_animation(path, clip: torch.Tensor) -> None:
    """An animated PNG (lossless) that core's Load Image reads back as the same IMAGE batch. No duration: with one,
    Pillow merges identical frames into one longer frame, and a still clip would load as a single picture."""
    from PIL import Image

    pictures = [Image.fromarray((frame.numpy() * 255).round().astype(np.uint8)) for frame in clip]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], loop=0)
    assert Image.open(path).n_frames == len(pictures)


def metrics_prompt(frames: str, source: str | None = None, flow_method="dis", optical_flow=False) -> dict:
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": frames}},
              "3": {"class_type": "VideoConsistencyMetrics",
                    "inputs": {"frames": ["1", 0], "flow_method": flow_method}}}
    if source is not None:
        prompt["2"] = {"class_type": "LoadImage", "inputs": {"image": source}}
        prompt["3"]["inputs"]["source_frames"] = ["2", 0]
    if optical_flow:
        prompt["4"] = {"class_type": "OpticalFlowLoader", "inputs": {"model_name": "raft_large.pth"}}
        prompt["3"]["inputs"]["optical_flow"] = ["4", 0]
    return prompt


def figure(report: str, name: str) -> float:
    return float(re.search(rf"^{name} (-?[\d.]+|nan|n/a)", report, re.M).group(1).replace("n/a", "nan"))


@pytest.fixture(scope="module")
def clips(comfy_server):
    """Known clips in the server's input folder, at 8-bit levels (what a PNG holds), and a single picture."""
    from PIL import Image

    moving = torch.round(moving_clip(5, dx=2, dy=1) * 255) / 255
    still = moving[:1].repeat(5, 1, 1, 1)
    for name, clip in {"t2vz-moving.png": moving, "t2vz-still.png": still, "t2vz-short.png": moving[:3],
                       "t2vz-flicker.png": torch.round(flickering(still) * 255) / 255}.items():
        save_animation(comfy_server.input_dir / name, clip)
    Image.fromarray((still[0].numpy() * 255).round().astype(np.uint8)).save(comfy_server.input_dir / "t2vz-single.png")
    return moving


def test_the_node_lists_a_tooltip_for_every_input(comfy_server):
    info = comfy_server.get("/object_info/VideoConsistencyMetrics")["VideoConsistencyMetrics"]
    assert info["description"] and info["category"] == "T2V-Zero"
    assert info["output_name"] == ["warp_error", "flicker", "motion_alignment", "report", "plot"]
    inputs = {**info["input"]["required"], **info["input"].get("optional", {})}
    assert set(inputs) == {"frames", "flow_method", "source_frames", "optical_flow"}
    assert inputs["optical_flow"][0] == "OPTICAL_FLOW"
    for name, spec in inputs.items():
        assert spec[1].get("tooltip"), name


def test_the_node_measures_known_clips_in_the_server(comfy_server, clips):
    import io as bytes_io
    import urllib.parse
    import urllib.request

    from PIL import Image

    entry = comfy_server.run(metrics_prompt("t2vz-still.png", "t2vz-moving.png"))
    shown = entry["outputs"]["3"]
    (report,) = shown["text"]
    assert "5 frames, 64x64, flow: DIS" in report
    assert figure(report, "warp error") == pytest.approx(0.0, abs=0.01)
    assert figure(report, "motion alignment") == pytest.approx(-math.sqrt(5.0), abs=0.3)
    (image,) = shown["images"]
    query = urllib.parse.urlencode({k: image[k] for k in ("filename", "subfolder", "type")})
    with urllib.request.urlopen(f"{comfy_server.url}/view?{query}") as answer:  # the plot the node shows
        plot = Image.open(bytes_io.BytesIO(answer.read()))
        assert plot.size[0] == 512 and plot.size[1] > 300  # three panels
    flicker = comfy_server.run(metrics_prompt("t2vz-flicker.png", "t2vz-still.png", "farneback"))["outputs"]["3"]
    (report,) = flicker["text"]
    assert "flow: Farneback" in report
    assert figure(report, "flicker") == pytest.approx(np.mean(expected_jitter()[:4]), abs=0.3)


def test_the_node_runs_after_a_generation(comfy_server):
    """Wired after a workflow: Motion Latent Sampler's frames, measured against themselves as the source; the
    report output read by core's Preview as Text."""
    from prompts import text_to_video

    prompt = text_to_video(frames=3, steps=3, save=False)
    prompt["8"] = {"class_type": "VideoConsistencyMetrics",
                   "inputs": {"frames": ["6", 0], "source_frames": ["6", 0], "flow_method": "dis"}}
    prompt["9"] = {"class_type": "PreviewAny", "inputs": {"source": ["8", 3]}}  # core's Preview as Text
    outputs = comfy_server.run(prompt)["outputs"]
    (report,) = outputs["8"]["text"]
    assert list(outputs["9"]["text"]) == [report]  # the report output is the text the node shows
    assert "3 frames, 64x64" in report
    assert figure(report, "motion alignment") == 0.0 and math.isfinite(figure(report, "warp error"))


@pytest.mark.parametrize("frames,source,needle", [
    ("t2vz-single.png", None, "frames has 1 frame; consistency compares consecutive frames"),
    ("t2vz-moving.png", "t2vz-short.png", "source_frames has 3 frames but frames has 5"),
])
def test_bad_input_fails_with_the_named_error_and_the_server_keeps_running(comfy_server, clips, frames, source,
                                                                           needle):
    from comfy_server import PromptError

    with pytest.raises(PromptError) as err:
        comfy_server.run(metrics_prompt(frames, source))
    assert needle in str(err.value) and "Fix:" in str(err.value)
    assert comfy_server.alive()
    assert "text" in comfy_server.run(metrics_prompt("t2vz-still.png"))["outputs"]["3"]


def test_core_s_optical_flow_loader_feeds_the_node(tmp_path):
    """ComfyUI 0.33's Load Optical Flow Model (a RAFT-large file in models/optical_flow; random weights here, made
    on the spot: only the wiring is checked) links into optical_flow, and the node measures with it."""
    from comfy_server import ComfyServer
    from conftest import COMFY, HOST

    if not (COMFY / "comfy_extras" / "nodes_void.py").exists():
        pytest.skip("this ComfyUI has no Load Optical Flow Model (core added OPTICAL_FLOW in 0.33)")
    from torchvision.models.optical_flow import raft_large

    models = tmp_path / "optical_flow"
    models.mkdir()
    torch.manual_seed(0)
    torch.save(raft_large(weights=None, progress=False).state_dict(), models / "raft_large.pth")
    server = ComfyServer(COMFY, tmp_path / "run", {"optical_flow": models},
                         python=str(HOST / "venv" / "bin" / "python"))
    server.start()
    try:
        save_animation(server.input_dir / "t2vz-moving.png", torch.round(moving_clip(3) * 255) / 255)
        prompt = metrics_prompt("t2vz-moving.png", "t2vz-moving.png", optical_flow=True)
        (report,) = server.run(prompt)["outputs"]["3"]["text"]
    finally:
        server.stop()
    assert "3 frames, 64x64, flow: optical_flow (RAFT)" in report
    assert figure(report, "motion alignment") == 0.0  # one flow model on the same frames: the same flow
