"""One direction of a Mamba mixer (conv -> SiLU -> x_proj -> dt_proj -> selective scan -> gate).

`mamba_branch` is what the bidirectional mixer calls twice, once per direction. With
`reverse=True` it computes, in natural token order, what the official code gets by flipping the
sequence, running the branch and flipping back: the convolution looks ahead instead of back and the
scan runs from the end, so no flipped copies are needed by fused backends.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ssamba.ops.inference import inference_linear, inference_only
from ssamba.ops.scan_cpu import conv1d_silu, selective_scan_bld
from ssamba.ops.selective_scan import resolve_backend_name, selective_scan


def causal_conv1d_ref(x: Tensor, weight: Tensor, bias: Tensor | None, reverse: bool = False) -> Tensor:
    """Depthwise causal convolution: out[t] = bias + sum_k w[k] x[t - K + 1 + k] (zeros before 0).

    x (B, E, L), weight (E, K). `reverse=True` is the anti-causal mirror image (looks ahead).
    """
    if reverse:
        return causal_conv1d_ref(x.flip(-1), weight, bias).flip(-1)
    width = weight.shape[-1]
    out = F.conv1d(x, weight.unsqueeze(1), bias, padding=width - 1, groups=x.shape[1])
    return out[..., : x.shape[-1]]


def conv1d_silu_ref(x: Tensor, weight: Tensor, bias: Tensor | None, reverse: bool = False) -> Tensor:
    """SiLU of the depthwise (anti-)causal convolution in token-major layout: x (B, L, E) -> (B, L, E).

    The reference of the fused `scan_cpu.conv1d_silu`.
    """
    return F.silu(causal_conv1d_ref(x.transpose(1, 2), weight, bias, reverse)).transpose(1, 2)


def mamba_branch_ref(
    x: Tensor,
    z: Tensor,
    conv_weight: Tensor,
    conv_bias: Tensor | None,
    x_proj_weight: Tensor,
    dt_proj_weight: Tensor,
    dt_proj_bias: Tensor,
    A_log: Tensor,
    D: Tensor,
    reverse: bool = False,
    scan_backend: str = "auto",
) -> Tensor:
    """Reference branch. x, z (B, L, E) -> gated scan output (B, L, E).

    conv_weight (E, K); x_proj_weight (R + 2N, E); dt_proj_weight (E, R); A_log (E, N); D (E,).
    """
    rank, state = dt_proj_weight.shape[1], A_log.shape[1]
    xc = conv1d_silu_ref(x, conv_weight, conv_bias, reverse).transpose(1, 2)  # (B, E, L)
    projected = F.linear(xc.transpose(1, 2), x_proj_weight)  # (B, L, R + 2N)
    dt_low, b_t, c_t = projected.split([rank, state, state], dim=-1)
    delta = F.linear(dt_low, dt_proj_weight).transpose(1, 2)  # (B, E, L); bias goes to the scan
    y = selective_scan(
        xc,
        delta,
        -A_log.float().exp(),
        b_t.transpose(1, 2),
        c_t.transpose(1, 2),
        D.float(),
        z.transpose(1, 2),
        delta_bias=dt_proj_bias.float(),
        delta_softplus=True,
        reverse=reverse,
        backend=scan_backend,
    )
    return y.transpose(1, 2)


def mamba_branch(
    x: Tensor,
    z: Tensor,
    conv_weight: Tensor,
    conv_bias: Tensor | None,
    x_proj_weight: Tensor,
    dt_proj_weight: Tensor,
    dt_proj_bias: Tensor,
    A_log: Tensor,
    D: Tensor,
    reverse: bool = False,
    scan_backend: str = "auto",
    add_to: Tensor | None = None,
) -> Tensor:
    """One mixer direction, on the fastest path available for the inputs (see `mamba_branch_ref`).

    When the scan backend resolves to the fused CPU kernel, the whole branch stays in token-major
    layout: fused conv + SiLU, the two projections as matmuls, then the fused scan with the step
    bias, softplus, D skip and SiLU(z) gate inside; no transposes or flipped copies. Any other
    backend runs `mamba_branch_ref` with it. Returns `add_to + branch` when `add_to` is given;
    without autograd the sum is made in place in `add_to` (by the fused scan where it runs), and
    the fused scan applies the dt projection itself and writes over the convolution output.
    """
    backend = resolve_backend_name(scan_backend, x.is_cuda)
    weights = (conv_weight, conv_bias, x_proj_weight, dt_proj_weight, dt_proj_bias, A_log, D)
    tracked = (x, z, add_to, *weights)
    inference = inference_only(*tracked)
    fused_out = False
    if backend != "cpu":
        y = mamba_branch_ref(x, z, *weights, reverse, backend)
    else:
        rank, state = dt_proj_weight.shape[1], A_log.shape[1]
        xc = conv1d_silu(x, conv_weight, conv_bias, reverse)
        dt_low, b_t, c_t = inference_linear(xc, x_proj_weight).split([rank, state, state], dim=-1)
        fp32 = xc.dtype == torch.float32 and (add_to is None or add_to.dtype == torch.float32)
        fused_out = inference and fp32
        y = selective_scan_bld(
            xc,
            dt_low if fused_out else F.linear(dt_low, dt_proj_weight),
            -A_log.float().exp(),
            b_t,
            c_t,
            D.float(),
            z,
            delta_bias=dt_proj_bias.float(),
            delta_softplus=True,
            reverse=reverse,
            out=(xc if add_to is None else add_to) if fused_out else None,
            accumulate=fused_out and add_to is not None,
            delta_proj=dt_proj_weight if fused_out else None,
        )
    if add_to is None or fused_out:
        return y
    return add_to.add_(y) if inference else add_to + y
