"""The `ssamba` command: subcommands register themselves; user errors exit non-zero without a traceback."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from ssamba._version import __version__
from ssamba.errors import SsambaError

# Each entry adds one top-level subcommand to the parser; modules are imported lazily so that
# `ssamba --help` stays fast.
_SUBCOMMANDS: list[tuple[str, str]] = [
    ("ssamba.cli.data", "register"),
    ("ssamba.cli.pretrain", "register"),
    ("ssamba.cli.embed", "register"),
    ("ssamba.cli.export", "register"),
    ("ssamba.cli.bench", "register"),
    ("ssamba.cli.finetune", "register"),
    ("ssamba.cli.evaluate", "register"),
    ("ssamba.cli.predict", "register"),
    ("ssamba.cli.quickstart", "register"),
]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every working subcommand."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="ssamba",
        description="Self-supervised audio Mamba (SSAMBA) and SSAST: data, models, training, benchmarks.",
    )
    parser.add_argument("--version", action="version", version=f"ssamba {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name, function_name in _SUBCOMMANDS:
        register: Callable[[argparse._SubParsersAction], None] = getattr(
            importlib.import_module(module_name), function_name
        )
        register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except (SsambaError, OSError) as exc:  # OSError: missing files, permissions, disk full
        if args.debug:
            raise
        print(f"ssamba: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("ssamba: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
