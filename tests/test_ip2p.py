"""Video Instruct-Pix2Pix: three-way guidance, cross-frame attention over three chunks, shared/independent noise,
chunked memory, the node's input handling, parity with diffusers' pipeline, and the node in the real server.

Models: tiny random-weight IP2P UNets (tests/tiny_ip2p.py), in-process or loaded from a checkpoint file by the real
CheckpointLoaderSimple."""
from __future__ import annotations

import logging

import pytest
import torch

from t2vz.attention import CrossFrameAttention, with_cross_frame
from t2vz.motion.instruct_pix2pix import edit_video, ip2p_guider
from t2vz.motion.video_edit import edit_sigmas, fit_frames, select_frames
from t2vz.motion.noise import frame_shared_sampler, shared_noise_sampler
from t2vz.motion.sampler import video_model
from t2vz.motion.vae import decode_frames, encode_frames
from checks import assert_close_rel
from tiny_ip2p import IP2P_CHECKPOINT_NAME, moving_square_frames, tiny_ip2p_checkpoint, tiny_ip2p_patcher, tiny_vae
from tiny_models import conditioning, tiny_unet_patcher

POS, NEG = conditioning(1), conditioning(2)
SD15_SCALE = 0.18215  # SD1.5's latent format: LATENT = model space / 0.18215


def image_latents(frames=4, h=8, w=8, seed=0, same=False):
    generator = torch.Generator().manual_seed(seed)
    if same:
        return torch.randn((1, 4, h, w), generator=generator).repeat(frames, 1, 1, 1)
    return torch.randn((frames, 4, h, w), generator=generator)


@pytest.fixture(scope="module")
def tiny():
    return tiny_ip2p_patcher(seed=0)


def edit(model, latent, steps=4, sampler="euler_ancestral", scheduler="normal", seed=5, **kw):
    return edit_video(model, POS, NEG, latent, seed, edit_sigmas(model, steps, sampler, scheduler),
                      sampler_name=sampler, **kw)


class UNetCalls:
    """DIFFUSION_MODEL wrapper recording every UNet call's input (the batch the UNet really runs)."""

    def __init__(self):
        self.inputs = []

    def __call__(self, executor, x, *args, **kwargs):
        self.inputs.append(x.detach().clone())
        return executor(x, *args, **kwargs)

    def attach(self, model):
        import comfy.patcher_extension as pe

        model = model.clone()
        model.add_wrapper_with_key(pe.WrappersMP.DIFFUSION_MODEL, "test-unet-calls", self)
        return model


# --- guidance -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text_guidance,image_guidance", [(7.5, 1.5), (3.0, 0.0), (7.5, 1.0), (2.0, 2.0)])
def test_guidance_equals_the_formula_on_three_direct_predictions(tiny, text_guidance, image_guidance):
    """One Euler step to sigma 0 returns the guided prediction itself: it must equal
    u + s_T (txt - img) + s_I (img - u) of three separate UNet calls (txt: instruction + frame, img: negative +
    frame, u: negative + zero latent), each with cross-frame attention."""
    frames, seed = 3, 11
    latent = image_latents(frames)
    sampling = tiny.get_model_object("model_sampling")
    sigma = float(sampling.percent_to_sigma(0.4))
    sigmas = torch.tensor([sigma, 0.0])
    ours = edit_video(tiny, POS, NEG, latent, seed, sigmas, sampler_name="euler", text_guidance=text_guidance,
                      image_guidance=image_guidance, noise_mode="independent")

    noise = torch.randn(latent.shape, generator=torch.Generator().manual_seed(seed))
    x = noise * sigma  # the start below sigma_max: noise * sigma (an empty latent is not shifted)
    options = {"patches": {"attn1_patch": [CrossFrameAttention()]}, "cond_or_uncond": [0]}
    t = torch.full((frames,), sigma)

    def predict(text, image):
        with torch.no_grad():
            return tiny.model.apply_model(x, t, c_concat=image, c_crossattn=text[0][0].repeat(frames, 1, 1),
                                          transformer_options=options)

    txt, img, unc = predict(POS, latent), predict(NEG, latent), predict(NEG, torch.zeros_like(latent))
    expected = unc + text_guidance * (txt - img) + image_guidance * (img - unc)
    assert_close_rel(ours * SD15_SCALE, expected)
    assert (txt - img).abs().max() > 1e-2 and (img - unc).abs().max() > 1e-2  # all three really differ


