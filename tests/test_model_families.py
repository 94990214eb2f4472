"""MotionLatentSampler on the other UNet families it supports: SD2.x (v-prediction, linear projections) and SDXL
(pooled text + size conditioning through the adm input, which frame chunking must slice with the frames)."""
from __future__ import annotations

import pytest
import torch

from t2vz.motion import Motion, sample_video
from tiny_models import TINY_UNET, tiny_unet_patcher


def sd2_v():
    import comfy.model_base
    import comfy.supported_models

    class TinySD2V(comfy.supported_models.SD20):
        def model_type(self, state_dict, prefix=""):
            return comfy.model_base.ModelType.V_PREDICTION

    cfg = dict(TINY_UNET, use_linear_in_transformer=True, num_heads=-1, num_head_channels=16)
    return tiny_unet_patcher(seed=3, unet_config=cfg, base=TinySD2V), [[torch.randn(1, 77, 64), {}]]


def sdxl():
    import comfy.supported_models

    cfg = dict(TINY_UNET, use_linear_in_transformer=True, adm_in_channels=2816, num_classes="sequential",
               transformer_depth=[0, 1], transformer_depth_output=[0, 0, 1, 1], num_heads=-1, num_head_channels=16)
    gen = torch.Generator().manual_seed(4)

    def cond():
        return [[torch.randn((1, 77, 64), generator=gen),
                 {"pooled_output": torch.randn((1, 1280), generator=gen), "width": 128, "height": 96}]]

    return tiny_unet_patcher(seed=4, unet_config=cfg, base=comfy.supported_models.SDXL), cond


@pytest.mark.parametrize("family", ["sd2-v", "sdxl"])
def test_family_runs_and_chunks_exactly(family):
    if family == "sd2-v":
        model, positive = sd2_v()
        negative = [[torch.randn(1, 77, 64), {}]]
    else:
        model, make = sdxl()
        positive, negative = make(), make()
    latent = torch.zeros((5, 4, 12, 16))
    whole = sample_video(model, positive, negative, latent, 3, 8, 6.0, "euler", "normal", motion=Motion())
    chunked = sample_video(model, positive, negative, latent, 3, 8, 6.0, "euler", "normal", motion=Motion(),
                           frames_per_chunk=2)
    assert torch.isfinite(whole).all()
    assert (whole[1] - whole[3]).abs().max() > 1e-3
    err = ((chunked - whole).abs().max() / whole.abs().max()).item()
    assert err < 1e-5, f"chunked differs from unchunked by {err:.2e}"
