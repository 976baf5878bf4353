"""`opsim simulate --engine ray`: two shards on a local Ray write the single process's files byte for byte, and a
world on Ray actors answers queries as the single world does. One local Ray serves the whole module."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from scenarios.cli import main
from simulator.rng import BLOCK_SIZE
from simulator.world import World, WorldConfig
from tests.scenarios.conftest import output_digests, summary_without_timings

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'opsim[ray]'): the sharded engine is "
                                        "not tested")

from simulator.ray_shards import RayPool, start_local_ray  # noqa: E402 - after the skip: it needs Ray
from simulator.shards import ShardedWorld  # noqa: E402

# Two blocks, one per shard; 13:00 UTC (22:00 in Seoul) for 12 simulated hours: the run crosses local midnight
# (the next day's plans) and a UTC day (two Parquet partitions).
ARGS = ["simulate", "--city", "seoul", "--subscribers", str(BLOCK_SIZE + 4_000), "--days", "0.5", "--seed", "5",
        "--start", "2026-03-01T13:00:00Z", "--quiet"]


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    """One local Ray (two CPUs, 127.0.0.1, no dashboard) for every test here; the engine reuses it."""
    start_local_ray(2)
    yield
    ray.shutdown()



@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_ray_engine_writes_the_local_engines_bytes(tmp_path: Path, fmt: str) -> None:
    """Subscribers, cells and events are byte-identical to the single process; the summary differs in timings only."""
    local, sharded = tmp_path / "local", tmp_path / "ray"
    assert main([*ARGS, "--format", fmt, "--out", str(local)]) == 0
    assert main([*ARGS, "--format", fmt, "--out", str(sharded), "--engine", "ray", "--workers", "2"]) == 0
    digests = output_digests(local)
    assert len(digests) >= 3 and output_digests(sharded) == digests
    assert summary_without_timings(sharded) == summary_without_timings(local)
    assert json.loads((sharded / "summary.json").read_text())["timings"]["shards"] == 2


def test_workers_and_address_need_the_ray_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--workers without --engine ray is a usage error naming the flags, not a silent single-process run."""
    assert main([*ARGS, "--out", str(tmp_path / "x"), "--workers", "2"]) == 2
    assert "--engine ray" in capsys.readouterr().err


def test_queries_on_ray_actors_are_the_single_worlds() -> None:
    """Occupants, visitors, per-cell counts and audience counts fanned out to two actors match one world."""
    config = WorldConfig(city="seoul", subscribers=BLOCK_SIZE + 4_000, seed=8)
    single = World.build(config)
    end = single.clock.now + timedelta(hours=3)
    single.run_until(end)
    sharded = ShardedWorld(config, RayPool(config, 2))
    try:
        sharded.run_until(end)
        cells = np.arange(0, 150, dtype=np.int32)
        assert np.array_equal(sharded.occupants_of_cells(cells), single.occupants_of_cells(cells))
        t1 = end - timedelta(hours=2)
        assert np.array_equal(sharded.visitors_of_cells(cells, t1, end), single.visitors_of_cells(cells, t1, end))
        assert np.array_equal(sharded.cell_counts_at(), single.cell_counts_at())
        counts = sharded.audience_counts(cells, "PRESENT")
        assert counts.matched == len(single.occupants_of_cells(cells)) > 0
        assert sharded.summary().cell_changes == single.summary().cell_changes
    finally:
        sharded.close()
