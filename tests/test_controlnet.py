"""VideoControlNetApply (attention/control.py, nodes/controlnet_apply.py): frame k gets hint k whole, in chunks and in
context windows; Canny; mismatch errors; cross-frame attention inside the ControlNet; the node in-process and in a
real server prompt (tiny models, real ComfyUI sampling and loaders)."""
from __future__ import annotations

import functools

import cv2
import numpy as np
import pytest
import torch

from t2vz.attention import FRAMES_KEY, CrossFrameAttention, with_cross_frame
from t2vz.attention.chunking import add_controls
from t2vz.attention.control import (MISMATCH_REPEAT, MISMATCH_STRIDE, PREPROCESS_CANNY, VideoControl,
                                    call_hint_indices, canny_edges, check_control_net, hint_indices)
from t2vz.motion import sample_video
from checks import assert_close_rel
from tiny_controlnet import tiny_control_net
from tiny_models import conditioning, tiny_unet_patcher

LATENT = 4  # latent side: hints are 32x32 pixels (small: the tests run on a shared CPU)
POS_EMB, NEG_EMB = conditioning(1)[0][0], conditioning(2)[0][0]


@pytest.fixture(scope="module")
def control_net():
    return tiny_control_net(seed=3)


def frames(count, size=LATENT * 8, seed=0):
    """Distinct control images, (frames, 3, H, W) in [0, 1]."""
    return torch.rand((count, 3, size, size), generator=torch.Generator().manual_seed(seed))


def with_control(control):
    if control is None:
        return [[POS_EMB, {}]], [[NEG_EMB, {}]]
    return ([[POS_EMB, {"control": control, "control_apply_to_uncond": False}]],
            [[NEG_EMB, {"control": control, "control_apply_to_uncond": False}]])


def video(model, control, count, steps=3, **kw):
    positive, negative = with_control(control)
    kw.setdefault("noise_mode", "shared")
    return sample_video(model, positive, negative, torch.zeros((count, 4, LATENT, LATENT)), kw.pop("seed", 5), steps,
                        kw.pop("cfg", 6.0), "ddim", "ddim_uniform", **kw)


class ControlInputs:
    """Test-only instrumentation of what the control model receives: forward pre-hooks on its hint block (the hint
    rows) and its first input block (the latent rows and the transformer_options), and the whole batch the sampler
    hands the model at each step (to tell which frame a latent row is)."""

    def __init__(self, control_net, model):
        import comfy.patcher_extension

        self.calls, self.steps, self._hint = [], [], None
        cm = control_net.control_model
        self.handles = [cm.input_hint_block.register_forward_pre_hook(self._on_hint),
                        cm.input_blocks[0].register_forward_pre_hook(self._on_input)]

        def calc(executor, model_, conds, x_in, timestep, model_options):
            self.steps.append(x_in.clone())
            return executor(model_, conds, x_in, timestep, model_options)

        # outermost CALC_COND_BATCH wrapper (the first one added): it sees the whole batch of each step, also when a
        # context-window engine added afterwards (AnimateDiff-Evolved's Use Evolved Sampling) cuts it into windows
        self.model = model.clone()
        self.model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.CALC_COND_BATCH, "test-control-inputs",
                                        calc)

    def _on_hint(self, module, args):
        self._hint = args[0].detach().clone()

    def _on_input(self, module, args):
        x, options = args[0].detach().clone(), args[3]
        self.calls.append((len(self.steps) - 1, x, self._hint, options.get(FRAMES_KEY), options.get("block")))

    def close(self):
        for h in self.handles:
            h.remove()

    def frame_of_each_row(self, step, x, sampling, sigma):
        """Global frame of each control-input row: the row of the step's whole batch it was cut from."""
        full = sampling.calculate_input(sigma, self.steps[step])
        found = []
        for row in x:
            err = (full - row).flatten(1).abs().max(dim=1).values
            best = int(err.argmin())
            assert err[best] < 1e-5 * full.abs().max() and (err < 1e-3).sum() == 1, "latent row not identified"
            found.append(best)
        return found


def check_every_frame_got_its_hint(spy, hints, sampling, sigmas, max_rows) -> set[int]:
    """Asserts each control-input row's hint is its frame's; returns the frames seen."""
    assert spy.calls
    seen = set()
    for step, x, hint, _, block in spy.calls:
        assert block == ("controlnet_input", 0)
        assert x.shape[0] <= max_rows
        sigma = sigmas[step].reshape(1)
        for row, frame in enumerate(spy.frame_of_each_row(step, x, sampling, sigma)):
            assert torch.equal(hint[row], hints[frame]), f"row {row} is frame {frame} but got another hint"
            seen.add(frame)
    return seen


