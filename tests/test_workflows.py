"""The shipped workflows (valid UI JSON of core and pack nodes, up to date with the nodes, runnable through /prompt
to a video) and the UI -> API converter they rely on."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from workflow_api import substitute, to_api, widget_names  # noqa: E402

WORKFLOWS = sorted((REPO / "workflows").glob("*.json"))
NOTES = {"Note", "MarkdownNote"}
PACK_MODULE = "custom_nodes.t2v-zero"
DISTRIBUTED_MODULE = "custom_nodes.ComfyUI-Distributed"
NEEDS_DISTRIBUTED = {"text-to-video-distributed", "video-instruct-pix2pix-distributed"}  # another pack's nodes


@pytest.fixture(scope="module")
def object_info(comfy_server):
    return comfy_server.get("/object_info")


def test_workflows_exist_flat_in_a_folder_the_template_browser_scans():
    assert {p.name for p in WORKFLOWS} >= {"text-to-video.json", "text-to-video-long.json"}
    assert not list((REPO / "workflows").glob("*/*.json"))  # ComfyUI's listing is not recursive


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_is_well_formed_ui_json(path):
    workflow = json.loads(path.read_text())
    for key in ("last_node_id", "last_link_id", "nodes", "links", "groups", "config", "extra"):
        assert key in workflow, key
    assert workflow["version"] == 0.4
    nodes = {n["id"]: n for n in workflow["nodes"]}
    assert len(nodes) == len(workflow["nodes"]) and max(nodes) <= workflow["last_node_id"]
    assert sorted(n["order"] for n in nodes.values()) == list(range(len(nodes)))
    for node in nodes.values():
        for key in ("id", "type", "pos", "size", "flags", "order", "mode", "inputs", "outputs", "properties",
                    "widgets_values"):
            assert key in node, f"node {node['id']} lacks {key}"
        if node["type"] not in NOTES:
            assert node["properties"]["Node name for S&R"] == node["type"]
    for lid, src, slot, dst, target, kind in workflow["links"]:
        assert lid <= workflow["last_link_id"]
        assert lid in nodes[src]["outputs"][slot]["links"] and nodes[src]["outputs"][slot]["type"] == kind
        assert nodes[dst]["inputs"][target]["link"] == lid and nodes[dst]["inputs"][target]["type"] == kind
        assert nodes[src]["order"] < nodes[dst]["order"]
    linked = {s["link"] for n in nodes.values() for s in n["inputs"] if s["link"] is not None}
    assert linked == {link[0] for link in workflow["links"]}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_uses_only_core_and_pack_nodes_and_explains_itself(path, object_info):
    workflow = json.loads(path.read_text())
    types = {n["type"] for n in workflow["nodes"]}
    unknown = types - set(object_info) - NOTES
    assert not unknown, f"node types missing from the server: {unknown}"
    for kind in types - NOTES:
        module = object_info[kind]["python_module"]
        allowed = {PACK_MODULE} | ({DISTRIBUTED_MODULE} if path.stem in NEEDS_DISTRIBUTED else set())
        assert module in allowed or module.split(".")[0] in ("nodes", "comfy_extras"), (kind, module)
    (note,) = [n for n in workflow["nodes"] if n["type"] in NOTES]
    text = note["widgets_values"][0]
    for word in NOTE_WORDS.get(path.stem, NOTE_WORDS["text-to-video"]):
        assert word in text, word


# what each workflow's note must explain (its knobs, its model and where it goes); text-to-video's by default
NOTE_WORDS = {
    **{name: ("Camera Path", "frame:(value)", "Motion Preview", "Queue Selected Output Nodes", "ease_in_out",
              "models/checkpoints", "SD1.5") for name in ("image-to-video-ken-burns", "text-to-video-camera-path")},
    "text-to-video-distributed": ("ComfyUI-Distributed", "Distributed Seed", "fixed", "parts", "enable-cors-header",
                                  "Join Video Parts", "models/checkpoints", "first+previous", "parts = 1"),
    "video-instruct-pix2pix-distributed": ("instruct-pix2pix-00-22000.safetensors", "ComfyUI-Distributed",
                                           "Distributed Seed", "fixed", "enable-cors-header", "Join Video Parts",
                                           "parts = 1", "text_guidance", "Load Video"),
    "text-to-video": ("motion_x", "motion_y", "t0", "t1", "frames_per_chunk", "models/checkpoints", "SD1.5"),
    **{name: ("flux1-schnell.safetensors", "models/diffusion_models", "models/text_encoders", "models/vae",
              "t5xxl_fp16.safetensors", "flux1-dev.safetensors", "steps 4, cfg 1.0", "Flux Guidance", "multiples of 16",
              "motion_x", "t0 / t1", "frames_per_chunk", *extra)
       for name, extra in (("text-to-video-flux", ()), ("image-to-video-flux", ("first_frame_strength 1.0",)))},
    "text-to-video-sd35": ("sd3.5_large_fp8_scaled.safetensors", "models/checkpoints", "Medium", "Triple CLIP Loader",
                           "steps 28, cfg 4.5", "motion_x", "t0 / t1", "frames_per_chunk", "multiples of 16"),
    "video-kontext-edit": ("flux1-dev-kontext_fp8_scaled.safetensors", "models/diffusion_models",
                           "models/text_encoders", "models/vae", "Load Video", "Flux Guidance 2.5", "noise_mode shared",
                           "frames_per_chunk", "every_nth", "Cross-frame attention", "source frame k"),
    "video-qwen-edit": ("qwen_image_edit_2509_fp8_e4m3fn.safetensors", "qwen_2.5_vl_7b_fp8_scaled.safetensors",
                        "qwen_image_vae.safetensors", "models/diffusion_models", "models/text_encoders", "models/vae",
                        "Load Video", "noise_mode shared", "frames_per_chunk", "every_nth", "Lightning LoRA",
                        "cross-frame attention", "source frame k"),
    "video-instruct-pix2pix": ("instruct-pix2pix-00-22000.safetensors", "models/checkpoints", "text_guidance",
                               "image_guidance", "noise_mode", "frames_per_chunk", "every_nth", "Load Video"),
    "video-instruct-pix2pix-flow": ("instruct-pix2pix-00-22000.safetensors", "models/checkpoints", "text_guidance",
                                    "noise_mode flow", "attention_along_flow", "Load Optical Flow Model",
                                    "optical_flow", "docs/consistency.md", "Load Video"),
    "video-kontext-edit-flow": ("flux1-dev-kontext_fp8_scaled.safetensors", "models/diffusion_models",
                                "Flux Guidance 2.5", "noise_mode flow", "attention_along_flow",
                                "Load Optical Flow Model", "optical_flow", "16 px", "docs/consistency.md"),
    **{f"controlnet-{kind}-video": (stock, "models/controlnet", "models/checkpoints", "SD1.5", "noise_mode shared",
                                    "steps 20, cfg 9", "frames_per_chunk", "Image From Batch", *extra)
       for kind, stock, extra in (
           ("canny", "control_v11p_sd15_canny.pth", ("low_threshold", "high_threshold")),
           ("pose", "control_v11p_sd15_openpose.pth", ("comfyui_controlnet_aux", "DWPreprocessor",
                                                       "OpenposePreprocessor", "skeleton")),
           ("depth", "control_v11f1p_sd15_depth.pth", ("comfyui_controlnet_aux", "DepthAnythingPreprocessor",
                                                       "MiDaS-DepthMapPreprocessor", "depth video")))},
}


def test_shipped_files_are_what_the_generator_writes(object_info):
    """A node gaining or reordering a widget shifts every saved widget value: regenerate, don't hand-edit. The files
    are written on the newest supported ComfyUI (build_workflows.BUILT_ON); on an older one they differ only by the
    unlinked outputs that its core nodes do not have yet (e.g. 0.33's GetVideoComponents.bit_depth)."""
    from build_workflows import BUILT_ON, render
    from t2vz.attention.host import comfyui_version

    for name, text in render(object_info).items():
        shipped = (REPO / "workflows" / name).read_text()
        if comfyui_version() == BUILT_ON:
            assert shipped == text, f"workflows/{name} is out of date. Fix: .host/venv/bin/python scripts/build_workflows.py"
        else:
            assert outputs_known_to(json.loads(shipped), object_info) == json.loads(text), f"workflows/{name}"


def outputs_known_to(workflow: dict, object_info: dict) -> dict:
    """``workflow`` without the unlinked outputs that this ComfyUI's nodes lack."""
    workflow = json.loads(json.dumps(workflow))
    for node in workflow["nodes"]:
        names = object_info.get(node["type"], {}).get("output_name")
        if names is not None:
            node["outputs"] = [o for o in node["outputs"] if o["name"] in names or o["links"]]
    return workflow


def test_text_to_video_workflow_has_the_reference_settings(object_info):
    prompt = to_api(json.loads((REPO / "workflows" / "text-to-video.json").read_text()), object_info)
    by_type = {node["class_type"]: node["inputs"] for node in prompt.values()}
    assert by_type["CheckpointLoaderSimple"]["ckpt_name"] == "v1-5-pruned-emaonly.safetensors"
    assert by_type["EmptyLatentImage"] == {"width": 512, "height": 512, "batch_size": 8}
    sampler = by_type["MotionLatentSampler"]
    assert {k: sampler[k] for k in ("seed", "steps", "cfg", "sampler_name", "scheduler", "noise_mode", "motion_x",
                                    "motion_y", "zoom", "rotation", "t0", "t1", "frames_per_chunk")} == {
        "seed": 0, "steps": 50, "cfg": 7.5, "sampler_name": "ddim", "scheduler": "ddim_uniform",
        "noise_mode": "motion", "motion_x": 12.0, "motion_y": 12.0, "zoom": 1.0, "rotation": 0.0, "t0": 44,
        "t1": 47, "frames_per_chunk": 0}
    assert by_type["FramesToVideo"]["frame_rate"] == 4.0 and by_type["FramesToVideo"]["format"] == "mp4"
    long = to_api(json.loads((REPO / "workflows" / "text-to-video-long.json").read_text()), object_info)
    long = {node["class_type"]: node["inputs"] for node in long.values()}
    assert long["EmptyLatentImage"]["batch_size"] == 64 and long["MotionLatentSampler"]["frames_per_chunk"] == 8


def small_job(prompt: dict, server) -> dict:
    """A shipped workflow's prompt made small for the tests (tiny models, 64x64, 4 frames, 4 steps). The API test
    below and the browser test (test_browser.py, which sets the same values in the UI) both use it: a workflow
    that needs more (another model, an input file in server.input_dir) gets it here."""
    from tiny_controlnet import CONTROLNET_NAME  # in the server's controlnet folder (conftest)
    from tiny_ip2p import IP2P_CHECKPOINT_NAME, tiny_ip2p_checkpoint

    if any(node["class_type"] == "InstructPix2PixVideo" for node in prompt.values()):
        tiny_ip2p_checkpoint()  # next to the tiny SD1.5 checkpoint, in the server's checkpoints folder
    return substitute(prompt, checkpoint="t2vz-tiny-sd15.safetensors", width=64, height=64, frames=4, steps=4,
                      image=input_image(server), video=input_video(server), ip2p_checkpoint=IP2P_CHECKPOINT_NAME,
                      control_net=CONTROLNET_NAME, parts=1, models=dit_models(), text_encoder_type="sd3")


def dit_models() -> dict[str, str]:
    """The DiT workflows' model files -> the tiny ones the server has (tests/tiny_dit.py workflow_model_folders):
    Flux schnell and SD3 that take what ComfyUI's SD3 text encoder makes of CLIP-L alone, so both text encoder
    slots of DualCLIPLoader get the tiny CLIP-L (its type set to sd3): T5-XXL cannot exist here. Another text
    encoder than the workflow's, then, and named as such; the loaders, the sampler and the VAE are the real path."""
    from build_workflows import FLUX_CLIP_L, FLUX_T5, FLUX_UNET, FLUX_VAE, KONTEXT_UNET, SD35_CHECKPOINT
    from tiny_dit import SD3_CHECKPOINT_NAME, TEXT_ENCODER_NAME, VAE16_NAME, tiny_dit_name

    return {FLUX_UNET: tiny_dit_name("flux-schnell-encoded"), KONTEXT_UNET: tiny_dit_name("flux-dev-encoded"),
            FLUX_CLIP_L: TEXT_ENCODER_NAME, FLUX_T5: TEXT_ENCODER_NAME, FLUX_VAE: VAE16_NAME,
            SD35_CHECKPOINT: SD3_CHECKPOINT_NAME}


def needs_runnable(prompt: dict) -> None:
    """Skips a workflow that cannot run here, saying why: one whose text encoder no stand-in can replace (Qwen-Image's
    Qwen2.5-VL 7B: its 3584-wide tokens come from no small encoder), or one that loads a tiny Flux where this
    ComfyUI cannot (needs_tiny_flux)."""
    if any(node["class_type"] == "CLIPLoader" and node["inputs"].get("type") == "qwen_image"
           for node in prompt.values()):
        pytest.skip("Qwen-Image's text encoder (Qwen2.5-VL 7B, 3584-wide tokens) cannot exist here and no stand-in "
                    "gives its width: the workflow is checked as UI JSON and in the browser up to Run; Edit Video's "
                    "Qwen-Image-Edit path runs on a tiny Qwen-Image in tests/test_reference_edit.py")
    needs_tiny_flux(prompt)


def needs_tiny_flux(prompt: dict) -> None:
    """Skips where the prompt loads a tiny Flux and this ComfyUI cannot (0.3.75's detection: see tiny_dit.py)."""
    from build_workflows import FLUX_UNET, KONTEXT_UNET
    from tiny_dit import flux_refusal

    if any(node["inputs"].get("unet_name") in (FLUX_UNET, KONTEXT_UNET) for node in prompt.values()) and flux_refusal():
        pytest.skip(flux_refusal())


def input_video(server) -> str:
    """A 64x64, 4 fps, 6-frame h264 clip in the server's input folder, for LoadVideo (more frames than the job's 4:
    the frame selection must pick them)."""
    from tiny_ip2p import moving_square_frames, write_video

    path = server.input_dir / "t2vz-input-video.mp4"
    if not path.exists():
        write_video(path, moving_square_frames(6, 64, 64), fps=4)
    return path.name


def input_image(server) -> str:
    """A 96x80 picture in the server's input folder, for LoadImage (another size than the video's on purpose)."""
    from PIL import Image

    path = server.input_dir / "t2vz-first-frame.png"
    if not path.exists():
        pixels = (torch.arange(96 * 80 * 3) % 251).reshape(80, 96, 3).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(path)
    return path.name


# video frames per workflow at small_job's 4 frames, where it is not 4: the continuation joins 4 + 3 frames
EXPECTED_FRAMES = {"video-continuation": 7}
# frame rate where it is not the reference's 4 fps: camera moves play smoother at 8
EXPECTED_RATE = {"image-to-video-ken-burns": 8.0, "text-to-video-camera-path": 8.0}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_runs_to_a_video_of_the_right_length(comfy_server, object_info, path):
    import av

    workflow = json.loads(path.read_text())
    shipped = to_api(workflow, object_info)
    needs_runnable(shipped)
    prompt = small_job(shipped, comfy_server)
    entry = comfy_server.run(prompt)
    videos = [v for out in entry["outputs"].values() for v in out.get("images", []) if v["filename"].endswith(".mp4")]
    assert len(videos) == 1
    file = comfy_server.output_dir / videos[0]["subfolder"] / videos[0]["filename"]
    with av.open(str(file)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert (stream.codec_context.width, stream.codec_context.height) == (64, 64)
        assert stream.codec_context.name == "h264"
        assert float(stream.average_rate) == EXPECTED_RATE.get(path.stem, 4.0)
    assert frames == EXPECTED_FRAMES.get(path.stem, 4)


# --- the converter on its own (no server) -------------------------------------------------------------------------
INFO = {
    "Sampler": {"input": {"required": {"model": ["MODEL", {}], "seed": ["INT", {"control_after_generate": True}],
                                       "steps": ["INT", {"default": 20}], "name": [["a", "b"], {}],
                                       "mode": ["COMBO", {"options": ["x", "y"]}]},
                          "optional": {"mask": ["MASK", {}], "strength": ["FLOAT", {"default": 0.5}],
                                       "tag": ["STRING", {"forceInput": True}]}},
                "input_order": {"required": ["model", "seed", "steps", "name", "mode"],
                                "optional": ["mask", "strength", "tag"]},
                "output": ["LATENT"], "output_name": ["LATENT"]},
    "Legacy": {"input": {"required": {"noise_seed": ["INT", {}], "text": ["STRING", {}]}},
               "output": ["MODEL"], "output_name": ["MODEL"]},
    "Loader": {"input": {"required": {"ckpt_name": [["m.safetensors"], {}]}},
               "output": ["MODEL", "INT"], "output_name": ["MODEL", "INT"]},
}


def ui_node(nid, kind, widgets, inputs=(), mode=0):
    return {"id": nid, "type": kind, "mode": mode, "widgets_values": widgets,
            "inputs": [dict(slot) for slot in inputs], "outputs": []}


def test_widget_order_and_control_values():
    assert widget_names(INFO["Sampler"]) == ["seed", "control_after_generate", "steps", "name", "mode", "strength"]
    assert widget_names(INFO["Legacy"]) == ["noise_seed", "control_after_generate", "text"]  # the frontend's rule
    workflow = {"nodes": [ui_node(1, "Loader", ["m.safetensors"]),
                          ui_node(2, "Sampler", [7, "randomize", 30, "b", "y", 0.25],
                                  [{"name": "model", "type": "MODEL", "link": 1}]),
                          ui_node(3, "Legacy", [5, "fixed", "hello"]),
                          ui_node(4, "Note", ["read me"]), ui_node(5, "MarkdownNote", ["# read me"])],
                "links": [[1, 1, 0, 2, 0, "MODEL"]]}
    prompt = to_api(workflow, INFO)
    assert {nid: (node["class_type"], node["inputs"]) for nid, node in prompt.items()} == {
        "1": ("Loader", {"ckpt_name": "m.safetensors"}),
        "2": ("Sampler", {"model": ["1", 0], "seed": 7, "steps": 30, "name": "b", "mode": "y", "strength": 0.25}),
        "3": ("Legacy", {"noise_seed": 5, "text": "hello"})}
    assert prompt["2"]["_meta"] == {"title": "Sampler"}  # as the frontend sends it (node title or display name)


def test_converted_widgets_primitives_reroutes_bypass_and_mute():
    workflow = {"nodes": [
        ui_node(1, "Loader", ["m.safetensors"]),
        ui_node(2, "Sampler", [7, "fixed", 30, "a", "x", 0.5], [
            {"name": "model", "type": "MODEL", "link": 3},
            {"name": "seed", "type": "INT", "link": 2, "widget": {"name": "seed"}},  # converted widget, linked
            {"name": "steps", "type": "INT", "link": 4, "widget": {"name": "steps"}},  # from a PrimitiveNode
            {"name": "tag", "type": "STRING", "link": None}]),
        ui_node(3, "Reroute", [], [{"name": "", "type": "*", "link": 1}]),
        ui_node(4, "PrimitiveNode", [12, "fixed"]),
        ui_node(5, "Sampler", [1, "fixed", 2, "a", "x", 0.5], [{"name": "model", "type": "MODEL", "link": 5}],
                mode=4),  # bypassed: its MODEL input passes through
        ui_node(6, "Legacy", [1, "fixed", "t"], mode=2),  # muted: left out
    ], "links": [[1, 1, 0, 3, 0, "MODEL"], [2, 1, 1, 2, 1, "INT"], [3, 5, 0, 2, 0, "MODEL"],
                 [4, 4, 0, 2, 2, "INT"], [5, 3, 0, 5, 0, "MODEL"]]}
    prompt = to_api(workflow, INFO)
    assert set(prompt) == {"1", "2"}
    assert prompt["2"]["inputs"] == {"model": ["1", 0], "seed": ["1", 1], "steps": 12, "name": "a", "mode": "x",
                                     "strength": 0.5}


def test_unknown_node_type_is_named():
    with pytest.raises(KeyError, match="NotInstalled"):
        to_api({"nodes": [ui_node(1, "NotInstalled", [])], "links": []}, INFO)


def test_substitute_shrinks_a_copy():
    prompt = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "big.safetensors"}},
              "2": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 64}},
              "3": {"class_type": "MotionLatentSampler", "inputs": {"steps": 50, "frames_per_chunk": 8}},
              "4": {"class_type": "KSampler", "inputs": {"steps": ["9", 0]}}}
    small = substitute(prompt, checkpoint="tiny.safetensors", width=64, height=64, frames=4, steps=4)
    assert small["1"]["inputs"]["ckpt_name"] == "tiny.safetensors"
    assert small["2"]["inputs"] == {"width": 64, "height": 64, "batch_size": 4}
    assert small["3"]["inputs"] == {"steps": 4, "frames_per_chunk": 2}
    assert small["4"]["inputs"]["steps"] == ["9", 0]  # a linked input stays linked
    assert prompt["2"]["inputs"]["batch_size"] == 64
