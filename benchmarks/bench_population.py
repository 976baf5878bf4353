"""Benchmark: build a 1,000,000-subscriber population (Moscow) and measure its columns.

Prints two JSON lines: the build time against a baseline (drawing the same number of plain numpy random
columns of the same dtypes in the same run) and the column memory against the 150 MB target.
"""

from __future__ import annotations

import json
import resource
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simulator.city import city_from_preset
from simulator.population import COLUMN_DTYPES, Population
from simulator.rng import RngStreams

N = 1_000_000
TARGET_S = 5.0
TARGET_MB = 150.0


def plain_columns(n: int, seed: int) -> dict[str, NDArray[Any]]:
    """The simplest possible 'population': one uniform random column per population column."""
    rng = np.random.default_rng(seed)
    out: dict[str, NDArray[Any]] = {}
    for name, dtype in COLUMN_DTYPES.items():
        if dtype.kind == "f":
            out[name] = rng.random(n, dtype=np.float32)
        elif dtype.kind == "b":
            out[name] = rng.random(n) < 0.5
        else:
            out[name] = rng.integers(0, np.iinfo(dtype).max, n, dtype=dtype)
    return out


def main() -> None:
    city = city_from_preset("moscow")
    t0 = time.perf_counter()
    plain_columns(N, 1)
    baseline = time.perf_counter() - t0

    t0 = time.perf_counter()
    population = Population.build(city, N, RngStreams(1))
    elapsed = time.perf_counter() - t0

    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    column_mb = population.nbytes / 1e6
    plain_mb = sum(a.nbytes for a in plain_columns(N, 2).values()) / 1e6
    print(json.dumps({"figure": "population_build_1M_s", "value": round(elapsed, 3), "baseline": round(baseline, 3),
                      "ratio": round(elapsed / baseline, 2), "target": TARGET_S}))
    print(json.dumps({"figure": "population_columns_1M_mb", "value": round(column_mb, 1),
                      "baseline": round(plain_mb, 1), "ratio": round(column_mb / plain_mb, 2), "target": TARGET_MB,
                      "peak_rss_mb": round(peak_rss_mb, 1)}))

if __name__ == "__main__":
    main()
