"""Video Instruct-Pix2Pix (Text2Video-Zero, section 5): edit every frame of a video by one instruction, with
cross-frame attention on frame 0 keeping the edit consistent across frames.

Each frame is denoised by an Instruct-Pix2Pix model (a UNet taking the noisy latent and the frame's own latent,
8 input channels), guided by the reference's three predictions (Brooks et al. 2023; Text2Video-Zero's
process_pix2pix runs diffusers' StableDiffusionInstructPix2PixPipeline):

    eps = eps_u + s_T (eps_txt - eps_img) + s_I (eps_img - eps_u)

eps_txt: instruction + frame, eps_img: negative text + frame, eps_u: negative text + no frame (a zero latent). The
frames' latents reach the model the way core's InstructPixToPixConditioning hands them over (``concat_latent_image``
on the conditioning; comfy/model_base.py IP2P.concat_cond concatenates it, and uses zeros where it is absent).
All three predictions go through one ``calc_cond_batch`` call, so ComfyUI batches them together and the cross-frame
patch sees three chunks, each attending to its own frame 0 (the reference's CrossFrameAttnProcessor(batch_size=3)).

Frame selection, noise and sampling are video editing's shared steps (motion/video_edit.py). Noise: ``shared``
(default) gives every frame the same x_T and, with ancestral/SDE samplers, the same per-step noise (motion/noise.py),
so the frames differ only where the input frames differ. ``independent`` is the reference's recipe: its own x_T per frame and fresh per-frame noise at every ancestral step (the official code and
diffusers' documented recipe; users report flicker with it, Text2Video-Zero issue #44).
"""
from __future__ import annotations

import functools
import math

import torch

from .flow_noise import SourceMotion
from .parts import Part
from .sampler import NOISE_SHARED, Progress
from .video_edit import edit_setup, sample_edit

IP2P_CHECKPOINT = "instruct-pix2pix-00-22000.safetensors"
IP2P_CHECKPOINT_URL = ("https://huggingface.co/timbrooks/instruct-pix2pix/resolve/main/"
                       "instruct-pix2pix-00-22000.safetensors")
CONCAT_KEY = "concat_latent_image"


# --- model and inputs -----------------------------------------------------------------------------------------------

def check_ip2p_model(model) -> None:
    """ValueError unless ``model`` (a ComfyUI ModelPatcher) is an Instruct-Pix2Pix model."""
    import comfy.model_base  # noqa: PLC0415

    base = model.model
    if isinstance(base, comfy.model_base.IP2P):
        return
    config = getattr(getattr(base, "model_config", None), "unet_config", {}) or {}
    channels = config.get("in_channels", "an unknown number of")
    raise ValueError(
        f"model is a {type(base).__name__} model whose UNet takes {channels} input channels; InstructPix2PixVideo "
        f"needs an Instruct-Pix2Pix checkpoint (a UNet with 8 input channels: the noisy latent plus the frame's "
        f"latent), e.g. {IP2P_CHECKPOINT} from {IP2P_CHECKPOINT_URL}. Fix: put it in ComfyUI/models/checkpoints/ "
        f"and load it with Load Checkpoint.")


# --- guidance -------------------------------------------------------------------------------------------------------

def ip2p_conditionings(positive, negative, image_latent: torch.Tensor):
    """(instruction + frames, negative + frames, negative + no frames) as ComfyUI CONDITIONING.

    The frames' LATENT goes on as ``concat_latent_image``, as core's InstructPixToPixConditioning attaches it; the
    third has none, so the IP2P model concatenates zeros (diffusers' pipeline likewise uses a zero latent there).
    """
    def with_image(conditioning, image):
        out = []
        for embedding, options in conditioning:
            options = dict(options)
            options.pop(CONCAT_KEY, None)
            if image is not None:
                options[CONCAT_KEY] = image
            out.append([embedding, options])
        return out

    return with_image(positive, image_latent), with_image(negative, image_latent), with_image(negative, None)


def guidance_weights(text_guidance: float, image_guidance: float) -> tuple[float, float, float]:
    """Weights of (eps_txt, eps_img, eps_u) in eps_u + s_T (eps_txt - eps_img) + s_I (eps_img - eps_u).

    They sum to 1, so the same weights combine the models' denoised predictions (x - sigma * eps) exactly.
    """
    return float(text_guidance), float(image_guidance) - float(text_guidance), 1.0 - float(image_guidance)


