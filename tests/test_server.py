"""The pack inside the real ComfyUI server: it loads, its nodes are listed, and prompts run through /prompt."""
from __future__ import annotations

import pytest

from comfy_server import PromptError
from prompts import text_to_video

PACK_NODES = ["MotionLatentSampler", "CrossFrameAttentionPatch", "FramesToVideo", "InstructPix2PixVideo",
             "VideoControlNetApply"]


def test_pack_imports_and_lists_its_nodes(comfy_server):
    log = comfy_server.log()
    ours = [line for line in log.splitlines() if "custom_nodes/t2v-zero" in line]
    assert ours, "the pack was not loaded from custom_nodes at all:\n" + log
    assert not [line for line in ours if "IMPORT FAILED" in line], log
    info = comfy_server.get("/object_info")
    missing = [n for n in PACK_NODES if n not in info]
    assert not missing, f"nodes missing from /object_info: {missing}"


@pytest.mark.parametrize("node", PACK_NODES)
def test_every_input_has_a_tooltip(comfy_server, node):
    info = comfy_server.get(f"/object_info/{node}")[node]
    assert info["description"]
    for section in ("required", "optional"):
        for name, spec in info["input"].get(section, {}).items():
            options = spec[1] if len(spec) > 1 else {}
            assert options.get("tooltip"), f"{node}.{name} has no tooltip"


def test_text_to_video_prompt_runs(comfy_server):
    entry = comfy_server.run(text_to_video(frames=4, steps=6))
    images = entry["outputs"]["7"]["images"]
    assert len(images) == 4
    for image in images:
        assert (comfy_server.output_dir / image.get("subfolder", "") / image["filename"]).stat().st_size > 0


def test_bad_t0_t1_is_answered_and_server_keeps_running(comfy_server):
    with pytest.raises(PromptError) as err:
        comfy_server.run(text_to_video(frames=2, steps=4, t0=47, t1=47, save=True))
    assert "t0" in str(err.value) and "t1" in str(err.value) and "Fix" in str(err.value)
    assert comfy_server.alive()
    entry = comfy_server.run(text_to_video(frames=2, steps=4, seed=5))
    assert len(entry["outputs"]["7"]["images"]) == 2
