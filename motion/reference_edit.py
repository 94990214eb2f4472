"""Video editing with the instruction-editing DiTs that take the source image as a reference (Flux.1 Kontext,
Qwen-Image-Edit): Text2Video-Zero's Video Instruct-Pix2Pix recipe on today's editing models.

Run frame by frame these models flicker: each frame's edit is drawn anew. Here frame k is edited with source frame k
as its reference, every frame starts from the same noise (and, with ancestral/SDE samplers, gets the same noise at
every step), and cross-frame attention on frame 0 keeps the edit the same from frame to frame.

How the sources reach the model: core's ReferenceLatent (and TextEncodeQwenImageEdit) put the source latent on the
conditioning (``reference_latents``), and the model appends its tokens to the image tokens of every call
(comfy/model_base.py Flux / QwenImage: ``ref_latents``). Here that entry holds one latent per frame, so ComfyUI's
conditioning batching hands each batch row its own frame's reference, the frame chunker (attention/chunking.py)
slices it with the rows, and a part gets frame 0's and its own frames' references.

What frame k reads in attention (attention/cross_frame.py keep_own_tokens): frame 0's text and image tokens, and
its own reference tokens. Reading frame 0's reference tokens instead would make every frame frame 0's edit (nothing
would tell frame k what its source shows); bench/reference_edit_bench.py measures both on the tiny model.
"""
from __future__ import annotations

import logging

import torch

from ..attention.families import model_name, takes_references
from .flow_noise import SourceMotion
from .parts import Part
from .sampler import NOISE_SHARED, REFERENCE_KEY, Progress
from .video_edit import edit_setup, sample_edit

KONTEXT_MODEL = "flux1-dev-kontext_fp8_scaled.safetensors"
QWEN_EDIT_MODEL = "qwen_image_edit_2509_fp8_e4m3fn.safetensors"

log = logging.getLogger("t2v-zero")


SAME_ARCHITECTURE = ("a plain Flux.1 dev and a plain Qwen-Image have the same architecture as their editing siblings "
                     "(Flux.1 Kontext, Qwen-Image-Edit) and cannot be told apart: they run, but do not edit")
"""What the node cannot check, said in its tooltip and the docs."""


def check_reference_model(model) -> None:
    """ValueError unless ``model`` (a ComfyUI ModelPatcher) reads reference images as tokens of every frame; the
    error names the family the user loaded (``an SD1.5 model``) and why it cannot edit here."""
    if takes_references(model):
        return
    import comfy.model_base  # noqa: PLC0415

    name = model_name(model)
    article = "an" if name[:1] in "AEIOUS" else "a"
    if isinstance(model.model, comfy.model_base.Flux):  # Chroma: its conditioning takes them, its network drops them
        why = (f"{article} {name} model ignores reference images (its network drops them): every frame would be "
               f"drawn from the text alone")
    else:
        why = f"{article} {name} model takes no reference image"
    raise ValueError(
        f"model: {why}. This node edits each frame with an instruction-editing model that reads the source frame as a "
        f"reference, Flux.1 Kontext [dev] ({KONTEXT_MODEL}) or Qwen-Image-Edit ({QWEN_EDIT_MODEL}). Fix: load one "
        f"with Load Diffusion Model; for an SD1.5 Instruct-Pix2Pix checkpoint use Instruct-Pix2Pix Video instead.")


def with_references(conditioning, sources: torch.Tensor):
    """``conditioning`` whose reference images are the frames' latents ``sources`` (F, C, H, W): one per frame. A
    reference already on it (ReferenceLatent of one picture, TextEncodeQwenImageEdit's) is replaced, with a note in
    the log: each frame's own source takes its place."""
    out, replaced = [], False
    for embedding, options in conditioning:
        options = dict(options)
        replaced = replaced or REFERENCE_KEY in options
        options[REFERENCE_KEY] = [sources]
        out.append([embedding, options])
    if replaced:
        log.info("t2v-zero: the conditioning's own reference image is replaced by each frame's source frame.")
    return out


def edit_video_by_reference(model, positive, negative, sources: torch.Tensor, seed: int, sigmas: torch.Tensor,
                            sampler_name: str = "euler", cfg: float = 1.0, noise_mode: str = NOISE_SHARED,
                            frames_per_chunk: int = 0, progress: Progress | None = None,
                            part: Part | None = None, motion: SourceMotion | None = None,
                            along_flow: bool = False) -> torch.Tensor:
    """Edit a video with a reference-taking editing ``model``; ``sources`` are the source frames' LATENT samples
    (F, C, H, W), VAE-encoded. Returns the edited frames' LATENT samples.

    positive: the instruction (for Kontext with Flux Guidance; for Qwen-Image-Edit its text encoder's);
    negative: used when cfg > 1. sigmas: the schedule (motion/video_edit.edit_sigmas).
    frames_per_chunk: N > 0 runs the model on N frames at a time; same result, memory of N frames (plus frame 0's
    keys and values, reference tokens included: a size that cannot fit is refused before sampling).
    part: one part of the video (motion/parts.py): ``sources`` then holds the frames ``part.rows`` (frame 0, the
    anchor, and the part's), and the part's edited frames come back, as the whole video's run edits them.
    """
    import comfy.samplers  # noqa: PLC0415

    check_reference_model(model)
    positive, negative = with_references(positive, sources), with_references(negative, sources)
    part, sampler, joint, trajectories = edit_setup(model, sources, sampler_name, noise_mode, part,
                                                    frames_per_chunk, positive, negative, cfg, motion, along_flow)
    guider = comfy.samplers.CFGGuider(joint)
    guider.set_conds(positive, negative)
    guider.set_cfg(cfg)
    return sample_edit(guider, sampler, sources, seed, sigmas, noise_mode, part, progress, trajectories)
