"""Reference images' tokens (Flux.1 Kontext's, Qwen-Image-Edit's ReferenceLatent) under cross-frame attention, on the
families whose models take them, ignore them or place them elsewhere: counted only where the model appends them
after the image tokens, checked against every call, and sized in the anchor cache. Tiny models through ComfyUI's own
loaders (tests/tiny_dit.py, tests/tiny_dit_families.py)."""
from __future__ import annotations

import math
import types

import pytest
import torch

from t2vz.attention import CrossFrameAttention, with_cross_frame
from t2vz.attention.chunking import GIB
from t2vz.attention.cross_frame import keep_own_tokens
from t2vz.attention.dit import ReachGuard
from t2vz.attention.families import (FLUX1, FLUX1_TEXT_TOKENS, REFERENCE_TOKENS_KEY, AnchorLayout, anchor_cache_bytes,
                                     reference_patch)
from checks import assert_close_rel
from test_dit_attention import models  # noqa: F401  (the module-scoped loader fixture)
from test_dit_memory import cache_peak, free_memory  # noqa: F401  (fixture)

FRAMES, STEPS = 3, 2


def with_reference(conditioning, latent):
    """``conditioning`` with one reference picture on it, as core's ReferenceLatent puts it."""
    return [[embedding, {**options, "reference_latents": [latent]}] for embedding, options in conditioning]


def sample(model, conditioning, x, steps=STEPS, cfg=1.0):
    import comfy.sample

    return comfy.sample.sample(model, x, steps, cfg, "euler", "simple", conditioning, conditioning,
                               torch.zeros_like(x), disable_pbar=True, seed=0)


def family(kind):
    from tiny_dit_families import load_tiny_family, refusal

    if refusal(kind):
        pytest.skip(refusal(kind))
    return load_tiny_family(kind)


# --- counting ------------------------------------------------------------------------------------------------------

def test_chroma_which_ignores_references_keeps_cross_frame_attention():
    """Chroma's network drops ``ref_latents``. A reference on the conditioning used to be counted as trailing tokens
    anyway, and every image token went back to the frame's own: cross-frame attention was left acting on the text
    tokens alone. Now nothing is counted there: the video is the one made without the reference (which Chroma
    ignores), and frames k > 0 are not plain sampling's."""
    from tiny_dit_families import conditioning

    import comfy.model_management

    model = family("chroma")
    try:
        assert reference_patch(model) is None
        x = torch.randn((FRAMES, 16, 8, 8), generator=torch.Generator().manual_seed(0))
        cond = conditioning("chroma", 1)
        patched = with_cross_frame(model, CrossFrameAttention())
        without = sample(patched, cond, x)
        cross = sample(patched, with_reference(cond, torch.randn((1, 16, 8, 8))), x)
        assert torch.isfinite(cross).all()
        assert_close_rel(cross, without, rel=1e-6)
        plain = sample(model, cond, x)
        for k in range(1, FRAMES):
            assert ((cross[k] - plain[k]).abs().max() / plain[k].abs().max()) > 1e-2, f"frame {k}: patch did nothing"
    finally:
        del model
        comfy.model_management.unload_all_models()


def test_lumina_2_and_z_image_references_are_not_counted_as_trailing():
    """Lumina 2 / Z-Image put reference tokens first (Z-Image Omni): a count of trailing tokens made the text-only
    context refiner fail (IndexError). Their guard counts nothing, whatever ``ref_latents`` a call carries. (A tiny
    Lumina 2 cannot sample with references at all: ComfyUI's Omni path needs Z-Image's pad tokens.)"""
    import comfy.model_management

    model = family("lumina2")
    try:
        assert reference_patch(model) is None
        patched = with_cross_frame(model, CrossFrameAttention())
        import comfy.patcher_extension

        guard = patched.get_wrappers(comfy.patcher_extension.WrappersMP.APPLY_MODEL, "t2v-zero.cross-frame-reached")
        options = {}
        guard[0](lambda *a, **k: None, transformer_options=options, ref_latents=[torch.zeros((1, 16, 8, 8))])
        assert REFERENCE_TOKENS_KEY not in options
    finally:
        del model
        comfy.model_management.unload_all_models()


