"""SSAST encoder: a DeiT-style ViT numerically equal to timm 0.4.5 (LayerNorm eps 1e-6, exact GELU)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssamba.models.config import SSASTConfig
from ssamba.models.encoder import AudioEncoder, EncoderOutput
from ssamba.models.layers import DropPath

ATTN_IMPLS = ("sdpa", "eager")


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection (rows: q, k, v; heads contiguous).

    `attn_impl="sdpa"` uses `scaled_dot_product_attention`; "eager" materialises the (L x L)
    attention matrix like the official code (the efficiency benchmark measures both).
    """

    def __init__(self, dim: int, num_heads: int, attn_impl: str = "sdpa") -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed dim {dim} is not divisible by {num_heads} heads")
        if attn_impl not in ATTN_IMPLS:
            raise ValueError(f"unknown attn_impl {attn_impl!r}; choose from {ATTN_IMPLS}")
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.attn_impl = attn_impl
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        batch, length, dim = x.shape
        qkv = self.qkv(x).reshape(batch, length, 3, self.num_heads, dim // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        if self.attn_impl == "sdpa":
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            attn = (q @ k.transpose(-2, -1)) * self.scale
            out = attn.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(batch, length, dim))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block: x + attn(LN(x)), then x + mlp(LN(x))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, drop_path: float, attn_impl: str) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, attn_impl)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class SSASTEncoder(AudioEncoder):
    """[cls, dist, patches] + pos -> transformer blocks -> LayerNorm (eps 1e-6)."""

    blocks_name = "blocks"

    def __init__(self, config: SSASTConfig) -> None:
        super().__init__(config)
        embed_dim, depth = config.embed_dim, config.depth
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.dist_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if config.distilled else None
        rates = torch.linspace(0, config.drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList(
            TransformerBlock(embed_dim, config.num_heads, config.mlp_ratio, rates[i], config.attn_impl)
            for i in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self._init_weights()

    def _init_weights(self) -> None:
        """timm ViT init: truncated-normal(0.02) Linear weights and tokens, zero biases."""
        for token in (self.cls_token, self.dist_token):
            if token is not None:
                nn.init.trunc_normal_(token, std=0.02)
        for module in self.blocks.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def set_attn_impl(self, attn_impl: str) -> None:
        """Switch every block between "sdpa" and "eager" attention."""
        if attn_impl not in ATTN_IMPLS:
            raise ValueError(f"unknown attn_impl {attn_impl!r}; choose from {ATTN_IMPLS}")
        for module in self.blocks.modules():
            if isinstance(module, Attention):
                module.attn_impl = attn_impl

    def special_tokens(self) -> Tensor:
        if self.dist_token is None:
            return self.cls_token
        return torch.cat([self.cls_token, self.dist_token], dim=1)

    def forward_tokens(self, tokens: Tensor, return_hidden_states: bool = False) -> EncoderOutput:
        hidden_states = []
        x = tokens
        for block in self.blocks:
            x = self.run_block(block, x)
            if return_hidden_states:
                hidden_states.append(x)
        return EncoderOutput(self.norm(x), hidden_states if return_hidden_states else None)
