"""ESC-50 manifest from the official layout: `ROOT/meta/esc50.csv` and `ROOT/audio/*.wav`.

Rows: {"audio", "label": category, "fold": "1".."5"}. Usage:
    python recipes/finetune/prep_esc50.py ESC-50-master --out data/esc50.jsonl
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from ssamba.data import ManifestEntry, write_manifest


def esc50_entries(root: Path) -> list[ManifestEntry]:
    """One entry per row of `meta/esc50.csv` (label = category, extra field fold)."""
    with (root / "meta" / "esc50.csv").open(newline="", encoding="utf-8") as handle:
        return [
            ManifestEntry(
                path=(root / "audio" / row["filename"]).absolute(),
                label=row["category"],
                extra={"fold": row["fold"]},
            )
            for row in csv.DictReader(handle)
        ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="ESC-50 folder (holding meta/ and audio/)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    print(f"{len(esc50_entries(args.root))} clips -> {write_manifest(esc50_entries(args.root), args.out)}")


if __name__ == "__main__":
    main()
