"""Model registry as data: the named variants (`model_config`, `list_models`) and the pretrained tags."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from ssamba.errors import ConfigError
from ssamba.models.config import ModelConfig

SSAMBA_HF_REPO = "attentionisallyouneed369/ssamba"
_SIZES = {"tiny": (192, 3), "small": (384, 6), "base": (768, 12)}


def _variants() -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for size, (dim, heads) in _SIZES.items():
        table[f"ssamba_{size}"] = dict(family="ssamba", embed_dim=dim, depth=24, drop_path_rate=0.1)
        ssast = dict(family="ssast", embed_dim=dim, depth=12, num_heads=heads, drop_path_rate=0.0)
        table[f"ssast_{size}"] = ssast
        table[f"ssast_{size}_frame"] = dict(ssast, patch_shape=(128, 2), patch_stride=(128, 1))
    return table


MODEL_VARIANTS: dict[str, dict[str, Any]] = _variants()


def list_models(pattern: str = "*", pretrained: bool = False) -> list[str]:
    """Registered model names (or, with `pretrained=True`, pretrained tags) matching a pattern, sorted."""
    names = PRETRAINED_WEIGHTS if pretrained else MODEL_VARIANTS
    return sorted(name for name in names if fnmatch.fnmatch(name, pattern))


def model_config(name: str, **overrides: Any) -> ModelConfig:
    """The `ModelConfig` of a registered variant with `overrides` applied."""
    if name not in MODEL_VARIANTS:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    fields = dict(MODEL_VARIANTS[name], **overrides)
    unknown = sorted(set(fields) - set(ModelConfig.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"unknown model option(s) {unknown} for {name}")
    return ModelConfig(**fields)


@dataclass(frozen=True)
class PretrainedWeights:
    """One released pretraining checkpoint and the geometry `create_model(..., pretrained=True)` gives it.

    `url` is a full URL, or `hf://<repo>/<filename>` for a file on the Hugging Face Hub. `sha256`
    is verified when set (None: not published, the computed digest is logged and recorded).
    `fine_tune_stride` is the official fine-tuning patch stride; `input_tdim` the pretraining length.
    """

    tag: str
    model: str
    url: str
    sha256: str | None
    masked_patches: int
    fine_tune_stride: tuple[int, int]
    input_tdim: int = 1024

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1].split("?", 1)[0]


def _ssamba(size: str) -> PretrainedWeights:
    url = f"hf://{SSAMBA_HF_REPO}/ssamba_{size}_400.pth"
    return PretrainedWeights(f"ssamba_{size}_400", f"ssamba_{size}", url, None, 400, (10, 10))


def _ssast(size: str, kind: str, masked: int, dropbox_id: str) -> PretrainedWeights:
    url = f"https://www.dropbox.com/s/{dropbox_id}/SSAST-{size.title()}-{kind.title()}-{masked}.pth?dl=1"
    model = f"ssast_{size}" + ("_frame" if kind == "frame" else "")
    stride = (128, 1) if kind == "frame" else (10, 10)
    return PretrainedWeights(f"ssast_{size}_{kind}_{masked}", model, url, None, masked, stride)


# No sha256 is published for any of these files; pin one per entry once verified (see `source.json`).
PRETRAINED_WEIGHTS: dict[str, PretrainedWeights] = {
    w.tag: w
    for w in (
        _ssamba("tiny"),
        _ssamba("small"),
        _ssamba("base"),
        _ssast("tiny", "patch", 400, "fkbtf78y94113wz"),
        _ssast("tiny", "frame", 400, "rx7g60ruzawffzv"),
        _ssast("small", "patch", 400, "i24w446rl9pkf05"),
        _ssast("base", "patch", 400, "ewrzpco95n9jdz6"),
        _ssast("base", "frame", 400, "nx6nl4d4bl71sm8"),
        _ssast("base", "patch", 250, "mxrm9qog6aj8hif"),
        _ssast("base", "frame", 250, "4e6l7ulhwrfoana"),
    )
}


def list_pretrained() -> list[str]:
    """All pretrained tags, sorted."""
    return sorted(PRETRAINED_WEIGHTS)


def pretrained_entry(name: str) -> PretrainedWeights:
    """The entry of a tag, or the first (M = 400) entry of a registered model name."""
    if name in PRETRAINED_WEIGHTS:
        return PRETRAINED_WEIGHTS[name]
    for weights in PRETRAINED_WEIGHTS.values():
        if weights.model == name:
            return weights
    raise ConfigError(f"no pretrained weights for {name!r}; pretrained tags: {', '.join(list_pretrained())}")
