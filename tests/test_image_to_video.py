"""Image-to-video: MotionLatentSampler's first_frame / first_frame_strength (tiny model, real ComfyUI sampling)."""
from __future__ import annotations

import logging

import pytest
import torch

from t2vz.motion import initial_noise, phases, sample_video
from t2vz.motion.first_frame import held_steps
from tiny_models import conditioning

POS, NEG = conditioning(1), conditioning(2)


def image(h=8, w=8, seed=3):
    return torch.randn((1, 4, h, w), generator=torch.Generator().manual_seed(seed)) * 2


def i2v(model, first_frame, frames=4, h=8, w=8, steps=10, **kw):
    sampler, scheduler = kw.pop("sampler_name", "ddim"), kw.pop("scheduler", "ddim_uniform")
    return sample_video(model, POS, NEG, torch.zeros((frames, 4, h, w)), kw.pop("seed", 7), steps,
                        kw.pop("cfg", 6.0), sampler, scheduler, first_frame=first_frame, **kw)


@pytest.mark.parametrize("noise_mode", ["motion", "shared", "independent"])
@pytest.mark.parametrize("sampler,scheduler", [("ddim", "ddim_uniform"), ("euler_ancestral", "normal"),
                                               ("uni_pc", "simple")])
def test_strength_one_keeps_the_image_as_frame_zero(tiny, noise_mode, sampler, scheduler):
    img = image()
    out = i2v(tiny, img, noise_mode=noise_mode, sampler_name=sampler, scheduler=scheduler)
    # Held to the end, frame 0 is the image: the sampler lands on it (within 3e-7 for single-step samplers, 2e-3
    # relative for uni_pc's corrector) and the image is put back exactly, as inpainting does.
    assert torch.equal(out[0], img[0])
    plain = i2v(tiny, None, noise_mode=noise_mode, sampler_name=sampler, scheduler=scheduler)
    assert (out[1:] - plain[1:]).abs().max() > 1e-2  # the other frames depend on the image
    if noise_mode != "shared":
        assert (out[1] - out[0]).abs().max() > 1e-2 and (out[2] - out[1]).abs().max() > 1e-2


def test_frame_zero_follows_the_image_noised_to_each_sigma(tiny):
    """Inside the joint pass the model sees frame 0 as image + sigma * noise, with one and the same noise at every
    step (euler: the noise is frame 0's seed noise, as for text-to-video's x_T)."""
    import comfy.patcher_extension as pe

    img, seen = image(), []

    def spy(executor, x, t, *args, **kwargs):
        seen.append((x[:1].clone(), float(t[0])))
        return executor(x, t, *args, **kwargs)

    model = tiny.clone()
    model.add_wrapper_with_key(pe.WrappersMP.APPLY_MODEL, "test.spy", spy)
    i2v(model, img, frames=3, steps=20, sampler_name="euler", scheduler="normal", cfg=1.0)
    image_in = model.get_model_object("latent_format").process_in(img)
    noise0 = initial_noise((3, 4, 8, 8), 7, "motion")[0]
    joint = seen  # APPLY_MODEL sees sigma itself (the timestep is derived inside)
    # only the joint pass calls the model: the frame-0-only phases need no call while frame 0 is held
    assert len(joint) == 20 - phases(20, 44, 47).joint_start
    for x, sigma in joint:
        torch.testing.assert_close(x, image_in + sigma * noise0, rtol=0, atol=1e-4 * sigma)


def test_lower_strength_lets_frame_zero_change_gradually(tiny):
    """Measure: max |frame 0 - image|. Strength 0 is a fresh frame 0 (img2img with denoise 1); 0.5 changes frame 0
    but stays well inside that distance; 0.8 stays closer still."""
    img = image()
    distance = {s: (i2v(tiny, img, first_frame_strength=s)[0] - img[0]).abs().max().item() for s in (0.0, 0.5, 0.8)}
    assert distance[0.8] > 1e-3
    assert distance[0.8] < distance[0.5] < 0.5 * distance[0.0]