# --- which hint each frame gets ------------------------------------------------------------------------------------

def test_hint_indices_modes():
    assert hint_indices([0, 1, 2, 3], 4, 4) == [0, 1, 2, 3]
    assert hint_indices([4, 5, 6], 8, None) == [4, 5, 6]  # a window of an 8-frame video
    assert hint_indices([0, 1, 2], 1, 3) == [0, 0, 0]  # one image steers every frame
    assert hint_indices([0, 1, 2, 3, 4], 2, 5, MISMATCH_REPEAT) == [0, 1, 0, 1, 0]
    assert hint_indices([0, 1, 2, 3], 8, 4, MISMATCH_STRIDE) == [0, 2, 4, 6]  # every other image
    assert hint_indices([0, 1, 2, 3, 4, 5], 3, 6, MISMATCH_STRIDE) == [0, 0, 1, 1, 2, 2]  # each image held twice
    assert hint_indices([0], 3, None, MISMATCH_STRIDE) == [0]


@pytest.mark.parametrize("ids,hints,total,needle", [
    ([0, 1, 2, 3], 3, 4, "3 control images for a video of 4 frames"),
    ([0, 1], 6, 2, "6 control images for a video of 2 frames"),
    ([4, 5, 6], 5, None, "5 control images for a video of at least 7 frames"),
])
def test_frame_count_mismatch_is_an_error_that_names_the_fix(ids, hints, total, needle):
    with pytest.raises(ValueError, match=needle) as err:
        hint_indices(ids, hints, total)
    assert "Fix" in str(err.value) and "frame_mismatch" in str(err.value)


def test_stride_needs_the_video_length():
    with pytest.raises(ValueError, match="stride.*Fix"):
        hint_indices([3, 4], 8, None, MISMATCH_STRIDE)


def core_window(index_list: list[int], total: int):
    """ComfyUI's own context window object for frames ``index_list`` of ``total`` (0.3.75's takes no total_frames;
    0.33's needs it)."""
    import inspect

    import comfy.context_windows

    window_class = comfy.context_windows.IndexListContextWindow
    if "total_frames" in inspect.signature(window_class).parameters:
        return window_class(index_list, total_frames=total)
    return window_class(index_list)


@pytest.mark.parametrize("cond_or_uncond", [[0], [1, 0], [1, 0, 0]])
def test_frame_ids_of_a_call(cond_or_uncond):
    chunks = len(cond_or_uncond)
    base = {"cond_or_uncond": cond_or_uncond}
    assert call_hint_indices(base, 4 * chunks, chunks, 4, "error") == ([0, 1, 2, 3], [0, 1, 2, 3], chunks)
    chunk = dict(base, **{FRAMES_KEY: [4, 5]})  # our FrameChunker's chunk of frames 4, 5
    assert call_hint_indices(chunk, 2 * chunks, chunks, 8, "error")[1] == [4, 5]
    ade = dict(base, ad_params={"sub_idxs": [6, 7, 0], "full_length": 8, "context_length": 3})
    assert call_hint_indices(ade, 3 * chunks, chunks, 8, "error")[1] == [6, 7, 0]
    with pytest.raises(ValueError, match="9 control images for a video of 8 frames"):
        call_hint_indices(ade, 3 * chunks, chunks, 9, "error")
    core = dict(base, context_window=core_window([2, 3, 4], 8))
    assert call_hint_indices(core, 3 * chunks, chunks, 8, "error")[1] == [2, 3, 4]
    # ComfyUI 0.33's causal_window_fix hands the model frame 1 too, ahead of the window's own frames
    causal = core_window([2, 3, 4], 8)
    causal.causal_anchor_index = 1
    assert call_hint_indices(dict(base, context_window=causal), 4 * chunks, chunks, 8, "error")[1] == [1, 2, 3, 4]
    # a lone frame without indices is frame 0 (MotionLatentSampler's first phases), whatever the hint count
    assert call_hint_indices(base, chunks, chunks, 8, "error")[1] == [0]


