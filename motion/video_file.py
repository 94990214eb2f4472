"""Writing IMAGE batches to video files with PyAV (no ffmpeg binary needed): mp4 (h264), webm (vp9), gif, webp.

Frames are converted to 8-bit and handed to the encoder one at a time, so memory does not grow with the length of
the video beyond the input tensor. Files are written under a temporary name in the target folder and only get
their final name once complete; an existing file is never overwritten.
"""
from __future__ import annotations

import json
import logging
import os
import struct
import uuid
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np
import torch

log = logging.getLogger("t2v-zero")


@dataclass(frozen=True)
class VideoFormat:
    name: str
    extension: str
    container: str  # PyAV/ffmpeg muxer name
    codec: str  # PyAV/ffmpeg encoder name
    pix_fmt: str
    is_video: bool  # True: played in a <video> element (mp4/webm); False: an animated image (gif/webp)


FORMATS = {
    "mp4": VideoFormat("mp4", "mp4", "mp4", "libx264", "yuv420p", True),
    "webm": VideoFormat("webm", "webm", "webm", "libvpx-vp9", "yuv420p", True),
    "gif": VideoFormat("gif", "gif", "gif", "gif", "pal8", False),
    "webp": VideoFormat("webp", "webp", "webp", "libwebp_anim", "bgra", False),
}
QUALITY_MAX = 51


# --- validation and frame order ---------------------------------------------------------------------------------
def check_inputs(images, frame_rate: float, format: str, quality: int = 19, loop_count: int = 0) -> VideoFormat:
    """The format's description; ValueError naming the input and the fix for anything that cannot be encoded."""
    if format not in FORMATS:
        raise ValueError(f"format {format!r} is not supported. Fix: pick one of {', '.join(FORMATS)}.")
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[-1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be an IMAGE batch shaped (frames, height, width, 3), got {shape}. Fix: connect "
                         f"an IMAGE output such as VAEDecode's (RGBA or mask inputs need converting to RGB first).")
    if images.shape[0] == 0:
        raise ValueError("images has 0 frames: there is nothing to encode. Fix: connect a non-empty IMAGE batch "
                         "(e.g. EmptyLatentImage batch_size >= 1 before sampling and decoding).")
    if images.shape[1] < 1 or images.shape[2] < 1:
        raise ValueError(f"images are {images.shape[2]}x{images.shape[1]} pixels. Fix: connect real frames.")
    if not (frame_rate > 0) or frame_rate != frame_rate or frame_rate == float("inf"):
        raise ValueError(f"frame_rate must be a positive number of frames per second, got {frame_rate}. Fix: set "
                         f"frame_rate above 0 (the Text2Video-Zero reference writes 4 fps; 8 is common).")
    if not 0 <= int(quality) <= QUALITY_MAX:
        raise ValueError(f"quality must be a crf between 0 and {QUALITY_MAX}, got {quality}. Fix: use 19 (high "
                         f"quality) to 28 (smaller files).")
    if int(loop_count) < 0:
        raise ValueError(f"loop_count must be 0 or more, got {loop_count}. Fix: use 0.")
    return FORMATS[format]


def frame_order(count: int, pingpong: bool = False, repeats: int = 0) -> list[int]:
    """Indices of the frames in the order they are written: the clip, with pingpong the clip played back without
    repeating its first and last frame (2N-2 frames), and all of that ``repeats`` more times."""
    order = list(range(count))
    if pingpong and count > 2:
        order += list(range(count - 2, 0, -1))
    return order * (1 + max(0, int(repeats)))


