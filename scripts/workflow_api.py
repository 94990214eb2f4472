"""UI-format workflows (what ComfyUI's Save writes, what workflows/ ships) to API-format prompts (what /prompt runs).

The UI stores widget values as a list in the order of the node's inputs in /object_info; INT inputs with
control_after_generate store one more value ("fixed", "randomize"...) right after theirs.
"""
from __future__ import annotations

import copy

SKIP = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


def _is_widget(spec) -> bool:
    kind = spec[0]
    return isinstance(kind, list) or kind in WIDGET_TYPES


def _ordered_inputs(info: dict) -> list[tuple[str, list]]:
    inputs = info["input"]
    order = info.get("input_order") or {}
    out = []
    for section in ("required", "optional"):
        names = order.get(section) or list(inputs.get(section, {}).keys())
        out += [(name, inputs[section][name]) for name in names if name in inputs.get(section, {})]
    return out


def to_api(workflow: dict, object_info: dict) -> dict:
    """API-format prompt for a UI-format workflow."""
    links = {link[0]: link for link in workflow.get("links", [])}
    prompt = {}
    for node in workflow["nodes"]:
        if node["type"] in SKIP or node.get("mode", 0) in (2, 4):  # notes; muted or bypassed nodes
            continue
        if node["type"] not in object_info:
            raise KeyError(f"node type {node['type']!r} (node {node['id']}) is not installed in this ComfyUI")
        info = object_info[node["type"]]
        linked = {i["name"]: i["link"] for i in node.get("inputs", []) if i.get("link") is not None}
        values = list(node.get("widgets_values") or [])
        inputs = {}
        for name, spec in _ordered_inputs(info):
            if _is_widget(spec):
                options = spec[1] if len(spec) > 1 else {}
                if values:
                    value = values.pop(0)
                    if name not in linked:
                        inputs[name] = value
                    if options.get("control_after_generate") and values and isinstance(values[0], str) \
                            and values[0] in ("fixed", "increment", "decrement", "randomize"):
                        values.pop(0)
            if name in linked:
                link = links[linked[name]]
                inputs[name] = [str(link[1]), link[2]]
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt


def substitute(prompt: dict, checkpoint: str | None = None, width: int | None = None, height: int | None = None,
               frames: int | None = None, steps: int | None = None) -> dict:
    """A copy of ``prompt`` with another checkpoint and/or a smaller job (tests, the tiny demo model)."""
    prompt = copy.deepcopy(prompt)
    for node in prompt.values():
        inputs, kind = node["inputs"], node["class_type"]
        if checkpoint and "ckpt_name" in inputs:
            inputs["ckpt_name"] = checkpoint
        if kind == "EmptyLatentImage":
            inputs["width"] = width or inputs["width"]
            inputs["height"] = height or inputs["height"]
            inputs["batch_size"] = frames or inputs["batch_size"]
        if steps and "steps" in inputs and not isinstance(inputs["steps"], list):
            inputs["steps"] = steps
        if steps and kind == "MotionLatentSampler" and inputs.get("frames_per_chunk") and frames:
            inputs["frames_per_chunk"] = min(inputs["frames_per_chunk"], max(1, frames // 2))
    return prompt
