"""Cross-frame attention on diffusion transformers: tiny Flux dev, Flux schnell, SD3 and SD3.5-Medium-style MMDiT-X
loaded through ComfyUI's own loader (comfy.sd.load_diffusion_model, as UNETLoader) and sampled through the
KSampler's path (comfy.sample.sample), with the patch the Cross-Frame Attention node applies."""
from __future__ import annotations

import types

import pytest
import torch

from t2vz.attention import (ANCHOR_FIRST_AND_PREVIOUS, ROUTE_ATTENTION_OVERRIDE, ROUTE_DIT_ATTN1, CrossFrameAttention,
                            UnsupportedModelError, attention_route, find_cross_frame, with_cross_frame,
                            with_frame_chunks)
from tiny_dit import conditioning, flux_refusal, load_tiny_dit, tiny_dit_file

KINDS = ["flux-dev", "flux-schnell", "sd3", "sd35-medium"]
FRAMES, STEPS = 4, 4


def needs(kind):
    if kind.startswith("flux"):
        reason = flux_refusal()
        if reason:
            pytest.skip(reason)


@pytest.fixture(scope="module")
def models():
    cache = {}

    def get(kind):
        needs(kind)
        if kind not in cache:
            cache[kind] = load_tiny_dit(kind)
        return cache[kind]

    return get


def cfg_of(kind):
    return 1.0 if kind == "flux-dev" else 2.0  # dev: distilled guidance, one cond chunk; the others: cond + uncond


def noise(kind="independent", frames=FRAMES, seed=0):
    g = torch.Generator().manual_seed(seed)
    if kind == "shared":
        return torch.randn((1, 16, 8, 8), generator=g).expand(frames, -1, -1, -1).contiguous()
    if kind == "shifted":  # frame 0's noise, rolled by k latent pixels in frame k (a stand-in for motion)
        base = torch.randn((1, 16, 8, 8), generator=g)
        return torch.cat([torch.roll(base, shifts=k, dims=-1) for k in range(frames)])
    return torch.randn((frames, 16, 8, 8), generator=g)


def sample(model, kind, x, callback=None, cfg=None):
    import comfy.sample

    return comfy.sample.sample(model, x, STEPS, cfg_of(kind) if cfg is None else cfg, "euler", "simple",
                               conditioning(kind, 1), conditioning(kind, 2), torch.zeros_like(x),
                               callback=callback, disable_pbar=True, seed=0)


def patched(model, **settings):
    return with_cross_frame(model, CrossFrameAttention(**settings))


def rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("kind", KINDS)
def test_real_loader_detects_the_tiny_model_and_loads_every_weight(models, kind):
    import safetensors.torch

    model = models(kind)
    family = {"flux-dev": "Flux", "flux-schnell": "FluxSchnell", "sd3": "SD3", "sd35-medium": "SD3"}[kind]
    assert type(model.model.model_config).__name__ == family
    saved = safetensors.torch.load_file(str(tiny_dit_file(kind)))
    loaded = model.model.diffusion_model.state_dict()
    assert set(saved) == set(loaded)
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)
    if kind == "sd35-medium":
        assert model.model.diffusion_model.joint_blocks[0].x_block.x_block_self_attn  # MMDiT-X's image-only attention
    expected = ROUTE_DIT_ATTN1 if kind.startswith("flux") else ROUTE_ATTENTION_OVERRIDE
    assert attention_route(model) == expected


@pytest.mark.parametrize("kind", KINDS)
def test_frame_zero_is_plain_sampling_and_other_frames_follow_it(models, kind):
    """The old Flux crash (unexpected keyword 'pe') is gone and SD3 is no longer a no-op: with per-frame noise, frame
    0 is exactly plain sampling's frame 0 (it attends to itself) and every other frame differs from plain."""
    model = models(kind)
    x = noise("independent")
    plain = sample(model, kind, x)
    cross = sample(patched(model), kind, x)
    assert torch.isfinite(cross).all()
    assert rel(cross[0], plain[0]) < 1e-6
    for k in range(1, FRAMES):
        assert rel(cross[k], plain[k]) > 1e-2, f"frame {k} equals plain sampling: the patch did nothing"


