"""VoxCeleb1 identification manifest: `ROOT/wav/<id>/<video>/<n>.wav` and `iden_split.txt`
(lines `1|2|3 id10001/<video>/<n>.wav` = train / valid / test). The speaker id is the label.

Usage:
    python recipes/finetune/prep_voxceleb1.py VoxCeleb1 --split-file iden_split.txt --out data/vox1.jsonl
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ssamba.data import ManifestEntry, write_manifest

SPLITS = {"1": "train", "2": "valid", "3": "test"}


def voxceleb1_entries(root: Path, split_file: Path) -> list[ManifestEntry]:
    """One entry per line of the identification split file."""
    entries = []
    for number, line in enumerate(split_file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        code, relative = line.split()
        if code not in SPLITS:
            raise SystemExit(f"{split_file}:{number}: split code {code!r} is not 1, 2 or 3")
        speaker = relative.split("/")[0]
        entries.append(
            ManifestEntry(
                path=(root / "wav" / relative).absolute(), label=speaker, speaker=speaker, split=SPLITS[code]
            )
        )
    return entries


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--split-file", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    entries = voxceleb1_entries(args.root, args.split_file)
    print(f"{len(entries)} clips -> {write_manifest(entries, args.out)}")


if __name__ == "__main__":
    main()
