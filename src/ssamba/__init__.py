"""ssamba: self-supervised audio representation learning with state space models (SSAMBA, SSAST)."""

from __future__ import annotations

__version__ = "0.1.0"

from ssamba.errors import (  # noqa: E402
    AudioError,
    CheckpointError,
    ConfigError,
    ManifestError,
    MissingExtraError,
    SsambaError,
)
from ssamba.models import (  # noqa: E402
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
