"""The fused mixer branch against `mamba_branch_ref`, forward and backward, in both directions."""

from __future__ import annotations

import importlib

import pytest
import torch
from scan_helpers import assert_rel_close

from ssamba.ops import _extension
from ssamba.ops.mamba_branch import mamba_branch, mamba_branch_ref
from ssamba.ops.selective_scan import ENV_VAR

dispatch = importlib.import_module("ssamba.ops.selective_scan")

PARAMS = ("conv_weight", "conv_bias", "x_proj_weight", "dt_proj_weight", "dt_proj_bias", "A_log", "D")


def branch_inputs(batch: int, length: int, model_dim: int, state: int) -> dict[str, torch.Tensor]:
    """x and z as the two halves of one in_proj output (strided, as the mixer passes them)."""
    g = torch.Generator().manual_seed(length)
    inner, rank = 2 * model_dim, max(1, model_dim // 16)
    xz = torch.randn(batch, length, 2 * inner, generator=g)
    return {
        "xz": xz,
        "conv_weight": torch.randn(inner, 4, generator=g) * 0.5,
        "conv_bias": torch.randn(inner, generator=g) * 0.1,
        "x_proj_weight": torch.randn(rank + 2 * state, inner, generator=g) * inner**-0.5,
        "dt_proj_weight": torch.randn(inner, rank, generator=g) * rank**-0.5,
        "dt_proj_bias": torch.rand(inner, generator=g) * 2 - 4,
        "A_log": torch.log(torch.arange(1, state + 1, dtype=torch.float32)).repeat(inner, 1),
        "D": torch.ones(inner),
    }


def run(fn, inputs: dict, reverse: bool, grad_out: torch.Tensor, **kwargs) -> dict[str, torch.Tensor]:
    leaves = {k: v.clone().requires_grad_() for k, v in inputs.items()}
    x, z = leaves["xz"].chunk(2, dim=-1)
    out = fn(x, z, *(leaves[name] for name in PARAMS), reverse=reverse, **kwargs)
    out.backward(grad_out)
    return {"out": out.detach(), **{k: v.grad for k, v in leaves.items()}}


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize(("batch", "length", "model_dim", "state"), [(2, 37, 20, 16), (1, 300, 12, 4)])
def test_fused_branch_matches_reference(cpu_ops, monkeypatch, batch, length, model_dim, state, reverse):
    monkeypatch.delenv(ENV_VAR, raising=False)
    inputs = branch_inputs(batch, length, model_dim, state)
    grad_out = torch.randn(batch, length, 2 * model_dim)
    fused = run(mamba_branch, inputs, reverse, grad_out, scan_backend="cpu")
    ref = run(mamba_branch_ref, inputs, reverse, grad_out, scan_backend="reference")
    for name, value in fused.items():
        assert_rel_close(value, ref[name], 5e-5, name)


@pytest.mark.parametrize("backend", ["cpu", "reference"])
@pytest.mark.parametrize("grad", [False, True])
def test_branch_adds_to_a_given_output(cpu_ops, backend, grad):
    inputs = branch_inputs(2, 30, 12, 16)
    x, z = inputs["xz"].chunk(2, dim=-1)
    weights = [inputs[name] for name in PARAMS]
    base = torch.randn(2, 30, 24)
    expected = base + mamba_branch_ref(x, z, *weights, reverse=True, scan_backend="reference")
    if grad:
        x = x.detach().requires_grad_()
    with torch.set_grad_enabled(grad):
        added = base.clone()
        out = mamba_branch(x, z, *weights, reverse=True, scan_backend=backend, add_to=added)
    assert_rel_close(out, expected, 2e-5)
    # without autograd the sum is made in place; with it, the given tensor is left alone
    assert (out.data_ptr() == added.data_ptr()) == (not grad)
    if grad:
        torch.testing.assert_close(added, base, rtol=0, atol=0)


def test_env_var_routes_the_branch_to_the_reference(monkeypatch):
    monkeypatch.setattr(dispatch, "_announced", set())
    monkeypatch.setenv(ENV_VAR, "reference")
    inputs = branch_inputs(1, 9, 8, 4)
    grad_out = torch.randn(1, 9, 16)
    got = run(mamba_branch, inputs, True, grad_out, scan_backend="cpu")
    ref = run(mamba_branch_ref, inputs, True, grad_out, scan_backend="reference")
    for name, value in got.items():
        torch.testing.assert_close(value, ref[name], rtol=0, atol=0)


def test_branch_falls_back_when_the_kernels_cannot_be_built(monkeypatch):
    def fail() -> None:
        raise RuntimeError("c++: command not found")

    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(dispatch, "_announced", set())
    monkeypatch.setattr(_extension, "_ops", None)
    monkeypatch.setattr(_extension, "_error", None)
    monkeypatch.setattr(_extension, "_build", fail)
    inputs = branch_inputs(1, 20, 8, 4)
    x, z = inputs["xz"].chunk(2, dim=-1)
    weights = [inputs[name] for name in PARAMS]
    with pytest.warns(RuntimeWarning, match="command not found"):
        out = mamba_branch(x, z, *weights, reverse=True)
    assert_rel_close(out, mamba_branch_ref(x, z, *weights, reverse=True, scan_backend="reference"), 2e-5)


@pytest.mark.parametrize("trained", ["A_log", "D", "conv_weight", "dt_proj_bias"])
def test_a_trainable_branch_weight_alone_keeps_autograd(cpu_ops, trained):
    """Inputs without gradients but one trainable weight: the branch must not take the
    inference-only fused path (which would drop that weight's gradient)."""
    inputs = branch_inputs(1, 20, 8, 4)
    x, z = inputs["xz"].chunk(2, dim=-1)
    weights = {name: inputs[name].clone().requires_grad_(name == trained) for name in PARAMS}
    out = mamba_branch(
        x, z, *weights.values(), reverse=True, scan_backend="cpu", add_to=torch.zeros(1, 20, 16)
    )
    ref_weights = {name: inputs[name].clone().requires_grad_(name == trained) for name in PARAMS}
    ref = mamba_branch_ref(x, z, *ref_weights.values(), reverse=True, scan_backend="reference")
    grad_out = torch.randn_like(ref)
    (grad,) = torch.autograd.grad(out, weights[trained], grad_out)
    (expected,) = torch.autograd.grad(ref, ref_weights[trained], grad_out)
    assert_rel_close(grad, expected, 5e-5, trained)
