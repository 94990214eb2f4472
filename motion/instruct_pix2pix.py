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

Noise: ``shared`` (default) gives every frame the same x_T and, with ancestral/SDE samplers, the same per-step
noise (motion/noise.py), so the frames differ only where the input frames differ. ``independent`` is the
reference's recipe: its own x_T per frame and fresh per-frame noise at every ancestral step (the official code and
diffusers' documented recipe; users report flicker with it, Text2Video-Zero issue #44).
"""
from __future__ import annotations

import functools
import logging
import math

import torch

from .noise import frame_shared_sampler
from .parts import Part, video_part
from .sampler import (NOISE_INDEPENDENT, NOISE_SHARED, Progress, check_latent, check_part_anchor, initial_noise,
                      joint_sampler, video_model)

IP2P_NOISE_MODES = (NOISE_SHARED, NOISE_INDEPENDENT)
IP2P_CHECKPOINT = "instruct-pix2pix-00-22000.safetensors"
IP2P_CHECKPOINT_URL = ("https://huggingface.co/timbrooks/instruct-pix2pix/resolve/main/"
                       "instruct-pix2pix-00-22000.safetensors")
CONCAT_KEY = "concat_latent_image"

log = logging.getLogger("t2v-zero")


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


def select_frames(images: torch.Tensor, start: int = 0, end: int = -1, every_nth: int = 1) -> torch.Tensor:
    """Frames start..end (inclusive; -1: the last frame), every ``every_nth`` one, of an IMAGE batch."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[0] < 1:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"frames must be an IMAGE batch (frames, height, width, channels) with at least one frame, "
                         f"got {shape}. Fix: connect Get Video Components' images (or a video loader's IMAGE).")
    count = images.shape[0]
    if every_nth < 1:
        raise ValueError(f"every_nth must be >= 1, got {every_nth}. Fix: 1 keeps every frame, 2 every other one.")
    if not 0 <= start < count:
        raise ValueError(f"start_frame {start} is outside the video's {count} frames (0..{count - 1}). Fix: set "
                         f"start_frame between 0 and {count - 1}.")
    last = count - 1 if end < 0 else end
    if last < start:
        raise ValueError(f"end_frame {end} is before start_frame {start}. Fix: set end_frame >= start_frame, or -1 "
                         f"for the last frame.")
    if last >= count:
        log.warning("t2v-zero InstructPix2PixVideo: end_frame %d is past the video's last frame (%d); using %d.",
                    end, count - 1, count - 1)
        last = count - 1
    return images[start:last + 1:every_nth]


def fit_frames(images: torch.Tensor, multiple: int = 8) -> torch.Tensor:
    """The frames resized (bilinear) to the nearest multiple of ``multiple`` in each side, with a warning when that
    changes them: the VAE and the model need it (core's InstructPixToPixConditioning crops instead, losing the
    edges; a DiT would pad the latent but not its reference)."""
    import comfy.utils  # noqa: PLC0415

    height, width = images.shape[1:3]
    new_h = max(multiple, int(round(height / multiple)) * multiple)
    new_w = max(multiple, int(round(width / multiple)) * multiple)
    if (new_h, new_w) == (height, width):
        return images
    log.warning("t2v-zero video edit: frames are %dx%d (width x height), not a multiple of %d; resized to %dx%d.",
                width, height, multiple, new_w, new_h)
    resized = comfy.utils.common_upscale(images.movedim(-1, 1), new_w, new_h, "bilinear", "disabled")
    return resized.movedim(1, -1).clamp(0.0, 1.0)


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

def ip2p_sigmas(model, steps: int, sampler_name: str, scheduler: str) -> torch.Tensor:
    """The sigma schedule KSampler would use for ``steps`` steps of ``sampler_name`` / ``scheduler``."""
    import comfy.samplers  # noqa: PLC0415

    return comfy.samplers.KSampler(model, steps=steps, device="cpu", sampler=sampler_name,
                                   scheduler=scheduler).sigmas.float().cpu()


