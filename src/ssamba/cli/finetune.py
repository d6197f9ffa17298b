"""`ssamba finetune`: supervised fine-tuning or linear probing from a YAML/JSON recipe."""

from __future__ import annotations

import argparse
from pathlib import Path


def _finetune(args: argparse.Namespace) -> int:
    from ssamba.config import load_config
    from ssamba.training.finetune import run_finetune
    from ssamba.training.finetune_config import FinetuneConfig

    overrides = list(args.overrides)
    if args.init is not None:
        overrides.append(f"init={args.init}")
    if args.split_key is not None:
        overrides.append(f"data.split_key={args.split_key}")
    config = load_config(FinetuneConfig, args.config, overrides)
    out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    summary = run_finetune(config, out, resume=args.resume)
    test = summary["test"]
    if test is not None:
        print(f"test accuracy {test['accuracy']:.4f}, mAP {test['mAP']:.4f} ({summary['selection']})")
    print(f"final model in {out / 'final'}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `finetune` subcommand."""
    parser = subparsers.add_parser(
        "finetune",
        help="fine-tune or linear-probe a classifier",
        description="Supervised fine-tuning (official PSLA-style recipe) or a linear probe (mode: linear).",
    )
    parser.add_argument("--config", required=True, help="recipe file (YAML or JSON), see recipes/finetune/")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set train.epochs=5 (repeatable)",
    )
    parser.add_argument("--init", help="official .pth, model folder (pretraining or fine-tuned) or 'scratch'")
    parser.add_argument("--split-key", help="manifest field that holds the split (default: split)")
    parser.add_argument("--out", help="run folder (default runs/<config name>)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.pt")
    parser.set_defaults(handler=_finetune)
