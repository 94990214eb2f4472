"""ComfyUI-Manager's install, as a user gets it: a fresh ComfyUI (a copy of the host's, without its custom nodes), the
pack `git clone`d into custom_nodes under its repository's name, `pip install -r requirements.txt` (into the host
venv, where it is already satisfied), then the server starts with the pack's nodes and lists its workflows as
templates.

What is cloned is the working tree as the next commit would hold it (tests/pack_tree.py: tracked files plus untracked
ones git does not ignore, committed into a scratch repository): a file the pack needs but git ignores fails here.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from comfy_server import ComfyServer
from conftest import COMFY, HOST
from pack_tree import REPO, export_repository, git
from test_server import PACK_NODES

try:
    import tomllib
except ImportError:  # Python 3.10: tomlkit comes with comfy-cli (tests/requirements.txt)
    import tomlkit as tomllib

# ComfyUI-Manager clones into custom_nodes/<repository name>, e.g. ComfyUI-T2V-Zero: another folder name than the
# development host's link, which also checks that nothing depends on the folder's name.
CLONE_NAME = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]["Repository"].rstrip("/")
CLONE_NAME = CLONE_NAME.rsplit("/", 1)[-1].removesuffix(".git")
PYTHON = str(HOST / "venv" / "bin" / "python")
# the development host's link to this repository (scripts/install_host.sh)
COMFY_LINK = next((p.name for p in (COMFY / "custom_nodes").iterdir() if p.resolve() == REPO), "t2v-zero")


def fresh_comfyui(dest: Path) -> Path:
    """The host's ComfyUI without its custom nodes and run-time folders (its stock custom_nodes files stay)."""
    runtime = {"user", "output", "temp", "__pycache__"}
    shutil.copytree(COMFY, dest, symlinks=True,
                    ignore=lambda folder, names: [n for n in names if n in runtime or
                                                  (Path(folder) == COMFY and n == "custom_nodes")])
    (dest / "custom_nodes").mkdir()
    for stock in (COMFY / "custom_nodes").iterdir():
        if stock.is_file() and not stock.is_symlink():
            shutil.copy2(stock, dest / "custom_nodes" / stock.name)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("manager-install")
    source = export_repository(root / "upstream")
    comfy = fresh_comfyui(root / "ComfyUI")
    pack = comfy / "custom_nodes" / CLONE_NAME
    git("clone", "-q", "--recursive", source.as_uri(), str(pack), cwd=root)  # what the Manager runs
    pip = subprocess.run([PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r",
                          str(pack / "requirements.txt")], capture_output=True, text=True)
    server = ComfyServer(comfy, root / "run", {}, python=PYTHON)
    server.start()
    yield {"pack": pack, "pip": pip, "server": server}
    server.stop()


def test_pip_install_of_the_requirements_succeeds(installed):
    pip = installed["pip"]
    assert pip.returncode == 0, pip.stdout + pip.stderr


def test_the_clone_imports_without_errors(installed):
    log = installed["server"].log()
    ours = [line for line in log.splitlines() if f"custom_nodes/{CLONE_NAME}" in line]
    assert ours, f"the cloned pack was not loaded:\n{log}"
    assert not [line for line in ours if "IMPORT FAILED" in line], log


def test_the_clone_has_every_node_of_the_working_tree(installed, comfy_server):
    def pack_nodes(info: dict, folder: str) -> set[str]:
        return {name for name, node in info.items() if node["python_module"] == f"custom_nodes.{folder}"}

    cloned = pack_nodes(installed["server"].get("/object_info"), CLONE_NAME)
    developed = pack_nodes(comfy_server.get("/object_info"), COMFY_LINK)
    assert set(PACK_NODES) <= cloned
    assert cloned == developed, f"missing from the clone: {developed - cloned}, only in the clone: {cloned - developed}"



@pytest.mark.parametrize("where", ["clone", "host"])
def test_template_listing_names_every_workflow_under_the_pack(installed, comfy_server, where):
    """ComfyUI 0.3.75 lists custom_nodes/*/{example_workflows,example,examples,workflow,workflows}/*.json
    (app/custom_node_manager.py, not recursive) under the pack's folder name and serves the folder's files."""
    server, folder = (installed["server"], CLONE_NAME) if where == "clone" else (comfy_server, COMFY_LINK)
    shipped = sorted(p.stem for p in (REPO / "workflows").glob("*.json"))
    listing = server.get("/workflow_templates")
    assert sorted(listing.get(folder, [])) == shipped, listing  # the JSON only: thumbnails are not templates
    for stem in shipped:
        served = server.get(f"/api/workflow_templates/{folder}/{stem}.json")
        assert served == json.loads((REPO / "workflows" / f"{stem}.json").read_text())
        thumbnail = REPO / "workflows" / f"{stem}.jpg"
        if thumbnail.exists():  # test_browser.py requires one per workflow
            with urllib.request.urlopen(f"{server.url}/api/workflow_templates/{folder}/{stem}.jpg") as answer:
                assert answer.headers["Content-Type"] == "image/jpeg"
                assert answer.read() == thumbnail.read_bytes()


def test_requirements_are_the_pyproject_dependencies_and_leave_torch_alone():
    """ComfyUI-Manager installs requirements.txt, the registry reads [project] dependencies: the same list. torch and
    its family come with ComfyUI (the Manager refuses to install them)."""
    lines = [line.split("#")[0].strip() for line in (REPO / "requirements.txt").read_text().splitlines()]
    requirements = sorted(line for line in lines if line)
    dependencies = sorted(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"])
    assert requirements == dependencies
    names = {r.split(";")[0].split("[")[0].split("=")[0].split("<")[0].split(">")[0].split("!")[0].split("~")[0]
             .strip().lower() for r in requirements}
    assert not names & {"torch", "torchvision", "torchaudio", "torchsde"}


def test_clone_is_what_git_would_publish():
    """The export the install uses is the working tree minus ignored files: no host, venv or caches in it."""
    from pack_tree import published_files

    files = published_files()
    assert "__init__.py" in files and "pyproject.toml" in files and "requirements.txt" in files
    assert not [f for f in files if f.startswith((".host/", "output/")) or "__pycache__" in f]
