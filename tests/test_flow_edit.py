"""Edits that follow the source's optical flow: trajectories, flow-warped noise (its statistics, exact translation,
still clips, per-step noise, parts) and trajectory attention against a plain-torch reference in the real tiny UNet
and tiny Flux."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from t2vz.attention import TRAJECTORY_KEY, CrossFrameAttention, Trajectories, with_cross_frame, with_trajectories
from t2vz.attention.dit import OVERRIDE_KEY, CrossFrameOverride
from t2vz.attention.trajectory import crossings, trace
from t2vz.motion.consistency import FlowEstimator
from t2vz.motion.flow_noise import carry, flow_noise, source_motion
from t2vz.motion.noise import flow_noise_sampler
from t2vz.motion.sampler import initial_noise
from checks import assert_close_rel


def translation(frames: int, height: int, width: int, dx: float, dy: float = 0.0) -> Trajectories:
    """Content moving (dx, dy) pixels a frame: the backward flow is (-dx, -dy) everywhere, trusted everywhere."""
    backward = torch.zeros((frames - 1, height, width, 2))
    backward[..., 0], backward[..., 1] = -dx, -dy
    return Trajectories(backward, torch.ones((frames - 1, height, width), dtype=torch.bool))


def zoom_and_turn(frames: int, side: int) -> Trajectories:
    """A camera zooming in 6% and turning 3 degrees a frame: content expands (several pixels trace back to one)."""
    ys, xs = torch.meshgrid(torch.arange(side, dtype=torch.float32), torch.arange(side, dtype=torch.float32),
                            indexing="ij")
    centre = (side - 1) / 2
    angle = math.radians(3.0)
    x, y = (xs - centre) / 1.06, (ys - centre) / 1.06
    back_x = math.cos(angle) * x + math.sin(angle) * y + centre - xs
    back_y = -math.sin(angle) * x + math.cos(angle) * y + centre - ys
    backward = torch.stack([back_x, back_y], dim=-1).expand(frames - 1, -1, -1, -1).contiguous()
    return Trajectories(backward, torch.ones((frames - 1, side, side), dtype=torch.bool))


# --- trajectories and noise ------------------------------------------------------------------------------------------

def test_flow_noise_is_gaussian_in_every_frame_under_zoom_and_rotation():
    trajectories = zoom_and_turn(6, 64)
    noise = flow_noise((6, 4, 64, 64), 3, trajectories.ids())
    ids = trajectories.ids()
    for k in range(6):
        frame = noise[k]
        assert abs(frame.mean().item()) < 0.04 and abs(frame.std().item() - 1.0) < 0.03
        # every pixel reads its own draw: the frame is i.i.d., not a blurred or repeated copy
        assert torch.unique(ids[k]).numel() == ids[k].numel()
        neighbours = torch.corrcoef(torch.stack([frame[:, :, :-1].reshape(-1), frame[:, :, 1:].reshape(-1)]))[0, 1]
        assert abs(neighbours.item()) < 0.05
    # and it does follow the motion: most of frame 1 is frame 0's noise carried
    assert (ids[1] < 64 * 64).float().mean() > 0.6


def test_a_pure_translation_moves_the_noise_with_it_exactly():
    frames, side, dx, dy = 5, 24, 2, 1
    noise = flow_noise((frames, 4, side, side), 0, translation(frames, side, side, dx, dy).ids())
    for k in range(1, frames):
        inner = noise[k, :, k * dy:, k * dx:]
        torch.testing.assert_close(inner, noise[0, :, :side - k * dy, :side - k * dx], rtol=0, atol=0)
        # where content came in from outside, the noise is fresh: not frame 0's, not the previous frame's
        assert not torch.equal(noise[k, :, :, :dx], noise[0, :, :, :dx])


def test_motion_below_a_pixel_a_frame_adds_up():
    noise = flow_noise((5, 2, 16, 16), 1, translation(5, 16, 16, 0.5).ids())
    torch.testing.assert_close(noise[2, :, :, 1:], noise[0, :, :, :-1], rtol=0, atol=0)
    torch.testing.assert_close(noise[4, :, :, 2:], noise[0, :, :, :-2], rtol=0, atol=0)


def test_content_that_appears_keeps_its_fresh_noise_as_it_moves_on():
    noise = flow_noise((4, 1, 12, 12), 2, translation(4, 12, 12, 1).ids())
    # column 0 of frame 1 appeared there; in frames 2 and 3 the same content sits in columns 1 and 2
    torch.testing.assert_close(noise[2, :, :, 1], noise[1, :, :, 0], rtol=0, atol=0)
    torch.testing.assert_close(noise[3, :, :, 2], noise[1, :, :, 0], rtol=0, atol=0)


def test_a_still_clip_gives_the_shared_noise():
    shape = (4, 4, 8, 10)
    shared, _ = initial_noise(shape, 11, "shared")
    torch.testing.assert_close(flow_noise(shape, 11, translation(4, 8, 10, 0).ids()), shared, rtol=0, atol=0)


def test_untrusted_flow_starts_fresh_trajectories():
    trajectories = translation(3, 8, 8, 1)
    valid = trajectories.valid.clone()
    valid[0, 2:5, 2:5] = False  # an occlusion in frame 1
    ids = Trajectories(trajectories.backward, valid).ids()
    assert (ids[1].view(8, 8)[2:5, 2:5] >= 64).all()  # frame 1's own
    assert (ids[1].view(8, 8)[6:, 6:] < 64).all()


def test_per_step_noise_follows_the_flow_and_parts_get_the_whole_videos_rows():
    frames, shape = 4, (4, 2, 12, 12)
    ids = translation(frames, 12, 12, 1).ids()
    whole = flow_noise_sampler(shape, ids, range(frames), 5)(torch.tensor(2.0), torch.tensor(1.0))
    torch.testing.assert_close(whole[3, :, :, 3:], whole[0, :, :, :-3], rtol=0, atol=0)
    part = flow_noise_sampler(shape, ids, [0, 2, 3], 5)(torch.tensor(2.0), torch.tensor(1.0))
    torch.testing.assert_close(part, whole[[0, 2, 3]], rtol=0, atol=0)


def test_brownian_per_step_noise_is_carried_consistently():
    shape = (3, 1, 8, 8)
    ids = translation(3, 8, 8, 1).ids()
    sigmas = torch.tensor([3.0, 2.0, 1.0, 0.0])
    sampler = flow_noise_sampler(shape, ids, range(3), 4, sigmas=sigmas, brownian=True)
    draw = sampler(torch.tensor(3.0), torch.tensor(2.0))
    torch.testing.assert_close(draw[2, :, :, 2:], draw[0, :, :, :-2], rtol=0, atol=0)


def test_carry_refuses_trajectories_of_another_size():
    with pytest.raises(ValueError, match="do not fit"):
        carry(torch.zeros((3, 1, 8, 8)), translation(3, 8, 6, 1).ids())


def test_nan_flow_is_refused_naming_the_input():
    backward = torch.zeros((1, 4, 4, 2))
    backward[0, 1, 1, 0] = float("nan")
    with pytest.raises(ValueError, match="optical_flow"):
        Trajectories(backward, torch.ones((1, 4, 4), dtype=torch.bool))


def shifted_texture(frames=4, size=128, step=8) -> torch.Tensor:
    """(frames, size, size, 3): a smooth texture whose content moves ``step`` px a frame to the right."""
    import cv2

    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.random((size, size + frames * step, 3)).astype(np.float32), (0, 0), 3.0)
    base = (base - base.min()) / (base.max() - base.min())
    return torch.from_numpy(np.stack([base[:, (frames - 1 - k) * step:(frames - 1 - k) * step + size]
                                      for k in range(frames)]))


def test_opencv_flow_of_a_panning_clip_carries_the_noise_one_latent_pixel_a_frame():
    motion = source_motion(shifted_texture())  # content moves right 8 px a frame: 1 latent pixel at 1/8
    noise = flow_noise((4, 4, 16, 16), 0, motion.trajectories(16, 16).ids())
    for k in range(1, 4):
        same = (noise[k, :, 1:-1, k:] == noise[0, :, 1:-1, :16 - k]).all(dim=0).float().mean()
        assert same > 0.9, (k, same)


def test_a_nan_from_the_flow_model_is_refused_naming_the_input():
    def broken(first, second):
        flow = np.zeros((*first.shape[:2], 2), np.float32)
        flow[0, 0] = np.nan
        return flow, flow

    with pytest.raises(ValueError, match="optical flow between frames 0 and 1 .*Fix"):
        source_motion(shifted_texture(2), FlowEstimator("broken", broken))


def test_crossings_match_the_trajectories_and_hold_each_trajectory_once_per_frame():
    trajectories = zoom_and_turn(4, 16)
    ids, table = trajectories.ids(), trajectories.table(16, 16)
    for k in range(4):
        for f in range(4):
            found = table[k, :, f]
            hit = found >= 0
            assert torch.equal(ids[f][found[hit]], ids[k][hit])
        assert torch.equal(table[k, :, k], torch.arange(256))
    for f in range(4):
        assert torch.unique(ids[f]).numel() == 256


# --- trajectory attention against a plain-torch reference --------------------------------------------------------

def reference_attention(out: torch.Tensor, dx: int, heads: int, height: int, width: int) -> torch.Tensor:
    """FLATTEN's step written out for content moving ``dx`` tokens a frame to the right: token (k, y, x) lies on one
    trajectory with (f, y, x + (f - k) dx) wherever that is inside the frame; softmax over them of q.k / sqrt(d),
    q = k = v = the outputs, per head."""
    frames, tokens, channels = out.shape
    d = channels // heads
    result = torch.empty_like(out)
    for k in range(frames):
        for y in range(height):
            for x in range(width):
                members = [(f, y * width + x + (f - k) * dx) for f in range(frames)
                           if 0 <= x + (f - k) * dx < width]
                for h in range(heads):
                    q = out[k, y * width + x, h * d:(h + 1) * d]
                    keys = torch.stack([out[f, t, h * d:(h + 1) * d] for f, t in members])
                    weights = torch.softmax(keys @ q / math.sqrt(d), dim=0)
                    result[k, y * width + x, h * d:(h + 1) * d] = weights @ keys
    return result


class _Before:
    """Output patch (or override) before ours: keeps what each call's attention produced."""

    def __init__(self):
        self.last = None

    def __deepcopy__(self, memo):
        return self

    def __call__(self, out, extra_options):
        self.last = out.clone()
        return out


