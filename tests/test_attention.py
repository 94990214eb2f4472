"""Cross-frame attention: the patch's batch logic with small fakes, and its behaviour inside the real tiny UNet."""
from __future__ import annotations

import copy
import logging

import pytest
import torch

from t2vz.attention import (ANCHOR_FIRST_AND_PREVIOUS, CrossFrameAttention, chunk_positions, find_cross_frame,
                            with_cross_frame)

TOKENS, CHANNELS = 6, 8


def hidden(chunks, frames, seed=0):
    return torch.randn((chunks * frames, TOKENS, CHANNELS), generator=torch.Generator().manual_seed(seed))


def run(patch, n, cond_or_uncond, **extra):
    options = {"cond_or_uncond": cond_or_uncond, "block": ("input", 1), "block_index": 0, "transformer_index": 0}
    options.update(extra)
    return patch(n, n, n, options)


@pytest.mark.parametrize("cond_or_uncond", [[1, 0], [0], [0, 1, 0], [2, 1, 0]])
@pytest.mark.parametrize("frames", [1, 2, 5, 8])
def test_each_chunk_anchors_on_its_own_first_frame(cond_or_uncond, frames):
    chunks = len(cond_or_uncond)
    n = hidden(chunks, frames)
    _, ctx, val = run(CrossFrameAttention(), n, cond_or_uncond)
    assert ctx.shape == n.shape and val.shape == n.shape
    for c in range(chunks):
        anchor = n[c * frames]
        for k in range(frames):
            assert torch.equal(ctx[c * frames + k], anchor)
            assert torch.equal(val[c * frames + k], anchor)


def test_strength_interpolates_keys_and_values_and_zero_is_off():
    n = hidden(2, 3)
    _, ctx, _ = run(CrossFrameAttention(strength=0.25), n, [1, 0])
    expected = torch.lerp(n[4], n[3], 0.25)
    torch.testing.assert_close(ctx[4], expected)
    _, ctx0, _ = run(CrossFrameAttention(strength=0.0), n, [1, 0])
    assert torch.equal(ctx0, n)


def test_inactive_outside_its_sigma_range():
    n = hidden(1, 3)
    patch = CrossFrameAttention(sigma_start=5.0, sigma_end=1.0)
    _, outside, _ = run(patch, n, [0], sigmas=torch.full((3,), 9.0))
    _, inside, _ = run(patch, n, [0], sigmas=torch.full((3,), 3.0))
    assert torch.equal(outside, n)
    assert torch.equal(inside[2], n[0])


def test_first_and_previous_concatenates_anchor_and_predecessor():
    n = hidden(2, 4)
    _, ctx, _ = run(CrossFrameAttention(anchor=ANCHOR_FIRST_AND_PREVIOUS), n, [1, 0])
    assert ctx.shape == (8, 2 * TOKENS, CHANNELS)
    for c in range(2):
        for k in range(4):
            row = ctx[c * 4 + k]
            assert torch.equal(row[:TOKENS], n[c * 4])
            assert torch.equal(row[TOKENS:], n[c * 4 + max(k - 1, 0)])


def test_windows_without_frame_zero_read_it_from_the_same_step():
    """A call without global frame 0 (context window or frame chunk) anchors on frame 0 from an earlier call of the
    same step, never on its own first frame."""
    patch = CrossFrameAttention(anchor=ANCHOR_FIRST_AND_PREVIOUS)
    run_token = torch.zeros(3)
    full = hidden(2, 6, seed=3)
    first = torch.cat([full[0:3], full[6:9]])
    second = torch.cat([full[3:6], full[9:12]])
    sig = torch.full((6,), 4.0)
    run(patch, first, [1, 0], sigmas=sig, sample_sigmas=run_token, t2vz_frames=[0, 1, 2])
    _, ctx, _ = run(patch, second, [1, 0], sigmas=sig, sample_sigmas=run_token, t2vz_frames=[3, 4, 5])
    for c, base in enumerate((0, 6)):
        for k in range(3):
            row = ctx[c * 3 + k]
            assert torch.equal(row[:TOKENS], full[base])  # global frame 0 of this chunk
            assert torch.equal(row[TOKENS:], full[base + 3 + k - 1])  # predecessor, across the call boundary


