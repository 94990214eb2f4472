"""Writes workflows/*.json (UI format) from a compact description and the real /object_info.

Run from the repo root with the host installed: .host/venv/bin/python scripts/build_workflows.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "scripts"))

NOTE_T2V = """Text2Video-Zero: text-to-video with any SD1.5 model (zero-shot, no video model).

Models: put an SD1.5 checkpoint (e.g. v1-5-pruned-emaonly.safetensors or a fine-tune) into ComfyUI/models/checkpoints and pick it in the loader.

Frames: EmptyLatentImage batch_size = number of frames (reference: 8 frames, 512x512).
Motion: motion_x / motion_y are pixels per frame on a 512-px frame; positive x moves the content LEFT, positive y moves it UP. zoom > 1 moves in; rotation turns anticlockwise (degrees per frame).
t0 / t1 (reference 44 / 47): frame 0 is denoised alone for 49-t1 steps, its latent after 49-t0 steps is warped to the other frames.
frames_per_chunk: 0 = all frames at once; 8 = eight at a time (bounded memory, same result).
sampler ddim + scheduler ddim_uniform at 50 steps reproduce the reference exactly; any other works too.
The video is written by CreateVideo (fps 4, as the reference) + SaveVideo into ComfyUI/output/t2v-zero/."""


def node(nid, kind, pos, widgets, size=(315, 130)):
    return {"id": nid, "type": kind, "pos": list(pos), "size": list(size), "flags": {}, "order": nid, "mode": 0,
            "inputs": [], "outputs": [], "properties": {"Node name for S&R": kind}, "widgets_values": widgets}


def build(object_info: dict, frames: int, chunk: int, name: str, title: str) -> dict:
    nodes, links = [], []

    def add(nid, kind, pos, widgets, size=(315, 130)):
        n = node(nid, kind, pos, widgets, size)
        if kind in object_info:
            outs = object_info[kind]
            n["outputs"] = [{"name": oname, "type": otype, "links": [], "slot_index": i}
                            for i, (oname, otype) in enumerate(zip(outs["output_name"], outs["output"]))]
        nodes.append(n)
        return n

    def link(src, slot, dst, input_name):
        lid = len(links) + 1
        out = src["outputs"][slot]
        out["links"].append(lid)
        dst["inputs"].append({"name": input_name, "type": out["type"], "link": lid})
        links.append([lid, src["id"], slot, dst["id"], len(dst["inputs"]) - 1, out["type"]])

    ckpt = add(1, "CheckpointLoaderSimple", (20, 200), ["v1-5-pruned-emaonly.safetensors"], (315, 98))
    pos = add(2, "CLIPTextEncode", (380, 80), ["a horse galloping on a street"], (400, 160))
    neg = add(3, "CLIPTextEncode", (380, 280), [""], (400, 160))
    latent = add(4, "EmptyLatentImage", (380, 480), [512, 512, frames], (315, 106))
    sampler = add(5, "MotionLatentSampler", (820, 80),
                  [0, "fixed", 50, 7.5, "ddim", "ddim_uniform", "motion", 12.0, 12.0, 1.0, 0.0, 44, 47, chunk, 0.4],
                  (340, 520))
    decode = add(6, "VAEDecode", (1200, 80), [], (210, 46))
    create = add(7, "CreateVideo", (1200, 180), [4.0], (270, 78))
    save = add(8, "SaveVideo", (1500, 80), ["t2v-zero/" + name, "mp4", "h264"], (400, 500))
    note = add(9, "Note", (20, 380), [NOTE_T2V], (340, 420))
    del note
    link(ckpt, 1, pos, "clip")
    link(ckpt, 1, neg, "clip")
    link(ckpt, 0, sampler, "model")
    link(pos, 0, sampler, "positive")
    link(neg, 0, sampler, "negative")
    link(latent, 0, sampler, "latent_image")
    link(sampler, 0, decode, "samples")
    link(ckpt, 2, decode, "vae")
    link(decode, 0, create, "images")
    link(create, 0, save, "video")
    return {"last_node_id": len(nodes), "last_link_id": len(links), "nodes": nodes, "links": links, "groups": [],
            "config": {}, "extra": {"ds": {"scale": 0.8, "offset": [0, 0]}, "info": {"title": title}},
            "version": 0.4}


def main():
    from comfy_server import ComfyServer
    import tempfile

    host = REPO / ".host"
    with tempfile.TemporaryDirectory() as tmp:
        server = ComfyServer(host / "ComfyUI", Path(tmp), {}, python=str(host / "venv" / "bin" / "python")).start()
        try:
            info = server.get("/object_info")
        finally:
            server.stop()
    out = REPO / "workflows"
    out.mkdir(exist_ok=True)
    for name, frames, chunk, title in [("text-to-video", 8, 0, "Text-to-video (Text2Video-Zero)"),
                                       ("text-to-video-long", 64, 8, "Long text-to-video in chunks of 8")]:
        wf = build(info, frames, chunk, name, title)
        from workflow_api import to_api

        to_api(wf, info)  # must convert
        (out / f"{name}.json").write_text(json.dumps(wf, indent=1) + "\n")
        print("wrote", out / f"{name}.json")


if __name__ == "__main__":
    main()
