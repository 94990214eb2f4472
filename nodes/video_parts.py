"""One video over several machines (ComfyUI-Distributed): Decode Video Part labels a part's frames for the collector,
Join Video Parts puts the collected parts together and refuses an incomplete video. The work is in motion/parts.py."""
from __future__ import annotations

from comfy_api.latest import io

from ..motion.instruct_pix2pix import decode_frames
from ..motion.parts import join_parts, labelled_part, video_part

PART_KEY = "t2vz_part"
"""LATENT key: which part of which video the samples are (set by the samplers, read by Decode Video Part)."""

PART_TOOLTIP = ("Which part of the video this run makes, 0 to parts - 1: the frames part x F / parts up to (part + 1) "
                "x F / parts (F = the latent's batch size), exactly as the whole video's run makes them. With "
                "ComfyUI-Distributed link a Distributed Seed set to 0 and 'fixed': the master makes part 0, worker k "
                "part k.")
PARTS_TOOLTIP = ("How many parts the video is split into: 1 = the whole video here. With ComfyUI-Distributed: the "
                 "master plus the enabled workers. Then: Decode Video Part -> Distributed Collector -> Join Video "
                 "Parts -> Frames To Video.")
VAE_CHUNK = 16
"""Frames per VAE call: bounds the VAE's activations, whatever the part's length."""


def part_latent(latent: dict, samples, part, video: dict) -> dict:
    """The samplers' LATENT output: ``samples`` (the part's frames), labelled with the part and its video."""
    out = {k: v for k, v in latent.items() if k not in ("noise_mask", "batch_index")}
    out["samples"] = samples
    out[PART_KEY] = {"index": part.index, "count": part.count, "frames": part.frames, "video": video}
    return out


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
                io.Vae.Input("vae", tooltip="The checkpoint's VAE."),
            ],
            outputs=[io.Image.Output(display_name="labelled_frames",
                                     tooltip="The part's frames followed by its label frame: into Distributed "
                                             "Collector (or straight into Join Video Parts on one machine).")],
        )

    @classmethod
    def execute(cls, samples, vae) -> io.NodeOutput:
        latents = samples["samples"]
        meta = samples.get(PART_KEY) or {"index": 0, "count": 1, "frames": latents.shape[0], "video": {}}
        part = video_part(meta["frames"], meta["index"], meta["count"])
        images = decode_frames(vae, latents, VAE_CHUNK)
        return io.NodeOutput(labelled_part(images, part, meta["video"]))


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
