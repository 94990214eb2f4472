"""Bounded memory on the DiTs, refused in advance: the anchor cache that frame chunks keep (frame 0's keys and values
in every attention layer, per conditioning) is sized exactly before sampling, a frame chunk that cannot fit next to
it is refused before any step with an error saying what fits, anything that may fit runs, UNets are left alone, and
the cache is let go when sampling ends. Free memory is injected (comfy.model_management.get_free_memory); tiny Flux
and SD3 models through ComfyUI's own loader. Also: t0/t1 outside the schedule on few-step flow schedules."""
from __future__ import annotations

import logging

import pytest
import torch

from t2vz.attention import AnchorCache, CrossFrameAttention, find_cross_frame, with_cross_frame, with_frame_chunks
from t2vz.attention.chunking import GIB, check_video_memory, estimate_video_memory
from t2vz.attention.families import FLUX1, AnchorLayout, anchor_cache_bytes, anchor_layout
from t2vz.motion.parts import video_part
from t2vz.motion.sampler import conditioning_tokens, video_model
from checks import assert_close_rel
from test_dit_attention import cfg_of, models  # noqa: F401  (the module-scoped loader fixture)
from test_dit_video import video
from tiny_dit import conditioning

FRAMES = 5
SHAPE = (FRAMES, 16, 8, 8)


@pytest.fixture
def cache_peak(monkeypatch):
    """The most bytes an anchor cache held during the test, read at every store (ComfyUI's cleanup empties the cache
    when a run ends)."""
    peak = {"bytes": 0, "puts": 0}
    put = AnchorCache.put

    def measured(cache, *args, **kwargs):
        put(cache, *args, **kwargs)
        peak["bytes"] = max(peak["bytes"], cache.nbytes())
        peak["puts"] += 1

    monkeypatch.setattr(AnchorCache, "put", measured)
    return peak


def free_memory(monkeypatch, free: int):
    """The model's device reports ``free`` bytes free to the check before sampling (ComfyUI's attention kernels,
    which ask for the torch share too, keep the real figure: on this CPU they would otherwise split needlessly)."""
    import comfy.model_management

    real = comfy.model_management.get_free_memory

    def injected(dev=None, torch_free_too=False):
        return real(dev, torch_free_too) if torch_free_too else free

    monkeypatch.setattr(comfy.model_management, "get_free_memory", injected)


def tokens(model, kind):
    return conditioning_tokens(model, conditioning(kind, 1), conditioning(kind, 2), cfg_of(kind))


def estimate(model, kind, chunk, anchor="first"):
    patched = with_cross_frame(model, CrossFrameAttention(anchor=anchor))
    return estimate_video_memory(video_model(patched, chunk), SHAPE, tokens(model, kind))


class Calls:
    """Forward calls of the diffusion model while in the ``with`` block."""

    def __init__(self, model):
        self.network, self.count = model.model.diffusion_model, 0

    def __enter__(self):
        self.handle = self.network.register_forward_pre_hook(lambda *_: setattr(self, "count", self.count + 1))
        return self

    def __exit__(self, *exc):
        self.handle.remove()


# --- the size ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("anchor", ["first", "first+previous"])
@pytest.mark.parametrize("kind", ["flux-dev", "flux-schnell", "sd3", "sd35-medium"])
def test_the_anchor_cache_is_sized_exactly(models, kind, anchor, cache_peak):
    """Frame chunks of 2 on 5 frames through the Motion Latent Sampler: the cache at its fullest holds exactly what
    the estimate says (Flux dev: cfg 1, one conditioning; the others two; first+previous keeps a second frame)."""
    from t2vz.nodes.motion_sampler import MotionLatentSampler

    model = with_cross_frame(models(kind), CrossFrameAttention(anchor=anchor))
    latent = {"samples": torch.zeros(SHAPE)}
    MotionLatentSampler.execute(model, conditioning(kind, 1), conditioning(kind, 2), latent, 7, 4, cfg_of(kind),
                                "euler", "simple", "motion", 24.0, 0.0, 1.0, 0.0, 44, 47, 2)
    sized = estimate(models(kind), kind, 2, anchor).cache
    layout = anchor_layout(model)
    conds = 1 if kind == "flux-dev" else 2
    # by hand: 8x8 latent / 2x2 patches = 16 image tokens, 8 text tokens, 128 channels, fp32, K and V
    joint = {"flux-dev": 2, "flux-schnell": 2, "sd3": 2, "sd35-medium": 2}[kind]
    image_only = 1 if kind == "sd35-medium" else 0
    by_hand = (2 * (2 if anchor == "first+previous" else 1) * conds * (joint * (16 + 8) + image_only * 16) * 128 * 4)
    assert (layout.joint_layers, layout.image_layers, layout.channels) == (joint, image_only, 128)
    assert cache_peak["bytes"] == sized == by_hand


