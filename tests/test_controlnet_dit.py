"""VideoControlNetApply with Flux ControlNets (attention/control.py): tiny random-weight XLabs, MistoLine, InstantX and
InstantX-Union ControlNets loaded through ComfyUI's own ControlNetLoader (tests/tiny_dit_controlnet.py), on the tiny
Flux dev (tests/tiny_dit.py), sampled through ComfyUI's own samplers. Frame k gets control image k whole, in frame
chunks, in parts and in core context windows; cross-frame attention acts in the Flux model (not inside its
ControlNet, as documented); what cannot work fails before sampling, naming the input and the fix."""
from __future__ import annotations

import pytest
import torch

from t2vz.attention import CrossFrameAttention
from t2vz.attention.control import VideoControl
from t2vz.motion import sample_video
from t2vz.motion.parts import video_part
from checks import assert_close_rel
from test_dit_attention import needs
from tiny_dit import conditioning, load_tiny_dit
from tiny_dit_controlnet import (FORMATS, LATENT_FORMATS, UNION_MODES, control_model, load_tiny_flux_controlnet,
                                 tiny_flux_vae)

KIND = "flux-dev"
LATENT = 8  # latent side: 64 x 64 pixel control images
STEPS = 3
POS, NEG = conditioning(KIND, 1), conditioning(KIND, 2)
CFG = 1.0  # Flux dev: distilled guidance, one cond chunk per call
PIXEL_AND_LATENT = ["xlabs", "instantx-union"]
"""One pixel-space and one latent-space layout, for the longer tests (the CPU is shared)."""


@pytest.fixture(scope="module")
def flux():
    needs(KIND)  # skips on ComfyUI 0.3.75, whose Flux detection fixes 24 heads (no tiny Flux loads there)
    return load_tiny_dit(KIND)


@pytest.fixture(scope="module")
def control_nets(flux):
    cache = {}

    def get(kind):
        if kind not in cache:
            cache[kind] = load_tiny_flux_controlnet(kind)
        return cache[kind]

    return get


@pytest.fixture(scope="module")
def vae():
    return tiny_flux_vae()


def images(count, seed=0):
    """Distinct control images as a ComfyUI IMAGE, (frames, H, W, 3) in [0, 1]."""
    return torch.rand((count, LATENT * 8, LATENT * 8, 3), generator=torch.Generator().manual_seed(seed))


def vae_for(kind, vae):
    return vae if kind in LATENT_FORMATS else None


def node(control_net, pictures, kind, vae, strength=0.7, frame_mismatch="error", positive=POS, negative=NEG):
    """The Video ControlNet Apply node's (positive, negative)."""
    from t2vz.nodes.controlnet_apply import VideoControlNetApply

    return VideoControlNetApply.execute(positive, negative, control_net, pictures, strength, 0.0, 1.0, "none", 100,
                                        200, frame_mismatch, vae=vae_for(kind, vae)).args


def core(control_net, pictures, kind, vae, strength=0.7):
    """Core Apply ControlNet (ControlNetApplyAdvanced)'s (positive, negative)."""
    import nodes

    return nodes.ControlNetApplyAdvanced().apply_controlnet(POS, NEG, control_net, pictures, strength, 0.0, 1.0,
                                                            vae=vae_for(kind, vae))


def ksample(model, positive, negative, noise):
    """KSampler's path (comfy.sample.sample) from ``noise``."""
    import comfy.sample

    return comfy.sample.sample(model, noise, STEPS, CFG, "euler", "simple", positive, negative, torch.zeros_like(noise),
                               disable_pbar=True, seed=0)


def video(model, positive, negative, frames, **kw):
    """The pack's sampler (what MotionLatentSampler runs): cross-frame attention in the Flux model, shared noise."""
    kw.setdefault("noise_mode", "shared")
    return sample_video(model, positive, negative, torch.zeros((frames, 16, LATENT, LATENT)), 7, STEPS, CFG, "euler",
                        "simple", **kw)


