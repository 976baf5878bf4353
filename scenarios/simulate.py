"""`opsim simulate`: run a world for some days and write subscribers, cells, cell-change events and a summary.

Owns the research run of the bare world (no gateway). It drives the world through its public methods and
writes files through :mod:`scenarios.export`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from scenarios.export import write_columns, write_json
from scenarios.results import summary_json
from simulator.world import World, WorldConfig


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
    end = world.clock.now + timedelta(days=days)
    total = world.tick_of(end) - world.tick_index
    t1 = time.perf_counter()
    with tqdm(total=total, unit="tick", disable=not progress, desc="simulating", leave=False) as bar:
        while world.time_of(world.tick_index + 1) <= end:
            world.step()
            bar.update(1)
            if world.tick_index % 60 == 0:
                bar.set_postfix_str(world.local_time().strftime("%a %H:%M"))
    world.run_until(end)
    t_sim = time.perf_counter() - t1
    out.mkdir(parents=True, exist_ok=True)
    ext = "parquet" if fmt == "parquet" else "csv"
    files = []
    pop = world.population
    table = pop.table()
    sub_cols: dict[str, Any] = {"id": [f"sub_{i:07d}" for i in range(pop.size)]}
    sub_cols.update(table)
    files.append(out / f"subscribers.{ext}")
    write_columns(files[-1], sub_cols, fmt)
    lat, lon = world.network.cell_latlon()
    files.append(out / f"cells.{ext}")
    write_columns(files[-1], {"id": world.network.cell_ids, "latitude": np.round(lat, 6),
                              "longitude": np.round(lon, 6), "radius": np.round(world.network.cell_radius, 1)}, fmt)
    ticks, subs, cells = world.presence.events()
    uniq_ticks, inv = np.unique(ticks, return_inverse=True)
    stamps = np.asarray([world.time_of(int(t)).strftime("%Y-%m-%dT%H:%M:%SZ") for t in uniq_ticks], dtype=object)
    ids = np.asarray(world.network.cell_ids, dtype=object)
    files.append(out / f"events.{ext}")
    write_columns(files[-1], {"time": stamps[inv] if len(ticks) else [],
                              "subscriber": [f"sub_{s:07d}" for s in subs.tolist()],
                              "cell": ids[cells] if len(cells) else []}, fmt)
    summary = {
        "world": summary_json(world.summary()),
        "days": days,
        "counts": {"subscribers": int(pop.size), "cells": int(world.network.n_cells), "events": len(ticks)},
        "timings": {"buildSeconds": round(t_build, 3), "simulateSeconds": round(t_sim, 3),
                    "subscriberStepsPerSecond": round(pop.size * total / max(t_sim, 1e-9))},
        "realism": world.realism.report(),
    }
    files.append(out / "summary.json")
    write_json(files[-1], summary)
    return SimulationResult(summary, files)
