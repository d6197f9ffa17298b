"""Hugging Face conventions in model folders, so that other tools read them and labels travel.

`config.json` gets `model_type` ("audio-spectrogram-transformer" with the `ASTConfig` fields for
SSAST models `ASTModel` can express, else the family), and for classifiers with named classes
`id2label` (string keys) / `label2id` / `problem_type`. `preprocessor_config.json` names the
front end as `ASTFeatureExtractor` does (`sampling_rate`, `max_length`, `num_mel_bins`, `mean`,
`std`, `do_normalize`). Folders written before (label names in `labels.json`, `sample_rate` and
`target_length`) still load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ssamba.errors import CheckpointError, ConfigError
from ssamba.models.hf_ast import ast_config, ast_incompatibility

if TYPE_CHECKING:
    from ssamba.data.labels import LabelMap
    from ssamba.models.model import AudioModel

AST_MODEL_TYPE = "audio-spectrogram-transformer"
LABELS_FILE = "labels.json"  # where older versions kept the class names
MULTI_LABEL = "multi_label_classification"
SINGLE_LABEL = "single_label_classification"
# ASTFeatureExtractor's names for our FeatureConfig fields, and its keys with no counterpart here
# (with the values our front end implies).
HF_FEATURE_NAMES = {"sample_rate": "sampling_rate", "target_length": "max_length"}
HF_FEATURE_CONSTANTS = {
    "feature_extractor_type": "ASTFeatureExtractor",
    "feature_size": 1,
    "padding_value": 0.0,
    "do_normalize": True,
    "return_attention_mask": False,
}


def config_fields(model: AudioModel) -> dict[str, Any]:
    """The Hugging Face keys of `config.json`: model type, AST config and class names."""
    fields: dict[str, Any] = {"model_type": model.config.family}
    if ast_incompatibility(model.config) is None:
        fields = {"model_type": AST_MODEL_TYPE, **ast_config(model)}
    label_map = getattr(model, "label_map", None)
    if label_map is not None:
        if len(label_map) != model.config.num_classes:
            raise ConfigError(
                f"model.label_map has {len(label_map)} labels for a model with "
                f"{model.config.num_classes} outputs; set model.label_map = None or a matching map"
            )
        fields["num_labels"] = len(label_map)
        fields["id2label"] = {str(index): label for index, label in enumerate(label_map.labels)}
        fields["label2id"] = {label: index for index, label in enumerate(label_map.labels)}
        fields["problem_type"] = MULTI_LABEL if label_map.multi_label else SINGLE_LABEL
    return fields


def read_label_map(meta: dict[str, Any], directory: Path, num_classes: int) -> LabelMap | None:
    """Class names from `config.json`'s `id2label`, else an older folder's `labels.json`, else None."""
    from ssamba.data.labels import LabelMap

    if "id2label" in meta:
        label_map = _id2label_map(meta, directory / "config.json")
    elif (directory / LABELS_FILE).is_file():
        label_map = LabelMap.from_file(directory / LABELS_FILE)
    else:
        return None
    if len(label_map) != num_classes:
        raise CheckpointError(
            f"{directory}: {len(label_map)} class names for a model with {num_classes} outputs"
        )
    return label_map


def _id2label_map(meta: dict[str, Any], path: Path) -> LabelMap:
    from ssamba.data.labels import LabelMap

    id2label = meta["id2label"]
    if not isinstance(id2label, dict) or not all(isinstance(v, str) for v in id2label.values()):
        raise CheckpointError(f"{path}: id2label must map class indices to label names, got {id2label!r}")
    if sorted(id2label) != sorted(str(i) for i in range(len(id2label))):
        raise CheckpointError(f"{path}: id2label must have the keys '0' to '{len(id2label) - 1}'")
    labels = tuple(id2label[str(i)] for i in range(len(id2label)))
    try:
        return LabelMap(labels, meta.get("problem_type") == MULTI_LABEL)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: id2label: {exc}") from exc


def preprocessor_dict(features: dict[str, Any]) -> dict[str, Any]:
    """A `FeatureConfig` dict with `ASTFeatureExtractor`'s names and keys added."""
    renamed = {HF_FEATURE_NAMES.get(key, key): value for key, value in features.items()}
    return {**HF_FEATURE_CONSTANTS, **renamed}


def feature_dict(path: Path) -> dict[str, Any]:
    """`FeatureConfig` fields from a `preprocessor_config.json` written by any version."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("do_normalize", True) is not True:
        raise CheckpointError(f"{path}: do_normalize must be true (ssamba always normalises the fbank)")
    ours = {hf: key for key, hf in HF_FEATURE_NAMES.items()}
    return {ours.get(key, key): value for key, value in data.items() if key not in HF_FEATURE_CONSTANTS}
