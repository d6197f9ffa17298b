"""Reference selective scan: a readable float32 loop with mamba_ssm's `selective_scan_fn` semantics.

Every fast backend is tested against this function.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def discretize_delta(delta: Tensor, delta_bias: Tensor | None, delta_softplus: bool) -> Tensor:
    """Step sizes in float32: `softplus(delta + bias)` when asked (PyTorch softplus, threshold 20)."""
    delta = delta.float()
    if delta_bias is not None:
        delta = delta + delta_bias.float()[..., None]
    return F.softplus(delta) if delta_softplus else delta


def check_shapes(u: Tensor, A: Tensor, B: Tensor, C: Tensor) -> None:
    """Reject inputs that are not u (B, D, L), A (D, N), B/C (B, N, L) with a readable error."""
    if u.dim() != 3 or B.dim() != 3 or C.dim() != 3 or A.dim() != 2:
        raise ValueError(
            f"selective_scan expects u (B, D, L), A (D, N), B/C (B, N, L); got u {tuple(u.shape)}, "
            f"A {tuple(A.shape)}, B {tuple(B.shape)}, C {tuple(C.shape)}"
        )


def selective_scan_ref(
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
    """Run the selective state space recurrence step by step.

    Shapes: u, delta, z (B, D, L); A (D, N); B, C (B, N, L); D, delta_bias (D,).
    h_t = exp(delta_t A) h_{t-1} + delta_t u_t B_t;  y_t = C_t . h_t + D u_t;  out = y * silu(z).
    `reverse=True` runs the recurrence from the last position to the first (the same as flipping
    every sequence input, scanning, and flipping the output back). Returns (B, D, L) in u's dtype.
    """
    check_shapes(u, A, B, C)
    dtype_in = u.dtype
    batch, channels, length = u.shape
    u_f = u.float()
    dt = discretize_delta(delta, delta_bias, delta_softplus)
    A_f, B_f, C_f = A.float(), B.float(), C.float()
    state = u_f.new_zeros(batch, channels, A.shape[1])
    out = u_f.new_empty(batch, channels, length)
    steps = range(length - 1, -1, -1) if reverse else range(length)
    for t in steps:
        decay = torch.exp(dt[:, :, t, None] * A_f)  # (B, D, N)
        drive = (dt[:, :, t] * u_f[:, :, t])[:, :, None] * B_f[:, None, :, t]  # (B, D, N)
        state = decay * state + drive
        out[:, :, t] = torch.einsum("bdn,bn->bd", state, C_f[:, :, t])
    if D is not None:
        out = out + u_f * D.float()[:, None]
    if z is not None:
        out = out * F.silu(z.float())
    return out.to(dtype_in)
