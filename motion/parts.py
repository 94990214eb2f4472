"""One video in parts: part i of n is a contiguous run of frames, so several machines can each compute one and the
parts, put together in order, are the video one machine makes.

With anchor ``first`` every frame depends only on itself and frame 0, and frame 0's trajectory is fixed by the seed:
a part's run computes frame 0 too (its single-frame phases, and its rows in the joint pass as the attention anchor)
and keeps only its own frames. The split balances the work: every part but the first also holds frame 0 in its joint
pass, so the F + N - 1 rows of the N joint passes are shared out evenly (part 0 gets one frame more than the others
where they would otherwise be equal).
"""
from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Part:
    """Frames [start, stop) of a ``frames``-frame video: part ``index`` of ``count``."""

    index: int
    count: int
    start: int
    stop: int
    frames: int

    @property
    def whole(self) -> bool:
        return self.count == 1

    @property
    def rows(self) -> list[int]:
        """Global frames a part's joint pass holds: frame 0 (the anchor) and the part's own, in order."""
        return sorted({0, *range(self.start, self.stop)})

    @property
    def kept(self) -> list[int]:
        """Positions in ``rows`` of the part's own frames: what the part outputs."""
        rows = self.rows
        return [rows.index(f) for f in range(self.start, self.stop)]

    def describe(self) -> str:
        last = f"-{self.stop - 1}" if self.stop - self.start > 1 else ""
        return f"part {self.index} of {self.count} (frames {self.start}{last} of {self.frames})"


DELEGATE_FIX = (" A master that only delegates (ComfyUI-Distributed's delegate-only mode: 'Master orchestrator "
                "only' in its panel) makes no part, and Distributed Seed numbers its workers from 1: there link "
                "Distributed Value into part instead, its fields set to 0 for worker 1, 1 for worker 2 and so on, and "
                "set parts to the number of workers.")
"""The way out for a master in delegate-only mode, added to the errors that setup ends in."""

LATENT_FRAMES = "the latent's batch (EmptyLatentImage's batch_size)"
"""Where a video's frame count comes from, for errors: the samplers' latent batch, unless the caller says else."""


def video_part(frames: int, index: int, count: int, frames_from: str = LATENT_FRAMES) -> Part:
    """Part ``index`` (0-based) of ``count`` of a ``frames``-frame video; ValueError naming the input and the valid
    range otherwise. ``frames_from``: what sets the frame count, named in the error's fix."""
    if count < 1:
        raise ValueError(f"parts must be at least 1, got {count}. Fix: 1 computes the whole video; N splits it into N "
                         f"parts (one per machine).")
    if count > frames:
        raise ValueError(f"parts is {count} but the video has {frames} frames: a part needs at least one frame. Fix: "
                         f"set parts to at most {frames} (or make more frames: {frames_from}).")
    if not 0 <= index < count:
        raise ValueError(f"part {index} is outside the {count} parts (valid: 0 to {count - 1}). Fix: set part from 0 "
                         f"to parts - 1 (with ComfyUI-Distributed: link Distributed Seed with seed 0, which gives "
                         f"the master 0 and worker k k; parts = the master + the workers)."
                         f"{DELEGATE_FIX if index == count else ''}")
    rows = frames + count - 1  # the joint passes' rows: each part's frames, and frame 0 again in parts 1..N-1

    def start(i):  # row bounds i * rows // count, less the frame-0 rows of the parts before
        return 0 if i == 0 else i * rows // count - i + 1

    return Part(index, count, start(index), start(index + 1) if index + 1 < count else frames, frames)


# --- part labels: a part's frames travel as an IMAGE batch, followed by one label frame ------------------------------
#
# Distributed runs gather every participant's frames into one IMAGE batch (ComfyUI-Distributed's collector: the
# master's first, then each worker's, as 8-bit PNG). To put the video together only when every part came, in order,
# each part's frames are followed by a label frame whose pixels spell out which part they are; the frames and the
# label are exact 8-bit levels (k / 255), which a PNG round trip keeps bit for bit.

LABEL_MAGIC = b"T2VZ-PART\x00"


def quantize_frames(images: torch.Tensor) -> torch.Tensor:
    """IMAGE frames at the 8-bit levels a video file stores (round(255 x) / 255, clamped): what every participant
    sends, so the master's frames and a worker's PNG-carried ones are the same numbers."""
    return (images.float().clamp(0.0, 1.0) * 255.0).round() / 255.0


