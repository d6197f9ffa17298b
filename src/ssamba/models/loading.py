"""The one front door for models: `load_model(source, task=..., geometry=...)`, whatever the source.

A source is a registry name (random weights), a pretrained tag (official weights, fetched once), a
`save_pretrained` folder or Hub id, an official checkpoint file or an official state dict. It is read
into `StoredWeights` and built by `build_model`. `create_model`, `from_pretrained`, `load_official`
and `load_encoder` are the documented keyword forms of this call.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import Tensor

from ssamba.errors import ConfigError
from ssamba.models.build import TASKS, build_model
from ssamba.models.model import AudioClassifier, MSPMPretrainer
from ssamba.models.official import read_official
from ssamba.models.pretrained import read_folder
from ssamba.models.registry import MODEL_VARIANTS, PRETRAINED_WEIGHTS, model_config, pretrained_entry
from ssamba.models.regrid import AS_STORED, Geometry
from ssamba.models.stored import StoredWeights
from ssamba.models.weights import fetch_pretrained

if TYPE_CHECKING:
    from ssamba.features import FeatureConfig

Source = str | Path | Mapping[str, Tensor]


def read_source(source: Source, geometry: Geometry = AS_STORED, revision: str | None = None) -> StoredWeights:
    """The stored weights of a tag, an existing file (official), a folder or Hub id (not a registry name)."""
    if isinstance(source, Mapping):
        return read_official(source, geometry)
    path, name = Path(source), str(source)
    if path.is_file():
        return read_official(path, geometry)
    if name in PRETRAINED_WEIGHTS and not path.exists():
        stored = read_folder(fetch_pretrained(name))
        return StoredWeights(**{**vars(stored), "finetune_stride": PRETRAINED_WEIGHTS[name].fine_tune_stride})
    return read_folder(source, revision)


def random_model(
    name: str, task: str = "finetune", geometry: Geometry = AS_STORED, **fields: Any
) -> AudioClassifier | MSPMPretrainer:
    """A registered architecture (or a tag's) with random weights at `geometry` (pretrain: stride = shape)."""
    name = PRETRAINED_WEIGHTS[name].model if name in PRETRAINED_WEIGHTS else name
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; choose 'finetune' or 'pretrain'")
    if geometry.input_tdim is not None:
        fields["input_tdim"] = geometry.input_tdim
    if (geometry.fstride, geometry.tstride) != (None, None):
        fields["patch_stride"] = geometry.stride(model_config(name).patch_stride)
    if task == "pretrain":
        fields.pop("num_classes", None)
        return MSPMPretrainer(model_config(name, **fields))
    return AudioClassifier(model_config(name, **fields))


def _is_registry_name(source: Source) -> bool:
    return isinstance(source, str) and source in MODEL_VARIANTS and not Path(source).exists()


def load_model(
    source: Source,
    *,
    task: str | None = None,
    geometry: Geometry = AS_STORED,
    num_classes: int | None = None,
    pooling: str | None = None,
    revision: str | None = None,
    **overrides: Any,
) -> AudioClassifier | MSPMPretrainer:
    """The model of `source` as `task` ("finetune": `AudioClassifier`, "pretrain": `MSPMPretrainer`).

    `task=None`: a folder's own task; an official file or tag as a classifier. `geometry`: the patch
    stride and input length to adapt to (`regrid`); None fields keep the source's (pretraining
    weights for a classifier: the official fine-tuning stride for official files and tags).
    `num_classes`/`pooling`: the classifier head (fresh when they differ from a stored head).
    `overrides`: runtime config fields (`scan_backend`, `attn_impl`, `drop_path_rate`, ...).
    A registry name gives random weights; a tag downloads (once) the official pretraining file.
    """
    if _is_registry_name(source):
        fields = dict(overrides, **({"pooling": pooling} if pooling else {}))
        return random_model(str(source), task or "finetune", geometry, num_classes=num_classes or 0, **fields)
    stored = read_source(source, geometry, revision)
    return build_model(stored, task, geometry, num_classes, pooling, **overrides)


def create_model(
    name: str, num_classes: int = 0, task: str = "finetune", pretrained: bool = False, **overrides: Any
) -> AudioClassifier | MSPMPretrainer:
    """Build a model, randomly initialised or (`pretrained=True`) with the official weights (timm-like).

    `name`: a model name or a pretrained tag (`list_models(pretrained=True)`, e.g. `ssamba_tiny_400`).
    `task="finetune"` (default) gives an `AudioClassifier` (`num_classes=0`: feature extractor);
    `task="pretrain"` gives an `MSPMPretrainer` at the pretraining geometry (stride = patch shape).
    Pretrained weights are downloaded once and cached (see `ssamba.models.weights`); the classifier's
    encoder is adapted to `input_tdim` (default 1024) and `patch_stride` (default the official one).
    """
    geometry = Geometry.pop_from(overrides)
    if pretrained:
        tag = pretrained_entry(name).tag
        return load_model(tag, task=task, geometry=geometry, num_classes=num_classes, **overrides)
    return random_model(name, task, geometry, num_classes=num_classes, **overrides)


def from_pretrained(
    name_or_path: str | Path, revision: str | None = None, **overrides: Any
) -> AudioClassifier | MSPMPretrainer:
    """Load a model saved by `save_pretrained` (a folder, or a Hub repo id with the `hub` extra).

    `overrides` change runtime fields of the config (e.g. `scan_backend`, `attn_impl`, `drop_path_rate`).
    A classifier gets `label_map` from `config.json`'s `id2label` (or an older folder's `labels.json`).
    """
    return build_model(read_folder(name_or_path, revision), **overrides)


def load_official(
    path_or_state_dict: str | Path | Mapping[str, Tensor],
    *,
    fstride: int | None = None,
    tstride: int | None = None,
    input_tdim: int | None = None,
    num_classes: int | None = None,
    task: str = "finetune",
    pooling: str = "mean",
) -> AudioClassifier | MSPMPretrainer:
    """Load an official SSAMBA or SSAST checkpoint.

    Pretraining files: `task="pretrain"` returns the `MSPMPretrainer` as trained; `task="finetune"`
    adapts patch stride and position embedding to (`fstride`, `tstride`, `input_tdim`) like the
    official fine-tuning loader and adds a fresh head of `num_classes` (0 = features only).
    Fine-tuned files (with `mlp_head`): the head is loaded and the input length inferred from the
    position embedding and the strides (not stored in the file; default 10, frame models (128, 1)).
    """
    geometry = Geometry(fstride, tstride, input_tdim)
    stored = read_official(path_or_state_dict, geometry)
    return build_model(stored, task, geometry, num_classes, pooling)


def load_encoder(source: str | Path = "", **options: Any) -> tuple[AudioClassifier, FeatureConfig]:
    """An `AudioClassifier` in eval mode and its front end: what inference and integrations run.

    `source` as `load_model` ("": `ssamba_tiny`, random weights, for testing pipelines); `options`:
    its keyword geometry (`input_tdim`, `patch_stride`/`fstride`/`tstride`), `mean`/`std` of the
    front end, other `load_model` arguments. A pretraining source gives its encoder with a
    feature-only head; the front end is the one saved with the model, else the defaults.
    """
    from ssamba.features import FeatureConfig

    source = str(source) if source else "ssamba_tiny"
    features: dict[str, Any] = {k: options.pop(k) for k in ("mean", "std") if k in options}
    geometry = Geometry.pop_from(options)
    if _is_registry_name(source):
        model = load_model(source, task="finetune", geometry=geometry, **options)
    else:
        stored = read_source(source, geometry, options.pop("revision", None))
        model = build_model(stored, "finetune", geometry, **options)
        features = {**(stored.features or {}), **features}
    assert isinstance(model, AudioClassifier)  # task="finetune"
    if geometry.input_tdim is not None or "target_length" not in features:
        features["target_length"] = model.config.input_tdim
    features.setdefault("num_mel_bins", model.config.num_mel_bins)
    return model.eval(), FeatureConfig.from_dict(features)