def test_canny_equals_cv2_on_the_same_frames():
    rng = np.random.default_rng(0)
    pictures = np.zeros((3, 40, 56, 3), np.uint8)
    for k, picture in enumerate(pictures):  # shapes that move, on noise: real edges and weak gradients
        picture[:] = rng.integers(0, 60, picture.shape, dtype=np.uint8)
        cv2.rectangle(picture, (5 + 6 * k, 8), (30 + 6 * k, 30), (200, 120, 40), -1)
        cv2.circle(picture, (44 - 3 * k, 20), 7, (30, 220, 250), -1)
    images = torch.from_numpy(pictures).float().div(255.0).movedim(-1, 1)  # ComfyUI IMAGE values, channels first
    for low, high in ((100, 200), (20, 60)):
        edges = canny_edges(images, low, high)
        assert edges.shape == (3, 3, 40, 56)
        for k, picture in enumerate(pictures):
            expected = torch.from_numpy(cv2.Canny(picture, low, high)).float() / 255.0
            for channel in range(3):
                assert torch.equal(edges[k, channel], expected)
    assert canny_edges(images, 20, 60).sum() > canny_edges(images, 100, 200).sum() > 0


def test_add_controls_sums_like_chained_controlnets():
    a = {"middle": [torch.ones(1)], "output": [torch.ones(1), None]}
    b = {"middle": [torch.full((1,), 2.0)], "output": [None, torch.ones(1), torch.ones(1)]}
    out = add_controls(a, b)
    assert [t.item() for t in out["middle"]] == [3.0]
    assert [t.item() for t in out["output"]] == [1.0, 1.0, 1.0]
    assert add_controls(None, b) is b and add_controls(a, None) is a


def test_not_a_controlnet_is_refused():
    with pytest.raises(ValueError, match="Load ControlNet Model"):
        check_control_net(object())


# --- inside real sampling ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["whole", "chunks", "windows", "windows+chunks"])
def test_frame_k_receives_hint_k(tiny, control_net, case):
    """Windows: AnimateDiff-Evolved's real ones (Standard Static, 3 frames, overlap 1), which frame chunks never
    split."""
    count = 5
    hints = frames(count)
    chunk = 2 if "chunks" in case else 0
    spy = ControlInputs(control_net, tiny)
    model = spy.model
    if "windows" in case:
        from animatediff import context_options, evolved

        model = evolved(model, context_options("static", 3, 1))
    try:
        video(model, VideoControl(control_net, hints), count, steps=3, noise_mode="independent",
              frames_per_chunk=chunk)
    finally:
        spy.close()
    import comfy.samplers

    sigmas = comfy.samplers.KSampler(tiny, steps=3, device="cpu", sampler="ddim", scheduler="ddim_uniform").sigmas
    window = 3 if "windows" in case else count
    seen = check_every_frame_got_its_hint(spy, hints, tiny.get_model_object("model_sampling"), sigmas,
                                          max_rows=2 * (window if "windows" in case else chunk or count))
    assert seen == set(range(count))
    if case == "chunks":  # the control model ran per chunk (rows checked above), chunks carrying their frame indices
        assert any(ids is not None for _, _, _, ids, _ in spy.calls)


def test_native_controlnet_gives_a_window_the_first_hints(control_net):
    """What this node fixes (comfyui-pack-conventions.md, section C): core's ControlNet ignores the window. Here the
    batch (2 cond chunks x 4 frames) has as many rows as there are hints, so core even hands the positive hints 0-3
    and the negative hints 4-7."""
    import comfy.context_windows

    hints = frames(8)
    window = core_window([4, 5, 6, 7], 8)
    options = {"cond_or_uncond": [1, 0], "context_window": window}
    native = control_net.copy().set_cond_hint(hints, 1.0)
    ours = VideoControl(control_net, hints)
    got = {}
    handle = control_net.control_model.input_hint_block.register_forward_pre_hook(
        lambda m, args: got.__setitem__("hint", args[0].clone()))
    try:
        for name, control in (("native", native), ("ours", ours)):
            run_control(control, torch.randn((8, 4, LATENT, LATENT)), options)
            got[name] = got.pop("hint")
    finally:
        handle.remove()
    assert torch.equal(got["native"], hints)
    assert torch.equal(got["ours"], torch.cat([hints[4:]] * 2))