@pytest.mark.parametrize("kind", KINDS)
def test_shared_noise(models, kind):
    """Same starting noise for every frame: every frame's keys and values are already frame 0's, so the patch
    changes nothing (all frames = plain's, the same image); rolled copies of frame 0's noise (a stand-in for motion):
    frame 0 is plain's, the other frames differ from plain's. (Whether they also look more like frame 0 is a
    property of trained weights, not of random tiny ones: not asserted.)"""
    model = models(kind)
    same = noise("shared")
    plain, cross = sample(model, kind, same), sample(patched(model), kind, same)
    assert rel(cross, plain) < 1e-6
    shifted = noise("shifted")
    plain, cross = sample(model, kind, shifted), sample(patched(model), kind, shifted)
    assert rel(cross[0], plain[0]) < 1e-6
    for k in range(1, FRAMES):
        assert rel(cross[k], plain[k]) > 1e-2


@pytest.mark.parametrize("kind", KINDS)
def test_strength_zero_is_plain_sampling_exactly(models, kind):
    model = models(kind)
    x = noise()
    assert torch.equal(sample(patched(model, strength=0.0), kind, x), sample(model, kind, x))


@pytest.mark.parametrize("kind", ["flux-dev", "sd3"])
def test_strength_blends_between_plain_and_full(models, kind):
    model = models(kind)
    x = noise()
    plain, full, half = (sample(m, kind, x) for m in (model, patched(model), patched(model, strength=0.5)))
    assert rel(half[0], plain[0]) < 1e-6
    for k in range(1, FRAMES):
        assert rel(half[k], plain[k]) > 1e-3 and rel(half[k], full[k]) > 1e-3


@pytest.mark.parametrize("kind", ["flux-schnell", "sd3"])
def test_start_end_range_changes_only_steps_inside_it(models, kind):
    """From start_percent 0.5: the steps before it are plain sampling's, bit for bit, the later ones are not; and
    the patch swaps keys and values exactly at the sigmas inside [sigma_end, sigma_start]."""
    import comfy.samplers

    from t2vz.attention import percent_sigmas

    model = models(kind)
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "simple", STEPS)
    sigma_start, sigma_end = percent_sigmas(model, 0.5, 1.0)
    inside = [float(s) <= sigma_start for s in sigmas[:-1]]
    assert any(inside) and not all(inside)

    def steps(m):
        out = []
        sample(m, kind, noise(), callback=lambda i, x0, x, total: out.append(x0.clone()))
        return out

    plain = steps(model)
    patch = CrossFrameAttention(sigma_start=sigma_start, sigma_end=sigma_end)
    swapped_at = []
    original = patch.cross_frame_states

    def spy(context, value, options, layer, **layout):
        result = original(context, value, options, layer, **layout)
        swapped_at.append((float(options["sigmas"].max()), result is not None))
        return result

    patch.cross_frame_states = spy
    late = steps(with_cross_frame(model, patch))
    first_inside = inside.index(True)
    for i in range(first_inside):  # step i's denoised depends only on the model calls at sigmas[:i + 1]
        assert torch.equal(late[i], plain[i]), f"step {i} (before the range) changed"
    for i in range(first_inside, STEPS):
        assert rel(late[i], plain[i]) > 1e-3, f"step {i} (inside the range) did not change"
    assert swapped_at
    for sigma, swapped in swapped_at:
        assert swapped == (sigma_end <= sigma <= sigma_start + 1e-5 * max(1.0, sigma)), sigma

    # an end_percent: the last steps' model calls are left alone
    sigma_start, sigma_end = percent_sigmas(model, 0.0, 0.5)
    patch = CrossFrameAttention(sigma_start=sigma_start, sigma_end=sigma_end)
    swapped_at.clear()
    original = patch.cross_frame_states
    patch.cross_frame_states = spy
    steps(with_cross_frame(model, patch))
    assert {s for s, _ in swapped_at} == {float(s) for s in sigmas[:-1]}
    for sigma, swapped in swapped_at:
        assert swapped == (sigma >= sigma_end - 1e-5 * max(1.0, sigma)), sigma
    assert any(swapped for _, swapped in swapped_at) and not all(swapped for _, swapped in swapped_at)


