"""InstructPix2PixVideo: edit a video by an instruction with an Instruct-Pix2Pix checkpoint (Video Instruct-Pix2Pix)."""
from __future__ import annotations

import comfy.samplers
from comfy_api.latest import io

from ..motion.instruct_pix2pix import IP2P_CHECKPOINT, check_ip2p_model, edit_video
from ..motion.video_edit import EDIT_NOISE_MODES, edit_sigmas
from ..motion.sampler import NOISE_FLOW, NOISE_SHARED
from .progress import progress_for
from .consistency import flow_inputs
from .video_edit import FLOW_NOISE_TIP, edit_frames, edit_outputs, frame_selection_inputs
from .video_parts import part_inputs


class InstructPix2PixVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="InstructPix2PixVideo",
            display_name="Instruct-Pix2Pix Video (T2V-Zero)",
            category="T2V-Zero",
            description=(
                "Edits a video by an instruction (\"make it Van Gogh style\") with an Instruct-Pix2Pix checkpoint "
                f"({IP2P_CHECKPOINT}): Text2Video-Zero's Video Instruct-Pix2Pix. Every frame is edited with "
                "cross-frame attention on the first frame, so the edit stays consistent, and guided by the "
                "instruction (text_guidance) and the input frame (image_guidance). Frames come from Get Video "
                "Components (after Load Video) or any IMAGE batch; returns the edited latents, the decoded frames "
                "and the frame rate to write them at."),
            inputs=[
                io.Model.Input("model", tooltip=f"An Instruct-Pix2Pix model (UNet with 8 input channels), e.g. "
                               f"{IP2P_CHECKPOINT} loaded with Load Checkpoint. Cross-frame attention is added for "
                               f"you unless the model already went through CrossFrameAttentionPatch."),
                io.Conditioning.Input("positive", tooltip="The instruction, as an edit command (CLIPTextEncode), "
                                      "e.g. \"make it Van Gogh Starry Night style\"."),
                io.Conditioning.Input("negative", tooltip="What to avoid (CLIPTextEncode; the reference uses empty "
                                      "text)."),
                io.Vae.Input("vae", tooltip="The checkpoint's VAE: encodes the input frames and decodes the result."),
                io.Image.Input("frames", tooltip="The video's frames (Get Video Components' images, or a video "
                               "loader's IMAGE). Sides that are not a multiple of 8 are resized to one (with a "
                               "warning). The reference works at 512 on the longer side: scale first (Upscale "
                               "Image) for speed or quality."),
                io.Float.Input("image_guidance", default=1.0, min=0.0, max=5.0, step=0.05, round=0.01,
                               tooltip="How closely the result follows the input frame (s_I; reference 1.0, its app "
                                       "0.5-2). Higher keeps more of the original; lower lets the edit change more."),
                io.Float.Input("text_guidance", default=7.5, min=0.0, max=30.0, step=0.1, round=0.01,
                               tooltip="How strongly the instruction is applied (s_T, the usual cfg; reference 7.5)."),
                io.Int.Input("seed", default=0, min=0, max=0xffffffffffffffff, control_after_generate=True,
                             tooltip="Seed of the starting noise and of the sampler's per-step noise."),
                io.Int.Input("steps", default=50, min=1, max=10000,
                             tooltip="Denoising steps (reference 50)."),
                io.Combo.Input("sampler_name", options=comfy.samplers.SAMPLER_NAMES, default="euler_ancestral",
                               tooltip="Any ComfyUI sampler. euler_ancestral is the reference's."),
                io.Combo.Input("scheduler", options=comfy.samplers.SCHEDULER_NAMES, default="normal",
                               tooltip="Any ComfyUI scheduler. normal spaces the timesteps evenly from 999 to 0, as "
                                       "the reference's Euler ancestral scheduler does."),
                io.Combo.Input("noise_mode", options=list(EDIT_NOISE_MODES), default=NOISE_SHARED,
                               tooltip="shared: every frame starts from the same noise and, with ancestral/SDE "
                                       "samplers, gets the same noise at every step: frames differ only where the "
                                       f"input differs (less flicker). {FLOW_NOISE_TIP} independent: fresh noise "
                                       f"per frame, the reference's recipe (flickers more, Text2Video-Zero issue "
                                       f"#44)."),
                io.Int.Input("frames_per_chunk", default=0, min=0, max=4096,
                             tooltip="0 = all frames in one UNet call. N > 0 = N frames at a time (of each of the "
                                     "three guidance predictions): memory follows N, not the video length, and the "
                                     "result is the same. Also the VAE's batch (16 when 0). Use 8 for long videos."),
                *frame_selection_inputs(),
                *part_inputs(),
                *flow_inputs("the source video"),
            ],
            outputs=edit_outputs(),
        )

    @classmethod
    def execute(cls, model, positive, negative, vae, frames, image_guidance, text_guidance, seed, steps, sampler_name,
                scheduler, noise_mode, frames_per_chunk, start_frame, end_frame, every_nth,
                frame_rate=8.0, part=0, parts=1, attention_along_flow=False, optical_flow=None) -> io.NodeOutput:
        check_ip2p_model(model)  # before any VAE work: the most likely mistake gets the fastest answer
        sigmas = edit_sigmas(model, steps, sampler_name, scheduler)

        def edit(sources, video_frames, motion):
            return edit_video(model, positive, negative, sources, seed, sigmas, sampler_name=sampler_name,
                              text_guidance=text_guidance, image_guidance=image_guidance, noise_mode=noise_mode,
                              frames_per_chunk=frames_per_chunk, progress=progress_for(model, sigmas.shape[-1] - 1),
                              part=video_frames, motion=motion, along_flow=attention_along_flow)

        return edit_frames(edit, vae, frames, start_frame, end_frame, every_nth, frame_rate, frames_per_chunk,
                           part, parts, {"seed": seed, "steps": steps}, vae.spacial_compression_encode(),
                           noise_mode == NOISE_FLOW or attention_along_flow, optical_flow)