def test_a_zero_weight_prediction_is_skipped_exactly(tiny):
    """image_guidance 1 (the default) drops eps_u from the formula: two predictions per step instead of three, the
    same result as computing all three (ComfyUI's disable_cfg1_optimization forces them)."""
    latent = image_latents(3)
    fast_calls, full_calls = UNetCalls(), UNetCalls()
    fast = edit(fast_calls.attach(tiny), latent, steps=3, image_guidance=1.0)
    forced = full_calls.attach(tiny)
    forced.model_options["disable_cfg1_optimization"] = True
    full = edit(forced, latent, steps=3, image_guidance=1.0)
    assert {x.shape[0] for x in fast_calls.inputs} == {2 * 3}
    assert {x.shape[0] for x in full_calls.inputs} == {3 * 3}
    assert_close_rel(fast, full)


# --- cross-frame attention over the three chunks ----------------------------------------------------------------------

class AttentionProbe:
    """attn1 patch placed after the cross-frame patch: records what each self-attention really attends to."""

    def __init__(self):
        self.calls = []

    def __call__(self, n, context, value, extra_options):
        self.calls.append((list(extra_options["cond_or_uncond"]), context.detach().clone()))
        return n, context, value


def test_cross_frame_attention_anchors_each_of_the_three_chunks_on_its_own_frame_zero(tiny):
    frames = 4
    probe = AttentionProbe()
    model = with_cross_frame(tiny, CrossFrameAttention()).clone()
    model.set_model_attn1_patch(probe)
    edit(model, image_latents(frames), steps=2, image_guidance=1.5)
    assert probe.calls
    for chunks, context in probe.calls:
        assert sorted(chunks) == [0, 1, 2]  # instruction+frame, negative+frame, negative+no frame in one batch
        per_chunk = context.reshape(3, frames, *context.shape[1:])
        for c in range(3):
            for k in range(frames):
                assert torch.equal(per_chunk[c, k], per_chunk[c, 0])  # frame k attends to its chunk's frame 0
        assert not torch.equal(per_chunk[0, 0], per_chunk[2, 0])  # ... not to another chunk's


# --- noise ----------------------------------------------------------------------------------------------------------

def test_shared_noise_sampler_repeats_a_single_image_draw():
    import comfy.k_diffusion.sampling as kd

    shape, seed = (5, 4, 6, 7), 9
    ours = shared_noise_sampler(shape, seed)
    single = kd.default_noise_sampler(torch.zeros((1, *shape[1:])), seed=seed)
    for sigma, sigma_next in [(14.6, 10.0), (10.0, 3.0), (3.0, 0.5)]:
        draw, expected = ours(sigma, sigma_next), single(sigma, sigma_next)
        assert draw.shape == shape
        assert torch.equal(draw, expected.expand(shape))


def test_shared_brownian_noise_repeats_a_single_image_tree():
    import comfy.k_diffusion.sampling as kd

    shape, seed = (3, 4, 5, 5), 4
    sigmas = torch.tensor([14.5, 6.0, 2.0, 0.5, 0.0])
    ours = shared_noise_sampler(shape, seed, sigmas=sigmas, brownian=True)
    single = kd.BrownianTreeNoiseSampler(torch.zeros((1, *shape[1:])), torch.tensor(0.5), torch.tensor(14.5),
                                         seed=seed, cpu=True)
    for a, b in [(14.5, 6.0), (6.0, 4.0), (4.0, 2.0)]:
        assert torch.allclose(ours(torch.tensor(a), torch.tensor(b)), single(torch.tensor(a), torch.tensor(b)))


def test_deterministic_samplers_come_back_unchanged():
    import comfy.samplers

    for name in ("euler", "ddim", "dpmpp_2m", "uni_pc", "dpm_fast"):
        ours, stock = frame_shared_sampler(name), comfy.samplers.sampler_object(name)
        assert type(ours) is type(stock)
        assert ours.sampler_function.__qualname__ == stock.sampler_function.__qualname__


