"""The shipped workflows: valid UI JSON made of core and pack nodes, and runnable through /prompt to a video."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from workflow_api import substitute, to_api  # noqa: E402

WORKFLOWS = sorted((REPO / "workflows").glob("*.json"))


def test_workflows_exist_flat_in_a_folder_the_template_browser_scans():
    assert WORKFLOWS, "no workflows shipped"
    assert not list((REPO / "workflows").glob("*/*.json"))  # ComfyUI's listing is not recursive


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_runs_to_a_video_of_the_right_length(comfy_server, path):
    import av

    workflow = json.loads(path.read_text())
    info = comfy_server.get("/object_info")
    unknown = {n["type"] for n in workflow["nodes"]} - set(info) - {"Note", "MarkdownNote"}
    assert not unknown, f"node types missing from the server: {unknown}"
    prompt = substitute(to_api(workflow, info), checkpoint="t2vz-tiny-sd15.safetensors", width=64, height=64,
                        frames=4, steps=4)
    entry = comfy_server.run(prompt)
    videos = [v for out in entry["outputs"].values() for key in ("images", "videos")
              for v in out.get(key, []) if v["filename"].endswith(".mp4")]
    assert len(videos) == 1
    file = comfy_server.output_dir / videos[0].get("subfolder", "") / videos[0]["filename"]
    with av.open(str(file)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert (stream.codec_context.width, stream.codec_context.height) == (64, 64)
        assert stream.codec_context.name == "h264"
    assert frames == 4
