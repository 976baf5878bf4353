"""`opsim simulate`: run a world for some days and write subscribers, cells, cell-change events and a summary.

Owns the research run of the bare world (no gateway). It drives the world through its public methods and
writes files through :mod:`scenarios.export`. Events are streamed: a cell-change listener hands each tick's
changes to an :class:`~scenarios.export.EventLog`, which writes them an hour at a time, and the world keeps only
an hour of presence history, so memory does not grow with the number of days.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from scenarios.export import EventLog, TableWriter, write_json
from scenarios.results import summary_json
from simulator.network import Network
from simulator.world import World, WorldConfig, WorldSummary

SUBSCRIBER_BATCH = 65_536
"""Rows of the subscribers table decoded and written at a time (its strings are built per batch)."""

_TIMING_KEYS = ("lastTickMs", "meanTickMs")
"""Wall-clock figures of the world's summary: they go to ``timings`` so the rest of summary.json is reproducible."""


@dataclass
class SimulationResult:
    """What a simulation run produced."""

    summary: dict[str, Any]
    files: list[Path]


def run_simulation(config: WorldConfig, days: float, out: Path, fmt: str = "csv",
                   progress: bool = True) -> SimulationResult:
    """Build the world, run it for ``days`` and write ``subscribers``, ``cells``, ``events`` and ``summary.json``."""
    t0 = time.perf_counter()
    world = World.build(config)
    t_build = time.perf_counter() - t0
    # The export reads changes as they happen, never the history: keep one hour of it (the presence history's
    # own chunk) so memory stays flat. keep_history() would also trim the realism facts the summary reports.
    world.presence.retention_ticks = world.presence.ticks_per_chunk
    end = world.clock.now + timedelta(days=days)
    total = world.tick_of(end) - world.tick_index
    out.mkdir(parents=True, exist_ok=True)
    events = EventLog(out, fmt)

    def on_cells(now: datetime, subs: NDArray[np.int32], old: NDArray[np.int32], new: NDArray[np.int32]) -> None:
        order = np.argsort(subs, kind="stable")  # one instant's rows in subscriber order, as a sharded run merges
        events.add(now, subs[order], new[order])

    world.on_cell_change(on_cells)
    t1 = time.perf_counter()
    try:
        with tqdm(total=total, unit="tick", disable=not progress, desc="simulating", leave=False) as bar:
            while world.time_of(world.tick_index + 1) <= end:
                world.step()
                bar.update(1)
                if world.tick_index % 60 == 0:
                    bar.set_postfix_str(world.local_time().strftime("%a %H:%M"))
        world.run_until(end)
        events_path = events.close()
    except BaseException:
        events.abort()
        raise
    t_sim = time.perf_counter() - t1
    t2 = time.perf_counter()
    ext = "parquet" if fmt == "parquet" else "csv"
    files = [_write_subscribers(world, out / f"subscribers.{ext}", fmt),
             write_cells(world.network, out / f"cells.{ext}", fmt), events_path]
    t_tables = time.perf_counter() - t2
    timings = {"buildSeconds": round(t_build, 3), "simulateSeconds": round(t_sim, 3),
               "eventsWriteSeconds": round(events.write_seconds, 3), "tablesWriteSeconds": round(t_tables, 3),
               "subscriberStepsPerSecond": round(world.population.size * total / max(t_sim, 1e-9))}
    summary = write_summary(out, world.summary(), world.realism.report(), days, fmt, world.network.n_cells,
                            events.rows, timings)
    files.append(out / "summary.json")
    return SimulationResult(summary, files)


def write_summary(out: Path, world: WorldSummary, realism: dict[str, Any], days: float, fmt: str, cells: int,
                  events: int, timings: dict[str, Any]) -> dict[str, Any]:
    """Write and return ``summary.json``: reproducible for a seed except ``timings`` (wall-clock figures)."""
    world_summary = summary_json(world)
    measured: dict[str, Any] = {k: world_summary.pop(k) for k in _TIMING_KEYS if k in world_summary}
    measured.update(timings)
    summary = {
        "world": world_summary,
        "days": days,
        "format": fmt,
        "counts": {"subscribers": int(world.subscribers), "cells": int(cells), "events": events},
        "timings": measured,
        "realism": realism,
    }
    write_json(out / "summary.json", summary)
    return summary


def _write_subscribers(world: World, path: Path, fmt: str) -> Path:
    """``id`` (the row number events refer to) then the population's export columns, a batch at a time."""
    pop = world.population
    with TableWriter(path, fmt) as table:
        for lo in range(0, pop.size, SUBSCRIBER_BATCH):
            rows = np.arange(lo, min(lo + SUBSCRIBER_BATCH, pop.size), dtype=np.int32)
            columns: dict[str, Any] = {"id": rows}
            columns.update(pop.table(rows))
            table.write(columns)
    return path


def write_cells(net: Network, path: Path, fmt: str) -> Path:
    """``id`` (the row number events refer to), ``ecgi``, centre and radius of every cell."""
    lat, lon = net.cell_latlon()
    with TableWriter(path, fmt) as table:
        table.write({"id": np.arange(net.n_cells, dtype=np.int32), "ecgi": net.cell_ids,
                     "latitude": np.round(lat, 6), "longitude": np.round(lon, 6),
                     "radius": np.round(net.cell_radius, 1).astype(np.float64)})
    return path