class _After:
    """Output patch after ours: checks each multi-frame call against the reference applied to what _Before kept."""

    def __init__(self, before, dx_of, heads_of, grid_of, image_of):
        self.before, self.dx_of, self.heads_of, self.grid_of, self.image_of = before, dx_of, heads_of, grid_of, image_of
        self.checked, self.worst = 0, 0.0

    def __deepcopy__(self, memo):
        return self

    def __call__(self, out, extra_options):
        frames = out.shape[0] // len(extra_options["cond_or_uncond"])
        start, count = self.image_of(out)
        grid = self.grid_of(count)
        if frames > 1 and grid is not None:
            raw = self.before.last[:, start:start + count]
            want = reference_attention(raw, self.dx_of(grid), self.heads_of(extra_options), *grid)
            got = out[:, start:start + count]
            self.worst = max(self.worst, ((got - want).abs().max() / want.abs().max()).item())
            torch.testing.assert_close(out[:, :start], self.before.last[:, :start], rtol=0, atol=0)
            self.checked += 1
        return out


def test_trajectory_attention_in_the_real_unet_matches_the_reference(tiny):
    frames, side, dx = 3, 16, 4
    trajectories = translation(frames, side, side, dx)
    unet = tiny.model.diffusion_model
    before = _Before()
    after = _After(before, lambda grid: dx * grid[1] // side, lambda o: o["n_heads"],
                   lambda count: trajectories.grid_of(count), lambda out: (0, out.shape[1]))
    patch = CrossFrameAttention(along_flow=True)
    options = {"patches": {"attn1_patch": [patch], "attn1_output_patch": [before, patch.after_attention, after]},
               "cond_or_uncond": [0], TRAJECTORY_KEY: trajectories}
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((frames, 4, side, side), generator=gen)
    context = torch.randn((1, 77, 64), generator=gen).expand(frames, -1, -1)
    with torch.no_grad():
        unet(x, torch.full((frames,), 500.0), context=context, transformer_options=options)
    assert after.checked >= 2 and after.worst < 1e-5


