"""ssamba's own format: `config.json` + `model.safetensors` + `preprocessor_config.json` in one folder.

`from_pretrained` reads a local folder or, with the `hub` extra, a Hugging Face Hub repo id. Both
JSON files also follow Hugging Face's conventions (`models.hf_meta`), class names included.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ssamba import __version__
from ssamba.errors import CheckpointError, ConfigError
from ssamba.models.config import ModelConfig
from ssamba.models.hf_meta import config_fields, feature_dict, preprocessor_dict, read_label_map
from ssamba.models.model import AudioClassifier, AudioModel, MSPMPretrainer
from ssamba.utils_io import atomic_write, atomic_write_text

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
PREPROCESSOR_NAME = "preprocessor_config.json"
_TASKS = {"finetune": AudioClassifier, "pretrain": MSPMPretrainer}


def _feature_dict(model: AudioModel, feature_config: Any) -> dict[str, Any]:
    from ssamba.features import FeatureConfig

    if feature_config is None:
        feature_config = FeatureConfig(
            num_mel_bins=model.config.num_mel_bins, target_length=model.config.input_tdim
        )
    return feature_config if isinstance(feature_config, dict) else feature_config.to_dict()


def save_pretrained(model: AudioModel, directory: str | Path, feature_config: Any = None) -> Path:
    """Write the model folder (each file atomically); returns the folder path.

    A classifier's `label_map` (if set) goes into `config.json` as `id2label`/`label2id`.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    task = "pretrain" if isinstance(model, MSPMPretrainer) else "finetune"
    config = {
        "ssamba_version": __version__,
        "task": task,
        "model": model.config.to_dict(),
        "pooling": getattr(model, "pooling", model.config.pooling),
        **config_fields(model),
    }
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write(directory / WEIGHTS_NAME, lambda tmp: save_file(state, str(tmp), metadata={"format": "pt"}))
    atomic_write_text(
        directory / PREPROCESSOR_NAME,
        json.dumps(preprocessor_dict(_feature_dict(model, feature_config)), indent=2),
    )
    atomic_write_text(directory / CONFIG_NAME, json.dumps(config, indent=2))
    return directory


def resolve_model_dir(name_or_path: str | Path, revision: str | None = None) -> Path:
    """A local folder as is; anything else is treated as a Hub repo id and downloaded (cached)."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    if path.exists() or str(name_or_path).count("/") != 1:
        raise CheckpointError(
            f"{name_or_path}: not a model folder (expected {CONFIG_NAME} and {WEIGHTS_NAME}) "
            "nor a Hub repo id of the form 'user/repo'"
        )
    from ssamba.errors import require_extra

    hub = require_extra("huggingface_hub", "hub")
    return Path(
        hub.snapshot_download(
            str(name_or_path),
            revision=revision,
            allow_patterns=[CONFIG_NAME, WEIGHTS_NAME, PREPROCESSOR_NAME, "*.md"],
        )
    )


def read_model_config(directory: Path) -> dict[str, Any]:
    config_path = directory / CONFIG_NAME
    if not config_path.is_file():
        raise CheckpointError(f"{directory}: no {CONFIG_NAME}; is this a folder written by save_pretrained?")
    try:
        return json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{config_path}: invalid JSON ({exc})") from exc


def from_pretrained(
    name_or_path: str | Path, revision: str | None = None, **overrides: Any
) -> AudioClassifier | MSPMPretrainer:
    """Load a model saved by `save_pretrained` (a folder, or a Hub repo id with the `hub` extra).

    `overrides` change runtime fields of the config (e.g. `scan_backend`, `attn_impl`, `drop_path_rate`).
    A classifier gets `label_map` from `config.json`'s `id2label` (or an older folder's `labels.json`).
    """
    from ssamba.models.checkpoint_io import load_state_dict_file
    from ssamba.models.official import load_native_state

    directory = resolve_model_dir(name_or_path, revision)
    meta = read_model_config(directory)
    task = meta.get("task")
    if task not in _TASKS or "model" not in meta:
        raise CheckpointError(
            f"{directory / CONFIG_NAME}: expected keys 'task' (finetune|pretrain) and 'model'"
        )
    try:
        config = ModelConfig.from_dict({**meta["model"], **overrides})
    except ConfigError as exc:
        raise CheckpointError(f"{directory / CONFIG_NAME}: {exc}") from exc
    model = _TASKS[task](config)
    load_native_state(
        model, load_state_dict_file(directory / WEIGHTS_NAME), (), str(directory / WEIGHTS_NAME)
    )
    if isinstance(model, AudioClassifier):
        model.label_map = read_label_map(meta, directory, model.num_classes)
    return model


def load_feature_config(name_or_path: str | Path):
    """The `FeatureConfig` saved beside a model (defaults for the model's geometry if absent)."""
    from ssamba.features import FeatureConfig

    directory = resolve_model_dir(name_or_path)
    path = directory / PREPROCESSOR_NAME
    if not path.is_file():
        model = read_model_config(directory)["model"]
        return FeatureConfig(num_mel_bins=model["num_mel_bins"], target_length=model["input_tdim"])
    return FeatureConfig.from_dict(feature_dict(path))
