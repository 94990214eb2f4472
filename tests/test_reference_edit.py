"""Video editing with reference-taking editing models (Flux.1 Kontext, Qwen-Image-Edit): the Edit Video node and its
library (motion/reference_edit.py) on tiny models loaded through ComfyUI's own loader. Kontext [dev] is the Flux
architecture and Qwen-Image-Edit the Qwen-Image one (ComfyUI's Flux and QwenImage models take reference latents,
whatever their weights): a tiny Flux dev and a tiny Qwen-Image (tests/tiny_dit_families.py) stand in.

The source frames are a pattern of two different latents (A, B, A, B, ...) with shared noise, so that frames with
the same reference must come out equal and frames with different references different, in chunks and parts too."""
from __future__ import annotations

import pytest
import torch

from checks import assert_close_rel
from test_dit_attention import models  # noqa: F401  (the module-scoped loader fixture)
from tiny_dit import conditioning as flux_conditioning

KIND = "flux-dev"
KINDS = ["flux-dev", "qwen-image"]
STEPS = 4


@pytest.fixture(scope="module")
def editor(models):  # noqa: F811
    """editor(kind) -> (model, conditioning(seed)) for a Kontext-like tiny Flux or a tiny Qwen-Image."""
    cache = {}

    def get(kind):
        if kind != "qwen-image":
            return models(kind), lambda seed: flux_conditioning(kind, seed)
        from tiny_dit_families import conditioning, load_tiny_family, refusal

        if refusal(kind):
            pytest.skip(refusal(kind))
        if kind not in cache:
            cache[kind] = load_tiny_family(kind)
        return cache[kind], lambda seed: conditioning(kind, seed)

    return get


def sources(frames: int, kind: str = KIND) -> torch.Tensor:
    """Latents of two different source pictures, alternating: A, B, A, B, ... Qwen-Image's are a video VAE's
    (Wan 2.1's), with a time axis of one: (frames, 16, 1, 8, 8)."""
    generator = torch.Generator().manual_seed(5)
    a, b = torch.randn((2, 16, 8, 8), generator=generator)
    out = torch.stack([a if k % 2 == 0 else b for k in range(frames)])
    return out.unsqueeze(2) if kind == "qwen-image" else out


def sigmas(model):
    from t2vz.motion.video_edit import edit_sigmas

    return edit_sigmas(model, STEPS, "euler", "simple")


def edit(setup, source, **kwargs):
    from t2vz.motion.reference_edit import edit_video_by_reference

    model, conditioning = setup
    return edit_video_by_reference(model, conditioning(1), conditioning(2), source, 7, sigmas(model),
                                   sampler_name=kwargs.pop("sampler_name", "euler"), cfg=kwargs.pop("cfg", 1.0),
                                   **kwargs)


def differ_by(a, b) -> float:
    return (a - b).abs().max().item() / b.abs().max().item()


def differ(a, b, rel: float = 1e-2) -> bool:
    return differ_by(a, b) > rel


