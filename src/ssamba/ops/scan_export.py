"""Export-friendly selective scan: the recurrence as one `torch` scan operator over the sequence.

Exporters unroll Python loops for the traced length; the scan higher-order operator becomes an
ONNX `Scan` whose trip count follows the input, so exported graphs keep a dynamic time axis.
Math and layouts as `selective_scan_ref`; reverse runs on flipped inputs (flips export fine).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch._higher_order_ops.scan import scan

from ssamba.ops.scan_ref import discretize_delta


def _step(state: Tensor, inputs: list[Tensor]) -> tuple[Tensor, Tensor]:
    decay, drive, c_t = inputs  # (B, D, N), (B, D, N), (B, N)
    state = decay * state + drive
    return state, (state * c_t[:, None, :]).sum(-1)


def selective_scan_export(
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
    """Same result as `selective_scan_ref`; u/delta/z (B, D, L), A (D, N), B/C (B, N, L)."""
    dtype_in = u.dtype
    if reverse:
        u, delta, B, C = (t.flip(-1) for t in (u, delta, B, C))
        z = z.flip(-1) if z is not None else None
    u_f = u.float()
    dt = discretize_delta(delta, delta_bias, delta_softplus)
    decay = torch.exp(dt.permute(2, 0, 1)[..., None] * A.float())  # (L, B, D, N)
    drive = (dt * u_f).permute(2, 0, 1)[..., None] * B.float().permute(2, 0, 1)[:, :, None, :]
    state = torch.zeros_like(decay[0])
    _, ys = scan(_step, state, [decay, drive, C.float().permute(2, 0, 1)])
    out = ys.permute(1, 2, 0)  # (B, D, L)
    if D is not None:
        out = out + u_f * D.float()[:, None]
    if z is not None:
        out = out * F.silu(z.float())
    if reverse:
        out = out.flip(-1)
    return out.to(dtype_in)
