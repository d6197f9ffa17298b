"""Overflow-safe pure-PyTorch selective scan: the CPU fallback when the fused kernel can't be built.

The sequence is cut into about sqrt(L) chunks of about sqrt(L) positions, and the recurrence runs
over the positions of all chunks at once, so there are ~3 sqrt(L) vectorised steps instead of L:
  1. each chunk from a zero state, keeping only its end state;
  2. the true chunk start states, chunk after chunk, with the chunk's total decay
     exp(A sum(dt)) (one exponential of a non-positive number for A <= 0);
  3. each chunk again from its true start state, reading the outputs.
Everything stays in linear space: decays are products of numbers in [0, 1], never divided by each
other, so nothing overflows where the reference loop doesn't (unlike log-space/cumsum scans,
whose exp(-cumsum(dt A)) overflows once dt |A| summed over a chunk passes ~88). Gradients come from
autograd.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ssamba.ops.scan_ref import check_shapes, discretize_delta


def selective_scan_chunked(
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
    """Same result as `selective_scan_ref` (same layouts and options), in ~3 sqrt(L) steps."""
    check_shapes(u, A, B, C)
    if reverse:
        u, delta, B, C = (t.flip(-1) for t in (u, delta, B, C))
        z = None if z is None else z.flip(-1)
        return selective_scan_chunked(u, delta, A, B, C, D, z, delta_bias, delta_softplus).flip(-1)
    batch, dim, length = u.shape
    nstate = A.shape[1]
    size = max(1, math.isqrt(length - 1) + 1) if length else 1
    chunks = -(-length // size)
    pad = chunks * size - length  # zero steps at the end: decay 1, no input
    u_f = u.float()
    dt = F.pad(discretize_delta(delta, delta_bias, delta_softplus), (0, pad))
    x = F.pad(u_f, (0, pad)) * dt
    dt_c, x_c = dt.view(batch, dim, chunks, size), x.view(batch, dim, chunks, size)
    B_c = F.pad(B.float(), (0, pad)).view(batch, nstate, chunks, size)
    C_c = F.pad(C.float(), (0, pad)).view(batch, nstate, chunks, size)
    A_f = A.float()[:, None, :]  # (D, 1, N) against (B, D, chunks, N)

    def step(h: Tensor, j: int) -> Tensor:
        decay = torch.exp(dt_c[..., j, None] * A_f)
        return decay * h + x_c[..., j, None] * B_c[:, None, :, :, j].transpose(-1, -2)

    h = u_f.new_zeros(batch, dim, chunks, nstate)
    for j in range(size):
        h = step(h, j)
    totals = torch.exp(dt_c.sum(-1)[..., None] * A_f)
    starts = [u_f.new_zeros(batch, dim, nstate)]
    for c in range(chunks - 1):
        starts.append(totals[:, :, c] * starts[-1] + h[:, :, c])
    h = torch.stack(starts, dim=2)
    ys = []
    for j in range(size):
        h = step(h, j)
        ys.append(torch.einsum("bdcn,bnc->bdc", h, C_c[..., j]))
    out = torch.stack(ys, dim=-1).reshape(batch, dim, chunks * size)[..., :length]
    if D is not None:
        out = out + u_f * D.float()[:, None]
    if z is not None:
        out = out * F.silu(z.float())
    return out.to(u.dtype)
