"""Video editing nodes' shared parts (which source frames, their encoding, the outputs), and ReferenceEditVideo:
edit a video by an instruction with Flux.1 Kontext or Qwen-Image-Edit."""
from __future__ import annotations

import comfy.samplers
from comfy_api.latest import io

from ..motion.parts import video_part
from ..motion.reference_edit import (KONTEXT_MODEL, QWEN_EDIT_MODEL, SAME_ARCHITECTURE, check_reference_model,
                                     edit_video_by_reference)
from ..motion.sampler import NOISE_FLOW, NOISE_SHARED
from ..motion.video_edit import EDIT_NOISE_MODES, edit_sigmas, fit_frames, select_frames
from ..motion.vae import VAE_CHUNK, decode_frames, encode_frames
from .consistency import flow_inputs, source_flow
from .progress import progress_for
from .video_parts import part_inputs, part_latent

SELECTED_FRAMES = "the frames start_frame..end_frame, every every_nth one, of the input video"
"""What an edit node's frame count is, for errors about parts."""

FLOW_NOISE_TIP = ("flow: frame 0's noise carried along the source video's optical flow, fresh where content appears "
                  "(and so every step's noise with ancestral/SDE samplers): detail drawn from the noise moves with "
                  "the content instead of sticking to the screen.")
"""The edit nodes' words for noise_mode 'flow'."""

DIT_PATCH = 2
"""Latent pixels per DiT token side (Flux, Qwen-Image): frame sides are fitted to VAE factor x this."""


def frame_selection_inputs() -> list:
    """start_frame, end_frame, every_nth, frame_rate: which source frames an edit node edits, and their rate."""
    return [
        io.Int.Input("start_frame", default=0, min=0, max=1_000_000,
                     tooltip="First input frame to edit (0 = the first)."),
        io.Int.Input("end_frame", default=-1, min=-1, max=1_000_000,
                     tooltip="Last input frame to edit, inclusive; -1 = the video's last frame."),
        io.Int.Input("every_nth", default=1, min=1, max=1000,
                     tooltip="Edit every n-th frame between start_frame and end_frame (2 = every other frame: half "
                             "the work; frame_rate out is divided by it so the duration stays)."),
        io.Float.Input("frame_rate", default=8.0, min=0.01, max=1000.0, step=1.0, round=0.001, optional=True,
                       tooltip="The input video's frames per second: link Get Video Components' fps. Only passed on "
                               "(divided by every_nth) to the frame_rate output."),
    ]


def edit_outputs() -> list:
    return [
        io.Latent.Output(display_name="latent", tooltip="The edited frames' latents."),
        io.Image.Output(display_name="images", tooltip="The edited frames, decoded with the VAE (e.g. into Frames To "
                        "Video; with parts, into Decode Video Part's images, which then needs no second decode)."),
        io.Float.Output(display_name="frame_rate", tooltip="frame_rate / every_nth: the rate that keeps the source's "
                        "duration (e.g. into Frames To Video's frame_rate)."),
    ]


def edit_frames(edit, vae, frames, start_frame: int, end_frame: int, every_nth: int, frame_rate: float,
                frames_per_chunk: int, part: int, parts: int, video: dict, multiple: int, needs_flow: bool = False,
                optical_flow=None) -> io.NodeOutput:
    """The selected frames (a part's: frame 0 and its own), fitted to sides of ``multiple``, encoded, edited by
    ``edit(source latents, Part, source motion or None)``, decoded: the edit nodes' outputs. With ``needs_flow`` the
    whole selection's optical flow (every part computes the same) comes with them."""
    images = select_frames(frames, start_frame, end_frame, every_nth)
    video_frames = video_part(images.shape[0], part, parts, SELECTED_FRAMES)
    motion = None
    if needs_flow:  # the whole selection's flow, on the frames as the edit sees them
        images = fit_frames(images, multiple)
        motion = source_flow(images, optical_flow, "frames")
    images = fit_frames(images[video_frames.rows], multiple)  # frames fitted already come back as they are
    vae_chunk = frames_per_chunk if frames_per_chunk > 0 else VAE_CHUNK
    samples = edit(encode_frames(vae, images, vae_chunk), video_frames, motion)
    decoded = decode_frames(vae, samples, vae_chunk)
    latent = part_latent({}, samples, video_frames, video)
    return io.NodeOutput(latent, decoded, float(frame_rate) / every_nth)


class ReferenceEditVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ReferenceEditVideo",
            display_name="Edit Video: Kontext / Qwen-Image-Edit (T2V-Zero)",
            category="T2V-Zero",
            description=(
                "Edits a video by an instruction (\"make it winter\") with an editing model that reads the source "
                "image as a reference: Flux.1 Kontext [dev] or Qwen-Image-Edit. Frame k is edited with source frame "
                "k as its reference; all frames share their noise and attend to frame 0's edit (cross-frame "
                "attention), so the edit looks the same from frame to frame instead of flickering. Frames come from "
                "Get Video Components (after Load Video) or any IMAGE batch; returns the edited latents, the decoded "
                "frames and the frame rate to write them at."),
            inputs=[
                io.Model.Input("model", tooltip=f"Flux.1 Kontext [dev] ({KONTEXT_MODEL}) or Qwen-Image-Edit "
                               f"({QWEN_EDIT_MODEL}), loaded with Load Diffusion Model (Flux 2 edits by references "
                               f"too). Models that take no reference image (SD1.5, SD3, Chroma, ...) are refused; "
                               f"{SAME_ARCHITECTURE}. Cross-frame attention is added for you unless the model "
                               f"already went through CrossFrameAttentionPatch."),
                io.Conditioning.Input("positive", tooltip="The instruction, e.g. \"make it a snowy winter day\": "
                                      "CLIPTextEncode then Flux Guidance (2.5) for Kontext; TextEncodeQwenImageEdit for "
                                      "Qwen-Image-Edit. A reference image already on it is replaced by each frame's "
                                      "source frame."),
                io.Conditioning.Input("negative", tooltip="Used when cfg > 1 (Qwen-Image-Edit); with Kontext at cfg 1 "
                                      "it is ignored (ConditioningZeroOut of the positive is the usual wiring)."),
                io.Vae.Input("vae", tooltip="The model's VAE (Flux: ae.safetensors; Qwen: qwen_image_vae): encodes "
                             "the source frames into references and decodes the result."),
                io.Image.Input("frames", tooltip="The video's frames (Get Video Components' images, or a video "
                               "loader's IMAGE). Sides that are not a multiple of 16 are resized to one (with a "
                               "warning). About 1 megapixel suits both models; scale first (ImageScaleToMaxDimension "
                               "1024) for speed or quality."),
                io.Float.Input("cfg", default=1.0, min=0.0, max=100.0, step=0.1, round=0.01,
                               tooltip="Classifier-free guidance. Kontext: 1.0 (its guidance is Flux Guidance on "
                                       "the positive). Qwen-Image-Edit: 2.5-4 with a negative prompt."),
                io.Int.Input("seed", default=0, min=0, max=0xffffffffffffffff, control_after_generate=True,
                             tooltip="Seed of the shared starting noise and of the sampler's per-step noise."),
                io.Int.Input("steps", default=20, min=1, max=10000,
                             tooltip="Denoising steps (Kontext dev: 20-28; Qwen-Image-Edit: 20-40, or 4-8 with a "
                                     "Lightning LoRA)."),
                io.Combo.Input("sampler_name", options=comfy.samplers.SAMPLER_NAMES, default="euler",
                               tooltip="Any ComfyUI sampler; euler is what both models' examples use."),
                io.Combo.Input("scheduler", options=comfy.samplers.SCHEDULER_NAMES, default="simple",
                               tooltip="Any ComfyUI scheduler; simple is what both models' examples use."),
                io.Combo.Input("noise_mode", options=list(EDIT_NOISE_MODES), default=NOISE_SHARED,
                               tooltip="shared: every frame starts from the same noise and, with ancestral/SDE "
                                       f"samplers, gets the same noise at every step: frames differ only where the "
                                       f"source differs (no flicker). {FLOW_NOISE_TIP} independent: fresh noise per "
                                       f"frame (as running the model frame by frame; flickers)."),
                io.Int.Input("frames_per_chunk", default=0, min=0, max=4096,
                             tooltip="0 = all frames in one model call. N > 0 = N frames at a time: memory follows "
                                     "N, not the video length, and the result is the same. Also the VAE's batch (16 "
                                     "when 0). Use 2-4 for long clips at 1 megapixel."),
                *frame_selection_inputs(),
                *part_inputs(),
                *flow_inputs("the source video"),
            ],
            outputs=edit_outputs(),
        )

    @classmethod
    def execute(cls, model, positive, negative, vae, frames, cfg, seed, steps, sampler_name, scheduler, noise_mode,
                frames_per_chunk, start_frame, end_frame, every_nth, frame_rate=8.0, part=0,
                parts=1, attention_along_flow=False, optical_flow=None) -> io.NodeOutput:
        check_reference_model(model)  # before any VAE work: the most likely mistake gets the fastest answer
        sigmas = edit_sigmas(model, steps, sampler_name, scheduler)

        def edit(sources, video_frames, motion):
            return edit_video_by_reference(model, positive, negative, sources, seed, sigmas,
                                           sampler_name=sampler_name, cfg=cfg, noise_mode=noise_mode,
                                           frames_per_chunk=frames_per_chunk,
                                           progress=progress_for(model, sigmas.shape[-1] - 1), part=video_frames,
                                           motion=motion, along_flow=attention_along_flow)

        return edit_frames(edit, vae, frames, start_frame, end_frame, every_nth, frame_rate, frames_per_chunk, part,
                           parts, {"seed": seed, "steps": steps}, vae.spacial_compression_encode() * DIT_PATCH,
                           noise_mode == NOISE_FLOW or attention_along_flow, optical_flow)
