"""Official pretrained checkpoints by tag (`ssamba_tiny_400`, ...; see `registry`): fetched, converted once.

`fetch_pretrained(tag)` returns a cached `save_pretrained` folder (safetensors), by default
`~/.cache/ssamba/weights/<tag>` (`$SSAMBA_CACHE` moves it): a cache hit never touches the network;
a miss downloads the official `.pth` (resumable, sha256-checked when the table pins one), converts
it (`read_official`) and deletes the `.pth`. Sources: the SSAMBA authors'
Hugging Face repo (`HF_ENDPOINT` honoured) and the SSAST README's Dropbox links. `SSAMBA_WEIGHTS_URL`
(or `base_url=`) fetches every file as `<base>/<filename>` instead, e.g. from a mirror.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from ssamba.errors import CheckpointError, DownloadError
from ssamba.integrations.download import download, sha256_file
from ssamba.models.build import build_model
from ssamba.models.config import ModelConfig
from ssamba.models.official import read_official
from ssamba.models.pretrained import CONFIG_NAME, WEIGHTS_NAME, save_pretrained
from ssamba.models.registry import PretrainedWeights, model_config, pretrained_entry
from ssamba.ops._extension import cache_dir as ssamba_cache

logger = logging.getLogger(__name__)

BASE_URL_VARIABLE = "SSAMBA_WEIGHTS_URL"
SOURCE_NAME = "source.json"


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


def _check_architecture(got: ModelConfig, weights: PretrainedWeights, source: str) -> None:
    expected = model_config(weights.model)
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
    stored = read_official(raw)
    _check_architecture(stored.config, weights, url)
    model = build_model(stored, "pretrain")
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
