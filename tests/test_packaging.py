"""pyproject.toml as the Comfy registry takes it: comfy-cli's own `comfy node validate` (what `comfy node publish`
runs first; it works offline) on the tree the registry would pack, plus the fields the registry's specification
(docs.comfy.org/registry/specifications) requires, which validate does not look at; `comfy node publish --token`
itself with the registry's HTTP answered here (what it sends, what it uploads); the release workflow
(.github/workflows/publish.yml) and the Releasing steps of docs/development.md."""
from __future__ import annotations

import json
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
    assert re.fullmatch(r"(>=|>)\s*\d+\.\d+(\.\d+)?", comfy["requires-comfyui"])  # a lower bound only (below)
    assert "requires-comfyui" not in project  # it belongs to [tool.comfy]


def test_requires_comfyui_is_the_oldest_tested_comfyui_and_admits_newer_ones():
    """pyproject's requires-comfyui is ">=" the oldest supported ComfyUI (the start-up gate's, the oldest test host).

    ComfyUI's frontend reads it from the registry and checks the running version with node-semver's satisfies(),
    listing the pack as conflicting where that fails. node-semver joins comparators with spaces: a comma-joined range
    (">=0.3.75,<=0.33.0") is invalid there and fails for every version, and an upper bound fails for every newer
    ComfyUI, which the pack supports (it detects features, not versions). So: one lower bound, nothing else."""
    from t2vz.attention.host import OLDEST_SUPPORTED

    hosts = re.findall(r"^\s+(\d+\.\d+\.\d+)\) default_host=", (REPO / "scripts" / "host_env.sh").read_text(), re.M)
    tested = sorted(hosts, key=lambda v: tuple(map(int, v.split("."))))
    assert len(tested) >= 2, hosts
    oldest = ".".join(map(str, OLDEST_SUPPORTED))
    assert tested[0] == oldest
    spec = PYPROJECT["tool"]["comfy"]["requires-comfyui"]
    assert spec == f">={oldest}", spec


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