def test_shared_mode_gives_every_frame_the_same_x_T(tiny):
    frames, seed = 4, 3
    calls = UNetCalls()
    edit(calls.attach(tiny), image_latents(frames), steps=2, seed=seed, image_guidance=1.5)
    x_t = calls.inputs[0][:frames, :4]  # first chunk's noisy latents (channels 4..7 are the frames' latents)
    for k in range(1, frames):
        assert torch.equal(x_t[k], x_t[0])
    single = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(x_t[0], single[0], rtol=1e-5, atol=1e-5)  # at sigma_max the UNet input is the noise


@pytest.mark.parametrize("sampler", ["euler_ancestral", "dpmpp_2m_sde", "dpmpp_sde"])
def test_shared_mode_keeps_identical_frames_identical_through_stochastic_samplers(tiny, sampler):
    """Same input frames + shared noise: the frames must stay identical through every step, i.e. the ancestral/SDE
    noise is the same per frame, and each equals a one-frame run. ComfyUI's own sampler draws per-frame noise there:
    its frames differ by percents, ours by float rounding (~1e-6)."""
    import comfy.samplers

    frames, seed, steps = 3, 21, 4
    latent = image_latents(frames, same=True)
    video = edit(tiny, latent, steps=steps, sampler=sampler, seed=seed, image_guidance=1.5)
    for k in range(1, frames):
        assert_close_rel(video[k], video[0])  # float rounding only: rows of one batch need not round alike
    one = edit(tiny, latent[:1], steps=steps, sampler=sampler, seed=seed, image_guidance=1.5)
    assert_close_rel(video[:1], one)

    # the same shared x_T with ComfyUI's stock sampler: its per-step noise makes the frames drift apart
    sigmas = edit_sigmas(tiny, steps, sampler, "normal")
    guider = ip2p_guider(video_model(tiny), POS, NEG, latent, 7.5, 1.5)
    x_t = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(seed)).expand(frames, -1, -1, -1)
    stock = guider.sample(x_t.clone(), torch.zeros_like(latent), comfy.samplers.sampler_object(sampler), sigmas,
                          disable_pbar=True, seed=seed)
    assert (stock[1] - stock[0]).abs().max() > 1e-2 * stock.abs().max()


def test_independent_mode_is_comfyui_per_frame_noise(tiny):
    """independent = the reference's recipe: each frame its own x_T (KSampler's draw for the batch) and fresh
    per-frame noise at each ancestral step (ComfyUI's default noise sampler), exactly a stock sampling run."""
    import comfy.sample
    import comfy.samplers

    frames, seed, steps = 3, 8, 4
    latent = image_latents(frames, same=True)
    video = edit(tiny, latent, steps=steps, seed=seed, noise_mode="independent", image_guidance=1.5)
    assert (video[1] - video[0]).abs().max() > 1e-2 * video.abs().max()  # identical inputs, different frames

    sigmas = edit_sigmas(tiny, steps, "euler_ancestral", "normal")
    guider = ip2p_guider(video_model(tiny), POS, NEG, latent, 7.5, 1.5)
    empty = torch.zeros_like(latent)
    stock = guider.sample(comfy.sample.prepare_noise(empty, seed), empty,
                          comfy.samplers.sampler_object("euler_ancestral"), sigmas, disable_pbar=True, seed=seed)
    assert torch.equal(video, stock)


# --- chunked memory -------------------------------------------------------------------------------------------------