def union_typed(control_net, kind):
    """The union ControlNet with a control mode set (core Set Union ControlNet Type), the others as they are."""
    if kind != "instantx-union":
        return control_net
    from comfy_extras.nodes_controlnet import SetUnionControlNetType

    return SetUnionControlNetType.execute(control_net, "depth").args[0]


# --- the tiny ControlNets load through ComfyUI's own loader --------------------------------------------------------

@pytest.mark.parametrize("kind", FORMATS)
def test_the_real_loader_detects_each_layout_and_loads_every_weight(control_nets, kind):
    import comfy.controlnet
    import comfy.ldm.flux.controlnet

    loaded = control_nets(kind)
    assert isinstance(loaded, comfy.controlnet.ControlNet)
    model = loaded.control_model
    assert isinstance(model, comfy.ldm.flux.controlnet.ControlNetFlux)
    assert model.latent_input == (kind in LATENT_FORMATS) and model.mistoline == (kind == "mistoline")
    assert model.num_union_modes == (UNION_MODES if kind == "instantx-union" else 0)
    assert (loaded.latent_format is not None) == (kind in LATENT_FORMATS)
    built = control_model(kind).state_dict()
    got = model.state_dict()
    assert set(got) == set(built)
    assert all(torch.equal(got[k].float(), built[k]) for k in built), "a weight did not arrive as built"


# --- frame k gets control image k ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", FORMATS)
def test_frame_k_is_frame_k_sampled_alone_with_core_controlnet_and_image_k(flux, control_nets, vae, kind):
    """A batch of frames (no cross-frame attention, KSampler's path) with the node: frame k equals frame k sampled
    alone under core Apply ControlNet given image k only (strength 0.7: the strength is applied once, as core's)."""
    control_net = union_typed(control_nets(kind), kind)
    count = 4
    pictures = images(count)
    noise = torch.randn((count, 16, LATENT, LATENT), generator=torch.Generator().manual_seed(3))
    out = ksample(flux, *node(control_net, pictures, kind, vae), noise)
    plain = ksample(flux, POS, NEG, noise)
    for k in range(count):
        alone = ksample(flux, *core(control_net, pictures[k:k + 1], kind, vae), noise[k:k + 1])
        assert_close_rel(out[k:k + 1], alone, rel=1e-5)
        assert (out[k] - plain[k]).abs().max() > 1e-2, k  # the ControlNet steered
    if kind == "instantx-union":  # the control mode reaches the ControlNet
        untyped = ksample(flux, *node(control_nets(kind), pictures, kind, vae), noise)
        assert (untyped - out).abs().max() > 1e-3


class ControlRows:
    """Test-only: the rows of every Flux ControlNet call (a forward pre-hook on its ControlNetFlux)."""

    def __init__(self, control_net):
        self.rows = []
        self.handle = control_net.control_model.register_forward_pre_hook(self._on_call, with_kwargs=True)

    def _on_call(self, module, args, kwargs):
        self.rows.append(kwargs["x"].shape[0])

    def close(self):
        self.handle.remove()


def core_windows(model, length, overlap):
    """ComfyUI's own Context Windows (Manual) node (Standard Static, pyramid fusion) on ``model``, or None where the
    host has no causal_window_fix (0.3.75, whose windows cannot sample a batch of images: tests/test_motion.py)."""
    import inspect

    from comfy_extras.nodes_context_windows import ContextWindowsManualNode

    accepted = inspect.signature(ContextWindowsManualNode.execute).parameters
    if "causal_window_fix" not in accepted:
        return None
    extra = {"freenoise": False} if "freenoise" in accepted else {}
    return ContextWindowsManualNode.execute(model, length, overlap, "standard_static", 1, False, "pyramid", 0,
                                            **extra).args[0]


