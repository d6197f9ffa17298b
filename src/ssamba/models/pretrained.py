"""ssamba's own format: `config.json` + `model.safetensors` + `preprocessor_config.json` in one folder.

`read_folder` reads a local folder or, with the `hub` extra, a Hugging Face Hub repo id (models are
built by `models.loading`). Both JSON files also follow Hugging Face's conventions (`models.hf_meta`),
class names included.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ssamba._version import __version__
from ssamba.errors import CheckpointError, ConfigError
from ssamba.models.config import ModelConfig
from ssamba.models.hf_meta import config_fields, feature_dict, preprocessor_dict, read_label_map
from ssamba.models.stored import StoredWeights
from ssamba.utils_io import atomic_write, atomic_write_text

if TYPE_CHECKING:
    from ssamba.models.model import AudioModel

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
PREPROCESSOR_NAME = "preprocessor_config.json"
# A name ending like this is a local file, never a Hub repo id.
MODEL_FILE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors", ".onnx")
TASKS = ("finetune", "pretrain")


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
    config = {
        "ssamba_version": __version__,
        "task": model.task,
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


def local_path_reason(name: str) -> str | None:
    """Why `name` can only be a local path (so a miss is "not found", not a Hub download), or None."""
    if name.startswith((".", "~", "/")) or "\\" in name:
        return f"it starts with '{name[0]}'" if name[0] in ".~/" else "it holds a backslash"
    if Path(name).suffix.lower() in MODEL_FILE_SUFFIXES:
        return f"it ends with {Path(name).suffix}"
    if name.count("/") > 1:
        return "it has more than one '/' (Hub ids are 'user/repo')"
    if name.count("/") == 1 and Path(name.split("/")[0]).is_dir():
        return f"the folder {name.split('/')[0]}/ exists here"
    return None


def resolve_model_dir(name_or_path: str | Path, revision: str | None = None) -> Path:
    """A local folder as is; a Hub repo id 'user/repo' is downloaded (cached); anything else is not found."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    name = str(name_or_path)
    if path.exists():
        raise CheckpointError(f"{name}: not a model folder (expected {CONFIG_NAME} and {WEIGHTS_NAME})")
    reason = local_path_reason(name) or (
        None if name.count("/") == 1 else "Hub ids have the form 'user/repo'"
    )
    if reason is not None:
        raise CheckpointError(
            f"{name}: not a model folder or file: it does not exist (relative to {Path.cwd()}); "
            f"not looked up on the Hugging Face Hub because {reason}; check the path"
        )
    return _download(name, revision)


def _download(repo_id: str, revision: str | None) -> Path:
    """The cached snapshot of Hub repo `repo_id`; Hub failures become `CheckpointError`s saying what to do."""
    from ssamba.errors import require_extra

    hub = require_extra("huggingface_hub", "hub")
    import huggingface_hub.constants as constants
    import huggingface_hub.utils as errors

    try:
        return Path(
            hub.snapshot_download(
                repo_id,
                revision=revision,
                allow_patterns=[CONFIG_NAME, WEIGHTS_NAME, PREPROCESSOR_NAME, "*.md"],
            )
        )
    except errors.LocalEntryNotFoundError as exc:
        why = (
            "offline mode is on (HF_HUB_OFFLINE)"
            if constants.HF_HUB_OFFLINE
            else "the Hugging Face Hub cannot be reached"
        )
        raise CheckpointError(
            f"{repo_id}: no such local folder, {why} and the repo is not in the local Hub cache; "
            "connect to the network (or unset HF_HUB_OFFLINE), or pass a local model folder"
        ) from exc
    except errors.RevisionNotFoundError as exc:
        raise CheckpointError(f"{repo_id}: the Hub repo has no revision {revision!r}") from exc
    except errors.RepositoryNotFoundError as exc:
        raise CheckpointError(
            f"{repo_id}: no such local folder nor Hub repo (or it is private or gated: log in with a "
            "Hugging Face token); check the name"
        ) from exc
    except errors.HFValidationError as exc:
        raise CheckpointError(
            f"{repo_id}: no such local folder, and not a valid Hub repo id ({exc})"
        ) from exc


def read_model_config(directory: Path) -> dict[str, Any]:
    config_path = directory / CONFIG_NAME
    if not config_path.is_file():
        raise CheckpointError(f"{directory}: no {CONFIG_NAME}; is this a folder written by save_pretrained?")
    try:
        return json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{config_path}: invalid JSON ({exc})") from exc


def read_folder(name_or_path: str | Path, revision: str | None = None) -> StoredWeights:
    """A `save_pretrained` folder (or Hub repo id) as `StoredWeights` (built as the task it was saved as).

    A classifier's `label_map` comes from `config.json`'s `id2label` (or an older folder's `labels.json`).
    """
    from ssamba.models.checkpoint_io import load_state_dict_file

    directory = resolve_model_dir(name_or_path, revision)
    meta = read_model_config(directory)
    task = meta.get("task")
    if task not in TASKS or "model" not in meta:
        raise CheckpointError(
            f"{directory / CONFIG_NAME}: expected keys 'task' (finetune|pretrain) and 'model'"
        )
    try:
        config = ModelConfig.from_dict(meta["model"])
    except ConfigError as exc:
        raise CheckpointError(f"{directory / CONFIG_NAME}: {exc}") from exc
    weights = directory / WEIGHTS_NAME
    preprocessor = directory / PREPROCESSOR_NAME
    return StoredWeights(
        load_state_dict_file(weights),
        config,
        task,
        str(weights),
        task,
        label_map=read_label_map(meta, directory, config.num_classes) if task == "finetune" else None,
        features=feature_dict(preprocessor) if preprocessor.is_file() else None,
    )


def load_feature_config(name_or_path: str | Path):
    """The `FeatureConfig` saved beside a model (defaults for the model's geometry if absent)."""
    from ssamba.features import FeatureConfig

    directory = resolve_model_dir(name_or_path)
    path = directory / PREPROCESSOR_NAME
    if not path.is_file():
        model = read_model_config(directory)["model"]
        return FeatureConfig(num_mel_bins=model["num_mel_bins"], target_length=model["input_tdim"])
    return FeatureConfig.from_dict(feature_dict(path))