def test_40_frames_in_chunks_of_8_run_in_bounded_unet_batches(tiny):
    frames = 40
    latent = image_latents(frames, seed=4)
    chunked_calls, whole_calls = UNetCalls(), UNetCalls()
    chunked = edit(chunked_calls.attach(tiny), latent, steps=3, image_guidance=1.5, frames_per_chunk=8)
    whole = edit(whole_calls.attach(tiny), latent, steps=3, image_guidance=1.5)
    assert max(x.shape[0] for x in chunked_calls.inputs) == 3 * 8  # 3 predictions x 8 frames, whatever the length
    assert max(x.shape[0] for x in whole_calls.inputs) == 3 * frames
    assert len(chunked_calls.inputs) == 3 * (frames // 8)  # 3 steps x 5 chunks
    assert_close_rel(chunked, whole)


# --- errors and inputs ----------------------------------------------------------------------------------------------

def test_a_model_that_is_not_instruct_pix2pix_is_refused_with_the_checkpoint_to_use():
    sd15 = tiny_unet_patcher(seed=0)
    with pytest.raises(ValueError, match="instruct-pix2pix-00-22000.safetensors") as err:
        edit(sd15, image_latents(2), steps=2)
    assert "8 input channels" in str(err.value) and "takes 4 input channels" in str(err.value)
    assert "Fix" in str(err.value)


def test_unknown_noise_mode_is_refused(tiny):
    with pytest.raises(ValueError, match="noise_mode"):
        edit(tiny, image_latents(2), steps=2, noise_mode="motion")


def test_frame_selection():
    video = torch.arange(10, dtype=torch.float32).reshape(10, 1, 1, 1).expand(10, 8, 8, 3)
    picked = lambda *a: select_frames(video, *a)[:, 0, 0, 0].tolist()  # noqa: E731
    assert picked(0, -1, 1) == list(range(10))
    assert picked(2, 7, 2) == [2, 4, 6]
    assert picked(3, 3, 1) == [3]
    assert picked(1, 99, 4) == [1, 5, 9]  # end past the video: clamped
    for args, needle in [((10, -1, 1), "start_frame"), ((5, 3, 1), "end_frame"), ((0, -1, 0), "every_nth")]:
        with pytest.raises(ValueError, match=needle):
            select_frames(video, *args)


def test_sizes_not_a_multiple_of_8_are_resized_with_a_warning(caplog):
    frames = moving_square_frames(2, 62, 42)
    with caplog.at_level(logging.WARNING, logger="t2v-zero"):
        fitted = fit_frames(frames)
    assert fitted.shape == (2, 64, 40, 3)
    assert "not a multiple of 8" in caplog.text and "40x64" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="t2v-zero"):
        assert fit_frames(fitted) is fitted
    assert not caplog.text


def test_the_node_edits_selected_frames_end_to_end(tiny, caplog):
    """The node in-process: selection, resize (with the warning), VAE in chunks, sampling, decode, frame rate."""
    from t2vz.nodes.ip2p_video import InstructPix2PixVideo

    vae = tiny_vae()
    frames = moving_square_frames(7, 30, 50)
    with caplog.at_level(logging.WARNING, logger="t2v-zero"):
        out = InstructPix2PixVideo.execute(tiny, POS, NEG, vae, frames, 1.0, 7.5, 0, 3, "euler_ancestral", "normal",
                                           "shared", 2, 1, 6, 2, frame_rate=24.0)
    latent, images, rate = out.args
    assert latent["samples"].shape == (3, 4, 4, 6)  # frames 1, 3, 5; 30x50 -> 32x48 pixels
    assert images.shape == (3, 32, 48, 3) and torch.isfinite(images).all()
    assert rate == 12.0
    assert "not a multiple of 8" in caplog.text


def test_vae_chunks_equal_one_call():
    vae = tiny_vae()
    frames = moving_square_frames(5, 32, 32)
    latents = encode_frames(vae, frames, 2)
    assert_close_rel(latents, encode_frames(vae, frames, 16))
    assert_close_rel(decode_frames(vae, latents, 2), decode_frames(vae, latents, 16))


def test_progress_counts_steps_and_cancel_stops_within_one(tiny):
    import comfy.model_management as mm

    seen = []
    edit(tiny, image_latents(2), steps=5, progress=lambda done, total, x0: seen.append((done, total)))
    assert seen == [(k, 5) for k in range(1, 6)]

    stopped = []

    def progress(done, total, x0):
        stopped.append(done)
        if done == 2:
            mm.interrupt_current_processing(True)

    try:
        with pytest.raises(mm.InterruptProcessingException):
            edit(tiny, image_latents(2), steps=8, progress=progress)
    finally:
        mm.interrupt_current_processing(False)
    assert max(stopped) == 2


# --- parity with diffusers' StableDiffusionInstructPix2PixPipeline --------------------------------------------------