def run_control(control, x, options, sigma=5.0):
    """One get_control call, as calc_cond_batch makes it, after the sampler's pre_run."""
    base = _base_model()
    control.pre_run(base, lambda p: base.model_sampling.percent_to_sigma(p))
    chunks = len(options["cond_or_uncond"])
    context = torch.cat([POS_EMB] * x.shape[0])
    t = torch.full((x.shape[0],), sigma)
    try:
        return control.get_control(x, t, {"c_crossattn": context}, chunks, dict(options, sigmas=t[:1]))
    finally:
        control.cleanup()


@functools.lru_cache(maxsize=1)
def _base_model():
    """The BaseModel a sampler hands to pre_run (for its model_sampling)."""
    return tiny_unet_patcher(seed=0).model


def test_hints_are_resized_like_native_controlnet(control_net):
    hints = torch.rand((2, 3, 48, 40), generator=torch.Generator().manual_seed(1))  # another size and aspect
    native = control_net.copy().set_cond_hint(hints, 1.0)
    ours = VideoControl(control_net, hints)
    options = {"cond_or_uncond": [0]}
    x = torch.randn((2, 4, LATENT, LATENT))
    native_out = run_control(native, x, options)
    ours_out = run_control(ours, x, options)
    for a, b in zip(native_out["output"], ours_out["output"]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_strength_range_and_chaining_with_a_core_controlnet(control_net):
    hints = frames(3)
    x = torch.randn((6, 4, LATENT, LATENT))
    options = {"cond_or_uncond": [1, 0]}
    alone = run_control(VideoControl(control_net, hints, strength=0.5), x, options)
    core = run_control(control_net.copy().set_cond_hint(hints[:1], 1.0), x, options)
    chained = VideoControl(control_net, hints, strength=0.5)
    chained.set_previous_controlnet(control_net.copy().set_cond_hint(hints[:1], 1.0))
    both = run_control(chained, x, options)
    for a, b, s in zip(alone["output"], core["output"], both["output"]):
        torch.testing.assert_close(s, a + b, rtol=1e-5, atol=1e-5)
    late = VideoControl(control_net, hints, percent_range=(0.5, 1.0))
    assert run_control(late, x, options, sigma=14.0) is None  # before start_percent: no control
    assert run_control(late, x, options, sigma=0.1) is not None


@pytest.mark.parametrize("strength", [0.5, 1.0, 1.7])
def test_strength_scales_the_control_as_core_does(control_net, strength):
    """One control image at strength s gives what core Apply ControlNet gives at s (before the fix the strength was
    applied twice: 0.5 acted as 0.25)."""
    hint = frames(1)
    x = torch.randn((4, 4, LATENT, LATENT), generator=torch.Generator().manual_seed(3))
    options = {"cond_or_uncond": [1, 0]}
    ours = run_control(VideoControl(control_net, hint, strength=strength), x, options)
    core = run_control(control_net.copy().set_cond_hint(hint, strength), x, options)
    pairs = [(a, b) for name in core for a, b in zip(ours[name], core[name], strict=True) if b is not None]
    assert pairs
    for a, b in pairs:
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_mismatch_stops_sampling_with_the_fix(tiny, control_net):
    with pytest.raises(ValueError, match="5 control images for a video of 6 frames.*Fix"):
        video(tiny, VideoControl(control_net, frames(5)), 6, steps=2)
    out = video(tiny, VideoControl(control_net, frames(5), frame_mismatch=MISMATCH_STRIDE), 6, steps=2,
                frames_per_chunk=2)
    assert torch.isfinite(out).all()


def test_canny_preprocessing_reaches_the_control_model(tiny, control_net):
    hints = frames(2)
    spy = ControlInputs(control_net, tiny)
    try:
        video(spy.model, VideoControl(control_net, hints, preprocessor=PREPROCESS_CANNY, canny_low=30,
                                      canny_high=90), 2, steps=2)
    finally:
        spy.close()
    expected = canny_edges(hints, 30, 90)  # hints are at the model's size: no resize before the detection
    assert expected.sum() > 0
    _, _, hint, _, _ = spy.calls[-1]
    assert torch.equal(hint, torch.cat([expected] * 2))


# --- cross-frame attention inside the ControlNet -------------------------------------------------------------------

class CountingCrossFrame(CrossFrameAttention):
    def __init__(self):
        super().__init__()
        self.blocks = []

    def __call__(self, n, context, value, extra_options):
        self.blocks.append(extra_options.get("block"))
        return super().__call__(n, context, value, extra_options)


def test_cross_frame_attention_acts_inside_the_controlnet(control_net):
    """With the patch in the call's transformer_options, every frame's ControlNet attention reads frame 0: changing
    frame 0's latent changes frame 2's control residuals. Without it, frames are independent in the ControlNet."""
    hints = frames(3)
    x = torch.randn((3, 4, LATENT, LATENT), generator=torch.Generator().manual_seed(2))
    moved = x.clone()
    moved[0] += 1.0
    patch = CountingCrossFrame()
    for options, linked in (({"cond_or_uncond": [0]}, False),
                            ({"cond_or_uncond": [0], "patches": {"attn1_patch": [patch]}}, True)):
        a = run_control(VideoControl(control_net, hints), x, options)
        b = run_control(VideoControl(control_net, hints), moved, options)
        frame2 = max((oa[2] - ob[2]).abs().max().item() for oa, ob in zip(a["output"], b["output"]))
        frame1_own = max((oa[1] - ob[1]).abs().max().item() for oa, ob in zip(a["output"], b["output"]))
        assert (frame2 > 1e-4) == linked, (options, frame2)
        assert (frame1_own > 1e-4) == linked
    assert patch.blocks and all(block[0].startswith("controlnet_") for block in patch.blocks)


@pytest.mark.parametrize("case", ["chunks", "windows"])
def test_chunks_and_windows_equal_one_call_with_cross_frame_attention_in_both_networks(tiny, control_net, case):
    """The ControlNet's frame-0 states reach later chunks/windows through the cross-frame cache under names of their
    own: the result equals one call over all frames (it would not if they mixed with the UNet's)."""
    model = with_cross_frame(tiny, CrossFrameAttention())
    hints = frames(6)
    whole = video(model, VideoControl(control_net, hints), 6, steps=4)
    if case == "chunks":
        parts = video(model, VideoControl(control_net, hints), 6, steps=4, frames_per_chunk=2)
    else:  # AnimateDiff-Evolved's real windows: 0-2, 2-4, 3-5
        from animatediff import context_options, evolved

        parts = video(evolved(model, context_options("static", 3, 1)), VideoControl(control_net, hints), 6, steps=4)
    assert_close_rel(parts, whole)
    plain = video(model, None, 6, steps=4)
    assert (whole - plain).abs().max() > 1e-2  # the ControlNet steered


def test_motion_mode_frame_zero_phases_use_hint_zero(tiny, control_net):
    spy = ControlInputs(control_net, tiny)
    hints = frames(4)
    try:
        video(spy.model, VideoControl(control_net, hints), 4, steps=6, noise_mode="motion")
    finally:
        spy.close()
    lone = [hint for _, x, hint, _, _ in spy.calls if x.shape[0] <= 2]
    assert lone and all(torch.equal(h[0], hints[0]) for h in lone)
    assert any(x.shape[0] == 8 for _, x, *_ in spy.calls)


# --- inside the real server ----------------------------------------------------------------------------------------

def control_video(server, frame_count: int) -> str:
    """A 64x64 h264 clip with a square moving over a gradient, in the server's input folder (for core LoadVideo)."""
    import av

    name = f"t2vz-control-{frame_count}.mp4"
    path = server.input_dir / name
    if not path.exists():
        with av.open(str(path), mode="w") as container:
            stream = container.add_stream("libx264", rate=4)
            stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
            for k in range(frame_count):
                picture = np.zeros((64, 64, 3), np.uint8)
                picture[..., 0] = np.linspace(0, 120, 64, dtype=np.uint8)[None, :]
                cv2.rectangle(picture, (4 + 8 * k, 16), (28 + 8 * k, 40), (250, 250, 250), -1)
                for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    return name


def controlnet_prompt(video: str, frames_: int = 4, strength: float = 1.0, chunk: int = 2) -> dict:
    from prompts import CKPT
    from tiny_controlnet import CONTROLNET_NAME

    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "oil painting of a swan", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "LoadVideo", "inputs": {"file": video}},
        "5": {"class_type": "GetVideoComponents", "inputs": {"video": ["4", 0]}},
        "6": {"class_type": "ControlNetLoader", "inputs": {"control_net_name": CONTROLNET_NAME}},
        "7": {"class_type": "VideoControlNetApply", "inputs": {
            "positive": ["2", 0], "negative": ["3", 0], "control_net": ["6", 0], "images": ["5", 0],
            "strength": strength, "start_percent": 0.0, "end_percent": 1.0, "preprocessor": "canny",
            "low_threshold": 100, "high_threshold": 200, "frame_mismatch": "error"}},
        "8": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": frames_}},
        "9": {"class_type": "MotionLatentSampler", "inputs": {
            "model": ["1", 0], "positive": ["7", 0], "negative": ["7", 1], "latent_image": ["8", 0],
            "seed": 1, "steps": 3, "cfg": 9.0, "sampler_name": "ddim", "scheduler": "ddim_uniform",
            "noise_mode": "shared", "motion_x": 12.0, "motion_y": 12.0, "zoom": 1.0, "rotation": 0.0,
            "t0": 44, "t1": 47, "frames_per_chunk": chunk}},
        "10": {"class_type": "VAEDecode", "inputs": {"samples": ["9", 0], "vae": ["1", 2]}},
        "11": {"class_type": "SaveImage", "inputs": {"images": ["10", 0], "filename_prefix": "t2vz_controlnet"}},
    }