def to_uint8(frame: torch.Tensor) -> np.ndarray:
    """One IMAGE frame (H, W, 3 floats in 0..1, any device) as an (H, W, 3) uint8 array."""
    return (frame.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def pad_to_even(frame: np.ndarray) -> np.ndarray:
    """Odd width/height padded by one row/column copied from the edge (yuv420p needs even sizes)."""
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def rate_fraction(frame_rate: float) -> Fraction:
    """Frames per second as an exact fraction with millisecond precision (23.976 -> 2997/125)."""
    return Fraction(round(frame_rate * 1000), 1000)


def webp_quality(crf: int) -> tuple[bool, int]:
    """(lossless, quality 0..100) for a crf: 0 is lossless, then 100*sqrt(1 - crf/51): 19 -> 79, 28 -> 67, 51 -> 0."""
    crf = int(crf)
    if crf <= 0:
        return True, 100
    return False, int(round(100 * (1 - min(crf, QUALITY_MAX) / QUALITY_MAX) ** 0.5))


# --- metadata ---------------------------------------------------------------------------------------------------
def workflow_metadata(prompt=None, extra_pnginfo=None) -> dict[str, str]:
    """Container tags: "prompt" and every extra_pnginfo key (e.g. "workflow") as JSON, which ComfyUI's frontend
    reads back when a .mp4/.webm is dropped on it, and "comment" holding both as one JSON object for other players.
    Empty with ComfyUI's --disable-metadata."""
    from comfy.cli_args import args  # noqa: PLC0415

    if args.disable_metadata:
        return {}
    tags = {}
    if prompt is not None:
        tags["prompt"] = json.dumps(prompt)
    for key, value in (extra_pnginfo or {}).items():
        tags[str(key)] = json.dumps(value)
    if tags:
        tags["comment"] = json.dumps({"prompt": prompt, **(extra_pnginfo or {})})
    return tags


def _webp_exif(tags: dict[str, str]) -> bytes:
    """An EXIF block in ComfyUI's own WebP layout: 0x0110 "prompt:{json}", then 0x010F, 0x010E... "key:{json}"."""
    from PIL import Image  # noqa: PLC0415

    exif = Image.Exif()
    if "prompt" in tags:
        exif[0x0110] = "prompt:" + tags["prompt"]
    tag = 0x010F
    for key, value in tags.items():
        if key not in ("prompt", "comment"):
            exif[tag] = f"{key}:{value}"
            tag -= 1
    data = exif.tobytes()
    return data[6:] if data.startswith(b"Exif\x00\x00") else data


def add_webp_exif(path: str, exif: bytes) -> None:
    """Append an EXIF chunk to an extended (VP8X) WebP file, as the WebP container spec allows."""
    with open(path, "r+b") as f:
        head = f.read(30)
        if head[:4] != b"RIFF" or head[8:12] != b"WEBP" or head[12:16] != b"VP8X":
            log.warning("T2V-Zero: %s is not an extended WebP; its workflow metadata was left out.", path)
            return
        f.seek(20)
        flags = f.read(1)[0]
        f.seek(20)
        f.write(bytes([flags | 0x08]))  # the VP8X "has EXIF" flag
        f.seek(0, os.SEEK_END)
        if f.tell() % 2:
            f.write(b"\x00")
        f.write(b"EXIF" + struct.pack("<I", len(exif)) + exif + (b"\x00" if len(exif) % 2 else b""))
        size = f.tell()
        f.seek(4)
        f.write(struct.pack("<I", size - 8))


# --- encoding ---------------------------------------------------------------------------------------------------
def _pal8(frame: np.ndarray):
    """(indices, ARGB palette) for PyAV's pal8 frames: an adaptive 256-colour palette per frame, dithered."""
    from PIL import Image  # noqa: PLC0415

    image = Image.fromarray(frame).quantize(256, dither=Image.Dither.FLOYDSTEINBERG)
    rgb = np.array(image.getpalette()[: 256 * 3], dtype=np.uint8).reshape(-1, 3)
    palette = np.zeros((256, 4), dtype=np.uint8)
    palette[:, 0] = 255
    palette[: len(rgb), 1:] = rgb
    return np.asarray(image, dtype=np.uint8), palette


def encode(images: torch.Tensor, path: str, fmt: VideoFormat, frame_rate: float, quality: int = 19,
           loop_count: int = 0, pingpong: bool = False, metadata: dict[str, str] | None = None,
           on_frame: Callable[[int, int], None] | None = None) -> int:
    """Encode ``images`` (N, H, W, 3) into ``path``; returns the number of frames written.

    mp4/webm: ``loop_count`` more plays of the clip are written into the file; gif/webp: it is the file's loop count
    (0 = forever). ``on_frame(done, total)`` is called after each frame (progress, cancel)."""
    import av  # noqa: PLC0415

    order = frame_order(images.shape[0], pingpong, loop_count if fmt.is_video else 0)
    height, width = images.shape[1], images.shape[2]
    if fmt.pix_fmt == "yuv420p" and (height % 2 or width % 2):
        log.info("T2V-Zero FramesToVideo: %dx%d frames padded to %dx%d (yuv420p needs even sizes; the last "
                 "column/row is repeated).", width, height, width + width % 2, height + height % 2)
        width, height = width + width % 2, height + height % 2
    options = {}
    if fmt.name == "mp4":
        options["movflags"] = "use_metadata_tags+faststart"  # ComfyUI-readable tags; playable while downloading
    if fmt.name in ("gif", "webp"):
        options["loop"] = str(int(loop_count))
    rate = rate_fraction(frame_rate)
    with av.open(path, mode="w", format=fmt.container, options=options) as container:
        if fmt.is_video:
            for key, value in (metadata or {}).items():
                container.metadata[key] = value
        stream = container.add_stream(fmt.codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, fmt.pix_fmt
        if fmt.name == "mp4":
            stream.options = {"crf": str(int(quality)), "preset": "medium"}
        elif fmt.name == "webm":
            stream.bit_rate = 0  # constant quality: crf alone decides
            stream.options = {"crf": str(int(quality)), "b:v": "0", "deadline": "good", "cpu-used": "4",
                              "row-mt": "1"}
        elif fmt.name == "webp":
            lossless, q = webp_quality(quality)
            stream.options = {"lossless": "1" if lossless else "0", "quality": str(q)}
        # gif stores delays in 1/100 s: timestamps in that unit give e.g. 8 fps as alternating 12/13 delays (and
        # at least 1/100 s per frame above 100 fps)
        time_base = Fraction(1, 100) if fmt.name == "gif" else 1 / rate
        stream.codec_context.time_base = time_base
        pts = -1
        for done, index in enumerate(order, 1):
            pixels = to_uint8(images[index])
            if fmt.pix_fmt == "pal8":
                frame = av.VideoFrame.from_ndarray(_pal8(pixels), format="pal8")
            else:
                frame = av.VideoFrame.from_ndarray(pad_to_even(pixels) if fmt.pix_fmt == "yuv420p" else pixels,
                                                   format="rgb24")
            pts = max(pts + 1, round((done - 1) / rate / time_base))
            frame.pts, frame.time_base = pts, time_base
            container.mux(stream.encode(frame))
            del frame, pixels
            if on_frame is not None:
                on_frame(done, len(order))
        container.mux(stream.encode(None))
    if fmt.name == "webp" and metadata:
        add_webp_exif(path, _webp_exif(metadata))
    return len(order)


# --- files ------------------------------------------------------------------------------------------------------
def _publish(tmp: str, folder: str, name_for: Callable[[int], str], counter: int) -> str:
    """Give the finished ``tmp`` its final name ``name_for(counter)``, taking the next counter while that name
    exists; returns the name. A hard link fails instead of replacing an existing file (race-free); where hard links
    are not available, os.replace after an existence check."""
    while True:
        name = name_for(counter)
        final = os.path.join(folder, name)
        try:
            os.link(tmp, final)
        except FileExistsError:
            counter += 1
            continue
        except OSError:  # no hard links on this file system
            if os.path.exists(final):
                counter += 1
                continue
            os.replace(tmp, final)
            return name
        os.unlink(tmp)
        return name


@dataclass
class SavedVideo:
    path: str  # absolute path of the file
    filename: str
    subfolder: str
    folder_type: str  # "output" or "temp"
    frames: int


def save_video(images: torch.Tensor, filename_prefix: str, format: str = "mp4", frame_rate: float = 8.0,
               quality: int = 19, loop_count: int = 0, pingpong: bool = False, save_output: bool = True,
               metadata: dict[str, str] | None = None,
               on_frame: Callable[[int, int], None] | None = None) -> SavedVideo:
    """Encode into ComfyUI's output folder (or its temp folder) as <prefix>_<counter>_.<ext>, never overwriting."""
    import folder_paths  # noqa: PLC0415

    fmt = check_inputs(images, frame_rate, format, quality, loop_count)
    base = folder_paths.get_output_directory() if save_output else folder_paths.get_temp_directory()
    folder, filename, counter, subfolder, _ = folder_paths.get_save_image_path(
        filename_prefix, base, images.shape[2], images.shape[1])
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{filename}_{uuid.uuid4().hex[:12]}.partial.{fmt.extension}")
    try:
        frames = encode(images, tmp, fmt, frame_rate, quality, loop_count, pingpong, metadata, on_frame)
        name = _publish(tmp, folder, lambda c: f"{filename}_{c:05}_.{fmt.extension}", counter)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return SavedVideo(os.path.join(folder, name), name, subfolder, "output" if save_output else "temp", frames)

