"""ComfyUI's core context windows (the Context Windows (Manual) node, comfy/context_windows.py) with Cross-Frame
Attention on the DiTs: tiny Flux and SD3 models through ComfyUI's loader, sampled through the KSampler path and the
Motion Latent Sampler. Every window's frames attend to global frame 0 (a window without it reads frame 0's keys and
values from the window of the same step that held it), so Standard Static windows give the video made without
windows; the memory check counts a window (and the frame core prepends to it) as the frames of one call."""
from __future__ import annotations

import logging

import pytest
import torch

from t2vz.attention import AnchorCache, CrossFrameAttention, with_cross_frame
from checks import assert_close_rel
from test_dit_attention import models  # noqa: F401  (the module-scoped loader fixture)
from test_dit_memory import free_memory
from test_dit_video import video
from test_motion import CORE_WINDOWS_RUN, core_context_windows
from tiny_dit import conditioning

KINDS = ["flux-dev", "flux-schnell", "sd3", "sd35-medium"]

runs = pytest.mark.skipif(
    not CORE_WINDOWS_RUN, reason="this ComfyUI's core context windows cannot sample a batch (0.3.75: their "
                                 "set_step compares a per-row timestep with the schedule; tests/test_motion.py shows "
                                 "the failure)")


def sample(model, kind, frames, steps=4):
    import comfy.sample

    x = torch.randn((frames, 16, 8, 8), generator=torch.Generator().manual_seed(0))
    cfg = 1.0 if kind == "flux-dev" else 2.0
    return comfy.sample.sample(model, x, steps, cfg, "euler", "simple", conditioning(kind, 1), conditioning(kind, 2),
                               torch.zeros_like(x), disable_pbar=True, seed=0)


class Anchors:
    """Per cross-frame call: the global frames it holds and where frame 0's states came from (the call itself, or
    the cache), recorded at CrossFrameAttention._frame_states."""

    def __init__(self, monkeypatch):
        self.calls = []
        frame_states = CrossFrameAttention._frame_states
        get = AnchorCache.get
        hits = []

        def cache_get(cache, key, frame_id):
            out = get(cache, key, frame_id)
            hits.append(frame_id if out is not None else None)
            return out

        def recorded(patch, ctx, val, ids, frame_id, keys, store):
            hits.clear()
            out = frame_states(patch, ctx, val, ids, frame_id, keys, store)
            self.calls.append((tuple(ids), "call" if frame_id in ids else ("cache" if 0 in hits else "missing")))
            return out

        monkeypatch.setattr(CrossFrameAttention, "_frame_states", recorded)
        monkeypatch.setattr(AnchorCache, "get", cache_get)


