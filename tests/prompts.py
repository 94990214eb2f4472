"""API-format prompts for server tests (what the UI sends to /prompt)."""
from __future__ import annotations

CKPT = "t2vz-tiny-sd15.safetensors"


def text_to_video(frames=4, width=64, height=64, steps=6, seed=1, t0=44, t1=47, chunk=0, noise_mode="motion",
                  save=True) -> dict:
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a horse galloping on a street", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": width, "height": height, "batch_size": frames}},
        "5": {"class_type": "MotionLatentSampler", "inputs": {
            "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
            "seed": seed, "steps": steps, "cfg": 7.5, "sampler_name": "ddim", "scheduler": "ddim_uniform",
            "noise_mode": noise_mode, "motion_x": 12.0, "motion_y": 12.0, "zoom": 1.0, "rotation": 0.0,
            "t0": t0, "t1": t1, "frames_per_chunk": chunk}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
    }
    if save:
        prompt["7"] = {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "t2vz_test"}}
    return prompt
