"""README.md and docs/ stay true: the node reference (docs/nodes.md) is what the running nodes say, the README's
gallery and docs/workflows.md show every shipped workflow with its screenshot, every relative link and image of
README.md and docs/ resolves (file and heading), and the README stays a front door (about 15 KB)."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from node_reference import END, PAGE, START, pack_nodes, render, updated_page  # noqa: E402

README = (REPO / "README.md").read_text()
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
WORKFLOWS = sorted((REPO / "workflows").glob("*.json"))


def test_node_reference_is_up_to_date(comfy_server):
    info = comfy_server.get("/object_info")
    page = PAGE.read_text()
    assert updated_page(page, info) == page, \
        "docs/nodes.md's node reference differs from the nodes. Fix: .host/venv/bin/python scripts/node_reference.py"
    assert len(pack_nodes(info)) >= 3


def test_the_readme_is_a_front_door():
    """About 15 KB: what the pack makes, install, the two commands, the gallery, the models, links to the rest."""
    assert len(README.encode()) <= 15 * 1024, f"README.md is {len(README.encode())} bytes"
    headings = re.findall(r"^## (.+)$", README, re.M)
    assert headings[:5] == ["Install", "The two commands", "Workflows", "Models to download", "More"], headings
    assert "make test" in README and "make demo" in README


def test_the_gallery_and_the_workflows_page_show_every_workflow():
    gallery = README.split("\n## Workflows\n", 1)[1].split("\n## ", 1)[0]
    page = (REPO / "docs" / "workflows.md").read_text()
    for path in WORKFLOWS:
        assert f'src="workflows/{path.stem}.jpg"' in gallery and f"**{path.name}**" in gallery, path.name
        assert f"### {path.name}" in page, f"docs/workflows.md does not describe {path.name}"
        assert f"](../workflows/{path.stem}.jpg)" in page, f"docs/workflows.md shows no screenshot of {path.name}"


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped (but - and _), spaces to -."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def relative_targets(path: Path) -> list[str]:
    """Markdown links and images, and HTML src/href, that point inside the repository (code blocks left out)."""
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    found = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'(?:src|href)="([^"]+)"', text)
    return [t for t in found if not re.match(r"^[a-z]+:", t)]


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_every_relative_link_and_image_resolves(path):
    broken = []
    for target in relative_targets(path):
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no such heading")
    assert not broken, f"{path.relative_to(REPO)}: {broken}"


def test_every_docs_page_is_reachable_from_the_readme():
    linked = {(REPO / t.partition("#")[0]).resolve() for t in relative_targets(REPO / "README.md")}
    for page in PAGES[1:]:
        assert page.resolve() in linked, f"README.md does not link to docs/{page.name}"


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
