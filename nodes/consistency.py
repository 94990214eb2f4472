"""Video Consistency Metrics: warp error, flicker and motion alignment of any video (an IMAGE batch), with a plot
per pair of frames on the node. The measuring is motion/consistency.py; this is its schema, the optional RAFT
(ComfyUI 0.33's OPTICAL_FLOW), progress and cancel, and the UI output."""
from __future__ import annotations

import torch
from comfy_api.latest import io, ui

from ..motion.consistency import FLOW_METHODS, STATIC_FLOW_PX, consistency_plot, measure_consistency, raft_flow
from ..motion.flow_noise import SourceMotion, source_motion
from .progress import cancellable_progress

# ComfyUI 0.33's Load Optical Flow Model outputs this type (a ModelPatcher holding torchvision's RAFT-large). A
# custom type by name loads on every supported ComfyUI: on 0.3.75, which has no such loader, the input just stays
# unlinked. (0.33's comfy_api has no named io class for it; core declares it as io.Custom("OPTICAL_FLOW") too.)
OpticalFlowType = io.Custom("OPTICAL_FLOW")


class VideoConsistencyMetrics(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="VideoConsistencyMetrics",
            display_name="Video Consistency Metrics (T2V-Zero)",
            category="T2V-Zero",
            description=(
                "Measures how consistent a video is, on any frames (wire it after VAE Decode of any video "
                "workflow): warp error (each frame against the previous one moved along the optical flow; "
                "occluded pixels left out by a forward-backward check), flicker (change where nothing should "
                "change) and, given the source video of an edit, motion alignment (does the video move as the "
                "source does; V2VBench's sign, 0 = exactly). Shows a plot on the node: the figures per pair of "
                "frames, the overall ones in its titles; the report output reads in words in core's Preview as "
                "Text. Flow from OpenCV (no weights) or core's Load Optical Flow Model (RAFT)."),
            inputs=[
                io.Image.Input("frames", tooltip="The video to measure: its frames in order, 2 or more (e.g. VAE "
                               "Decode after Motion Latent Sampler, or Load Video's frames)."),
                io.Combo.Input("flow_method", options=list(FLOW_METHODS), default="dis",
                               tooltip="Optical flow without weights, from OpenCV: dis (DIS, preset medium: fast, "
                                       "sharp at edges) or farneback (smoother). A linked optical_flow (RAFT) is "
                                       "used instead. Compare only figures measured with the same flow."),
                io.Image.Input("source_frames", optional=True,
                               tooltip="For edits (Edit Video, Instruct-Pix2Pix Video, video-to-video): the source "
                                       "video the frames were made from, same frame count and size. Enables motion "
                                       "alignment, and flicker is then measured where the source does not change "
                                       "(without it: where the video's own flow stands still)."),
                OpticalFlowType.Input("optical_flow", optional=True,
                                      tooltip="ComfyUI 0.33+: Load Optical Flow Model's RAFT (raft_large.pth in "
                                              "models/optical_flow) computes the flow instead of flow_method, on "
                                              "the video and the source. Slower on the CPU, better on large "
                                              "motion."),
            ],
            outputs=[
                io.Float.Output(display_name="warp_error",
                                tooltip="Mean |frame t+1 - frame t warped onto it| over the pixels the flow "
                                        "round-trips, in 8-bit levels (0-255); 0 = frames follow each other "
                                        "exactly along the motion. NaN when no pixel can be measured."),
                io.Float.Output(display_name="flicker",
                                tooltip="Mean |frame t+1 - frame t| in 8-bit levels where nothing should change "
                                        "(the source stands still there; without a source, the video's own flow "
                                        f"is under {STATIC_FLOW_PX} px). 0 = no flicker. NaN when no pixel stands "
                                        "still (e.g. a moving camera without source_frames)."),
                io.Float.Output(display_name="motion_alignment",
                                tooltip="Minus the mean end-point error (px) between the flow of the frames and "
                                        "that of source_frames: 0 = moves exactly as the source, more negative = "
                                        "worse (V2VBench's convention). NaN without source_frames."),
                io.String.Output(display_name="report",
                                 tooltip="The figures in words, with units, what was measured and the per-pair "
                                         "values: wire it into core's Preview as Text to read it on the canvas."),
                io.Image.Output(display_name="plot",
                                tooltip="The per-pair plot shown on the node, as an IMAGE (e.g. into Save Image)."),
            ],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, frames, flow_method, source_frames=None, optical_flow=None) -> io.NodeOutput:
        flow = flow_method if optical_flow is None else raft_estimator(optical_flow)
        result = measure_consistency(frames, source_frames, flow, on_pair=cancellable_progress())
        plot = consistency_plot(result)
        report = result.report()
        shown = {**ui.PreviewImage(plot, cls=cls).as_dict(), "text": (report,)}
        return io.NodeOutput(result.warp_error, result.flicker, result.motion_alignment, report, plot, ui=shown)


def raft_estimator(optical_flow):
    """A flow estimator from core's OPTICAL_FLOW (a ModelPatcher around torchvision's RAFT), loaded the way core's
    own VOID nodes load it (model management moves it to the compute device)."""
    import comfy.model_management  # noqa: PLC0415

    model = getattr(optical_flow, "model", None)
    if not isinstance(model, torch.nn.Module) or not hasattr(optical_flow, "load_device"):
        raise ValueError(f"optical_flow is not an optical flow model but {type(optical_flow).__name__}. Fix: "
                         "connect Load Optical Flow Model (ComfyUI 0.33+), or leave optical_flow unlinked to use "
                         "flow_method.")
    comfy.model_management.load_model_gpu(optical_flow)
    return raft_flow(model, optical_flow.load_device)


def flow_inputs(source: str) -> list:
    """attention_along_flow and optical_flow: the inputs of the nodes whose noise (noise_mode 'flow') and attention
    can follow the motion of ``source`` (the frames the flow is computed from, as the tooltips name them)."""
    return [
        io.Boolean.Input("attention_along_flow", default=False, optional=True,
                         tooltip=f"Also attend along the motion of {source} (FLATTEN's trajectory attention): after "
                                 f"every self-attention, each patch's output attends to the patches on its "
                                 f"optical-flow trajectory in the other frames. Costs time and some memory; see the "
                                 f"pack's docs/consistency.md for what it does on the measured clips. Frame chunks "
                                 f"and parts attend along trajectories within each chunk / part only."),
        OpticalFlowType.Input("optical_flow", optional=True,
                              tooltip=f"ComfyUI 0.33+: Load Optical Flow Model's RAFT (raft_large.pth in "
                                      f"models/optical_flow) computes the flow of {source} for noise_mode 'flow' "
                                      f"and attention_along_flow. Unlinked: OpenCV's DIS (no weights)."),
    ]


def source_flow(frames, optical_flow, name: str) -> SourceMotion:
    """The optical flow of ``frames`` (the input ``name``): the linked ``optical_flow``'s RAFT, else OpenCV's DIS; a
    progress bar per pair of frames, Cancel between them."""
    estimator = raft_estimator(optical_flow) if optical_flow is not None else None
    return source_motion(frames, estimator, cancellable_progress(), name)