def test_window_before_frame_zero_falls_back_with_a_warning(caplog):
    patch = CrossFrameAttention()
    n = hidden(1, 3)
    options = {"sigmas": torch.full((3,), 4.0), "sample_sigmas": torch.zeros(2),
               "context_window": type("W", (), {"index_list": [5, 6, 7], "dim": 0})()}
    with caplog.at_level(logging.WARNING, logger="t2v-zero"):
        _, ctx, _ = run(patch, n, [0], **options)
    assert torch.equal(ctx[2], n[0])
    assert "standard_static" in caplog.text


def test_core_window_rows_include_the_causal_anchor_frame():
    """ComfyUI 0.33's core context windows may prepend the frame before the window (causal_window_fix) without
    listing it in index_list: the rows are that frame, then the window's."""
    from t2vz.attention import window_frame_ids

    window = type("W", (), {"index_list": [5, 6, 7], "dim": 0})()
    assert window_frame_ids({"context_window": window}, 3) == [5, 6, 7]
    window.causal_anchor_index = 4
    assert window_frame_ids({"context_window": window}, 4) == [4, 5, 6, 7]
    window.causal_anchor_index = -1  # none before the first window
    assert window_frame_ids({"context_window": window}, 3) == [5, 6, 7]


def test_cache_does_not_leak_between_steps():
    patch = CrossFrameAttention()
    token = torch.zeros(2)
    a, b = hidden(1, 2, seed=1), hidden(1, 2, seed=2)
    run(patch, a, [0], sigmas=torch.full((2,), 4.0), sample_sigmas=token, t2vz_frames=[0, 1])
    _, ctx, _ = run(patch, b, [0], sigmas=torch.full((2,), 3.0), sample_sigmas=token, t2vz_frames=[2, 3])
    assert torch.equal(ctx[1], b[0])  # no frame 0 at sigma 3: fallback, not sigma 4's frame 0