@pytest.mark.parametrize("kind", KINDS)
def test_frame_chunks_equal_one_call(models, kind):
    """Frame chunks of 2 out of 5 frames: later chunks read frame 0's keys and values from the anchor cache (keyed
    by block on Flux, by the call's attention count on MMDiT), giving one call's result."""
    model = patched(models(kind))
    x = noise(frames=5)
    whole = sample(model, kind, x)
    chunked = sample(with_frame_chunks(model, 2), kind, x)
    assert rel(chunked, whole) < 1e-5


def test_flux_override_route_equals_attn1_route(models):
    """Where the Flux blocks call no attn1 patch (ComfyUI 0.3.75), the override route reaches the same attention
    after RoPE: the same frames, since all frames share token positions."""
    model = models("flux-schnell")
    x = noise()
    attn1 = sample(patched(model), "flux-schnell", x)
    override = sample(with_cross_frame(model, CrossFrameAttention(), route=ROUTE_ATTENTION_OVERRIDE), "flux-schnell", x)
    assert rel(override, attn1) < 1e-5
    assert rel(override[1], sample(model, "flux-schnell", x)[1]) > 1e-2


class OverrideSpy:
    """An optimized_attention_override set by some other node: records the keys of every self-attention call."""

    def __init__(self):
        self.keys = []

    def __deepcopy__(self, memo):  # ComfyUI 0.3.75's clone deep-copies model_options: stay one spy
        return self

    def __call__(self, func, q, k, v, *args, **kwargs):
        if q.shape[1] == k.shape[1]:
            self.keys.append(k)
        return func(q, k, v, *args, **kwargs)


@pytest.mark.parametrize("kind", ["sd3", "sd35-medium"])
def test_an_earlier_attention_override_is_chained(models, kind):
    """SD3: an override already in the slot still runs, and sees the cross-frame keys (frame 0's in every frame);
    MMDiT-X's image-only attention is swapped too (three self-attention calls per model call, not two)."""
    model = models(kind).clone()
    spy = OverrideSpy()
    model.model_options["transformer_options"]["optimized_attention_override"] = spy
    x = noise()
    plain = sample(model, kind, x)
    plain_calls = len(spy.keys)
    spy.keys.clear()
    cross = sample(patched(model), kind, x)
    assert len(spy.keys) == plain_calls > 0
    model_calls = STEPS  # one batched cond + uncond call per step
    per_call = {"sd3": 2, "sd35-medium": 3}[kind]
    assert plain_calls == model_calls * per_call
    chunks = 2
    for k in spy.keys:
        rows = k.reshape(chunks, FRAMES, *k.shape[1:])
        for f in range(1, FRAMES):
            assert torch.equal(rows[:, f], rows[:, 0])
    assert rel(cross[1], plain[1]) > 1e-2
    # re-patching replaces our override and keeps the spy under it
    again = patched(patched(model, strength=0.5))
    chained = again.model_options["transformer_options"]["optimized_attention_override"]
    assert chained.previous is spy and chained.patch is find_cross_frame(again.model_options)
    assert chained.patch.strength == 1.0