def _publish_offline(folder: Path, home: Path) -> tuple[subprocess.CompletedProcess, dict]:
    """`comfy node publish --token <token>` in ``folder`` with the registry's two HTTP calls answered here: the POST
    of the version (comfy-cli's request body is kept) and the PUT of the archive (the names in it are kept)."""
    record = home / "publish.json"
    script = f"""
import atexit, json, sys, zipfile
import requests

calls = {{}}
atexit.register(lambda: open({str(record)!r}, "w").write(json.dumps(calls)))


class Answer:
    def __init__(self, status, data):
        self.status_code, self._data, self.text = status, data, json.dumps(data)

    def json(self):
        return self._data


def post(url, data=None, **kwargs):
    calls["url"], calls["body"] = url, json.loads(data)
    version = calls["body"]["node_version"]["version"]
    return Answer(201, {{"node_version": {{"id": "1", "version": version}}, "signedUrl": "https://upload.invalid/z"}})


def put(url, data=None, **kwargs):
    calls["uploaded"] = sorted(zipfile.ZipFile(data).namelist())
    return Answer(200, {{}})


requests.post, requests.put = post, put
sys.argv = ["comfy", "--skip-prompt", "--no-json", "node", "publish", "--token", "test-token"]
from comfy_cli.__main__ import main
main()
"""
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), DO_NOT_TRACK="1",
               COMFY_NO_TELEMETRY="1", COMFY_NO_UPDATE_CHECK="1", NO_COLOR="1", COLUMNS="200")
    env.pop("ENVIRONMENT", None)  # comfy-cli's switch to a dev or staging registry
    done = subprocess.run([sys.executable, "-c", script], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    return done, json.loads(record.read_text()) if record.exists() else {}


def test_comfy_node_publish_sends_the_pyproject_and_uploads_the_tracked_files(published, tmp_path):
    """The maintainer's command, offline: what `comfy node publish --token` sends the registry is this pyproject, and
    the archive it uploads holds exactly the files git tracks (includes = [] adds nothing, no .comfyignore drops any):
    the files a Manager clone gets."""
    from pack_tree import git

    folder = tmp_path / "pack"
    shutil.copytree(published, folder)
    done, calls = _publish_offline(folder, tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Upload successful" in output, output
    project, comfy = PYPROJECT["project"], PYPROJECT["tool"]["comfy"]
    assert calls["url"] == f"https://api.comfy.org/publishers/{comfy['PublisherId']}/nodes/{project['name']}/versions"
    node, version = calls["body"]["node"], calls["body"]["node_version"]
    assert calls["body"]["personal_access_token"] == "test-token"
    assert node["id"] == project["name"] and node["name"] == comfy["DisplayName"]
    assert node["description"] == project["description"] and node["icon"] == comfy.get("Icon", "")
    assert node["repository"] == project["urls"]["Repository"]
    assert node["supported_comfyui_version"] == comfy["requires-comfyui"]
    assert version["version"] == project["version"]
    assert sorted(version["dependencies"]) == sorted(project["dependencies"])
    tracked = sorted(git("ls-files", cwd=folder).split())
    assert calls["uploaded"] == tracked
    assert {"__init__.py", "pyproject.toml", "requirements.txt", "LICENSE"} <= set(tracked)
    assert {f"workflows/{p.name}" for p in (REPO / "workflows").glob("*.json")} <= set(tracked)


def test_description_names_what_the_pack_does():
    """The registry's description: the model families and the kinds of video (README's opening lines)."""
    description = PYPROJECT["project"]["description"]
    assert "\n" not in description and len(description) <= 300, description
    for needed in ("Text2Video-Zero", "SD1.x", "SDXL", "Flux.1", "SD3", "ControlNet", "Kontext", "Instruct-Pix2Pix"):
        assert needed in description, (needed, description)


def test_icon_if_set_is_a_tracked_picture_within_the_spec():
    """Icon is optional (empty: the registry's default). Set, it must be the raw GitHub URL of a picture this
    repository tracks on main: SVG, PNG, JPG or GIF of at most 800x400 px (docs.comfy.org/registry/specifications)."""
    icon = PYPROJECT["tool"]["comfy"].get("Icon", "")
    if not icon:
        return
    from pack_tree import published_files

    repository = PYPROJECT["project"]["urls"]["Repository"].removeprefix("https://github.com/").rstrip("/")
    prefix = f"https://raw.githubusercontent.com/{repository}/main/"
    assert icon.startswith(prefix), icon
    path = icon.removeprefix(prefix)
    assert path in published_files(), f"{path} is not tracked"
    assert path.lower().endswith((".svg", ".png", ".jpg", ".jpeg", ".gif")), path
    if not path.lower().endswith(".svg"):
        from PIL import Image

        with Image.open(REPO / path) as picture:
            assert picture.width <= 800 and picture.height <= 400, picture.size


def test_includes_name_only_untracked_build_outputs():
    """`comfy node publish` packs the git-tracked files; includes adds others (build outputs git ignores). A tracked
    path there would be packed twice over, a missing one becomes an empty folder in the upload."""
    from pack_tree import published_files

    includes = PYPROJECT["tool"]["comfy"].get("includes", [])
    assert isinstance(includes, list)
    tracked = published_files()
    for include in includes:
        path = include.strip("/")
        assert (REPO / path).exists(), f"includes names {include}, which does not exist"
        assert not [f for f in tracked if f == path or f.startswith(path + "/")], f"{include} is tracked already"


PUBLISH_WORKFLOW = REPO / ".github" / "workflows" / "publish.yml"


def _workflow() -> dict:
    import yaml

    workflow = yaml.safe_load(PUBLISH_WORKFLOW.read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as true
    return workflow


def test_publish_workflow_runs_the_registry_action_on_version_changes_with_the_secret():
    workflow = _workflow()
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert workflow["on"]["push"]["paths"] == ["pyproject.toml"]
    assert "workflow_dispatch" in workflow["on"]
    assert workflow["permissions"] == {"contents": "read"}
    steps = workflow["jobs"]["publish"]["steps"]
    publish = [step for step in steps if step.get("uses", "").startswith("Comfy-Org/publish-node-action@")]
    assert len(publish) == 1, steps
    assert re.fullmatch(r"Comfy-Org/publish-node-action@[0-9a-f]{40}", publish[0]["uses"])  # a fixed commit
    # the action's inputs (its action.yml): personal_access_token (required), skip_checkout
    assert publish[0]["with"] == {"personal_access_token": "${{ secrets.REGISTRY_ACCESS_TOKEN }}",
                                  "skip_checkout": "true"}
    assert publish[0]["if"] == "steps.version.outputs.publish == 'true'"
    checkout = steps[0]
    assert checkout["uses"].startswith("actions/checkout@") and checkout["with"]["fetch-depth"] == 0
    # the secret appears nowhere else, and nothing echoes it
    assert PUBLISH_WORKFLOW.read_text().count("secrets.REGISTRY_ACCESS_TOKEN") == 1


@pytest.mark.parametrize("change, event, publishes", [
    ("version", "push", True), ("description", "push", False), ("none", "workflow_dispatch", True),
    ("first push", "push", True)])
def test_publish_workflow_publishes_only_when_the_version_changes(tmp_path, change, event, publishes):
    """The workflow's own version check, run by bash on a repository with the pushed commits."""
    from pack_tree import git

    step = next(s for s in _workflow()["jobs"]["publish"]["steps"] if s.get("id") == "version")
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    text = (REPO / "pyproject.toml").read_text()
    (repo / "pyproject.toml").write_text(text)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "before", cwd=repo)
    before = "0" * 40 if change == "first push" else git("rev-parse", "HEAD", cwd=repo).strip()
    if change == "version":
        text = re.sub(r'(?m)^version = "[^"]*"', 'version = "99.0.0"', text, count=1)
    elif change == "description":
        text = text.replace("Zero-shot video", "Zero-shot videos", 1)
    (repo / "pyproject.toml").write_text(text)
    git("commit", "-q", "--allow-empty", "-am", "after", cwd=repo)
    output = tmp_path / "github_output"
    output.write_text("")
    env = dict(os.environ, BEFORE=before, EVENT=event, GITHUB_OUTPUT=str(output),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # a python3 with tomllib
    done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=repo, env=env, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert output.read_text().split() == [f"publish={str(publishes).lower()}"], done.stdout


def test_releasing_steps_name_the_commands():
    """docs/development.md ends with Releasing: the publisher, the API key, the version bump, validate, publish."""
    text = (REPO / "docs" / "development.md").read_text()
    sections = re.findall(r"(?m)^## (.+)$", text)
    assert sections[-1] == "Releasing", sections
    releasing = text.split("\n## Releasing\n", 1)[1]
    for needed in ("registry.comfy.org", "PublisherId", "API key", "version", "pyproject.toml",
                   "comfy node validate", "comfy node publish --token", "REGISTRY_ACCESS_TOKEN",
                   ".github/workflows/publish.yml"):
        assert needed in releasing, needed
    assert releasing.index("comfy node validate") < releasing.index("comfy node publish --token")
    assert f"`{PYPROJECT['tool']['comfy']['PublisherId']}`" in releasing
    assert PUBLISH_WORKFLOW.is_file()
