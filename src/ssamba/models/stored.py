"""Weights read from a source before any model exists (`StoredWeights`), and the strict load into a model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ssamba.errors import CheckpointError
from ssamba.models.config import ModelConfig

if TYPE_CHECKING:
    from ssamba.data.labels import LabelMap
    from ssamba.models.model import AudioModel

# Keys of a pretraining state that a classifier built from it does not use.
PRETRAINING_ONLY = ("disc_head.", "gen_head.", "mask_embed")


@dataclass(frozen=True)
class StoredWeights:
    """Native-keyed tensors with the config they were trained at and their task ("pretrain"/"finetune").

    `ignore`: stored key prefixes no model uses. `default_task`: what `load_model(task=None)` builds.
    `finetune_stride`: the patch stride a classifier made from pretraining weights gets by default
    (None: the stored one). `features`: the saved front end (a `FeatureConfig` dict) if any.
    """

    state: Mapping[str, Tensor]
    config: ModelConfig
    task: str
    source: str
    default_task: str
    ignore: tuple[str, ...] = ()
    finetune_stride: tuple[int, int] | None = None
    label_map: LabelMap | None = None
    features: dict | None = None


def load_native_state(
    model: AudioModel, state: Mapping[str, Tensor], ignore: tuple[str, ...], source: str
) -> None:
    """Strict load that ignores exactly the `ignore` prefixes and lists any other key mismatch."""
    kept = {k: v for k, v in state.items() if not k.startswith(ignore)}
    expected = model.state_dict()
    missing = sorted(set(expected) - set(kept))
    unexpected = sorted(set(kept) - set(expected))
    wrong_shape = [
        f"{k}: checkpoint {tuple(kept[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(kept) & set(expected))
        if kept[k].shape != expected[k].shape
    ]
    if missing or unexpected or wrong_shape:
        lines = [f"{source}: checkpoint does not match the {model.config.family} model"]
        if missing:
            lines.append(f"missing keys ({len(missing)}): {', '.join(missing[:20])}")
        if unexpected:
            lines.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected[:20])}")
        if wrong_shape:
            lines.append(f"wrong shapes ({len(wrong_shape)}): {'; '.join(wrong_shape[:10])}")
        lines.append("fix: pass the checkpoint that matches this model family and size")
        raise CheckpointError("\n  ".join(lines))
    check_finite_weights(kept, source)
    model.load_state_dict(kept, strict=True)


def check_finite_weights(state: Mapping[str, Tensor], source: str) -> None:
    """Refuse NaN/Inf weights (a diverged or corrupt save), which would give NaN outputs and exit 0."""
    for key, value in state.items():
        finite = torch.isfinite(value)
        if not finite.all():
            count = int((~finite).sum())
            raise CheckpointError(
                f"{source}: tensor '{key}' holds {count} NaN/Inf value(s) of {value.numel()}; the weights "
                "are corrupt or come from a diverged run: use an earlier checkpoint"
            )