def test_the_model_patcher_route_puts_the_output_step_on_a_unet(tiny):
    model = with_trajectories(tiny, translation(2, 8, 8, 1))
    patches = model.model_options["transformer_options"]["patches"]
    patch = patches["attn1_patch"][-1]
    assert patch.along_flow and patches["attn1_output_patch"][-1].__self__ is patch
    again = with_cross_frame(model, CrossFrameAttention())  # re-patched without the flow: the output step goes
    assert not again.model_options["transformer_options"]["patches"].get("attn1_output_patch")


def test_trajectory_attention_in_the_real_tiny_flux_matches_the_reference():
    from tiny_dit import conditioning, flux_refusal, load_tiny_dit

    if flux_refusal():
        pytest.skip(flux_refusal())
    model = load_tiny_dit("flux-dev")
    frames, side, dx = 3, 16, 4  # latent 16 x 16: Flux tokens 8 x 8 moving 2 a frame
    trajectories = translation(frames, side, side, dx)
    before = _Before()
    heads = model.model.diffusion_model.num_heads
    after = _After(before, lambda grid: dx // 2, lambda o: heads, lambda count: trajectories.grid_of(count, 2),
                   lambda out: (out.shape[1] - 64, 64))
    patch = CrossFrameAttention(along_flow=True)

    def record(func, *args, **kwargs):
        out = func(*args, **kwargs)
        before(out, None)
        return out

    options = {"patches": {"attn1_patch": [patch], "attn1_output_patch": [after]}, "cond_or_uncond": [0],
               TRAJECTORY_KEY: trajectories,
               OVERRIDE_KEY: CrossFrameOverride(patch, record, "Flux", swap=False, image_patch=2)}
    cond = conditioning("flux-dev", 1)
    x = torch.randn((frames, 16, side, side), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.model.apply_model(x, torch.full((frames,), 0.7), c_crossattn=cond[0][0].expand(frames, -1, -1),
                                y=cond[0][1]["pooled_output"].expand(frames, -1), guidance=torch.full((frames,), 3.5),
                                transformer_options=options)
    assert after.checked >= 2 and after.worst < 1e-5



# --- the edits with flow: tiny Instruct-Pix2Pix ------------------------------------------------------------------

@pytest.fixture(scope="module")
def ip2p():
    from tiny_ip2p import tiny_ip2p_patcher

    return tiny_ip2p_patcher(seed=0)


def ip2p_edit(model, latent, sampler="euler_ancestral", seed=5, steps=3, **kw):
    from t2vz.motion.instruct_pix2pix import edit_video
    from t2vz.motion.video_edit import edit_sigmas
    from tiny_models import conditioning

    sigmas = edit_sigmas(model, steps, sampler, "normal")
    return edit_video(model, conditioning(1), conditioning(2), latent, seed, sigmas, sampler_name=sampler, **kw)


def test_flow_modes_on_a_still_source_are_the_shared_edit(ip2p):
    """A still clip has no motion to follow: flow noise is the shared noise (every step's too), and attention along
    trajectories that stay put, over frames that are equal, changes nothing."""
    still = shifted_texture(4, 64, 0)
    latent = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(1)).repeat(4, 1, 1, 1)
    shared = ip2p_edit(ip2p, latent, noise_mode="shared")
    followed = ip2p_edit(ip2p, latent, noise_mode="flow", motion=source_motion(still), along_flow=True)
    assert_close_rel(followed, shared)


