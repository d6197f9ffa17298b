"""Common front of both encoders: patch tokens, special tokens, masking and position embeddings."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ssamba.models.config import EncoderConfig
from ssamba.models.patch import Grid, PatchEmbed, adapt_pos_embed, apply_mask

TOKEN_NAMES = ("pos_embed", "cls_token", "dist_token")  # learned embeddings, never weight-decayed


@dataclass
class EncoderOutput:
    """Final tokens (B, S + L, D) after the final norm(s), and optional per-layer hidden states."""

    last_hidden_state: Tensor
    hidden_states: list[Tensor] | None = None


class AudioEncoder(nn.Module):
    """Patch embedding + special tokens + learned absolute position embedding; subclasses add blocks.

    The position embedding is stored for the grid of `input_tdim` frames; inputs of another length
    get it adapted on the fly (centre crop or bilinear), so any clip length works. Like timm
    models, an encoder answers the questions training and export ask of it: `no_weight_decay`,
    `group_matcher`, `set_grad_checkpointing`, `min_input_frames` and `norm_hidden_state`.
    """

    blocks_name: str  # the attribute holding the blocks (layer decay counts them)

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.embed_dim = config.embed_dim
        self.num_special = config.num_special
        self.num_mel_bins = config.num_mel_bins
        self.input_tdim = config.input_tdim
        self.patch_embed = PatchEmbed(config.embed_dim, config.patch_shape, config.patch_stride)
        self.grid = self.patch_embed.grid(config.input_tdim, config.num_mel_bins)
        num_tokens = self.num_special + self.grid[0] * self.grid[1]
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, config.embed_dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.grad_checkpointing = False

    def no_weight_decay(self) -> set[str]:
        """Names of the matrices exempt from weight decay (timm's hook): position embedding,
        learned tokens and parameters tagged `_no_weight_decay` (the SSM's `A_log`, `D`)."""
        return {
            name
            for name, param in self.named_parameters()
            if name in TOKEN_NAMES or getattr(param, "_no_weight_decay", False)
        }

    def group_matcher(self) -> dict[str, str]:
        """timm's grouping for layer-wise lr decay: "stem" (patch and position embeddings, tokens)
        and "blocks" (group = captured block index + 1); other parameters (final norm) come last."""
        stem = "|".join(("patch_embed", *TOKEN_NAMES))
        return {"stem": rf"^(?:{stem})(?:\.|$)", "blocks": rf"^{re.escape(self.blocks_name)}\.(\d+)\."}

    def min_input_frames(self) -> int:
        """Fewest frames a (dynamic-shape) graph of the encoder accepts: one patch."""
        return self.patch_embed.shape[1]

    def norm_hidden_state(self, hidden: Tensor) -> Tensor:
        """A per-layer hidden state as a downstream feature (the final norm where the encoder needs it)."""
        return hidden

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block (SSAMBA: each layer pair) in the backward pass instead of keeping
        its activations (timm's switch): less memory for long inputs, one extra forward of time."""
        self.grad_checkpointing = enable

    def run_block(self, block: Callable[..., Any], *args: Any) -> Any:
        """`block(*args)`, through `torch.utils.checkpoint` when checkpointing is on and autograd
        records (the random state is replayed, so stochastic depth drops the same paths)."""
        if self.grad_checkpointing and torch.is_grad_enabled():
            return checkpoint(block, *args, use_reentrant=False)
        return block(*args)

    def special_tokens(self) -> Tensor:
        """The learned tokens prepended to the patches, (1, S, D)."""
        raise NotImplementedError

    def forward_tokens(self, tokens: Tensor, return_hidden_states: bool = False) -> EncoderOutput:
        """Run the blocks and final norm(s) on embedded tokens (B, S + L, D)."""
        raise NotImplementedError

    def position_embedding(self, grid: Grid) -> Tensor:
        """Position embedding (1, S + f*t, D) for a patch grid, adapted if it differs from the stored one."""
        if tuple(grid) == tuple(self.grid):
            return self.pos_embed
        special = self.pos_embed[:, : self.num_special]
        patches = adapt_pos_embed(self.pos_embed[:, self.num_special :], self.grid, grid)
        return torch.cat([special, patches], dim=1)

    def embed(
        self, fbank: Tensor, mask_index: Tensor | None = None, mask_embed: Tensor | None = None
    ) -> Tensor:
        """fbank (B, T, F) -> tokens (B, S + L, D) with masked patches replaced and positions added."""
        if fbank.dim() != 3 or fbank.shape[-1] != self.num_mel_bins:
            raise ValueError(
                f"expected fbank of shape (batch, frames, {self.num_mel_bins}), got {tuple(fbank.shape)}"
            )
        grid = self.patch_embed.grid(fbank.shape[1], fbank.shape[2])
        patches = self.patch_embed(fbank)
        if mask_index is not None:
            if mask_embed is None:
                raise ValueError("mask_index needs mask_embed, the token that replaces the masked patches")
            patches = apply_mask(patches, mask_index, mask_embed)
        special = self.special_tokens().expand(fbank.shape[0], -1, -1)
        return torch.cat([special, patches], dim=1) + self.position_embedding(grid)

    def forward(
        self,
        fbank: Tensor,
        mask_index: Tensor | None = None,
        mask_embed: Tensor | None = None,
        return_hidden_states: bool = False,
    ) -> EncoderOutput:
        return self.forward_tokens(self.embed(fbank, mask_index, mask_embed), return_hidden_states)
