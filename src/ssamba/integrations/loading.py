"""Load a model for inference from whatever a user has: a registry name, a folder or an official file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ssamba.features import FeatureConfig
from ssamba.models.model import AudioClassifier, MSPMPretrainer
from ssamba.models.official import load_official
from ssamba.models.pretrained import from_pretrained, load_feature_config, local_path_reason
from ssamba.models.registry import create_model
from ssamba.models.weights import PRETRAINED_WEIGHTS


def load_encoder_model(source: str | Path = "", **options: Any) -> tuple[AudioClassifier, FeatureConfig]:
    """An `AudioClassifier` in eval mode and its front end.

    `source`: "" or a registry name (random weights: for testing pipelines), a pretrained tag
    (`ssamba_tiny_400`: official weights, downloaded once), a `save_pretrained` folder or Hub id, or
    an official `.pth` checkpoint. `options` go to the loader (e.g.
    `input_tdim`, `fstride`, `tstride` for official files; model overrides for registry names).
    A pretraining folder gives its encoder with a feature-only head.
    """
    source = str(source) if source else "ssamba_tiny"
    feature_overrides = {k: options.pop(k) for k in ("mean", "std") if k in options}
    path = Path(source)
    if path.suffix in (".pth", ".pt") and path.is_file():
        model = load_official(path, **options)
        features = FeatureConfig(target_length=model.config.input_tdim)
    elif path.is_dir() or "/" in source or local_path_reason(source):  # not found: never a random model
        model = from_pretrained(source, **options)
        features = load_feature_config(source)
    else:
        model = create_model(source, pretrained=source in PRETRAINED_WEIGHTS, **options)
        features = FeatureConfig(target_length=model.config.input_tdim)
    if isinstance(model, MSPMPretrainer):
        classifier = AudioClassifier(model.config.replace(num_classes=0))
        classifier.encoder.load_state_dict(model.encoder.state_dict())
        model = classifier
    if feature_overrides:
        features = FeatureConfig.from_dict({**features.to_dict(), **feature_overrides})
    return model.eval(), features
