"""argparse `type=` checks for numeric options: a bad value stops the command before any work, naming
the option (`ssamba CMD: error: argument --batch-size: ...`, exit 2), instead of failing later."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
Number = TypeVar("Number", int, float)


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _at_least(convert: Callable[[str], Number], minimum: Number, what: str) -> Callable[[str], Number]:
    """Parser that converts with `convert`, then refuses values below `minimum`."""

    def parse(text: str) -> Number:
        value = convert(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {what} >= {minimum:g}, got {text!r}")
        return value

    return parse


def int_at_least(minimum: int) -> Callable[[str], int]:
    """Parser of an integer >= `minimum`."""
    return _at_least(_integer, minimum, "an integer")


def float_at_least(minimum: float) -> Callable[[str], float]:
    """Parser of a finite number >= `minimum`."""
    return _at_least(_finite, minimum, "a finite number")


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def csv_of(item: Callable[[str], T]) -> Callable[[str], tuple[T, ...]]:
    """Parser of a comma-separated list whose items each pass `item`."""

    def parse(text: str) -> tuple[T, ...]:
        return tuple(item(part.strip()) for part in text.split(",") if part.strip())

    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)
