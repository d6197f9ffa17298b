"""Hugging Face Hub publishing: a model card with config and metrics, and `push_to_hub`.

Downloading goes through `ssamba.from_pretrained("user/repo")` (the `hub` extra). Class names
travel in `config.json` (`id2label`), so a classifier pulled from the Hub predicts named classes.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ssamba.errors import require_extra
from ssamba.features import FeatureConfig

if TYPE_CHECKING:
    from ssamba.models.model import AudioModel

CARD_NAME = "README.md"
MAX_LISTED_LABELS = 50


def _pipeline(model: AudioModel) -> str:
    if model.task == "pretrain" or not model.config.num_classes:
        return "feature-extraction"
    return "audio-classification"


def _model_index(
    name: str, pipeline: str, metrics: dict[str, float], dataset: str | None
) -> list[dict[str, Any]]:
    """The `model-index` entry from which the Hub shows evaluation results."""
    return [
        {
            "name": name,
            "results": [
                {
                    "task": {"type": pipeline, "name": pipeline.replace("-", " ").capitalize()},
                    "dataset": {"type": dataset or "custom", "name": dataset or "evaluation set"},
                    "metrics": [
                        {"type": metric, "value": float(value), "name": metric}
                        for metric, value in metrics.items()
                    ],
                }
            ],
        }
    ]


def card_metadata(
    model: AudioModel,
    *,
    repo_id: str | None = None,
    metrics: dict[str, float] | None = None,
    datasets: list[str] | None = None,
    license: str = "mit",
    base_model: str | None = None,
) -> dict[str, Any]:
    """The card's YAML front matter: library, license, pipeline, tags, datasets, base model, results."""
    pipeline = _pipeline(model)
    tags = list(dict.fromkeys(("audio", "self-supervised-learning", model.config.family, "ssamba")))
    meta: dict[str, Any] = {
        "library_name": "ssamba",
        "license": license,
        "pipeline_tag": pipeline,
        "tags": tags,
    }
    if datasets:
        meta["datasets"] = list(datasets)
    if base_model:
        meta["base_model"] = base_model
    if metrics:
        name = repo_id.split("/")[-1] if repo_id else f"{model.config.family}-audio-encoder"
        meta["model-index"] = _model_index(name, pipeline, metrics, datasets[0] if datasets else None)
    return meta


def model_card(
    model: AudioModel,
    feature_config: FeatureConfig | None = None,
    metrics: dict[str, float] | None = None,
    datasets: list[str] | None = None,
    license: str = "mit",
    *,
    repo_id: str | None = None,
    base_model: str | None = None,
) -> str:
    """Markdown model card with YAML front matter (`card_metadata`), the load snippet and the config."""
    config = model.config
    features = feature_config or FeatureConfig(target_length=config.input_tdim)
    family = "SSAMBA (bidirectional Mamba)" if config.family == "ssamba" else "SSAST (ViT)"
    meta = card_metadata(
        model, repo_id=repo_id, metrics=metrics, datasets=datasets, license=license, base_model=base_model
    )
    front = ["---", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip(), "---"]
    body = [
        f"# {family} audio encoder",
        "",
        "Made with [ssamba](https://pypi.org/project/ssamba/). Load it with:",
        "",
        "```python",
        "import ssamba",
        f'model = ssamba.from_pretrained("{repo_id or "path/to/this/folder"}")',
        "```",
        "",
        *_labels_section(model),
        "## Input",
        "",
        f"Mono audio at {features.sample_rate} Hz -> Kaldi log-mel fbank ({features.num_mel_bins} bins, "
        f"{features.frame_length_ms:g} ms windows every {features.frame_shift_ms:g} ms, hanning), "
        f"padded or cut to {features.target_length} frames, "
        f"normalised as (x - {features.mean}) / (2 * {features.std}).",
        "",
        "## Configuration",
        "",
        "```json",
        json.dumps(config.to_dict(), indent=2),
        "```",
    ]
    if metrics:
        body += ["", "## Results", "", "| metric | value |", "|---|---|"]
        body += [f"| {name} | {value:.4f} |" for name, value in metrics.items()]
    body += [
        "",
        "## Citation",
        "",
        "Shams et al., SSAMBA: Self-Supervised Audio Representation Learning with Mamba State Space Model, "
        "SLT 2024; Gong et al., SSAST: Self-Supervised Audio Spectrogram Transformer, AAAI 2022.",
        "",
    ]
    return "\n".join(front + [""] + body)


def _labels_section(model: AudioModel) -> list[str]:
    label_map = getattr(model, "label_map", None)
    if label_map is None:
        return []
    names = ", ".join(label_map.labels[:MAX_LISTED_LABELS])
    more = f", ... ({len(label_map)} in all)" if len(label_map) > MAX_LISTED_LABELS else ""
    kind = "multi-label" if label_map.multi_label else "single-label"
    return [f"Classes ({kind}, in `config.json`'s `id2label`): {names}{more}.", ""]


def push_to_hub(
    model: AudioModel,
    repo_id: str,
    *,
    feature_config: FeatureConfig | None = None,
    metrics: dict[str, float] | None = None,
    datasets: list[str] | None = None,
    license: str = "mit",
    base_model: str | None = None,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload ssamba model",
    api: Any = None,
) -> str:
    """Save the model folder with a model card and upload it to `repo_id`; returns the commit URL.

    `metrics` (e.g. {"accuracy": 0.95} on `datasets[0]`) become the card's `model-index` results;
    `datasets` and `base_model` are Hub ids of the training data and of the model fine-tuned from.
    """
    if api is None:
        api = require_extra("huggingface_hub", "hub").HfApi(token=token)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model.save_pretrained(folder, feature_config)
        card = model_card(
            model, feature_config, metrics, datasets, license, repo_id=repo_id, base_model=base_model
        )
        (folder / CARD_NAME).write_text(card, encoding="utf-8")
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        return str(api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message=commit_message))