@functools.cache
def _guider_class():
    import comfy.samplers  # noqa: PLC0415

    class InstructPix2PixGuider(comfy.samplers.CFGGuider):
        """CFGGuider with Instruct-Pix2Pix's three-way guidance (conds: positive = instruction + frames, middle =
        negative + frames, negative = negative + no frames; the names and order of core's DualCFGGuider)."""

        def set_guidance(self, text_guidance: float, image_guidance: float) -> None:
            self.weights = guidance_weights(text_guidance, image_guidance)
            self.cfg = float(text_guidance)  # what other code reads as "the cfg"

        def predict_noise(self, x, timestep, model_options={}, seed=None):  # noqa: B006 -- ComfyUI's signature
            names = ("positive", "middle", "negative")
            conds = [self.conds.get(name) for name in names]
            if not model_options.get("disable_cfg1_optimization", False):
                # a prediction whose weight is 0 need not be computed (image_guidance 1 drops eps_u: the default)
                conds = [None if math.isclose(w, 0.0, abs_tol=1e-9) else c
                         for c, w in zip(conds, self.weights, strict=True)]
            out = comfy.samplers.calc_cond_batch(self.inner_model, conds, x, timestep, model_options)
            denoised = sum(w * o for c, w, o in zip(conds, self.weights, out, strict=True) if c is not None)
            # post-CFG patches (PAG, ...) as core's cfg_function calls them; a skipped prediction reads as zeros there
            # too (its cfg-1 optimisation)
            for fn in model_options.get("sampler_post_cfg_function", []):
                denoised = fn({"denoised": denoised, "cond": conds[0], "uncond": conds[2], "model": self.inner_model,
                               "cond_denoised": out[0], "uncond_denoised": out[2], "cond_scale": self.cfg,
                               "sigma": timestep, "model_options": model_options, "input": x})
            return denoised

    return InstructPix2PixGuider


def ip2p_guider(model, positive, negative, image_latent: torch.Tensor, text_guidance: float, image_guidance: float):
    """A ComfyUI guider (``.sample(noise, latent, sampler, sigmas, ...)``) for Instruct-Pix2Pix's three-way guidance
    of the frames whose LATENT samples are ``image_latent``."""
    import node_helpers  # noqa: PLC0415

    text, image, uncond = ip2p_conditionings(positive, negative, image_latent)
    guider = _guider_class()(model)
    # marked as a negative prompt, as core's DualCFGGuider marks its middle conditioning
    image = node_helpers.conditioning_set_values(image, {"prompt_type": "negative"})
    guider.inner_set_conds({"positive": text, "middle": image, "negative": uncond})
    guider.set_guidance(text_guidance, image_guidance)
    return guider


# --- sampling -------------------------------------------------------------------------------------------------------

def edit_video(model, positive, negative, image_latent: torch.Tensor, seed: int, sigmas: torch.Tensor,
               sampler_name: str = "euler_ancestral", text_guidance: float = 7.5, image_guidance: float = 1.0,
               noise_mode: str = NOISE_SHARED, frames_per_chunk: int = 0,
               progress: Progress | None = None, part: Part | None = None, motion: SourceMotion | None = None,
               along_flow: bool = False) -> torch.Tensor:
    """Edit a video with an Instruct-Pix2Pix ``model``: ``image_latent`` is the frames' LATENT samples (F, C, H, W)
    (VAE-encoded, unscaled as ComfyUI's LATENT); returns the edited frames' LATENT samples.

    positive: the instruction; negative: usually empty text. sigmas: the schedule (motion/video_edit.edit_sigmas).
    frames_per_chunk: N > 0 runs the UNet on N frames (of each of the three predictions) at a time; same result.
    part: one part of the video (motion/parts.py): ``image_latent`` then holds the frames ``part.rows`` (frame 0, the
    anchor, and the part's), and the part's edited frames come back, as the whole video's run edits them.
    motion: the source video's flow (motion/flow_noise.py), for noise_mode ``flow`` and ``along_flow`` (trajectory
    attention after every self-attention).
    """
    check_ip2p_model(model)
    part, sampler, joint, trajectories = edit_setup(model, image_latent, sampler_name, noise_mode, part,
                                                    frames_per_chunk, motion=motion, along_flow=along_flow)
    guider = ip2p_guider(joint, positive, negative, image_latent, text_guidance, image_guidance)
    return sample_edit(guider, sampler, image_latent, seed, sigmas, noise_mode, part, progress, trajectories)


