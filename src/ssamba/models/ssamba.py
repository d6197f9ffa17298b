"""SSAMBA encoder: Vim bidirectional Mamba over frequency-major spectrogram patches.

Reproduces the official arithmetic exactly (spec 1.4): layers run in pairs, the second layer of a
pair reads the token-reversed sequence (computed without flipped copies), pair outputs and
residuals are summed (so the residual doubles per pair), and the final LayerNorm is applied twice.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ssamba.models.config import SSAMBAConfig
from ssamba.models.encoder import AudioEncoder, EncoderOutput
from ssamba.models.layers import DropPath
from ssamba.models.mamba_mixer import NO_REINIT, BiMambaMixer, MambaBlock


def _norm_layer(kind: str, dim: int) -> nn.Module:
    if kind == "layernorm":
        return nn.LayerNorm(dim, eps=1e-5)
    if kind == "rmsnorm":
        return nn.RMSNorm(dim, eps=1e-5)
    raise ValueError(f"unknown norm {kind!r}; choose 'layernorm' (official recipes) or 'rmsnorm'")


def drop_path_schedule(depth: int, rate: float) -> list[float]:
    """Official per-layer rates: layer 0 gets 0, layer k >= 1 gets linspace(0, rate, depth)[k - 1]."""
    return [0.0, *torch.linspace(0, rate, depth).tolist()][:depth]


class SSAMBAEncoder(AudioEncoder):
    """[cls, patches] + pos -> bidirectional layer pairs -> final norm twice."""

    blocks_name = "layers"

    def __init__(self, config: SSAMBAConfig) -> None:
        if config.depth % 2:
            raise ValueError(
                f"SSAMBA depth must be even (layers run in bidirectional pairs), got {config.depth}"
            )
        super().__init__(config)
        embed_dim, depth = config.embed_dim, config.depth
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        rates = drop_path_schedule(depth, config.drop_path_rate)
        self.layers = nn.ModuleList(
            MambaBlock(
                BiMambaMixer(
                    embed_dim, config.d_state, config.d_conv, config.expand, scan_backend=config.scan_backend
                ),
                _norm_layer(config.norm, embed_dim),
                rates[i],
            )
            for i in range(depth)
        )
        self.norm_f = _norm_layer(config.norm, embed_dim)
        self.drop_path = DropPath(config.drop_path_rate)
        self._init_weights(depth)

    def _init_weights(self, depth: int) -> None:
        """Vim's global init: zero Linear biases (except the forward dt bias), rescale out_proj."""
        for module in self.modules():
            bias = getattr(module, "bias", None) if isinstance(module, nn.Linear) else None
            if bias is not None and not getattr(bias, NO_REINIT, False):
                nn.init.zeros_(bias)
            if isinstance(module, BiMambaMixer):
                nn.init.kaiming_uniform_(module.out_proj.weight, a=math.sqrt(5))
                with torch.no_grad():
                    module.out_proj.weight /= math.sqrt(depth)

    def special_tokens(self) -> Tensor:
        return self.cls_token

    def min_input_frames(self) -> int:
        """Two patch columns (`patch + stride` frames): the exporter specialises the one-column scan."""
        return self.patch_embed.shape[1] + self.patch_embed.stride[1]

    def norm_hidden_state(self, hidden: Tensor) -> Tensor:
        """A pair's residual sum through the final norm (once), as the official features."""
        return self.norm_f(hidden)

    @staticmethod
    def _pair(
        first: MambaBlock, second: MambaBlock, hidden: Tensor, residual: Tensor | None, scale: float
    ) -> tuple[Tensor, Tensor, float]:
        """One layer pair on the residual stream `scale * residual` plus `hidden`: the new
        (hidden, residual, scale), the second layer reading the tokens in reverse."""
        residual_f = first.add_residual(hidden, residual, scale)
        # Without stochastic depth both blocks of a pair see the same residual: compute it once.
        residual_b = second.add_residual(hidden, residual, scale) if second.drops_paths() else residual_f
        del hidden, residual  # long sequences: free the pair's inputs before the mixers run
        hidden = first(residual_f)
        hidden = hidden + second(residual_b, flipped=True)
        # residual_f + residual_b; the doubling of one tensor is deferred to the next addition.
        if residual_b is residual_f:
            return hidden, residual_f, 2.0
        return hidden, residual_f + residual_b, 1.0

    def forward_tokens(self, tokens: Tensor, return_hidden_states: bool = False) -> EncoderOutput:
        hidden, scale = tokens, 1.0
        residual: Tensor | None = None  # the residual stream is `scale * residual`
        del tokens  # long sequences: only `hidden` holds the input, so it is freed with it
        pair_outputs = []
        for first, second in zip(self.layers[0::2], self.layers[1::2], strict=True):
            hidden, residual, scale = self.run_block(self._pair, first, second, hidden, residual, scale)
            if return_hidden_states:
                pair_outputs.append(torch.add(hidden, residual, alpha=scale))
        assert residual is not None  # depth >= 2 (ModelConfig): at least one pair ran
        normed_once = self.norm_f(torch.add(self.drop_path(hidden), residual, alpha=scale))
        return EncoderOutput(self.norm_f(normed_once), pair_outputs if return_hidden_states else None)
