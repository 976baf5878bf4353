"""The ``opsim`` command line: simulate, audience, serve, demo.

Parses arguments, turns bad input into one line naming the problem with exit code 2 (never a traceback),
and delegates to the layers below. Outputs are written to a temporary place first and moved into position
only when complete, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import NoReturn

from simulator.errors import SimulatorError

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def parse_instant(text: str) -> datetime:
    """Parse an RFC 3339 / ISO 8601 instant; a missing zone means UTC."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 instant: {text!r}") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def positive_int(text: str) -> int:
    """An integer ≥ 1."""
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An integer ≥ 0."""
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from exc
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def rate(text: str) -> float:
    """A share between 0 and 1."""
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


Command = Callable[[argparse.Namespace], int]


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Command]]:
    """The parser with every subcommand, and the function that runs each."""
    from scenarios import commands

    parser = _Parser(prog="opsim", description="A simulated mobile operator.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    handlers: dict[str, Command] = {}
    for name, (configure, run, help_text) in commands.COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        configure(p)
        handlers[name] = run
    return parser, handlers


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``opsim`` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["serve"]:
        # The gateway owns its options; hand them over untouched (argparse would swallow leading flags).
        from gateway.serve import main as serve_main

        return serve_main(args_list[1:])
    parser, handlers = build_parser()
    try:
        args = parser.parse_args(args_list)
        return handlers[args.command](args)
    except UsageError as exc:
        print(f"opsim: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SimulatorError as exc:
        print(f"opsim: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
