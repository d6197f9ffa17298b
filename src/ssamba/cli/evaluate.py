"""`ssamba evaluate`: metrics (accuracy, mAP, mAUC, d-prime, per class) of a classifier on a manifest."""

from __future__ import annotations

import argparse
from pathlib import Path

from ssamba.cli.arg_types import positive_int


def _evaluate(args: argparse.Namespace) -> int:
    import numpy as np

    from ssamba.data import AudioClipDataset, read_manifest
    from ssamba.data.manifests import relabel
    from ssamba.evaluation import evaluate_model, load_classifier
    from ssamba.evaluation.metrics import plot_confusion, write_metrics

    model, features, label_map = load_classifier(args.model)
    manifest = read_manifest(args.manifest, label_set=label_map.labels if args.label_key == "label" else None)
    if args.split:
        manifest = manifest.select(args.split_key, args.split)
    dataset = AudioClipDataset(relabel(manifest, args.label_key), label_map, features)
    metrics = evaluate_model(model, dataset, label_map, args.batch_size)
    out = Path(args.out) if args.out else Path(args.model) / f"eval_{args.split or 'all'}"
    write_metrics(out / "metrics.json", metrics)
    if "confusion" in metrics:
        plot_confusion(
            np.array(metrics["confusion"]), list(label_map.labels), out / "confusion.png", args.split or ""
        )
    print(
        f"{metrics['num_clips']} clips: accuracy {metrics['accuracy']:.4f}, mAP {metrics['mAP']:.4f}, "
        f"mAUC {metrics['mAUC']:.4f}, d' {metrics['d_prime']:.3f}; written to {out}"
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `evaluate` subcommand."""
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a fine-tuned classifier on a manifest",
        description="Writes metrics.json (and confusion.png for single-label tasks).",
    )
    parser.add_argument(
        "--model", required=True, help="fine-tuned model folder (save_pretrained + labels.json)"
    )
    parser.add_argument("--manifest", required=True, help="JSONL manifest")
    parser.add_argument(
        "--split", default="test", help="split value to evaluate ('' = every row; default test)"
    )
    parser.add_argument("--split-key", default="split", help="manifest field holding the split")
    parser.add_argument(
        "--label-key", default="label", help="manifest field used as the label (e.g. speaker)"
    )
    parser.add_argument("--batch-size", type=positive_int, default=32, help="clips per forward pass")
    parser.add_argument("--out", help="output folder (default MODEL/eval_<split>)")
    parser.set_defaults(handler=_evaluate)
