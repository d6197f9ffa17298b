"""AudioSet manifest from official SSAST datafiles (`{"data": [{"wav", "labels"}]}`) and
`class_labels_indices.csv`: training rows get split `train`, `--eval-datafile` rows split `eval`.

Usage:
    python recipes/finetune/prep_audioset.py --datafile balanced_train.json --eval-datafile eval.json \
        --label-csv class_labels_indices.csv --out data/as20k.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ssamba.data import ManifestEntry, read_ssast_datafile, write_manifest


def audioset_entries(datafile: Path, eval_datafile: Path | None, label_csv: Path) -> list[ManifestEntry]:
    """Multi-label entries of both datafiles with their split."""
    entries = [dataclasses.replace(e, split="train") for e in read_ssast_datafile(datafile, label_csv)]
    if eval_datafile is not None:
        entries += [
            dataclasses.replace(e, split="eval") for e in read_ssast_datafile(eval_datafile, label_csv)
        ]
    return entries


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datafile", type=Path, required=True)
    parser.add_argument("--eval-datafile", type=Path)
    parser.add_argument("--label-csv", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    entries = audioset_entries(args.datafile, args.eval_datafile, args.label_csv)
    print(f"{len(entries)} clips -> {write_manifest(entries, args.out)}")


if __name__ == "__main__":
    main()
