"""`opsim simulate --engine ray`: the research run of :mod:`scenarios.simulate` on a world split into shards.

Owns driving a :class:`~simulator.shards.ShardedWorld` an hour of ticks at a time and writing the same files as
the single-process run, byte for byte: every shard steps the hour, the caller merges their cell changes (tick,
then subscriber order) into the one :class:`~scenarios.export.EventLog` while the shards already step the next
hour, then writes the subscribers table batch by batch from the shards, the cells table from the network (the
same in every shard) and ``summary.json`` from the merged summary and realism figures (only ``timings``
differ). Only subscriber ids, cell ids and counts come back from the shards during the run.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
from tqdm import tqdm

from scenarios.export import EventLog, TableWriter
from scenarios.simulate import SUBSCRIBER_BATCH, SimulationResult, write_cells, write_summary
from simulator.city import city_from_preset, with_locale
from simulator.network import Network
from simulator.rng import RngStreams
from simulator.shards import Events, ShardedWorld, ShardPool
from simulator.world import WorldConfig

PoolFactory = Callable[[WorldConfig, int | None], ShardPool]
"""Makes the shards of a config, each keeping ``history_ticks`` of presence history (the engine's choice)."""


def run_sharded_simulation(config: WorldConfig, days: float, out: Path, make_pool: PoolFactory, fmt: str = "csv",
                           progress: bool = True) -> SimulationResult:
    """Build the shards, run them for ``days`` and write what :func:`scenarios.simulate.run_simulation` writes."""
    config.validate()
    ticks_per_hour = max(1, 3600 // config.tick_seconds)  # the presence history's chunk: the export keeps one
    t0 = time.perf_counter()
    world = ShardedWorld(config, make_pool(config, ticks_per_hour))
    try:
        return _run(world, config, days, out, fmt, progress, ticks_per_hour, time.perf_counter() - t0)
    finally:
        world.close()


def _run(world: ShardedWorld, config: WorldConfig, days: float, out: Path, fmt: str, progress: bool,
         ticks_per_hour: int, t_build: float) -> SimulationResult:
    end = world.start + timedelta(days=days)
    total = world.tick_of(end)
    out.mkdir(parents=True, exist_ok=True)
    events = EventLog(out, fmt)
    t1 = time.perf_counter()
    try:
        with tqdm(total=total, unit="tick", disable=not progress, desc="simulating", leave=False) as bar:
            stops = [*range(ticks_per_hour, total, ticks_per_hour), total] if total > 0 else []
            pending = world.submit_step_to(stops[0]) if stops else None
            done = 0
            for i, stop in enumerate(stops):
                assert pending is not None
                current = pending
                pending = world.submit_step_to(stops[i + 1]) if i + 1 < len(stops) else None
                _log(world, events, current())  # the shards step the next hour meanwhile
                bar.update(stop - done)
                done = stop
        world.run_until(end)
        events_path = events.close()
    except BaseException:
        events.abort()
        raise
    t_sim = time.perf_counter() - t1
    t2 = time.perf_counter()
    ext = "parquet" if fmt == "parquet" else "csv"
    network = _network(config)
    subscribers_path = out / f"subscribers.{ext}"
    with TableWriter(subscribers_path, fmt) as table:
        for columns in world.subscriber_tables(SUBSCRIBER_BATCH):
            table.write(columns)
    files = [subscribers_path, write_cells(network, out / f"cells.{ext}", fmt), events_path]
    t_tables = time.perf_counter() - t2
    timings = {"buildSeconds": round(t_build, 3), "simulateSeconds": round(t_sim, 3),
               "eventsWriteSeconds": round(events.write_seconds, 3), "tablesWriteSeconds": round(t_tables, 3),
               "subscriberStepsPerSecond": round(config.subscribers * total / max(t_sim, 1e-9)),
               "shards": len(world.rows)}
    summary = write_summary(out, world.summary(), world.realism().report(), days, fmt, network.n_cells, events.rows,
                            timings)
    files.append(out / "summary.json")
    return SimulationResult(summary, files)


def _log(world: ShardedWorld, events: EventLog, changes: Events) -> None:
    """Hand merged cell changes to the log one tick at a time, as the single world's listener does."""
    ticks, subs, cells = changes
    if len(ticks) == 0:
        return
    starts = np.concatenate([[0], np.flatnonzero(np.diff(ticks)) + 1, [len(ticks)]]).tolist()
    for lo, hi in itertools.pairwise(starts):
        events.add(world.time_of(int(ticks[lo])), subs[lo:hi], cells[lo:hi])


def _network(config: WorldConfig) -> Network:
    """The world's network (drawn from the root seed alone, as in every shard)."""
    city = config.custom_city or city_from_preset(config.city)
    if config.locale is not None:
        city = with_locale(city, config.locale)
    return Network.build(city, RngStreams(config.seed))
