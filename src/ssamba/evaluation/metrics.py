"""Classification metrics of the official recipes: accuracy, mAP, mAUC, d-prime, per-class values.

Per-class average precision and ROC-AUC follow scikit-learn's definitions (`average_precision_score`
as the step-wise sum over distinct thresholds, `roc_auc_score` with tied scores counted half);
classes without positives or negatives have undefined AP/AUC (NaN) and are left out of the means.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np


def accuracy(scores: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of clips whose top-scoring class is the target (class indices or one/multi-hot rows)."""
    predicted = np.asarray(scores).argmax(axis=1)
    targets = np.asarray(targets)
    if targets.ndim == 2:
        return float(np.mean(targets[np.arange(len(predicted)), predicted] > 0))
    return float(np.mean(predicted == targets))


def average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
    """AP of one class: sum over distinct thresholds of (recall step) x precision; NaN without positives."""
    positives = np.asarray(positives, dtype=np.float64)
    if positives.sum() == 0:
        return math.nan
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    ranked, hits = np.asarray(scores)[order], positives[order]
    last_of_threshold = np.r_[np.nonzero(np.diff(ranked))[0], len(ranked) - 1]
    true_pos = np.cumsum(hits)[last_of_threshold]
    false_pos = np.cumsum(1.0 - hits)[last_of_threshold]
    precision = true_pos / (true_pos + false_pos)
    recall = true_pos / true_pos[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_auc(scores: np.ndarray, positives: np.ndarray) -> float:
    """ROC-AUC of one class (Mann-Whitney U with average ranks for ties); NaN if one side is empty."""
    scores = np.asarray(scores, dtype=np.float64)
    positives = np.asarray(positives) > 0
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(scores, kind="mergesort")
    ordered = scores[order]
    starts = np.r_[0, np.nonzero(np.diff(ordered))[0] + 1]
    ends = np.r_[starts[1:], len(ordered)]
    ranks = np.empty(len(scores))
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def d_prime(auc: float) -> float:
    """Sensitivity index of an AUC: `sqrt(2) * Phi^-1(auc)` (official reporting)."""
    if not 0.0 < auc < 1.0:
        return math.inf if auc >= 1.0 else -math.inf if auc <= 0.0 else math.nan
    return math.sqrt(2.0) * NormalDist().inv_cdf(auc)


def one_hot(targets: np.ndarray, num_classes: int) -> np.ndarray:
    """Class indices (N,) -> (N, C) 0/1 matrix; 2-D targets are returned as they are."""
    targets = np.asarray(targets)
    if targets.ndim == 2:
        return targets
    matrix = np.zeros((len(targets), num_classes))
    matrix[np.arange(len(targets)), targets.astype(int)] = 1.0
    return matrix


def confusion_matrix(predicted: np.ndarray, targets: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts (C, C): row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(targets, dtype=int), np.asarray(predicted, dtype=int)), 1)
    return matrix


def classification_metrics(
    scores: np.ndarray, targets: np.ndarray, labels: list[str] | None = None
) -> dict[str, Any]:
    """Accuracy, mAP, mAUC, d-prime and per-class AP/AUC/recall/support.

    `scores` (N, C) probabilities or logits; `targets` class indices (N,) or (multi-)hot rows (N, C).
    """
    scores = np.asarray(scores, dtype=np.float64)
    num_classes = scores.shape[1]
    labels = labels or [str(i) for i in range(num_classes)]
    hot = one_hot(targets, num_classes) > 0
    aps = [average_precision(scores[:, c], hot[:, c]) for c in range(num_classes)]
    aucs = [roc_auc(scores[:, c], hot[:, c]) for c in range(num_classes)]
    predicted = scores.argmax(axis=1)
    mean_auc = float(np.nanmean(aucs)) if not all(math.isnan(a) for a in aucs) else math.nan
    per_class = {
        label: {
            "ap": aps[c],
            "auc": aucs[c],
            "recall": float(np.mean(predicted[hot[:, c]] == c)) if hot[:, c].any() else math.nan,
            "support": int(hot[:, c].sum()),
        }
        for c, label in enumerate(labels)
    }
    return {
        "accuracy": accuracy(scores, targets),
        "mAP": float(np.nanmean(aps)) if not all(math.isnan(a) for a in aps) else math.nan,
        "mAUC": mean_auc,
        "d_prime": d_prime(mean_auc),
        "num_clips": int(len(scores)),
        "per_class": per_class,
    }


def write_metrics(path: str | Path, metrics: dict[str, Any]) -> Path:
    """Write metrics as JSON (NaN/inf become null)."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean(metrics), indent=2) + "\n", encoding="utf-8")
    return path


def plot_confusion(matrix: np.ndarray, labels: list[str], path: str | Path, title: str = "") -> Path:
    """Save a confusion-matrix heat map with counts (needs matplotlib, the `plot` extra)."""
    from ssamba.errors import require_extra

    require_extra("matplotlib", "plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(4.0, 0.45 * len(labels) + 2.0)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90 if len(labels) > 12 else 0)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(labels) <= 30:
        limit = matrix.max() / 2 if matrix.size else 0
        for (row, col), count in np.ndenumerate(matrix):
            ax.text(
                col, row, str(count), ha="center", va="center", color="white" if count > limit else "black"
            )
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Title": title})
    plt.close(fig)
    return path
