"""Metrics against scikit-learn on random cases (with ties) and the d-prime formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import accuracy_score, average_precision_score, confusion_matrix, roc_auc_score

from ssamba.evaluation.metrics import classification_metrics, d_prime
from ssamba.evaluation.metrics import confusion_matrix as ours_confusion


@pytest.mark.parametrize("seed", range(5))
def test_single_label_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, c = 60, 5
    targets = rng.integers(0, c, n)
    targets[:c] = np.arange(c)  # every class present
    scores = np.round(rng.random((n, c)), 1)  # rounding creates ties
    metrics = classification_metrics(scores, targets)
    hot = np.eye(c)[targets]
    assert metrics["accuracy"] == pytest.approx(accuracy_score(targets, scores.argmax(1)))
    aps = [average_precision_score(hot[:, k], scores[:, k]) for k in range(c)]
    aucs = [roc_auc_score(hot[:, k], scores[:, k]) for k in range(c)]
    assert metrics["mAP"] == pytest.approx(np.mean(aps), abs=1e-12)
    assert metrics["mAUC"] == pytest.approx(np.mean(aucs), abs=1e-12)
    assert metrics["d_prime"] == pytest.approx(math.sqrt(2) * norm.ppf(np.mean(aucs)), abs=1e-9)
    assert [metrics["per_class"][str(k)]["ap"] for k in range(c)] == pytest.approx(aps)
    assert (
        ours_confusion(scores.argmax(1), targets, c).tolist()
        == confusion_matrix(targets, scores.argmax(1), labels=range(c)).tolist()
    )


def test_multi_label_map_matches_sklearn_macro() -> None:
    rng = np.random.default_rng(7)
    hot = (rng.random((80, 6)) < 0.3).astype(float)
    hot[0] = 1.0
    hot[1] = 0.0
    scores = rng.normal(size=(80, 6))
    metrics = classification_metrics(scores, hot)
    assert metrics["mAP"] == pytest.approx(average_precision_score(hot, scores, average="macro"))
    assert metrics["mAUC"] == pytest.approx(roc_auc_score(hot, scores, average="macro"))


def test_undefined_classes_are_skipped_and_perfect_scores() -> None:
    targets = np.array([0, 0, 1, 1])
    scores = np.array([[0.9, 0.1, 0.0], [0.8, 0.2, 0.0], [0.1, 0.9, 0.0], [0.3, 0.7, 0.0]])
    metrics = classification_metrics(scores, targets, labels=["a", "b", "c"])
    assert metrics["accuracy"] == 1.0 and metrics["mAP"] == 1.0 and metrics["mAUC"] == 1.0
    assert math.isnan(metrics["per_class"]["c"]["ap"])
    assert d_prime(1.0) == math.inf and d_prime(0.5) == 0.0
