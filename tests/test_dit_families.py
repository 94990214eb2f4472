"""Text2Video-Zero on the other image DiT families (issue #18): Chroma, Qwen-Image and Lumina 2 loaded through
ComfyUI's own loader (tests/tiny_dit_families.py), HiDream built at a small size directly (its detection fixes the
17B configuration), and Z-Image (Lumina 2 at 3840 channels). Through the pack's nodes: the Cross-Frame Attention node
in a KSampler-style batch (frame 0 is plain sampling's frame 0, the others are not; frame chunks give the same video);
every self-attention call of each architecture gets frame 0's keys and values; the Motion Latent Sampler in motion
mode (frame 0 is the seed's single image; frame chunks and parts give the whole video).

Sizes: 64x64 px (8x8 latents), 3-4 frames, 3-4 steps; Chroma (whose fixed 5x5120 modulation approximator runs on 344
rows per frame and step, most of its cost) at 3 frames, 3 steps and cfg 1."""
from __future__ import annotations

import dataclasses
import gc

import pytest
import torch

from t2vz.attention import (ANCHOR_FIRST_AND_PREVIOUS, ROUTE_ATTENTION_OVERRIDE, ROUTE_DIT_ATTN1, attention_route,
                            find_cross_frame, with_frame_chunks)
from t2vz.motion.parts import video_part
from test_dit_memory import cache_peak  # noqa: F401  (fixture)
from tiny_dit_families import (FAMILY, checkpoint_key, conditioning, load_tiny_family, refusal, tiny_family_file,
                               tiny_hidream_patcher)

KINDS = ["chroma", "qwen-image", "lumina2", "hidream"]


@dataclasses.dataclass
class Family:
    kind: str
    model: object
    frames: int = 4
    steps: int = 4
    cfg: float = 2.0
    attention_calls: int = 1  # self-attention calls per model call


SETTINGS = {
    "chroma": {"frames": 3, "steps": 3, "cfg": 1.0, "attention_calls": 2},  # one double, one single block
    "qwen-image": {"attention_calls": 1},  # one joint block
    "lumina2": {"attention_calls": 5},  # 2 context refiner (text), 2 noise refiner (image), 1 joint layer
    "hidream": {"attention_calls": 2},  # one double-stream, one single-stream block
}


def free_models():
    import comfy.model_management

    comfy.model_management.unload_all_models()
    gc.collect()


@pytest.fixture(scope="module", params=KINDS)
def family(request):
    """One family's model at a time (pytest runs a module-scoped parameter's tests together): the biggest is 2.5 GB
    in float32."""
    kind = request.param
    if kind == "hidream":
        model = tiny_hidream_patcher()
        if model is None:
            pytest.skip("this ComfyUI has no HiDream")
    else:
        reason = refusal(kind)
        if reason:
            pytest.skip(reason)
        model = load_tiny_family(kind)
    yield Family(kind, model, **SETTINGS[kind])
    del model
    free_models()


def node_patched(model, anchor="first"):
    from t2vz.nodes.attention_patch import CrossFrameAttentionPatch

    out = CrossFrameAttentionPatch.execute(model, anchor, 1.0, 0.0, 1.0)
    return out.result[0] if hasattr(out, "result") else out[0]


def empty_latent(model, frames):
    """What KSampler samples from for ``frames`` EmptySD3LatentImage frames: Qwen-Image's latent format is a video
    one (Wan 2.1's), so ComfyUI gives it a time axis of 1: (frames, 16, 1, 8, 8)."""
    import comfy.sample

    return comfy.sample.fix_empty_latent_channels(model, torch.zeros((frames, 16, 8, 8)))


def noise(model, frames, seed=0):
    return torch.randn(empty_latent(model, frames).shape, generator=torch.Generator().manual_seed(seed))


def sample(fam: Family, model, x):
    import comfy.sample

    return comfy.sample.sample(model, x, fam.steps, fam.cfg, "euler", "simple", conditioning(fam.kind, 1),
                               conditioning(fam.kind, 2), torch.zeros_like(x), disable_pbar=True, seed=0)


def rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def expected_route(fam: Family) -> str:
    """Chroma and Qwen-Image call the DiT attn1 patch on hosts whose blocks do (0.33), else the override reaches
    them; Lumina 2 and HiDream have only the override."""
    from t2vz.attention.host import module_calls_attn1_patch

    blocks = {"chroma": "comfy.ldm.flux.layers", "qwen-image": "comfy.ldm.qwen_image.model"}.get(fam.kind)
    return ROUTE_DIT_ATTN1 if blocks and module_calls_attn1_patch(blocks) else ROUTE_ATTENTION_OVERRIDE


