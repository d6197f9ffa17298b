"""Official pretrained checkpoints by tag (`ssamba_tiny_400`, ...): their sources, fetched and converted once.

`fetch_pretrained(tag)` returns a cached `save_pretrained` folder (safetensors), by default
`~/.cache/ssamba/weights/<tag>` (`$SSAMBA_CACHE` moves it): a cache hit never touches the network;
a miss downloads the official `.pth` (resumable, sha256-checked when the table pins one), converts
it with `load_official` and deletes the `.pth`. Sources: the SSAMBA authors'
Hugging Face repo (`HF_ENDPOINT` honoured) and the SSAST README's Dropbox links. `SSAMBA_WEIGHTS_URL`
(or `base_url=`) fetches every file as `<base>/<filename>` instead, e.g. from a mirror.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssamba.errors import CheckpointError, ConfigError, DownloadError
from ssamba.integrations.download import download, sha256_file
from ssamba.models.model import AudioClassifier, MSPMPretrainer
from ssamba.models.pretrained import CONFIG_NAME, WEIGHTS_NAME
from ssamba.ops._extension import cache_dir as ssamba_cache

logger = logging.getLogger(__name__)

SSAMBA_HF_REPO = "attentionisallyouneed369/ssamba"
BASE_URL_VARIABLE = "SSAMBA_WEIGHTS_URL"
SOURCE_NAME = "source.json"


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


def source_url(weights: PretrainedWeights, base_url: str | None = None) -> str:
    """Where to download from: `<base_url or $SSAMBA_WEIGHTS_URL>/<filename>`, else the entry's URL."""
    base = base_url or os.environ.get(BASE_URL_VARIABLE)
    if base:
        return f"{base.rstrip('/')}/{weights.filename}"
    if weights.url.startswith("hf://"):
        repo = weights.url[len("hf://") :].rsplit("/", 1)[0]
        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
        return f"{endpoint}/{repo}/resolve/main/{weights.filename}"
    return weights.url


def _check_architecture(model: MSPMPretrainer, weights: PretrainedWeights, source: str) -> None:
    from ssamba.models.registry import model_config

    expected, got = model_config(weights.model), model.config
    fields = ("family", "embed_dim", "patch_shape")
    if any(getattr(expected, f) != getattr(got, f) for f in fields):
        raise CheckpointError(
            f"{source}: holds a {got.family} model (embed_dim {got.embed_dim}, patch {got.patch_shape}), "
            f"not the {weights.model} that tag {weights.tag} names; the download was deleted"
        )


def _complete(folder: Path) -> bool:
    return (folder / CONFIG_NAME).is_file() and (folder / WEIGHTS_NAME).is_file()


def _convert(raw: Path, weights: PretrainedWeights, folder: Path, url: str, digest: str) -> None:
    """Official `.pth` -> `save_pretrained` folder, written beside `folder` and renamed into place."""
    from ssamba.models.official import load_official
    from ssamba.models.pretrained import save_pretrained

    model = load_official(raw, task="pretrain")
    assert isinstance(model, MSPMPretrainer)
    _check_architecture(model, weights, url)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        save_pretrained(model, tmp)
        source = {"tag": weights.tag, "url": url, "filename": weights.filename, "sha256": digest}
        (tmp / SOURCE_NAME).write_text(json.dumps(source, indent=2), encoding="utf-8")
        if folder.exists() and not _complete(folder):
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except OSError:
        if not _complete(folder):  # else another process finished the same conversion first
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_pretrained(name: str, *, base_url: str | None = None, cache_dir: str | Path | None = None) -> Path:
    """The converted `save_pretrained` folder of a tag (or model name), downloading it on a cache miss."""
    weights = pretrained_entry(name)
    root = Path(cache_dir) if cache_dir is not None else ssamba_cache()
    folder = root / "weights" / weights.tag
    if _complete(folder):
        return folder
    url = source_url(weights, base_url)
    raw = root / "downloads" / weights.filename
    if raw.is_file():  # downloaded before an interrupted conversion, or put there by hand
        digest = sha256_file(raw)
        if weights.sha256 is not None and digest != weights.sha256:
            raw.unlink()
            raise DownloadError(
                f"{raw}: sha256 {digest} is not the pinned {weights.sha256}; deleted, run again"
            )
    else:
        digest = download(url, raw, weights.sha256)
    if weights.sha256 is None:
        logger.info("%s: sha256 %s (not pinned in the table)", weights.filename, digest)
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        _convert(raw, weights, folder, url, digest)
    except CheckpointError:  # not a usable checkpoint of this tag: never reuse it
        raw.unlink()
        raise
    raw.unlink()
    return folder


def load_pretrained(
    name: str,
    num_classes: int = 0,
    task: str = "finetune",
    *,
    base_url: str | None = None,
    cache_dir: str | Path | None = None,
    **overrides: Any,
) -> AudioClassifier | MSPMPretrainer:
    """A model with official pretrained weights (`create_model(name, pretrained=True)`).

    `task="pretrain"`: the `MSPMPretrainer` as released. `task="finetune"`: its encoder adapted to
    `input_tdim` (default 1024) and `patch_stride` (default the official fine-tuning stride) like the
    official loader, with a fresh head of `num_classes` (0: features only).
    """
    from ssamba.models.pretrained import from_pretrained
    from ssamba.training.init import init_classifier_from

    weights = pretrained_entry(name)
    folder = fetch_pretrained(name, base_url=base_url, cache_dir=cache_dir)
    if task == "pretrain":
        return from_pretrained(folder, **overrides)
    if task != "finetune":
        raise ConfigError(f"unknown task {task!r}; choose 'finetune' or 'pretrain'")
    input_tdim = overrides.pop("input_tdim", weights.input_tdim)
    pooling = overrides.pop("pooling", "mean")
    overrides.setdefault("patch_stride", weights.fine_tune_stride)
    return init_classifier_from(
        str(folder), weights.model, num_classes, input_tdim=input_tdim, pooling=pooling, overrides=overrides
    )
