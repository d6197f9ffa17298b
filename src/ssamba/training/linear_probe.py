"""Linear probing: frozen encoder, pooled features computed once, only the head is trained."""

from __future__ import annotations

import copy
import logging

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ssamba.models import AudioClassifier
from ssamba.training.engine import TrainResult
from ssamba.training.finetune_config import FinetuneConfig

logger = logging.getLogger(__name__)


@torch.no_grad()
def pooled_features(model: AudioClassifier, dataset: Dataset, batch_size: int) -> tuple[Tensor, Tensor]:
    """(features (N, num_features), targets) of a dataset through the frozen encoder and pooling."""
    model.eval()
    features, targets = [], []
    for fbank, target in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        features.append(model.forward_head(model.forward_features(fbank), pre_logits=True))
        targets.append(target)
    return torch.cat(features), torch.cat(targets)


def _loss(logits: Tensor, target: Tensor, config: FinetuneConfig) -> Tensor:
    if target.dim() == 2 or config.loss == "bce":
        hot = target.float() if target.dim() == 2 else F.one_hot(target, logits.shape[-1]).float()
        return F.binary_cross_entropy_with_logits(logits, hot)
    return F.cross_entropy(logits, target, label_smoothing=config.label_smoothing)


def _accuracy(logits: Tensor, target: Tensor) -> float:
    wanted = target.argmax(-1) if target.dim() == 2 else target
    return float((logits.argmax(-1) == wanted).float().mean())


def train_linear_probe(
    model: AudioClassifier, train: Dataset, valid: Dataset | None, config: FinetuneConfig
) -> TrainResult:
    """Train `model.head` in place for `train.epochs` epochs; keeps the best-validation head if any.

    Returns the number of optimiser steps and the best validation accuracy (None without validation).
    """
    for param in model.encoder.parameters():
        param.requires_grad_(False)
    batch = config.train.batch_size
    x, y = pooled_features(model, train, batch)
    held = pooled_features(model, valid, batch) if valid is not None else None
    head = model.head
    head.train()
    optimizer = torch.optim.Adam(head.parameters(), lr=config.optim.lr * config.head_lr)
    generator = torch.Generator().manual_seed(config.train.seed)
    best, best_state, steps = -1.0, None, 0
    for epoch in range(1, config.train.epochs + 1):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch):
            index = order[start : start + batch]
            loss = _loss(head(x[index]), y[index], config)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps += 1
        if held is not None:
            with torch.no_grad():
                score = _accuracy(head(held[0]), held[1])
            logger.info("linear probe epoch %d: validation accuracy %.4f", epoch, score)
            if score > best:
                best, best_state = score, copy.deepcopy(head.state_dict())
    if best_state is not None:
        head.load_state_dict(best_state)
    model.eval()
    return TrainResult(steps, best_metric=best if held is not None else None)