def saved_frames(server, entry) -> list[np.ndarray]:
    from PIL import Image

    return [np.asarray(Image.open(server.output_dir / image.get("subfolder", "") / image["filename"]))
            for image in entry["outputs"]["11"]["images"]]


def test_the_node_runs_in_a_server_prompt_with_the_real_controlnet_loader(comfy_server):
    video = control_video(comfy_server, 4)
    steered = saved_frames(comfy_server, comfy_server.run(controlnet_prompt(video)))
    assert len(steered) == 4
    plain = saved_frames(comfy_server, comfy_server.run(controlnet_prompt(video, strength=0.0)))
    assert max(np.abs(a.astype(int) - b.astype(int)).max() for a, b in zip(steered, plain)) > 0


def test_frame_count_mismatch_is_answered_and_the_server_keeps_running(comfy_server):
    from comfy_server import PromptError

    with pytest.raises(PromptError) as err:
        comfy_server.run(controlnet_prompt(control_video(comfy_server, 6), frames_=4))
    assert "6 control images for a video of 4 frames" in str(err.value) and "Fix" in str(err.value)
    assert comfy_server.alive()


# --- the node in-process -------------------------------------------------------------------------------------------

def node_inputs(cnet, **overrides):
    values = {"positive": [[POS_EMB, {}]], "negative": [[NEG_EMB, {}]], "control_net": cnet,
              "images": frames(3).movedim(1, -1), "strength": 1.0, "start_percent": 0.0, "end_percent": 1.0,
              "preprocessor": "none", "low_threshold": 100, "high_threshold": 200, "frame_mismatch": "error"}
    values.update(overrides)
    return values


