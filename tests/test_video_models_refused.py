"""Video models are refused (issue 26, item 5): SVD and SV3D run a UNetModel with temporal layers of their own, so
the UNet route would catch them and the cross-frame patch would run inside SVD's temporal attention. Tiny SVD /
SV3D checkpoints (tests/tiny_svd.py) through ComfyUI's real loader: attention_route, the Cross-Frame Attention
node and the Motion Latent Sampler (before any step) refuse them in words, and so does a prompt in the real server,
which keeps running."""
from __future__ import annotations

import pytest
import torch

from test_dit_memory import Calls
from tiny_svd import VIDEO_ADM_CHANNELS, load_tiny_svd, tiny_svd, tiny_svd_name

KINDS = list(VIDEO_ADM_CHANNELS)  # SVD_img2vid, SV3D_u, SV3D_p


@pytest.fixture(scope="module")
def video_models():
    cache = {}

    def get(kind):
        if kind not in cache:
            cache[kind] = load_tiny_svd(kind)[0]
        return cache[kind]

    return get


def assert_refused(message: str, kind: str):
    assert f"cannot patch a {kind} model" in message, message
    assert "video model" in message, message


def attn1_patches(model) -> list:
    return model.model_options.get("transformer_options", {}).get("patches", {}).get("attn1_patch", [])


@pytest.mark.parametrize("kind", KINDS)
def test_the_real_loader_detects_the_tiny_file_as_that_video_model(video_models, kind):
    """The premise: ComfyUI's checkpoint loader makes the family's own model class around a UNetModel with temporal
    layers (the network the UNet route used to catch)."""
    import comfy.model_base
    from comfy.ldm.modules.diffusionmodules import openaimodel

    model = video_models(kind)
    assert type(model.model) is getattr(comfy.model_base, kind)
    assert isinstance(model.model.diffusion_model, openaimodel.UNetModel)
    config = model.model.model_config.unet_config
    assert config["use_temporal_attention"] and config["use_temporal_resblock"]
    assert config["adm_in_channels"] == VIDEO_ADM_CHANNELS[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_attention_route_refuses_video_models(video_models, kind):
    from t2vz.attention import CrossFrameAttention, UnsupportedModelError, attention_route, with_cross_frame

    model = video_models(kind)
    with pytest.raises(UnsupportedModelError) as err:
        attention_route(model)
    assert_refused(str(err.value), kind)
    with pytest.raises(UnsupportedModelError) as err:
        with_cross_frame(model, CrossFrameAttention())
    assert_refused(str(err.value), kind)
    assert not attn1_patches(model)  # nothing was left on the loaded model


@pytest.mark.parametrize("kind", KINDS)
def test_the_cross_frame_attention_node_refuses_video_models(video_models, kind):
    from t2vz.attention import UnsupportedModelError
    from t2vz.nodes.attention_patch import CrossFrameAttentionPatch

    model = video_models(kind)
    with pytest.raises(UnsupportedModelError) as err:
        CrossFrameAttentionPatch.execute(model, "first", 1.0, 0.0, 1.0)
    assert_refused(str(err.value), kind)
    assert "Fix: " in str(err.value)
    assert not attn1_patches(model)


@pytest.mark.parametrize("kind", KINDS)
def test_the_motion_latent_sampler_refuses_video_models_before_any_step(video_models, kind):
    """SVD's latent (4 channels, SD1.5's format) and a one-token 1024-wide conditioning (its CLIP vision embedding):
    refused before the first model call (before the fix, SVD sampled with the patch in its temporal attention)."""
    from t2vz.attention import UnsupportedModelError
    from t2vz.nodes.motion_sampler import MotionLatentSampler

    model = video_models(kind)
    generator = torch.Generator().manual_seed(0)
    positive = [[torch.randn((1, 1, 1024), generator=generator), {}]]
    negative = [[torch.zeros((1, 1, 1024)), {}]]
    latent = {"samples": torch.zeros((3, 4, 8, 8))}
    with Calls(model) as calls, pytest.raises(UnsupportedModelError) as err:
        MotionLatentSampler.execute(model, positive, negative, latent, 7, 4, 2.0, "euler", "simple", "motion",
                                    12.0, 0.0, 1.0, 0.0, 44, 47, 0)
    assert_refused(str(err.value), kind)
    assert calls.count == 0


# --- the real server ------------------------------------------------------------------------------------------------

def svd_prompt(through_patch_node: bool) -> dict:
    """ImageOnlyCheckpointLoader's SVD into the Motion Latent Sampler (through the Cross-Frame Attention node or
    not); the text conditioning comes from the tiny SD1.5 checkpoint (the SVD file has no text encoder), and a
    decode and save give the prompt an output."""
    from prompts import CKPT

    model = ["8", 0] if through_patch_node else ["1", 0]
    prompt = {
        "1": {"class_type": "ImageOnlyCheckpointLoader", "inputs": {"ckpt_name": tiny_svd_name("SVD_img2vid")}},
        "2": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "a horse galloping", "clip": ["2", 1]}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["2", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 2}},
        "6": {"class_type": "MotionLatentSampler", "inputs": {
            "model": model, "positive": ["3", 0], "negative": ["4", 0], "latent_image": ["5", 0],
            "seed": 1, "steps": 4, "cfg": 2.0, "sampler_name": "euler", "scheduler": "simple",
            "noise_mode": "motion", "motion_x": 12.0, "motion_y": 12.0, "zoom": 1.0, "rotation": 0.0,
            "t0": 44, "t1": 47, "frames_per_chunk": 0}},
        "7": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 0], "vae": ["1", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "t2vz_svd_refused"}},
    }
    if through_patch_node:
        prompt["8"] = {"class_type": "CrossFrameAttentionPatch", "inputs": {
            "model": ["1", 0], "anchor": "first", "strength": 1.0, "start_percent": 0.0, "end_percent": 1.0}}
    return prompt


@pytest.fixture(scope="module")
def svd_file():
    """Built before the server is asked for it: it lands in the folder the server lists as its checkpoints."""
    return tiny_svd("SVD_img2vid")


@pytest.mark.parametrize("through_patch_node", [True, False], ids=["cross-frame-node", "sampler"])
def test_an_svd_prompt_fails_in_words_and_the_server_keeps_running(svd_file, comfy_server, through_patch_node):
    from comfy_server import PromptError
    from prompts import text_to_video

    with pytest.raises(PromptError) as err:
        comfy_server.run(svd_prompt(through_patch_node))
    message = str(err.value)
    node = "CrossFrameAttentionPatch" if through_patch_node else "MotionLatentSampler"
    assert message.startswith(f"{node}: "), message
    assert_refused(message, "SVD_img2vid")
    assert comfy_server.alive()
    entry = comfy_server.run(text_to_video(frames=2, steps=4, seed=5))
    assert len(entry["outputs"]["7"]["images"]) == 2
