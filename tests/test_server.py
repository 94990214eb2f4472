"""The pack inside the real ComfyUI server: it loads, its nodes are listed, and prompts run through /prompt."""
from __future__ import annotations

import pytest

from comfy_server import PromptError
from prompts import text_to_video

PACK_NODES = ["MotionLatentSampler", "CrossFrameAttentionPatch", "FramesToVideo", "InstructPix2PixVideo",
              "VideoControlNetApply", "CameraPath", "MotionPreview", "DecodeVideoPart", "JoinVideoParts",
              "ReferenceEditVideo", "VideoConsistencyMetrics"]


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


@pytest.mark.parametrize("found,refused", [("0.3.60", True), ("0.2.7", True), ("0.3.75", False), ("0.4.0", False),
                                           ("0.10.1", False), ("0.33.0", False), ("1.0.0", False),
                                           ("0.3.76-dev", False)])
def test_the_version_gate_compares_numbers(found, refused):
    """0.4 ... 0.38 follow 0.3.75: versions are compared as numbers ("0.10" sorts below "0.3" as text)."""
    from t2vz.attention.host import unsupported_reason

    reason = unsupported_reason(found)
    assert (reason is not None) == refused
    if refused:
        assert found in reason and "0.3.75" in reason and "Fix" in reason


def test_too_old_comfyui_gets_one_clear_line_and_keeps_running(tmp_path):
    """A ComfyUI older than the supported range (here a copy of the host's that says 0.3.60 in comfyui_version.py):
    one error line names both versions and the fix, no traceback, and the server runs with its own nodes."""
    from comfy_server import ComfyServer, fresh_comfyui
    from conftest import COMFY, HOST, REPO

    comfy = fresh_comfyui(COMFY, tmp_path / "ComfyUI")
    (comfy / "comfyui_version.py").write_text('__version__ = "0.3.60"\n')
    (comfy / "custom_nodes" / "t2v-zero").symlink_to(REPO)
    server = ComfyServer(comfy, tmp_path / "run", {}, python=str(HOST / "venv" / "bin" / "python"))
    server.start()
    try:
        info = server.get("/object_info")
        log = server.log()
    finally:
        server.stop()
    assert "KSampler" in info and not [n for n in PACK_NODES if n in info]
    lines = [line for line in log.splitlines() if "T2V-Zero needs ComfyUI" in line]
    assert len(lines) == 1, log
    assert "0.3.60" in lines[0] and "0.3.75" in lines[0] and "Fix: update ComfyUI" in lines[0]
    # no traceback through the pack (ComfyUI's own extras may log theirs, e.g. without torchaudio) and no failed import
    assert f'File "{comfy / "custom_nodes" / "t2v-zero"}' not in log, log
    assert not [line for line in log.splitlines() if "IMPORT FAILED" in line and "t2v-zero" in line], log