@pytest.mark.parametrize("sampler", ["euler_ancestral", "dpmpp_2m_sde"])
def test_flow_noise_in_parts_gives_the_whole_edit(ip2p, sampler):
    """Parts (motion/parts.py) draw the whole video's flow noise, x_T and every step's, and take their rows: the parts
    put together are the whole edit."""
    from t2vz.motion.parts import video_part

    motion = source_motion(shifted_texture(7, 64, 8))
    latent = torch.randn((7, 4, 8, 8), generator=torch.Generator().manual_seed(3))
    whole = ip2p_edit(ip2p, latent, sampler, noise_mode="flow", motion=motion)
    parts = []
    for index in range(3):
        part = video_part(7, index, 3)
        parts.append(ip2p_edit(ip2p, latent[part.rows], sampler, noise_mode="flow", motion=motion, part=part,
                               frames_per_chunk=2))
    assert_close_rel(torch.cat(parts), whole)
    assert not torch.allclose(whole, ip2p_edit(ip2p, latent, sampler, noise_mode="shared"), atol=1e-3)


def test_flow_noise_follows_the_source_in_the_edit(ip2p):
    """The x_T the edit starts from is the source's motion applied to frame 0's noise: recorded at the first model
    call, frame 2 is frame 0 moved two latent pixels right (the source pans 8 px a frame)."""
    import comfy.patcher_extension as pe

    seen = []

    def first_call(executor, x, *args, **kwargs):
        seen.append(x.detach().clone())
        return executor(x, *args, **kwargs)

    model = ip2p.clone()
    model.add_wrapper_with_key(pe.WrappersMP.DIFFUSION_MODEL, "test-first-call", first_call)
    latent = torch.randn((4, 4, 8, 8), generator=torch.Generator().manual_seed(3))
    ip2p_edit(model, latent, "euler", noise_mode="flow", motion=source_motion(shifted_texture(4, 64, 8)), steps=1)
    x = seen[0][:4, :4]  # the first guidance chunk's noisy latents (the frame is concatenated after them)
    same = (x[2, :, 1:-1, 2:] == x[0, :, 1:-1, :-2]).all(dim=0).float().mean()
    assert same > 0.9