def label_frame(part: Part, video: dict, height: int, width: int) -> torch.Tensor:
    """The label of ``part`` as one (1, height, width, 3) IMAGE: magic, length, JSON and CRC-32 bytes as 8-bit pixel
    levels, row by row, zeros after. ``video``: what identifies the video (e.g. its seed), compared across parts."""
    payload = json.dumps({"part": part.index, "parts": part.count, "start": part.start, "stop": part.stop,
                          "frames": part.frames, "video": video}, sort_keys=True).encode()
    data = LABEL_MAGIC + struct.pack("<I", len(payload)) + payload + struct.pack("<I", zlib.crc32(payload))
    if len(data) > height * width * 3:
        raise ValueError(f"frames of {width}x{height} pixels are too small to carry a part label ({len(data)} bytes). "
                         f"Fix: make the video at least 16x16 pixels.")
    flat = torch.zeros(height * width * 3)
    flat[:len(data)] = torch.tensor(list(data), dtype=torch.float32) / 255.0
    return flat.reshape(1, height, width, 3)


def read_label(frame: torch.Tensor) -> dict | None:
    """The label a frame (height, width, 3) carries, None if it is a picture (any values, also outside [0, 1])."""
    frame = frame.float().clamp(0.0, 1.0)  # a label is exact 8-bit levels; anything else only needs to read as bytes
    flat = (frame.flatten()[:len(LABEL_MAGIC) + 4] * 255.0).round()
    if bytes(int(v) for v in flat[:len(LABEL_MAGIC)].tolist()) != LABEL_MAGIC:
        return None
    size = struct.unpack("<I", bytes(int(v) for v in flat[len(LABEL_MAGIC):].tolist()))[0]
    end = len(LABEL_MAGIC) + 4 + size + 4
    if end > frame.numel():
        return None
    data = bytes(int(v) for v in (frame.flatten()[:end] * 255.0).round().tolist())
    payload, crc = data[len(LABEL_MAGIC) + 4:-4], struct.unpack("<I", data[-4:])[0]
    return json.loads(payload) if zlib.crc32(payload) == crc else None


def labelled_part(images: torch.Tensor, part: Part, video: dict) -> torch.Tensor:
    """A part's decoded frames, quantized, followed by its label frame."""
    if images.shape[0] != part.stop - part.start:
        raise ValueError(f"{part.describe()} needs {part.stop - part.start} frames, got {images.shape[0]}. Fix: give "
                         f"Decode Video Part the sampler's own output for this part, with no node between that "
                         f"changes the frames (pick frames after Join Video Parts instead).")
    frames = quantize_frames(images[..., :3])
    return torch.cat([frames, label_frame(part, video, frames.shape[1], frames.shape[2]).to(frames)])


def join_parts(images: torch.Tensor) -> torch.Tensor:
    """The video's frames from an IMAGE batch of labelled parts (each part's frames, then its label), checked: every
    part of the same video exactly once, in order, each with its frames; ValueError naming what is missing."""
    parts, pending = [], []
    for k in range(images.shape[0]):
        label = read_label(images[k])
        if label is None:
            pending.append(k)
        else:
            parts.append((label, pending))
            pending = []
    if not parts:
        raise ValueError("images holds no part of a video (no part labels). Fix: connect Decode Video Part's output "
                         "(directly, or through Distributed Collector) to Join Video Parts.")
    if pending:
        raise ValueError(f"{len(pending)} frames after the last part's label belong to no part. Fix: feed Join Video "
                         f"Parts only Decode Video Part outputs (through Distributed Collector).")
    first = parts[0][0]
    count, frames, video = first["parts"], first["frames"], first["video"]
    for label, _ in parts:
        if (label["parts"], label["frames"], label["video"]) != (count, frames, video):
            raise ValueError(f"the parts come from different videos: {_describe(first)} is of {first['frames']} "
                             f"frames in {first['parts']} parts ({first['video']}), {_describe(label)} of "
                             f"{label['frames']} in {label['parts']} ({label['video']}). Fix: every participant must "
                             f"run the same workflow: the same seed, size and frame count, and the same parts.")
    got = [label["part"] for label, _ in parts]
    missing = [video_part(frames, i, count) for i in range(count) if i not in got]
    if missing:
        raise ValueError(f"the video is incomplete: {', '.join(p.describe() for p in missing)} did not arrive "
                         f"(received parts {sorted(got)}). The machine computing it sent no frames: a worker that "
                         f"was offline when the job was queued (the others then compute the first parts), stopped "
                         f"or failed (see its log). Fix: start the worker and run again, or set parts to the number "
                         f"of machines that take part (the master and the enabled workers). No video was written."
                         f"{DELEGATE_FIX if 0 in [p.index for p in missing] else ''}")
    if got != list(range(count)):
        raise ValueError(f"the parts arrived as {got}, not once each in order 0..{count - 1}. Fix: give every "
                         f"participant its own part (Distributed Seed set to 0 and 'fixed' into part).")
    for label, rows in parts:
        if len(rows) != label["stop"] - label["start"]:
            raise ValueError(f"{_describe(label)} came with {len(rows)} frames instead of "
                             f"{label['stop'] - label['start']}. Fix: connect Decode Video Part directly to "
                             f"Distributed Collector.")
    return images[[k for _, rows in parts for k in rows]]


def _describe(label: dict) -> str:
    return Part(label["part"], label["parts"], label["start"], label["stop"], label["frames"]).describe()
