"""pyproject.toml as the Comfy registry takes it: comfy-cli's own `comfy node validate` (what `comfy node publish`
runs first; it works offline) on the tree the registry would pack, plus the fields the registry's specification
(docs.comfy.org/registry/specifications) requires, which validate does not look at."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pack_tree import REPO, export_repository

try:
    import tomllib
except ImportError:  # Python 3.10: tomlkit comes with comfy-cli (tests/requirements.txt)
    import tomlkit as tomllib

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def comfy_validate(folder: Path, home: Path) -> subprocess.CompletedProcess:
    """`comfy node validate` in ``folder``; no telemetry, no update check, its config in ``home``."""
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), DO_NOT_TRACK="1",
               COMFY_NO_TELEMETRY="1", COMFY_NO_UPDATE_CHECK="1", NO_COLOR="1", COLUMNS="200")
    try:
        import comfy_cli  # noqa: F401
    except ImportError:
        pytest.fail("comfy-cli is not installed. Fix: `make test`, or pip install -r tests/requirements.txt into the "
                    "host venv.")
    return subprocess.run([sys.executable, "-m", "comfy_cli", "--skip-prompt", "--no-json", "node", "validate"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    return export_repository(tmp_path_factory.mktemp("registry") / "pack")


def test_comfy_node_validate_passes_without_warnings(published, tmp_path):
    done = comfy_validate(published, tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "All validation checks passed" in output, output
    # validate only warns (exit 0) about exec/eval and `a; b` lines and about malformed fields: none allowed here
    assert "Security warnings" not in output and "Warning" not in output, output


def test_comfy_node_validate_catches_what_it_should(published, tmp_path):
    """The check above can fail: a pack with eval() gets a security warning, one without a version an error."""
    broken = tmp_path / "broken"
    shutil.copytree(published, broken)
    (broken / "nodes" / "uses_eval.py").write_text("def f(text):\n    return eval(text)\n")
    output = comfy_validate(broken, tmp_path).stdout
    assert "Security warnings" in output and "S307" in output, output
    pyproject = (broken / "pyproject.toml").read_text()
    (broken / "pyproject.toml").write_text(re.sub(r'(?m)^version\s*=.*$', "", pyproject, count=1))
    assert comfy_validate(broken, tmp_path).returncode != 0


def test_registry_required_fields():
    project, comfy = PYPROJECT["project"], PYPROJECT["tool"]["comfy"]
    name = project["name"]
    # node id: < 100 chars of letters, digits, - _ . ; starts with a letter; no two special characters in a row
    assert len(name) < 100 and re.fullmatch(r"[A-Za-z][A-Za-z0-9]*([-_.][A-Za-z0-9]+)*", name), name
    assert "comfyui" not in name.lower()  # the registry's naming advice
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["version"]), project["version"]  # X.Y.Z
    assert project["description"].strip()
    license = project["license"]
    assert isinstance(license, dict) and (license.get("text", "").strip() or (REPO / license.get("file", "")).is_file())
    assert re.fullmatch(r"https://github\.com/[^/\s]+/[^/\s]+", project["urls"]["Repository"])
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", comfy["PublisherId"]), comfy["PublisherId"]
    assert comfy["DisplayName"].strip()
    icon = comfy.get("Icon", "")
    assert not icon or re.fullmatch(r"https://\S+\.(svg|png|jpg|jpeg|gif)", icon), icon  # optional: a URL if set
    assert re.fullmatch(r"(>=|==|~=|>)\s*\d+\.\d+(\.\d+)?(\s*,\s*<=?\s*\d+(\.\d+)*)?", comfy["requires-comfyui"])
    assert "requires-comfyui" not in project  # it belongs to [tool.comfy]


def test_requires_comfyui_is_the_tested_range():
    """pyproject's range runs from the oldest supported ComfyUI (the start-up gate's) to the newest tested host."""
    from t2vz.attention.host import OLDEST_SUPPORTED

    hosts = re.findall(r"^\s+(\d+\.\d+\.\d+)\) default_host=", (REPO / "scripts" / "host_env.sh").read_text(), re.M)
    tested = sorted(hosts, key=lambda v: tuple(map(int, v.split("."))))
    assert len(tested) >= 2, hosts
    oldest = ".".join(map(str, OLDEST_SUPPORTED))
    assert tested[0] == oldest
    assert PYPROJECT["tool"]["comfy"]["requires-comfyui"] == f">={oldest},<={tested[-1]}"


def test_comfyui_reads_the_pyproject_as_the_registry_does():
    """ComfyUI's own parser (comfy_config, kept in sync with comfy-cli's) sees the same identity."""
    from comfy_config import config_parser

    config = config_parser.extract_node_configuration(str(REPO))
    assert config is not None
    assert config.project.name == PYPROJECT["project"]["name"]
    assert config.project.version == PYPROJECT["project"]["version"]
    assert config.tool_comfy.publisher_id == PYPROJECT["tool"]["comfy"]["PublisherId"]
    assert config.project.supported_comfyui_version == PYPROJECT["tool"]["comfy"]["requires-comfyui"]


def test_the_pack_file_imports_on_its_own():
    """pytest imports the repository's __init__.py as a plain file when the clone's folder name is not an identifier
    (ComfyUI-Manager's clone is ComfyUI-T2V-Zero): it must not fail there; ComfyUI imports it as a package."""
    import runpy

    names = runpy.run_path(str(REPO / "__init__.py"))
    assert "comfy_entrypoint" not in names and "NODE_CLASS_MAPPINGS" not in names