def test_attention_along_the_flow_changes_the_edit_and_chunks_stay_close(ip2p):
    """Trajectory attention reaches the edit (the result moves away from frame-0 attention alone). Frame chunks
    see only their own frames' trajectories (besides frame 0's keys): documented as not exact; on the tiny model the
    frames stay within the bound written here."""
    motion = source_motion(shifted_texture(6, 64, 8))
    latent = torch.randn((6, 4, 8, 8), generator=torch.Generator().manual_seed(4))
    plain = ip2p_edit(ip2p, latent, "euler", noise_mode="flow", motion=motion)
    along = ip2p_edit(ip2p, latent, "euler", noise_mode="flow", motion=motion, along_flow=True)
    chunked = ip2p_edit(ip2p, latent, "euler", noise_mode="flow", motion=motion, along_flow=True, frames_per_chunk=2)
    scale = along.abs().max()
    assert (along - plain).abs().max() / scale > 1e-3
    assert (chunked - along).abs().max() / scale < 0.5


def test_an_edit_with_flow_needs_a_flow_of_its_length(ip2p):
    latent = torch.randn((4, 4, 8, 8))
    with pytest.raises(ValueError, match="frames hold 3 frames but the video has 4.*Fix"):
        ip2p_edit(ip2p, latent, noise_mode="flow", motion=source_motion(shifted_texture(3, 64, 8)))
    with pytest.raises(ValueError, match="need the optical flow of frames.*Fix"):
        ip2p_edit(ip2p, latent, noise_mode="shared", along_flow=True)


