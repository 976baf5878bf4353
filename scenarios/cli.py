"""The ``opsim`` command line: simulate, audience, serve, demo, run, scenarios (defined in ``scenarios.commands``).

Parses arguments, turns bad input into one line naming the problem with exit code 2 (never a traceback),
and delegates to the layers below. Outputs are written to a temporary place first and moved into position
only when complete, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from gateway.core.arguments import EXIT_USAGE, OneLineParser, UsageError, version
from scenarios import commands
from simulator.errors import SimulatorError

Command = Callable[[argparse.Namespace], int]


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Command]]:
    """The parser with every subcommand, and the function that runs each."""
    parser = OneLineParser(prog="opsim", description="A simulated mobile operator.")
    parser.add_argument("--version", action="version", version=f"opsim {version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
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
        from gateway.http.serve import main as serve_main

        return serve_main(args_list[1:])
    parser, handlers = build_parser()
    try:
        try:
            args = parser.parse_args(args_list)
        except SystemExit as done:  # --help and --version print, then argparse exits: return its code instead
            return int(done.code or 0)
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
