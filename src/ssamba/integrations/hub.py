"""Hugging Face Hub publishing: a model card with config and metrics, and `push_to_hub`.

Downloading goes through `ssamba.from_pretrained("user/repo")` (the `hub` extra).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from ssamba.errors import require_extra
from ssamba.features import FeatureConfig
from ssamba.models.model import AudioModel, MSPMPretrainer

CARD_NAME = "README.md"


def model_card(
    model: AudioModel,
    feature_config: FeatureConfig | None = None,
    metrics: dict[str, float] | None = None,
    datasets: list[str] | None = None,
    license: str = "mit",
) -> str:
    """Markdown model card with YAML front matter (library, tags, pipeline, metrics) and the config."""
    config = model.config
    features = feature_config or FeatureConfig(target_length=config.input_tdim)
    family = "SSAMBA (bidirectional Mamba)" if config.family == "ssamba" else "SSAST (ViT)"
    pipeline = (
        "feature-extraction"
        if isinstance(model, MSPMPretrainer) or not config.num_classes
        else "audio-classification"
    )
    front = [
        "---",
        "library_name: ssamba",
        f"license: {license}",
        f"pipeline_tag: {pipeline}",
        "tags:",
        *[f"- {tag}" for tag in ("audio", "self-supervised-learning", config.family, "ssamba")],
    ]
    if datasets:
        front += ["datasets:", *[f"- {name}" for name in datasets]]
    if metrics:
        front += ["metrics:", *[f"- {name}" for name in metrics]]
    front.append("---")
    body = [
        f"# {family} audio encoder",
        "",
        "Made with [ssamba](https://pypi.org/project/ssamba/). Load it with:",
        "",
        "```python",
        "import ssamba",
        'model = ssamba.from_pretrained("<this repo id>")',
        "```",
        "",
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


def push_to_hub(
    model: AudioModel,
    repo_id: str,
    *,
    feature_config: FeatureConfig | None = None,
    metrics: dict[str, float] | None = None,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload ssamba model",
    api: Any = None,
) -> str:
    """Save the model folder with a model card and upload it to `repo_id`; returns the commit URL."""
    if api is None:
        api = require_extra("huggingface_hub", "hub").HfApi(token=token)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model.save_pretrained(folder, feature_config)
        (folder / CARD_NAME).write_text(model_card(model, feature_config, metrics), encoding="utf-8")
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        return str(api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message=commit_message))
