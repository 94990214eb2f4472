"""One video over several machines (ComfyUI-Distributed): Decode Video Part labels a part's frames for the collector,
Join Video Parts puts the collected parts together and refuses an incomplete video. The work is in motion/parts.py."""
from __future__ import annotations

from comfy_api.latest import io

from ..motion.parts import join_parts, labelled_part, video_part
from ..motion.vae import decode_frames

PART_KEY = "t2vz_part"
"""LATENT key: which part of which video the samples are (set by the samplers, read by Decode Video Part)."""

PART_TOOLTIP = ("Which part of the video this run makes, 0 to parts - 1: a run of consecutive frames of the latent's "
                "batch, exactly as the whole video's run makes them (the split evens out the work: parts after the "
                "first also recompute frame 0). With ComfyUI-Distributed link a Distributed Seed set to 0 and "
                "'fixed': the master makes part 0, worker k part k.")
PARTS_TOOLTIP = ("How many parts the video is split into: 1 = the whole video here. With ComfyUI-Distributed: the "
                 "master plus the enabled workers. Then: Decode Video Part -> Distributed Collector -> Join Video "
                 "Parts -> Frames To Video.")


def part_inputs() -> list:
    """The part / parts inputs (Motion Latent Sampler, Instruct-Pix2Pix Video)."""
    return [io.Int.Input("part", default=0, min=0, max=4095, optional=True, tooltip=PART_TOOLTIP),
            io.Int.Input("parts", default=1, min=1, max=4096, optional=True, tooltip=PARTS_TOOLTIP)]


def part_latent(latent: dict, samples, part, video: dict) -> dict:
    """The samplers' LATENT output: ``samples``; a part of a video (parts > 1) is labelled with the part and its
    video. A whole video carries no label: core nodes (Latent From Batch...) copy a LATENT's keys, and a label would
    then describe frames the samples no longer are."""
    out = {k: v for k, v in latent.items() if k not in ("noise_mask", "batch_index", PART_KEY)}
    out["samples"] = samples
    if not part.whole:
        out[PART_KEY] = {"index": part.index, "count": part.count, "frames": part.frames, "video": video}
    return out


def labelled_samples(samples: dict):
    """(the Part, the video id) a LATENT's samples are: its label, or a whole video of its frames when unlabelled.
    ValueError with the fix when the label no longer describes the samples (a batch node between changed them)."""
    count = samples["samples"].shape[0]
    meta = samples.get(PART_KEY)
    if meta is None:
        return video_part(count, 0, 1), {}
    part = video_part(meta["frames"], meta["index"], meta["count"])
    if part.stop - part.start != count:
        raise ValueError(f"samples hold {count} frames but come labelled as {part.describe()}, "
                         f"{part.stop - part.start} frames: a node between the sampler and Decode Video Part changed "
                         f"the batch (e.g. Latent From Batch). Fix: connect the sampler's latent output straight to "
                         f"Decode Video Part; pick frames after Join Video Parts (Image From Batch).")
    return part, meta["video"]


class DecodeVideoPart(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DecodeVideoPart",
            display_name="Decode Video Part (T2V-Zero)",
            category="T2V-Zero/distributed",
            description=(
                "VAE-decodes a part of a video made by Motion Latent Sampler or Instruct-Pix2Pix Video (their part / "
                "parts inputs) and adds a label frame saying which part it is, for Distributed Collector. Frames are "
                "rounded to the 8-bit levels a video file stores, so the master's frames and the workers' "
                "(sent as 8-bit PNG) are the same. Join Video Parts, after the collector, removes the labels."),
            inputs=[
                io.Latent.Input("samples", tooltip="The part's latents: Motion Latent Sampler's or Instruct-Pix2Pix "
                                "Video's latent output."),
                io.Vae.Input("vae", optional=True, tooltip="The checkpoint's VAE, to decode the samples. Not needed "
                             "when images is linked."),
                io.Image.Input("images", optional=True,
                               tooltip="The part's frames, already decoded: Instruct-Pix2Pix Video's images output. "
                                       "Then the samples only say which part the frames are, and the VAE is not run "
                                       "again."),
            ],
            outputs=[io.Image.Output(display_name="labelled_frames",
                                     tooltip="The part's frames followed by its label frame: into Distributed "
                                             "Collector (or straight into Join Video Parts on one machine).")],
        )

    @classmethod
    def execute(cls, samples, vae=None, images=None) -> io.NodeOutput:
        part, video = labelled_samples(samples)
        if images is None:
            if vae is None:
                raise ValueError("Decode Video Part has neither a vae nor images. Fix: link the checkpoint's VAE to "
                                 "vae (or, after Instruct-Pix2Pix Video, its images output to images).")
            images = decode_frames(vae, samples["samples"])
        return io.NodeOutput(labelled_part(images, part, video))


class JoinVideoParts(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="JoinVideoParts",
            display_name="Join Video Parts (T2V-Zero)",
            category="T2V-Zero/distributed",
            description=(
                "Puts a video's parts together (Decode Video Part outputs, gathered by Distributed Collector) and "
                "checks it is whole: every part of the same video once, in order, with all its frames. A missing "
                "part (a worker offline, stopped or failed: the collector then just returns fewer frames) stops "
                "the run with an error naming it, so no shorter video is written."),
            inputs=[io.Image.Input("images", tooltip="Distributed Collector's images (or Decode Video Part's on one "
                                   "machine).")],
            outputs=[io.Image.Output(display_name="frames",
                                     tooltip="The whole video's frames, in order: into Frames To Video.")],
        )

    @classmethod
    def execute(cls, images) -> io.NodeOutput:
        return io.NodeOutput(join_parts(images))
