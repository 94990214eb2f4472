"""UI-format workflows (what ComfyUI's Save writes, what workflows/ ships) to API-format prompts (what /prompt runs).

The UI stores a node's widget values as a list, in the order of the node's widget inputs in /object_info
("input_order": required, then optional). An INT with control_after_generate (and, for old nodes, any INT named
seed / noise_seed) stores one more value ("fixed", "randomize", ...) right after its own. Links are
[id, from_node, from_slot, to_node, to_slot, type]. Notes are dropped, Reroutes and bypassed nodes are followed
to the real source, a PrimitiveNode's value replaces the link to it, muted nodes are left out.

Usage: python scripts/workflow_api.py WORKFLOW.json [--server http://127.0.0.1:8188] > prompt.json
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import urllib.request

NOTES = {"Note", "MarkdownNote"}
VIRTUAL = NOTES | {"Reroute", "PrimitiveNode"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}
MUTED, BYPASSED = 2, 4


def _is_widget(spec) -> bool:
    kind = spec[0]
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    return (isinstance(kind, list) or kind in WIDGET_TYPES) and not options.get("forceInput")


def _has_control(name: str, spec) -> bool:
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if "control_after_generate" in options:
        return bool(options["control_after_generate"])
    return spec[0] == "INT" and name in ("seed", "noise_seed")  # the frontend's rule for nodes without the flag


def ordered_inputs(info: dict) -> list[tuple[str, list]]:
    """(name, spec) of a node type's inputs in the frontend's order: required, then optional."""
    inputs = info["input"]
    order = info.get("input_order") or {}
    out = []
    for section in ("required", "optional"):
        names = order.get(section) or list(inputs.get(section, {}).keys())
        out += [(name, inputs[section][name]) for name in names if name in inputs.get(section, {})]
    return out


def widget_names(info: dict) -> list[str]:
    """The names behind a node's widgets_values list, with "control_after_generate" where a control value sits."""
    names = []
    for name, spec in ordered_inputs(info):
        if _is_widget(spec):
            names.append(name)
            if _has_control(name, spec):
                names.append("control_after_generate")
    return names


def widget_values(info: dict, values: dict) -> list:
    """A node's widgets_values list from {input name: value}; unset inputs get their /object_info default, control
    values default to "fixed" (reproducible)."""
    out = []
    for name, spec in ordered_inputs(info):
        if not _is_widget(spec):
            continue
        options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
        if name in values:
            out.append(values[name])
        elif "default" in options:
            out.append(options["default"])
        elif isinstance(spec[0], list) and spec[0]:
            out.append(spec[0][0])
        elif options.get("options"):
            out.append(options["options"][0])
        else:
            raise KeyError(f"no value and no default for widget {name!r}")
        if _has_control(name, spec):
            out.append(values.get(f"{name}.control_after_generate", "fixed"))
    return out


def _widget_inputs(node: dict, info: dict) -> dict:
    raw = node.get("widgets_values")
    if isinstance(raw, dict):  # some custom nodes store widgets by name
        return {name: raw[name] for name, spec in ordered_inputs(info) if _is_widget(spec) and name in raw}
    values = list(raw or [])
    inputs = {}
    for name, spec in ordered_inputs(info):
        if not _is_widget(spec) or not values:
            continue
        inputs[name] = values.pop(0)
        if _has_control(name, spec) and values and isinstance(values[0], str) and values[0] in CONTROL_VALUES:
            values.pop(0)
    return inputs


def to_api(workflow: dict, object_info: dict) -> dict:
    """API-format prompt for a UI-format workflow (frontend 1.x "version": 0.4 JSON)."""
    if workflow.get("definitions", {}).get("subgraphs"):
        raise ValueError("workflows with subgraphs are not supported: unpack them in the frontend first")
    nodes = {node["id"]: node for node in workflow["nodes"]}
    links = {link[0]: link for link in workflow.get("links", [])}

    def source(link_id, kind: str | None = None, seen=()):
        """[node id, slot] feeding a link, or ("value", v) for a PrimitiveNode, or None (muted / dangling)."""
        link = links.get(link_id)
        if link is None:
            return None
        src = nodes.get(link[1])
        if src is None or link[1] in seen:
            return None
        kind = kind or link[5]
        if src["type"] == "Reroute" or src.get("mode", 0) == BYPASSED:
            # the frontend passes a bypassed node's first input of the same type (a Reroute's only input) through
            candidates = [i for i in src.get("inputs", []) if i.get("link") is not None
                          and (src["type"] == "Reroute" or i.get("type") in (kind, "*"))]
            return source(candidates[0]["link"], kind, (*seen, link[1])) if candidates else None
        if src["type"] == "PrimitiveNode":
            return ("value", (src.get("widgets_values") or [None])[0])
        if src.get("mode", 0) == MUTED or src["type"] in NOTES:
            return None
        return [str(src["id"]), link[2]]

    prompt = {}
    for node in workflow["nodes"]:
        if node["type"] in VIRTUAL or node.get("mode", 0) in (MUTED, BYPASSED):
            continue
        if node["type"] not in object_info:
            raise KeyError(f"node type {node['type']!r} (node {node['id']}) is not installed in this ComfyUI: "
                           f"install the custom node pack that provides it")
        info = object_info[node["type"]]
        inputs = _widget_inputs(node, info)
        for slot in node.get("inputs", []):
            if slot.get("link") is None:
                continue
            name = (slot.get("widget") or {}).get("name") or slot["name"]
            value = source(slot["link"])
            if value is None:  # fed by a muted node: a widget keeps its own value, a socket stays empty
                continue
            if isinstance(value, tuple):
                inputs[name] = value[1]
            else:
                inputs[name] = value
        title = node.get("title") or info.get("display_name") or node["type"]
        prompt[str(node["id"])] = {"inputs": inputs, "class_type": node["type"], "_meta": {"title": title}}
    return prompt


