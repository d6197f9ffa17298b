"""`ssamba quickstart`: pretrain on unlabelled FSDD, fine-tune on 10 % of the labels, compare with scratch."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ssamba.cli.arg_types import non_negative_int, positive_float, positive_int


def _default_cache() -> Path:
    return Path(os.environ.get("SSAMBA_CACHE", Path.home() / ".cache" / "ssamba"))


def _quickstart(args: argparse.Namespace) -> int:
    from ssamba.apps.quickstart import QuickstartRecipe, format_table, run_quickstart

    chosen = {"model": args.model, "seed": args.seed, "steps_scale": args.steps_scale}
    if args.depth is not None:
        chosen["depth"] = args.depth
    recipe = QuickstartRecipe(**chosen)
    results = run_quickstart(
        recipe,
        args.out,
        data=args.data,
        cache_dir=args.cache_dir,
        task=args.task,
        labels_per_class=args.labels_per_class,
    )
    print(format_table(results))
    print(f"results: {Path(args.out) / 'results.json'}, table: {Path(args.out) / 'results.md'}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `quickstart` subcommand."""
    parser = subparsers.add_parser(
        "quickstart",
        help="pretrain + few-label fine-tuning on FSDD, compared with training from scratch",
        description=(
            "Pretrains a model with MSPM on the FSDD training audio (labels unused), fine-tunes it on "
            "a few labelled takes per digit and speaker, does the same from scratch and tests both on "
            "the official test takes 0-4. Downloads FSDD unless --data is given."
        ),
    )
    parser.add_argument(
        "--data", help="FSDD folder (holding recordings/ or the wav files); default: download"
    )
    parser.add_argument("--out", default="runs/quickstart", help="output folder (default runs/quickstart)")
    parser.add_argument("--model", default="ssamba_tiny", help="registered model name (default ssamba_tiny)")
    parser.add_argument(
        "--depth",
        type=positive_int,
        default=None,
        help="model depth (default 2 = one SSAMBA layer pair; the full model is 24)",
    )
    parser.add_argument(
        "--labels-per-class",
        type=positive_int,
        default=5,
        help="labelled takes per digit and speaker (default 5 = 10 %% of the training set)",
    )
    parser.add_argument("--task", choices=("digits", "speakers"), default="digits", help="what to classify")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--cache-dir", type=Path, default=_default_cache(), help="download cache")
    parser.add_argument("--steps-scale", type=positive_float, default=1.0, help=argparse.SUPPRESS)
    parser.set_defaults(handler=_quickstart)
