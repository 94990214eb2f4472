"""Cross-frame attention on DiTs together with what users stack on these models (issue #18): LoRAs loaded by core's
LoraLoaderModelOnly, core's step caches (EasyCache, LazyCache: comfy_extras/nodes_easycache.py), other attention
patches and attention overrides, on tiny Flux dev / schnell and tiny SD3 / SD3.5-Medium-style MMDiT-X loaded through
ComfyUI's own loader and sampled through the KSampler's path. (Core context windows: tests/test_context_windows*.)"""
from __future__ import annotations

import pytest
import torch

from t2vz.attention import CrossFrameAttention, find_cross_frame, with_cross_frame, with_frame_chunks
from test_dit_attention import KINDS, cfg_of, comfy_nodes, models, noise, rel  # noqa: F401
from tiny_dit import conditioning

FRAMES = 4
LATENT_CHANNELS = 16


def sample(model, kind, x, steps=4):
    import comfy.sample

    return comfy.sample.sample(model, x, steps, cfg_of(kind), "euler", "simple", conditioning(kind, 1),
                               conditioning(kind, 2), torch.zeros_like(x), disable_pbar=True, seed=0)


def node_model(out):
    return out.args[0] if hasattr(out, "args") else out[0]


def cross_frame_node(model):
    from t2vz.nodes.attention_patch import CrossFrameAttentionPatch

    return node_model(CrossFrameAttentionPatch.execute(model, "first", 1.0, 0.0, 1.0))


# --- LoRAs ------------------------------------------------------------------------------------------------------------

def lora_node(model, kind, strength=1.0):
    """LoraLoaderModelOnly, the core node, loading the tiny ``kind``'s LoRA file from the models/loras folder."""
    import folder_paths

    from tiny_dit_lora import tiny_dit_lora_file

    path = tiny_dit_lora_file(kind)
    folder_paths.add_model_folder_path("loras", str(path.parent))
    return comfy_nodes().LoraLoaderModelOnly().load_lora_model_only(model, path.name, strength)[0]


@pytest.mark.parametrize("kind", KINDS)
def test_the_tiny_lora_is_mapped_by_core_onto_every_module(models, kind):
    """Every module of the file (diffusers names) maps onto a weight of the tiny model through core's key map, Flux's
    q/k/v onto slices of the fused weights, and the LoRA'd weights differ from the model's."""
    import comfy.lora
    import comfy.utils

    from tiny_dit_lora import lora_modules, tiny_dit_lora_file

    model = models(kind)
    lora = comfy.utils.load_torch_file(str(tiny_dit_lora_file(kind)))
    key_map = comfy.lora.model_lora_keys_unet(model.model, {})
    patches = comfy.lora.load_lora(lora, key_map, log_missing=False)
    assert len(patches) == len(lora_modules(kind))  # one adapter per module: none left unmapped
    targets = {(t if isinstance(t, str) else (t[0], t[1])) for t in patches}
    weights = model.model.state_dict()
    assert all((t if isinstance(t, str) else t[0]) in weights for t in targets)
    if kind.startswith("flux"):
        assert any(isinstance(t, tuple) and t[0].endswith("img_attn.qkv.weight") for t in targets)
    lora_model = lora_node(model, kind)
    assert len(lora_model.patches) == len({t if isinstance(t, str) else t[0] for t in targets})


