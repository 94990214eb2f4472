"""FramesToVideo: what lands on disk (checked by decoding it with PyAV / Pillow), naming, safety, errors, and the
node inside the real server."""
from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest
import torch

from t2vz.motion import video_file
from t2vz.motion.video_file import frame_order, pad_to_even, save_video, webp_quality
from t2vz.nodes.frames_to_video import FramesToVideo

N, H, W = 6, 33, 47  # odd sizes on purpose
PROMPT = {"1": {"class_type": "EmptyImage", "inputs": {}}}
WORKFLOW = {"nodes": [], "links": [], "version": 0.4}


def synthetic_frames(n=N, h=H, w=W) -> torch.Tensor:
    """A colour gradient with a white square moving right: distinct frames, nothing the encoders find trivial."""
    y = torch.linspace(0, 1, h)[:, None].expand(h, w)
    x = torch.linspace(0, 1, w)[None, :].expand(h, w)
    base = torch.stack([x, y, torch.full((h, w), 0.3)], dim=-1)
    frames = base.repeat(n, 1, 1, 1)
    for i in range(n):
        x0 = 2 + (5 * i) % (w - 12)
        frames[i, 8:18, x0:x0 + 10] = 1.0
    return frames


@pytest.fixture()
def folders(tmp_path):
    """ComfyUI's output and temp folders pointed at a fresh directory for the test."""
    import folder_paths

    old = folder_paths.get_output_directory(), folder_paths.get_temp_directory()
    folder_paths.set_output_directory(str(tmp_path / "output"))
    folder_paths.set_temp_directory(str(tmp_path / "temp"))
    yield tmp_path
    folder_paths.set_output_directory(old[0])
    folder_paths.set_temp_directory(old[1])


def node(prompt=PROMPT, extra=None):
    """The node class as the executor prepares it, with the hidden prompt/workflow."""
    from comfy_api.latest import io

    extra = {"workflow": WORKFLOW} if extra is None else extra
    cls = FramesToVideo.PREPARE_CLASS_CLONE(None)  # its argument differs between ComfyUI versions; None works in all
    cls.hidden = io.HiddenHolder.from_dict({"PROMPT": prompt, "EXTRA_PNGINFO": extra})
    return cls


def run(images=None, frame_rate=8.0, format="mp4", quality=19, loop_count=0, pingpong=False,
        filename_prefix="T2V-Zero/video", save_output=True, cls=None):
    images = synthetic_frames() if images is None else images
    return (cls or node()).execute(images, frame_rate, format, quality, loop_count, pingpong, filename_prefix,
                                   save_output)


def decode(path) -> tuple[list[np.ndarray], dict]:
    """Frames (RGB uint8) and stream facts of a video or animated image."""
    if str(path).endswith(".webp"):  # ffmpeg (PyAV) has no animated-WebP decoder: Pillow reads it
        from PIL import Image

        image = Image.open(path)
        frames, durations = [], []
        for k in range(image.n_frames):
            image.seek(k)
            image.load()
            frames.append(np.asarray(image.convert("RGB")))
            durations.append(image.info["duration"])
        return frames, {"codec": "webp", "width": image.width, "height": image.height,
                        "fps": 1000 / np.mean(durations), "loop": image.info.get("loop"), "exif": image.getexif()}
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        facts = {"codec": stream.codec_context.name, "width": stream.codec_context.width,
                 "height": stream.codec_context.height, "fps": float(stream.average_rate),
                 "metadata": dict(container.metadata)}
    if str(path).endswith(".gif"):  # gif delays are 1/100 s: 8 fps is stored as alternating 12/13
        from PIL import Image

        image = Image.open(path)
        durations = []
        for k in range(image.n_frames):
            image.seek(k)
            durations.append(image.info["duration"])
        facts["fps"] = 1000 / np.mean(durations)
        facts["loop"] = image.info.get("loop")
    return frames, facts


