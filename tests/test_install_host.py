"""scripts/install_host.sh stops at a failed pip install: pip's error is shown, the script fails and writes no stamp,
so the next run installs again instead of calling a broken host ready. And a pip run that prints nothing (every
requirement already satisfied, -q) is no failure.

The real script runs on a copy of the repository's layout (scripts/, requirements.txt, tests/requirements*.txt), whose
requirements.txt may list one more requirement that no index has. Nothing is downloaded and it takes seconds: the
temporary host folder already holds ComfyUI's requirement lists (so the script fetches no ComfyUI) and a venv that
sees the packages of the host running these tests (a .pth file), so every other requirement, torch included, is
already satisfied; PIP_NO_INDEX keeps pip off the network.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from conftest import COMFY, REPO

MISSING = "t2vz-no-such-package==0.0.0"


def host_version() -> str:
    """The ComfyUI version of the host running the tests (0.33.0 or 0.3.75): the script installs per version."""
    return re.search(r'__version__\s*=\s*"([^"]+)"', (COMFY / "comfyui_version.py").read_text()).group(1)


def repo_copy(root: Path, version: str, extra_requirement: str = "") -> Path:
    repo = root / "repo"
    (repo / "scripts").mkdir(parents=True)
    (repo / "tests").mkdir()
    for name in ("install_host.sh", "host_env.sh"):
        shutil.copy2(REPO / "scripts" / name, repo / "scripts" / name)
    for name in ("requirements.txt", f"requirements-comfyui-{version}.txt"):
        shutil.copy2(REPO / "tests" / name, repo / "tests" / name)
    requirements = (REPO / "requirements.txt").read_text().rstrip("\n")
    (repo / "requirements.txt").write_text(f"{requirements}\n{extra_requirement}\n")
    return repo


def host_with_satisfied_requirements(root: Path) -> Path:
    host = root / "host"
    comfy = host / "ComfyUI"
    comfy.mkdir(parents=True)
    (comfy / "main.py").write_text("")
    for name in ("comfyui_version.py", "requirements.txt", "manager_requirements.txt"):  # the last: 0.33 only
        if (COMFY / name).exists():
            shutil.copy2(COMFY / name, comfy / name)
    venv = host / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = subprocess.run([str(venv / "bin" / "python"), "-c",
                           "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    ours = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])  # pip comes from here too
    Path(site, "t2vz-tests-host.pth").write_text("\n".join(ours) + "\n")
    return host


def run_setup(root: Path, extra_requirement: str = "") -> tuple[subprocess.CompletedProcess, Path]:
    version = host_version()
    repo = repo_copy(root, version, extra_requirement)
    host = host_with_satisfied_requirements(root)
    env = dict(os.environ, T2VZ_HOST=str(host), T2VZ_COMFYUI=version, PIP_NO_INDEX="1")
    done = subprocess.run(["bash", str(repo / "scripts" / "install_host.sh")], check=False, capture_output=True,
                          text=True, timeout=300, env=env)
    return done, host


def test_a_failed_pip_install_stops_setup_and_leaves_no_stamp(tmp_path):
    done, host = run_setup(tmp_path, MISSING)
    output = done.stdout + done.stderr
    # it got as far as the pack's requirements: everything before was satisfied, as this test means it to be
    assert "== this pack and its test requirements" in output, output
    assert done.returncode != 0, output
    assert f"No matching distribution found for {MISSING}" in output, output  # pip's own message, not swallowed
    assert "error: `pip install" in done.stderr, output
    assert "host ready" not in output, output
    assert not (host / ".installed").exists(), output


def test_setup_with_every_requirement_satisfied_finishes_with_its_stamp(tmp_path):
    """Quiet pip prints nothing here, so the output filter (grep -v) finds no line: that must not fail the setup."""
    done, host = run_setup(tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert f"host ready: {host}" in output, output
    assert (host / ".installed").read_text().startswith(f"comfyui={host_version()} "), output
    assert (host / "ComfyUI" / "custom_nodes" / "t2v-zero").is_symlink()


def test_a_disk_too_full_for_torch_is_refused_before_anything_is_installed(tmp_path):
    """A fresh host needs about 10 GB (torch's CUDA wheels): with less free, the script says so and how to fix it,
    instead of pip failing midway with "No space left on device". A `df` on PATH reports 3 GB free."""
    version = host_version()
    repo = repo_copy(tmp_path, version)
    host = tmp_path / "host"
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "df").write_text("#!/bin/sh\necho 'Filesystem 1024-blocks Used Available Capacity Mounted on'\n"
                              "echo '/dev/x 100000000 96854272 3145728 97% /'\n")
    (shims / "df").chmod(0o755)
    env = dict(os.environ, T2VZ_HOST=str(host), T2VZ_COMFYUI=version, PIP_NO_INDEX="1",
               PATH=f"{shims}:{os.environ['PATH']}")
    done = subprocess.run(["bash", str(repo / "scripts" / "install_host.sh")], check=False, capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "needs about 10 GB free" in done.stderr and "3 GB are" in done.stderr, done.stderr
    assert "HOST=" in done.stderr  # the fix: another folder
    assert not (host / "venv").exists()
