"""Small layers shared by both encoders: stochastic depth, the classification head, pooling."""

from __future__ import annotations

import torch
from torch import Tensor, nn

POOLINGS = ("mean", "cls", "both")


class DropPath(nn.Module):
    """Stochastic depth per sample (timm semantics): drop the whole sample, scale survivors by 1/(1-p)."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = float(drop_prob)

    def forward(self, x: Tensor) -> Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob:.4f}"


def pool_tokens(tokens: Tensor, num_special: int, pooling: str) -> Tensor:
    """Pool final tokens (B, S + L, D): "mean" of patch tokens (official `ft_avgtok`), "cls" (the
    official `ft_cls`: mean of the special tokens, i.e. SSAMBA's cls, SSAST's (cls + dist) / 2) or
    "both" = concat [cls, mean] (2D features)."""
    if pooling == "mean":
        return tokens[:, num_special:].mean(dim=1)
    if pooling == "cls":
        return tokens[:, :num_special].mean(dim=1)
    if pooling == "both":
        return torch.cat([tokens[:, :num_special].mean(dim=1), tokens[:, num_special:].mean(dim=1)], dim=-1)
    raise ValueError(f"unknown pooling {pooling!r}; choose from {POOLINGS}")


class ClassifierHead(nn.Module):
    """The official fine-tuning head: LayerNorm (eps 1e-5) then Linear."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_features)
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.norm(x))


class PredictionHead(nn.Sequential):
    """Pretraining head: Linear(D, D) -> ReLU -> Linear(D, patch_dim) (official cpredlayer/gpredlayer)."""

    def __init__(self, embed_dim: int, out_dim: int = 256) -> None:
        super().__init__(nn.Linear(embed_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, out_dim))
