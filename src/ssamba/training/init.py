"""`init_classifier_from`: a classifier from scratch, an official `.pth` or a `save_pretrained` folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ssamba.errors import CheckpointError, ConfigError
from ssamba.models import AudioClassifier, MSPMPretrainer, create_model, from_pretrained, load_official
from ssamba.models.config import ModelConfig
from ssamba.models.registry import MODEL_VARIANTS, model_config
from ssamba.models.weights import PRETRAINED_WEIGHTS, fetch_pretrained

_GEOMETRY = ("patch_stride", "input_tdim", "num_classes", "pooling")


def _with_runtime_overrides(model: AudioClassifier, overrides: dict[str, Any]) -> AudioClassifier:
    """Rebuild with non-geometry overrides (e.g. drop_path_rate) and the same weights."""
    extra = {k: v for k, v in overrides.items() if k not in _GEOMETRY}
    if not extra:
        return model
    rebuilt = AudioClassifier(model.config.replace(**extra))
    rebuilt.load_state_dict(model.state_dict())
    return rebuilt


def _pretraining_state(model: MSPMPretrainer) -> dict[str, torch.Tensor]:
    """A pretrainer's weights in the form `load_official` adapts (with its input geometry)."""
    state = dict(model.state_dict())
    state["p_input_fdim"] = torch.tensor(model.config.num_mel_bins)
    state["p_input_tdim"] = torch.tensor(model.config.input_tdim)
    return state


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
    folder: a pretraining folder's encoder is adapted to the fine-tuning patch stride and length like
    the official loader (spec 5.3); a fine-tuned folder keeps its head when the class count matches,
    else gets a fresh one.
    """
    overrides = dict(overrides or {})
    stride = tuple(overrides.get("patch_stride", (10, 10)))
    if init == "scratch":
        model = create_model(model_name, num_classes, input_tdim=input_tdim, pooling=pooling, **overrides)
        assert isinstance(model, AudioClassifier)
        return model
    path = Path(init)
    if init in PRETRAINED_WEIGHTS and not path.exists():
        path = fetch_pretrained(init)
    if path.is_file():
        model = load_official(
            path,
            fstride=stride[0],
            tstride=stride[1],
            input_tdim=input_tdim,
            num_classes=num_classes,
            pooling=pooling,
        )
    elif path.is_dir():
        loaded = from_pretrained(path)
        if isinstance(loaded, MSPMPretrainer):
            model = load_official(
                _pretraining_state(loaded),
                fstride=stride[0],
                tstride=stride[1],
                input_tdim=input_tdim,
                num_classes=num_classes,
                pooling=pooling,
            )
        else:
            model = loaded
            if model.config.input_tdim != input_tdim:
                model.encoder.set_input_tdim(input_tdim)
                model.config = model.config.replace(input_tdim=input_tdim)
            if model.num_classes != num_classes or model.pooling != pooling:
                model.reset_classifier(num_classes, pooling)
    else:
        raise CheckpointError(f"--init {init}: not 'scratch', an existing checkpoint file or a model folder")
    assert isinstance(model, AudioClassifier)
    check_init_matches(init, model, model_name)
    return _with_runtime_overrides(model, overrides)


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
