"""Tiny random-weight Stable Video Diffusion checkpoints (SVD img2vid, SV3D u and p) for ComfyUI's real checkpoint
loader, built deterministically from a seed and cached under the host's checkpoints folder (tests/tiny_models.py).

ComfyUI detects these families by a few fixed figures (supported_models.SVD_img2vid, SV3D_u, SV3D_p): 320 channels,
a 1024-wide context, linear transformer projections, attention after the first six of eight input res blocks, 8
input channels, temporal res blocks and attention, and the ADM input width, which alone tells the three apart (768,
256, 1280). Everything else is free, so the UNet keeps one level (eight res blocks at 320 channels), no middle block
and no attention on the way up: 114M parameters instead of SVD's 1.5B, stored as fp16 (~230 MB a file).

The file holds no CLIP vision tower (SVD's is ViT-H, 632M parameters): ImageOnlyCheckpointLoader then hands out no
CLIP_VISION, which the refusal tests never use. TAESD (random weights) stands in for the video VAE.
"""
from __future__ import annotations

from pathlib import Path

import torch

from tiny_models import _cached, _taesd_state, models_dir, randomize_

BUILDER_VERSION = 1  # part of the file name: bump when what the builder writes changes (cached files are rebuilt)

VIDEO_ADM_CHANNELS = {"SVD_img2vid": 768, "SV3D_u": 256, "SV3D_p": 1280}
"""ComfyUI model class -> the ADM (label_emb) input width that makes its detection pick that class."""

SVD_UNET = {
    # what ComfyUI's model detection reads off the file, so the model built here is the one the loader rebuilds
    "use_checkpoint": False, "image_size": 32, "use_spatial_transformer": True, "legacy": False,
    "num_classes": "sequential", "adm_in_channels": 768, "in_channels": 8, "out_channels": 4, "model_channels": 320,
    "num_res_blocks": [8], "channel_mult": [1], "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0],
    "transformer_depth_output": [0] * 9, "transformer_depth_middle": -2, "use_linear_in_transformer": True,
    "context_dim": 1024,
    # detection's fixed settings for a UNet with temporal layers (model_detection.detect_unet_config)
    "extra_ff_mix_layer": True, "use_spatial_context": True, "merge_strategy": "learned_with_images",
    "merge_factor": 0.0, "video_kernel_size": [3, 1, 1], "use_temporal_resblock": True,
    "use_temporal_attention": True, "disable_temporal_crossattention": False,
}
"""The smallest UNet ComfyUI still detects as SVD_img2vid (with another adm_in_channels: SV3D_u, SV3D_p)."""


def tiny_svd_name(kind: str = "SVD_img2vid", seed: int = 0) -> str:
    return f"t2vz-tiny-{kind.lower().replace('_', '-')}-{seed}-v{BUILDER_VERSION}.safetensors"


def svd_unet_config(kind: str = "SVD_img2vid") -> dict:
    return dict(SVD_UNET, adm_in_channels=VIDEO_ADM_CHANNELS[kind])


def tiny_svd(kind: str = "SVD_img2vid", seed: int = 0) -> Path:
    """A checkpoint file ComfyUI's real loader (ImageOnlyCheckpointLoader: comfy.sd.load_checkpoint_guess_config)
    detects as ``kind`` (SVD_img2vid, SV3D_u or SV3D_p): random UNet weights from ``seed``, a TAESD VAE under the
    prefix that family reads its VAE from; in <host>/models/checkpoints, which the test server lists (cached)."""
    import comfy.supported_models  # noqa: PLC0415
    import safetensors.torch  # noqa: PLC0415

    family = getattr(comfy.supported_models, kind)

    def build(tmp: Path):
        config = family(svd_unet_config(kind))  # adds the family's fixed settings (64-channel heads)
        network = randomize_(config.get_model({}).diffusion_model, seed)
        state = {"model.diffusion_model." + k: v.to(torch.float16) for k, v in network.state_dict().items()}
        vae_prefix = config.vae_key_prefix[0]  # SVD: first_stage_model., SV3D: conditioner.embedders.1.encoder.
        state.update({vae_prefix + k.removeprefix("first_stage_model."): v
                      for k, v in _taesd_state(seed + 2).items()})
        safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))

    return _cached(models_dir() / "checkpoints" / tiny_svd_name(kind, seed), build)


def load_tiny_svd(kind: str = "SVD_img2vid", seed: int = 0):
    """(MODEL, CLIP_VISION, VAE) as ImageOnlyCheckpointLoader returns them, through the same call it makes."""
    import comfy.sd  # noqa: PLC0415

    out = comfy.sd.load_checkpoint_guess_config(str(tiny_svd(kind, seed)), output_vae=True, output_clip=False,
                                                output_clipvision=True)
    return out[0], out[3], out[2]