@runs
@pytest.mark.parametrize("causal_window_fix", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_every_window_attends_to_frame_zero_and_the_video_is_the_one_without_windows(models, kind, causal_window_fix,
                                                                                      monkeypatch, caplog):
    """Standard Static windows of 3 frames, overlap 1, over 7 frames (windows 0-2, 2-4, 4-6; under causal_window_fix
    core prepends the frame before each window): every call anchors on global frame 0 (windows without it read it
    from the cache, never their own first frame), and the video equals the one sampled without windows."""
    model = with_cross_frame(models(kind), CrossFrameAttention())
    windowed = core_context_windows(model, 3, 1, freenoise=False, causal_window_fix=causal_window_fix)
    whole = sample(model, kind, 7)
    anchors = Anchors(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="t2v-zero"):
        out = sample(windowed, kind, 7)
    assert_close_rel(out, whole)
    assert "anchors on its own first frame" not in caplog.text
    first = [1] if causal_window_fix else []
    windows = {(0, 1, 2), (*first, 2, 3, 4), (*[3] * causal_window_fix, 4, 5, 6)}
    assert {ids for ids, _ in anchors.calls} == windows
    assert all(source == ("call" if 0 in ids else "cache") for ids, source in anchors.calls)


@runs
@pytest.mark.parametrize("causal_window_fix", [True, False])
@pytest.mark.parametrize("kind", ["flux-schnell", "sd3"])
def test_first_plus_previous_is_exact_with_windows_that_do_not_overlap(models, kind, causal_window_fix):
    """anchor first+previous, windows 0-2 and 3-5: frame 3's predecessor is frame 2 as the first window computed it
    (from the cache). Under causal_window_fix core hands the second window frame 2 too, which there lacks its own
    predecessor: the patch reads frame 2's exact states from the cache instead, so the video is still exact (Flux
    rotates the doubled keys itself on the attn1 route; SD3 goes through the attention override)."""
    model = with_cross_frame(models(kind), CrossFrameAttention(anchor="first+previous"))
    windowed = core_context_windows(model, 3, 0, freenoise=False, causal_window_fix=causal_window_fix)
    assert_close_rel(sample(windowed, kind, 6), sample(model, kind, 6))


@runs
@pytest.mark.parametrize("kind", ["flux-schnell", "sd3"])
def test_the_motion_latent_sampler_under_core_windows_makes_the_same_video(models, kind):
    """Core windows on the model given to the Motion Latent Sampler (motion mode), with frames_per_chunk set too
    (it never splits a window): the video made without windows."""
    model = with_cross_frame(models(kind), CrossFrameAttention())
    windowed = core_context_windows(model, 3, 1, freenoise=False, causal_window_fix=True)
    assert_close_rel(video(windowed, kind, frames=7, chunk=2), video(model, kind, frames=7))


@runs
def test_windows_are_rows_of_the_part_under_parts(models):
    """A part's calls under core windows: each window's rows map through the part's frames to global frames (row 0
    is frame 0), and the joined parts equal the whole video."""
    kind = "sd3"
    model = with_cross_frame(models(kind), CrossFrameAttention())
    windowed = core_context_windows(model, 3, 1, freenoise=False, causal_window_fix=True)
    whole = video(model, kind, frames=7)
    parts = torch.cat([video(windowed, kind, frames=7, part=i, parts=2) for i in range(2)])
    assert_close_rel(parts, whole)


@runs
def test_a_window_that_cannot_fit_is_refused_naming_context_length(models, monkeypatch):
    """The memory check sizes a call as the window plus the frame core prepends, next to the anchor cache, and names
    the Context Windows node's context_length when even that cannot fit."""
    from t2vz.attention.chunking import estimate_video_memory
    from t2vz.motion.sampler import conditioning_tokens, video_model

    kind = "flux-schnell"
    model = with_cross_frame(models(kind), CrossFrameAttention())
    windowed = core_context_windows(model, 3, 1, freenoise=False, causal_window_fix=True)
    need = estimate_video_memory(video_model(windowed, 2), (7, 16, 8, 8),
                                 conditioning_tokens(model, conditioning(kind, 1), conditioning(kind, 2), 2.0))
    assert (need.per_call, need.windows, need.cache > 0) == (4, True, True)
    free_memory(monkeypatch, need.cache + need.one_frame - 1)
    with pytest.raises(ValueError, match=r"^the Context Windows node's context_length = 3 \(4 frames per call with "
                                         r"the frame before each window\) cannot fit: .*Fix: "):
        video(windowed, kind, frames=7, chunk=2)


@pytest.mark.skipif(CORE_WINDOWS_RUN, reason="this ComfyUI's core context windows run (the tests above)")
def test_where_core_windows_cannot_run_the_sampler_says_so_before_sampling(models):
    """ComfyUI 0.3.75's core windows fail on their first step with a batch of frames (their set_step): the Motion
    Latent Sampler on a DiT refuses before any model call, naming the fix."""
    from test_dit_memory import Calls

    kind = "sd3"
    model = with_cross_frame(models(kind), CrossFrameAttention())
    windowed = core_context_windows(model, 3, 1, freenoise=False)
    with Calls(models(kind)) as calls, pytest.raises(ValueError, match=r"^ComfyUI's Context Windows cannot sample "
                                                                       r"these 7 frames on this ComfyUI: .*Fix: "):
        video(windowed, kind, frames=7)
    assert calls.count == 0
