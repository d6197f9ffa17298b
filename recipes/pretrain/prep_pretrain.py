"""Pretraining manifests (labels unused) from the raw AudioSet and LibriSpeech folder layouts.

AudioSet, as the usual downloaders leave it (file names and nesting inside each folder are free):
    AUDIOSET/balanced_train_segments/   -> data/audioset_20k_train.jsonl
    AUDIOSET/unbalanced_train_segments/ -> data/audioset_2m_train.jsonl
    AUDIOSET/eval_segments/             -> data/audioset_eval.jsonl (validation)
LibriSpeech 960 h (the folder holding the subsets; dev/test subsets are not used):
    LIBRISPEECH/{train-clean-100,train-clean-360,train-other-500}/SPK/CHAPTER/*.flac
                                        -> data/librispeech_960h.jsonl
These are the file names the `recipes/pretrain/*.yaml` configs read. With `--shards N`, the
training manifests are also written as tar shards of N clips, all sources shuffled together, in
OUT/shards/ (use `--set 'data.train_shards=["OUT/shards"]' --set data.train_manifests=[]`).

Usage:
    python recipes/pretrain/prep_pretrain.py --audioset AUDIOSET --librispeech LIBRISPEECH --out data
"""

from __future__ import annotations

import argparse
import dataclasses
import random
from pathlib import Path

from ssamba.data import Manifest, build_manifest, write_manifest, write_shards
from ssamba.errors import ManifestError

AUDIOSET_FOLDERS = {
    "balanced_train_segments": ("audioset_20k_train", "train"),
    "unbalanced_train_segments": ("audioset_2m_train", "train"),
    "eval_segments": ("audioset_eval", "valid"),
}
LIBRISPEECH_960H = ("train-clean-100", "train-clean-360", "train-other-500")
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg")


def _unlabelled(folder: Path, split: str, source: str, suffixes: tuple[str, ...]) -> Manifest:
    """Every audio file under `folder`, unlabelled, with its split and source dataset."""
    manifest = build_manifest(folder, label_from="none", extensions=suffixes)
    return Manifest(
        tuple(dataclasses.replace(e, split=split, extra={**e.extra, "source": source}) for e in manifest)
    )


def audioset_manifests(root: Path) -> dict[str, Manifest]:
    """The AudioSet folders present under `root`, by output name; at least the training ones."""
    missing = [name for name in AUDIOSET_FOLDERS if name != "eval_segments" and not (root / name).is_dir()]
    if missing:
        raise ManifestError(
            f"{root}: missing {', '.join(missing)}; expected the AudioSet download layout "
            f"({', '.join(AUDIOSET_FOLDERS)}/)"
        )
    return {
        out_name: _unlabelled(root / folder, split, "audioset", AUDIO_SUFFIXES)
        for folder, (out_name, split) in AUDIOSET_FOLDERS.items()
        if (root / folder).is_dir()
    }


def librispeech_manifest(root: Path) -> Manifest:
    """LibriSpeech 960 h: the three training subsets, all required."""
    missing = [subset for subset in LIBRISPEECH_960H if not (root / subset).is_dir()]
    if missing:
        raise ManifestError(
            f"{root}: missing LibriSpeech subset(s) {', '.join(missing)}; pass the folder that holds "
            f"{', '.join(LIBRISPEECH_960H)}"
        )
    entries: list = []
    for subset in LIBRISPEECH_960H:
        entries += _unlabelled(root / subset, "train", "librispeech", (".flac", ".wav")).entries
    return Manifest(tuple(entries))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audioset", type=Path, help="AudioSet root (balanced/unbalanced/eval folders)")
    parser.add_argument("--librispeech", type=Path, help="LibriSpeech root (the train-* subsets)")
    parser.add_argument("--out", type=Path, required=True, help="output folder for the manifests")
    parser.add_argument("--shards", type=int, metavar="N", help="also write the training clips as tar shards")
    args = parser.parse_args(argv)
    if args.audioset is None and args.librispeech is None:
        parser.error("give --audioset, --librispeech or both")
    manifests = audioset_manifests(args.audioset) if args.audioset else {}
    if args.librispeech:
        manifests["librispeech_960h"] = librispeech_manifest(args.librispeech)
    for name, manifest in manifests.items():
        path = write_manifest(manifest, args.out / f"{name}.jsonl", absolute_paths=True)
        print(f"{len(manifest)} clips -> {path}")
    if args.shards:
        train = [e for manifest in manifests.values() for e in manifest if e.split == "train"]
        random.Random(0).shuffle(train)  # shards mix the sources; the sampler reshuffles every epoch
        index = write_shards(Manifest(tuple(train)), args.out / "shards", args.shards)
        print(f"{len(train)} training clips -> {index}")


if __name__ == "__main__":
    main()
