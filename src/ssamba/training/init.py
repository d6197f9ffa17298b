"""`init_classifier_from`: the fine-tuning recipe's classifier, from scratch or any `load_model` source."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ssamba.errors import CheckpointError, ConfigError
from ssamba.models import AudioClassifier, Geometry, load_model
from ssamba.models.config import ModelConfig
from ssamba.models.loading import random_model
from ssamba.models.registry import MODEL_VARIANTS, model_config

OFFICIAL_FINETUNE_STRIDE = (10, 10)  # the recipes' patch stride when `model_overrides` name none


def init_classifier_from(
    init: str,
    model_name: str,
    num_classes: int,
    *,
    input_tdim: int,
    pooling: str = "mean",
    overrides: dict[str, Any] | None = None,
) -> AudioClassifier:
    """A classifier with `num_classes` outputs for `input_tdim`-frame inputs.

    `init` is "scratch" (random `model_name`), an official checkpoint file (pretraining or
    fine-tuned), a pretrained tag (`ssamba_tiny_400`: downloaded once) or a `save_pretrained`
    folder (`load_model`): pretraining weights are adapted to the fine-tuning patch stride
    (`patch_stride` of `overrides`, default (10, 10)) and length like the official loader (spec
    5.3); a fine-tuned model keeps its head when the class count and pooling match, else gets a fresh one.
    """
    overrides = dict(overrides or {})
    geometry = replace(Geometry.pop_from(overrides), input_tdim=input_tdim)
    if init == "scratch":
        fields = dict(overrides, num_classes=num_classes, pooling=pooling)
        scratch = random_model(model_name, "finetune", geometry, **fields)
        assert isinstance(scratch, AudioClassifier)
        return scratch
    if init in MODEL_VARIANTS and not Path(init).exists():
        raise CheckpointError(
            f"--init {init}: an architecture name, not weights; use --init scratch (with --set "
            f"model={init}), a pretrained tag, an existing checkpoint file or a model folder"
        )
    geometry = Geometry(*geometry.stride(OFFICIAL_FINETUNE_STRIDE), input_tdim=input_tdim)
    model = load_model(
        init, task="finetune", geometry=geometry, num_classes=num_classes, pooling=pooling, **overrides
    )
    assert isinstance(model, AudioClassifier)
    check_init_matches(init, model, model_name)
    return model


def check_init_matches(init: str, model: AudioClassifier, model_name: str) -> None:
    """Refuse an `init` checkpoint of another family or width than the recipe's `model`.

    The checkpoint decides the architecture, so a mismatch would silently fine-tune a different
    model than the recipe names (e.g. an SSAST pretraining under an SSAMBA recipe).
    """
    wanted = model_config(model_name)
    got = model.config
    if _same_kind(wanted, got):
        return
    matching = sorted(
        (name for name in MODEL_VARIANTS if _same_kind(model_config(name), got)),
        key=lambda name: model_config(name).patch_shape != got.patch_shape,  # same patches first
    )
    fix = f"--set model={matching[0]}" if matching else "--set model=<a model of that family and width>"
    raise ConfigError(
        f"--init {init}: the checkpoint is a {got.family.upper()} model (embed_dim {got.embed_dim}) but the "
        f"recipe's model is {model_name} ({wanted.family.upper()}, embed_dim {wanted.embed_dim}); "
        f"fine-tune it as what it is with {fix}, or pass an --init checkpoint of {model_name}"
    )


def _same_kind(a: ModelConfig, b: ModelConfig) -> bool:
    """Same family and width: the checkpoint fits the named model up to depth and geometry."""
    return (a.family, a.embed_dim) == (b.family, b.embed_dim)
