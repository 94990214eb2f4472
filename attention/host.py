"""The one place where the ComfyUI versions the pack supports differ: each difference is detected by the feature
itself (an attribute, a file), never by comparing version numbers, except for the start-up check of the oldest
supported version.

Differences handled here:
- core context windows: ComfyUI 0.33 may prepend the frame just before a window (``causal_window_fix``, on by default)
  to the rows it hands the model, without listing it in ``index_list``; and it tells the video's length
  (``total_frames``), which 0.3.75 leaves at 0 or does not have.
- DiT attn1 patches: ComfyUI 0.33's Flux/Chroma and Qwen-Image blocks call the attn1 patch list with the DiT
  signature; 0.3.75's call none, so cross-frame attention reaches them through the attention override instead.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import logging

OLDEST_SUPPORTED = (0, 3, 75)
"""Oldest ComfyUI the pack is tested on (pyproject's requires-comfyui says the same; tests/test_packaging.py checks)."""

log = logging.getLogger("t2v-zero")


def parse_version(text: str) -> tuple[int, ...] | None:
    """'0.33.0' -> (0, 33, 0); None when it is not dotted numbers (versions are compared as numbers: 0.4 > 0.3.75)."""
    parts = str(text).strip().split(".")
    if not parts or not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def comfyui_version() -> str | None:
    """The running ComfyUI's version (its comfyui_version.py), None if it has none."""
    try:
        return str(importlib.import_module("comfyui_version").__version__)
    except (ImportError, AttributeError):
        return None


def unsupported_reason(version: str | None) -> str | None:
    """Why the pack cannot run on ComfyUI ``version`` (None: it can). An unreadable version is given the benefit of
    the doubt: a development checkout may carry any string."""
    found = parse_version(version) if version is not None else None
    if version is None or found is None or found >= OLDEST_SUPPORTED:
        return None
    oldest = ".".join(str(p) for p in OLDEST_SUPPORTED)
    return (f"T2V-Zero needs ComfyUI {oldest} or newer, but this is ComfyUI {version}: its nodes are not loaded. "
            f"Fix: update ComfyUI (ComfyUI-Manager: Update ComfyUI; or `git pull` in the ComfyUI folder and "
            f"`pip install -r requirements.txt`), then restart.")


def core_window_frame_ids(window) -> list[int]:
    """Global frame index of each row a core context window hands the model, in order."""
    ids = [int(i) for i in getattr(window, "index_list", [])]
    anchor = getattr(window, "causal_anchor_index", None)  # ComfyUI 0.33's causal_window_fix
    if anchor is not None and int(anchor) >= 0:
        ids = [int(anchor)] + ids
    return ids


def core_window_total_frames(window) -> int | None:
    """The video's length as a core context window tells it, None where it does not (0.3.75: 0 or absent)."""
    total = getattr(window, "total_frames", None)
    return int(total) if total is not None and int(total) > 0 else None


@functools.lru_cache(maxsize=None)
def module_calls_attn1_patch(module_name: str) -> bool:
    """Whether the ComfyUI module ``module_name`` (e.g. comfy.ldm.flux.layers) calls attn1 patches: read from its
    source, the feature itself (0.33's Flux blocks do, 0.3.75's do not)."""
    try:
        return "attn1_patch" in inspect.getsource(importlib.import_module(module_name))
    except (ImportError, OSError, TypeError):
        return False
