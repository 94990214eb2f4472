"""AnimateDiff-Evolved 1.5.7, for real (scripts/install_test_packs.sh): its context windows, driven through its own
nodes (Context Options -> Use Evolved Sampling), with CrossFrameAttentionPatch and core KSampler or our
MotionLatentSampler, in-process (float-exact comparisons) and in the real server.

The property: with anchor `first`, every frame's prediction depends only on itself and frame 0. So sampling with
ADE's windows equals sampling without them, for every window setting where the window holding frame 0 runs first in
each step (Standard Static, with or without overlap; the fused overlaps are weighted means of equal predictions).
Standard/Looped Uniform shift the windows from step to step, so from the second step on another window runs before
frame 0's: that window anchors on its own first frame (the documented fallback, with one warning), and the test shows
exactly which calls fell back.
"""
from __future__ import annotations

import logging

import pytest
import torch

from t2vz.attention import ANCHOR_FIRST_AND_PREVIOUS, CrossFrameAttention, with_cross_frame
from t2vz.motion import sample_video
from animatediff import context_options, evolved
from checks import assert_close_rel
from tiny_models import conditioning

POS, NEG = conditioning(1), conditioning(2)
FRAMES = 10


def ksampler(model, frames=FRAMES, steps=4, seed=3, cfg=5.0, sampler="euler", scheduler="normal", prompts=(POS, NEG)):
    """Core KSampler (the node) on an empty latent of ``frames`` frames."""
    import nodes

    latent = {"samples": torch.zeros((frames, 4, 8, 8))}
    (out,) = nodes.KSampler().sample(model, seed, steps, cfg, sampler, scheduler, *prompts, latent)
    return out["samples"]


def motion_video(model, frames=FRAMES, steps=6):
    return sample_video(model, POS, NEG, torch.zeros((frames, 4, 8, 8)), 7, steps, 6.0, "ddim", "ddim_uniform")


def patched(tiny, anchor="first"):
    return with_cross_frame(tiny, CrossFrameAttention(anchor=anchor))


class AnchorSpy:
    """An attn1 patch placed after ours: for every context-window call, whether a window without frame 0 anchored on
    the true frame 0 (from the same step's cache) or on its own first frame (the fallback), and whether a window
    holding frame 0 had already run in that step."""

    def __init__(self):
        self.calls = []  # (sigma, window ids, frame 0's window ran before in this step, fell back)
        self._zero_seen = set()

    def __deepcopy__(self, memo):  # ModelPatcher.clone() deep-copies patches on ComfyUI 0.3.75: keep one record
        return self

    def __call__(self, n, context, value, extra_options):
        ad_params = extra_options.get("ad_params") or {}
        ids = ad_params.get("sub_idxs")
        if ids is None or extra_options.get("block") != ("input", 1):
            return n, context, value
        sigma = float(extra_options["sigmas"].max())
        if 0 in ids:
            self._zero_seen.add(sigma)
        elif extra_options.get("transformer_index") == 0:
            chunks = len(extra_options["cond_or_uncond"])
            own = n.reshape(chunks, len(ids), *n.shape[1:])
            got = context.reshape(chunks, len(ids), *context.shape[1:])
            fell_back = all(torch.equal(got[c, k], own[c, 0]) for c in range(chunks) for k in range(len(ids)))
            self.calls.append((sigma, list(ids), sigma in self._zero_seen, fell_back))
        return n, context, value


STATIC = [(4, 0), (4, 2), (5, 3), (3, 1)]  # (context_length, context_overlap) over 10 frames


@pytest.mark.parametrize("length,overlap", STATIC)
def test_static_windows_equal_no_windows_with_ksampler(tiny, length, overlap):
    model = patched(tiny)
    whole = ksampler(model)
    windowed = ksampler(evolved(model, context_options("static", length, overlap)))
    assert_close_rel(windowed, whole)
    plain = ksampler(evolved(tiny, context_options("static", length, overlap)))  # windows without our patch
    assert (plain - whole).abs().max() > 1e-2  # the property is the patch's: plain windows are another video


