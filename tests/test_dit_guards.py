"""What is refused before sampling on the DiT routes, and the features newer ComfyUI moved, detected by the feature
(stand-ins where this host lacks it): first+previous with an attention mask, core's memory estimate under its newer
name, and the supported families in the nodes' tooltips, written from the one family table."""
from __future__ import annotations

import pytest
import torch

from t2vz.attention import ANCHOR_FIRST_AND_PREVIOUS, ROUTE_DIT_ATTN1, CrossFrameAttention, attention_route, \
    with_cross_frame
from test_dit_attention import models, noise, sample  # noqa: F401  (the module-scoped loader fixture)
from test_dit_memory import Calls
from tiny_dit import conditioning


def test_first_and_previous_with_an_attention_mask_is_refused_before_any_step(models):  # noqa: F811
    """A conditioning with an attention mask (a masked text encoder's) and anchor first+previous on the attn1 route:
    the doubled keys cannot take the mask. Refused when sampling starts, before the model is called once (it used to
    fail inside the first step, after set-up)."""
    import comfy.sample

    model = models("flux-dev")
    if attention_route(model) != ROUTE_DIT_ATTN1:
        pytest.skip("this ComfyUI's Flux takes the override route, where the keys arrive rotated and no mask is "
                    "extended")
    patched = with_cross_frame(model, CrossFrameAttention(anchor=ANCHOR_FIRST_AND_PREVIOUS))
    masked = [[c, {**o, "attention_mask": torch.ones((1, 8))}] for c, o in conditioning("flux-dev", 1)]
    x = noise()
    with Calls(model) as calls, pytest.raises(ValueError, match="anchor 'first\\+previous' cannot extend this Flux "
                                                               "model's attention mask.*Fix: set the Cross-Frame"):
        comfy.sample.sample(patched, x, 4, 1.0, "euler", "simple", masked, masked, torch.zeros_like(x),
                            disable_pbar=True, seed=0)
    assert calls.count == 0


def test_the_memory_estimate_uses_cores_newer_name_where_the_host_has_it(models, monkeypatch):  # noqa: F811
    """Newer ComfyUI estimates a model call's memory with call_model_memory_required: where the model has it, the
    memory check asks it (with the same shapes), else memory_required."""
    from t2vz.attention.chunking import call_memory

    model = models("sd3")
    asked = []
    assert call_memory(model, (2, 16, 8, 8)) == int(model.model.memory_required([2, 16, 8, 8]))
    monkeypatch.setattr(model.model, "call_model_memory_required",
                        lambda shape, cond_shapes={}: asked.append((shape, cond_shapes)) or 12345, raising=False)
    assert call_memory(model, (2, 16, 8, 8), {"ref_latents": [[2, 16, 8, 8]]}) == 12345
    assert asked == [([2, 16, 8, 8], {"ref_latents": [[2, 16, 8, 8]]})]


def test_the_nodes_name_every_supported_family_from_the_table():
    """Cross-Frame Attention's and the Motion Latent Sampler's tooltips list the families of the one table (they
    used to be written by hand and missed HiDream, Lumina 2 and Z-Image); Edit Video's says what it cannot tell
    apart."""
    from t2vz.attention.families import FAMILIES
    from t2vz.motion.reference_edit import SAME_ARCHITECTURE
    from t2vz.nodes.attention_patch import CrossFrameAttentionPatch
    from t2vz.nodes.motion_sampler import MotionLatentSampler
    from t2vz.nodes.video_edit import ReferenceEditVideo

    def tooltip(node, name):
        return next(i.tooltip for i in node.define_schema().inputs if i.id == name)

    for node in (CrossFrameAttentionPatch, MotionLatentSampler):
        for family in FAMILIES:
            assert family.label in tooltip(node, "model"), (node.__name__, family.label)
    for words in ("HiDream", "Lumina 2", "Z-Image", "Chroma", "Qwen-Image"):
        assert words in tooltip(CrossFrameAttentionPatch, "model")
    assert SAME_ARCHITECTURE in tooltip(ReferenceEditVideo, "model")
