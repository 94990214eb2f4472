"""VideoHelperSuite 1.7.9, for real (scripts/install_test_packs.sh), beside our pack in the real server: its Load Video
feeds our nodes, and our outputs (IMAGE, LATENT, frame_rate, FramesToVideo's path and VIDEO) feed its nodes. Our
shipped workflows stay on core nodes (tests/test_workflows.py); VHS is tested, not required. Its ffmpeg is
imageio-ffmpeg's static binary (tests/requirements.txt)."""
from __future__ import annotations

import numpy as np
import pytest

from prompts import CKPT

FPS = 6


@pytest.fixture(scope="module")
def clip(packs_server):
    """A 6-frame 64x64 h264 clip at 6 fps in the server's input folder (a user's upload); returns its name."""
    from tiny_ip2p import moving_square_frames, write_video

    name = "t2vz-vhs-clip.mp4"
    write_video(packs_server.input_dir / name, moving_square_frames(6, 64, 64), fps=FPS)
    return name


def load_video(name: str, cap: int = 0) -> dict:
    """VHS Load Video (Upload) of a file in the input folder, as it comes (no resize, every frame)."""
    return {"class_type": "VHS_LoadVideo", "inputs": {
        "video": name, "force_rate": 0, "custom_width": 0, "custom_height": 0, "frame_load_cap": cap,
        "skip_first_frames": 0, "select_every_nth": 1, "format": "None"}}


def video_combine(images, frame_rate, prefix: str) -> dict:
    return {"class_type": "VHS_VideoCombine", "inputs": {
        "images": images, "frame_rate": frame_rate, "loop_count": 0, "filename_prefix": prefix,
        "format": "video/h264-mp4", "pingpong": False, "save_output": True, "pix_fmt": "yuv420p", "crf": 19,
        "save_metadata": True, "trim_to_audio": False}}


def written_video(server, entry, node: str) -> tuple[int, float, tuple[int, int]]:
    """(frames, fps, (width, height)) of the file VHS Video Combine wrote, read back with PyAV."""
    import av

    (item,) = [g for g in entry["outputs"][node]["gifs"] if g["filename"].endswith(".mp4")]
    path = server.output_dir / item.get("subfolder", "") / item["filename"]
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return frames, float(stream.average_rate), (stream.codec_context.width, stream.codec_context.height)


def prompts_head() -> dict:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a swan on a lake", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
    }


def motion_sampler(model, positive, negative, latent, **overrides) -> dict:
    inputs = {"model": model, "positive": positive, "negative": negative, "latent_image": latent, "seed": 1,
              "steps": 3, "cfg": 7.0, "sampler_name": "ddim", "scheduler": "ddim_uniform", "noise_mode": "motion",
              "motion_x": 12.0, "motion_y": 0.0, "zoom": 1.0, "rotation": 0.0, "t0": 44, "t1": 47,
              "frames_per_chunk": 0}
    inputs.update(overrides)
    return {"class_type": "MotionLatentSampler", "inputs": inputs}


def test_load_video_into_video_controlnet_into_video_combine(packs_server, clip):
    from tiny_controlnet import CONTROLNET_NAME

    prompt = prompts_head() | {
        "4": load_video(clip),
        "5": {"class_type": "ControlNetLoader", "inputs": {"control_net_name": CONTROLNET_NAME}},
        "6": {"class_type": "VideoControlNetApply", "inputs": {
            "positive": ["2", 0], "negative": ["3", 0], "control_net": ["5", 0], "images": ["4", 0],
            "strength": 1.0, "start_percent": 0.0, "end_percent": 1.0, "preprocessor": "canny",
            "low_threshold": 100, "high_threshold": 200, "frame_mismatch": "error"}},
        "7": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 6}},
        "8": motion_sampler(["1", 0], ["6", 0], ["6", 1], ["7", 0], noise_mode="shared", frames_per_chunk=2),
        "9": {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["1", 2]}},
        "10": video_combine(["9", 0], FPS, "vhs/controlnet"),
    }
    entry = packs_server.run(prompt)
    assert written_video(packs_server, entry, "10") == (6, FPS, (64, 64))


def test_load_video_into_instruct_pix2pix_into_video_combine_at_its_frame_rate(packs_server, clip):
    """Our frame_rate output (the source's rate / every_nth) drives VHS's frame_rate: half the frames at half the
    rate keep the clip's duration."""
    from tiny_ip2p import IP2P_CHECKPOINT_NAME, tiny_ip2p_checkpoint

    tiny_ip2p_checkpoint()  # into the server's checkpoints folder (conftest)
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": IP2P_CHECKPOINT_NAME}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "make it snowy", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": load_video(clip),
        "5": {"class_type": "VHS_VideoInfoLoaded", "inputs": {"video_info": ["4", 3]}},
        "6": {"class_type": "InstructPix2PixVideo", "inputs": {
            "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "vae": ["1", 2], "frames": ["4", 0],
            "image_guidance": 1.0, "text_guidance": 7.5, "seed": 0, "steps": 3, "sampler_name": "euler_ancestral",
            "scheduler": "normal", "noise_mode": "shared", "frames_per_chunk": 0, "start_frame": 0, "end_frame": -1,
            "every_nth": 2, "frame_rate": ["5", 0]}},
        "7": video_combine(["6", 1], ["6", 2], "vhs/ip2p"),
    }
    entry = packs_server.run(prompt)
    assert written_video(packs_server, entry, "7") == (3, FPS / 2, (64, 64))