@pytest.mark.parametrize("length,overlap", [(4, 0), (4, 2)])
def test_static_windows_equal_no_windows_with_motion_latent_sampler(tiny, length, overlap):
    model = patched(tiny)
    whole = motion_video(model)
    windowed = motion_video(evolved(model, context_options("static", length, overlap)))
    assert_close_rel(windowed, whole)


def test_first_plus_previous_is_exact_in_back_to_back_windows(tiny):
    """first+previous needs each frame's predecessor: windows that start right after the previous one (no overlap)
    hand it over; in overlapping windows a window-edge frame stands in for its own predecessor (documented)."""
    model = patched(tiny, ANCHOR_FIRST_AND_PREVIOUS)
    whole = ksampler(model, frames=12)
    assert_close_rel(ksampler(evolved(model, context_options("static", 4, 0)), frames=12), whole)  # 0-3, 4-7, 8-11
    overlapping = ksampler(evolved(model, context_options("static", 4, 2)), frames=12)
    assert (overlapping - whole).abs().max() > 1e-4


@pytest.mark.parametrize("schedule,overlap,closed_loop", [("uniform", 0, False), ("uniform", 2, False),
                                                          ("looped", 2, False), ("looped", 2, True)])
def test_uniform_windows_fall_back_exactly_where_frame_zero_runs_later(tiny, caplog, schedule, overlap, closed_loop):
    spy = AnchorSpy()
    model = patched(tiny)
    whole = ksampler(model)
    model.set_model_attn1_patch(spy)
    with caplog.at_level(logging.WARNING, logger="t2v-zero"):
        windowed = ksampler(evolved(model, context_options(schedule, 4, overlap, closed_loop)))
    assert spy.calls, "no window without frame 0 ran"
    for sigma, ids, zero_before, fell_back in spy.calls:
        assert fell_back == (not zero_before), (sigma, ids, zero_before, fell_back)
    fallbacks = [call for call in spy.calls if call[3]]
    assert fallbacks, "the schedule never ran a window before frame 0's: nothing to show"
    assert [call for call in spy.calls if not call[3]], "no window read the true frame 0"
    assert caplog.text.count("anchors on its own first frame") == 1  # one warning per patch, not per call
    assert "standard_static" in caplog.text
    assert (windowed - whole).abs().max() > 1e-4  # the fallback is another video than the exact one


def test_uniform_windows_are_exact_while_frame_zero_runs_first(tiny):
    """Standard Uniform's first step starts with frame 0's window: a one-step run is exact."""
    model = patched(tiny)
    assert_close_rel(ksampler(evolved(model, context_options("uniform", 4, 2)), steps=1), ksampler(model, steps=1))


def test_chunks_never_split_a_context_window(tiny):
    """frames_per_chunk below the window length leaves ADE's windows whole (a motion module's temporal layers need
    every frame of the window in one call); the result is the same."""
    rows = []
    model = patched(tiny)
    handle = tiny.model.diffusion_model.register_forward_pre_hook(
        lambda m, args, kwargs: rows.append((args[0] if args else kwargs["x"]).shape[0]), with_kwargs=True)
    try:
        windowed = evolved(model, context_options("static", 4, 2))
        chunked = sample_video(windowed, POS, NEG, torch.zeros((FRAMES, 4, 8, 8)), 7, 6, 6.0, "ddim", "ddim_uniform",
                               frames_per_chunk=2)
    finally:
        handle.remove()
    assert max(rows) == 2 * 4  # cfg x the window: never cut into chunks of 2
    assert_close_rel(chunked, motion_video(model))


# --- with a motion module ------------------------------------------------------------------------------------------

