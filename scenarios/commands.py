"""The subcommands of ``opsim``: each is (configure parser, run, one-line help).

Owns argument definitions and their translation into calls of the simulator, gateway and scenario layers.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from gateway.core.arguments import (
    UsageError,
    format_for,
    instant,
    int_in,
    needs_module,
    number_in,
    output_dir,
    output_file,
)
from scenarios import partners_cli, recorded
from simulator.world import DEFAULT_START, WorldConfig

# Argument types: a bad value is one line naming the option (gateway.core.arguments), never a traceback.
parse_instant = instant
positive_int = int_in(1, 2**63 - 1)
non_negative_int = int_in(0, 2**63 - 1)
rate = number_in(0.0, 1.0)


def _world_args(p: argparse.ArgumentParser, subscribers_flag: str = "--subscribers", default_n: int = 100_000) -> None:
    p.add_argument("--city", default="moscow", help="city preset: moscow, seoul, berlin, new-york")
    p.add_argument("--geojson", type=Path, help="custom city: a GeoJSON Polygon file (with --center and --country)")
    p.add_argument("--center", help="custom city centre as LAT,LON")
    p.add_argument("--country", help="a country preset instead of --city: south-korea, russia, germany (or KR, "
                                      "RU, DE); with --geojson, the custom city's ISO code (RU, KR, DE, US, GB, FR)")
    p.add_argument(subscribers_flag, dest="subscribers", type=positive_int, default=default_n,
                   help="number of subscribers")
    p.add_argument("--seed", type=non_negative_int, default=0, help="root random seed")
    p.add_argument("--locale", help="Faker locale of names and e-mails, e.g. en_GB (default: the city's)")
    p.add_argument("--fictional-numbers", action="store_true",
                   help="give subscribers numbers under the unassigned country code +999 and SIMs (IMSIs) of the "
                        "test network MCC 001 MNC 01")


def _world_config(args: argparse.Namespace) -> WorldConfig:
    from simulator.city import city_from_geojson

    custom = None
    if args.geojson is not None:
        if not args.center or not args.country:
            raise UsageError("--geojson needs --center LAT,LON and --country CODE")
        try:
            lat_s, lon_s = args.center.split(",")
            lat, lon = float(lat_s), float(lon_s)
        except ValueError as exc:
            raise UsageError(f"--center: expected LAT,LON, got {args.center!r}") from exc
        custom = city_from_geojson(args.geojson, args.geojson.stem, lat, lon, args.country)
    start = getattr(args, "start", None) or DEFAULT_START
    return WorldConfig(city=args.city, subscribers=args.subscribers, seed=args.seed, start=start,
                       tick_seconds=getattr(args, "tick", 60), fictional_numbers=args.fictional_numbers,
                       custom_city=custom, locale=args.locale, country=None if custom else args.country)


def _check_city(args: argparse.Namespace) -> None:
    from simulator.city import COUNTRY_PRESETS, PRESETS, country_preset_key

    if args.geojson is None and args.country is not None:
        if country_preset_key(args.country) is None:
            raise UsageError(f"--country: unknown country {args.country!r}; presets: "
                             f"{', '.join(sorted(COUNTRY_PRESETS))} (or KR, RU, DE)")
        return
    if args.geojson is None and args.city.lower() not in PRESETS:
        raise UsageError(f"--city: unknown city {args.city!r}; presets: {', '.join(sorted(PRESETS))}")


# -- simulate ------------------------------------------------------------------------------------------
def _configure_simulate(p: argparse.ArgumentParser) -> None:
    _world_args(p)
    p.add_argument("--days", type=float, required=True, help="simulated days to run")
    p.add_argument("--tick", type=positive_int, default=60, help="tick length in seconds")
    p.add_argument("--start", type=parse_instant, default=DEFAULT_START, help="start instant (ISO 8601)")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv", help="table format")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: one process; ray: the world sharded by subscriber block on Ray actors (same files)")
    p.add_argument("--workers", type=int_in(1, 1024), help="--engine ray: number of shards (default 2)")
    p.add_argument("--address", help="--engine ray: address of an existing Ray cluster (default: start a local Ray)")


def _run_simulate(args: argparse.Namespace) -> int:
    from scenarios.simulate import run_simulation

    _check_city(args)
    if not 0 < args.days <= 60:
        raise UsageError(f"--days: must be in (0, 60], got {args.days}")
    output_dir(args.out, "--out")
    if args.format == "parquet":
        needs_module("pyarrow", "--format parquet", "research")
    if args.engine == "ray":
        from scenarios.simulate_sharded import run_sharded_simulation
        from simulator.ray_shards import RayPool

        needs_module("ray", "--engine ray", "ray")
        workers = args.workers or 2

        def make_pool(config: WorldConfig, history_ticks: int | None) -> RayPool:
            return RayPool(config, workers, address=args.address, history_ticks=history_ticks)

        result = run_sharded_simulation(_world_config(args), args.days, args.out, make_pool, args.format,
                                        progress=not args.quiet)
    else:
        if args.workers is not None or args.address is not None:
            raise UsageError("--workers and --address need --engine ray")
        result = run_simulation(_world_config(args), args.days, args.out, args.format, progress=not args.quiet)
    s = result.summary
    print(json.dumps({"out": str(args.out), "subscribers": s["counts"]["subscribers"], "cells": s["counts"]["cells"],
                      "events": s["counts"]["events"], "timings": s["timings"]}))
    return 0


# -- audience ------------------------------------------------------------------------------------------
def _configure_audience(p: argparse.ArgumentParser) -> None:
    _world_args(p, "--size", 10_000)
    p.add_argument("--consent-rate", type=rate, help="advertising opt-in rate (both channels)")
    p.add_argument("--format", choices=AUDIENCE_FORMATS, default=None,
                   help="file format (default: named by --out's extension .csv, .jsonl or .parquet, else csv)")
    p.add_argument("--out", type=Path, required=True, help="output file")


AUDIENCE_FORMATS = ("csv", "jsonl", "parquet")


def _run_audience(args: argparse.Namespace) -> int:
    from simulator.audience import write_audience
    from simulator.consent import ConsentLedger, ConsentRates
    from simulator.population import Population
    from simulator.rng import RngStreams

    _check_city(args)
    args.format = format_for(args.out, args.format, AUDIENCE_FORMATS, "csv")
    output_file(args.out, "--out")
    if args.format == "parquet":
        needs_module("pyarrow", "--format parquet", "research")
    config = _world_config(args)
    streams = RngStreams(config.seed)
    from simulator.city import with_locale

    city = config.territory()
    if config.locale is not None:
        city = with_locale(city, config.locale)
    pop = Population.build(city, config.subscribers, streams, fictional_numbers=config.fictional_numbers)
    rates = ConsentRates()
    if args.consent_rate is not None:
        rates = ConsentRates.with_advertising(args.consent_rate)
    consent = ConsentLedger.build(pop.size, config.start, streams, rates)
    write_audience(pop, consent, args.out, args.format)
    print(json.dumps({"out": str(args.out), "size": pop.size, "format": args.format}))
    return 0


# -- serve ---------------------------------------------------------------------------------------------
def _configure_serve(p: argparse.ArgumentParser) -> None:
    p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def _run_serve(args: argparse.Namespace) -> int:
    from gateway.http.serve import main as serve_main

    return serve_main(list(args.rest))


# -- demo ----------------------------------------------------------------------------------------------
def _configure_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, help="also write the report, transcript and plots here")


def _run_demo(args: argparse.Namespace) -> int:
    from scenarios.replay import run_demo

    if args.out is not None:
        output_dir(args.out, "--out")
    return run_demo(args.out)


# -- run, scenarios ------------------------------------------------------------------------------------
def _configure_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="scenario file (YAML or JSON), or the name of a library scenario")
    p.add_argument("--seed", type=non_negative_int, help="root seed (default: the scenario's)")
    p.add_argument("--out", type=Path, help="directory for report.json, transcript.jsonl, deliveries.csv, plots")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=V1[,V2...]",
                   help="sweep files: replace (or add) a swept parameter's values, e.g. "
                        "--set world.subscribers=2000,4000 or --set seeds=1,2,3; repeatable")
    p.add_argument("--workers", type=int_in(1, 64), help="sweep files: worker processes (default: the file's)")


def _run_run(args: argparse.Namespace) -> int:
    from scenarios.replay import run_file

    if args.out is not None:
        output_dir(args.out, "--out")
    return run_file(args.file, seed=args.seed, out_dir=args.out, progress=not args.quiet,
                    overrides=args.overrides, workers=args.workers)


def _configure_scenarios(p: argparse.ArgumentParser) -> None:
    pass


def _run_scenarios(args: argparse.Namespace) -> int:
    from scenarios.replay import list_scenarios

    return list_scenarios()


COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int], str]] = {
    "simulate": (_configure_simulate, _run_simulate, "run the world for some days and write its data"),
    "audience": (_configure_audience, _run_audience, "write a synthetic audience for QA"),
    "serve": (_configure_serve, _run_serve, "serve the operator gateway"),
    "demo": (_configure_demo, _run_demo, "run the default library scenario and print a short summary"),
    "run": (_configure_run, _run_run, "replay a scenario file over the real API and report"),
    "scenarios": (_configure_scenarios, _run_scenarios, "list the scenario library, one line each"),
    "partners": (partners_cli.configure, partners_cli.run,
                 "create, list partners and their API keys on a running gateway (admin API)"),
    "record-to-scenario": (recorded.configure, recorded.run, "turn a recording (serve --record) into a scenario"),
}
