"""The distributed nodes' edges (nodes/video_parts.py, motion/parts.py): a whole video's LATENT carries no part label,
so core batch nodes before Decode Video Part work; a label that no longer fits its samples is answered with the fix;
Decode Video Part labels frames already decoded without a second VAE pass; labels read any IMAGE values; the parts
errors name where each node's frame count comes from. In-process, tiny models, real ComfyUI nodes."""
from __future__ import annotations

import json

import pytest
import torch

from t2vz.motion.parts import join_parts, read_label, video_part
from t2vz.nodes.video_parts import PART_KEY, PART_TOOLTIP, DecodeVideoPart, part_latent
from checks import assert_close_rel
from conftest import REPO
from tiny_ip2p import moving_square_frames, tiny_ip2p_patcher, tiny_vae
from tiny_models import conditioning

POS, NEG = conditioning(1), conditioning(2)


class CountingVae:
    """The tiny VAE, counting decode calls."""

    def __init__(self):
        self.vae, self.decodes = tiny_vae(), 0

    def decode(self, latents):
        self.decodes += 1
        return self.vae.decode(latents)


def sampled(tiny, frames=4, part=0, parts=1) -> dict:
    from t2vz.nodes.motion_sampler import MotionLatentSampler

    latent = {"samples": torch.zeros((frames, 4, 8, 8))}
    return MotionLatentSampler.execute(tiny, POS, NEG, latent, 3, 2, 6.0, "euler", "normal", "motion", 12.0, 12.0,
                                       1.0, 0.0, 44, 47, 0, part=part, parts=parts).args[0]


def test_a_whole_video_carries_no_part_label_so_latent_from_batch_then_decode_video_part_works(tiny):
    from nodes import LatentFromBatch

    whole = sampled(tiny)
    assert PART_KEY not in whole
    (picked,) = LatentFromBatch().frombatch(whole, 1, 2)
    labelled = DecodeVideoPart.execute(picked, tiny_vae()).args[0]
    assert labelled.shape[0] == 3 and read_label(labelled[-1])["frames"] == 2
    assert join_parts(labelled).shape[0] == 2


def test_a_part_label_that_no_longer_fits_its_samples_is_answered_with_the_fix(tiny):
    from nodes import LatentFromBatch

    part = sampled(tiny, 7, 1, 3)  # frames 3-4
    assert part[PART_KEY]["index"] == 1 and part["samples"].shape[0] == 2
    (picked,) = LatentFromBatch().frombatch(part, 0, 1)  # core copies the label with the other keys
    with pytest.raises(ValueError) as err:
        DecodeVideoPart.execute(picked, tiny_vae())
    message = str(err.value)
    assert "samples hold 1 frames but come labelled as part 1 of 3 (frames 3-4 of 7)" in message
    assert "Latent From Batch" in message and "Fix: connect the sampler's latent output straight" in message


def test_decode_video_part_labels_decoded_frames_without_running_the_vae_again(tiny):
    part = sampled(tiny, 7, 2, 3)
    vae = CountingVae()
    decoded_by_the_node = DecodeVideoPart.execute(part, vae).args[0]
    assert vae.decodes == 1
    images = tiny_vae().decode(part["samples"])  # what Instruct-Pix2Pix Video's images output holds
    labelled = DecodeVideoPart.execute(part, None, images).args[0]
    assert_close_rel(labelled, decoded_by_the_node)
    assert read_label(labelled[-1]) == read_label(decoded_by_the_node[-1])
    with pytest.raises(ValueError, match="neither a vae nor images. Fix: link the checkpoint's VAE"):
        DecodeVideoPart.execute(part, None, None)
    with pytest.raises(ValueError, match="needs 2 frames, got 3. Fix: give Decode Video Part the sampler's own"):
        DecodeVideoPart.execute(part, None, torch.cat([images, images[:1]]))


def test_the_distributed_edit_workflow_decodes_each_frame_once():
    """Instruct-Pix2Pix Video decodes its frames for its images output: Decode Video Part takes those, not the VAE."""
    workflow = json.loads((REPO / "workflows" / "video-instruct-pix2pix-distributed.json").read_text())
    nodes = {node["id"]: node for node in workflow["nodes"]}
    links = {link[0]: link for link in workflow["links"]}  # id, from node, from slot, to node, to slot, type
    (decode,) = [n for n in nodes.values() if n["type"] == "DecodeVideoPart"]
    inputs = {i["name"]: i.get("link") for i in decode["inputs"]}
    assert inputs.get("vae") is None
    source = links[inputs["images"]]
    edit = nodes[source[1]]
    assert edit["type"] == "InstructPix2PixVideo" and edit["outputs"][source[2]]["name"] == "images"
    assert nodes[links[inputs["samples"]][1]] is edit


@pytest.mark.parametrize("value", [1.5, -0.25, 300.0])
def test_labels_read_any_image_values(value):
    picture = torch.full((16, 16, 3), value)
    assert read_label(picture) is None
    with pytest.raises(ValueError, match="no part of a video"):
        join_parts(picture.unsqueeze(0))


def test_the_parts_error_names_where_each_node_s_frame_count_comes_from(tiny):
    from t2vz.nodes.ip2p_video import InstructPix2PixVideo

    with pytest.raises(ValueError) as err:
        sampled(tiny, 2, 0, 3)
    message = str(err.value)
    assert "parts is 3 but the video has 2 frames" in message and "EmptyLatentImage's batch_size" in message
    with pytest.raises(ValueError) as err:
        InstructPix2PixVideo.execute(tiny_ip2p_patcher(), POS, NEG, tiny_vae(), moving_square_frames(5, 16, 16), 1.0,
                                     7.5, 0, 2, "euler", "normal", "shared", 0, 0, -1, 2, part=0, parts=4)
    message = str(err.value)
    assert "parts is 4 but the video has 3 frames" in message and "EmptyLatentImage" not in message
    assert "start_frame..end_frame, every every_nth one" in message


def test_the_part_tooltip_describes_the_split_the_code_makes():
    """7 frames in 3 parts are 0-2, 3-4, 5-6: consecutive runs, the later parts one frame shorter (they recompute
    frame 0), not part x F / parts."""
    assert [(p.start, p.stop) for p in (video_part(7, i, 3) for i in range(3))] == [(0, 3), (3, 5), (5, 7)]
    assert "x F / parts" not in PART_TOOLTIP
    assert "consecutive frames" in PART_TOOLTIP and "also recompute frame 0" in PART_TOOLTIP


def test_part_latent_drops_a_stale_label():
    latent = {"samples": torch.zeros(2, 4, 8, 8), PART_KEY: {"index": 1, "count": 3, "frames": 7, "video": {}}}
    out = part_latent(latent, torch.zeros(4, 4, 8, 8), video_part(4, 0, 1), {"seed": 1})
    assert PART_KEY not in out and out["samples"].shape[0] == 4