def test_a_model_that_does_not_report_the_count_gets_it_counted_with_its_own_patch():
    """Where the model does not say how many reference tokens it appends, ReachGuard counts them with the network's
    own patch side: Flux 2's 1x1 patches give four times Flux.1's count for the same latent. The stand-in network is
    a Flux subclass defined here, whose module (this file) does not write the count, as older hosts' Flux does not."""
    import comfy.ldm.flux.model

    network_class = type("Flux2Like", (comfy.ldm.flux.model.Flux,), {"__module__": __name__})
    counts = {}
    for patch in (1, 2):
        network = network_class.__new__(network_class)
        torch.nn.Module.__init__(network)
        network.patch_size = patch
        model = types.SimpleNamespace(model=types.SimpleNamespace(diffusion_model=network))
        assert reference_patch(model) == patch
        options = {}
        ReachGuard("Flux", "dit-attn1", patch)(lambda *a, **k: None, transformer_options=options,
                                               ref_latents=[torch.zeros((1, 16, 6, 10))])
        counts[patch] = options[REFERENCE_TOKENS_KEY]
    assert counts == {1: [60], 2: [15]}


def test_a_count_that_leaves_no_image_token_is_refused_naming_it():
    own = torch.randn((2, 1, 8, 4))
    with pytest.raises(RuntimeError, match="has 8 tokens, but the model reports 8 reference-image tokens.*Fix:"):
        keep_own_tokens(torch.zeros_like(own), own, 8)
    kept = keep_own_tokens(torch.zeros_like(own), own, 3)
    assert torch.equal(kept[:, :, 5:], own[:, :, 5:]) and not kept[:, :, :5].any()


# --- Edit Video: what cannot edit is refused ----------------------------------------------------------------------

def test_edit_video_refuses_chroma_which_ignores_its_source():
    from t2vz.motion.reference_edit import check_reference_model

    import comfy.model_management

    model = family("chroma")
    try:
        with pytest.raises(ValueError, match="model: a Chroma model ignores reference images.*Fix: load one"):
            check_reference_model(model)
    finally:
        del model
        comfy.model_management.unload_all_models()


def test_edit_video_refuses_dits_without_references_by_the_name_users_know(models):  # noqa: F811
    from t2vz.motion.reference_edit import check_reference_model

    with pytest.raises(ValueError, match="model: an SD3 / SD3.5 model takes no reference image"):
        check_reference_model(models("sd3"))
    check_reference_model(models("flux-dev"))  # Kontext's architecture: accepted


# --- the anchor cache, reference tokens included -------------------------------------------------------------------

def test_kontext_and_qwen_edit_figures():
    """Flux.1 Kontext at 1024 px keeps frame 0's 4096 image and 4096 reference tokens (and 256 T5 tokens) in 57 layers:
    5.51 GiB per conditioning in bf16, where the cache without references would be 2.84 GiB. Qwen-Image-Edit (60
    blocks of 3072 channels) at cfg > 1 keeps two conditionings."""
    plain = anchor_cache_bytes(FLUX1, 128, 128, [FLUX1_TEXT_TOKENS], 2)
    kontext = anchor_cache_bytes(FLUX1, 128, 128, [FLUX1_TEXT_TOKENS], 2,
                                 reference_tokens=[FLUX1.reference_tokens([(16, 128, 128)])])
    assert FLUX1.reference_tokens([(16, 128, 128)]) == 4096
    assert (round(plain / GIB, 2), round(kontext / GIB, 2)) == (2.84, 5.51)
    qwen = AnchorLayout("QwenImage", 60, 0, 3072, 2, references=True)
    refs = qwen.reference_tokens([(16, 1, 128, 128)])
    assert round(anchor_cache_bytes(qwen, 128, 128, [300, 300], 2, reference_tokens=[refs, refs]) / GIB, 1) == 11.7
    assert AnchorLayout("Chroma", 1, 0, 1, 2).reference_tokens([(16, 8, 8)]) == 0  # takes none


