"""IEMOCAP 4-class emotion manifest from `ROOT/Session<k>/dialog/EmoEvaluation/*.txt` and
`ROOT/Session<k>/sentences/wav/<dialog>/<turn>.wav`: neutral, happy (+ excited), sad, angry;
other emotions dropped (SUPERB convention); field `session` ("1".."5") for leave-one-session-out.

Usage:
    python recipes/finetune/prep_iemocap.py IEMOCAP_full_release --out data/iemocap.jsonl
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ssamba.data import ManifestEntry, write_manifest

EMOTIONS = {"neu": "neutral", "hap": "happy", "exc": "happy", "sad": "sad", "ang": "angry"}
LINE = re.compile(r"^\[[\d.]+ - [\d.]+\]\t(?P<turn>\S+)\t(?P<emotion>\w+)\t")


def iemocap_entries(root: Path) -> list[ManifestEntry]:
    """Utterances of the four classes with their session and speaker (session + gender letter)."""
    entries = []
    for session in range(1, 6):
        folder = root / f"Session{session}"
        for evaluation in sorted((folder / "dialog" / "EmoEvaluation").glob("*.txt")):
            for line in evaluation.read_text(encoding="utf-8", errors="replace").splitlines():
                match = LINE.match(line)
                if not match or match["emotion"] not in EMOTIONS:
                    continue
                turn = match["turn"]
                dialog = turn.rsplit("_", 1)[0]
                wav = folder / "sentences" / "wav" / dialog / f"{turn}.wav"
                entries.append(
                    ManifestEntry(
                        path=wav.absolute(),
                        label=EMOTIONS[match["emotion"]],
                        speaker=f"{session}{turn.rsplit('_', 1)[1][0]}",
                        extra={"session": str(session)},
                    )
                )
    return entries


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    entries = iemocap_entries(args.root)
    print(f"{len(entries)} utterances -> {write_manifest(entries, args.out)}")


if __name__ == "__main__":
    main()