def test_flux1_figures():
    """Flux.1 (57 blocks of 3072 channels, 512 T5 tokens) in bf16, one conditioning: docs/performance.md's 1.00 GiB
    at 512 px and 3.01 GiB at 1024 px; a negative prompt doubles it, non-square latents count whole patches."""
    assert anchor_cache_bytes(FLUX1, 64, 64, [512], 2) == 2 * 57 * (32 * 32 + 512) * 3072 * 2
    assert round(anchor_cache_bytes(FLUX1, 128, 128, [512], 2) / GIB, 2) == 3.01
    assert anchor_cache_bytes(FLUX1, 128, 128, [512, 512], 2) == 2 * anchor_cache_bytes(FLUX1, 128, 128, [512], 2)
    layout = AnchorLayout("x", 1, 1, 1, 2, extra_tokens=3)
    assert anchor_cache_bytes(layout, 5, 7, [4], 1) == 2 * ((3 * 4 + 3 + 4) + 3 * 4)


def test_parts_keep_no_anchor_cache(models, cache_peak):
    """A part's calls hold frame 0 with all of their rows: nothing is cached (frame chunks within a part still
    cache)."""
    kind = "sd3"
    video(models(kind), kind, frames=7, part=1, parts=3)
    assert cache_peak["puts"] == 0
    video(models(kind), kind, frames=7, part=1, parts=3, chunk=2)
    assert cache_peak["puts"] > 0
    part = video_part(7, 1, 3)
    assert estimate_video_memory(video_model(with_cross_frame(models(kind), CrossFrameAttention()), 0),
                                 (len(part.rows), 16, 8, 8), [8, 8]).cache == 0


def test_the_cache_is_let_go_when_sampling_ends(models, cache_peak):
    """Cross-Frame Attention + frame chunks through the KSampler path: the cache fills during the run and is empty
    after it (the node's output model stays cached between prompts; the cache must not stay on the device)."""
    import comfy.sample

    kind = "sd3"
    model = with_frame_chunks(with_cross_frame(models(kind), CrossFrameAttention()), 2)
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(0))
    comfy.sample.sample(model, x, 3, 2.0, "euler", "simple", conditioning(kind, 1), conditioning(kind, 2),
                        torch.zeros_like(x), disable_pbar=True, seed=0)
    assert cache_peak["bytes"] > 0
    assert find_cross_frame(model.model_options).cache.nbytes() == 0


# --- the check ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["flux-schnell", "sd3"])
def test_a_chunk_that_cannot_fit_is_refused_before_any_step(models, kind, monkeypatch):
    """One byte short of the cache plus a one-frame call: refused before the first model call, naming
    frames_per_chunk, the sizes, and what to do."""
    need = estimate(models(kind), kind, 2)
    free_memory(monkeypatch, need.cache + need.one_frame - 1)
    with Calls(models(kind)) as calls, pytest.raises(ValueError) as err:
        video(models(kind), kind, chunk=2)
    message = str(err.value)
    assert calls.count == 0
    assert message.startswith("frames_per_chunk = 2 cannot fit: on ")
    assert "the anchor cache" in message and " MiB are free on cpu" in message and "Fix: " in message
    assert "2 conditioning(s)" in message and "use cfg 1" in message


@pytest.mark.parametrize("kind", ["flux-schnell", "sd3"])
def test_what_fits_runs(models, kind, monkeypatch, caplog):
    """Exactly the cache plus a one-frame call: one frame per call runs and gives the video made in one call; a
    larger chunk over the estimate runs too (the estimate is ComfyUI's, generous), with a warning naming the
    frames_per_chunk that fits."""
    need = estimate(models(kind), kind, 1)
    whole = video(models(kind), kind)
    free_memory(monkeypatch, need.cache + need.one_frame)
    assert_close_rel(video(models(kind), kind, chunk=1), whole)
    with caplog.at_level(logging.WARNING, logger="t2v-zero"):
        assert_close_rel(video(models(kind), kind, chunk=3), whole)
    assert "set frames_per_chunk to 1 (the most that fit the estimate)" in caplog.text