@pytest.mark.parametrize("kind", KINDS)
def test_cross_frame_composes_with_a_lora_in_either_order(models, kind):
    """Load Diffusion Model -> LoraLoaderModelOnly -> Cross-Frame Attention, and the nodes the other way round: the same
    video; frame 0 is plain LoRA'd sampling's, the other frames are not; and the LoRA does change the video."""
    model = models(kind)
    x = noise()
    plain_lora = sample(lora_node(model, kind), kind, x)
    lora_then_cross = sample(cross_frame_node(lora_node(model, kind)), kind, x)
    cross_then_lora_model = lora_node(cross_frame_node(model), kind)
    assert find_cross_frame(cross_then_lora_model.model_options) is not None  # the LoRA's clone keeps the patch
    cross_then_lora = sample(cross_then_lora_model, kind, x)
    cross_only = sample(cross_frame_node(model), kind, x)

    assert rel(cross_then_lora, lora_then_cross) < 1e-6, "the node order changed the video"
    assert rel(lora_then_cross[0], plain_lora[0]) < 1e-6
    for k in range(1, FRAMES):
        assert rel(lora_then_cross[k], plain_lora[k]) > 1e-2, f"frame {k}: cross-frame attention did nothing"
    for k in range(FRAMES):
        assert rel(lora_then_cross[k], cross_only[k]) > 1e-2, f"frame {k}: the LoRA did nothing"
    print(f"{kind}: LoRA changes frames by {rel(lora_then_cross, cross_only):.3f}, cross-frame changes frame 1 by "
          f"{rel(lora_then_cross[1], plain_lora[1]):.3f} (relative)")


def test_a_lora_at_strength_zero_leaves_the_cross_frame_video_alone(models):
    model = models("sd3")
    x = noise()
    assert rel(sample(lora_node(cross_frame_node(model), "sd3", 0.0), "sd3", x),
               sample(cross_frame_node(model), "sd3", x)) < 1e-6


# --- core's step caches: EasyCache, LazyCache -------------------------------------------------------------------------

def cache_node(name, model, threshold):
    nodes_easycache = core_extras("nodes_easycache")
    node = {"EasyCache": nodes_easycache.EasyCacheNode, "LazyCache": nodes_easycache.LazyCacheNode}[name]
    return node_model(node.execute(model, threshold, 0.15, 0.95, False))


class Calls:
    """Which model calls really ran the network: its first layer runs only when no cache skipped the call (EasyCache
    skips inside the network's forward, LazyCache skips the whole prediction). ``log``: [timestep, ran] per entry
    into the network's forward."""

    def __init__(self, model):
        self.sampling = model.get_model_object("model_sampling")
        self.network = model.model.diffusion_model
        first = getattr(self.network, "img_in", None) or self.network.x_embedder
        self.log = []
        self._hooks = [self.network.register_forward_pre_hook(self._enter, with_kwargs=True),
                       first.register_forward_pre_hook(self._ran)]

    def _enter(self, module, args, kwargs):
        t = args[1] if len(args) > 1 else next(kwargs[k] for k in ("timestep", "timesteps", "t") if k in kwargs)
        self.log.append([float(t.flatten()[0]), False])

    def _ran(self, module, args):
        self.log[-1][1] = True

    def schedule(self, steps):
        """Per sampling step: True if its model calls ran the network, False if a cache skipped them; None if its
        calls (frame chunks) disagree."""
        import comfy.samplers

        sigmas = comfy.samplers.calculate_sigmas(self.sampling, "simple", steps)[:-1]
        out = []
        for t in self.sampling.timestep(sigmas).tolist():
            ran = {r for s, r in self.log if abs(s - t) <= 1e-4 * max(1.0, abs(t))} or {False}
            out.append(next(iter(ran)) if len(ran) == 1 else None)
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for hook in self._hooks:
            hook.remove()


def run_logged(model, kind, x, steps):
    with Calls(model) as calls:
        out = sample(model, kind, x, steps)
    return out, calls.schedule(steps)


class Replay:
    """DIFFUSION_MODEL wrapper that skips the network at the steps ``schedule`` marks False, the way EasyCache does
    (comfy_extras/nodes_easycache.py): a skipped call returns its input plus the last run call's (output - input),
    row by row, added in place. With a cache's own schedule it reproduces that cache's result; with another run's
    schedule it shows what the cache does when it skips those steps."""

    def __init__(self, schedule):
        self.schedule = list(schedule)
        self.calls = 0
        self.diff = None

    def __call__(self, executor, *args, **kwargs):
        x = args[0][:, :LATENT_CHANNELS]
        step = self.calls
        self.calls += 1
        if not self.schedule[step]:
            x += self.diff
            return x
        out = executor(*args, **kwargs)
        self.diff = out[:, :LATENT_CHANNELS] - x
        return out


