"""`ssamba pretrain`: MSPM self-supervised pretraining from a YAML/JSON recipe (one process or torchrun)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ssamba.cli.run_options import add_run_options


def _pretrain(args: argparse.Namespace) -> int:
    from ssamba.dataclass_io import load_config
    from ssamba.training.config import PretrainConfig
    from ssamba.training.pretrain import run_pretrain

    config = load_config(PretrainConfig, args.config, args.overrides)
    out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    result = run_pretrain(config, out, resume=args.resume, overwrite=args.overwrite)
    if result.signum is not None:
        print(f"stopped at step {result.step}; continue with: --resume --out {out}")
        return 128 + result.signum
    print(f"finished at step {result.step}; final model in {out / 'final'}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `pretrain` subcommand."""
    parser = subparsers.add_parser(
        "pretrain",
        help="self-supervised MSPM pretraining",
        description=(
            "Masked spectrogram patch modelling (SSAST/SSAMBA). Runs under torchrun for DDP, e.g. "
            "torchrun --standalone --nproc-per-node=4 -m ssamba.cli.main pretrain --config C.yaml"
        ),
    )
    add_run_options(parser, "recipe file (YAML or JSON)", "train.max_steps=100")
    parser.set_defaults(handler=_pretrain)