def test_the_error_says_what_fits(models, monkeypatch):
    """With a working memory small next to the cache (a short video at a high resolution), the fixes are: all frames
    in one pass (frames_per_chunk 0: no cache) and the largest resolution where a one-frame chunk fits."""
    kind = "flux-schnell"
    model = models(kind)
    monkeypatch.setattr(model.model, "memory_required", lambda shape, cond_shapes={}: 100 * shape[0])
    need = estimate(model, kind, 2)
    assert need.whole == 100 * FRAMES * 2
    free_memory(monkeypatch, need.cache - 1)  # under the cache alone, over all 5 frames' working memory
    with pytest.raises(ValueError) as err:
        video(model, kind, chunk=2)
    message = str(err.value)
    assert "at 64x64 px" in message
    assert "Fix: set frames_per_chunk to 0 (all 5 frames in one pass: no anchor cache" in message
    h, w = need.smaller_size if need.smaller_size else (0, 0)
    assert need.smaller_size is None or f"lower the resolution to {w * 8}x{h * 8} px or less" in message


def test_unets_are_not_checked_and_stay_bit_identical(tiny, monkeypatch):
    """A UNet's cache is frame 0's hidden states (tens of MB): no estimate, no refusal even when the device reports
    no free memory, and the very video the sampler makes without the check (ComfyUI's own loading reads the free
    memory too, so both runs see the same figure)."""
    import t2vz.motion.sampler as sampler
    from test_motion import video as unet_video

    patched = with_cross_frame(tiny, CrossFrameAttention())
    assert anchor_layout(patched) is None
    assert check_video_memory(video_model(patched, 2), (4, 4, 8, 8), [77, 77]) is None
    free_memory(monkeypatch, 0)
    checked = unet_video(tiny, frames_per_chunk=2)
    monkeypatch.setattr(sampler, "check_video_memory", lambda *args, **kwargs: None)
    assert torch.equal(checked, unet_video(tiny, frames_per_chunk=2))


def test_a_device_that_holds_loaded_models_counts_them_as_free(monkeypatch):
    """On an accelerator, weights that loaded models hold can be offloaded by ComfyUI: they count as free, so a model
    kept loaded from the last prompt never makes the check refuse its own run."""
    import comfy.model_management as mm

    from t2vz.attention.chunking import offloadable_free_memory

    class Loaded:
        def __init__(self, device, size):
            self.device, self.size = device, size

        def model_loaded_memory(self):
            return self.size

    cuda = torch.device("cuda", 0)
    free_memory(monkeypatch, 1000)
    monkeypatch.setattr(mm, "current_loaded_models", [Loaded(cuda, 5000), Loaded(torch.device("cpu"), 7)])
    assert offloadable_free_memory(cuda) == 6000
    assert offloadable_free_memory(torch.device("cpu")) == 1000


# --- t0 / t1 outside the schedule, few steps -------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["flux-schnell", "sd3"])
@pytest.mark.parametrize("t0,t1,steps,needle", [
    (44, 50, 4, r"t1=50 lies beyond the schedule.*Fix: set t1 <= 49"),
    (47, 47, 4, r"t0 must be smaller than t1 \(got t0=47, t1=47\).*Fix: lower t0 or raise t1"),
    (44, 47, 2, r"steps=2: motion mode on this model needs at least 3 steps.*Fix: set steps to 3 or more"),
])
def test_t0_t1_outside_a_few_step_schedule_name_the_input_and_the_fix(models, kind, t0, t1, steps, needle):
    """Flux schnell's 4 steps (and SD3 at 4): t0/t1 beyond the reference's 50-step range or out of order, and a
    schedule too short for motion mode on a flow model, are refused before sampling in words; any t0 < t1 <= 49
    lands on a step of the schedule (the nearest in signal-to-noise)."""
    from t2vz.nodes.motion_sampler import MotionLatentSampler

    latent = {"samples": torch.zeros((3, 16, 8, 8))}
    with Calls(models(kind)) as calls, pytest.raises(ValueError, match=needle):
        MotionLatentSampler.execute(models(kind), conditioning(kind, 1), conditioning(kind, 2), latent, 7, steps,
                                    cfg_of(kind), "euler", "simple", "motion", 24.0, 0.0, 1.0, 0.0, t0, t1, 0)
    assert calls.count == 0
    out = MotionLatentSampler.execute(models(kind), conditioning(kind, 1), conditioning(kind, 2), latent, 7, 4,
                                      cfg_of(kind), "euler", "simple", "motion", 24.0, 0.0, 1.0, 0.0, 0, 1, 0)
    assert torch.isfinite(out.args[0]["samples"]).all()
