"""`load_classifier`: a fine-tuned classifier with its front end and class names, for predict/evaluate."""

from __future__ import annotations

from pathlib import Path

from ssamba.data import LabelMap
from ssamba.errors import ConfigError
from ssamba.features import FeatureConfig
from ssamba.models import AudioClassifier
from ssamba.models.loading import load_encoder


def load_classifier(source: str | Path) -> tuple[AudioClassifier, FeatureConfig, LabelMap]:
    """(model in eval mode, its FeatureConfig, its label map) of a fine-tuned model (folder, Hub id, file).

    Class names come from `config.json` (or an older folder's `labels.json`); without them the
    classes are named by their index.
    """
    model, features = load_encoder(source)
    if not model.num_classes:
        raise ConfigError(f"{source}: not a fine-tuned classifier (a pretraining or feature-only model)")
    label_map = model.label_map or LabelMap(tuple(str(i) for i in range(model.num_classes)))
    return model, features, label_map
