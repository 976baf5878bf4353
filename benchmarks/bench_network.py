"""Benchmark of the radio network: build, point → cell for 1M points, area → covering cells.

Prints one JSON line per figure: the figure, its value, a plain-numpy baseline of the same size measured in
the same run, their ratio and the target. Run: ``.venv/bin/python benchmarks/bench_network.py``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable

import numpy as np

from simulator.city import city_from_preset
from simulator.geo import Area
from simulator.network import Network
from simulator.rng import RngStreams

N_POINTS = 1_000_000
REPEATS = 15


def best_ms(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    """Best wall time of ``repeats`` calls, in milliseconds (the least disturbed run)."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def emit(figure: str, value: float, baseline: float, target: float, unit: str) -> None:
    print(json.dumps({"figure": figure, "value": round(value, 3), "baseline": round(baseline, 3),
                      "ratio": round(value / baseline, 3), "target": target, "unit": unit}))


def main() -> None:
    city = city_from_preset("moscow")
    streams = RngStreams(42)

    build_ms = best_ms(lambda: Network.build(city, streams), repeats=3)
    net = Network.build(city, streams)
    ny, nx = net.grid.shape
    px = net.origin[0] + (np.arange(nx) + 0.5) * net.resolution
    py = net.origin[1] + (np.arange(ny) + 0.5) * net.resolution
    # Baseline: one distance from every raster pixel centre to one point, the cheapest possible raster pass.
    grid_pass_ms = best_ms(lambda: np.hypot(px[None, :], py[:, None]), repeats=3)
    emit("network_build_moscow_ms", build_ms, grid_pass_ms, 2_000, "ms")

    pts = city.sample_points(np.random.default_rng(0), N_POINTS, (1.0, 1.0, 1.0))
    x, y = np.ascontiguousarray(pts[:, 0]), np.ascontiguousarray(pts[:, 1])
    x0, y0 = net.origin
    res = net.resolution

    def floor_index() -> object:
        # Baseline: the coordinates floored into a flat int grid index, with no bounds handling or lookup.
        return np.floor((y - y0) / res).astype(np.int64) * nx + np.floor((x - x0) / res).astype(np.int64)

    cell_ms = best_ms(lambda: net.cell_of(x, y))
    floor_ms = best_ms(floor_index)
    emit("point_to_cell_1M_ms", cell_ms, floor_ms, 10, "ms")

    area = Area.circle(1_500.0, -800.0, 1_000.0)
    window = net.grid[int((-1_800 - y0) // res): int((200 - y0) // res) + 1,
                      int((500 - x0) // res): int((2_500 - x0) // res) + 1]
    covering_ms = best_ms(lambda: net.cells_covering(area), repeats=200)
    # Baseline: np.unique over the raster window of the circle's bounding box (no circle test).
    unique_ms = best_ms(lambda: np.unique(window), repeats=200)
    emit("cells_covering_1km_circle_ms", covering_ms, unique_ms, 1, "ms")


if __name__ == "__main__":
    main()
