"""``opsim serve``: build the world, open (or restore) the database, serve the gateway until SIGINT/SIGTERM.

Owns the command-line options of serving and their validation (bad input is one line naming the option, exit
code 2, never a traceback), logging set-up for the process, and the start/stop sequence. It must not contain
gateway behaviour: that is ``create_app``'s.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
import time
from pathlib import Path

from aiohttp import web

from gateway.client import AdminClient, ApiError
from gateway.core.arguments import (
    EXIT_USAGE,
    OneLineParser,
    UsageError,
    instant,
    int_in,
    needs_module,
    number_in,
    output_file,
)
from gateway.core.config import ConfigError, load_settings
from gateway.core.seed import SeedError, load_seed
from gateway.core.settings import ADMIN_TOKEN_ENV, Settings, default_admin_token
from gateway.core.store import StoreError
from gateway.http.app import GatewayRunner, create_app
from gateway.http.recording import start_recording
from gateway.wire.seed import SeedData
from simulator.city import COUNTRY_PRESETS, City, city_from_geojson, country_preset_key
from simulator.errors import SimulatorError
from simulator.served_shards import ServedShardedWorld
from simulator.world import World, WorldConfig

_positive_float = number_in(0, 1_000_000, low_inclusive=False)


def build_parser() -> argparse.ArgumentParser:
    """Options of ``opsim serve``."""
    p = OneLineParser(prog="opsim serve", description="Serve the simulated operator's gateway.")
    p.add_argument("--city", default="moscow", help="city preset (default moscow)")
    p.add_argument("--subscribers", type=int_in(1, 2**31 - 1), default=100_000,
                   help="population (default 100000; the numbering plan and memory are the limits)")
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
    p.add_argument("--geojson", default=None,
                   help="custom city: a GeoJSON Polygon file, with --center LAT,LON and --country CODE "
                        "(default: the --city preset)")
    p.add_argument("--center", default=None, help="custom city centre as LAT,LON (with --geojson)")
    p.add_argument("--country", default=None,
                   help="a country preset instead of --city: south-korea, russia, germany (or KR, RU, DE); with "
                        "--geojson, the custom city's ISO country code, e.g. DE")
    p.add_argument("--fictional-numbers", action="store_true",
                   help="MSISDNs under the unassigned country code +999 and IMSIs of the test network MCC 001 MNC 01 "
                        "(default: the country's real formats)")
    p.add_argument("--seed-data", default=None,
                   help="partners and test phones to create at start (YAML or JSON; see the README); partners' "
                        "credentials are printed once")
    p.add_argument("--record", default=None,
                   help="record every partner request and answer and every admin move to this JSON Lines file "
                        "(secrets redacted; `opsim record-to-scenario` replays it; default: no recording)")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: the world in this process; ray: sharded by subscriber block on Ray actors "
                        "(the same answers)")
    p.add_argument("--workers", type=int_in(1, 1024), help="--engine ray: number of shards (default 2)")
    p.add_argument("--address", help="--engine ray: address of an existing Ray cluster (default: start a local Ray)")
    return p


def build_world(config: WorldConfig, engine: str = "local", workers: int | None = None,
                address: str | None = None) -> World:
    """The world ``config`` builds: in this process, or (``engine="ray"``) sharded on Ray actors."""
    if engine != "ray":
        if workers is not None or address is not None:
            raise UsageError("--workers and --address need --engine ray")
        return World.build(config)
    needs_module("ray", "--engine ray", "ray")
    from simulator.ray_shards import RayPool
    from simulator.served_shards import ServedShard

    config.validate()  # before Ray starts: a bad config costs nothing
    pool = RayPool(config, workers or 2, address=address, shard_class=ServedShard)
    try:
        return ServedShardedWorld(config, pool)
    except BaseException:
        pool.close()
        raise


def _custom_city(args: argparse.Namespace) -> City | None:
    """The ``--geojson`` city, or ``None`` for a preset; bad options are :class:`UsageError`."""
    if args.geojson is None:
        if args.center is not None:
            raise UsageError("--center goes with --geojson")
        if args.country is not None and country_preset_key(args.country) is None:
            raise UsageError(f"--country: unknown country {args.country!r}; presets: "
                             f"{', '.join(sorted(COUNTRY_PRESETS))} (or KR, RU, DE)")
        return None
    if not args.center or not args.country:
        raise UsageError("--geojson needs --center LAT,LON and --country CODE")
    try:
        lat_s, lon_s = args.center.split(",")
        lat, lon = float(lat_s), float(lon_s)
    except ValueError:
        raise UsageError(f"--center: expected LAT,LON, got {args.center!r}") from None
    return city_from_geojson(args.geojson, Path(args.geojson).stem, lat, lon, args.country)


async def apply_seed(url: str, admin_token: str, seed: SeedData) -> list[str]:
    """Create the seed's partners and test phones through the admin API; lines to print (credentials once).

    Entries already there (a restart with the same ``--db``) are left as they are: a partner of the same name
    is not created again (its secret cannot be shown again), a test phone already added is kept.
    """
    lines: list[str] = []
    async with AdminClient(url, admin_token) as admin:
        existing = {p.name: p for p in await admin.partners()}
        for k, entry in enumerate(seed.partners):
            if entry.name in existing:
                known = existing[entry.name]
                lines.append(f"  partner {entry.name}: exists ({known.id}, client id {known.client_id}; "
                             "secret shown when it was created)")
                continue
            try:
                created = await admin.create_partner(entry.name, entry.scopes, entry.limits)
                line = (f"  partner {entry.name}: id {created.id}, client id {created.client_id}, "
                        f"client secret {created.client_secret}")
                if entry.api_key:
                    line += f", api key {(await admin.issue_api_key(created.id)).key}"
            except ApiError as exc:
                raise SeedError(f"--seed-data: partners[{k}]: {exc.status} {exc.code}: {exc.message}") from None
            lines.append(line)
        for k, phone in enumerate(seed.test_phones):
            try:
                await admin.add_test_subscriber(phone.msisdn, profile=phone.profile, consent=phone.consent,
                                                latitude=phone.latitude, longitude=phone.longitude)
            except ApiError as exc:
                if exc.status != 409:
                    raise SeedError(f"--seed-data: testPhones[{k}]: {exc.status} {exc.code}: {exc.message}") from None
                lines.append(f"  test phone {phone.msisdn}: exists")
                continue
            lines.append(f"  test phone {phone.msisdn}: added")
    return lines


def freeze_startup_heap() -> None:
    """Take everything alive once the gateway has started (the world, the restored services) out of the garbage
    collector's sight, as long-running servers do (``gc.freeze``).

    Those objects live as long as the process. Otherwise every full collection walks them all again (about 40 ms at
    100,000 subscribers), a pause every request in flight waits out. Garbage made afterwards is collected as before.
    """
    gc.collect()
    gc.freeze()


async def _serve(app: web.Application, host: str, port: int, banner: list[str], seed: SeedData | None = None,
                 admin_token: str = "") -> None:
    runner = GatewayRunner(app, access_log=None, handle_signals=False)  # our middleware writes the access log
    await runner.setup()  # opens the store and restores the world; may raise StoreError
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0]
        url = f"http://{host}:{bound[1]}"
        print("\n".join(line.format(url=url) for line in banner), flush=True)
        if seed is not None:
            print("  seed data:", flush=True)
            print("\n".join(await apply_seed(f"http://127.0.0.1:{bound[1]}" if host in ("0.0.0.0", "::") else url,
                                              admin_token, seed)), flush=True)
        freeze_startup_heap()
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
        seed = load_seed(args.seed_data) if args.seed_data is not None else None  # likewise
        if args.record is not None:  # likewise
            output_file(Path(args.record), "--record")
        custom = _custom_city(args)
        config = WorldConfig(city=args.city, subscribers=args.subscribers, seed=args.seed, locale=args.locale,
                             fictional_numbers=args.fictional_numbers, custom_city=custom,
                             country=None if custom is not None else args.country)
        if args.start is not None:
            config.start = args.start
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                            stream=sys.stderr)
        started = time.monotonic()
        world = build_world(config, args.engine, args.workers, args.address)
        built = time.monotonic() - started
    except (UsageError, ConfigError, SeedError) as exc:
        print(f"opsim serve: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SimulatorError as exc:
        print(f"opsim serve: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    summary = world.summary()
    pace = f"paced {args.pace:g}x" if args.clock == "paced" else "manual"
    banner = [
        f"opsim gateway: {summary.city}, {summary.subscribers:,} subscribers, {summary.cells:,} cells, "
        f"seed {args.seed}; world built in {built:.1f} s"
        + (f" ({len(world.rows)} shards on Ray)" if isinstance(world, ServedShardedWorld) else ""),
        "  url:         {url}",
        "  docs:        {url}/docs",
        f"  admin token: {settings.admin_token}",
        f"  clock:       {pace}; database {args.db}",
        "  console:     {url}/console (open it with #token=<admin token>, or paste the token)",
    ]
    try:
        return _run(world, settings, args, banner, seed)
    finally:
        if isinstance(world, ServedShardedWorld):
            world.close()  # the shards' actors (and the local Ray started for them)


def _run(world: World, settings: Settings, args: argparse.Namespace, banner: list[str],
         seed: SeedData | None) -> int:
    app = create_app(world, settings)
    if args.record is not None:
        try:
            start_recording(app, Path(args.record))
        except OSError as exc:
            print(f"opsim serve: error: --record: cannot open {args.record}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
        banner.append(f"  recording:   {args.record}")
    try:
        asyncio.run(_serve(app, args.host, args.port, banner, seed, settings.admin_token))
    except (StoreError, SeedError) as exc:
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
