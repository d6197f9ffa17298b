"""`build_model`: the task model of `StoredWeights`, loaded strictly and re-gridded to the wanted geometry."""

from __future__ import annotations

from typing import Any

from ssamba.errors import CheckpointError, ConfigError
from ssamba.models.config import ModelConfig
from ssamba.models.model import AudioClassifier, MSPMPretrainer
from ssamba.models.regrid import AS_STORED, Geometry, regrid
from ssamba.models.stored import PRETRAINING_ONLY, StoredWeights, load_native_state

TASKS = ("finetune", "pretrain")


def _config(stored: StoredWeights, **changes: Any) -> ModelConfig:
    """The stored config with runtime `changes` (e.g. `scan_backend`, `drop_path_rate`)."""
    try:
        return ModelConfig.from_dict({**stored.config.to_dict(), **changes})
    except ConfigError as exc:
        raise CheckpointError(f"{stored.source}: {exc}") from exc


def build_model(
    stored: StoredWeights,
    task: str | None = None,
    geometry: Geometry = AS_STORED,
    num_classes: int | None = None,
    pooling: str | None = None,
    **overrides: Any,
) -> AudioClassifier | MSPMPretrainer:
    """The `task` model (None: `stored.default_task`) with the stored weights, adapted to `geometry`.

    "pretrain": the `MSPMPretrainer` as trained (pretraining weights only). "finetune": an
    `AudioClassifier`; from pretraining weights, the encoder re-gridded by the official rule to the
    fine-tuning stride (default `stored.finetune_stride`) and length, with a fresh head of
    `num_classes` (default 0: features only); from fine-tuned weights, its head is kept unless
    `num_classes` or `pooling` differ (then a fresh one) and only the input length can change.
    """
    task = task or stored.default_task
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; choose 'finetune' or 'pretrain'")
    if task == "pretrain":
        if stored.task != "pretrain":
            raise CheckpointError(
                f"{stored.source}: a fine-tuned checkpoint has no pretraining heads; use task='finetune'"
            )
        pretrainer = MSPMPretrainer(_config(stored, **overrides))
        load_native_state(pretrainer, stored.state, stored.ignore, stored.source)
        regrid(pretrainer, input_tdim=geometry.input_tdim)
        return pretrainer
    if stored.task == "pretrain":
        config = _config(stored, num_classes=num_classes or 0, pooling=pooling or "mean", **overrides)
        model = AudioClassifier(config)
        head = {k: v for k, v in model.state_dict().items() if k.startswith("head.")}
        load_native_state(model, {**stored.state, **head}, stored.ignore + PRETRAINING_ONLY, stored.source)
        stride = geometry.stride(stored.finetune_stride or config.patch_stride)
        regrid(model, stride, geometry.input_tdim, official=True)
        return model
    model = AudioClassifier(_config(stored, **overrides))
    load_native_state(model, stored.state, stored.ignore, stored.source)
    model.label_map = stored.label_map
    regrid(model, input_tdim=geometry.input_tdim)
    wanted = (model.num_classes if num_classes is None else num_classes, pooling or model.pooling)
    if wanted != (model.num_classes, model.pooling):
        model.reset_classifier(*wanted)
    return model
