"""ComfyUI-Manager's install, for real: the pack as a user gets it by giving the Manager its git URL.

The repository is the working tree as the next commit would hold it (tests/pack_tree.py: tracked files plus untracked
ones git does not ignore), served as a bare clone over plain HTTP on 127.0.0.1 (git's "dumb" protocol): a file:// URL
will not do, because the Manager's URL check wants a host. A fresh ComfyUI (a copy of the host's, without its custom
nodes) gets the pack from ComfyUI-Manager 4.2.2 (comfyui_manager on PyPI, as ComfyUI 0.33's manager_requirements.txt
pins it):
- where ComfyUI starts the Manager itself (--enable-manager, ComfyUI 0.33): through the running server, with the
  Manager's legacy UI, whose "Install via Git URL" is the route POST /v2/customnode/install/git_url (the new UI has no
  install by URL);
- on ComfyUI 0.3.75, which cannot start it: with the same Manager's command line, `cm-cli install <url>`.
The Manager clones the pack into custom_nodes/<repository name> and pip-installs its requirements.txt; then the
server restarts with every node of the pack and lists its workflows as templates.

Offline, as behind a firewall: the Manager's config.ini sets network_mode = offline, which skips its start-up download
of the custom-node lists (raw.githubusercontent.com) and of the registry (api.comfy.org); the clone and pip reach
only 127.0.0.1 and the installed packages. allow_git_url_install = true is the Manager's own switch for installs by
URL (off by default); a user sets it the same way.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from comfy_server import ComfyServer, fresh_comfyui
from conftest import COMFY, HOST
from pack_tree import REPO, export_repository, git
from test_server import PACK_NODES

try:
    import tomllib
except ImportError:  # Python 3.10: tomlkit comes with comfy-cli (tests/requirements.txt)
    import tomlkit as tomllib

# The Manager clones into custom_nodes/<repository name>, e.g. ComfyUI-T2V-Zero: another folder name than the
# development host's link, which also checks that nothing depends on the folder's name.
CLONE_NAME = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]["Repository"].rstrip("/")
CLONE_NAME = CLONE_NAME.rsplit("/", 1)[-1].removesuffix(".git")
PYTHON = str(HOST / "venv" / "bin" / "python")
# the development host's link to this repository (scripts/install_host.sh)
COMFY_LINK = next((p.name for p in (COMFY / "custom_nodes").iterdir() if p.resolve() == REPO), "t2v-zero")
# ComfyUI 0.33 starts ComfyUI-Manager itself; 0.3.75 has no such flag
MANAGER_IN_COMFYUI = "--enable-manager-legacy-ui" in (COMFY / "comfy" / "cli_args.py").read_text()
MANAGER_CONFIG = """[default]
network_mode = offline
allow_git_url_install = true
security_level = normal
use_uv = false
file_logging = false
"""
OFFLINE_ENV = {"PIP_DISABLE_PIP_VERSION_CHECK": "1"}  # the Manager runs `pip list` at start-up


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def pack_repository(tmp_path_factory):
    """(URL of the pack's git repository served on 127.0.0.1, its commit)."""
    root = tmp_path_factory.mktemp("git-server")
    source = export_repository(root / "export")
    bare = root / "www" / f"{CLONE_NAME}.git"
    git("clone", "-q", "--bare", str(source), str(bare), cwd=root)
    git("update-server-info", cwd=bare)  # what a dumb-HTTP client reads
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_QuietHandler, directory=str(root / "www")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{CLONE_NAME}.git", git("rev-parse", "HEAD", cwd=source).strip()
    server.shutdown()


@pytest.fixture(scope="module")
def installed(tmp_path_factory, pack_repository):
    url, _ = pack_repository
    root = tmp_path_factory.mktemp("manager-install")
    comfy = fresh_comfyui(COMFY, root / "ComfyUI")
    run = root / "run"
    for user_dir in (run / "user", comfy / "user"):  # the server's --user-directory; cm-cli's default
        (user_dir / "__manager").mkdir(parents=True)
        (user_dir / "__manager" / "config.ini").write_text(MANAGER_CONFIG)
    started = time.time()
    if MANAGER_IN_COMFYUI:
        server = ComfyServer(comfy, run, {}, python=PYTHON, env=OFFLINE_ENV,
                             extra_args=["--enable-manager", "--enable-manager-legacy-ui"])
        server.start()
        with urllib.request.urlopen(server.url + "/v2/manager/version", timeout=30) as answer:
            manager = answer.read().decode()
        status, text = server.post_text("/v2/customnode/install/git_url", url)
        listed = server.get("/v2/customnode/installed")
        server.stop()
        install_log = server.log_path.read_text(errors="replace")  # all of it: log() keeps only the tail
        how = {"manager": manager, "status": status, "answer": text, "listed": listed, "log": install_log}
    else:
        # one stream, unbuffered: the Manager's lines and those of the pip it runs stay in order
        done = subprocess.run([PYTHON, "-m", "cm_cli", "install", url], check=False, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=900,
                              env=dict(os.environ, COMFYUI_PATH=str(comfy), PYTHONUNBUFFERED="1", **OFFLINE_ENV))
        server = ComfyServer(comfy, run, {}, python=PYTHON)
        how = {"status": done.returncode, "log": done.stdout}
    how["seconds"] = time.time() - started
    server.start()  # the restart the Manager asks for
    yield {"comfy": comfy, "pack": comfy / "custom_nodes" / CLONE_NAME, "server": server, **how}
    server.stop()


def test_the_manager_cloned_the_pack_from_its_url(installed, pack_repository):
    url, commit = pack_repository
    pack = installed["pack"]
    assert (pack / ".git").is_dir(), f"the Manager did not clone the pack:\n{installed['log'][-6000:]}"
    assert git("remote", "get-url", "origin", cwd=pack).strip() == url
    assert git("rev-parse", "HEAD", cwd=pack).strip() == commit
    if MANAGER_IN_COMFYUI:
        assert installed["manager"].strip() == "V4.2.2", installed["manager"]
        assert installed["status"] == 200, (installed["answer"], installed["log"][-6000:])
        assert installed["listed"][CLONE_NAME]["enabled"] is True, installed["listed"]
        # offline as configured: no attempt to reach GitHub or the registry at start-up
        assert "raw.githubusercontent.com" not in installed["log"] and "api.comfy.org" not in installed["log"]
    else:
        assert installed["status"] == 0, installed["log"]


def test_the_manager_installed_the_requirements(installed):
    """The Manager runs pip once per line of the pack's requirements.txt, with the server's Python, and pip succeeds
    for each: the Manager's own log line `## ComfyUI-Manager: EXECUTE => [python, '-m', 'pip', 'install', line]`,
    then pip's answer for that requirement. (The host's venv already holds every requirement, so importing them would
    prove nothing: pip answers "Requirement already satisfied" here, "Successfully installed" in a bare ComfyUI.)"""
    # the Manager's output is wrapped at 80 columns (at spaces, and inside words at hyphens): compare without whitespace
    log = re.sub(r"\s+", "", installed["log"])
    marker = "##ComfyUI-Manager:EXECUTE=>"
    assert "Install:pippackages" in log, installed["log"][-6000:]
    lines = [line.split("#")[0].strip() for line in (installed["pack"] / "requirements.txt").read_text().splitlines()]
    requirements = [line for line in lines if line]
    assert requirements
    for requirement in requirements:
        command = marker + re.sub(r"\s+", "", str([PYTHON, "-m", "pip", "install", requirement]))
        assert command in log, f"the Manager did not run `pip install {requirement}`:\n{installed['log'][-6000:]}"
        ran = log.split(command, 1)[1].split(marker, 1)[0]  # what that pip printed
        name = re.split(r"[<>=!~;\[]", requirement, maxsplit=1)[0]
        assert f"Requirementalreadysatisfied:{requirement}in" in ran or \
            re.search(rf"Successfullyinstalled.*{re.escape(name)}-[0-9]", ran, re.IGNORECASE), \
            f"no success from pip for {requirement!r}:\n{installed['log'][-6000:]}"


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
    """ComfyUI lists custom_nodes/*/{example_workflows,example,examples,workflow,workflows}/*.json
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
    assert not [f for f in files if f.startswith((".host", "output/")) or "__pycache__" in f]