@pytest.mark.parametrize("kind", PIXEL_AND_LATENT)
def test_chunks_parts_and_core_windows_equal_the_whole_video(flux, control_nets, vae, kind):
    """With cross-frame attention in the Flux model: frames_per_chunk 2, three parts (with chunks) and core context
    windows (3 frames, overlap 1) give the whole video; under chunks the ControlNet runs per chunk too."""
    control_net = control_nets(kind)
    count = 5
    pictures = images(count, seed=1)
    spy = ControlRows(control_net)
    try:
        whole = video(flux, *node(control_net, pictures, kind, vae), count)
        whole_rows, spy.rows = spy.rows, []
        chunked = video(flux, *node(control_net, pictures, kind, vae), count, frames_per_chunk=2)
        chunk_rows = spy.rows
    finally:
        spy.close()
    assert max(whole_rows) == count and max(chunk_rows) == 2  # the ControlNet's memory follows the chunk
    assert_close_rel(chunked, whole)
    parts = [video(flux, *node(control_net, pictures, kind, vae), count, part=video_part(count, i, 3),
                   frames_per_chunk=2) for i in range(3)]
    assert_close_rel(torch.cat(parts), whole)
    windowed = core_windows(flux, 3, 1)
    if windowed is not None:
        spy = ControlRows(control_net)
        try:
            assert_close_rel(video(windowed, *node(control_net, pictures, kind, vae), count), whole)
        finally:
            spy.close()
        assert max(spy.rows) < count  # windows (3 frames, and core's causal_window_fix frame) cut the video
    plain = video(flux, POS, NEG, count)
    assert all((whole[k] - plain[k]).abs().max() > 1e-2 for k in range(count))  # the ControlNet steered


# --- cross-frame attention -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", PIXEL_AND_LATENT)
def test_the_node_with_the_cross_frame_attention_node_on_flux(flux, control_nets, vae, kind):
    """CrossFrameAttentionPatch (anchor first) + VideoControlNetApply, KSampler's path: frame k attends to frame 0
    only, so it equals frame 1 of a two-frame video (frames 0 and k's noise) made by core Apply ControlNet with images
    0 and k (one call over as many images as frames: core's hints are right there)."""
    from t2vz.nodes.attention_patch import CrossFrameAttentionPatch

    model = CrossFrameAttentionPatch.execute(flux, "first", 1.0, 0.0, 1.0).args[0]
    control_net = control_nets(kind)
    count = 4
    pictures = images(count, seed=2)
    noise = torch.randn((count, 16, LATENT, LATENT), generator=torch.Generator().manual_seed(4))
    out = ksample(model, *node(control_net, pictures, kind, vae), noise)
    for k in range(1, count):
        pair = ksample(model, *core(control_net, pictures[[0, k]], kind, vae), noise[[0, k]])
        assert_close_rel(out[[0, k]], pair, rel=1e-5)
    independent = ksample(flux, *node(control_net, pictures, kind, vae), noise)
    assert_close_rel(out[:1], independent[:1], rel=1e-5)  # frame 0 attends to itself only
    assert all((out[k] - independent[k]).abs().max() > 1e-2 for k in range(1, count))  # the others to frame 0


