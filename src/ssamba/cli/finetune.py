"""`ssamba finetune`: supervised fine-tuning or linear probing from a YAML/JSON recipe."""

from __future__ import annotations

import argparse
from pathlib import Path

from ssamba.cli.run_options import add_run_options


def _finetune(args: argparse.Namespace) -> int:
    from ssamba.dataclass_io import load_config
    from ssamba.training.finetune import run_finetune
    from ssamba.training.finetune_config import FinetuneConfig

    overrides = list(args.overrides)
    if args.init is not None:
        overrides.append(f"init={args.init}")
    if args.split_key is not None:
        overrides.append(f"data.split_key={args.split_key}")
    config = load_config(FinetuneConfig, args.config, overrides)
    out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    result = run_finetune(config, out, resume=args.resume, overwrite=args.overwrite)
    if result.signum is not None:
        print(f"stopped at step {result.step}; continue with: --resume --out {out}")
        return 128 + result.signum
    test = result.summary["test"]
    if test is not None:
        print(f"test accuracy {test['accuracy']:.4f}, mAP {test['mAP']:.4f} ({result.summary['selection']})")
    print(f"final model in {out / 'final'}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `finetune` subcommand."""
    parser = subparsers.add_parser(
        "finetune",
        help="fine-tune or linear-probe a classifier",
        description="Supervised fine-tuning (official PSLA-style recipe) or a linear probe (mode: linear).",
    )
    add_run_options(parser, "recipe file (YAML or JSON), see recipes/finetune/", "train.epochs=5")
    parser.add_argument(
        "--init", help="pretrained tag (e.g. ssamba_tiny_400), official .pth, model folder or 'scratch'"
    )
    parser.add_argument("--split-key", help="manifest field that holds the split (default: split)")
    parser.set_defaults(handler=_finetune)