def test_trajectory_attention_in_blocks_equals_one_block(monkeypatch):
    """The working memory bound (blocks of tokens) does not change the result."""
    import t2vz.attention.trajectory as trajectory

    trajectories = zoom_and_turn(4, 12)
    out = torch.randn((4, 144, 16), generator=torch.Generator().manual_seed(0))
    whole = trajectory.trajectory_attention(out, trajectories.table(12, 12), [0, 1, 2, 3], 2)
    monkeypatch.setattr(trajectory, "TRAJECTORY_BLOCK_BYTES", 4 * 16 * 8 * 5)  # five tokens a block
    blocked = trajectory.trajectory_attention(out, trajectories.table(12, 12), [0, 1, 2, 3], 2)
    torch.testing.assert_close(blocked, whole, rtol=0, atol=0)


def test_the_memory_check_counts_trajectory_attention():
    """On a DiT the memory check before sampling adds what trajectory attention needs to every call."""
    from tiny_dit import flux_refusal, load_tiny_dit
    from t2vz.attention.chunking import estimate_video_memory
    from t2vz.attention.trajectory import TRAJECTORY_BLOCK_BYTES

    if flux_refusal():
        pytest.skip(flux_refusal())
    model = load_tiny_dit("flux-dev")
    plain = with_cross_frame(model, CrossFrameAttention())
    along = with_trajectories(model, translation(4, 16, 16, 2))
    shape, tokens = (4, 16, 16, 16), [8]
    extra = estimate_video_memory(along, shape, tokens).whole - estimate_video_memory(plain, shape, tokens).whole
    assert extra >= TRAJECTORY_BLOCK_BYTES + 4 * 64 * 4 * 8


# --- the nodes: in-process input checks, and the real server --------------------------------------------------------

def test_the_edit_node_refuses_nan_frames_when_it_needs_their_flow(ip2p):
    from t2vz.nodes.ip2p_video import InstructPix2PixVideo
    from tiny_ip2p import tiny_vae
    from tiny_models import conditioning

    frames = shifted_texture(3, 64, 8)
    frames[1, 5, 5, 0] = float("nan")
    with pytest.raises(ValueError, match="frames frame 1 holds NaN.*Fix"):
        InstructPix2PixVideo.execute(ip2p, conditioning(1), conditioning(2), tiny_vae(), frames, 1.0, 7.5, 0, 2,
                                     "euler", "normal", "flow", 0, 0, -1, 1)


class ClaimedPan(torch.nn.Module):
    """Stands in for core's RAFT in an OPTICAL_FLOW (no weights here): whatever the frames, their content moves ``dx``
    px right a frame. Returns as RAFT does: a list of refinements, the last the answer, for forward and backward."""

    def __init__(self, dx: float):
        super().__init__()
        self.dx = dx
        self.scale = torch.nn.Parameter(torch.ones(()))  # a parameter, so the loader's device/dtype logic sees one
        self.calls = 0

    def forward(self, first, second):
        self.calls += 1
        flow = torch.zeros((first.shape[0], 2, *first.shape[2:]))
        flow[0, 0], flow[1, 0] = self.dx, -self.dx
        return [flow * self.scale]


