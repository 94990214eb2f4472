"""Writes the node reference in docs/nodes.md (every pack node: description, inputs with type, default and tooltip,
outputs) from the live /object_info, between the markers below, so the docs say what the nodes say.

Run from the repo root with the host installed: .host/venv/bin/python scripts/node_reference.py
(--check: only compare, exit 1 if the page is out of date; --object-info FILE: use a saved /object_info).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "nodes.md"
START = "<!-- node-reference:start (scripts/node_reference.py writes this part) -->"
END = "<!-- node-reference:end -->"
CATEGORY = "T2V-Zero"  # every pack node's category (or a sub-category of it)
MAX_OPTIONS = 8  # longer option lists (samplers, schedulers) are summarised ...
SHOWN_OPTIONS = 4  # ... by their first names: ComfyUI versions add names further down (0.33: 44 samplers, 0.3.75: 42)


def pack_nodes(object_info: dict) -> list[tuple[str, dict]]:
    """(node id, info) of the pack's nodes, in registration order (nodes/__init__.py NODES)."""
    return [(name, info) for name, info in object_info.items()
            if str(info.get("python_module", "")).startswith("custom_nodes.")
            and (info.get("category") == CATEGORY or str(info.get("category", "")).startswith(CATEGORY + "/"))]


def _cell(text) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'`"{value}"`' if value == "" else f"`{value}`"
    return f"`{value}`"


def _kind(spec: list) -> str:
    kind = spec[0]
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    choices = kind if isinstance(kind, list) else options.get("options") if kind == "COMBO" else None
    if choices is not None:
        long = len(choices) > MAX_OPTIONS
        shown = ", ".join(f"`{c}`" for c in choices[:SHOWN_OPTIONS if long else MAX_OPTIONS])
        more = " … (the running ComfyUI's list)" if long else ""
        return f"one of {shown}{more}"
    if kind in ("INT", "FLOAT") and ("min" in options or "max" in options):
        return f"{kind} {options.get('min', '')}…{options.get('max', '')}"
    return kind


def _default(spec: list) -> str:
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if "default" in options:
        return _value(options["default"])
    return "—"


def render_node(name: str, info: dict) -> str:
    lines = [f"### {info.get('display_name') or name} — `{name}`", "", _cell(info.get("description", "")), "",
             "| input | type | default | tooltip |", "|---|---|---|---|"]
    order = info.get("input_order") or {}
    for section in ("required", "optional"):
        inputs = info["input"].get(section, {})
        for input_name in order.get(section) or list(inputs):
            spec = inputs[input_name]
            label = f"{input_name} (optional)" if section == "optional" else input_name
            tooltip = spec[1].get("tooltip", "") if len(spec) > 1 and isinstance(spec[1], dict) else ""
            lines.append(f"| {label} | {_cell(_kind(spec))} | {_cell(_default(spec))} | {_cell(tooltip)} |")
    outputs = info.get("output", [])
    names = info.get("output_name") or outputs
    tooltips = info.get("output_tooltips") or [""] * len(outputs)
    if outputs:
        lines += ["", "| output | type | tooltip |", "|---|---|---|"]
        lines += [f"| {_cell(n)} | {_cell(t)} | {_cell(tip or '')} |" for n, t, tip in zip(names, outputs, tooltips)]
    return "\n".join(lines)


def render(object_info: dict) -> str:
    """The page's block between the markers (markers included)."""
    nodes = pack_nodes(object_info)
    if not nodes:
        raise ValueError(f"no {CATEGORY} nodes in /object_info: is the pack loaded?")
    body = "\n\n".join(render_node(name, info) for name, info in nodes)
    return f"{START}\n{body}\n{END}"


def updated_page(page: str, object_info: dict) -> str:
    if page.count(START) != 1 or page.count(END) != 1:
        raise ValueError(f"{PAGE.name} must hold the markers {START!r} and {END!r} once each")
    head, rest = page.split(START)
    _, tail = rest.split(END)
    return head + render(object_info) + tail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if docs/nodes.md is out of date")
    parser.add_argument("--object-info", help="a saved /object_info JSON instead of starting the server")
    args = parser.parse_args()
    if args.object_info:
        info = json.loads(Path(args.object_info).read_text())
    else:
        sys.path.insert(0, str(REPO / "scripts"))
        from build_workflows import server_object_info  # noqa: PLC0415

        info = server_object_info()
    current = PAGE.read_text()
    wanted = updated_page(current, info)
    if current == wanted:
        print("up to date", PAGE)
        return 0
    if args.check:
        print(f"OUT OF DATE {PAGE}. Fix: .host/venv/bin/python scripts/node_reference.py")
        return 1
    PAGE.write_text(wanted)
    print("wrote", PAGE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