def test_real_loader_detects_the_tiny_model_and_loads_every_weight(family):
    import safetensors.torch

    if family.kind == "hidream":
        import comfy.model_detection

        # why HiDream is built directly: its detection reads no size from the weights
        config = comfy.model_detection.detect_unet_config({"caption_projection.0.linear.weight": torch.zeros(8, 8)},
                                                          "")
        assert (config["num_layers"], config["num_single_layers"], config["num_attention_heads"]) == (16, 32, 20)
        assert type(family.model.model).__name__ == "HiDream"
    else:
        assert type(family.model.model.model_config).__name__ == FAMILY[family.kind]
        saved = safetensors.torch.load_file(str(tiny_family_file(family.kind)))
        loaded = family.model.model.diffusion_model.state_dict()
        names = {key: checkpoint_key(family.kind, key, saved) for key in loaded}
        assert set(names.values()) == set(saved)
        assert all(torch.equal(saved[names[k]].float(), v) for k, v in loaded.items())
        assert all(v.dtype == torch.float32 for v in loaded.values())
    assert attention_route(family.model) == expected_route(family)


def test_cross_frame_node_frame_zero_is_plain_sampling_and_chunks_are_exact(family):
    """The Cross-Frame Attention node on the model, sampled as KSampler samples a batch of frames (per-frame noise):
    frame 0 is plain sampling's frame 0 (it attends to itself), every other frame differs from plain sampling's, the
    node's input model is left unpatched, and frame chunks of 2 give the same frames (later chunks read frame 0's
    keys and values from the anchor cache, one entry per attention call)."""
    model = family.model
    x = noise(model, family.frames)
    plain = sample(family, model, x)
    patched = node_patched(model)
    assert find_cross_frame(patched.model_options) is not None and find_cross_frame(model.model_options) is None
    cross = sample(family, patched, x)
    assert cross.shape == x.shape and torch.isfinite(cross).all()
    assert rel(cross[0], plain[0]) < 1e-5
    for k in range(1, family.frames):
        assert rel(cross[k], plain[k]) > 1e-2, f"frame {k} equals plain sampling: the patch did nothing"
    if family.kind != "chroma":  # Chroma's chunks: test_motion_frame_chunks_and_parts_equal_the_whole_video
        assert rel(sample(family, with_frame_chunks(patched, 2), x), cross) < 1e-5


class OverrideSpy:
    """An attention override some other node set: records every self-attention call's keys (after ours)."""

    def __init__(self):
        self.calls = []

    def __deepcopy__(self, memo):  # ComfyUI 0.3.75's clone deep-copies model_options: stay one spy
        return self

    def __call__(self, func, q, k, v, *args, **kwargs):
        tokens = 2 if kwargs.get("skip_reshape") else 1
        if q.shape[tokens] == k.shape[tokens]:
            self.calls.append((k.movedim(tokens, 1).flatten(2), v.movedim(tokens, 1).flatten(2)))
        return func(q, k, v, *args, **kwargs)


def sized_cache(fam: Family, model, chunk: int = 2) -> int:
    """The anchor cache the memory check sizes for ``fam``'s frames in chunks of ``chunk``."""
    from t2vz.attention.chunking import estimate_video_memory
    from t2vz.motion.sampler import conditioning_tokens

    tokens = conditioning_tokens(model, conditioning(fam.kind, 1), conditioning(fam.kind, 2), fam.cfg)
    return estimate_video_memory(with_frame_chunks(model, chunk), (fam.frames, 16, 8, 8), tokens).cache


def test_the_anchor_cache_is_sized_exactly(family, cache_peak):  # noqa: F811
    """Frame chunks of 2: the cache at its fullest holds exactly what the memory check sizes from the family table's
    layout (Qwen-Image's blocks; Lumina 2's text-only, image-only and joint calls; HiDream's T5 and two Llama
    layers per call), so no family is routed without being sized."""
    from t2vz.attention.families import anchor_layout

    if family.kind == "chroma":
        pytest.skip("Chroma's layout is Flux's (tests/test_dit_memory.py sizes it exactly); a call here costs ~30 s")
    patched = node_patched(family.model)
    assert anchor_layout(patched) is not None
    sample(family, with_frame_chunks(patched, 2), noise(family.model, family.frames))
    assert cache_peak["bytes"] == sized_cache(family, patched) > 0


def test_every_self_attention_call_reads_frame_zero(family):
    """An attention override already in the slot (chained under ours on the override route; on the attn1 route it
    sees the attention the patch fed) sees, in every self-attention call of every model call, each frame's keys and
    values equal to frame 0's of its conditioning chunk: the joint text + image calls, and Lumina 2's text-only
    context refiner and image-only noise refiner calls (told apart by their token counts)."""
    if family.kind == "chroma":
        pytest.skip("Chroma's blocks are Flux's (tests/test_dit_attention.py); a call here costs ~30 s")
    model = family.model.clone()
    spy = OverrideSpy()
    model.model_options.setdefault("transformer_options", {})["optimized_attention_override"] = spy
    x = noise(model, family.frames)
    sample(family, model, x)
    plain_calls = len(spy.calls)
    spy.calls.clear()
    sample(family, node_patched(model), x)
    chunks = 2 if family.cfg != 1.0 else 1
    assert len(spy.calls) == plain_calls == family.steps * family.attention_calls
    for k, v in spy.calls:
        for states in (k, v):
            rows = states.reshape(chunks, family.frames, *states.shape[1:])
            assert all(torch.equal(rows[:, f], rows[:, 0]) for f in range(1, family.frames))
    tokens = sorted({k.shape[1] for k, _ in spy.calls})
    text, image = 8, 16  # 8 text tokens, 8x8 latent in 2x2 patches
    expected = {"lumina2": [text, image, text + image], "hidream": [image + 3 * text]}  # HiDream: T5, 2 Llama layers
    assert tokens == expected.get(family.kind, [text + image])


