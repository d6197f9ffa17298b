"""`init_classifier_from`: a classifier from scratch, an official `.pth` or a `save_pretrained` folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ssamba.errors import CheckpointError
from ssamba.models import AudioClassifier, MSPMPretrainer, create_model, from_pretrained, load_official
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
    return _with_runtime_overrides(model, overrides)
