"""Common front of both encoders: patch tokens, special tokens, masking and position embeddings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ssamba.models.patch import Grid, PatchEmbed, adapt_pos_embed, apply_mask


@dataclass
class EncoderOutput:
    """Final tokens (B, S + L, D) after the final norm(s), and optional per-layer hidden states."""

    last_hidden_state: Tensor
    hidden_states: list[Tensor] | None = None


class AudioEncoder(nn.Module):
    """Patch embedding + special tokens + learned absolute position embedding; subclasses add blocks.

    The position embedding is stored for the grid of `input_tdim` frames; inputs of another length
    get it adapted on the fly (centre crop or bilinear), so any clip length works.
    """

    num_special: int

    def __init__(
        self,
        embed_dim: int,
        patch_shape: Grid,
        patch_stride: Grid,
        num_mel_bins: int,
        input_tdim: int,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.num_mel_bins = num_mel_bins
        self.input_tdim = input_tdim
        self.patch_embed = PatchEmbed(embed_dim, patch_shape, patch_stride)
        self.grid = self.patch_embed.grid(input_tdim, num_mel_bins)
        num_tokens = self.num_special + self.grid[0] * self.grid[1]
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, embed_dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.grad_checkpointing = False

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
