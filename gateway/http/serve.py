"""``opsim serve``: build the world, open (or restore) the database, serve the gateway until SIGINT/SIGTERM.

Owns the command-line options of serving and their validation (bad input is one line naming the option, exit
code 2, never a traceback), logging set-up for the process, and the start/stop sequence. It must not contain
gateway behaviour: that is ``create_app``'s.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from pathlib import Path

from aiohttp import web

from gateway.core.arguments import EXIT_USAGE, OneLineParser, UsageError, instant, int_in, number_in, output_file
from gateway.core.config import ConfigError, load_settings
from gateway.core.settings import ADMIN_TOKEN_ENV, Settings, default_admin_token
from gateway.core.store import StoreError
from gateway.http.app import GatewayRunner, create_app
from simulator.errors import SimulatorError
from simulator.world import World, WorldConfig

_positive_float = number_in(0, 1_000_000, low_inclusive=False)


def build_parser() -> argparse.ArgumentParser:
    """Options of ``opsim serve``."""
    p = OneLineParser(prog="opsim serve", description="Serve the simulated operator's gateway.")
    p.add_argument("--city", default="moscow", help="city preset (default moscow)")
    p.add_argument("--subscribers", type=int_in(1, 5_000_000), default=100_000, help="population (default 100000)")
    p.add_argument("--seed", type=int_in(0, 2**63 - 1), default=0, help="root seed (default 0)")
    p.add_argument("--locale", default=None, help="Faker locale of names and e-mails (default: the city's)")
    p.add_argument("--start", type=instant, default=None, help="sim start, ISO 8601 (default 2026-06-01T06:00Z)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int_in(0, 65535), default=8080, help="TCP port, 0 for any free one (default 8080)")
    p.add_argument("--db", default="opsim.db", help="SQLite database (default ./opsim.db)")
    p.add_argument("--clock", choices=("manual", "paced"), default="paced", help="clock mode (default paced)")
    p.add_argument("--pace", type=_positive_float, default=60.0,
                   help="sim seconds per wall second in paced mode (default 60)")
    p.add_argument("--config", default=None,
                   help="operator settings file (YAML or JSON): campaign policy, verify, messages, webhooks, ...")
    p.add_argument("--admin-token", default=None,
                   help=f"admin API token (default ${ADMIN_TOKEN_ENV}, else a random one)")
    return p


async def _serve(app: web.Application, host: str, port: int, banner: list[str]) -> None:
    runner = GatewayRunner(app, access_log=None, handle_signals=False)  # our middleware writes the access log
    await runner.setup()  # opens the store and restores the world; may raise StoreError
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0]
        url = f"http://{host}:{bound[1]}"
        print("\n".join(line.format(url=url) for line in banner), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        print("opsim serve: stopping", flush=True)
    finally:
        await runner.cleanup()  # checkpoints the clock and closes the store


def main(argv: list[str]) -> int:
    """Run ``opsim serve`` with ``argv`` (without the program and command names); returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        if args.admin_token is not None and not args.admin_token.strip():
            raise UsageError("argument --admin-token: must not be empty")
        if args.db != ":memory:":  # before the world is built: a bad place costs nothing
            output_file(Path(args.db), "--db")
        settings = Settings(host=args.host, port=args.port, db_path=args.db,
                            admin_token=args.admin_token or default_admin_token(), clock_mode=args.clock,
                            pace_factor=args.pace)
        if args.config is not None:  # before the world is built: a bad file costs nothing
            settings = load_settings(args.config, settings)
        config = WorldConfig(city=args.city, subscribers=args.subscribers, seed=args.seed, locale=args.locale)
        if args.start is not None:
            config.start = args.start
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                            stream=sys.stderr)
        started = time.monotonic()
        world = World.build(config)
        built = time.monotonic() - started
    except (UsageError, ConfigError) as exc:
        print(f"opsim serve: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SimulatorError as exc:
        print(f"opsim serve: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    summary = world.summary()
    pace = f"paced {args.pace:g}x" if args.clock == "paced" else "manual"
    banner = [
        f"opsim gateway: {summary.city}, {summary.subscribers:,} subscribers, {summary.cells:,} cells, "
        f"seed {args.seed}; world built in {built:.1f} s",
        "  url:         {url}",
        "  docs:        {url}/docs",
        f"  admin token: {settings.admin_token}",
        f"  clock:       {pace}; database {args.db}",
    ]
    try:
        asyncio.run(_serve(create_app(world, settings), args.host, args.port, banner))
    except StoreError as exc:
        print(f"opsim serve: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"opsim serve: error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