def test_load_video_into_kontext_edit_into_video_combine_at_its_frame_rate(packs_server, clip):
    """The same with Edit Video on a Kontext-architecture model (tiny Flux dev, its stand-in text encoder and VAE as
    in the workflow tests), in frame chunks of 2."""
    from test_workflows import dit_models  # puts scripts/ on the path
    from tiny_dit import flux_refusal

    from build_workflows import FLUX_CLIP_L, FLUX_VAE, KONTEXT_UNET

    if flux_refusal():
        pytest.skip(flux_refusal())
    models = dit_models()
    prompt = {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": models[KONTEXT_UNET], "weight_dtype": "default"}},
        "2": {"class_type": "DualCLIPLoader", "inputs": {
            "clip_name1": models[FLUX_CLIP_L], "clip_name2": models[FLUX_CLIP_L], "type": "sd3"}},
        "3": {"class_type": "VAELoader", "inputs": {"vae_name": models[FLUX_VAE]}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "make it snowy", "clip": ["2", 0]}},
        "5": {"class_type": "FluxGuidance", "inputs": {"conditioning": ["4", 0], "guidance": 2.5}},
        "6": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["4", 0]}},
        "7": load_video(clip),
        "8": {"class_type": "VHS_VideoInfoLoaded", "inputs": {"video_info": ["7", 3]}},
        "9": {"class_type": "ReferenceEditVideo", "inputs": {
            "model": ["1", 0], "positive": ["5", 0], "negative": ["6", 0], "vae": ["3", 0], "frames": ["7", 0],
            "cfg": 1.0, "seed": 0, "steps": 3, "sampler_name": "euler", "scheduler": "simple", "noise_mode": "shared",
            "frames_per_chunk": 2, "start_frame": 0, "end_frame": -1, "every_nth": 2, "frame_rate": ["8", 0]}},
        "10": video_combine(["9", 1], ["9", 2], "vhs/kontext"),
    }
    entry = packs_server.run(prompt)
    assert written_video(packs_server, entry, "10") == (3, FPS / 2, (64, 64))


def test_load_video_frame_into_first_frame(packs_server, clip):
    """VHS Load Video (one frame) -> VAE Encode -> our sampler's first_frame: frame 0 of the video is that image
    (as the VAE round trip gives it back)."""
    from PIL import Image

    prompt = prompts_head() | {
        "4": load_video(clip, cap=1),
        "5": {"class_type": "VAEEncode", "inputs": {"pixels": ["4", 0], "vae": ["1", 2]}},
        "6": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 4}},
        "7": motion_sampler(["1", 0], ["2", 0], ["3", 0], ["6", 0], first_frame=["5", 0], first_frame_strength=1.0),
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["7", 0], "vae": ["1", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "vhs/first"}},
        "10": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "11": {"class_type": "SaveImage", "inputs": {"images": ["10", 0], "filename_prefix": "vhs/roundtrip"}},
    }
    entry = packs_server.run(prompt)

    def images(node):
        return [np.asarray(Image.open(packs_server.output_dir / i.get("subfolder", "") / i["filename"])).astype(int)
                for i in entry["outputs"][node]["images"]]

    video, (roundtrip,) = images("9"), images("11")
    assert len(video) == 4
    assert np.abs(video[0] - roundtrip).max() <= 1
    assert np.abs(video[3] - roundtrip).max() > 8  # the later frames moved on


def test_our_outputs_feed_vhs_inputs(packs_server):
    """MotionLatentSampler's LATENT -> VHS VAE Decode Batched -> Video Combine; FramesToVideo's path -> VHS Load Video
    (Path); FramesToVideo's VIDEO -> core Get Video Components -> Video Combine (images and fps)."""
    prompt = prompts_head() | {
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 48, "batch_size": 5}},
        "5": motion_sampler(["1", 0], ["2", 0], ["3", 0], ["4", 0]),
        "6": {"class_type": "VHS_VAEDecodeBatched", "inputs": {"samples": ["5", 0], "vae": ["1", 2],
                                                                "per_batch": 2}},
        "7": video_combine(["6", 0], 5, "vhs/latent"),
        "8": {"class_type": "FramesToVideo", "inputs": {
            "images": ["6", 0], "frame_rate": 10.0, "format": "mp4", "quality": 19, "loop_count": 0,
            "pingpong": False, "filename_prefix": "vhs/ours", "save_output": True}},
        "9": {"class_type": "VHS_LoadVideoPath", "inputs": {
            "video": ["8", 0], "force_rate": 0, "custom_width": 0, "custom_height": 0, "frame_load_cap": 0,
            "skip_first_frames": 0, "select_every_nth": 1, "format": "None"}},
        "10": video_combine(["9", 0], 5, "vhs/reloaded"),
        "11": {"class_type": "GetVideoComponents", "inputs": {"video": ["8", 1]}},
        "12": video_combine(["11", 0], ["11", 2], "vhs/components"),
    }
    entry = packs_server.run(prompt)
    assert written_video(packs_server, entry, "7") == (5, 5.0, (64, 48))
    assert written_video(packs_server, entry, "10") == (5, 5.0, (64, 48))
    assert written_video(packs_server, entry, "12") == (5, 10.0, (64, 48))
