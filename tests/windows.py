"""Test-only context windows, driven the way AnimateDiff-Evolved drives them."""
from __future__ import annotations

import torch


def with_windows(model, windows):
    """A minimal context-window engine in the way AnimateDiff-Evolved drives one (a CALC_COND_BATCH wrapper that
    evaluates windows of frames and publishes ``ad_params["sub_idxs"]``). ComfyUI 0.3.75's own dim-0 windows cannot
    run an SD1.5 batch (IndexListContextHandler.set_step compares the per-row timestep with the schedule and fails
    when there is more than one row), so the test drives the window keys directly."""
    import comfy.patcher_extension as pe

    def calc_cond_batch(executor, model_, conds, x_in, timestep, model_options):
        if x_in.shape[0] <= max(max(w) for w in windows):  # frame 0's single-frame phases: nothing to window
            return executor(model_, conds, x_in, timestep, model_options)
        outs = None
        for idx in windows:
            options = dict(model_options)
            options["transformer_options"] = dict(model_options["transformer_options"])
            options["transformer_options"]["ad_params"] = {"sub_idxs": idx, "full_length": x_in.shape[0],
                                                           "context_length": len(idx)}
            step = timestep[idx] if timestep.shape[0] == x_in.shape[0] else timestep
            part = executor(model_, conds, x_in[idx], step, options)
            if outs is None:
                outs = [torch.zeros_like(x_in) if p is not None else None for p in part]
            for full, p in zip(outs, part):
                if p is not None:
                    full[idx] = p
        return outs

    model = model.clone()
    model.add_wrapper_with_key(pe.WrappersMP.CALC_COND_BATCH, "test-windows", calc_cond_batch)
    return model