def substitute(prompt: dict, checkpoint: str | None = None, width: int | None = None, height: int | None = None,
               frames: int | None = None, steps: int | None = None, image: str | None = None,
               video: str | None = None, ip2p_checkpoint: str | None = None,
               control_net: str | None = None, parts: int | None = None, models: dict | None = None,
               text_encoder_type: str | None = None) -> dict:
    """A copy of ``prompt`` with another checkpoint and/or a smaller job (tests, the tiny demo model).

    width/height/frames go to EmptyLatentImage and EmptySD3LatentImage (width/height also to ImageScale), image to
    LoadImage, steps to every sampler; frames_per_chunk is kept below the frame count so a chunked workflow still
    runs in more than one chunk. video goes to LoadVideo; InstructPix2PixVideo and ReferenceEditVideo edit ``frames``
    frames, the former's loader gets ``ip2p_checkpoint``; ImageScaleToMaxDimension gets max(width, height).
    ControlNetLoader gets ``control_net``; ImageFromBatch keeps ``frames`` frames. ``parts`` goes to the samplers'
    parts (1: the whole video on one machine, as a distributed workflow runs without workers).
    ``models`` maps a model file the workflow names (any loader: checkpoint, diffusion model, text encoder, VAE) to
    another, before ``checkpoint`` applies to the checkpoints it does not name; ``text_encoder_type`` goes to
    DualCLIPLoader's type (the stand-in text encoders may be another kind than the workflow's)."""
    prompt = copy.deepcopy(prompt)
    latent_nodes = ("EmptyLatentImage", "EmptySD3LatentImage")
    for node in prompt.values():
        inputs, kind = node["inputs"], node["class_type"]
        for name in ("ckpt_name", "unet_name", "vae_name", "clip_name1", "clip_name2", "clip_name3"):
            if models and isinstance(inputs.get(name), str) and inputs[name] in models:
                inputs[name] = models[inputs[name]]
            elif name == "ckpt_name" and checkpoint and isinstance(inputs.get(name), str):
                inputs[name] = checkpoint
        if kind == "DualCLIPLoader" and text_encoder_type:
            inputs["type"] = text_encoder_type
        if kind in (*latent_nodes, "ImageScale"):
            inputs["width"] = width or inputs["width"]
            inputs["height"] = height or inputs["height"]
        if kind in latent_nodes:
            inputs["batch_size"] = frames or inputs["batch_size"]
        if kind == "LoadImage" and image:
            inputs["image"] = image
        if steps and isinstance(inputs.get("steps"), int):
            inputs["steps"] = steps
        if kind == "MotionLatentSampler" and frames and inputs.get("frames_per_chunk"):
            inputs["frames_per_chunk"] = min(inputs["frames_per_chunk"], max(1, frames // 2))
        if kind == "LoadVideo" and video:
            inputs["file"] = video
        if kind == "ImageFromBatch" and frames and inputs["length"] > 1:  # a ControlNet video's frames: one per latent
            inputs["length"] = frames
        if kind == "ControlNetLoader" and control_net:
            inputs["control_net_name"] = control_net
        if parts and isinstance(inputs.get("parts"), int):
            inputs["parts"] = parts
        if kind == "ImageScaleToMaxDimension" and (width or height):
            inputs["largest_size"] = max(width or 0, height or 0)
        if kind in ("InstructPix2PixVideo", "ReferenceEditVideo"):
            if frames:
                inputs["end_frame"] = inputs["start_frame"] + (frames - 1) * inputs["every_nth"]
                if inputs.get("frames_per_chunk"):
                    inputs["frames_per_chunk"] = min(inputs["frames_per_chunk"], max(1, frames // 2))
    for node in prompt.values():  # after the loop above, which gives every loader ``checkpoint``
        model = node["inputs"].get("model")
        if ip2p_checkpoint and node["class_type"] == "InstructPix2PixVideo" and isinstance(model, list):
            loader = prompt.get(str(model[0]), {}).get("inputs", {})
            if "ckpt_name" in loader:
                loader["ckpt_name"] = ip2p_checkpoint
    return prompt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workflow", help="UI-format workflow JSON")
    parser.add_argument("--server", default="http://127.0.0.1:8188", help="running ComfyUI (for /object_info)")
    args = parser.parse_args()
    with open(args.workflow, encoding="utf-8") as f:
        workflow = json.load(f)
    with urllib.request.urlopen(args.server.rstrip("/") + "/object_info", timeout=60) as r:
        info = json.loads(r.read())
    json.dump(to_api(workflow, info), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
