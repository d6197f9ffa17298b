"""The reference's reverse mode, the pure-PyTorch fallback, and the backend dispatcher."""

from __future__ import annotations

import importlib
import warnings

import pytest
import torch
from scan_helpers import assert_rel_close, random_scan_inputs

from ssamba.ops import _extension
from ssamba.ops.scan_chunked import selective_scan_chunked
from ssamba.ops.scan_cpu import selective_scan_cpu
from ssamba.ops.scan_ref import selective_scan_ref
from ssamba.ops.selective_scan import (
    ENV_VAR,
    register_backend,
    resolve_backend,
    resolve_backend_name,
    selective_scan,
)

# the module (the package attribute of the same name is the function)
dispatch = importlib.import_module("ssamba.ops.selective_scan")


def flipped(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.flip(-1)


def test_reference_reverse_is_the_flip_formulation():
    args = random_scan_inputs(2, 8, 4, 23)
    out = selective_scan_ref(**args, delta_softplus=True, reverse=True)
    flip_args = {k: flipped(v) if k in ("u", "delta", "B", "C", "z") else v for k, v in args.items()}
    expected = selective_scan_ref(**flip_args, delta_softplus=True).flip(-1)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("length", [1, 2, 17, 50])
def test_chunked_matches_reference(length, reverse):
    args = random_scan_inputs(2, 12, 4, length, seed=length)
    grad_out = torch.randn(2, 12, length)
    results = []
    for fn in (selective_scan_chunked, selective_scan_ref):
        leaves = {k: v.clone().requires_grad_() for k, v in args.items()}
        out = fn(**leaves, delta_softplus=True, reverse=reverse)
        out.backward(grad_out)
        results.append({"out": out.detach(), **{k: v.grad for k, v in leaves.items()}})
    for name, value in results[0].items():
        assert_rel_close(value, results[1][name], 2e-5, name)


def test_chunked_stays_finite_where_a_log_space_scan_overflows():
    """Large delta * |A| summed over a chunk: a cumsum-in-log-space scan gets inf/NaN, this doesn't."""
    args = random_scan_inputs(1, 8, 4, 64)
    args["delta"] = args["delta"].abs() + 5.0  # dt |A| up to ~20 per step, ~600 per chunk of 8
    leaves = {k: v.clone().requires_grad_() for k, v in args.items()}
    out = selective_scan_chunked(**leaves, delta_softplus=True)
    out.sum().backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(v.grad).all() for v in leaves.values())
    assert_rel_close(out.detach(), selective_scan_ref(**args, delta_softplus=True), 2e-5)
    # the same chunking in log space: exp(-cumsum(dt A)) within a chunk of 8 overflows
    dt = torch.nn.functional.softplus(args["delta"] + args["delta_bias"][:, None])
    log_decay = torch.cumsum(dt[..., :8, None] * args["A"][:, None, :], dim=-2)
    assert not torch.isfinite(torch.exp(-log_decay)).all()


@pytest.fixture
def fresh_dispatch(monkeypatch):
    """Forget which backends were announced and any cached build result (restored afterwards)."""
    monkeypatch.setattr(dispatch, "_announced", set())
    monkeypatch.setattr(_extension, "_ops", None)
    monkeypatch.setattr(_extension, "_error", None)
    monkeypatch.delenv(ENV_VAR, raising=False)
    return monkeypatch


@pytest.fixture
def broken_build(fresh_dispatch):
    def fail() -> None:
        raise RuntimeError("Error building extension: scan.cpp:1:10: fatal error: omp.h: No such file")

    fresh_dispatch.setattr(_extension, "_build", fail)


def test_auto_falls_back_to_chunked_with_one_warning(broken_build):
    args = random_scan_inputs(1, 8, 4, 10)
    with pytest.warns(RuntimeWarning, match=r"chunked.*omp\.h: No such file") as record:
        out = selective_scan(**args, delta_softplus=True)
        selective_scan(**args, delta_softplus=True)
    assert len([w for w in record if issubclass(w.category, RuntimeWarning)]) == 1
    assert resolve_backend("auto", False) is selective_scan_chunked
    assert_rel_close(out, selective_scan_ref(**args, delta_softplus=True), 2e-5)


def test_requested_cpu_backend_that_cannot_build_is_an_error(broken_build):
    with pytest.raises(RuntimeError, match="omp.h"):
        resolve_backend("cpu", False)


def test_env_var_forcing_cpu_that_cannot_build_is_an_error(broken_build, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "cpu")
    with pytest.raises(RuntimeError, match=f"set by {ENV_VAR}"):
        resolve_backend("auto", False)


def test_auto_uses_the_fused_kernel_on_cpu(cpu_ops, fresh_dispatch):
    fresh_dispatch.setattr(_extension, "_ops", cpu_ops)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_backend("auto", False) is selective_scan_cpu


@pytest.mark.parametrize("forced", ["reference", "chunked"])
def test_env_var_forces_a_backend(fresh_dispatch, forced):
    fresh_dispatch.setenv(ENV_VAR, forced)
    assert resolve_backend_name("auto", False) == forced
    assert resolve_backend_name("cpu", False) == forced


def test_unknown_backend_is_rejected(fresh_dispatch):
    with pytest.raises(ValueError, match="unknown selective scan backend 'fast'.*chunked"):
        resolve_backend("fast", False)
    fresh_dispatch.setenv(ENV_VAR, "nope")
    with pytest.raises(ValueError, match="'nope'"):
        resolve_backend("auto", False)


def test_cuda_inputs_without_mamba_ssm_warn_and_use_the_chunked_scan(fresh_dispatch):
    fresh_dispatch.setattr(dispatch, "_mamba_ssm_scan", lambda: None)
    with pytest.warns(RuntimeWarning, match="mamba_ssm is not installed.*chunked"):
        assert resolve_backend("auto", True) is selective_scan_chunked
    with pytest.raises(RuntimeError, match="pip install"):
        resolve_backend("cuda", True)


def test_registered_backend_is_selectable(fresh_dispatch):
    calls = []

    def mine(*args):
        calls.append(args)
        return selective_scan_ref(*args)

    fresh_dispatch.setattr(dispatch, "_BACKENDS", dict(dispatch._BACKENDS))
    register_backend("mine", mine)
    args = random_scan_inputs(1, 4, 2, 5)
    selective_scan(**args, backend="mine")
    assert len(calls) == 1


def test_export_backend_matches_reference(fresh_dispatch):
    args = random_scan_inputs(1, 8, 4, 12)
    out = selective_scan(**args, delta_softplus=True, reverse=True, backend="export")
    assert_rel_close(out, selective_scan_ref(**args, delta_softplus=True, reverse=True), 2e-5)