def test_inside_a_flux_controlnet_each_frame_runs_on_its_own(flux, control_nets):
    """The documented limit: ComfyUI's Flux ControlNet forward takes no transformer_options, so the cross-frame patch
    in a call's options does not reach its attention: moving frame 0's latent changes frame 0's control residuals
    only (an SD1.5 ControlNet's frame 2 would change too: tests/test_controlnet.py)."""
    control_net = control_nets("xlabs")
    base = flux.model
    patch = CrossFrameAttention()
    x = torch.randn((3, 16, LATENT, LATENT), generator=torch.Generator().manual_seed(5))
    moved = x.clone()
    moved[0] += 1.0
    cond = {"c_crossattn": POS[0][0].expand(3, -1, -1), "y": POS[0][1]["pooled_output"].expand(3, -1),
            "guidance": torch.full((3,), 3.5)}
    outs = []
    for latent in (x, moved):
        control = VideoControl(control_net, images(3).movedim(-1, 1))
        control.pre_run(base, lambda p: base.model_sampling.percent_to_sigma(p))
        t = torch.full((3,), 0.8)
        options = {"cond_or_uncond": [0], "patches": {"attn1_patch": [patch]}, "sigmas": t[:1]}
        try:
            outs.append(control.get_control(latent, t, cond, 1, options))
        finally:
            control.cleanup()
    residuals = [(a, b) for a, b in zip(outs[0]["input"], outs[1]["input"]) if a is not None]
    assert residuals
    assert max((a[0] - b[0]).abs().max().item() for a, b in residuals) > 1e-4
    for frame in (1, 2):
        assert all(torch.equal(a[frame], b[frame]) for a, b in residuals), frame
    assert patch.reached == 0


# --- what cannot work fails before sampling ------------------------------------------------------------------------

def test_a_hint_count_mismatch_stops_with_the_packs_message(flux, control_nets, vae):
    control_net = control_nets("xlabs")
    for chunk in (0, 2):
        with pytest.raises(ValueError, match="4 control images for a video of 5 frames.*Fix") as err:
            video(flux, *node(control_net, images(4), "xlabs", vae), 5, frames_per_chunk=chunk)
        assert "frame_mismatch" in str(err.value)
    looped = video(flux, *node(control_net, images(4), "xlabs", vae, frame_mismatch="repeat"), 5, frames_per_chunk=2)
    assert torch.isfinite(looped).all()


def test_a_latent_space_controlnet_needs_a_flux_vae_before_sampling(control_nets, vae):
    import comfy.sd
    import comfy.taesd.taesd
    from t2vz.nodes.controlnet_apply import VideoControlNetApply
    from tiny_models import randomize_

    control_net = control_nets("instantx")
    with pytest.raises(ValueError, match="^vae: .*none is connected. Fix: connect") as err:
        node(control_net, images(2), "instantx", None)
    assert "VideoControlNetApply" in str(err.value)
    sd_vae = comfy.sd.VAE(sd=randomize_(comfy.taesd.taesd.TAESD(latent_channels=4), 6).state_dict())
    with pytest.raises(ValueError, match="^vae: the connected VAE makes 4-channel latents, but this ControlNet takes "
                                         "16-channel ones. Fix"):
        VideoControlNetApply.execute(POS, NEG, control_net, images(2), 1.0, 0.0, 1.0, "none", 100, 200, "error",
                                     vae=sd_vae)
    assert node(control_nets("xlabs"), images(2), "xlabs", None)  # pixel-space layouts take no VAE
    assert node(control_net, images(2), "instantx", vae)


def test_a_flux_controlnet_on_another_family_stops_before_the_first_step(control_nets):
    import comfy.sample
    from tiny_models import conditioning as unet_conditioning
    from tiny_models import tiny_unet_patcher

    unet = tiny_unet_patcher(seed=0)
    positive, negative = unet_conditioning(1), unet_conditioning(2)
    control = VideoControl(control_nets("xlabs"), images(2).movedim(-1, 1))
    positive = [[positive[0][0], {"control": control, "control_apply_to_uncond": False}]]
    negative = [[negative[0][0], {"control": control, "control_apply_to_uncond": False}]]
    steps = []
    with pytest.raises(ValueError, match="^control_net: this Flux ControlNet .* does not fit the model being sampled "
                                         r"\(UNetModel.*Fix: use a ControlNet made for the checkpoint's family"):
        latent = torch.zeros((2, 4, 4, 4))
        comfy.sample.sample(unet, torch.randn_like(latent), 2, 6.0, "euler", "simple", positive, negative, latent,
                            callback=lambda *a: steps.append(a), disable_pbar=True, seed=0)
    assert not steps