def test_the_edit_node_takes_its_flow_from_a_linked_optical_flow_model(ip2p):
    """A still clip, which OpenCV's flow finds still (the shared edit), edited with a linked flow model that claims a
    pan: the edit follows the model's flow, one call per pair of frames."""
    import comfy.model_management
    import comfy.model_patcher

    from t2vz.nodes.ip2p_video import InstructPix2PixVideo
    from tiny_ip2p import tiny_vae
    from tiny_models import conditioning

    args = (ip2p, conditioning(1), conditioning(2), tiny_vae(), shifted_texture(3, 64, 0), 1.0, 7.5, 0, 2, "euler",
            "normal")

    def edited(noise_mode, **kw):
        return InstructPix2PixVideo.execute(*args, noise_mode, 0, 0, -1, 1, **kw).args[0]["samples"]

    raft = ClaimedPan(8.0)
    patcher = comfy.model_patcher.ModelPatcher(raft, load_device=comfy.model_management.get_torch_device(),
                                               offload_device=comfy.model_management.unet_offload_device())
    shared = edited("shared")
    assert_close_rel(edited("flow"), shared)
    linked = edited("flow", optical_flow=patcher)
    assert raft.calls == 2
    assert (linked[1:] - shared[1:]).abs().max() > 0.1
    assert_close_rel(linked[:1], shared[:1])  # frame 0 is where the pan starts


@pytest.fixture(scope="module")
def ip2p_checkpoint():
    from tiny_ip2p import tiny_ip2p_checkpoint

    return tiny_ip2p_checkpoint()


def test_the_edit_node_follows_the_flow_in_a_server_prompt(ip2p_checkpoint, comfy_server):
    from test_ip2p import ip2p_prompt

    prompt = ip2p_prompt(frames=3)
    prompt["5"]["inputs"].update({"noise_mode": "flow", "attention_along_flow": True})
    images = comfy_server.run(prompt)["outputs"]["6"]["images"]
    assert len(images) == 3


def test_a_flow_of_another_length_is_answered_by_name_and_the_server_keeps_running(comfy_server):
    from comfy_server import PromptError
    from prompts import text_to_video

    prompt = text_to_video(frames=4, steps=2, noise_mode="flow")
    prompt["8"] = {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 3, "color": 0}}
    prompt["5"]["inputs"]["flow_frames"] = ["8", 0]
    with pytest.raises(PromptError) as err:
        comfy_server.run(prompt)
    assert "flow_frames hold 3 frames but the video has 4" in str(err.value) and "Fix" in str(err.value)
    without = text_to_video(frames=4, steps=2, noise_mode="flow")
    with pytest.raises(PromptError) as err:
        comfy_server.run(without)
    assert "flow_frames" in str(err.value) and "Fix" in str(err.value)
    assert comfy_server.alive()
    prompt["8"]["inputs"]["batch_size"] = 4
    prompt["5"]["inputs"]["attention_along_flow"] = True
    assert len(comfy_server.run(prompt)["outputs"]["7"]["images"]) == 4


def test_attention_along_the_flow_reaches_sd3_through_the_override():
    """SD3 (the override route): the trajectory step runs on the joint call's image tokens (the last ones) and
    changes the video; a family that mixes image and text tokens otherwise is refused by name."""
    from t2vz.motion import sample_video
    from tiny_dit import conditioning, load_tiny_dit

    model = load_tiny_dit("sd3")
    flow = source_motion(shifted_texture(3, 64, 8))
    latent = torch.zeros((3, 16, 8, 8))

    def run(along):
        return sample_video(model, conditioning("sd3", 1), conditioning("sd3", 2), latent, 3, 3, 2.0, "euler",
                            "simple", noise_mode="flow", flow=flow, along_flow=along)

    plain, along = run(False), run(True)
    assert torch.isfinite(along).all()
    assert (along - plain).abs().max() / plain.abs().max() > 1e-3


def test_families_whose_image_tokens_are_not_last_are_refused_by_name():
    from tiny_dit_families import load_tiny_family, refusal

    if refusal("lumina2"):
        pytest.skip(refusal("lumina2"))
    model = load_tiny_family("lumina2")
    with pytest.raises(ValueError, match="Lumina 2 and Z-Image puts its image tokens among the text tokens.*Fix"):
        with_trajectories(model, translation(3, 8, 8, 1))
    with_cross_frame(model, CrossFrameAttention())  # frame-0 attention alone is still fine there