@pytest.mark.parametrize("anchor", ["first", "first+previous"])
def test_edit_video_sizes_its_cache_with_the_reference_tokens(models, cache_peak, anchor):  # noqa: F811
    """Edit Video on the Kontext-like tiny Flux, frame chunks of 2 on 5 frames: the cache at its fullest holds exactly
    the estimate, which counts each frame's 16 reference tokens (8x8 source latent in 2x2 patches) in every layer."""
    from t2vz.attention.chunking import estimate_video_memory
    from t2vz.motion.reference_edit import edit_video_by_reference, with_references
    from t2vz.motion.sampler import conditioning_references, conditioning_tokens, video_model
    from t2vz.motion.video_edit import edit_sigmas
    from tiny_dit import conditioning

    model = with_cross_frame(models("flux-dev"), CrossFrameAttention(anchor=anchor))
    sources = torch.randn((5, 16, 8, 8), generator=torch.Generator().manual_seed(3))
    edit_video_by_reference(model, conditioning("flux-dev", 1), conditioning("flux-dev", 2), sources, 7,
                            edit_sigmas(model, STEPS, "euler", "simple"), frames_per_chunk=2)
    positive = with_references(conditioning("flux-dev", 1), sources)
    references = conditioning_references(model, positive, positive, 1.0)
    assert references == [[(16, 8, 8)]]
    sized = estimate_video_memory(video_model(model, 2), (5, 16, 8, 8), conditioning_tokens(model, positive, positive,
                                                                                             1.0), references).cache
    kept = 2 if anchor == "first+previous" else 1
    assert cache_peak["bytes"] == sized == 2 * kept * 2 * (16 + 16 + 8) * 128 * 4  # 2 layers, 128 channels, fp32


def test_edit_video_refuses_before_sampling_what_cannot_fit(models, monkeypatch):  # noqa: F811
    """Free memory that holds one frame's call but not the cache next to it: refused before any model call, the
    error naming the cache (with the reference tokens) and what fits."""
    from t2vz.motion.reference_edit import edit_video_by_reference
    from t2vz.motion.video_edit import edit_sigmas
    from test_dit_memory import Calls
    from tiny_dit import conditioning

    model = models("flux-dev")
    free_memory(monkeypatch, 2 * (16 + 16 + 8) * 128 * 4 * 2 - 1)  # one byte short of the cache alone
    sources = torch.randn((5, 16, 8, 8))
    # the cache with each frame's 16 reference tokens: 0.08 MiB (without them it would be 0.05 MiB)
    with Calls(model) as calls, pytest.raises(ValueError, match=r"frames_per_chunk = 2 cannot fit.*anchor cache.*"
                                                                r"needs 0\.08 MiB.*Fix:"):
        edit_video_by_reference(model, conditioning("flux-dev", 1), conditioning("flux-dev", 2), sources, 7,
                                edit_sigmas(model, STEPS, "euler", "simple"), frames_per_chunk=2)
    assert calls.count == 0


def test_motion_sampler_counts_kontext_references(models, monkeypatch):  # noqa: F811
    """A Kontext conditioning (ReferenceLatent of one picture) in the Motion Latent Sampler: the memory check is
    handed the reference's shape, so the cache it sizes grows by its tokens."""
    from t2vz.attention import chunking
    from t2vz.motion import sampler
    from tiny_dit import conditioning

    seen = {}

    def spy(model, latent_shape, text_tokens, pixels_per_latent=8, reference_shapes=()):
        seen["references"] = reference_shapes
        raise RuntimeError("stop")

    monkeypatch.setattr(sampler, "check_video_memory", spy)
    positive = with_reference(conditioning("flux-dev", 1), torch.zeros((1, 16, 12, 10)))
    with pytest.raises(RuntimeError, match="stop"):
        sampler.sample_video(models("flux-dev"), positive, conditioning("flux-dev", 2), torch.zeros((3, 16, 8, 8)),
                             0, 4, 1.0, "euler", "simple", frames_per_chunk=2)
    assert seen["references"] == [[(16, 12, 10)]]
    layout = chunking.anchor_layout(with_cross_frame(models("flux-dev"), CrossFrameAttention()))
    assert layout.reference_tokens(seen["references"][0]) == math.ceil(12 / 2) * math.ceil(10 / 2)