def test_the_node_attaches_one_control_to_both_prompts_and_chains(control_net):
    from t2vz.nodes.controlnet_apply import VideoControlNetApply

    core = control_net.copy().set_cond_hint(frames(1), 1.0)
    positive = [[POS_EMB, {"control": core}]]
    out_pos, out_neg = VideoControlNetApply.execute(**node_inputs(control_net, positive=positive)).args
    ours_pos, ours_neg = out_pos[0][1]["control"], out_neg[0][1]["control"]
    assert isinstance(ours_pos, VideoControl) and ours_pos.previous_controlnet is core
    assert ours_neg.previous_controlnet is None and ours_pos is not ours_neg
    assert torch.equal(ours_pos.cond_hint_original, frames(3))  # IMAGE (B, H, W, C) -> hints (B, C, H, W)
    assert "control" not in positive[0][1] or positive[0][1]["control"] is core  # the input is not mutated
    same = VideoControlNetApply.execute(**node_inputs(control_net, strength=0.0)).args
    assert "control" not in same[0][0][1]


@pytest.mark.parametrize("overrides,needle", [
    ({"start_percent": 0.6, "end_percent": 0.4}, "start_percent"),
    ({"low_threshold": 210, "high_threshold": 200}, "low_threshold"),
    ({"control_net": object()}, "Load ControlNet Model"),
])
def test_the_node_names_bad_inputs_and_the_fix(control_net, overrides, needle):
    from t2vz.nodes.controlnet_apply import VideoControlNetApply

    with pytest.raises(ValueError, match=needle) as err:
        VideoControlNetApply.execute(**node_inputs(control_net, **overrides))
    assert "Fix" in str(err.value)
