"""Writes workflows/*.json (UI format, frontend 1.32) from the compact description below and the real /object_info
(widget order, outputs, defaults), so the shipped files always match the nodes.

Run from the repo root with the host installed: .host/venv/bin/python scripts/build_workflows.py
(--check: only compare, exit 1 if a file is out of date; --object-info FILE: use a saved /object_info).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from workflow_api import ordered_inputs, to_api, widget_names, widget_values  # noqa: E402

FRONTEND = "1.32.9"
CHECKPOINT = "v1-5-pruned-emaonly.safetensors"
CHECKPOINT_URL = ("https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5/resolve/main/"
                  "v1-5-pruned-emaonly.safetensors")

NOTE = """Text2Video-Zero: zero-shot text-to-video with any SD1.5 model (no video model, no training).

MODEL
Download an SD1.5 checkpoint, e.g. v1-5-pruned-emaonly.safetensors (4 GB) from
  {url}
or any SD1.5 fine-tune, into  ComfyUI/models/checkpoints/  and pick it in Load Checkpoint (press R to refresh).

FRAMES
Empty Latent Image: batch_size = number of frames ({frames} here), 512x512 as the reference.

MOTION (Motion Latent Sampler)
motion_x / motion_y: camera motion per frame in pixels of a 512-px frame. Positive motion_x moves the content LEFT
  (camera pans right), positive motion_y moves it UP; negative values the other way. 0/0 = static camera.
zoom > 1 moves in, < 1 out; rotation in degrees per frame (positive = anticlockwise).
t0 / t1 (reference 44 / 47, out of 49): frame 0 is denoised alone from step 49 down to t1; its latent at t0 is
  moved by the motion for every other frame. Lower t0 = more of frame 0's layout fixed before the move.
frames_per_chunk: 0 = all frames in one UNet call; 8 = eight at a time: memory stays flat for long videos and the
  result is the same.
sampler ddim + scheduler ddim_uniform at 50 steps reproduce the reference exactly; any sampler works.
seed: frame 0's starting noise (fixed here so a rerun gives the same video).