def files_in(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


EXPECTED = {"mp4": ("h264", (48, 34)), "webm": ("vp9", (48, 34)), "gif": ("gif", (W, H)), "webp": ("webp", (W, H))}


@pytest.mark.parametrize("pingpong", [False, True], ids=["forward", "pingpong"])
@pytest.mark.parametrize("format", list(EXPECTED))
def test_file_has_the_frames_size_rate_and_codec(folders, format, pingpong):
    images = synthetic_frames()
    out = run(images, frame_rate=8.0, format=format, pingpong=pingpong)
    path = out.args[0]
    assert os.path.isabs(path) and path.endswith("." + format)
    assert os.path.dirname(path) == str(folders / "output" / "T2V-Zero")
    frames, facts = decode(path)
    codec, (width, height) = EXPECTED[format]
    assert facts["codec"] == codec
    assert (facts["width"], facts["height"]) == (width, height)  # mp4/webm padded to even sizes
    assert facts["fps"] == pytest.approx(8.0, rel=0.02)
    order = frame_order(N, pingpong)
    assert len(frames) == (2 * N - 2 if pingpong else N) == len(order)
    # The pictures are the input's (lossy codecs: close, not equal; catches channel order / palette mistakes).
    expected = (images[order] * 255).numpy()
    got = np.stack([f[:H, :W] for f in frames]).astype(np.float32)
    assert np.abs(got - expected).mean() < 12, f"{format}: decoded frames differ from the input"
    assert np.abs(got[3] - expected[3]).mean() < np.abs(got[3] - expected[0]).mean()  # frames stay in order


@pytest.mark.parametrize("format", list(EXPECTED))
def test_frames_are_converted_and_encoded_one_at_a_time(folders, monkeypatch, format):
    """Streaming: when a frame is converted to 8 bits, no earlier converted frame is still alive."""
    import weakref

    alive, converted = [], []
    real = video_file.to_uint8

    def tracking(frame):
        alive[:] = [ref for ref in alive if ref() is not None]
        assert not alive, f"{len(alive)} converted frame(s) still held while converting the next"
        out = real(frame)
        alive.append(weakref.ref(out))
        converted.append(1)
        return out

    monkeypatch.setattr(video_file, "to_uint8", tracking)
    out = run(synthetic_frames(12, 40, 64), format=format, pingpong=True)  # 12 distinct frames (webp merges repeats)
    assert len(converted) == 22 and len(decode(out.args[0])[0]) == 22


def test_odd_sizes_are_padded_by_edge_replication():
    frame = np.arange(3 * 5 * 3, dtype=np.uint8).reshape(3, 5, 3)
    padded = pad_to_even(frame)
    assert padded.shape == (4, 6, 3)
    assert (padded[:3, :5] == frame).all()
    assert (padded[3, :5] == frame[2]).all() and (padded[:3, 5] == frame[:, 4]).all()
    assert pad_to_even(padded) is padded


def test_padding_is_logged(folders, caplog):
    with caplog.at_level(logging.INFO):
        run(synthetic_frames(2), format="mp4")
    assert any("padded to 48x34" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        run(synthetic_frames(2, 32, 48), format="mp4")
    assert not any("padded" in r.getMessage() for r in caplog.records)


def test_loop_count_repeats_video_and_is_stored_for_animated_images(folders):
    frames, _ = decode(run(format="mp4", loop_count=2).args[0])
    assert len(frames) == 3 * N
    frames, _ = decode(run(format="webm", loop_count=1, pingpong=True).args[0])
    assert len(frames) == 2 * (2 * N - 2)
    for format in ("gif", "webp"):
        frames, facts = decode(run(format=format, loop_count=3).args[0])
        assert len(frames) == N and facts["loop"] == 3
        assert decode(run(format=format).args[0])[1]["loop"] == 0  # 0 = forever


def test_webp_quality_mapping():
    assert webp_quality(0) == (True, 100)
    assert webp_quality(19) == (False, 79)
    assert webp_quality(51) == (False, 0)
    qualities = [webp_quality(c)[1] for c in range(1, 52)]
    assert qualities == sorted(qualities, reverse=True)


def test_second_call_never_overwrites_and_leaves_no_partial_files(folders):
    first = run().args[0]
    first_bytes = open(first, "rb").read()
    second = run().args[0]
    assert first != second
    assert open(first, "rb").read() == first_bytes
    assert files_in(folders / "output") == ["T2V-Zero/video_00001_.mp4", "T2V-Zero/video_00002_.mp4"]


def test_a_name_taken_meanwhile_is_skipped_not_overwritten(folders, monkeypatch):
    """Another writer created the file between ComfyUI's counter scan and the end of our encode."""
    import folder_paths

    scan = folder_paths.get_save_image_path

    def stale_scan(*args, **kwargs):
        result = scan(*args, **kwargs)
        os.makedirs(result[0], exist_ok=True)
        with open(os.path.join(result[0], f"{result[1]}_{result[2]:05}_.mp4"), "wb") as f:
            f.write(b"someone else's file")
        return result

    monkeypatch.setattr(folder_paths, "get_save_image_path", stale_scan)
    path = run().args[0]
    assert path.endswith("video_00002_.mp4")
    assert (folders / "output" / "T2V-Zero" / "video_00001_.mp4").read_bytes() == b"someone else's file"
    assert len(decode(path)[0]) == N
    assert files_in(folders / "output") == ["T2V-Zero/video_00001_.mp4", "T2V-Zero/video_00002_.mp4"]


@pytest.mark.parametrize("format", ["mp4", "gif"])
def test_an_error_while_encoding_leaves_no_file(folders, format):
    def interrupt(done, total):
        if done == 3:
            raise InterruptedError("cancelled")

    with pytest.raises(InterruptedError):
        save_video(synthetic_frames(), "T2V-Zero/video", format, on_frame=interrupt)
    assert files_in(folders / "output") == []


def test_save_output_off_writes_to_the_temp_folder(folders):
    out = run(save_output=False, format="gif")
    assert out.args[0].startswith(str(folders / "temp"))
    assert out.ui.as_dict() == {"images": [{"filename": "video_00001_.gif", "subfolder": "T2V-Zero",
                                            "type": "temp"}]}
    assert not (folders / "output").exists() or files_in(folders / "output") == []


def test_preview_is_what_core_save_nodes_return(folders):
    video = run(format="webm").ui.as_dict()
    assert video == {"images": [{"filename": "video_00001_.webm", "subfolder": "T2V-Zero", "type": "output"}],
                     "animated": (True,)}
    assert run(format="webp").ui.as_dict()["animated"] == (True,)  # <img>, as core SaveAnimatedWEBP
    # frontend 1.32 puts "animated" outputs named neither *webp* nor *png* into a <video>, which cannot play a gif
    assert "animated" not in run(format="gif").ui.as_dict()


def test_workflow_metadata_is_embedded(folders):
    _, facts = decode(run(format="mp4").args[0])
    meta = facts["metadata"]
    assert json.loads(meta["prompt"]) == PROMPT and json.loads(meta["workflow"]) == WORKFLOW
    assert json.loads(meta["comment"]) == {"prompt": PROMPT, "workflow": WORKFLOW}
    _, facts = decode(run(format="webm").args[0])
    assert json.loads({k.lower(): v for k, v in facts["metadata"].items()}["workflow"]) == WORKFLOW
    _, facts = decode(run(format="webp").args[0])  # ComfyUI's WebP layout (EXIF Model / Make)
    assert facts["exif"][0x0110] == "prompt:" + json.dumps(PROMPT)
    assert facts["exif"][0x010F] == "workflow:" + json.dumps(WORKFLOW)


def test_disable_metadata_is_respected(folders, monkeypatch):
    from comfy.cli_args import args

    monkeypatch.setattr(args, "disable_metadata", True)
    _, facts = decode(run(format="mp4").args[0])
    assert not {"prompt", "workflow", "comment"} & set(facts["metadata"])
    _, facts = decode(run(format="webp").args[0])
    assert 0x0110 not in facts["exif"]


def core_codec_auto(save_video):
    """Core SaveVideo's codec "auto": a plain combo value, or (ComfyUI 0.33) a dynamic combo's value dict."""
    (codec,) = [i for i in save_video.GET_SCHEMA().inputs if i.id == "codec"]
    dynamic = any(kind.__qualname__ == "DynamicCombo.Input" for kind in type(codec).__mro__)
    return {"codec": "auto"} if dynamic else "auto"


@pytest.mark.parametrize("format", list(EXPECTED))
def test_video_output_feeds_core_save_video(folders, format):
    from comfy_extras.nodes_video import SaveVideo

    out = run(synthetic_frames(N, 32, 48), format=format, pingpong=True)  # core's own h264 writer needs even sizes
    video = out.args[1]
    assert video.get_components().images.shape[0] == 2 * N - 2
    SaveVideo.PREPARE_CLASS_CLONE(None).execute(video, "core/saved", "mp4" if format in ("gif", "webp") else "auto",
                                                core_codec_auto(SaveVideo))
    saved = sorted((folders / "output" / "core").iterdir())
    assert len(saved) == 1 and len(decode(saved[0])[0]) == 2 * N - 2


@pytest.mark.parametrize("kwargs, names", [
    ({"images": synthetic_frames()[:0]}, ["images", "0 frames"]),
    ({"images": torch.zeros(2, 8, 8, 4)}, ["images", "(frames, height, width, 3)"]),
    ({"images": torch.zeros(8, 8, 3)}, ["images", "(frames, height, width, 3)"]),
    ({"frame_rate": 0.0}, ["frame_rate", "Fix"]),
    ({"frame_rate": -4.0}, ["frame_rate", "Fix"]),
    ({"frame_rate": float("nan")}, ["frame_rate", "Fix"]),
    ({"format": "avi"}, ["format", "mp4, webm, gif, webp"]),
    ({"quality": 99}, ["quality", "Fix"]),
])
def test_bad_inputs_are_named_with_a_fix(folders, kwargs, names):
    with pytest.raises(ValueError) as err:
        run(**kwargs)
    for name in names:
        assert name in str(err.value)
    assert not (folders / "output").exists() or files_in(folders / "output") == []


def test_every_input_and_output_has_a_tooltip():
    schema = FramesToVideo.GET_SCHEMA()
    assert schema.node_id == "FramesToVideo" and schema.category == "T2V-Zero" and schema.description
    for item in schema.inputs + schema.outputs:
        assert item.tooltip, f"{item.id} has no tooltip"
    assert "4 fps" in next(i for i in schema.inputs if i.id == "frame_rate").tooltip


def test_frames_to_video_in_the_server(comfy_server):
    import prompts

    prompt = prompts.text_to_video(frames=4, steps=4, save=False)
    prompt["8"] = {"class_type": "FramesToVideo", "inputs": {
        "images": ["6", 0], "frame_rate": 4.0, "format": "mp4", "quality": 19, "loop_count": 0, "pingpong": False,
        "filename_prefix": "T2V-Zero/server", "save_output": True}}
    entry = comfy_server.run(prompt)
    preview = entry["outputs"]["8"]
    assert preview["animated"] == [True]
    (item,) = preview["images"]
    assert item["type"] == "output" and item["subfolder"] == "T2V-Zero" and item["filename"].endswith(".mp4")
    file = comfy_server.output_dir / item["subfolder"] / item["filename"]
    frames, facts = decode(file)
    assert len(frames) == 4 and facts["codec"] == "h264" and facts["fps"] == pytest.approx(4.0)
    assert json.loads(facts["metadata"]["prompt"])["8"]["class_type"] == "FramesToVideo"