def replayed(model, schedule):
    import comfy.patcher_extension

    model = model.clone()
    model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "t2vz-test-replay", Replay(schedule))
    return model


CACHE_CASES = [("EasyCache", "flux-dev"), ("EasyCache", "flux-schnell"),
               ("LazyCache", "flux-dev"), ("LazyCache", "flux-schnell"), ("LazyCache", "sd3"),
               ("LazyCache", "sd35-medium")]


@pytest.mark.parametrize("cache,kind", CACHE_CASES)
def test_a_step_cache_composes_with_cross_frame_attention(models, cache, kind):
    """The cache skips steps with cross-frame attention too; at a threshold where it skips the same steps as in plain
    sampling, frame 0 is bit for bit what the cache gives plain sampling's frame 0, the other frames differ from
    that (they attend to frame 0 at every step the network runs), and the cache node before or after Cross-Frame
    Attention gives the same video."""
    model = models(kind)
    x, steps = noise(), 8
    plain, plain_schedule = run_logged(cache_node(cache, model, 1.0), kind, x, steps)
    cross, schedule = run_logged(cache_node(cache, cross_frame_node(model), 1.0), kind, x, steps)
    assert not all(schedule), f"{cache} skipped no step: the test shows nothing"
    assert schedule == plain_schedule, (schedule, plain_schedule)
    assert rel(cross[0], plain[0]) == 0.0
    for k in range(1, FRAMES):
        assert rel(cross[k], plain[k]) > 1e-2, k
    assert torch.equal(sample(cross_frame_node(cache_node(cache, model, 1.0)), kind, x, steps), cross)
    uncached = sample(cross_frame_node(model), kind, x, steps)
    assert rel(cross, uncached) > 1e-2  # the skipped steps did change the video
    print(f"{cache} on {kind}: ran {sum(schedule)}/{steps} steps; frame 1 vs the cache's plain frame 1: "
          f"{rel(cross[1], plain[1]):.3f}")


def test_easycache_skips_nothing_on_mmdit(models):
    """EasyCache hooks the network's DIFFUSION_MODEL wrapper, which core's MMDiT (SD3, SD3.5) does not call: on SD3
    it is a no-op with or without cross-frame attention (LazyCache, a PREDICT_NOISE wrapper, works there)."""
    model = models("sd3")
    x, steps = noise(), 8
    cross, schedule = run_logged(cache_node("EasyCache", cross_frame_node(model), 3.0), "sd3", x, steps)
    assert all(schedule) and len(schedule) == steps
    assert torch.equal(cross, sample(cross_frame_node(model), "sd3", x, steps))


def test_the_replay_reproduces_easycache(models):
    """The Replay wrapper with EasyCache's own schedule gives EasyCache's video bit for bit (so it may stand in for
    EasyCache with another schedule below)."""
    model = cross_frame_node(models("flux-schnell"))
    x, steps = noise(), 8
    cached, schedule = run_logged(cache_node("EasyCache", model, 3.0), "flux-schnell", x, steps)
    assert not all(schedule)
    assert torch.equal(sample(replayed(model, schedule), "flux-schnell", x, steps), cached)


