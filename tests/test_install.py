"""ComfyUI-Manager's install, for real: the pack as a user gets it by giving the Manager its git URL.

The repository is the working tree as the next commit would hold it (tests/pack_tree.py: tracked files plus untracked
ones git does not ignore), served as a bare clone over plain HTTP on 127.0.0.1 (git's "dumb" protocol): a file:// URL
will not do, because the Manager's URL check wants a host. A fresh ComfyUI (a copy of the host's, without its custom
nodes) gets the pack from each of two ComfyUI-Managers (comfyui_manager on PyPI):
- the one the host pins: 4.2.2, as ComfyUI 0.33's manager_requirements.txt pins it (the host venv's; on 0.3.75,
  tests/requirements-comfyui-0.3.75.txt pins the same);
- the newest pip installs: 4.3, put into an overlay folder (<host>/test_managers/, `pip install --target`, fetched from
  PyPI once) with only the dependencies the host venv lacks (4.3 adds nh3), first on the PYTHONPATH of the processes
  that run it; the host venv stays as it is.
The routes:
- where ComfyUI starts the Manager itself (--enable-manager, ComfyUI 0.33): through the running server, with the
  Manager's legacy UI, whose "Install via Git URL" is the route POST /v2/customnode/install/git_url (the new UI has no
  install by URL);
- on ComfyUI 0.3.75, which cannot start it: with the same Manager's command line, `cm-cli install <url>`.
The Manager clones the pack into custom_nodes/<repository name> and pip-installs its requirements.txt; then the
server restarts with every node of the pack and lists its workflows as templates.

Offline, as behind a firewall: the Manager's config.ini sets network_mode = offline, which skips its start-up download
of the custom-node lists (raw.githubusercontent.com) and of the registry (api.comfy.org); the clone and pip reach
only 127.0.0.1 and the installed packages. allow_git_url_install = true is the Manager's own switch for installs by
URL (off by default); a user sets it the same way. Both Managers also want the server on a loopback --listen (or
network_mode = personal_cloud) for it, which 4.3's refusal now spells out: the test server listens on 127.0.0.1.
Between 4.2.2 and 4.3 this route, its answer on success, config.ini's keys for it and cm-cli's commands are the same.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
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
COMFYUI_VERSION = re.search(r'__version__\s*=\s*"([^"]+)"', (COMFY / "comfyui_version.py").read_text()).group(1)
# the newest comfyui-manager on PyPI when this was written (`pip index versions comfyui-manager`)
NEWEST_MANAGER = "4.3"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def pinned_manager() -> str:
    """The Manager the host pins: ComfyUI 0.33's manager_requirements.txt; for a ComfyUI without one (0.3.75),
    tests/requirements-comfyui-<version>.txt, which scripts/install_host.sh installs."""
    pins = COMFY / "manager_requirements.txt"
    if not pins.exists():
        pins = REPO / "tests" / f"requirements-comfyui-{COMFYUI_VERSION}.txt"
    found = re.search(r"(?im)^comfyui[-_]manager\s*==\s*([\w.]+)", pins.read_text())
    assert found, f"no comfyui-manager pin in {pins}"
    return found.group(1)


PINNED_MANAGER = pinned_manager()
MANAGERS = sorted({PINNED_MANAGER, NEWEST_MANAGER}, key=_version_key)
# the requirements of the distributions in a folder that the host venv (with that folder first) does not meet
_UNMET = """
import importlib.metadata as md, sys
from packaging.requirements import Requirement
for dist in md.distributions(path=[sys.argv[1]]):
    for text in dist.requires or []:
        req = Requirement(text)
        if req.marker and not req.marker.evaluate({"extra": ""}):
            continue
        try:
            have = md.version(req.name)
        except md.PackageNotFoundError:
            have = None
        if have is None or not req.specifier.contains(have, prereleases=True):
            print(text)
"""


def _pip_target(folder: Path, requirements: list[str]) -> None:
    done = subprocess.run([PYTHON, "-m", "pip", "--disable-pip-version-check", "install", "-q", "--no-deps",
                           "--upgrade", "--target", str(folder), *requirements],
                          check=False, capture_output=True, text=True, timeout=600)
    if done.returncode:
        pytest.fail(f"pip could not put {requirements} into {folder} (it needs PyPI the first time; the folder is kept "
                    f"for later runs):\n{done.stdout}{done.stderr}")


def _unmet(folder: Path) -> list[str]:
    done = subprocess.run([PYTHON, "-c", _UNMET, str(folder)], capture_output=True, text=True, timeout=120, check=True,
                          env=dict(os.environ, PYTHONPATH=str(folder)))
    return done.stdout.split()


def manager_overlay(version: str) -> Path:
    """<host>/test_managers/comfyui-manager-<version>: that Manager and the dependencies it needs beyond the host
    venv's packages (nothing else), for PYTHONPATH; made once, the host venv is not touched."""
    overlay = HOST / "test_managers" / f"comfyui-manager-{version}"
    if (overlay / ".complete").exists():
        return overlay
    overlay.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{overlay.name}-", dir=overlay.parent))
    added = [f"comfyui-manager=={version}"]
    _pip_target(building, added)
    for _ in range(4):  # the added packages' own requirements, until the host venv plus the folder meets them all
        missing = _unmet(building)
        if not missing:
            break
        _pip_target(building, missing)
        added += missing
    else:
        pytest.fail(f"the requirements of comfyui-manager=={version} stay unmet: {_unmet(building)}")
    (building / ".complete").write_text("\n".join(added) + "\n")
    if not (overlay / ".complete").exists():
        if overlay.exists():  # an unfinished earlier try
            shutil.rmtree(overlay)
        building.rename(overlay)
    return overlay


