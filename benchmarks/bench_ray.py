"""Sharded figures: ``opsim simulate`` of N subscribers × 1 day on two local Ray workers against one process.

Both legs write the same Parquet export (the sharded one is checked byte for byte against the single one):

- *single*: :func:`scenarios.simulate.run_simulation`, one process (the baseline);
- *ray*: :func:`scenarios.simulate_sharded.run_sharded_simulation` on a local Ray started here with one actor per
  worker (start-up of Ray itself is reported apart, not counted).

Figures: simulated-day wall time (ray vs single), whole-run wall time (build, day, tables), subscriber-steps per
second per worker, peak memory per shard and per 65,536-subscriber block, cell-change bytes shipped per tick.
The machine is shared (2 cores, other work running): wall times are noisy, read the ratio with care.
Usage: python -m benchmarks.bench_ray [--subscribers N] [--days D] [--workers W] [--city moscow]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._report import emit
from scenarios.simulate import run_simulation
from scenarios.simulate_sharded import run_sharded_simulation
from simulator.rng import BLOCK_SIZE
from simulator.shards import ShardPool
from simulator.world import WorldConfig

EVENT_BYTES = 12
"""A cell change on the wire: tick, subscriber and cell as int32 columns."""


def _digests(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and p.name != "summary.json"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=500_000)
    ap.add_argument("--days", type=float, default=1.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--city", default="moscow")
    ap.add_argument("--skip-single", action="store_true", help="only the sharded leg (no baseline, no byte check)")
    args = ap.parse_args()
    try:
        import ray
    except ImportError:
        print(json.dumps({"skipped": "Ray is not installed: pip install 'opsim[ray]'"}))
        return
    from simulator.ray_shards import RayPool, start_local_ray

    class MeasuredPool(RayPool):
        """A Ray pool that asks its shards for their peak memory before ending them."""

        rss: list[tuple[int, int]]
        rows: list[tuple[int, int]]

        def close(self) -> None:
            self.rss = self.submit("peak_rss_bytes")()
            self.rows = self.submit("rows")()
            super().close()

    config = WorldConfig(city=args.city, subscribers=args.subscribers, seed=1)
    tmp = Path(tempfile.mkdtemp(prefix="bench_ray."))
    try:
        single: dict[str, Any] | None = None
        if not args.skip_single:
            t = time.perf_counter()
            single = run_simulation(config, args.days, tmp / "single", "parquet", progress=False).summary
            single["wall"] = time.perf_counter() - t
            single["rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

        t = time.perf_counter()
        start_local_ray(args.workers)
        ray_start = time.perf_counter() - t
        pools: list[MeasuredPool] = []

        def make_pool(cfg: WorldConfig, history_ticks: int | None) -> ShardPool:
            pools.append(MeasuredPool(cfg, args.workers, history_ticks=history_ticks))
            return pools[-1]

        t = time.perf_counter()
        sharded = run_sharded_simulation(config, args.days, tmp / "ray", make_pool, "parquet", progress=False).summary
        wall = time.perf_counter() - t
        ray.shutdown()

        ticks = int(args.days * 86_400 // config.tick_seconds)
        st = sharded["timings"]
        n = args.subscribers
        identical = None if single is None else _digests(tmp / "ray") == _digests(tmp / "single")
        base_day = None if single is None else single["timings"]["simulateSeconds"]
        shard_rss, shard_rows = pools[0].rss, pools[0].rows
        emit("ray_simulate_day_s", st["simulateSeconds"] / args.days,
             None if base_day is None else base_day / args.days, None, "s", subscribers=n, workers=len(shard_rows),
             identical_files=identical, ray_start_s=round(ray_start, 3))
        emit("ray_run_wall_s", wall, None if single is None else single["wall"], None, "s", subscribers=n,
             build_s=st["buildSeconds"], tables_s=st["tablesWriteSeconds"],
             single_build_s=None if single is None else single["timings"]["buildSeconds"])
        per_worker = n * ticks / st["simulateSeconds"] / max(1, len(shard_rows))
        base_steps = None if single is None else n * ticks / single["timings"]["simulateSeconds"]
        emit("ray_subscriber_steps_per_s_per_worker", per_worker, base_steps, None, "steps/s", better="higher",
             ticks_per_s_per_worker_at_1m=round(per_worker / 1e6, 2))
        blocks = [max(1, -(-rows // BLOCK_SIZE)) for _, rows in shard_rows]
        emit("ray_peak_rss_per_shard_mb", max(peak for _, peak in shard_rss) / 2**20,
             None if single is None else single["rss"] / 2**20, None, "MB",
             per_block_mb=round(max((peak - before) / b for (before, peak), b in zip(shard_rss, blocks, strict=True))
                                / 2**20, 1),
             process_before_build_mb=round(max(before for before, _ in shard_rss) / 2**20, 1), blocks_per_shard=blocks)
        events = sharded["counts"]["events"]
        emit("ray_event_bytes_per_tick", events * EVENT_BYTES / max(ticks, 1), None, None, "B", events=events,
             peak_hint="a morning tick moves many more than the mean")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
