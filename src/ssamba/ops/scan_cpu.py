"""Fused CPU kernels with hand-written backward passes: the selective scan and conv + SiLU.

The kernels (C++ in `csrc/`, built on first use by `_extension.load_extension`) work in
token-major layout, (batch, length, channels), which is what the Mamba mixer already holds, so
its hot path needs no transposes. `selective_scan_cpu` adapts mamba_ssm's (batch, channels,
length) layout for the `selective_scan` dispatcher. Everything runs in float32; outputs come back
in the dtype of the main input, like the reference.
"""

from __future__ import annotations

from typing import Protocol, overload

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ssamba.ops._extension import load_extension

CHUNK = 64
"""Positions between the states the forward keeps for the backward (memory vs recompute)."""


class _Ctx(Protocol):
    """What the kernels' autograd functions use of their context (torch's `FunctionCtx` stub
    declares none of the attributes autograd sets)."""

    needs_input_grad: tuple[bool, ...]
    saved_tensors: tuple[Tensor, ...]

    def save_for_backward(self, *tensors: Tensor | None) -> None: ...


class _ScanCtx(_Ctx, Protocol):
    options: tuple[bool, bool]  # (softplus, reverse)


class _ConvCtx(_Ctx, Protocol):
    reverse: bool


@overload
def _kernel_input(t: Tensor) -> Tensor: ...


@overload
def _kernel_input(t: None) -> None: ...


def _kernel_input(t: Tensor | None) -> Tensor | None:
    """float32 with a contiguous last dimension (other strides are passed to the kernels)."""
    if t is None:
        return None
    if t.device.type != "cpu":
        raise ValueError(f"the fused CPU kernels need CPU tensors, got one on {t.device}")
    t = t.float()
    return t if t.stride(-1) == 1 or t.shape[-1] == 1 else t.contiguous()


class _ScanFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx: _ScanCtx, u, delta, A, B, C, D, z, delta_bias, softplus: bool, reverse: bool):
        ops = load_extension()
        keep = any(ctx.needs_input_grad)
        out, checkpoints = ops.scan_fwd(
            u, delta, A, B, C, D, z, delta_bias, softplus, reverse, CHUNK if keep else 0, None, False, None
        )
        if keep:
            ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, checkpoints)
        ctx.options = (softplus, reverse)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: _ScanCtx, grad_out: Tensor):
        u, delta, A, B, C, D, z, delta_bias, checkpoints = ctx.saved_tensors
        grads = load_extension().scan_bwd(
            u, delta, A, B, C, D, z, delta_bias, *ctx.options, checkpoints, CHUNK, grad_out.contiguous()
        )
        return (*grads, None, None)


def selective_scan_bld(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    reverse: bool = False,
    out: Tensor | None = None,
    accumulate: bool = False,
    delta_proj: Tensor | None = None,
) -> Tensor:
    """Fused selective scan in token-major layout: u, delta, z (B, L, D); B, C (B, L, N).

    A (D, N); D, delta_bias (D,). Same math as `selective_scan_ref` (with every sequence
    transposed); returns (B, L, D) in u's dtype. Without autograd, a contiguous float32 `out`
    receives the result (or, with `accumulate`, has it added) and is returned: it may be `delta`
    or `u` itself, which saves a sequence-sized buffer in long-sequence inference. Also without
    autograd, `delta_proj` (D, R) makes `delta` the (B, L, R) low-rank input of Mamba's dt
    projection, applied inside the kernel (no (B, L, D) step tensor at all).
    """
    u_k, delta_k, A_k, B_k, C_k = (_kernel_input(t) for t in (u, delta, A, B, C))
    D_k, z_k, bias_k = (_kernel_input(t) for t in (D, z, delta_bias))
    args = (
        u_k,
        delta_k,
        A_k.contiguous(),  # A is gathered per channel block
        B_k,
        C_k,
        None if D_k is None else D_k.contiguous(),  # D and delta_bias are loaded as vectors
        z_k,
        None if bias_k is None else bias_k.contiguous(),
    )
    if out is None and delta_proj is None:
        if accumulate:
            raise ValueError("accumulate=True needs an `out` tensor to add to")
        return _ScanFn.apply(*args, delta_softplus, reverse).to(u.dtype)
    tensors = (u, delta, B, C, z, out, delta_proj)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors):
        raise ValueError(
            "`out` and `delta_proj` are for inference only: "
            "run under torch.no_grad() or torch.inference_mode()"
        )
    if out is not None and (out.dtype != torch.float32 or not out.is_contiguous() or out.shape != u.shape):
        raise ValueError(f"`out` must be a contiguous float32 tensor of shape {tuple(u.shape)}")
    if accumulate and out is None:
        raise ValueError("accumulate=True needs an `out` tensor to add to")
    proj = None if delta_proj is None else _kernel_input(delta_proj)
    result, _ = load_extension().scan_fwd(*args, delta_softplus, reverse, 0, out, accumulate, proj)
    return result.to(u.dtype)


def selective_scan_cpu(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    reverse: bool = False,
) -> Tensor:
    """`selective_scan_ref`'s interface ((B, D, L) sequences) on the fused kernel, via transposes."""

    out = selective_scan_bld(
        u.transpose(1, 2),
        delta.transpose(1, 2),
        A,
        B.transpose(1, 2),
        C.transpose(1, 2),
        D,
        None if z is None else z.transpose(1, 2),
        delta_bias,
        delta_softplus,
        reverse,
    )
    return out.transpose(1, 2)


class _ConvSiluFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx: _ConvCtx, x, weight, bias, reverse: bool):
        ctx.save_for_backward(x, weight, bias)
        ctx.reverse = reverse
        return load_extension().conv_silu_fwd(x, weight, bias, reverse)

    @staticmethod
    @once_differentiable
    def backward(ctx: _ConvCtx, grad_out: Tensor):
        x, weight, bias = ctx.saved_tensors
        grads = load_extension().conv_silu_bwd(x, weight, bias, ctx.reverse, grad_out.contiguous())
        return (*grads, None)


def conv1d_silu(x: Tensor, weight: Tensor, bias: Tensor | None, reverse: bool = False) -> Tensor:
    """Fused `silu(causal_conv1d_ref(x))` in token-major layout: x (B, L, E), weight (E, K).

    `reverse=True` is the anti-causal convolution. Returns (B, L, E) in x's dtype.
    """
    bias = None if bias is None else _kernel_input(bias).contiguous()
    return _ConvSiluFn.apply(_kernel_input(x), _kernel_input(weight), bias, reverse).to(x.dtype)
