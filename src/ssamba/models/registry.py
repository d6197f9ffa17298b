"""Model registry: the named variants as data, `create_model` and `list_models` (timm-like)."""

from __future__ import annotations

import fnmatch
from typing import Any

from ssamba.errors import ConfigError
from ssamba.models.config import ModelConfig
from ssamba.models.model import AudioClassifier, MSPMPretrainer
from ssamba.models.weights import PRETRAINED_WEIGHTS, load_pretrained

_SIZES = {"tiny": (192, 3), "small": (384, 6), "base": (768, 12)}


def _variants() -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for size, (dim, heads) in _SIZES.items():
        table[f"ssamba_{size}"] = dict(family="ssamba", embed_dim=dim, depth=24, drop_path_rate=0.1)
        ssast = dict(family="ssast", embed_dim=dim, depth=12, num_heads=heads, drop_path_rate=0.0)
        table[f"ssast_{size}"] = ssast
        table[f"ssast_{size}_frame"] = dict(ssast, patch_shape=(128, 2), patch_stride=(128, 1))
    return table


MODEL_VARIANTS: dict[str, dict[str, Any]] = _variants()


def list_models(pattern: str = "*", pretrained: bool = False) -> list[str]:
    """Registered model names (or, with `pretrained=True`, pretrained tags) matching a pattern, sorted."""
    names = PRETRAINED_WEIGHTS if pretrained else MODEL_VARIANTS
    return sorted(name for name in names if fnmatch.fnmatch(name, pattern))


def model_config(name: str, **overrides: Any) -> ModelConfig:
    """The `ModelConfig` of a registered variant with `overrides` applied."""
    if name not in MODEL_VARIANTS:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    fields = dict(MODEL_VARIANTS[name], **overrides)
    unknown = sorted(set(fields) - set(ModelConfig.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"unknown model option(s) {unknown} for {name}")
    return ModelConfig(**fields)


def create_model(
    name: str, num_classes: int = 0, task: str = "finetune", pretrained: bool = False, **overrides: Any
) -> AudioClassifier | MSPMPretrainer:
    """Build a model, randomly initialised or (`pretrained=True`) with the official weights.

    `name`: a model name or a pretrained tag (`list_models(pretrained=True)`, e.g. `ssamba_tiny_400`).
    `task="finetune"` (default) gives an `AudioClassifier` (`num_classes=0`: feature extractor);
    `task="pretrain"` gives an `MSPMPretrainer` at the pretraining geometry (stride = patch shape).
    Pretrained weights are downloaded once and cached (see `ssamba.models.weights`).
    """
    if pretrained:
        return load_pretrained(name, num_classes, task, **overrides)
    name = PRETRAINED_WEIGHTS[name].model if name in PRETRAINED_WEIGHTS else name
    if task == "pretrain":
        return MSPMPretrainer(model_config(name, **overrides))
    if task != "finetune":
        raise ConfigError(f"unknown task {task!r}; choose 'finetune' or 'pretrain'")
    return AudioClassifier(model_config(name, num_classes=num_classes, **overrides))
