import pytest
import torch
from torch import nn

from ssamba.ops import inference
from ssamba.ops.inference import apply_linear, inference_linear, inference_only


@pytest.mark.parametrize("bias", [False, True])
def test_inference_linear_matches_a_float64_matmul(bias: bool) -> None:
    torch.manual_seed(0)
    x, weight = torch.randn(2, 300, 384), torch.randn(44, 384)
    b = torch.randn(44) if bias else None
    expected = x.double() @ weight.double().T + (b.double() if bias else 0)
    with torch.no_grad():
        got = inference_linear(x, weight, b)
    assert got.dtype == torch.float32 and got.shape == (2, 300, 44)
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-4)


def test_inference_linear_uses_onednn_only_without_autograd(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = torch.ops.mkldnn._linear_pointwise
    monkeypatch.setattr(inference, "ONEDNN_LINEAR", True)
    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", lambda *a: calls.append(1) or original(*a))
    x, weight = torch.randn(5, 8), nn.Parameter(torch.randn(3, 8))
    out = inference_linear(x, weight)
    assert out.requires_grad and not calls  # autograd: plain F.linear, gradients flow
    out.sum().backward()
    assert weight.grad is not None
    with torch.no_grad():
        inference_linear(x, weight)
        inference_linear(x.T.contiguous().T, weight)  # non-contiguous input: F.linear
    assert len(calls) == 1


def test_apply_linear_calls_hooked_or_wrapped_modules() -> None:
    linear = nn.Linear(8, 3)
    seen = []
    handle = linear.register_forward_hook(lambda module, inputs, output: seen.append(output))
    with torch.no_grad():
        out = apply_linear(linear, torch.randn(4, 8))
    assert len(seen) == 1 and seen[0] is out
    handle.remove()
    with torch.no_grad():
        x = torch.randn(4, 8)
        torch.testing.assert_close(apply_linear(linear, x), linear(x))


def test_inference_only_tracks_autograd_and_tracing() -> None:
    leaf = torch.randn(2, requires_grad=True)
    assert not inference_only(leaf)
    assert inference_only(torch.randn(2), None)
    with torch.no_grad():
        assert inference_only(leaf)
    seen = []
    torch.jit.trace(lambda t: seen.append(inference_only(t)) or t + 1, (torch.randn(2),), check_trace=False)
    assert seen == [False]