@pytest.fixture(scope="module", params=MANAGERS, ids=lambda version: f"manager-{version}")
def manager(request) -> dict:
    """{"version", "env" (for the processes that run the Manager), "overlay" (None: the host venv's)}."""
    version = request.param
    if version == PINNED_MANAGER:
        return {"version": version, "env": {}, "overlay": None}
    overlay = manager_overlay(version)
    path = os.pathsep.join(p for p in (str(overlay), os.environ.get("PYTHONPATH", "")) if p)
    return {"version": version, "env": {"PYTHONPATH": path}, "overlay": overlay}


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
def installed(tmp_path_factory, pack_repository, manager):
    url, _ = pack_repository
    env = {**OFFLINE_ENV, **manager["env"]}
    root = tmp_path_factory.mktemp(f"manager-{manager['version']}-install")
    comfy = fresh_comfyui(COMFY, root / "ComfyUI")
    run = root / "run"
    for user_dir in (run / "user", comfy / "user"):  # the server's --user-directory; cm-cli's default
        (user_dir / "__manager").mkdir(parents=True)
        (user_dir / "__manager" / "config.ini").write_text(MANAGER_CONFIG)
    started = time.time()
    if MANAGER_IN_COMFYUI:
        server = ComfyServer(comfy, run, {}, python=PYTHON, env=env,
                             extra_args=["--enable-manager", "--enable-manager-legacy-ui"])
        server.start()
        with urllib.request.urlopen(server.url + "/v2/manager/version", timeout=30) as answer:
            running = answer.read().decode()
        status, text = server.post_text("/v2/customnode/install/git_url", url)
        listed = server.get("/v2/customnode/installed")
        server.stop()
        install_log = server.log_path.read_text(errors="replace")  # all of it: log() keeps only the tail
        how = {"manager": running, "status": status, "answer": text, "listed": listed, "log": install_log}
    else:
        cli_env = dict(os.environ, COMFYUI_PATH=str(comfy), PYTHONUNBUFFERED="1", **env)
        # which Manager `python -m cm_cli` runs with this environment: its version and where cm_cli comes from
        which = "import importlib.metadata as m, importlib.util as u; print(m.version('comfyui-manager'), " \
            "u.find_spec('cm_cli').origin)"
        probe = subprocess.run([PYTHON, "-c", which],
                               capture_output=True, text=True, timeout=60, check=True, env=cli_env)
        # one stream, unbuffered: the Manager's lines and those of the pip it runs stay in order
        done = subprocess.run([PYTHON, "-m", "cm_cli", "install", url], check=False, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=900, env=cli_env)
        server = ComfyServer(comfy, run, {}, python=PYTHON)
        version, cli = probe.stdout.split()
        how = {"manager": f"V{version}", "cm_cli": Path(cli), "status": done.returncode, "log": done.stdout}
    how["seconds"] = time.time() - started
    server.start()  # the restart the Manager asks for
    yield {"comfy": comfy, "pack": comfy / "custom_nodes" / CLONE_NAME, "server": server, "wanted": manager, **how}
    server.stop()


def test_the_host_pins_manager_4_2_2_and_the_newest_is_tested_beside_it():
    """ComfyUI 0.33's manager_requirements.txt (0.3.75: the tests' pin) is the host venv's Manager, left as it is;
    the newest comfyui-manager is the other Manager these tests install with."""
    assert PINNED_MANAGER == "4.2.2"
    assert MANAGERS == ["4.2.2", NEWEST_MANAGER]
    done = subprocess.run([PYTHON, "-c", "import importlib.metadata as m; print(m.version('comfyui-manager'))"],
                          capture_output=True, text=True, check=True, env={k: v for k, v in os.environ.items()
                                                                          if k != "PYTHONPATH"})
    assert done.stdout.strip() == PINNED_MANAGER


def test_the_manager_cloned_the_pack_from_its_url(installed, pack_repository):
    url, commit = pack_repository
    pack = installed["pack"]
    wanted = installed["wanted"]
    assert (pack / ".git").is_dir(), f"the Manager did not clone the pack:\n{installed['log'][-6000:]}"
    assert git("remote", "get-url", "origin", cwd=pack).strip() == url
    assert git("rev-parse", "HEAD", cwd=pack).strip() == commit
    # the Manager that ran is the one wanted: the server's own answer, or what `python -m cm_cli` imports
    assert installed["manager"].strip() == f"V{wanted['version']}", installed["manager"]
    if not MANAGER_IN_COMFYUI:
        cli = installed["cm_cli"]
        assert cli.is_relative_to(wanted["overlay"] or HOST / "venv"), cli
    if MANAGER_IN_COMFYUI:
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


def check_template_listing(server, folder: str) -> None:
    """ComfyUI lists custom_nodes/*/{example_workflows,example,examples,workflow,workflows}/*.json
    (app/custom_node_manager.py, not recursive) under the pack's folder name and serves the folder's files."""
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


def test_template_listing_names_every_workflow_under_the_pack(installed):
    check_template_listing(installed["server"], CLONE_NAME)


def test_template_listing_names_every_workflow_under_the_pack_on_the_host(comfy_server):
    check_template_listing(comfy_server, COMFY_LINK)


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
