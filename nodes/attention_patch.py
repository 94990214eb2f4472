"""CrossFrameAttentionPatch: MODEL -> MODEL with Text2Video-Zero's cross-frame attention."""
from __future__ import annotations

from comfy_api.latest import io

from ..attention import ANCHOR_FIRST, ANCHOR_MODES, SUPPORTED, CrossFrameAttention, percent_sigmas, with_cross_frame


class CrossFrameAttentionPatch(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="CrossFrameAttentionPatch",
            display_name="Cross-Frame Attention (T2V-Zero)",
            category="T2V-Zero",
            description=(
                "Makes every frame's self-attention read the keys and values of the video's first frame "
                "(Text2Video-Zero), which keeps identity, appearance and background consistent across frames. "
                "Works with any sampler, CFG setting, context windows and other attention patches, on "
                f"{SUPPORTED}; on the DiTs every frame's text and image tokens read frame 0's. "
                "MotionLatentSampler applies it with the defaults by itself; use this node to change them."),
            inputs=[
                io.Model.Input("model", tooltip=f"The diffusion model to patch: {SUPPORTED} (and their "
                               "fine-tunes). Another family, and video models, are refused with an error naming them. "
                               "Put this node last, after any node that sets an attention override (Block Sparse "
                               "Attention, attention backends): an override placed over it is refused. The original "
                               "is left untouched: the node returns a patched copy."),
                io.Combo.Input("anchor", options=list(ANCHOR_MODES), default=ANCHOR_FIRST,
                               tooltip="first: every frame attends to frame 0 only (the paper). first+previous: to "
                                       "frame 0 and its own previous frame (sparse-causal), smoother motion at a "
                                       "little more memory."),
                io.Float.Input("strength", default=1.0, min=0.0, max=1.0, step=0.05,
                               tooltip="1 = the paper (the anchor's keys/values replace the frame's own). Lower values "
                                       "blend in the frame's own keys/values: more freedom per frame, less "
                                       "consistency. 0 = off."),
                io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Fraction of the denoising (0 = first step) at which cross-frame attention "
                                       "starts."),
                io.Float.Input("end_percent", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Fraction of the denoising (1 = last step) at which it stops."),
            ],
            outputs=[io.Model.Output(tooltip="The model with cross-frame attention in every self-attention layer.")],
        )

    @classmethod
    def execute(cls, model, anchor: str, strength: float, start_percent: float, end_percent: float) -> io.NodeOutput:
        if start_percent > end_percent:
            raise ValueError(f"start_percent ({start_percent}) is after end_percent ({end_percent}). Fix: make "
                             f"start_percent <= end_percent.")
        sigma_start, sigma_end = percent_sigmas(model, start_percent, end_percent)
        patch = CrossFrameAttention(anchor=anchor, strength=strength, sigma_start=sigma_start, sigma_end=sigma_end)
        return io.NodeOutput(with_cross_frame(model, patch))