@pytest.mark.parametrize("kind", ["flux-dev", "flux-schnell"])
def test_where_the_cache_skips_other_steps_frame_zero_follows_those_steps(models, kind):
    """EasyCache and LazyCache decide to skip a step from the whole batch (mean change of every frame's input and
    output), so cross-frame attention, which changes frames 1..N, can change which steps are skipped, and then frame 0
    is not the cache's plain frame 0. It is still exactly plain sampling's frame 0 under that same schedule: frame 0
    attends to itself only. (EasyCache at threshold 3 on these seeds.)"""
    model = models(kind)
    x, steps = noise(), 8
    plain, plain_schedule = run_logged(cache_node("EasyCache", model, 3.0), kind, x, steps)
    cross, schedule = run_logged(cache_node("EasyCache", cross_frame_node(model), 3.0), kind, x, steps)
    assert schedule != plain_schedule, "the schedules agree here: pick another threshold for this test"
    assert rel(cross[0], plain[0]) > 1e-2
    same_schedule = sample(replayed(model, schedule), kind, x, steps)
    assert rel(cross[0], same_schedule[0]) < 1e-6
    print(f"{kind}: plain {plain_schedule}, cross-frame {schedule}, frame 0 moved {rel(cross[0], plain[0]):.3f}")


def test_lazycache_with_frame_chunks_equals_one_call(models):
    """LazyCache wraps the whole prediction (PREDICT_NOISE), above the frame chunks: chunked equals one call."""
    model = cross_frame_node(models("flux-schnell"))
    x, steps = noise(frames=5), 8
    whole, schedule = run_logged(cache_node("LazyCache", model, 1.0), "flux-schnell", x, steps)
    assert not all(schedule)
    chunked = sample(with_frame_chunks(cache_node("LazyCache", model, 1.0), 2), "flux-schnell", x, steps)
    assert rel(chunked, whole) < 1e-5


@pytest.mark.parametrize("kind", ["flux-dev", "flux-schnell"])
def test_easycache_with_frame_chunks_keeps_each_frame_its_own_cached_output(models, kind):
    """EasyCache under frame chunks (5 frames, chunks of 2, 2 and 1): the chunk holding frame 0 runs first and decides
    for the step, every chunk then runs or skips with it (so frame 0's keys and values are at hand whenever a chunk
    runs), and a skipped chunk adds its own frames' cached change: the video is the one call's video with those
    skips."""
    model = cross_frame_node(models(kind))
    x, steps = noise(frames=5), 8
    with Calls(model) as calls:
        chunked = sample(with_frame_chunks(cache_node("EasyCache", model, 1.0), 2), kind, x, steps)
    schedule = calls.schedule(steps)
    assert None not in schedule, f"chunks of one step disagree: {calls.log}"
    assert not all(schedule), "EasyCache skipped no step under frame chunks"
    assert rel(chunked, sample(replayed(model, schedule), kind, x, steps)) < 1e-5
    print(f"EasyCache under frame chunks on {kind}: ran {sum(schedule)}/{steps} steps")


# --- other attention patches and overrides ---------------------------------------------------------------------------

def scale_keys(q, k, v, pe=None, attn_mask=None, extra_options=None):
    """A user's DiT attn1 patch (Flux signature) that sharpens attention: keys times 1.5."""
    return {"k": k * 1.5}


def scale_queries(q, k, v, pe=None, attn_mask=None, extra_options=None):
    return {"q": q * 0.5}


@pytest.mark.parametrize("user", [scale_keys, scale_queries])
def test_a_user_attn1_patch_on_flux_before_or_after_ours(models, user):
    """A user's attn1 patch and ours chain in the list: before or after ours, the same video (ours swaps the keys and
    values of frames 1..N for frame 0's, whether the user's changed them first or changes them after); frame 0 is
    the user-patched model's frame 0; both patches act (the video differs from either alone)."""
    model = models("flux-dev")
    x = noise()

    def with_user(m):
        m = m.clone()
        m.set_model_attn1_patch(user)
        return m

    user_first = with_user(model)
    before = cross_frame_node(user_first)
    assert before.model_options["transformer_options"]["patches"]["attn1_patch"][0] is user
    after = with_user(cross_frame_node(model))
    assert after.model_options["transformer_options"]["patches"]["attn1_patch"][-1] is user
    plain_user, ours = sample(user_first, "flux-dev", x), sample(cross_frame_node(model), "flux-dev", x)
    video_before, video_after = sample(before, "flux-dev", x), sample(after, "flux-dev", x)
    assert rel(video_before, video_after) < 1e-6
    assert rel(video_before[0], plain_user[0]) < 1e-6
    for k in range(1, FRAMES):
        assert rel(video_before[k], plain_user[k]) > 1e-2 and rel(video_before[k], ours[k]) > 1e-2, k


