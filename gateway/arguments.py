"""Command-line argument types and the parser whose errors are one line, shared by every ``opsim`` command.

Owns parsing of instants, bounded integers and numbers for argparse, and :class:`UsageError` (printed as one
line, exit code 2). ``gateway.serve`` uses it, and so does ``scenarios.cli`` (scenarios may import the gateway,
not the other way round).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NoReturn

from gateway.wire import in_range

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser that raises :class:`UsageError` instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def instant(text: str) -> datetime:
    """An RFC 3339 / ISO 8601 instant in the accepted range (``gateway.wire.INSTANT_RANGE``); no zone means UTC."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 instant: {text!r}") from exc
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return in_range(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}: {text!r}") from None


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer between ``low`` and ``high`` inclusive."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from exc
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def number_in(low: float, high: float, *, low_inclusive: bool = True) -> Callable[[str], float]:
    """An argparse type: a number in [``low``, ``high``] (or (``low``, ``high``] when not ``low_inclusive``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
        above = value >= low if low_inclusive else value > low
        if not (above and value <= high):
            opening = "[" if low_inclusive else "("
            raise argparse.ArgumentTypeError(f"must be in {opening}{low:g}, {high:g}], got {value:g}")
        return value

    return parse
