"""The camera: the motion inputs Motion Latent Sampler and Motion Preview share, Camera Path (keyframes), and Motion
Preview (what the camera does to frame 0, in milliseconds, before a generation). The work is in motion/camera.py and
motion/field.py (the sampler's own warp)."""
from __future__ import annotations

import dataclasses
import logging

import torch
from comfy_api.latest import io, ui

from ..motion.camera import INTERPOLATIONS, SYNTAX, Camera, ConstantMotion, camera_path
from ..motion.preview import PREVIEW_SIDE, fit_image, grid_pattern, preview_frames, preview_size
from ..motion.sampler import NOISE_MOTION
from ..motion.video_file import save_video

log = logging.getLogger("t2v-zero")

CameraPathType = io.Custom("CAMERA_PATH")
FloatsType = io.Custom("FLOATS")  # ComfyUI's list of floats (e.g. from a schedule or float-list node)

MOTION_DEFAULTS = {field.name: field.default for field in dataclasses.fields(ConstantMotion)}
"""The motion inputs' defaults: ConstantMotion's (the reference's 12 px per frame, no zoom, no rotation)."""

MOTION_ONLY = " Moves the camera only in noise_mode 'motion' (shared and independent make no camera move)."


def motion_inputs() -> list:
    """The constant camera motion inputs (Motion Latent Sampler, Motion Preview)."""
    return [
        io.Float.Input("motion_x", default=MOTION_DEFAULTS["motion_x"], min=-512.0, max=512.0, step=0.5,
                       tooltip="Horizontal camera motion per frame, in the reference's units (pixels of a "
                               "512-pixel-wide frame; scales with the real width). Positive moves the content "
                               "to the LEFT (the camera pans right); negative to the right. A camera_path wins."
                               + MOTION_ONLY),
        io.Float.Input("motion_y", default=MOTION_DEFAULTS["motion_y"], min=-512.0, max=512.0, step=0.5,
                       tooltip="Vertical camera motion per frame, pixels of a 512-pixel-high frame. Positive "
                               "moves the content UP; negative down. A camera_path wins." + MOTION_ONLY),
        io.Float.Input("zoom", default=MOTION_DEFAULTS["zoom"], min=0.5, max=2.0, step=0.005,
                       tooltip="Zoom per frame about the centre: 1 = none, above 1 moves in (content grows), "
                               "below 1 moves out. Frame k is zoomed zoom^k. A camera_path wins." + MOTION_ONLY),
        io.Float.Input("rotation", default=MOTION_DEFAULTS["rotation"], min=-45.0, max=45.0, step=0.1,
                       tooltip="Rotation per frame in degrees about the centre: positive turns the content "
                               "anticlockwise on screen, negative clockwise. Frame k turns k times this. A "
                               "camera_path wins." + MOTION_ONLY),
    ]


def camera_path_input() -> io.Input:
    return CameraPathType.Input("camera_path", optional=True,
                                tooltip="A keyframed camera move (Camera Path node). When linked it replaces "
                                        "motion_x, motion_y, zoom and rotation (the path wins; a log line says so "
                                        "when those are not at their defaults)." + MOTION_ONLY)


def chosen_camera(node: str, path, noise_mode: str | None = None, **motion) -> Camera:
    """The camera a node's inputs ask for: the linked path, else the constant motion inputs (ValueError naming an
    input that is not a number). Logs one line when inputs the user set do nothing: motion inputs under a linked
    path, or any camera in a noise mode that does not move it (``noise_mode`` None: the node has no such mode)."""
    constant = ConstantMotion(**motion)  # checked even under a path: a NaN input is a mistake either way
    camera = path if path is not None else constant
    changed = [name for name, value in motion.items() if value != MOTION_DEFAULTS[name]]
    if noise_mode is not None and noise_mode != NOISE_MOTION:
        if path is not None or changed:
            set_by = ["camera_path"] if path is not None else [f"{name}={motion[name]}" for name in changed]
            log.info("t2v-zero %s: noise_mode is '%s', which makes no camera move, so these inputs do nothing: %s. "
                     "The camera moves only in noise_mode 'motion'.", node, noise_mode, ", ".join(set_by))
    elif path is not None and changed:
        log.info("t2v-zero %s: camera_path is linked and sets the camera, so these inputs are ignored: %s.", node,
                 ", ".join(f"{name}={motion[name]}" for name in changed))
    return camera


SCHEDULE_TOOLTIP = ("Keyframes as frame:(value), separated by commas, e.g. {example}. Frames in between are "
                    "interpolated; before the first keyframe and after the last the value holds. {what}")