class CountingOverride:
    """An optimized_attention_override that a node set (calls the kernel it is handed), counting its calls and
    keeping the self-attention keys it saw."""

    def __init__(self):
        self.calls = 0
        self.self_keys = []

    def __deepcopy__(self, memo):  # ComfyUI 0.3.75's clone deep-copies model_options: stay one counter
        return self

    def __call__(self, func, q, k, v, *args, **kwargs):
        self.calls += 1
        if q.shape[1] == k.shape[1]:
            self.self_keys.append(k)
        return func(q, k, v, *args, **kwargs)


def core_extras(name: str):
    """comfy_extras.``name``, imported with ComfyUI's nodes.py as ``nodes`` (from the repository root, ``import nodes``
    would find this pack's nodes/ folder)."""
    import importlib
    import sys

    saved = sys.modules.get("nodes")
    sys.modules["nodes"] = comfy_nodes()
    try:
        return importlib.import_module(f"comfy_extras.{name}")
    finally:
        if saved is None:
            del sys.modules["nodes"]
        else:
            sys.modules["nodes"] = saved


def has_attention_backend_node() -> bool:
    return hasattr(core_extras("nodes_model_advanced"), "ModelAttentionBackend")


def attention_backend_node():
    """Core's ModelAttentionBackend node, which sets the override slot through set_model_optimized_attention."""
    if not has_attention_backend_node():
        pytest.skip("this ComfyUI has no ModelAttentionBackend node (ComfyUI 0.33 has)")
    return core_extras("nodes_model_advanced").ModelAttentionBackend()


@pytest.mark.parametrize("kind", ["sd3", "sd35-medium"])
def test_an_override_set_before_ours_on_sd3_is_still_called(models, kind):
    """SD3's only hook is the one override slot: ours keeps the override that was there and calls it with frame 0's
    keys, so it still runs, as often as without ours; core's ModelAttentionBackend node before ours changes nothing
    either (it sets the same kernel)."""
    model = models(kind).clone()
    override = CountingOverride()
    model.model_options["transformer_options"]["optimized_attention_override"] = override
    x = noise()
    plain = sample(model, kind, x)
    plain_calls, override.calls = override.calls, 0
    override.self_keys.clear()
    cross = sample(cross_frame_node(model), kind, x)
    assert override.calls == plain_calls > 0
    assert override.self_keys and all(torch.equal(k[f], k[0]) for k in override.self_keys for f in range(1, FRAMES))
    assert rel(cross[0], plain[0]) < 1e-6 and rel(cross[1], plain[1]) > 1e-2

    if not has_attention_backend_node():
        return  # ComfyUI 0.3.75 has no such node
    with_backend = attention_backend_node().patch(models(kind), "pytorch attention")[0]
    assert rel(sample(cross_frame_node(with_backend), kind, x), sample(cross_frame_node(models(kind)), kind, x)) < 1e-5


def test_an_override_set_after_ours_on_sd3_stops_the_run_naming_cause_and_fix(models):
    """Core's ModelAttentionBackend after Cross-Frame Attention replaces the override slot
    (set_model_optimized_attention does not chain): ours would never run and the frames would come out plain. The
    run stops at its first step with the cause and the fix instead (the same node before ours runs: above)."""
    backend = attention_backend_node()
    after = backend.patch(cross_frame_node(models("sd3")), "pytorch attention")[0]
    with pytest.raises(RuntimeError) as error:
        sample(after, "sd3", noise())
    message = str(error.value)
    for words in ("Cross-Frame Attention (T2V-Zero)", "SD3", "never reached it",
                  "transformer_options['optimized_attention_override']", "replaced the attention override",
                  "plain, independent images", "Fix: put Cross-Frame Attention last, right before the sampler"):
        assert words in message, (words, message)