class CrossFrameSpy:
    """An attn1 patch placed after ours: counts the self-attention layers of multi-frame calls where every frame's
    keys/values were frame 0's: its rows in the call that holds it, the same step's frame 0 in a context window
    without it (our patch acted, with the true anchor)."""

    def __init__(self):
        self.anchored, self.layers = 0, 0
        self._frame0 = {}  # (sigma, layer) -> frame 0's hidden states

    def __deepcopy__(self, memo):  # ModelPatcher.clone() deep-copies patches on ComfyUI 0.3.75: keep one record
        return self

    def __call__(self, n, context, value, extra_options):
        chunks = len(extra_options["cond_or_uncond"])
        frames = n.shape[0] // chunks
        if frames > 1:
            ids = (extra_options.get("ad_params") or {}).get("sub_idxs") or list(range(frames))
            layer = (float(extra_options["sigmas"].max()), extra_options["block"], extra_options["block_index"],
                     extra_options["transformer_index"])
            if 0 in ids:
                self._frame0[layer] = n.reshape(chunks, frames, *n.shape[1:])[:, ids.index(0)].clone()
            anchor = self._frame0.get(layer)
            got = context.reshape(chunks, frames, *context.shape[1:])
            self.layers += 1
            self.anchored += anchor is not None and all(torch.equal(got[c, k], anchor[c]) for c in range(chunks)
                                                        for k in range(frames))
        return n, context, value


@pytest.fixture(scope="module")
def motion_unet():
    from tiny_models import MOTION_UNET, tiny_unet_patcher

    return tiny_unet_patcher(seed=5, unet_config=MOTION_UNET)


@pytest.fixture(scope="module")
def motion_models():
    """ADE's Load AnimateDiff Model -> Apply AnimateDiff Model on a generated motion module."""
    import folder_paths
    from animatediff import ade_nodes
    from tiny_models import tiny_motion_module

    path = tiny_motion_module()
    folder_paths.add_model_folder_path("animatediff_models", str(path.parent))
    nodes = ade_nodes()
    (motion,) = nodes["ADE_LoadAnimateDiffModel"]().load_motion_model(path.name)
    (applied,) = nodes["ADE_ApplyAnimateDiffModelSimple"]().apply_motion_model(motion)
    return applied


@pytest.mark.parametrize("windows", [False, True])
def test_cross_frame_attention_composes_with_a_motion_module(motion_unet, motion_models, windows):
    """AnimateDiff's temporal layers and our cross-frame attention in one UNet: it runs, every self-attention layer
    of every multi-frame call anchors on frame 0, and both the module and the patch change the video."""
    options = context_options("static", 4, 2) if windows else None
    frames, prompts = 6, (conditioning(1, 768), conditioning(2, 768))
    spy = CrossFrameSpy()
    model = patched(motion_unet)
    model.set_model_attn1_patch(spy)
    both = ksampler(evolved(model, options, motion_models), frames=frames, steps=2, prompts=prompts)
    assert torch.isfinite(both).all()
    assert spy.layers > 0 and spy.anchored == spy.layers
    without_module = ksampler(evolved(patched(motion_unet), options), frames=frames, steps=2, prompts=prompts)
    without_patch = ksampler(evolved(motion_unet, options, motion_models), frames=frames, steps=2, prompts=prompts)
    assert (both - without_module).abs().max() > 1e-3  # the motion module acted
    assert (both - without_patch).abs().max() > 1e-3  # the cross-frame patch acted


# --- in the real server, beside our pack -----------------------------------------------------------------------------

def with_ade_windows(prompt: dict, sampler_node: str, length: int = 4, overlap: int = 2) -> dict:
    """``prompt`` with its sampler's model run through CrossFrameAttentionPatch and ADE's Use Evolved Sampling with
    Standard Static context options, as a user wires them."""
    prompt = {k: {"class_type": v["class_type"], "inputs": dict(v["inputs"])} for k, v in prompt.items()}
    prompt["90"] = {"class_type": "CrossFrameAttentionPatch", "inputs": {
        "model": prompt[sampler_node]["inputs"]["model"], "anchor": "first", "strength": 1.0, "start_percent": 0.0,
        "end_percent": 1.0}}
    prompt["91"] = {"class_type": "ADE_StandardStaticContextOptions", "inputs": {
        "context_length": length, "context_overlap": overlap, "fuse_method": "pyramid", "use_on_equal_length": False,
        "start_percent": 0.0, "guarantee_steps": 1}}
    prompt["92"] = {"class_type": "ADE_UseEvolvedSampling", "inputs": {
        "model": ["90", 0], "beta_schedule": "use existing", "context_options": ["91", 0]}}
    prompt[sampler_node]["inputs"]["model"] = ["92", 0]
    return prompt