class CameraPath(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        def schedule(name, default, example, what):
            return io.String.Input(name, default=default, multiline=True,
                                   tooltip=SCHEDULE_TOOLTIP.format(example=example, what=what))

        def values(name, what):
            return FloatsType.Input(f"{name}_values", optional=True,
                                    tooltip=f"Instead of the {name} text: one {what} per frame from another node's "
                                            f"float list (value k is frame k's; the last holds after the list).")

        return io.Schema(
            node_id="CameraPath",
            display_name="Camera Path (T2V-Zero)",
            category="T2V-Zero",
            description=(
                "A keyframed camera move for Motion Latent Sampler and Motion Preview: pan, zoom and rotation at "
                "chosen frames, relative to frame 0, eased between keyframes (the frame:(value) schedules of "
                "FizzNodes / Deforum). Hold still, ease into a pan, then push in; or a slow Ken Burns move over a "
                f"photo. Syntax: {SYNTAX}."),
            inputs=[
                schedule("pan_x", "0:(0)", "0:(0), 12:(0), 36:(96)",
                         "Horizontal camera position in pixels of a 512-pixel-wide frame (motion_x's units): "
                         "positive moves the content LEFT. 0:(0), 10:(120) = 12 per frame for 10 frames."),
                schedule("pan_y", "0:(0)", "0:(0), 24:(-48)", "Vertical position, pixels of a 512-pixel-high "
                         "frame: positive moves the content UP."),
                schedule("zoom", "0:(1)", "0:(1), 24:(1), 48:(1.5)", "Zoom factor: 1 = as frame 0, 1.5 = 1.5 times "
                         "closer (content grows), 0.8 = farther; interpolated geometrically (a steady push-in). Must "
                         "be above 0."),
                schedule("rotation", "0:(0)", "0:(0), 48:(10)", "Rotation in degrees: positive turns the content "
                         "anticlockwise on screen."),
                io.Combo.Input("interpolation", options=list(INTERPOLATIONS), default="ease_in_out",
                               tooltip="How the camera moves between keyframes: linear (even speed), ease_in_out "
                                       "(starts and stops gently), ease_in (starts gently), ease_out (stops gently), "
                                       "hold (jumps at each keyframe)."),
                values("pan_x", "pan x"), values("pan_y", "pan y"), values("zoom", "zoom factor"),
                values("rotation", "rotation"),
            ],
            outputs=[CameraPathType.Output(display_name="camera_path",
                                           tooltip="Into Motion Latent Sampler's and Motion Preview's camera_path.")],
        )

    @classmethod
    def execute(cls, pan_x, pan_y, zoom, rotation, interpolation, pan_x_values=None, pan_y_values=None,
                zoom_values=None, rotation_values=None) -> io.NodeOutput:
        lists = {"pan_x": pan_x_values, "pan_y": pan_y_values, "zoom": zoom_values, "rotation": rotation_values}
        return io.NodeOutput(camera_path(pan_x, pan_y, zoom, rotation, interpolation,
                                         {k: v for k, v in lists.items() if v is not None}))


class MotionPreview(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MotionPreview",
            display_name="Motion Preview (T2V-Zero)",
            category="T2V-Zero",
            description=(
                "Shows, in milliseconds, what the camera does to frame 0 over the video's frames: the very warp "
                "Motion Latent Sampler applies (same maps, same reflection at the edges), on your first frame or a "
                "test pattern (grid, red centre cross, yellow top-left corner). Wire it beside the sampler with the "
                "same latent, motion inputs or camera_path, and look at the move before queueing the generation "
                "(run just this node: right-click > Queue Selected Output Nodes)."),
            inputs=[
                io.Latent.Input("latent_image", tooltip="The sampler's latent (EmptyLatentImage): its size and batch "
                                "size (the number of frames) set the preview's."),
                *motion_inputs(),
                camera_path_input(),
                io.Image.Input("first_frame", optional=True,
                               tooltip="The picture frame 0 is (the image you VAE-encode for the sampler's "
                                       "first_frame): shown moving instead of the test pattern; scaled and "
                                       "centre-cropped to the video's size."),
                io.Float.Input("frame_rate", default=8.0, min=0.01, max=1000.0, step=1.0, round=0.001,
                               optional=True, tooltip="Frames per second of the preview animation."),
            ],
            outputs=[io.Image.Output(display_name="frames", tooltip="The preview frames (e.g. into Frames To Video "
                                     "to keep them).")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, latent_image, motion_x, motion_y, zoom, rotation, camera_path=None, first_frame=None,
                frame_rate=8.0) -> io.NodeOutput:
        samples = latent_image["samples"]
        if not isinstance(samples, torch.Tensor) or samples.ndim != 4 or samples.shape[0] < 1:
            raise ValueError("latent_image must be a batch of frames (EmptyLatentImage). Fix: connect the latent the "
                             "sampler gets.")
        frames, height, width = samples.shape[0], samples.shape[-2] * 8, samples.shape[-1] * 8
        camera = chosen_camera("Motion Preview", camera_path, motion_x=motion_x, motion_y=motion_y, zoom=zoom,
                               rotation=rotation)
        first = grid_pattern(height, width) if first_frame is None else fit_image(first_frame, height, width)
        images = preview_frames(first, frames, camera)
        shown = images
        if max(height, width) > PREVIEW_SIDE:
            shown = fit_image(images, *preview_size(height, width), first_only=False)
        saved = save_video(shown, "T2V-Zero/motion-preview", "webp", frame_rate, quality=30, save_output=False)
        result = ui.SavedResult(saved.filename, saved.subfolder, io.FolderType(saved.folder_type))
        return io.NodeOutput(images, ui=ui.SavedImages([result], is_animated=True))
