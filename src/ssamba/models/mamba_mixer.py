"""Vim's bidirectional Mamba mixer ("bimamba v2") and the pre-norm residual block around it.

Parameter names follow Vim (`in_proj`, `conv1d`, `conv1d_b`, `x_proj`, `x_proj_b`, `dt_proj`,
`dt_proj_b`, `A_log`, `A_b_log`, `D`, `D_b`, `out_proj`) so official checkpoints load by name.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ssamba.models.layers import DropPath
from ssamba.ops.inference import apply_linear
from ssamba.ops.mamba_branch import mamba_branch

NO_REINIT = "_no_reinit"
"""Attribute flagging a parameter that the model's global init must leave as its module set it."""


class BiMambaMixer(nn.Module):
    """Shared in/out projections, separate forward and backward SSM branches, outputs averaged."""

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int | None = None,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        scan_backend: str = "auto",
    ) -> None:
        super().__init__()
        self.d_model = d_model
        self.d_state = d_state
        self.d_inner = expand * d_model
        self.dt_rank = dt_rank if dt_rank is not None else math.ceil(d_model / 16)
        self.scan_backend = scan_backend
        inner, rank = self.d_inner, self.dt_rank

        self.in_proj = nn.Linear(d_model, 2 * inner, bias=False)
        self.conv1d = nn.Conv1d(inner, inner, d_conv, groups=inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(inner, rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(rank, inner)
        self.conv1d_b = nn.Conv1d(inner, inner, d_conv, groups=inner, padding=d_conv - 1)
        self.x_proj_b = nn.Linear(inner, rank + 2 * d_state, bias=False)
        self.dt_proj_b = nn.Linear(rank, inner)
        self.out_proj = nn.Linear(inner, d_model, bias=False)

        s4d_real = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(inner, 1)
        self.A_log = nn.Parameter(s4d_real.log())
        self.A_b_log = nn.Parameter(s4d_real.log())
        self.D = nn.Parameter(torch.ones(inner))
        self.D_b = nn.Parameter(torch.ones(inner))
        for name in ("A_log", "A_b_log", "D", "D_b"):
            getattr(self, name)._no_weight_decay = True
        self._init_forward_dt(dt_min, dt_max, dt_init_floor)

    def _init_forward_dt(self, dt_min: float, dt_max: float, floor: float) -> None:
        """Official init of the forward branch's dt projection: U(+-R^-0.5) weights and a bias
        equal to softplus^-1 of a log-uniform step in [dt_min, dt_max]. The backward branch keeps
        PyTorch's default init (its bias is zeroed later by the model's global init)."""
        bound = self.dt_rank**-0.5
        nn.init.uniform_(self.dt_proj.weight, -bound, bound)
        log_dt = torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        dt = log_dt.exp().clamp(min=floor)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        setattr(self.dt_proj.bias, NO_REINIT, True)

    def _branch(
        self, x: Tensor, z: Tensor, backward_weights: bool, reverse: bool, add_to: Tensor | None = None
    ) -> Tensor:
        """One SSM branch: the forward (`backward_weights=False`) or the `_b` weights, scanning the
        tokens from the start or, with `reverse=True`, from the end (plus `add_to`, if given)."""
        suffix = "_b" if backward_weights else ""
        conv: nn.Conv1d = getattr(self, "conv1d" + suffix)
        dt_proj: nn.Linear = getattr(self, "dt_proj" + suffix)
        return mamba_branch(
            x,
            z,
            conv.weight.squeeze(1),
            conv.bias,
            getattr(self, "x_proj" + suffix).weight,
            dt_proj.weight,
            dt_proj.bias,
            getattr(self, "A_b_log" if backward_weights else "A_log"),
            getattr(self, "D" + suffix),
            reverse=reverse,
            scan_backend=self.scan_backend,
            add_to=add_to,
        )

    def forward(self, hidden: Tensor, flipped: bool = False) -> Tensor:
        """hidden (B, L, D) -> (B, L, D). The backward branch reads the sequence from the end.

        `flipped=True` returns `self(hidden.flip(1)).flip(1)` without the copies: both branches
        swap their scan directions (every other operation is per token). The outputs are averaged
        by halving `out_proj`'s weight (exact: a power of two), and without autograd the second
        branch adds into the first's output.
        """
        x, z = self.in_proj(hidden).chunk(2, dim=-1)
        forward = self._branch(x, z, backward_weights=False, reverse=flipped)
        summed = self._branch(x, z, backward_weights=True, reverse=not flipped, add_to=forward)
        del forward
        return apply_linear(self.out_proj, summed, scale=0.5)


class MambaBlock(nn.Module):
    """Vim's add -> norm -> mixer block: `add_residual`, then `forward` on the new residual."""

    def __init__(self, mixer: BiMambaMixer, norm: nn.Module, drop_path: float = 0.0) -> None:
        super().__init__()
        self.mixer = mixer
        self.norm = norm
        self.drop_path = DropPath(drop_path)

    def add_residual(self, hidden: Tensor, residual: Tensor | None, scale: float = 1.0) -> Tensor:
        """The block's residual stream: the first block's input, later scale * residual + drop_path(hidden)
        (one pass; a power-of-two scale gives exactly the sum of the scaled tensor)."""
        return hidden if residual is None else torch.add(self.drop_path(hidden), residual, alpha=scale)

    def drops_paths(self) -> bool:
        """Whether `add_residual` is random now (training with stochastic depth)."""
        return self.training and self.drop_path.drop_prob > 0

    def forward(self, residual: Tensor, flipped: bool = False) -> Tensor:
        """mixer(norm(residual)); `flipped=True` is the block applied to the token-reversed sequence."""
        return self.mixer(self.norm(residual), flipped)