def sampler_for(sampler_name: str, noise_mode: str):
    """ComfyUI's sampler object: frame-shared per-step noise in ``shared`` mode, ComfyUI's own draws otherwise."""
    import comfy.samplers  # noqa: PLC0415

    if sampler_name not in comfy.samplers.SAMPLER_NAMES:
        raise ValueError(f"sampler {sampler_name!r} is not one of ComfyUI's samplers. Fix: pick one from the list "
                         f"(the reference uses euler_ancestral).")
    if noise_mode == NOISE_SHARED:
        return frame_shared_sampler(sampler_name)
    return comfy.samplers.sampler_object(sampler_name)


def edit_video(model, positive, negative, image_latent: torch.Tensor, seed: int, sigmas: torch.Tensor,
               sampler_name: str = "euler_ancestral", text_guidance: float = 7.5, image_guidance: float = 1.0,
               noise_mode: str = NOISE_SHARED, frames_per_chunk: int = 0,
               progress: Progress | None = None, part: Part | None = None) -> torch.Tensor:
    """Edit a video with an Instruct-Pix2Pix ``model``: ``image_latent`` is the frames' LATENT samples (F, C, H, W)
    (VAE-encoded, unscaled as ComfyUI's LATENT); returns the edited frames' LATENT samples.

    positive: the instruction; negative: usually empty text. sigmas: the schedule (``ip2p_sigmas``).
    frames_per_chunk: N > 0 runs the UNet on N frames (of each of the three predictions) at a time; same result.
    part: one part of the video (motion/parts.py): ``image_latent`` then holds the frames ``part.rows`` (frame 0, the
    anchor, and the part's), and the part's edited frames come back, as the whole video's run edits them.
    """
    check_ip2p_model(model)
    part, sampler = edit_setup(model, image_latent, sampler_name, noise_mode, part)
    guider = ip2p_guider(video_model(model, frames_per_chunk, part), positive, negative, image_latent, text_guidance,
                         image_guidance)
    return sample_edit(guider, sampler, image_latent, seed, sigmas, noise_mode, part, progress)


def edit_setup(model, sources: torch.Tensor, sampler_name: str, noise_mode: str, part: Part | None):
    """(part, sampler) of an edit of the frames whose latents are ``sources``, after checking them: the whole video
    when ``part`` is None."""
    if noise_mode not in IP2P_NOISE_MODES:
        raise ValueError(f"noise_mode must be one of {IP2P_NOISE_MODES}, got {noise_mode!r}")
    # a video VAE's picture latents (Qwen-Image) carry a time axis of one: (frames, channels, 1, height, width)
    check_latent(sources[:, :, 0] if sources.ndim == 5 and sources.shape[2] == 1 else sources)
    part = part or video_part(sources.shape[0], 0, 1)
    if sources.shape[0] != len(part.rows):
        raise ValueError(f"{part.describe()} needs the latents of frames {part.rows}, got {sources.shape[0]}")
    check_part_anchor(model, part)
    return part, joint_sampler(sampler_for(sampler_name, noise_mode), sampler_name, noise_mode, part)


def sample_edit(guider, sampler, sources: torch.Tensor, seed: int, sigmas: torch.Tensor, noise_mode: str,
                part: Part, progress: Progress | None) -> torch.Tensor:
    """The edited frames' LATENT samples (the part's own), sampled by ``guider`` from pure noise (the edit models
    start from an empty latent), one x_T for all frames in ``shared`` mode; Cancel stops within one step."""
    import comfy.model_management  # noqa: PLC0415

    latent = torch.zeros_like(sources)
    noise, _ = initial_noise((part.frames, *latent.shape[1:]), seed, noise_mode)
    noise = noise[part.rows]
    total = sigmas.shape[-1] - 1

    def callback(step, x0, x, total_steps):
        comfy.model_management.throw_exception_if_processing_interrupted()
        if progress is not None:
            progress(step + 1, total, x0)

    comfy.model_management.throw_exception_if_processing_interrupted()
    out = guider.sample(noise, latent, sampler, sigmas, callback=callback, disable_pbar=True, seed=seed)
    return out[part.kept].to(comfy.model_management.intermediate_device())
