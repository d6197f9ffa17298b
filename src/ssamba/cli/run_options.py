"""Options shared by the training subcommands: recipe, `--set` overrides, run folder, resume or overwrite."""

from __future__ import annotations

import argparse


def add_run_options(parser: argparse.ArgumentParser, config_help: str, override_example: str) -> None:
    """Add `--config`, `--set KEY=VALUE` (repeatable), `--out` and `--resume` or `--overwrite` to `parser`."""
    parser.add_argument("--config", required=True, help=config_help)
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a config key, e.g. --set {override_example} (repeatable)",
    )
    parser.add_argument("--out", help="run folder (default runs/<config name>); one run at a time")
    reuse = parser.add_mutually_exclusive_group()
    reuse.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.pt")
    reuse.add_argument(
        "--overwrite",
        action="store_true",
        help="delete an earlier run's outputs in OUT and start afresh (without it such a folder is refused)",
    )
