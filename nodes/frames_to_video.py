"""FramesToVideo: IMAGE frames -> an .mp4/.webm/.gif/.webp file with a preview in the stock frontend. The node is
its schema, the preview and the VIDEO output; the encoding itself is motion/video_file.py."""
from __future__ import annotations

import torch
from comfy_api.latest import InputImpl, Types, io, ui

from ..motion.video_file import (FORMATS, QUALITY_MAX, SavedVideo, frame_order, rate_fraction, save_video,
                                 workflow_metadata)
from .progress import cancellable_progress


class FramesToVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FramesToVideo",
            display_name="Frames To Video (T2V-Zero)",
            category="T2V-Zero",
            description=(
                "Writes the frames as a video file (mp4 h264, webm vp9, animated gif or webp) into ComfyUI's output "
                "folder and shows it on the node. Needs no ffmpeg install (PyAV, which ComfyUI ships). Frames are "
                "encoded one at a time; files are never overwritten. The workflow is embedded (mp4, webm, webp): "
                "drop the file on ComfyUI to get it back."),
            inputs=[
                io.Image.Input("images", tooltip="The frames, in order (e.g. VAEDecode after MotionLatentSampler)."),
                io.Float.Input("frame_rate", default=8.0, min=0.01, max=1000.0, step=1.0, round=0.001,
                               tooltip="Frames per second. The Text2Video-Zero reference writes its text-to-video "
                                       "results at 4 fps (8 frames = 2 s); 8 plays them twice as fast."),
                io.Combo.Input("format", options=list(FORMATS), default="mp4",
                               tooltip="mp4: h264, yuv420p (plays everywhere). webm: vp9. gif: 256 colours per frame. "
                                       "webp: animated WebP. mp4/webm need even sizes: an odd width/height gets one "
                                       "repeated edge column/row."),
                io.Int.Input("quality", default=19, min=0, max=QUALITY_MAX,
                             tooltip="crf: lower = better and bigger; 19 looks lossless, 23-28 are smaller. mp4 and "
                                     "webm use it directly; webp: 0 = lossless, else WebP quality 100*sqrt(1-crf/51) "
                                     "(19 -> 79); gif ignores it."),
                io.Int.Input("loop_count", default=0, min=0, max=100,
                             tooltip="gif/webp: how often the file loops, 0 = forever. mp4/webm: the clip is "
                                     "written this many more times (0 = once)."),
                io.Boolean.Input("pingpong", default=False,
                                 tooltip="Play forwards then backwards (without repeating the first and last frame: "
                                         "N frames become 2N-2), for a seamless loop."),
                io.String.Input("filename_prefix", default="T2V-Zero/video",
                                tooltip="File name start, relative to ComfyUI's output folder; a folder part creates "
                                        "a subfolder. ComfyUI's %date:...%, %width%, %height% work. A counter is "
                                        "appended: video_00001_.mp4, video_00002_.mp4, ..."),
                io.Boolean.Input("save_output", default=True,
                                 tooltip="On: keep the file in ComfyUI's output folder. Off: write it to the temp "
                                         "folder (preview only; ComfyUI empties it on restart)."),
            ],
            outputs=[
                io.String.Output(display_name="path", tooltip="Absolute path of the written file."),
                io.Video.Output(display_name="video",
                                tooltip="The same video as a ComfyUI VIDEO, e.g. for core Save Video or Get Video "
                                        "Components (mp4/webm: the file itself; gif/webp: the frames and frame rate)."),
            ],
            hidden=[io.Hidden.prompt, io.Hidden.extra_pnginfo],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, images, frame_rate, format, quality, loop_count, pingpong, filename_prefix,
                save_output) -> io.NodeOutput:
        hidden = cls.hidden
        metadata = workflow_metadata(getattr(hidden, "prompt", None), getattr(hidden, "extra_pnginfo", None))
        saved = save_video(images, filename_prefix, format, frame_rate, quality, loop_count, pingpong, save_output,
                           metadata, on_frame=cancellable_progress())
        return io.NodeOutput(saved.path, _as_video(saved, images, format, frame_rate, pingpong),
                             ui=preview(saved, format))


def preview(saved: SavedVideo, format: str):
    """The stock frontend's preview: a <video> for mp4/webm (as core SaveVideo), an animated <img> for webp (as core
    SaveAnimatedWEBP). gif goes as a plain image: frontend 1.32 plays "animated" outputs whose name has neither
    "webp" nor "png" in a <video> element, which cannot show a gif."""
    result = ui.SavedResult(saved.filename, saved.subfolder, io.FolderType(saved.folder_type))
    if FORMATS[format].is_video:
        return ui.PreviewVideo([result])
    return ui.SavedImages([result], is_animated=format != "gif")


def _as_video(saved: SavedVideo, images: torch.Tensor, format: str, frame_rate: float, pingpong: bool):
    if FORMATS[format].is_video:
        return InputImpl.VideoFromFile(saved.path)
    # PyAV cannot decode animated WebP, and core SaveVideo cannot remux gif: hand over the frames themselves.
    frames = images[frame_order(images.shape[0], pingpong)] if pingpong else images
    return InputImpl.VideoFromComponents(Types.VideoComponents(images=frames, frame_rate=rate_fraction(frame_rate)))