def test_held_steps_is_img2img_denoise():
    assert [held_steps(s, 50) for s in (0.0, 0.3, 0.5, 0.999, 1.0)] == [0, 15, 25, 50, 50]
    with pytest.raises(ValueError, match="first_frame_strength.*Fix"):
        held_steps(1.5, 50)


def test_chunked_image_to_video_equals_unchunked(tiny):
    img = image()
    whole = i2v(tiny, img, frames=7, steps=6)
    chunked = i2v(tiny, img, frames=7, steps=6, frames_per_chunk=3)
    assert ((chunked - whole).abs().max() / whole.abs().max()).item() < 1e-5


def test_progress_reaches_the_total_with_held_steps_skipped(tiny):
    seen = []
    i2v(tiny, image(), frames=3, steps=50, progress=lambda done, total, x0: seen.append((done, total)))
    assert seen[-1] == (53, 53) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_a_first_frame_of_another_size_is_resized_with_a_warning(tiny, caplog):
    import comfy.utils

    big = image(16, 24)
    with caplog.at_level(logging.WARNING, logger="t2v-zero"):
        out = i2v(tiny, big, frames=3, h=8, w=12, steps=4)
    assert "192x128" in caplog.text and "96x64" in caplog.text  # both sizes, in pixels
    resized = comfy.utils.common_upscale(big, 12, 8, "bilinear", "disabled")
    torch.testing.assert_close(out[0], resized[0])


@pytest.mark.parametrize("first_frame,needle", [
    (torch.zeros((2, 4, 8, 8)), "holds 2 latents.*Latent From Batch"),
    (torch.zeros((1, 16, 8, 8)), "16 latent channels"),
    (torch.zeros((4, 8, 8)), "one image"),
    (torch.full((1, 4, 8, 8), float("nan")), "NaN"),
])
def test_bad_first_frames_are_named(tiny, first_frame, needle):
    with pytest.raises(ValueError, match=needle) as err:
        i2v(tiny, first_frame, steps=4)
    assert "first_frame" in str(err.value) and "Fix" in str(err.value)


# --- in the real server -------------------------------------------------------------------------------------------
def _image_to_video_prompt(image_name: str, repeat: int = 1) -> dict:
    from prompts import text_to_video

    prompt = text_to_video(frames=3, width=64, height=64, steps=4)
    prompt["10"] = {"class_type": "LoadImage", "inputs": {"image": image_name}}
    prompt["11"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["1", 2]}}
    prompt["12"] = {"class_type": "RepeatLatentBatch", "inputs": {"samples": ["11", 0], "amount": repeat}}
    prompt["5"]["inputs"].update(first_frame=["12", 0], first_frame_strength=1.0)
    return prompt


def test_server_resizes_another_size_and_refuses_a_batch_and_keeps_running(comfy_server):
    from PIL import Image

    from comfy_server import PromptError

    Image.new("RGB", (96, 80), (200, 40, 40)).save(comfy_server.input_dir / "t2vz-i2v-96x80.png")
    entry = comfy_server.run(_image_to_video_prompt("t2vz-i2v-96x80.png"))
    assert len(entry["outputs"]["7"]["images"]) == 3
    assert "first_frame is 96x80 pixels" in comfy_server.log() and "the video 64x64" in comfy_server.log()
    with pytest.raises(PromptError) as err:
        comfy_server.run(_image_to_video_prompt("t2vz-i2v-96x80.png", repeat=2))
    assert "first_frame holds 2 latents" in str(err.value) and "Latent From Batch" in str(err.value)
    assert comfy_server.alive()
    again = _image_to_video_prompt("t2vz-i2v-96x80.png")
    again["5"]["inputs"]["seed"] = 2  # not a cached result: the server really runs again
    assert len(comfy_server.run(again)["outputs"]["7"]["images"]) == 3
