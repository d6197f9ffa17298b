"""Helpers shared by the scan tests: random inputs and a relative comparison."""

from __future__ import annotations

import torch
from torch import Tensor


def random_scan_inputs(
    batch: int, dim: int, nstate: int, length: int, seed: int = 0, dtype: torch.dtype = torch.float32
) -> dict[str, Tensor]:
    """selective_scan_ref inputs in mamba_ssm layouts, in realistic ranges (A < 0, mixed step sizes)."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape: int, scale: float = 1.0, shift: float = 0.0) -> Tensor:
        return (torch.randn(*shape, generator=g) * scale + shift).to(dtype)

    return {
        "u": rnd(batch, dim, length),
        "delta": rnd(batch, dim, length, scale=1.0, shift=-1.0),
        "A": -torch.rand(dim, nstate, generator=g).to(dtype) * 4 - 0.05,
        "B": rnd(batch, nstate, length),
        "C": rnd(batch, nstate, length),
        "D": rnd(dim),
        "z": rnd(batch, dim, length),
        "delta_bias": rnd(dim, scale=0.5),
    }


def assert_rel_close(
    actual: Tensor, expected: Tensor, tol: float, what: str = "", atol: float = 1e-5
) -> None:
    """max |actual - expected| <= tol * max |expected| + atol.

    For float32 results computed in different orders; `atol` covers sums that cancel to much less
    than their O(1) terms.
    """
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert torch.isfinite(actual).all(), f"{what}: non-finite values"
    scale = expected.abs().max().item() or 1.0
    err = (actual.double() - expected.double()).abs().max().item() if expected.numel() else 0.0
    assert err <= tol * scale + atol, f"{what}: max abs error {err:.3g} > {tol:g} x {scale:.3g} + {atol:g}"
