"""MSPM objectives as pure functions: discriminative InfoNCE and generative MSE over masked patches."""

from __future__ import annotations

import torch
from torch import Tensor


def gather_patches(x: Tensor, index: Tensor) -> Tensor:
    """x (B, L, K), index (B, M) -> (B, M, K)."""
    return torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def info_nce(targets: Tensor, predictions: Tensor) -> tuple[Tensor, Tensor]:
    """Official discriminative loss and accuracy over the masked patches of each clip.

    targets, predictions (B, M, K). Scores S[j, i] = x_j . c_i (no temperature); the loss is the
    mean of -diag(log_softmax(S, dim=-1)); accuracy counts columns i whose argmax over rows j of
    softmax(S, dim=-1) is i (the official formula, spec 2.2). Negatives come from the same clip.
    """
    scores = targets @ predictions.transpose(1, 2)  # (B, M, M)
    log_probs = scores.log_softmax(dim=-1)
    nce = -log_probs.diagonal(dim1=1, dim2=2).mean()
    hits = scores.softmax(dim=-1).argmax(dim=1) == torch.arange(scores.shape[1], device=scores.device)
    return nce, hits.float().mean()


def reconstruction_mse(targets: Tensor, predictions: Tensor) -> Tensor:
    """Mean squared error over (B, M, K) raw normalised patches (no per-patch normalisation)."""
    return ((predictions - targets) ** 2).mean()