def test_another_attn1_patch_on_flux_still_runs(models):
    """Flux: other DiT attn1 patches, before and after ours, keep running in order; the one after ours sees frame
    0's keys."""
    seen = []

    def before(q, k, v, pe=None, attn_mask=None, extra_options=None):
        seen.append(("before", k))
        return {}

    def after(q, k, v, pe=None, attn_mask=None, extra_options=None):
        seen.append(("after", k))
        return {}

    model = models("flux-dev").clone()
    model.set_model_attn1_patch(before)
    model = patched(model)
    model.set_model_attn1_patch(after)
    sample(model, "flux-dev", noise())
    names = [n for n, _ in seen]
    assert names == ["before", "after"] * (len(names) // 2) and len(names) == STEPS * 2 * 2  # 2 blocks, 4 steps
    for name, k in seen:
        same = all(torch.equal(k[f], k[0]) for f in range(1, FRAMES))
        assert same == (name == "after"), name


def test_node_patches_flux_and_sd3_and_keeps_the_original(models):
    from t2vz.nodes.attention_patch import CrossFrameAttentionPatch

    for kind in ("flux-dev", "sd3"):
        model = models(kind)
        out = CrossFrameAttentionPatch.execute(model, "first", 1.0, 0.0, 1.0)
        patched_model = out.result[0] if hasattr(out, "result") else out[0]
        assert find_cross_frame(patched_model.model_options) is not None
        assert find_cross_frame(model.model_options) is None
        assert "optimized_attention_override" not in model.model_options.get("transformer_options", {})
        x = noise()
        assert rel(sample(patched_model, kind, x)[2], sample(model, kind, x)[2]) > 1e-2


def test_a_patch_that_never_runs_stops_the_run(models):
    """A later node that replaces the attention override (ComfyUI's set_model_optimized_attention does not chain)
    would leave SD3 sampling plain frames: the run stops at its first model call with the cause instead."""
    import comfy.ldm.modules.attention as attention

    model = patched(models("sd3"))
    if hasattr(model, "set_model_optimized_attention"):  # ComfyUI 0.33
        model.set_model_optimized_attention(attention.optimized_attention)
    else:  # 0.3.75 has no setter: what a node that sets the slot does
        model.model_options["transformer_options"]["optimized_attention_override"] = \
            lambda func, *args, **kwargs: func(*args, **kwargs)
    with pytest.raises(RuntimeError, match="never reached it.*Cross-Frame Attention last"):
        sample(model, "sd3", noise())


@pytest.mark.parametrize("kind", KINDS)
def test_first_and_previous_on_dits(models, kind):
    """Sparse-causal anchor on DiTs: frame 0 is plain sampling's, the others differ from plain and from 'first';
    frame chunks equal one call (the previous frame crosses chunk edges through the cache); on Flux the attn1 route
    (which rotates the doubled keys itself) equals the override route (which sees them rotated)."""
    model = models(kind)
    x = noise(frames=5)
    plain = sample(model, kind, x)
    sparse = patched(model, anchor=ANCHOR_FIRST_AND_PREVIOUS)
    video = sample(sparse, kind, x)
    first = sample(patched(model), kind, x)
    assert rel(video[0], plain[0]) < 1e-6
    assert rel(video[1], first[1]) < 1e-5  # frame 1's predecessor is frame 0: the same keys twice, the same softmax
    for k in range(2, 5):
        assert rel(video[k], plain[k]) > 1e-2 and rel(video[k], first[k]) > 1e-3
    assert rel(sample(with_frame_chunks(sparse, 2), kind, x), video) < 1e-5
    if kind.startswith("flux"):
        override = with_cross_frame(model, CrossFrameAttention(anchor=ANCHOR_FIRST_AND_PREVIOUS),
                                    route=ROUTE_ATTENTION_OVERRIDE)
        assert rel(sample(override, kind, x), video) < 1e-5


def test_first_and_previous_is_refused_on_qwen_image_with_the_fix():
    """Qwen-Image rotates keys after the attn1 patch, one position per query: no room for the previous frame's."""
    qwen = pytest.importorskip("comfy.ldm.qwen_image.model")

    base = type("QwenImage", (), {})()
    base.diffusion_model = qwen.QwenImageTransformer2DModel.__new__(qwen.QwenImageTransformer2DModel)
    model = types.SimpleNamespace(model=base, clone=lambda: pytest.fail("cloned before refusing"))
    if attention_route(model) != ROUTE_DIT_ATTN1:
        pytest.skip("this ComfyUI's Qwen-Image calls no attn1 patch (the override route takes first+previous)")
    with pytest.raises(ValueError, match="not supported on QwenImage.*RoPE.*Fix: set the anchor input to 'first'"):
        patched(model, anchor=ANCHOR_FIRST_AND_PREVIOUS)


@pytest.mark.parametrize("family", ["AuraFlow", "ZImagePixelSpace", "WAN21", "StableCascade_C"])
def test_unreachable_families_are_refused_at_patch_time_by_name(family):
    from t2vz.nodes.attention_patch import CrossFrameAttentionPatch

    base = type(family, (), {})()
    base.diffusion_model = torch.nn.Linear(2, 2)
    sampling = types.SimpleNamespace(percent_to_sigma=lambda p: 1.0 - p)
    model = types.SimpleNamespace(model=base, get_model_object=lambda name: sampling,
                                  clone=lambda: pytest.fail("cloned an unsupported model"))
    with pytest.raises(UnsupportedModelError, match=f"cannot patch a {family} model.*supports SD1.x.*SD3.*Fix:"):
        CrossFrameAttentionPatch.execute(model, "first", 1.0, 0.0, 1.0)


def test_unet_models_keep_the_attn1_route(tiny):
    from t2vz.attention import ROUTE_UNET

    assert attention_route(tiny) == ROUTE_UNET
    model = patched(tiny, anchor=ANCHOR_FIRST_AND_PREVIOUS)
    options = model.model_options["transformer_options"]
    assert "optimized_attention_override" not in options
    assert not options.get("wrappers", {}).get("apply_model", {}).get("t2v-zero.cross-frame-reached")


def text_per_frame(kind):
    """The conditioning's text tokens and pooled vector, one row per frame (one conditioning chunk)."""
    embedding, extra = conditioning(kind, 1)[0]
    return embedding.expand(FRAMES, -1, -1), extra["pooled_output"].expand(FRAMES, -1)


def diffusers_flux_run(reference, x, text, pooled, t, guidance, processor=None):
    """diffusers' Flux transformer's prediction for ComfyUI-layout latents ``x`` (with ``processor`` set, if any)."""
    from tiny_dit import flux_ids, pack, unpack

    if processor is not None:
        reference.set_attn_processor(processor)
    img_ids, txt_ids = flux_ids(8, 8, text.shape[1])
    with torch.no_grad():
        out = reference(hidden_states=pack(x), encoder_hidden_states=text, pooled_projections=pooled, timestep=t,
                        img_ids=img_ids, txt_ids=txt_ids, guidance=guidance, return_dict=False)[0]
    return unpack(out, 16, 8, 8)


@pytest.mark.parametrize("anchor", ["first", ANCHOR_FIRST_AND_PREVIOUS])
@pytest.mark.parametrize("kind", ["flux-dev", "flux-schnell"])
def test_flux_parity_with_diffusers_frame_zero_processor(models, kind, anchor):
    """An independent implementation: diffusers' FluxTransformer2DModel on the same weights with a processor that
    gives every frame frame 0's keys and values. ComfyUI's Flux with our patch predicts the same velocity for every
    frame (plain ComfyUI Flux equals plain diffusers too, so the comparison is about the attention)."""
    pytest.importorskip("diffusers")
    from tiny_dit import FrameZeroFluxProcessor, diffusers_flux

    model = models(kind)
    reference = diffusers_flux(model)
    x = noise()
    text, pooled = text_per_frame(kind)
    guidance = torch.full((FRAMES,), 3.5) if kind == "flux-dev" else None
    t = torch.full((FRAMES,), 0.7)

    def ours(patches):
        options = {"patches": {"attn1_patch": patches}, "cond_or_uncond": [0]}
        extra = {"guidance": guidance} if guidance is not None else {}
        with torch.no_grad():
            return model.model.diffusion_model(x, t, context=text, y=pooled, transformer_options=options, **extra)

    def theirs(processor=None):
        return diffusers_flux_run(reference, x, text, pooled, t, guidance, processor)

    plain = theirs()
    assert rel(ours([]), plain) < 1e-5
    expected = theirs(FrameZeroFluxProcessor(previous=anchor != "first"))
    got = ours([CrossFrameAttention(anchor=anchor)])
    assert rel(got, expected) < 1e-5
    assert rel(got[1], plain[1]) > 1e-2
    print(f"{kind} {anchor}: plain {rel(ours([]), plain):.1e}, cross-frame {rel(got, expected):.1e} (relative)")


@pytest.mark.parametrize("anchor", ["first", ANCHOR_FIRST_AND_PREVIOUS])
def test_flux_parity_with_several_heads_blocks_and_two_conditioning_chunks(models, anchor):
    """The Flux parity at cfg > 1 on a wider tiny Flux ("flux-dev-wide": 2 heads, 2 double and 2 single blocks,
    through the real loader): one call holds two conditioning chunks (uncond then cond, each with its own text,
    pooled vector and noise) and the patch takes the attn1 route with_cross_frame gives Flux. diffusers'
    FluxTransformer2DModel, with a processor that anchors each chunk's frames on that chunk's frame 0, predicts the
    same velocity for every row."""
    pytest.importorskip("diffusers")
    import safetensors.torch

    from tiny_dit import FLUX_WIDE, FrameZeroFluxProcessor, diffusers_flux

    kind, chunks = "flux-dev-wide", 2
    model = models(kind)
    config = model.model.model_config.unet_config
    assert type(model.model.model_config).__name__ == "Flux"
    assert {k: config[k] for k in FLUX_WIDE} == FLUX_WIDE  # what detection read from the file's weights
    saved = safetensors.torch.load_file(str(tiny_dit_file(kind)))
    loaded = model.model.diffusion_model.state_dict()
    assert set(saved) == set(loaded) and all(torch.equal(saved[k], loaded[k]) for k in saved)
    assert attention_route(model) == ROUTE_DIT_ATTN1
    cross = patched(model, anchor=anchor)
    options = {**cross.model_options["transformer_options"], "cond_or_uncond": [1, 0]}
    assert find_cross_frame(cross.model_options) in options["patches"]["attn1_patch"]
    assert "optimized_attention_override" not in options  # the attn1 route, not the override route

    reference = diffusers_flux(model)
    assert reference.config.num_attention_heads == 2 and len(reference.transformer_blocks) == 2
    assert len(reference.single_transformer_blocks) == 2
    texts = [conditioning(kind, seed)[0] for seed in (2, 1)]  # chunk 0: uncond, chunk 1: cond
    text = torch.cat([embedding.expand(FRAMES, -1, -1) for embedding, _ in texts])
    pooled = torch.cat([extra["pooled_output"].expand(FRAMES, -1) for _, extra in texts])
    x = torch.cat([noise(seed=0), noise(seed=5)])
    batch = chunks * FRAMES
    guidance = torch.full((batch,), 3.5)
    t = torch.full((batch,), 0.7)

    def ours(transformer_options):
        with torch.no_grad():
            return model.model.diffusion_model(x, t, context=text, y=pooled, guidance=guidance,
                                               transformer_options=transformer_options)

    def theirs(processor=None):
        return diffusers_flux_run(reference, x, text, pooled, t, guidance, processor)

    plain = theirs()
    plain_error = rel(ours({"cond_or_uncond": [1, 0]}), plain)
    previous = anchor != "first"
    expected = theirs(FrameZeroFluxProcessor(previous=previous, chunks=chunks))
    got = ours(options)
    error = rel(got, expected)
    print(f"{kind} {anchor} cfg chunks {chunks}: plain {plain_error:.1e}, cross-frame {error:.1e} (relative)")
    assert plain_error < 1e-5
    assert error < 1e-5
    for c in range(chunks):  # the patch changes every chunk's frames...
        assert rel(got[c * FRAMES + 1], plain[c * FRAMES + 1]) > 1e-2
    # ...and which frame 0 the second chunk reads shows: anchoring the whole batch on chunk 0's frame 0 differs
    one_anchor = theirs(FrameZeroFluxProcessor(previous=previous))
    assert rel(expected[FRAMES:], one_anchor[FRAMES:]) > 1e-2


@pytest.mark.parametrize("anchor", ["first", ANCHOR_FIRST_AND_PREVIOUS])
@pytest.mark.parametrize("kind", ["sd3", "sd35-medium"])
def test_sd3_parity_with_diffusers_frame_zero_processor(models, kind, anchor):
    """The same on SD3: diffusers' SD3Transformer2DModel (MMDiT-X's dual attention too) with a frame-0 K/V processor
    equals ComfyUI's MMDiT with our chained attention override."""
    pytest.importorskip("diffusers")
    from tiny_dit import FrameZeroJointProcessor, diffusers_sd3

    model = models(kind)
    reference = diffusers_sd3(model)
    x = noise()
    text, pooled = text_per_frame(kind)
    t = torch.full((FRAMES,), 700.0)
    cross = patched(model, anchor=anchor)

    def ours(m):
        options = {**m.model_options["transformer_options"], "cond_or_uncond": [0]}
        with torch.no_grad():
            return model.model.diffusion_model(x, t, context=text, y=pooled, transformer_options=options)

    def theirs(processor=None):
        if processor is not None:
            reference.set_attn_processor(processor)
        with torch.no_grad():
            return reference(hidden_states=x, encoder_hidden_states=text, pooled_projections=pooled, timestep=t,
                             return_dict=False)[0]

    plain = theirs()
    expected = theirs(FrameZeroJointProcessor(previous=anchor != "first"))
    got = ours(cross)
    print(f"{kind} {anchor}: plain {rel(ours(model), plain):.1e}, cross-frame {rel(got, expected):.1e} (relative)")
    assert rel(ours(model), plain) < 1e-5
    assert rel(got, expected) < 1e-5
    assert rel(got[1], plain[1]) > 1e-2


def test_override_leaves_cross_attention_and_other_layouts_alone():
    """The override's own call logic with stand-in tensors: cross-attention (other token count) passes untouched to
    the chained override; self-attention in each layout gets frame 0's keys and values; the layer count advances
    per self-attention call of a model call."""
    from t2vz.attention import CrossFrameOverride

    calls = []

    def previous(func, q, k, v, *args, **kwargs):
        calls.append((k, v))
        return func(q, k, v, *args, **kwargs)

    def kernel(q, k, v, *args, **kwargs):
        return q

    override = CrossFrameOverride(CrossFrameAttention(), previous)
    options = {"cond_or_uncond": [1, 0]}
    g = torch.Generator().manual_seed(0)
    q = torch.randn(6, 5, 8, generator=g)
    text = torch.randn(6, 7, 8, generator=g)
    override(kernel, q, text, text, heads=2, transformer_options=options)
    assert calls[-1][0] is text and "t2vz_attention_calls" not in options  # cross-attention: untouched
    for layout, extra in (((6, 5, 8), {}), ((6, 2, 5, 4), {"skip_reshape": True})):
        k, v = torch.randn(layout, generator=g), torch.randn(layout, generator=g)
        override(kernel, torch.randn(layout, generator=g), k, v, heads=2, transformer_options=options, **extra)
        new_k, new_v = calls[-1]
        for row in range(6):
            anchor = row - row % 3  # frame 0 of the row's conditioning chunk
            assert torch.equal(new_k[row], k[anchor]) and torch.equal(new_v[row], v[anchor])
    assert options["t2vz_attention_calls"] == 2


def comfy_nodes():
    """ComfyUI's nodes.py (``import nodes`` from the repository root finds this pack's nodes/ folder first)."""
    import importlib.util
    import sys
    from pathlib import Path

    import comfy.sd

    path = Path(comfy.sd.__file__).resolve().parents[1] / "nodes.py"
    loaded = sys.modules.get("nodes")
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() == path:
        return loaded
    spec = importlib.util.spec_from_file_location("comfyui_nodes_for_tests", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kind", ["flux-dev", "sd3"])
def test_unet_loader_node_patch_node_ksampler_node(kind):
    """The graph users build, node by node in-process: Load Diffusion Model (UNETLoader) -> Cross-Frame Attention ->
    KSampler (seeded per-frame noise). Before this, Flux failed mid-sampling (unexpected keyword 'pe') and SD3
    gave plain sampling's frames bit for bit."""
    needs(kind)
    import folder_paths

    from t2vz.nodes.attention_patch import CrossFrameAttentionPatch

    nodes = comfy_nodes()

    path = tiny_dit_file(kind)
    folder_paths.add_model_folder_path("diffusion_models", str(path.parent))
    model = nodes.UNETLoader().load_unet(path.name, "default")[0]
    out = CrossFrameAttentionPatch.execute(model, "first", 1.0, 0.0, 1.0)
    patched_model = out.result[0] if hasattr(out, "result") else out[0]
    latent = {"samples": torch.zeros((FRAMES, 16, 8, 8))}

    def ksampler(m):
        return nodes.KSampler().sample(m, 7, STEPS, cfg_of(kind), "euler", "simple", conditioning(kind, 1),
                                       conditioning(kind, 2), latent)[0]["samples"]

    plain, cross = ksampler(model), ksampler(patched_model)
    assert torch.isfinite(cross).all()
    assert rel(cross[0], plain[0]) < 1e-6
    for k in range(1, FRAMES):
        assert rel(cross[k], plain[k]) > 1e-2