@pytest.mark.parametrize("chunk", [0, 1, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_frame_k_is_edited_with_reference_k(editor, kind, chunk):
    out = edit(editor(kind), sources(5, kind), frames_per_chunk=chunk)
    assert out.shape == sources(5, kind).shape and torch.isfinite(out).all()
    # same reference, same shared noise, same anchor: the same frame; another reference: another frame
    assert_close_rel(out[2], out[0], rel=1e-5)
    assert_close_rel(out[4], out[0], rel=1e-5)
    assert_close_rel(out[3], out[1], rel=1e-5)
    assert differ(out[1], out[0])


@pytest.mark.parametrize("kind", KINDS)
def test_chunks_and_parts_equal_the_whole_edit(editor, kind):
    from t2vz.motion.parts import video_part

    setup, source = editor(kind), sources(7, kind)
    whole = edit(setup, source)
    assert_close_rel(edit(setup, source, frames_per_chunk=2), whole, rel=1e-5)
    pieces = []
    for index in range(3):
        part = video_part(7, index, 3)
        pieces.append(edit(setup, source[part.rows], part=part, frames_per_chunk=2))
    assert_close_rel(torch.cat(pieces), whole, rel=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_frame_zero_is_the_single_image_edit_of_the_seed(editor, kind):
    """Frame 0 attends to itself only: it is what KSampler makes of source 0 with core ReferenceLatent's
    conditioning and the same seed."""
    import comfy.sample
    import node_helpers

    (model, conditioning), source = editor(kind), sources(4, kind)
    out = edit((model, conditioning), source, sampler_name="euler_ancestral")
    latent = torch.zeros_like(source[:1])
    reference = {"reference_latents": [source[:1]]}
    single = comfy.sample.sample(
        model, comfy.sample.prepare_noise(latent, 7), STEPS, 1.0, "euler_ancestral", "simple",
        node_helpers.conditioning_set_values(conditioning(1), reference),
        node_helpers.conditioning_set_values(conditioning(2), reference), latent, disable_pbar=True, seed=7)
    assert_close_rel(out[:1], single, rel=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_cross_frame_attention_is_on_and_reads_each_frames_own_reference(editor, kind, monkeypatch):
    """Against the plain batch edit (no cross-frame attention; every frame still has its reference): frame 0 is the
    same, the others differ. And the choice of what frame k reads: with frame 0's reference tokens in place of its
    own (the swap of all joint tokens), frame k would be frame 0's edit again, whatever its source shows."""
    import comfy.samplers

    from t2vz.attention import cross_frame, dit
    from t2vz.motion.video_edit import sample_edit
    from t2vz.motion.parts import video_part
    from t2vz.motion.reference_edit import with_references

    (model, conditioning), source = editor(kind), sources(4, kind)
    ours = edit((model, conditioning), source)
    guider = comfy.samplers.CFGGuider(model)  # the model as loaded: no cross-frame attention
    guider.set_conds(with_references(conditioning(1), source), with_references(conditioning(2), source))
    guider.set_cfg(1.0)
    plain = sample_edit(guider, comfy.samplers.sampler_object("euler"), source, 7, sigmas(model), "shared",
                        video_part(4, 0, 1), None)
    rounding = ((ours[0] - plain[0]).abs().max() / plain[0].abs().max()).item()
    assert rounding < 1e-5
    # frames 1 and 3 (source B) read frame 0's text and image tokens instead of their own: with shared noise those
    # differ only as far as the references made them, so the change is small on these tiny models, and far above
    # float rounding (frame 0, the same in both); frame 2 (source A, as frame 0) is frame 0 in both
    print(f"{kind}: frame 0 off by {rounding:.1e}, frame 1 by {differ_by(ours[1], plain[1]):.1e} (relative)")
    assert differ(ours[1], plain[1], rel=max(1e-4, 100 * rounding))
    assert differ(ours[3], plain[3], rel=max(1e-4, 100 * rounding))

    for module in (cross_frame, dit):  # the attn1 patch's and the attention override's
        monkeypatch.setattr(module, "keep_own_tokens", lambda swapped, own, count, tokens_dim=-2: swapped)
    anchored = edit((model, conditioning), source)
    assert_close_rel(anchored[1], anchored[0], rel=1e-5)  # the source of frame 1 no longer matters
    assert differ(ours[1], ours[0])


@pytest.mark.parametrize("anchor", ["first", "first+previous"])
def test_parity_with_diffusers_kontext_layout_and_a_frame_zero_processor(models, anchor):
    """An independent implementation: diffusers' FluxTransformer2DModel on the same weights, the reference tokens
    appended as diffusers' Kontext pipeline does (the reference's ids carry index 1), with a processor giving every
    frame frame 0's keys and values but its own reference tokens. One model call of 4 frames, 2 sources."""
    pytest.importorskip("diffusers")
    from t2vz.attention.cross_frame import CrossFrameAttention
    from tiny_dit import FrameZeroFluxProcessor, diffusers_flux, flux_ids, pack, unpack

    model = models(KIND)
    reference = diffusers_flux(model)
    frames = 4
    x = torch.randn((frames, 16, 8, 8), generator=torch.Generator().manual_seed(0))
    refs = sources(frames)
    embedding, extra = flux_conditioning(KIND, 1)[0]
    text, pooled = embedding.expand(frames, -1, -1), extra["pooled_output"].expand(frames, -1)
    t, guidance = torch.full((frames,), 0.7), torch.full((frames,), 3.5)
    img_ids, txt_ids = flux_ids(8, 8, text.shape[1])
    ref_ids = img_ids.clone()
    ref_ids[:, 0] = 1
    tokens = img_ids.shape[0]

    def ours(patches):
        options = {"patches": {"attn1_patch": patches}, "cond_or_uncond": [0]}
        with torch.no_grad():
            return model.model.diffusion_model(x, t, context=text, y=pooled, guidance=guidance, ref_latents=[refs],
                                               transformer_options=options)

    def theirs(processor=None):
        if processor is not None:
            reference.set_attn_processor(processor)
        with torch.no_grad():
            out = reference(hidden_states=torch.cat([pack(x), pack(refs)], dim=1), encoder_hidden_states=text,
                            pooled_projections=pooled, timestep=t, img_ids=torch.cat([img_ids, ref_ids]),
                            txt_ids=txt_ids, guidance=guidance, return_dict=False)[0]
        return unpack(out[:, :tokens], 16, 8, 8)

    plain = theirs()
    assert_close_rel(ours([]), plain, rel=1e-5)
    expected = theirs(FrameZeroFluxProcessor(previous=anchor != "first", own_tail=tokens))
    got = ours([CrossFrameAttention(anchor=anchor)])
    assert_close_rel(got, expected, rel=1e-5)
    assert differ(got[1], plain[1], rel=1e-3)


def test_a_model_without_references_is_refused_by_name(tiny):
    from t2vz.motion.reference_edit import check_reference_model

    with pytest.raises(ValueError, match=r"model: an SD1.5 model takes no reference image.*Kontext.*Fix: load one"):
        check_reference_model(tiny)


def test_the_node_encodes_edits_and_decodes_the_selected_frames(models, caplog):
    """Through the node, with the real VAE path (a 16-channel TAESD): every other frame of 7, sides fitted to 16,
    the frame rate divided by every_nth, and frames 0 and 2 (the same source picture) equal."""
    import comfy.sd

    from t2vz.nodes.video_edit import ReferenceEditVideo
    from tiny_dit import _vae16_state

    vae = comfy.sd.VAE(sd=_vae16_state(2))
    a = torch.full((60, 72, 3), 0.1)  # a dark picture and a bright gradient
    b = torch.linspace(0.5, 1.0, 72).expand(60, 72).unsqueeze(-1).repeat(1, 1, 3)
    clip = torch.stack([a, a, b, b, a, a, b])  # every other frame: a, b, a, b
    latent, images, rate = ReferenceEditVideo.execute(
        models(KIND), flux_conditioning(KIND, 1), flux_conditioning(KIND, 2), vae, clip, 1.0, 7, STEPS, "euler",
        "simple", "shared", 0, 0, -1, 2, frame_rate=24.0).args
    assert latent["samples"].shape == (4, 16, 8, 8) and images.shape == (4, 64, 64, 3)
    assert rate == 12.0
    assert "not a multiple of 16" in caplog.text
    assert_close_rel(latent["samples"][2], latent["samples"][0], rel=1e-5)
    assert differ(latent["samples"][1], latent["samples"][0])


@pytest.mark.parametrize(("overrides", "needle"), [
    ({"frames": torch.zeros((0, 64, 64, 3))}, "frames must be an IMAGE batch"),
    ({"start_frame": 9}, "start_frame 9 is outside"),
    ({"part": 3, "parts": 3}, "part"),
])
def test_the_node_names_bad_inputs_and_the_fix(models, overrides, needle):
    import comfy.sd

    from t2vz.nodes.video_edit import ReferenceEditVideo
    from tiny_dit import _vae16_state

    inputs = {"model": models(KIND), "positive": flux_conditioning(KIND, 1),
              "negative": flux_conditioning(KIND, 2),
              "vae": comfy.sd.VAE(sd=_vae16_state(2)), "frames": torch.rand((4, 64, 64, 3)), "cfg": 1.0, "seed": 7,
              "steps": STEPS, "sampler_name": "euler", "scheduler": "simple", "noise_mode": "shared",
              "frames_per_chunk": 0, "start_frame": 0, "end_frame": -1, "every_nth": 1}
    inputs.update(overrides)
    with pytest.raises(ValueError, match=needle):
        ReferenceEditVideo.execute(**inputs)


@pytest.mark.parametrize("kind", KINDS)
def test_flow_noise_moves_in_whole_tokens_and_parts_equal_the_whole_edit(editor, kind):
    """noise_mode flow on a DiT: the noise moves as whole 2x2 latent patches (a source panning 16 px a frame moves it
    one token), the parts put together are the whole edit; attention along the flow reaches the model (the edit
    changes) on Flux's and Qwen-Image's routes."""
    import numpy as np

    import comfy.patcher_extension as pe
    from t2vz.motion.consistency import FlowEstimator
    from t2vz.motion.flow_noise import source_motion
    from t2vz.motion.parts import video_part
    from test_flow_edit import shifted_texture

    def exact(first, second):  # the true flow of the pan (OpenCV's DIS is not asked to find 16 px in 64)
        forward = np.zeros((*first.shape[:2], 2), np.float32)
        forward[..., 0] = 16.0
        return forward, -forward

    setup, source = editor(kind), sources(5, kind)
    motion = source_motion(shifted_texture(5, 64, 16), FlowEstimator("exact", exact))
    seen = []
    model = setup[0].clone()
    model.add_wrapper_with_key(pe.WrappersMP.DIFFUSION_MODEL, "test-x", lambda ex, x, *a, **k: (
        seen.append(x.detach().clone()), ex(x, *a, **k))[1])
    whole = edit((model, setup[1]), source, noise_mode="flow", motion=motion)
    x = seen[0].reshape(5, 16, 8, 8)
    for k in range(1, 4):
        moved = (x[k, :, 2:-2, 2 * k:] == x[0, :, 2:-2, :8 - 2 * k]).all(dim=0).float().mean()
        assert moved > 0.9, (k, moved)
    pieces = []
    for index in range(2):
        part = video_part(5, index, 2)
        pieces.append(edit(setup, source[part.rows], part=part, noise_mode="flow", motion=motion))
    assert_close_rel(torch.cat(pieces), whole, rel=1e-5)
    along = edit(setup, source, noise_mode="flow", motion=motion, along_flow=True)
    assert differ(along, whole, 1e-3)
