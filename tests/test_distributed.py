"""One video over several machines, for real: a master and two workers (separate ComfyUI servers on 127.0.0.1 with
ComfyUI-Distributed 1.4.4, tests/distributed.py), the job queued through POST /distributed/queue as the extension's
frontend queues it. Each participant makes its part of the video (Distributed Seed gives the master part 0 and
worker k part k), Decode Video Part labels it, Distributed Collector gathers the parts on the master, Join Video Parts
checks and joins them, Frames To Video writes the video. The result must be the one-machine video, frame for frame;
a worker that is down or dies must end in the master's clear error, with no video written. The exactness of the parts
themselves is tested in-process (tests/test_parts.py)."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from comfy_server import PromptError
from distributed import Cluster
from prompts import CKPT


def video_prompt(frames: int = 7, parts: int = 3, steps: int = 4, prefix: str = "dist") -> dict:
    """Text-to-video in parts, as workflows/text-to-video-distributed.json wires it (small)."""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a horse galloping on a street", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": frames}},
        "5": {"class_type": "DistributedSeed", "inputs": {"seed": 0}},
        "6": {"class_type": "MotionLatentSampler", "inputs": {
            "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "seed": 3,
            "steps": steps, "cfg": 7.5, "sampler_name": "euler_ancestral", "scheduler": "normal",
            "noise_mode": "motion", "motion_x": 12.0, "motion_y": 6.0, "zoom": 1.0, "rotation": 0.0, "t0": 44,
            "t1": 47, "frames_per_chunk": 0, "part": ["5", 0], "parts": parts}},
        "7": {"class_type": "DecodeVideoPart", "inputs": {"samples": ["6", 0], "vae": ["1", 2]}},
        "8": {"class_type": "DistributedCollector", "inputs": {"images": ["7", 0], "load_balance": False}},
        "9": {"class_type": "JoinVideoParts", "inputs": {"images": ["8", 0]}},
        "10": {"class_type": "SaveImage", "inputs": {"images": ["9", 0], "filename_prefix": f"{prefix}/frame"}},
        "11": {"class_type": "FramesToVideo", "inputs": {
            "images": ["9", 0], "frame_rate": 4.0, "format": "mp4", "quality": 19, "loop_count": 0,
            "pingpong": False, "filename_prefix": f"{prefix}/video", "save_output": True}},
    }


def flux_video_prompt(parts: int, prefix: str) -> dict:
    """The same with Flux schnell wired as workflows/text-to-video-flux.json wires it (Load Diffusion Model,
    DualCLIPLoader, Load VAE, Empty SD3 Latent Image; 4 euler steps at cfg 1): a user's swap of the model in the
    distributed workflow. The tiny files stand in as in the workflow tests (test_workflows.dit_models)."""
    from test_workflows import dit_models  # puts scripts/ on the path

    from build_workflows import FLUX_CLIP_L, FLUX_T5, FLUX_UNET, FLUX_VAE

    models = dit_models()
    prompt = video_prompt(parts=parts, prefix=prefix)
    prompt["1"] = {"class_type": "UNETLoader", "inputs": {"unet_name": models[FLUX_UNET], "weight_dtype": "default"}}
    prompt["12"] = {"class_type": "DualCLIPLoader", "inputs": {
        "clip_name1": models[FLUX_CLIP_L], "clip_name2": models[FLUX_T5], "type": "sd3"}}
    prompt["13"] = {"class_type": "VAELoader", "inputs": {"vae_name": models[FLUX_VAE]}}
    prompt["2"]["inputs"]["clip"] = prompt["3"]["inputs"]["clip"] = ["12", 0]
    prompt["4"]["class_type"] = "EmptySD3LatentImage"
    prompt["6"]["inputs"].update(cfg=1.0, sampler_name="euler", scheduler="simple")
    prompt["7"]["inputs"]["vae"] = ["13", 0]
    return prompt


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, tiny_checkpoint_path):
    from conftest import HOST
    from tiny_dit import workflow_model_folders

    cluster = Cluster(HOST, tmp_path_factory.mktemp("cluster"),
                      {"checkpoints": tiny_checkpoint_path.parent, **workflow_model_folders()})
    cluster.start()
    yield cluster
    cluster.stop()


def frames_of(server, entry, node: str = "10") -> list[np.ndarray]:
    from PIL import Image

    return [np.asarray(Image.open(server.output_dir / i.get("subfolder", "") / i["filename"])).astype(int)
            for i in entry["outputs"][node]["images"]]


def videos(server, prefix: str) -> list:
    folder = server.output_dir / prefix
    return sorted(folder.glob("*.mp4")) if folder.exists() else []


def test_master_and_two_workers_make_the_one_machine_video(cluster):
    """7 frames over 3 participants (3 + 2 + 2: parts 1 and 2 also hold frame 0): the joined frames are the
    one-machine video's."""
    master = cluster.master
    one = frames_of(master, master.run(video_prompt(parts=1, prefix="one")))
    queued = cluster.queue(video_prompt(parts=3, prefix="three"))
    assert queued["worker_count"] == 2, queued
    entry = master.wait(queued["prompt_id"])
    three = frames_of(master, entry)
    assert len(one) == len(three) == 7
    assert max(np.abs(a - b).max() for a, b in zip(one, three)) <= 1
    for wid, worker in cluster.workers.items():  # each worker really made its part
        assert any(e.get("status", {}).get("status_str") == "success" for e in worker.get("/history").values()), wid
    (video,) = videos(master, "three")
    import av

    with av.open(str(video)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 7


def test_flux_over_a_master_and_two_workers_is_the_one_machine_video(cluster):
    """The distributed workflow with a Flux model: 7 frames over 3 participants equal the one-machine video."""
    from tiny_dit import flux_refusal

    if flux_refusal():
        pytest.skip(flux_refusal())
    master = cluster.master
    one = frames_of(master, master.run(flux_video_prompt(parts=1, prefix="flux-one")))
    queued = cluster.queue(flux_video_prompt(parts=3, prefix="flux-three"))
    assert queued["worker_count"] == 2, queued
    three = frames_of(master, master.wait(queued["prompt_id"]))
    assert len(one) == len(three) == 7
    assert max(np.abs(a - b).max() for a, b in zip(one, three)) <= 1
    assert max(np.abs(a - one[0]).max() for a in one[1:]) > 8  # a video, not one picture seven times
    (video,) = videos(master, "flux-three")
    import av

    with av.open(str(video)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 7


def test_a_part_count_the_video_cannot_hold_is_refused(cluster):
    with pytest.raises(PromptError) as err:
        cluster.master.run(video_prompt(frames=2, parts=3, prefix="bad"))
    assert "parts is 3 but the video has 2 frames" in str(err.value) and "Fix" in str(err.value)
    assert cluster.master.alive()


def test_a_worker_stopped_before_the_run_ends_in_a_clear_error_and_no_video(cluster):
    """w2 is down when the job is queued: the extension skips it and w1 takes part 1; part 2 never comes."""
    worker = cluster.workers["w2"]
    worker.stop()
    try:
        queued = cluster.queue(video_prompt(prefix="stopped"))
        with pytest.raises(PromptError) as err:
            cluster.master.wait(queued["prompt_id"])
    finally:
        worker.start()
    assert "part 2 of 3 (frames 5-6 of 7) did not arrive" in str(err.value), err.value
    assert not videos(cluster.master, "stopped")
    assert cluster.master.alive()


def test_a_worker_killed_during_the_run_ends_in_a_clear_error_and_no_video(cluster):
    """w1 dies while it computes part 1: the master drops it after its timeout; part 1 is missing."""
    worker = cluster.workers["w1"]
    queued = cluster.queue(video_prompt(steps=40, prefix="killed"))
    deadline = time.time() + 120
    while time.time() < deadline and not worker.get("/queue")["queue_running"]:
        time.sleep(0.2)
    assert worker.get("/queue")["queue_running"], "w1 never started its part"
    worker.proc.kill()
    try:
        with pytest.raises(PromptError) as err:
            cluster.master.wait(queued["prompt_id"], timeout=300)
    finally:
        worker.stop()
        worker.start()
    assert "part 1 of 3 (frames 3-4 of 7) did not arrive" in str(err.value), err.value
    assert not videos(cluster.master, "killed")


# --- a master that only delegates ------------------------------------------------------------------------------------
#
# ComfyUI-Distributed's delegate-only mode (the panel's "Master orchestrator only", setting master_delegate_only): the
# master runs only the collector and what follows it (Join Video Parts, Frames To Video), fed an empty image batch;
# the workers run everything before. Distributed Seed then gives worker k the part k, 1..N: nobody makes part 0. With
# Distributed Value into part (worker k's value k - 1) and parts = the workers, the video is the one-machine video.


def delegated_prompt(parts: int, prefix: str, steps: int = 4) -> dict:
    """video_prompt with Distributed Value in place of Distributed Seed, as the panel saves it for an INT input: the
    master's default_value, then worker k's value under key "k" (here k - 1: the workers make parts 0..N-1)."""
    prompt = video_prompt(parts=parts, prefix=prefix, steps=steps)
    values = {"_type": "INT", **{str(k + 1): str(k) for k in range(parts)}}
    prompt["5"] = {"class_type": "DistributedValue", "inputs": {"default_value": "0",
                                                                "worker_values": json.dumps(values)}}
    return prompt


@pytest.fixture(scope="module")
def delegate_cluster(tmp_path_factory, tiny_checkpoint_path):
    from conftest import HOST

    cluster = Cluster(HOST, tmp_path_factory.mktemp("delegate-cluster"), {"checkpoints": tiny_checkpoint_path.parent},
                      delegate_master=True)
    cluster.start()
    yield cluster
    cluster.stop()


def test_a_delegate_only_master_and_two_workers_with_distributed_value_make_the_one_machine_video(delegate_cluster):
    """parts 2 over the two workers (4 + 3 frames); the master only collects, joins and writes the video."""
    master = delegate_cluster.master
    one = frames_of(master, master.run(delegated_prompt(parts=1, prefix="one")))
    queued = delegate_cluster.queue(delegated_prompt(parts=2, prefix="delegated"))
    assert queued["worker_count"] == 2, queued
    entry = master.wait(queued["prompt_id"])
    ran = {node["class_type"] for node in entry["prompt"][2].values()}  # the prompt the master itself executed
    assert "MotionLatentSampler" not in ran and "DistributedEmptyImage" in ran, ran  # it made no part
    two = frames_of(master, entry)
    assert len(one) == len(two) == 7
    assert max(np.abs(a - b).max() for a, b in zip(one, two)) <= 1
    assert max(np.abs(a - one[0]).max() for a in one[1:]) > 0  # a video, not one picture seven times
    for wid, worker in delegate_cluster.workers.items():  # each worker made its part: 0 on w1, 1 on w2
        made = [e for e in worker.get("/history").values() if e.get("status", {}).get("status_str") == "success"
                and any(n["class_type"] == "MotionLatentSampler" for n in e["prompt"][2].values())]
        assert made, wid
    (video,) = videos(master, "delegated")
    import av

    with av.open(str(video)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 7


def test_distributed_seed_under_a_delegate_only_master_ends_in_an_error_that_names_the_fix(delegate_cluster):
    """The master-participating workflow as it is (Distributed Seed) with parts = the workers: w1 makes part 1, w2's
    part 2 of 2 is refused; Join Video Parts names the missing part 0 and the way out, and no video is written."""
    queued = delegate_cluster.queue(video_prompt(parts=2, prefix="seeded"))
    with pytest.raises(PromptError) as err:
        delegate_cluster.master.wait(queued["prompt_id"], timeout=300)
    message = str(err.value)
    assert "part 0 of 2 (frames 0-3 of 7) did not arrive" in message and "received parts [1]" in message, message
    assert "delegate-only" in message and "Distributed Value" in message, message
    refused = json.dumps(list(delegate_cluster.workers["w2"].get("/history").values()))
    assert "part 2 is outside the 2 parts" in refused and "Distributed Value" in refused
    assert not videos(delegate_cluster.master, "seeded")
    assert delegate_cluster.master.alive()
