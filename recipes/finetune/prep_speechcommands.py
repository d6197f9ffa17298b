"""Speech Commands manifest from the official layout: `ROOT/<word>/<file>.wav`, `validation_list.txt`,
`testing_list.txt` (files listed in neither are `train`); `_background_noise_` is not a word.

`--classes 35` (V2) or `30` (V1): every word is a class. `--classes 12` (SUPERB KS1): the ten
commands, other words as `_unknown_`, and `_silence_` clips cut from the background-noise files
(1-s segments with start/end; DERIVED: SUPERB draws random 1-s crops instead). Usage:
    python recipes/finetune/prep_speechcommands.py speech_commands_v0.02 --classes 35 --out data/sc.jsonl
"""

from __future__ import annotations

import argparse
from pathlib import Path

import soundfile as sf

from ssamba.data import ManifestEntry, write_manifest

COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
NOISE = "_background_noise_"


def _listed(root: Path, name: str) -> set[str]:
    path = root / name
    return set(path.read_text(encoding="utf-8").split()) if path.is_file() else set()


def _silence(root: Path, split_of_noise: dict[str, str]) -> list[ManifestEntry]:
    entries = []
    for wav in sorted((root / NOISE).glob("*.wav")):
        seconds = int(sf.info(str(wav)).duration)
        split = split_of_noise.get(wav.name, "train")
        entries += [
            ManifestEntry(
                path=wav.absolute(), label="_silence_", split=split, start=float(s), end=float(s + 1)
            )
            for s in range(seconds)
        ]
    return entries


def speechcommands_entries(root: Path, classes: int) -> list[ManifestEntry]:
    """Entries of every word clip (and silence segments for 12 classes) with their split."""
    valid, test = _listed(root, "validation_list.txt"), _listed(root, "testing_list.txt")
    entries = []
    for wav in sorted(root.glob("*/*.wav")):
        word = wav.parent.name
        if word == NOISE:
            continue
        relative = f"{word}/{wav.name}"
        split = "valid" if relative in valid else "test" if relative in test else "train"
        label = word if classes != 12 or word in COMMANDS else "_unknown_"
        entries.append(ManifestEntry(path=wav.absolute(), label=label, split=split))
    if classes == 12:
        noise_files = sorted(p.name for p in (root / NOISE).glob("*.wav"))
        # one noise file each for valid and test, the rest for training (DERIVED split)
        split_of_noise = dict(zip(noise_files[-2:], ("valid", "test"), strict=False))
        entries += _silence(root, split_of_noise)
    found = len({e.label for e in entries})
    if found != classes:
        raise SystemExit(f"{root}: found {found} classes, expected {classes}; check --classes and the layout")
    return entries


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--classes", type=int, choices=(12, 30, 35), required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    entries = speechcommands_entries(args.root, args.classes)
    print(f"{len(entries)} clips -> {write_manifest(entries, args.out)}")


if __name__ == "__main__":
    main()