OUTPUT
Frames To Video writes ComfyUI/output/T2V-Zero/{name}_00001_.mp4 (h264, {fps:g} fps as the reference) and shows it
on the node. Formats: mp4, webm, gif, webp; pingpong for a back-and-forth loop."""


def text_to_video(name: str, frames: int, chunk: int) -> dict:
    """Text-to-video graph, as a spec: nodes (id, type, pos, size, widget values by input name, extras) and links by
    slot name. Every workflow in WORKFLOWS is such a spec, turned into UI JSON by build()."""
    fps = 4.0
    return {
        "nodes": [
            (1, "CheckpointLoaderSimple", (40, 180), (315, 98), {"ckpt_name": CHECKPOINT},
             {"properties": {"models": [{"name": CHECKPOINT, "url": CHECKPOINT_URL, "directory": "checkpoints"}]}}),
            (2, "CLIPTextEncode", (400, 60), (400, 160), {"text": "a horse galloping on a street"},
             {"title": "Positive prompt", "color": "#232", "bgcolor": "#353"}),
            (3, "CLIPTextEncode", (400, 270), (400, 130), {"text": ""},
             {"title": "Negative prompt", "color": "#322", "bgcolor": "#533"}),
            (4, "EmptyLatentImage", (400, 450), (315, 106), {"width": 512, "height": 512, "batch_size": frames},
             {"title": f"Frames ({frames}, 512x512)"}),
            (5, "MotionLatentSampler", (850, 60), (340, 520),
             {"seed": 0, "steps": 50, "cfg": 7.5, "sampler_name": "ddim", "scheduler": "ddim_uniform",
              "noise_mode": "motion", "motion_x": 12.0, "motion_y": 12.0, "zoom": 1.0, "rotation": 0.0,
              "t0": 44, "t1": 47, "frames_per_chunk": chunk}, {}),
            (6, "VAEDecode", (1230, 60), (210, 46), {}, {}),
            (7, "FramesToVideo", (1230, 160), (420, 560),
             {"frame_rate": fps, "format": "mp4", "filename_prefix": f"T2V-Zero/{name}"}, {}),
            (8, "Note", (-420, 60), (420, 700), {"text": NOTE.format(url=CHECKPOINT_URL, frames=frames, name=name,
                                                                      fps=fps)},
             {"title": "Read me: models, knobs, output", "color": "#432", "bgcolor": "#653"}),
        ],
        "links": [(1, "CLIP", 2, "clip"), (1, "CLIP", 3, "clip"), (1, "MODEL", 5, "model"),
                  (2, "CONDITIONING", 5, "positive"), (3, "CONDITIONING", 5, "negative"),
                  (4, "LATENT", 5, "latent_image"), (5, "LATENT", 6, "samples"), (1, "VAE", 6, "vae"),
                  (6, "IMAGE", 7, "images")],
    }


NOTE_INFO = {"input": {"required": {"text": ["STRING", {"multiline": True}]}}, "output": [], "output_name": []}


def build(object_info: dict, name: str, description: dict) -> dict:
    nodes, links = {}, []
    for nid, kind, pos, size, values, extra in description["nodes"]:
        info = NOTE_INFO if kind in ("Note", "MarkdownNote") else object_info[kind]
        node = {"id": nid, "type": kind, "pos": list(pos), "size": list(size), "flags": {}, "order": 0, "mode": 0,
                "inputs": [], "outputs": [],
                "properties": {"Node name for S&R": kind, **extra.get("properties", {})},
                "widgets_values": widget_values(info, values)}
        unknown = set(values) - set(widget_names(info))
        if unknown:
            raise KeyError(f"{kind} has no widget input(s) {sorted(unknown)}")
        for input_name, input_spec in ordered_inputs(info):
            if input_name not in widget_names(info):
                slot = {"name": input_name, "type": input_spec[0], "link": None}
                if input_name in info["input"].get("optional", {}):
                    slot["shape"] = 7  # the frontend's hollow dot for optional inputs
                node["inputs"].append(slot)
        node["outputs"] = [{"name": out_name, "type": out_type, "links": [], "slot_index": i}
                           for i, (out_name, out_type) in enumerate(zip(info["output_name"], info["output"]))]
        for key in ("title", "color", "bgcolor"):
            if key in extra:
                node[key] = extra[key]
        nodes[nid] = node
    for src_id, out_name, dst_id, in_name in description["links"]:
        src, dst = nodes[src_id], nodes[dst_id]
        slot = next(i for i, o in enumerate(src["outputs"]) if o["name"] == out_name)
        target = next(i for i, s in enumerate(dst["inputs"]) if s["name"] == in_name)
        lid = len(links) + 1
        src["outputs"][slot]["links"].append(lid)
        dst["inputs"][target]["link"] = lid
        links.append([lid, src_id, slot, dst_id, target, src["outputs"][slot]["type"]])
    # execution order as the frontend stores it: nodes without inputs first, then each after its sources
    done, order = set(), []
    while len(order) < len(nodes):
        ready = [nid for nid, n in sorted(nodes.items()) if nid not in done
                 and all(s["link"] is None or links[s["link"] - 1][1] in done for s in n["inputs"])]
        for nid in ready:
            nodes[nid]["order"] = len(order)
            order.append(nid)
            done.add(nid)
    return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"t2v-zero/workflows/{name}")), "revision": 0,
            "last_node_id": max(nodes), "last_link_id": len(links), "nodes": list(nodes.values()), "links": links,
            "groups": [], "config": {}, "extra": {"ds": {"scale": 0.75, "offset": [480, 80]},
                                                   "frontendVersion": FRONTEND}, "version": 0.4}


# file stem -> spec. Each workflow is one entry; its spec function lives above.
WORKFLOWS = {
    "text-to-video": lambda: text_to_video("text-to-video", 8, 0),
    "text-to-video-long": lambda: text_to_video("text-to-video-long", 64, 8),
}


def render(object_info: dict) -> dict[str, str]:
    """{file name: JSON text} for every shipped workflow; each is checked to convert back to its own values."""
    out = {}
    for name, make_spec in WORKFLOWS.items():
        description = make_spec()
        workflow = build(object_info, name, description)
        prompt = to_api(workflow, object_info)
        for nid, _, _, _, values, _ in description["nodes"]:
            for key, value in values.items():
                assert str(nid) not in prompt or prompt[str(nid)]["inputs"][key] == value, (name, nid, key)
        out[f"{name}.json"] = json.dumps(workflow, indent=1, ensure_ascii=False) + "\n"
    return out


def server_object_info() -> dict:
    sys.path.insert(0, str(REPO / "tests"))
    from comfy_server import ComfyServer  # noqa: PLC0415

    host = Path(os.environ.get("T2VZ_HOST") or REPO / ".host").resolve()
    with tempfile.TemporaryDirectory() as tmp:
        server = ComfyServer(host / "ComfyUI", Path(tmp), {}, python=str(host / "venv" / "bin" / "python")).start()
        try:
            return server.get("/object_info")
        finally:
            server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description="Write workflows/*.json from /object_info.")
    parser.add_argument("--check", action="store_true", help="only report files that differ; exit 1 if any")
    parser.add_argument("--object-info", help="a saved /object_info JSON instead of starting the server")
    args = parser.parse_args()
    info = json.loads(Path(args.object_info).read_text()) if args.object_info else server_object_info()
    folder = REPO / "workflows"
    folder.mkdir(exist_ok=True)
    stale = []
    for file, text in render(info).items():
        path = folder / file
        if path.exists() and path.read_text() == text:
            print("up to date", path)
        elif args.check:
            stale.append(file)
            print("OUT OF DATE", path)
        else:
            path.write_text(text)
            print("wrote", path)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
