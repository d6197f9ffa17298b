"""ssamba: self-supervised audio representation learning with state space models (SSAMBA, SSAST)."""

from __future__ import annotations

from ssamba._version import __version__
from ssamba.errors import (
    AudioError,
    CheckpointError,
    ConfigError,
    ManifestError,
    MissingExtraError,
    SsambaError,
)
from ssamba.models import (
    AudioClassifier,
    ModelConfig,
    MSPMPretrainer,
    create_model,
    from_pretrained,
    list_models,
    load_model,
    load_official,
)

__all__ = [
    "AudioClassifier",
    "MSPMPretrainer",
    "ModelConfig",
    "create_model",
    "from_pretrained",
    "list_models",
    "load_model",
    "load_official",
    "AudioError",
    "CheckpointError",
    "ConfigError",
    "ManifestError",
    "MissingExtraError",
    "SsambaError",
    "__version__",
]
