"""AnimateDiff-Evolved (the real pack at its pinned commit, installed by scripts/install_test_packs.sh) in the test
process: its own node classes build context options and the evolved-sampling model, exactly as its nodes do in a
workflow."""
from __future__ import annotations

import importlib.util
import sys

import pytest

from conftest import HOST

PACKS = HOST / "test_packs"
ADE = PACKS / "ComfyUI-AnimateDiff-Evolved"
MODULE = "ComfyUI-AnimateDiff-Evolved"


def ade_nodes() -> dict:
    """AnimateDiff-Evolved's NODE_CLASS_MAPPINGS, imported once (as ComfyUI imports a custom node package)."""
    if MODULE not in sys.modules:
        if not (ADE / "__init__.py").exists():
            pytest.fail(f"AnimateDiff-Evolved is not installed at {ADE}. Fix: `make test` (it installs it), or "
                        f"`bash scripts/install_test_packs.sh`.")
        spec = importlib.util.spec_from_file_location(MODULE, ADE / "__init__.py", submodule_search_locations=[str(ADE)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[MODULE] = module
        spec.loader.exec_module(module)
    return sys.modules[MODULE].NODE_CLASS_MAPPINGS


def context_options(schedule: str, length: int, overlap: int, closed_loop: bool = False, fuse_method: str = "pyramid"):
    """ADE's CONTEXT_OPTIONS from its node: 'static' (Standard Static), 'uniform' (Standard Uniform) or 'looped'
    (Looped Uniform), stride 1."""
    nodes = ade_nodes()
    if schedule == "static":
        node, kw = "ADE_StandardStaticContextOptions", {}
    elif schedule == "uniform":
        node, kw = "ADE_StandardUniformContextOptions", {"context_stride": 1}
    elif schedule == "looped":
        node, kw = "ADE_LoopedUniformContextOptions", {"context_stride": 1, "closed_loop": closed_loop}
    else:
        raise ValueError(schedule)
    (options,) = nodes[node]().create_options(context_length=length, context_overlap=overlap,
                                              fuse_method=fuse_method, **kw)
    return options


def evolved(model, options=None, motion_models=None):
    """ADE's Use Evolved Sampling on ``model`` ('use existing' beta schedule: the model's own sampling)."""
    (model,) = ade_nodes()["ADE_UseEvolvedSampling"]().use_evolved_sampling(
        model, "use existing", m_models=motion_models, context_options=options)
    return model
