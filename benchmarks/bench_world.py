"""World figures: build a 1M world, simulate 24 h at 60 s ticks, point->cell, occupants and visitors queries.

Baselines measured in the same run: a plain numpy random walk of the same size and ticks (for the day),
and drawing the same number of plain random columns (for the build).
Usage: python benchmarks/bench_world.py [--subscribers N] [--hours H]
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import timedelta

import numpy as np

from benchmarks._report import emit
from simulator.geo import Area
from simulator.world import World, WorldConfig


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=1_000_000)
    ap.add_argument("--hours", type=float, default=24.0)
    args = ap.parse_args()
    n = args.subscribers
    rss0 = _rss_mb()
    t = time.perf_counter()
    world = World.build(WorldConfig(city="moscow", subscribers=n, seed=1))
    build_s = time.perf_counter() - t
    rss_build = _rss_mb()
    t = time.perf_counter()
    rng = np.random.default_rng(0)
    cols = [rng.random(n) for _ in range(12)]
    base_build = time.perf_counter() - t
    del cols
    emit("world_build_s", build_s, base_build, 15.0, "s", subscribers=n)
    emit("world_build_peak_rss_mb", rss_build, rss0, 400.0, "MB", subscribers=n)

    ticks = int(args.hours * 60)
    t = time.perf_counter()
    world.advance(timedelta(hours=args.hours))
    sim_s = time.perf_counter() - t
    # Baseline: the simplest model of the same size and ticks (gaussian steps, cell lookup, change detection).
    x = world.population.home_x.copy()
    y = world.population.home_y.copy()
    cell = world.network.cell_of(x, y)
    t = time.perf_counter()
    for _ in range(ticks):
        x += rng.normal(0.0, 30.0, n).astype(np.float32)
        y += rng.normal(0.0, 30.0, n).astype(np.float32)
        new = world.network.cell_of(x, y)
        moved = np.flatnonzero(new != cell)
        cell[moved] = new[moved]
    walk_s = time.perf_counter() - t
    emit("simulate_24h_s", sim_s * 24.0 / args.hours, walk_s * 24.0 / args.hours, 30.0, "s", subscribers=n,
         subscriber_steps_per_s=round(n * ticks / sim_s), random_walk_steps_per_s=round(n * ticks / walk_s),
         cell_changes=world.presence.n_events)

    area = Area.circle(0.0, 0.0, 1_000.0)
    reps = 50
    t = time.perf_counter()
    for _ in range(reps):
        occ = world.occupants(area)
    occ_ms = (time.perf_counter() - t) / reps * 1000
    t = time.perf_counter()
    for _ in range(reps):
        np.flatnonzero(world.cell == 0)
    scan_ms = (time.perf_counter() - t) / reps * 1000
    emit("occupants_1km_ms", occ_ms, scan_ms, 5.0, "ms", occupants=len(occ))

    now = world.clock.now
    t = time.perf_counter()
    vis = world.visitors(area, now - timedelta(hours=10), now - timedelta(hours=8))
    vis_ms = (time.perf_counter() - t) * 1000
    emit("visitors_2h_window_ms", vis_ms, occ_ms, 200.0, "ms", visitors=len(vis))


if __name__ == "__main__":
    main()
