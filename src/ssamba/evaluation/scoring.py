"""A classifier's scores over a dataset and their metrics (used after training and by `ssamba evaluate`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ssamba.data import LabelMap
from ssamba.evaluation.metrics import classification_metrics, confusion_matrix
from ssamba.models import AudioClassifier


@torch.no_grad()
def predict_scores(
    model: AudioClassifier, dataset: Dataset, batch_size: int, multi_label: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(scores (N, C): sigmoid for multi-label, else softmax; targets) over a dataset, in order."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    scores, targets = [], []
    for fbank, target in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        logits = model(fbank.to(device)).float()
        scores.append((logits.sigmoid() if multi_label else logits.softmax(-1)).cpu().numpy())
        targets.append(target.numpy())
    model.train(was_training)
    return np.concatenate(scores), np.concatenate(targets)


def evaluate_model(
    model: AudioClassifier, dataset: Dataset, label_map: LabelMap, batch_size: int
) -> dict[str, Any]:
    """`classification_metrics` of a model on a dataset (with the confusion matrix for single-label)."""
    scores, targets = predict_scores(model, dataset, batch_size, label_map.multi_label)
    metrics = classification_metrics(scores, targets, list(label_map.labels))
    if not label_map.multi_label:
        metrics["confusion"] = confusion_matrix(scores.argmax(1), targets, len(label_map)).tolist()
    return metrics
