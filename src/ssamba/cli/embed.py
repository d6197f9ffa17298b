"""`ssamba embed`: timestamped and scene embeddings of audio files of any length."""

from __future__ import annotations

import argparse
import json
import logging
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ssamba.cli.arg_types import float_at_least, positive_int
from ssamba.data.scan import AUDIO_EXTENSIONS
from ssamba.errors import ConfigError
from ssamba.utils_io import atomic_write

logger = logging.getLogger(__name__)
# Finer timestamps than 1 ms carry nothing at a 10 ms frame shift and only multiply the output rows.
MIN_HOP_MS = 1.0


def collect_audio_files(inputs: list[str]) -> list[Path]:
    """Files as given plus audio files found (recursively) in given folders, sorted and unique."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        try:
            path.stat()
        except OSError as exc:
            raise ConfigError(f"{path}: no such file or folder ({exc.strerror})") from exc
        if path.is_dir():
            found = sorted(path.rglob("*"))
            files.extend(p for p in found if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(f"{path}: no such file or folder")
    if not files:
        raise ConfigError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) found in {inputs}")
    return list(dict.fromkeys(files))


def _save(out_dir: Path, stem: str, arrays: dict[str, np.ndarray], fmt: str) -> None:
    if fmt == "safetensors":
        from safetensors.numpy import save_file

        atomic_write(out_dir / f"{stem}.safetensors", lambda tmp: save_file(arrays, str(tmp)))
        return
    for key, array in arrays.items():
        atomic_write(out_dir / f"{stem}.{key}.npy", partial(_write_npy, array=array))


def _write_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:  # a handle: np.save would append ".npy" to a temporary name
        np.save(handle, array)


def _model_source(args: argparse.Namespace) -> str:
    """Trained weights from `--model`; an untrained architecture only when `--random-init` says so."""
    from ssamba.models import list_models

    names = list_models()
    if args.random_init:
        name = args.model or "ssamba_tiny"
        if name not in names:
            raise ConfigError(
                f"--random-init needs an architecture name as --model, one of {names}; got {name}"
            )
        return name
    if args.model is None:
        raise ConfigError(
            "give the trained model with --model (pretrained tag, save_pretrained folder, Hub id or "
            "official .pth); --random-init embeds with untrained weights (pipeline tests only)"
        )
    if args.model in names and not Path(args.model).exists():
        raise ConfigError(
            f"--model {args.model} names an architecture, not trained weights; pass a trained model, or "
            "add --random-init to embed with untrained weights"
        )
    return args.model


def run(args: argparse.Namespace) -> int:
    from ssamba.inference import Embedder
    from ssamba.models.loading import load_encoder

    source = _model_source(args)
    files = collect_audio_files(args.inputs)
    model, features = load_encoder(source)
    embedder = Embedder(model, features, hop_ms=args.hop_ms, batch_size=args.batch_size)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    index: list[dict[str, Any]] = []
    for path in tqdm(files, desc="embed", unit="file", disable=None):
        clip = embedder.embed_file(path)
        stem = path.stem if len({p.stem for p in files}) == len(files) else f"{len(index):06d}_{path.stem}"
        arrays = {"scene": clip.scene.numpy()}
        if not args.scene_only:
            arrays.update(embeddings=clip.embeddings.numpy(), timestamps_ms=clip.timestamps_ms.numpy())
        _save(out_dir, stem, arrays, args.format)
        index.append({"audio": str(path), "stem": stem, "timestamps": int(clip.timestamps_ms.shape[0])})
    (out_dir / "index.json").write_text(json.dumps({"hop_ms": args.hop_ms, "files": index}, indent=2))
    logger.info("wrote embeddings of %d files to %s", len(files), out_dir)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "embed",
        help="embeddings of audio files (any length, streamed)",
        description="Scene and timestamp embeddings (regular hop, centres in ms) for files or folders.",
    )
    parser.add_argument("inputs", nargs="+", help="audio files or folders")
    parser.add_argument(
        "--model",
        help="trained model: pretrained tag (e.g. ssamba_tiny_400), save_pretrained folder, Hub id or .pth",
    )
    parser.add_argument(
        "--random-init",
        action="store_true",
        help="untrained weights of the architecture --model names (default ssamba_tiny): pipeline tests only",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--hop-ms",
        type=float_at_least(MIN_HOP_MS),
        default=50.0,
        help=f"spacing of timestamp embeddings in ms (>= {MIN_HOP_MS:g})",
    )
    parser.add_argument("--batch-size", type=positive_int, default=4, help="windows per forward pass")
    parser.add_argument("--format", choices=["npy", "safetensors"], default="npy")
    parser.add_argument("--scene-only", action="store_true", help="write only the scene embedding")
    parser.set_defaults(handler=run)
