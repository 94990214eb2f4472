"""README.md stays true: its node reference is what the running nodes say, and its Workflows section shows every
shipped workflow with its screenshot."""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from node_reference import END, START, pack_nodes, render, updated_readme  # noqa: E402

README = (REPO / "README.md").read_text()


def test_node_reference_is_up_to_date(comfy_server):
    info = comfy_server.get("/object_info")
    assert updated_readme(README, info) == README, \
        "README.md's node reference differs from the nodes. Fix: .host/venv/bin/python scripts/node_reference.py"
    assert len(pack_nodes(info)) >= 3


def test_workflows_section_shows_every_workflow_with_its_screenshot():
    section = README.split("\n## Workflows\n", 1)[1].split("\n## ", 1)[0]
    for path in sorted((REPO / "workflows").glob("*.json")):
        assert f"### {path.name}" in section, f"README's Workflows section does not describe {path.name}"
        assert f"](workflows/{path.stem}.jpg)" in section, f"README shows no screenshot of {path.name}"


def test_reference_table_lists_inputs_in_order_with_defaults_and_escaped_tooltips():
    info = {"Other": {"python_module": "nodes", "category": "T2V-Zero", "input": {"required": {}}},
            "Ours": {"python_module": "custom_nodes.pack", "category": "T2V-Zero/sub",
                     "display_name": "Ours (T2V-Zero)", "description": "Does\nthings.",
                     "input_order": {"required": ["b", "a"], "optional": ["m"]},
                     "input": {"required": {"a": ["INT", {"default": 3, "min": 0, "max": 9, "tooltip": "x | y"}],
                                            "b": [["p", "q"], {"default": "q", "tooltip": "pick"}]},
                               "optional": {"m": ["MASK", {"tooltip": "a mask"}]}},
                     "output": ["LATENT"], "output_name": ["LATENT"], "output_tooltips": ["frames"]}}
    block = render(info)
    assert block.startswith(START) and block.endswith(END) and "Other" not in block
    lines = block.splitlines()
    assert lines[1] == "### Ours (T2V-Zero) — `Ours`" and lines[3] == "Does things."
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| input")]
    assert rows[:3] == ["| b | one of `p`, `q` | `q` | pick |", "| a | INT 0…9 | `3` | x \\| y |",
                        "| m (optional) | MASK | — | a mask |"]
    assert "| LATENT | LATENT | frames |" in block
