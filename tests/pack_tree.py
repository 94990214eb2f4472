"""The pack as it would be published: the working tree's git-tracked files plus the untracked ones git does not ignore
(what the next commit would hold), made into a git repository of its own so it can be `git clone`d like a user's
ComfyUI-Manager install, or checked like a registry upload (the registry packs git-tracked files)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "t2vz tests", "GIT_AUTHOR_EMAIL": "tests@t2vz.invalid",
                "GIT_COMMITTER_NAME": "t2vz tests", "GIT_COMMITTER_EMAIL": "tests@t2vz.invalid"}


def git(*args: str, cwd: Path) -> str:
    env = dict(os.environ, **GIT_IDENTITY, GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0")
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}:\n{done.stdout}{done.stderr}")
    return done.stdout


def published_files() -> list[str]:
    """Paths (relative to the repo) of tracked files that exist and of untracked files that are not ignored."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO).split("\0")
    return sorted({p for p in listed if p and (REPO / p).is_file()})


def export_repository(dest: Path) -> Path:
    """A one-commit git repository at ``dest`` holding published_files(), read-only use: it is cloned or checked."""
    dest.mkdir(parents=True)
    for rel in published_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    git("init", "-q", "-b", "main", cwd=dest)
    git("add", "-A", cwd=dest)
    git("commit", "-q", "-m", "working tree of the pack under test", cwd=dest)
    return dest