def test_chunk_positions_put_the_anchor_chunk_first():
    assert chunk_positions(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert chunk_positions([4, 5, 0, 1, 2], 2) == [[2, 3], [0, 1], [4]]
    assert chunk_positions(list(range(4)), 0) == [[0, 1, 2, 3]]


def test_clones_keep_the_settings_and_foreign_patches_stay(tiny):
    def foreign(n, c, v, o):
        return n, c, v

    base = tiny.clone()
    base.set_model_attn1_patch(foreign)
    first = with_cross_frame(base, CrossFrameAttention(strength=0.5))
    second = with_cross_frame(first, CrossFrameAttention(strength=1.0))
    patches = second.model_options["transformer_options"]["patches"]["attn1_patch"]
    assert patches[0] is foreign and len(patches) == 2
    assert find_cross_frame(second.model_options).strength == 1.0
    assert find_cross_frame(first.model_options).strength == 0.5
    assert find_cross_frame(base.model_options) is None
    # ModelPatcher.clone() deep-copies the patch (ComfyUI 0.3.75) or shares it (0.33): either way the clone carries
    # the same settings, and a copy starts with a cache of its own
    clone = first.clone()
    assert find_cross_frame(clone.model_options).settings() == find_cross_frame(first.model_options).settings()
    copied = copy.deepcopy(find_cross_frame(first.model_options))
    assert copied.settings() == find_cross_frame(first.model_options).settings()
    assert copied.cache is not find_cross_frame(first.model_options).cache


def test_frame_zero_unchanged_and_every_frame_reads_frame_zero_in_the_unet(tiny):
    """In the real UNet: frame 0's output is what it would be alone; a frame's output does not depend on the other
    non-anchor frames (it sees only itself and frame 0)."""
    unet = tiny.model.diffusion_model
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((5, 4, 8, 8), generator=gen)
    context = torch.randn((1, 77, 64), generator=gen).expand(5, -1, -1)
    t = torch.full((5,), 500.0)
    options = lambda: {"patches": {"attn1_patch": [CrossFrameAttention()]}, "cond_or_uncond": [0]}  # noqa: E731
    with torch.no_grad():
        video = unet(x, t, context=context, transformer_options=options())
        alone = unet(x[:1], t[:1], context=context[:1], transformer_options=options())
        pair = unet(x[[0, 3]], t[:2], context=context[:2], transformer_options=options())
        plain = unet(x, t, context=context, transformer_options={"cond_or_uncond": [0]})
    torch.testing.assert_close(video[0], alone[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(video[3], pair[1], rtol=1e-5, atol=1e-5)
    assert (video[1:] - plain[1:]).abs().max() > 1e-3


class _Recorder:
    """attn1 patch, first in the list: keeps each layer's self-attention input (before any patch) of the last call."""

    def __init__(self):
        self.inputs = {}

    def __deepcopy__(self, memo):  # ModelPatcher.clone() deep-copies patches on ComfyUI 0.3.75: keep one record
        return self

    def __call__(self, n, context, value, extra_options):
        self.inputs[(extra_options["block"], extra_options["block_index"], extra_options["transformer_index"])] = n
        return n, context, value


class _AnchorCheck:
    """attn1 patch, last in the list: counts multi-frame layers where every frame's keys/values (context) are frame
    0's input rows, whatever the patches between did to the queries."""

    def __init__(self, recorder):
        self.recorder, self.layers, self.anchored, self.merged = recorder, 0, 0, 0

    def __deepcopy__(self, memo):
        return self

    def __call__(self, n, context, value, extra_options):
        chunks = len(extra_options["cond_or_uncond"])
        frames = context.shape[0] // chunks
        if frames > 1:
            raw = self.recorder.inputs[(extra_options["block"], extra_options["block_index"],
                                        extra_options["transformer_index"])]
            raw = raw.reshape(chunks, frames, *raw.shape[1:])
            got = context.reshape(chunks, frames, *context.shape[1:])
            self.layers += 1
            self.anchored += all(torch.equal(got[c, k], raw[c, 0]) for c in range(chunks) for k in range(frames))
            self.merged += n.shape[1] < context.shape[1]  # token merging shortened the queries here
        return n, context, value


@pytest.mark.parametrize("tome_first", [True, False])
def test_core_token_merging_composes_with_cross_frame_attention(tiny, tome_first):
    """Core TomePatchModel merges the queries of the first level's self-attention; our patch replaces keys and
    values: in either order both act, and every frame still attends to frame 0's (unmerged) tokens."""
    from comfy_extras.nodes_tomesd import TomePatchModel
    from t2vz.motion import sample_video
    from tiny_models import conditioning

    recorder = _Recorder()
    check = _AnchorCheck(recorder)
    model = tiny.clone()
    model.set_model_attn1_patch(recorder)
    steps = [lambda m: TomePatchModel.execute(m, 0.5).args[0], lambda m: with_cross_frame(m, CrossFrameAttention())]
    for step in steps if tome_first else steps[::-1]:
        model = step(model)
    model.set_model_attn1_patch(check)
    torch.manual_seed(0)  # ToMe draws its token partition from torch's global generator
    out = sample_video(model, conditioning(1), conditioning(2), torch.zeros((4, 4, 8, 8)), 7, 4, 6.0, "ddim",
                       "ddim_uniform")
    assert torch.isfinite(out).all()
    assert check.layers > 0 and check.anchored == check.layers
    assert 0 < check.merged < check.layers  # merged at the first level only (ToMe's max_downsample 1)