def test_an_override_set_after_ours_that_calls_it_is_refused_with_the_fix(models):
    """A node after ours that keeps the override it finds and calls it cannot be told apart from one that calls it
    only for some calls (core's Block Sparse Attention computes the calls it accelerates itself): the run is refused
    at its first attention call, naming the fix, instead of sampling partly plain frames. Put before ours, the same
    override composes (test_an_override_set_before_ours_on_sd3_is_still_called)."""
    model = cross_frame_node(models("sd3"))
    chained = model.clone()
    options = chained.model_options["transformer_options"]
    previous, seen = options["optimized_attention_override"], []

    def chaining(func, *args, **kwargs):
        seen.append(1)
        return previous(func, *args, **kwargs)

    options["optimized_attention_override"] = chaining
    with pytest.raises(RuntimeError, match="another override \\(.*chaining\\) was placed over it.*Block Sparse.*"
                                           "Fix: put Cross-Frame Attention last"):
        sample(chained, "sd3", noise())
    assert seen == [1]  # refused at the first call that reached ours


def test_an_override_installed_over_ours_at_every_step_is_refused(models):
    """A stand-in for Block Sparse Attention: a model wrapper that puts its own override on top of the slot for every
    model call and, after the first steps, computes the attention of every other layer itself without
    calling the override below. The run stops with the fix rather than giving frames that follow frame 0 only in
    some layers."""
    import comfy.patcher_extension

    calls = []

    def sparse_wrapper(executor, *args, **kwargs):
        options = kwargs.get("transformer_options", args[5] if len(args) > 5 else {})
        below = options.get("optimized_attention_override")

        def sparse(func, *a, **kw):
            calls.append(1)
            if len(calls) % 2 == 0 and below is not None:  # "accelerated": below is skipped
                return func(*a, **kw)
            return below(func, *a, **kw) if below is not None else func(*a, **kw)

        options["optimized_attention_override"] = sparse
        return executor(*args, **kwargs)

    model = cross_frame_node(models("sd3")).clone()
    model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.APPLY_MODEL, "block-sparse-stand-in",
                               sparse_wrapper)
    with pytest.raises(RuntimeError, match="placed over it.*Fix: put Cross-Frame Attention last"):
        sample(model, "sd3", noise())
    assert calls == [1]


def test_an_override_set_after_ours_on_flux_changes_nothing(models):
    """On Flux ours is an attn1 patch, which runs before the override slot: ModelAttentionBackend after it leaves
    the cross-frame video as it is."""
    backend = attention_backend_node()
    model = cross_frame_node(models("flux-dev"))
    x = noise()
    after = backend.patch(model, "pytorch attention")[0]
    assert rel(sample(after, "flux-dev", x), sample(model, "flux-dev", x)) < 1e-5


def test_re_patching_keeps_a_user_patch_and_override(models):
    """Cross-Frame Attention applied twice (e.g. the node, then the Motion Latent Sampler on its output) keeps one
    patch of ours and the user's patch and override, each once."""
    model = models("flux-dev").clone()
    model.set_model_attn1_patch(scale_keys)
    override = CountingOverride()
    model.model_options["transformer_options"]["optimized_attention_override"] = override
    twice = with_cross_frame(with_cross_frame(model, CrossFrameAttention(strength=0.5)), CrossFrameAttention())
    patches = twice.model_options["transformer_options"]["patches"]["attn1_patch"]
    assert patches.count(scale_keys) == 1 and sum(isinstance(p, CrossFrameAttention) for p in patches) == 1
    assert find_cross_frame(twice.model_options).strength == 1.0
    assert twice.model_options["transformer_options"]["optimized_attention_override"] is override
