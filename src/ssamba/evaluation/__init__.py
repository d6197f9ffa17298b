"""Evaluation of classifiers: metrics, scores over a dataset, and loading a fine-tuned classifier."""

from ssamba.evaluation.classifier import load_classifier
from ssamba.evaluation.scoring import evaluate_model, predict_scores

__all__ = ["evaluate_model", "load_classifier", "predict_scores"]