def test_first_and_previous_on_qwen_image(family):
    """Qwen-Image rotates keys after the attn1 patch (ComfyUI 0.33), so the node refuses anchor first+previous there
    with the fix; on the override route (0.3.75) the keys arrive rotated and first+previous runs."""
    if family.kind != "qwen-image":
        pytest.skip("Qwen-Image only")
    model = family.model
    if expected_route(family) == ROUTE_DIT_ATTN1:
        with pytest.raises(ValueError, match="not supported on QwenImage.*RoPE.*Fix: set the anchor input to 'first'"):
            node_patched(model, ANCHOR_FIRST_AND_PREVIOUS)
        return
    x = noise(model, family.frames)
    plain, first = sample(family, model, x), sample(family, node_patched(model), x)
    video = sample(family, node_patched(model, ANCHOR_FIRST_AND_PREVIOUS), x)
    assert rel(video[0], plain[0]) < 1e-5 and rel(video[1], first[1]) < 1e-5
    assert all(rel(video[k], first[k]) > 1e-3 for k in range(2, family.frames))


# --- motion mode: the Motion Latent Sampler node ---------------------------------------------------------------------

_videos = {}


def video(fam: Family, frames=None, part=0, parts=1, chunk=0):
    """The Motion Latent Sampler's output (motion mode, camera 24 latent px to the right) from EmptySD3LatentImage
    frames; the whole video is computed once per family."""
    from t2vz.nodes.motion_sampler import MotionLatentSampler

    frames = frames or fam.frames
    key = (fam.kind, id(fam.model), frames, part, parts, chunk)
    if key not in _videos:
        latent = {"samples": torch.zeros((frames, 16, 8, 8))}
        _videos[key] = MotionLatentSampler.execute(
            fam.model, conditioning(fam.kind, 1), conditioning(fam.kind, 2), latent, 7, fam.steps, fam.cfg, "euler",
            "simple", "motion", 24.0, 0.0, 1.0, 0.0, 44, 47, chunk, part=part, parts=parts).args[0]["samples"]
    return _videos[key]


def plain_image(fam: Family):
    """The single image of the same seed, as the KSampler node makes it (empty latent fixed up, seeded noise)."""
    import comfy.sample

    latent = empty_latent(fam.model, 1)
    return comfy.sample.sample(fam.model, comfy.sample.prepare_noise(latent, 7), fam.steps, fam.cfg, "euler",
                               "simple", conditioning(fam.kind, 1), conditioning(fam.kind, 2), latent,
                               disable_pbar=True, seed=7)


def test_motion_mode_frame_zero_is_the_image_of_the_seed(family):
    frames = video(family)
    assert frames.shape[0] == family.frames and torch.isfinite(frames).all()
    image = plain_image(family)
    assert rel(frames[:1].reshape(image.shape), image) < 1e-4
    for k in range(1, family.frames):
        assert (frames[k] - frames[0]).abs().max() > 1e-2 * frames[0].abs().max(), k


def test_motion_frame_chunks_and_parts_equal_the_whole_video(family):
    whole = video(family)
    assert rel(video(family, chunk=2), whole) < 1e-5
    parts = [video(family, part=i, parts=2, chunk=2) for i in range(2)]
    sizes = [video_part(family.frames, i, 2).stop - video_part(family.frames, i, 2).start for i in range(2)]
    assert [p.shape[0] for p in parts] == sizes
    assert rel(torch.cat(parts), whole) < 1e-5


# --- Z-Image: Lumina 2's architecture at 3840 channels, with pad tokens -----------------------------------------------

def test_z_image_cross_frame_through_the_node(cache_peak):  # noqa: F811
    """Z-Image (0.90B parameters even at one block: built only here) is Lumina 2's network with pad tokens (text and
    image padded to multiples of 32) and the same model class, so the same route: frame 0 is plain sampling's, the
    others are not, and frame chunks are exact."""
    reason = refusal("z-image")
    if reason:
        pytest.skip(reason)
    free_models()
    model = load_tiny_family("z-image")
    try:
        assert type(model.model.model_config).__name__ == "ZImage"
        assert attention_route(model) == ROUTE_ATTENTION_OVERRIDE
        fam = Family("z-image", model, frames=3, steps=2, cfg=1.0)
        x = noise(model, fam.frames)
        plain = sample(fam, model, x)
        patched = node_patched(model)
        cross = sample(fam, patched, x)
        assert rel(cross[0], plain[0]) < 1e-5
        assert all(rel(cross[k], plain[k]) > 1e-2 for k in range(1, fam.frames))
        assert rel(sample(fam, with_frame_chunks(patched, 2), x), cross) < 1e-5
        # sized with its pad tokens: 8 text and 16 image tokens are each padded to 32
        assert cache_peak["bytes"] == sized_cache(fam, patched) > 0
    finally:
        del model
        free_models()
