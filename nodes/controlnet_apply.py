"""VideoControlNetApply: a ControlNet for video, one control image per frame (Text2Video-Zero's conditional
generation). The work happens in attention/control.py."""
from __future__ import annotations

from comfy_api.latest import io

from ..attention.control import (CANNY_HIGH, CANNY_LOW, MISMATCH_ERROR, MISMATCH_MODES, PREPROCESS_NONE,
                                 PREPROCESSORS, VideoControl, check_control_net)

RECIPE = ("Reference recipe (Text2Video-Zero's ControlNet videos): Motion Latent Sampler with noise_mode 'shared' "
          "(one starting noise for every frame, no motion warp: the control frames drive the motion), 20 steps, "
          "cfg 9, sampler ddim + scheduler ddim_uniform.")


class VideoControlNetApply(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="VideoControlNetApply",
            display_name="Video ControlNet Apply (T2V-Zero)",
            category="T2V-Zero",
            description=(
                "Applies a ControlNet to a video: frame k follows control image k (pose skeleton, depth map, "
                "edges...), also when frame chunks or context windows hand the model a part of the video (core "
                "Apply ControlNet would give every part the first images). Takes SD1.5 / SDXL ControlNets and Flux.1 "
                "ControlNets (XLabs, MistoLine, InstantX incl. Union). Cross-frame attention acts inside SD1.5 / SDXL "
                "ControlNets too, as in the paper; a Flux ControlNet runs each frame on its own (ComfyUI passes it "
                "no attention patches) and the Flux model itself attends across frames. " + RECIPE),
            inputs=[
                io.Conditioning.Input("positive", tooltip="The prompt's conditioning (CLIPTextEncode)."),
                io.Conditioning.Input("negative", tooltip="The negative prompt's conditioning (CLIPTextEncode)."),
                io.ControlNet.Input("control_net", tooltip="A ControlNet model from Load ControlNet Model, made for "
                                    "the checkpoint's family (SD1.5: control_v11p_sd15_canny / _openpose, "
                                    "control_v11f1p_sd15_depth; Flux.1: XLabs, MistoLine, InstantX / Union, the "
                                    "union one through Set Union ControlNet Type if wanted)."),
                io.Image.Input("images", tooltip="The control frames, one per output frame, in order (e.g. Load Video "
                               "-> Get Video Components). Any size: they are resized to the latent's size (x8) and "
                               "centre-cropped, as core Apply ControlNet does. A single image steers every frame."),
                io.Float.Input("strength", default=1.0, min=0.0, max=10.0, step=0.01,
                               tooltip="How strongly the ControlNet steers (reference: 1.0). 0 returns the "
                                       "conditioning unchanged."),
                io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.001,
                               tooltip="Fraction of the denoising (0 = first step) at which the ControlNet starts."),
                io.Float.Input("end_percent", default=1.0, min=0.0, max=1.0, step=0.001,
                               tooltip="Fraction of the denoising (1 = last step) at which it stops."),
                io.Combo.Input("preprocessor", options=list(PREPROCESSORS), default=PREPROCESS_NONE,
                               tooltip="none: the images already are control maps (pose skeletons, depth maps, "
                                       "edges; make them with comfyui_controlnet_aux, e.g. DWPreprocessor or "
                                       "DepthAnythingPreprocessor). canny: detect edges in the images (OpenCV Canny, "
                                       "as the reference) at the generation size: use with a canny ControlNet."),
                io.Int.Input("low_threshold", default=CANNY_LOW, min=0, max=255,
                             tooltip="canny only: gradients below this are never edges (reference: 100). Lower = "
                                     "more edges."),
                io.Int.Input("high_threshold", default=CANNY_HIGH, min=0, max=255,
                             tooltip="canny only: gradients above this always are edges (reference: 200). Must be "
                                     ">= low_threshold."),
                io.Combo.Input("frame_mismatch", options=list(MISMATCH_MODES), default=MISMATCH_ERROR,
                               tooltip="When the number of control images differs from the number of frames. error: "
                                       "stop with a message (default). repeat: frame k uses image k mod N (the images "
                                       "loop). stride: the images are spread evenly over the video (every n-th image "
                                       "when there are more; each held for several frames when there are fewer)."),
                io.Vae.Input("vae", optional=True,
                             tooltip="Required by ControlNets that work in latent space (InstantX Flux ControlNets, "
                                     "Union included; SD3's): the checkpoint's VAE (Flux: ae.safetensors). SD1.5, "
                                     "SDXL, XLabs and MistoLine Flux ControlNets do not use it."),
            ],
            outputs=[
                io.Conditioning.Output(display_name="positive",
                                       tooltip="positive with the ControlNet attached: connect to the sampler."),
                io.Conditioning.Output(display_name="negative",
                                       tooltip="negative with the ControlNet attached: connect to the sampler."),
            ],
        )

    @classmethod
    def execute(cls, positive, negative, control_net, images, strength, start_percent, end_percent, preprocessor,
                low_threshold, high_threshold, frame_mismatch, vae=None) -> io.NodeOutput:
        if start_percent > end_percent:
            raise ValueError(f"start_percent ({start_percent}) is after end_percent ({end_percent}). Fix: make "
                             f"start_percent <= end_percent.")
        if low_threshold > high_threshold:
            raise ValueError(f"low_threshold ({low_threshold}) is above high_threshold ({high_threshold}). Fix: make "
                             f"low_threshold <= high_threshold (reference: 100 / 200).")
        if images.ndim != 4 or images.shape[0] < 1:
            raise ValueError(f"images must be a batch of frames, got shape {tuple(images.shape)}. Fix: connect the "
                             f"frames of a video (Get Video Components' images).")
        check_control_net(control_net)
        if strength == 0:
            return io.NodeOutput(positive, negative)
        hints = images.movedim(-1, 1)
        made = {}  # one control per previous control, shared by positive and negative as core does (batched together)
        out = []
        for conditioning in (positive, negative):
            result = []
            for embedding, options in conditioning:
                options = options.copy()
                previous = options.get("control")
                if previous not in made:
                    control = VideoControl(control_net, hints, strength, (start_percent, end_percent), vae=vae,
                                           preprocessor=preprocessor, canny_low=low_threshold,
                                           canny_high=high_threshold, frame_mismatch=frame_mismatch)
                    made[previous] = control.set_previous_controlnet(previous)
                options["control"] = made[previous]
                options["control_apply_to_uncond"] = False
                result.append([embedding, options])
            out.append(result)
        return io.NodeOutput(out[0], out[1])
