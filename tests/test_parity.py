"""Parity with the reference, diffusers' TextToVideoZeroPipeline (0.33.1), on the same tiny weights.

ComfyUI's DDIM (sampler ddim, scheduler ddim_uniform) and diffusers' agree to float precision once x_T and the last
step are mapped (see tests/reference.py), so the tolerances here are float tolerances: ~1e-6 relative for single
operations, 1e-5 relative to the largest value for a whole 50-step video (measured: 1.1e-6 to 2.0e-6, float32
rounding accumulated through 53 UNet calls whose attention kernels differ: ComfyUI's sub-quadratic CPU kernel
against diffusers' SDPA).
"""
from __future__ import annotations

import pytest
import torch

from reference import alphas_cumprod, ddim_scheduler, reference_module, reference_pipeline
from tiny_models import conditioning, diffusers_unet


@pytest.mark.parametrize("height,width", [(64, 64), (24, 40), (33, 47), (128, 128)])
@pytest.mark.parametrize("motion", [(12.0, 12.0), (-7.5, 3.0), (0.0, 20.0)])
def test_warp_equals_reference(height, width, motion):
    from t2vz.motion import warp_anchor
    from t2vz.motion.camera import ConstantMotion

    create_motion_field_and_warp_latents = reference_module().create_motion_field_and_warp_latents
    anchor = torch.randn((1, 4, height, width), generator=torch.Generator().manual_seed(height * width))
    ids = list(range(1, 8))
    expected = create_motion_field_and_warp_latents(motion[0], motion[1], ids, anchor.repeat(len(ids), 1, 1, 1))
    ours = warp_anchor(anchor, ids, ConstantMotion(motion[0], motion[1]))
    assert torch.equal(ours, expected)


def test_renoise_equals_reference_forward_loop(tiny):
    from t2vz.motion import renoise

    scheduler = ddim_scheduler()
    sampling = tiny.get_model_object("model_sampling")
    t0, t1 = 881, 941
    x_vp = torch.randn((3, 4, 16, 16), generator=torch.Generator().manual_seed(0))
    eps = torch.randn((3, 4, 16, 16), generator=torch.Generator().manual_seed(1))
    a = torch.prod(scheduler.alphas[t0:t1])  # the reference's forward_loop, with the same draws
    expected_vp = torch.sqrt(a) * x_vp + torch.sqrt(1 - a) * eps
    acp0, acp1 = alphas_cumprod(t0), alphas_cumprod(t1)
    sigma0, sigma1 = ((1 - acp0) / acp0) ** 0.5, ((1 - acp1) / acp1) ** 0.5
    ours = renoise(x_vp / acp0 ** 0.5, eps, sampling, sigma0, sigma1) * acp1 ** 0.5
    torch.testing.assert_close(ours, expected_vp, rtol=1e-5, atol=1e-5)


def _cross_frame_unet_pair(tiny, frames, chunks):
    from diffusers.models.attention_processor import AttnProcessor2_0
    CrossFrameAttnProcessor2_0 = reference_module().CrossFrameAttnProcessor2_0

    unet = diffusers_unet(tiny)
    unet.set_attn_processor(CrossFrameAttnProcessor2_0(batch_size=chunks))
    # diffusers applies its processor to attn2 as well, where it passes through (cross-attention): same as ours.
    assert AttnProcessor2_0 is not None
    return unet


@pytest.mark.parametrize("frames", [4, 5])
def test_attention_patch_equals_reference_processor(tiny, frames):
    """Whole-UNet forward with our attn1 patch == diffusers' UNet with CrossFrameAttnProcessor2_0 (every block)."""
    from t2vz.attention import CrossFrameAttention

    chunks = 2
    gen = torch.Generator().manual_seed(frames)
    x = torch.randn((chunks * frames, 4, 16, 24), generator=gen)
    context = torch.randn((chunks * frames, 77, 64), generator=gen)
    t = torch.full((chunks * frames,), 601.0)
    reference = _cross_frame_unet_pair(tiny, frames, chunks)
    options = {"patches": {"attn1_patch": [CrossFrameAttention()]}, "cond_or_uncond": [1, 0],
               "sigmas": torch.full((chunks * frames,), 2.0)}
    with torch.no_grad():
        expected = reference(x, t, encoder_hidden_states=context).sample
        ours = tiny.model.diffusion_model(x, t, context=context, transformer_options=options)
        plain = tiny.model.diffusion_model(x, t, context=context, transformer_options={"cond_or_uncond": [1, 0]})
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)
    assert (ours - plain)[frames * 0 + 1:frames].abs().max() > 1e-3  # the patch really changed frames 1..F-1


@pytest.mark.parametrize("frames,height,width,motion,cfg", [
    (4, 16, 16, (12.0, 12.0), 7.5),
    (5, 16, 24, (-20.0, 8.0), 5.0),
])
def test_text_to_video_equals_reference_pipeline(tiny, frames, height, width, motion, cfg):
    from t2vz.motion import Motion, sample_video
    from t2vz.motion.camera import ConstantMotion

    seed = 123
    positive, negative = conditioning(1), conditioning(2)
    ours = sample_video(tiny, positive, negative, torch.zeros((frames, 4, height, width)), seed, 50, cfg, "ddim",
                        "ddim_uniform", "motion", Motion(ConstantMotion(motion[0], motion[1])))

    # The same draws: frame 0's noise (as ComfyUI scales it: sigma_first, i.e. sqrt(1 - acp[981]) in diffusers'
    # space), then the re-noise draws from the generator's next values.
    generator = torch.Generator().manual_seed(seed)
    noise0 = torch.randn((1, 4, height, width), generator=generator)
    x_t = noise0 * (1 - alphas_cumprod(981)) ** 0.5
    pipe = reference_pipeline(diffusers_unet(tiny), positive[0][0], negative[0][0])
    with torch.no_grad():
        expected = pipe(prompt="-", video_length=frames, height=height * 8, width=width * 8, num_inference_steps=50,
                        guidance_scale=cfg, generator=generator, latents=x_t, motion_field_strength_x=motion[0],
                        motion_field_strength_y=motion[1], output_type="latent").images
    expected = expected / 0.18215  # ComfyUI's LATENT is unscaled
    scale = expected.abs().max()
    for k in range(frames):
        err = (ours[k] - expected[k]).abs().max() / scale
        assert err < 1e-5, f"frame {k}: max relative difference {err:.2e}"