def run_logged(server, prompt: dict) -> tuple[dict, str]:
    """Run ``prompt``; (its /history entry, what the server logged while it ran)."""
    start = server.log_path.stat().st_size
    entry = server.run(prompt)
    with open(server.log_path, "rb") as log:
        log.seek(start)
        return entry, log.read().decode(errors="replace")


def assert_windows_ran(log: str, frames: int, length: int) -> None:
    """ADE logs, for every sampling run on its model, whether it samples the ``frames`` latents in context windows of
    ``length``. Without that line the equality proves nothing: a run without windows (context_length >= frames, the
    options not reaching the sampler) is the unwindowed run, and so is a plain model's windowed run (frames do not
    interact without our patch; the in-process tests show which window calls ran)."""
    assert (f"Sliding context window sampling activated - latents passed in ({frames}) greater than context_length "
            f"{length}.") in log, log[-3000:]
    assert f"Regular sampling activated - latents passed in ({frames})" not in log, log[-3000:]
    assert "anchors on its own first frame" not in log  # frame 0's window ran first in every step: no fallback


def saved_images(server, entry, node: str) -> list:
    import numpy as np
    from PIL import Image

    return [np.asarray(Image.open(server.output_dir / image.get("subfolder", "") / image["filename"])).astype(int)
            for image in entry["outputs"][node]["images"]]


def test_ade_windows_with_ksampler_in_the_server_equal_one_window(packs_server):
    """CheckpointLoader -> CrossFrameAttentionPatch -> Use Evolved Sampling (Standard Static) -> KSampler: the same
    frames as KSampler over all frames at once (8-bit images: within 1/255)."""
    from prompts import text_to_video

    prompt = text_to_video(frames=6, steps=4)
    prompt["5"] = {"class_type": "KSampler", "inputs": {
        "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "seed": 2,
        "steps": 4, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}}
    windowed = with_ade_windows(prompt, "5", length=4, overlap=2)
    whole = dict(windowed)
    whole["5"] = {"class_type": "KSampler", "inputs": dict(windowed["5"]["inputs"], model=["90", 0])}
    entry, log = run_logged(packs_server, windowed)
    a = saved_images(packs_server, entry, "7")
    b = saved_images(packs_server, packs_server.run(whole), "7")
    assert len(a) == 6 and max(abs(x - y).max() for x, y in zip(a, b)) <= 1
    assert_windows_ran(log, frames=6, length=4)  # the equality is not the trivial one of a run without windows


def test_ade_windows_with_video_controlnet_and_motion_sampler_in_the_server(packs_server):
    """Load Video -> Video ControlNet Apply -> Motion Latent Sampler on an ADE-windowed model: frame k gets hint k in
    every window, so the video equals the one made without windows (8-bit: within 1/255)."""
    from test_controlnet import control_video, controlnet_prompt

    plain = controlnet_prompt(control_video(packs_server, 6), frames_=6, chunk=0)
    windowed = with_ade_windows(plain, "9", length=3, overlap=1)
    whole = dict(windowed, **{"9": {"class_type": "MotionLatentSampler",
                                    "inputs": dict(windowed["9"]["inputs"], model=["90", 0])}})
    entry, log = run_logged(packs_server, windowed)
    a = saved_images(packs_server, entry, "11")
    b = saved_images(packs_server, packs_server.run(whole), "11")
    assert len(a) == 6 and max(abs(x - y).max() for x, y in zip(a, b)) <= 1
    assert_windows_ran(log, frames=6, length=3)  # the equality is not the trivial one of a run without windows