def _reference_pipeline(tiny, scheduler):
    from diffusers import AutoencoderKL, StableDiffusionInstructPix2PixPipeline
    from reference import reference_module

    from tiny_models import diffusers_unet

    unet = diffusers_unet(tiny)
    unet.set_attn_processor(reference_module().CrossFrameAttnProcessor2_0(batch_size=3))  # the reference's recipe for video IP2P
    # The VAE is never run (the image goes in as latents); the pipeline reads only its config.
    vae = AutoencoderKL(block_out_channels=(32, 32, 32, 32), down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=1)
    pipe = StableDiffusionInstructPix2PixPipeline(vae=vae, text_encoder=None, tokenizer=None, unet=unet,
                                                  scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                                  requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_parity_with_the_diffusers_pipeline(tiny):
    """Same weights, frames, noise, schedule: ours (ComfyUI's euler + normal scheduler, our guider and cross-frame
    patch) against diffusers' Instruct-Pix2Pix pipeline with the reference's CrossFrameAttnProcessor(batch_size=3),
    after one guidance step and after all 10.

    Euler (not the reference's euler_ancestral) because ComfyUI and diffusers draw ancestral noise from different
    streams; the guidance, conditioning and attention are what is compared. 10 steps with "linspace" spacing put every
    timestep on an integer (999, 888, ..., 0), where ComfyUI's log-sigma and diffusers' linear sigma interpolation
    agree, so the tolerance is float rounding: 1e-5 of the largest value (measured 2.3e-6 after one step, 2.5e-6
    after ten; the attention kernels differ: ComfyUI's sub-quadratic CPU kernel vs. SDPA)."""
    from diffusers import EulerDiscreteScheduler

    frames, h, w, seed, s_t, s_i, steps = 3, 8, 12, 17, 7.5, 1.5, 10
    scheduler = EulerDiscreteScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                                       beta_schedule="scaled_linear", timestep_spacing="linspace")
    scheduler.set_timesteps(steps)
    sigmas = scheduler.sigmas.clone().float()
    assert torch.equal(scheduler.timesteps, torch.round(scheduler.timesteps))
    torch.testing.assert_close(sigmas, edit_sigmas(tiny, steps, "euler", "normal"), rtol=1e-5, atol=1e-6)
    image = image_latents(frames, h, w, seed=2)

    noise = torch.randn((frames, 4, h, w), generator=torch.Generator().manual_seed(seed))
    x_t = noise * (1 + float(sigmas[0]) ** 2) ** 0.5  # ComfyUI's start at sigma_max
    pipe = _reference_pipeline(tiny, scheduler)
    captured = {}

    def on_step_end(pipeline, i, t, kwargs):
        captured[i + 1] = kwargs["latents"].clone()
        return kwargs

    with torch.no_grad():
        pipe(prompt_embeds=POS[0][0].repeat(frames, 1, 1), negative_prompt_embeds=NEG[0][0].repeat(frames, 1, 1),
             image=image, num_inference_steps=steps, guidance_scale=s_t, image_guidance_scale=s_i,
             latents=x_t / scheduler.init_noise_sigma, output_type="latent", callback_on_step_end=on_step_end)
    for done in (1, steps):
        ours = edit_video(tiny, POS, NEG, image, seed, sigmas[:done + 1], sampler_name="euler",
                          text_guidance=s_t, image_guidance=s_i, noise_mode="independent")
        assert_close_rel(ours, captured[done] / SD15_SCALE)


# --- the node in the real server ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ip2p_checkpoint():
    return tiny_ip2p_checkpoint()


def ip2p_prompt(checkpoint=IP2P_CHECKPOINT_NAME, frames=3, size=64, chunk=2):
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "make it snowy", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyImage", "inputs": {"width": size, "height": size, "batch_size": frames,
                                                      "color": 0x4080c0}},
        "5": {"class_type": "InstructPix2PixVideo", "inputs": {
            "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "vae": ["1", 2], "frames": ["4", 0],
            "image_guidance": 1.5, "text_guidance": 7.5, "seed": 1, "steps": 3, "sampler_name": "euler_ancestral",
            "scheduler": "normal", "noise_mode": "shared", "frames_per_chunk": chunk, "start_frame": 0,
            "end_frame": -1, "every_nth": 1, "frame_rate": 8.0}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 1], "filename_prefix": "t2vz_ip2p"}},
    }


def test_node_runs_in_a_server_prompt(ip2p_checkpoint, comfy_server):
    entry = comfy_server.run(ip2p_prompt())
    images = entry["outputs"]["6"]["images"]
    assert len(images) == 3
    for image in images:
        assert (comfy_server.output_dir / image.get("subfolder", "") / image["filename"]).stat().st_size > 0


