"""Assertions shared by the test modules."""
from __future__ import annotations


def assert_close_rel(actual, expected, rel=1e-5):
    """Float-rounding agreement: max |difference| within ``rel`` of the largest value (latents here reach ~100)."""
    err = ((actual - expected).abs().max() / expected.abs().max()).item()
    assert err < rel, f"max relative difference {err:.2e}"
