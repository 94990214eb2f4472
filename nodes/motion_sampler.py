"""MotionLatentSampler: Text2Video-Zero's text-to-video sampler (motion dynamics + cross-frame attention)."""
from __future__ import annotations

import comfy.samplers
from comfy_api.latest import io

from ..attention import SUPPORTED
from ..motion import NOISE_MODES, NOISE_MOTION, T_MAX_INDEX, Motion, check_latent, phases, sample_video
from ..motion.sampler import NOISE_FLOW
from ..motion.parts import video_part
from .camera import camera_path_input, chosen_camera, motion_inputs
from .consistency import flow_inputs, source_flow
from .progress import progress_for
from .video_parts import part_inputs, part_latent


class MotionLatentSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MotionLatentSampler",
            display_name="Motion Latent Sampler (T2V-Zero)",
            category="T2V-Zero",
            description=(
                "Zero-shot text-to-video (Text2Video-Zero) with any text-to-image model. Frame 0 is denoised a few "
                "steps, moved by the motion field for every later frame, re-noised, then all frames are denoised "
                "together with cross-frame attention on frame 0. The latent's batch size is the number of frames. "
                "With sampler ddim + scheduler ddim_uniform at 50 steps it reproduces the reference exactly. "
                "Connect first_frame (a VAE-encoded image) for image-to-video."),
            inputs=[
                io.Model.Input("model", tooltip=f"The text-to-image model: {SUPPORTED}, or a fine-tune (few-step "
                               "ones too: Lightning, Hyper, LCM; continuous EDM / v models: Playground 2.5, CosXL). "
                               "Cross-frame attention is added for you unless the model already went through "
                               "CrossFrameAttentionPatch."),
                io.Conditioning.Input("positive", tooltip="What the video shows (CLIPTextEncode)."),
                io.Conditioning.Input("negative", tooltip="What to avoid (CLIPTextEncode; may be empty text)."),
                io.Latent.Input("latent_image", tooltip="The frames to fill: EmptyLatentImage with width, height and "
                                "batch_size = number of frames (reference: 512x512, 8 frames)."),
                io.Int.Input("seed", default=0, min=0, max=0xffffffffffffffff, control_after_generate=True,
                             tooltip="Seed of frame 0's starting noise and of the re-noising draws."),
                io.Int.Input("steps", default=50, min=1, max=10000,
                             tooltip="Denoising steps. Any count works (t0/t1 follow it); the reference uses 50. "
                                     "Motion mode on a flow model (SD3, Flux) needs at least 3: its first step is "
                                     "pure noise."),
                io.Float.Input("cfg", default=7.5, min=0.0, max=100.0, step=0.1, round=0.01,
                               tooltip="Classifier-free guidance scale (reference: 7.5). 1 disables the negative."),
                io.Combo.Input("sampler_name", options=comfy.samplers.SAMPLER_NAMES, default="ddim",
                               tooltip="Any ComfyUI sampler. ddim is the reference's."),
                io.Combo.Input("scheduler", options=comfy.samplers.SCHEDULER_NAMES, default="ddim_uniform",
                               tooltip="Any ComfyUI scheduler. ddim_uniform gives the reference's timesteps."),
                io.Combo.Input("noise_mode", options=list(NOISE_MODES), default=NOISE_MOTION,
                               tooltip="motion: the paper's text-to-video (frame 0 warped by the motion field). "
                                       "shared: the same starting noise (and, with ancestral/SDE samplers, the same "
                                       "per-step noise) for every frame, no warp: the ControlNet recipe, where the "
                                       "control frames drive the motion. flow: frame 0's noise carried along the "
                                       "optical flow of flow_frames (e.g. the ControlNet's source video), fresh "
                                       "where content appears, so detail drawn from the noise moves with it. "
                                       "independent: fresh noise per frame."),
                *motion_inputs(),
                io.Int.Input("t0", default=44, min=0, max=T_MAX_INDEX - 1,
                             tooltip="The step whose frame-0 latent is warped (the paper's T'), counted as in the "
                                     "reference: steps from the end of a 50-step schedule (44 = 5 steps in). Must be "
                                     "smaller than t1. Lower = more of frame 0's layout is fixed before warping. "
                                     "If the video does not move with the camera, lower t0/t1 (30/35, or 20/25: "
                                     "measured in docs/consistency.md). On flow and EDM models (SD3, Flux, Playground) t0/t1 stand for the reference's "
                                     "signal-to-noise ratio at those steps: the nearest step of your schedule."),
                io.Int.Input("t1", default=47, min=1, max=T_MAX_INDEX,
                             tooltip="The step at which all frames start denoising together (the paper's T), same "
                                     "units (47 = 2 steps in). Must be larger than t0; at most 49. On a flow model the "
                                     "joint pass starts at the second step at the earliest."),
                io.Int.Input("frames_per_chunk", default=0, min=0, max=4096,
                             tooltip="0 = all frames in one model call. N > 0 = N frames at a time: results are the "
                                     "same, and memory follows N plus, on DiTs (Flux, SD3), frame 0's keys and "
                                     "values (about 2.8 GiB per conditioning for Flux.1 at 1024 px and 256 T5 tokens; "
                                     "5.5 GiB with a Kontext reference picture). A size that "
                                     "cannot fit is refused before sampling, with the size that fits. Use for long "
                                     "videos."),
                io.Mask.Input("foreground_mask", optional=True,
                              tooltip="Optional foreground of frame 0 (or one mask per frame), e.g. from a "
                                      "segmentation node: enables the paper's background smoothing, which keeps the "
                                      "background of later frames close to frame 0's moved background."),
                io.Float.Input("smooth_bg_strength", default=0.4, min=0.0, max=1.0, step=0.05, optional=True,
                               tooltip="Background smoothing: how much of each frame's own background is kept "
                                       "(reference: 0.4). Only used with a foreground_mask."),
                io.Latent.Input("first_frame", optional=True,
                                tooltip="Image-to-video: the video starts from this image (Load Image -> VAE Encode, "
                                        "one image; a different size is resized with a warning). The other frames "
                                        "move away from it with the motion and keep its look. To continue a clip, "
                                        "take its last frame with Latent From Batch."),
                io.Float.Input("first_frame_strength", default=1.0, min=0.0, max=1.0, step=0.01, optional=True,
                               tooltip="Only with first_frame. 1 = frame 0 is exactly the image. Below 1 the model "
                                       "may repair or restyle it: frame 0 is img2img of the image with denoise "
                                       "1 - strength (0.7 keeps the layout and changes details)."),
                *part_inputs(),
                camera_path_input(),
                io.Image.Input("flow_frames", optional=True,
                               tooltip="For noise_mode 'flow' and attention_along_flow: the video whose motion the "
                                       "noise and attention follow, one frame per latent frame (e.g. the source "
                                       "video a ControlNet's control frames were made from; any size)."),
                *flow_inputs("flow_frames"),
            ],
            outputs=[io.Latent.Output(tooltip="The video's latents, one per frame (with parts > 1: this part's "
                                              "frames): decode with VAEDecode, or with Decode Video Part for parts.")],
        )

    @classmethod
    def execute(cls, model, positive, negative, latent_image, seed, steps, cfg, sampler_name, scheduler, noise_mode,
                motion_x, motion_y, zoom, rotation, t0, t1, frames_per_chunk, foreground_mask=None,
                smooth_bg_strength=0.4, first_frame=None, first_frame_strength=1.0, part=0, parts=1,
                camera_path=None, flow_frames=None, attention_along_flow=False, optical_flow=None) -> io.NodeOutput:
        samples = latent_image["samples"]
        check_latent(samples)
        video_frames = video_part(samples.shape[0], part, parts)
        needs_flow = flow_frames is not None and (noise_mode == NOISE_FLOW or attention_along_flow)
        flow = source_flow(flow_frames, optical_flow, "flow_frames") if needs_flow else None
        camera = chosen_camera("Motion Latent Sampler", camera_path, noise_mode, motion_x=motion_x, motion_y=motion_y,
                               zoom=zoom, rotation=rotation)
        motion = Motion(camera=camera, t0=t0, t1=t1)
        total = phases(steps, t0, t1).total_progress if noise_mode == NOISE_MOTION else steps
        out = sample_video(model, positive, negative, samples, seed, steps, cfg, sampler_name, scheduler,
                           noise_mode=noise_mode, motion=motion, frames_per_chunk=frames_per_chunk,
                           foreground_mask=foreground_mask, smooth_bg_strength=smooth_bg_strength,
                           first_frame=None if first_frame is None else first_frame["samples"],
                           first_frame_strength=first_frame_strength, progress=progress_for(model, total),
                           part=video_frames, flow=flow, along_flow=attention_along_flow)
        return io.NodeOutput(part_latent(latent_image, out, video_frames, {"seed": seed, "steps": steps}))