def test_server_answers_a_non_ip2p_checkpoint_and_keeps_running(ip2p_checkpoint, comfy_server):
    from comfy_server import PromptError

    with pytest.raises(PromptError) as err:
        comfy_server.run(ip2p_prompt(checkpoint="t2vz-tiny-sd15.safetensors"))
    assert "instruct-pix2pix-00-22000.safetensors" in str(err.value) and "Fix" in str(err.value)
    assert comfy_server.alive()
    assert len(comfy_server.run(ip2p_prompt(frames=2))["outputs"]["6"]["images"]) == 2


# --- the shipped workflow -------------------------------------------------------------------------------------------

def _workflow_api():
    import sys
    from pathlib import Path

    scripts = str(Path(__file__).resolve().parents[1] / "scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    import workflow_api

    return workflow_api


def test_workflow_has_the_reference_recipe_and_the_source_frame_rate(comfy_server):
    import json
    from pathlib import Path

    api = _workflow_api()
    path = Path(__file__).resolve().parents[1] / "workflows" / "video-instruct-pix2pix.json"
    prompt = api.to_api(json.loads(path.read_text()), comfy_server.get("/object_info"))
    by_type = {node["class_type"]: (nid, node["inputs"]) for nid, node in prompt.items()}
    assert by_type["CheckpointLoaderSimple"][1]["ckpt_name"] == "instruct-pix2pix-00-22000.safetensors"
    assert by_type["ImageScaleToMaxDimension"][1]["largest_size"] == 512
    edit_id, edit_inputs = by_type["InstructPix2PixVideo"]
    assert {k: edit_inputs[k] for k in ("image_guidance", "text_guidance", "steps", "sampler_name", "scheduler",
                                        "noise_mode", "frames_per_chunk", "start_frame", "end_frame", "every_nth")} == {
        "image_guidance": 1.0, "text_guidance": 7.5, "steps": 50, "sampler_name": "euler_ancestral",
        "scheduler": "normal", "noise_mode": "shared", "frames_per_chunk": 8, "start_frame": 0, "end_frame": -1,
        "every_nth": 1}
    components_id = by_type["GetVideoComponents"][0]
    assert edit_inputs["frame_rate"] == [components_id, 2]  # the source's fps ...
    assert by_type["FramesToVideo"][1]["frame_rate"] == [edit_id, 2]  # ... through the node to the video
    assert by_type["FramesToVideo"][1]["images"] == [edit_id, 1]


def test_substitute_gives_the_ip2p_loader_its_checkpoint_and_picks_frames():
    api = _workflow_api()
    prompt = {"9": {"class_type": "InstructPix2PixVideo", "inputs": {"model": ["2", 0], "start_frame": 1,
                                                                     "every_nth": 2, "frames_per_chunk": 8}},
              "2": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "ip2p.safetensors"}},
              "3": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
              "4": {"class_type": "LoadVideo", "inputs": {"file": "video.mp4"}}}
    small = api.substitute(prompt, checkpoint="tiny.safetensors", frames=4, video="clip.mp4",
                           ip2p_checkpoint="tiny-ip2p.safetensors")
    assert small["2"]["inputs"]["ckpt_name"] == "tiny-ip2p.safetensors"  # whatever the order of the nodes
    assert small["3"]["inputs"]["ckpt_name"] == "tiny.safetensors"
    assert small["9"]["inputs"]["end_frame"] == 1 + 3 * 2 and small["9"]["inputs"]["frames_per_chunk"] == 2
    assert small["4"]["inputs"]["file"] == "clip.mp4"


@pytest.mark.parametrize("noise_mode,sampler", [("shared", "euler_ancestral"), ("independent", "euler_ancestral"),
                                                ("independent", "dpmpp_2m_sde")])
def test_parts_equal_the_whole_edit(tiny, noise_mode, sampler):
    """Video Instruct-Pix2Pix in parts (motion/parts.py): each part holds frame 0 (the anchor) and its own frames and
    gets the whole edit's noise; the parts put together are the whole edit."""
    from t2vz.motion.parts import video_part

    latent = image_latents(frames=7, seed=3)
    whole = edit(tiny, latent, noise_mode=noise_mode, sampler=sampler, frames_per_chunk=0)
    parts = []
    for index in range(3):
        part = video_part(7, index, 3)
        parts.append(edit(tiny, latent[part.rows], noise_mode=noise_mode, sampler=sampler, frames_per_chunk=2,
                          part=part))
    assert_close_rel(torch.cat(parts), whole)
