"""`ssamba predict`: top-k classes of audio files with a fine-tuned classifier (JSON or CSV)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from ssamba.cli.arg_types import positive_int
from ssamba.cli.embed import collect_audio_files


def predict_files(model_dir: str, files: list[Path], top_k: int) -> list[dict]:
    """One record per file: {"file", "predictions": [{"label", "score"}, ...]} best first."""
    import torch

    from ssamba.audio import load_audio
    from ssamba.evaluation import load_classifier
    from ssamba.features import extract_features

    model, features, label_map = load_classifier(model_dir)
    k = min(top_k, len(label_map))
    records = []
    with torch.no_grad():
        for path in files:
            fbank = extract_features(load_audio(path, features.sample_rate, mono=True), features)
            logits = model(fbank.unsqueeze(0))[0]
            scores = logits.sigmoid() if label_map.multi_label else logits.softmax(-1)
            values, indices = scores.topk(k)
            records.append(
                {
                    "file": str(path),
                    "predictions": [
                        {"label": label_map.decode(int(i)), "score": round(float(v), 6)}
                        for v, i in zip(values, indices, strict=True)
                    ],
                }
            )
    return records


def _predict(args: argparse.Namespace) -> int:
    records = predict_files(args.model, collect_audio_files(args.inputs), args.top_k)
    if args.format == "json":
        json.dump(records, sys.stdout, indent=2)
        print()
    else:
        writer = csv.writer(sys.stdout)
        writer.writerow(["file", "rank", "label", "score"])
        for record in records:
            for rank, item in enumerate(record["predictions"], start=1):
                writer.writerow([record["file"], rank, item["label"], item["score"]])
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `predict` subcommand."""
    parser = subparsers.add_parser("predict", help="classify audio files with a fine-tuned model")
    parser.add_argument("--model", required=True, help="fine-tuned model folder")
    parser.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR", help="audio files or folders")
    parser.add_argument("--top-k", type=positive_int, default=5, help="classes per file (default 5)")
    parser.add_argument("--format", choices=("json", "csv"), default="json")
    parser.set_defaults(handler=_predict)
