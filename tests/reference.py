"""diffusers' TextToVideoZeroPipeline (the reference), built around the same tiny weights as a ComfyUI test model.

Only the text encoder is bypassed: the pipeline's encode_prompt returns the very embeddings the ComfyUI side gets as
CONDITIONING (a tiny random CLIP would add nothing but a second code path to keep equal).
"""
from __future__ import annotations

import torch


def ddim_scheduler():
    from diffusers import DDIMScheduler  # noqa: PLC0415

    # SD1.5's schedule. set_alpha_to_one=True makes the last DDIM step land on x0 itself, which is what ComfyUI's
    # last step (to sigma 0) returns; every earlier step is unchanged (text2video-zero-reference.md, section 11).
    return DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                         clip_sample=False, set_alpha_to_one=True, steps_offset=1, timestep_spacing="leading")


def reference_pipeline(unet, positive: torch.Tensor, negative: torch.Tensor):
    from diffusers import TextToVideoZeroPipeline  # noqa: PLC0415

    pipe = TextToVideoZeroPipeline(vae=None, text_encoder=None, tokenizer=None, unet=unet, scheduler=ddim_scheduler(),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    pipe.encode_prompt = lambda *args, **kwargs: (positive, negative)
    return pipe


def alphas_cumprod(timestep: int) -> float:
    return float(ddim_scheduler().alphas_cumprod[timestep])


def reference_module():
    """The module of diffusers' TextToVideoZeroPipeline (its warp, its CrossFrameAttnProcessor...): under
    pipelines/text_to_video_synthesis/ up to 0.33, pipelines/deprecated/text_to_video_synthesis/ since, same code."""
    import importlib  # noqa: PLC0415

    from diffusers import TextToVideoZeroPipeline  # noqa: PLC0415

    return importlib.import_module(TextToVideoZeroPipeline.__module__)
