"""Served sharded figures: the gateway's clock advanced over N subscribers on two local Ray workers vs one process.

Each leg serves the gateway on loopback (manual clock) over a world — one process (``World``), or
:class:`~simulator.served_shards.ServedShardedWorld` on a local Ray with one actor per worker — and advances the
clock through the admin API: first with no partner activity (the tick loop and the gateway's listeners), then with
a campaign running over a busy area (deliveries and their routed writes). Figures: served ticks per second (wall)
of each leg and their ratio. The machine is shared (2 cores, other work running): read the ratio with care.
Usage: python -m benchmarks.bench_serve_ray [--subscribers N] [--hours H] [--workers W] [--city berlin]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import timedelta

from benchmarks._report import emit
from scenarios.stack import serve
from simulator.world import World, WorldConfig


async def _advance(world: World, hours: float) -> tuple[float, int]:
    """Wall seconds and ticks of advancing the served world's clock by ``hours`` (in steps of 10 minutes)."""
    async with serve(world) as stack:
        ticks = world.tick_index
        started = time.perf_counter()
        for _ in range(round(hours * 6)):
            await stack.admin.advance(timedelta(minutes=10))
        return time.perf_counter() - started, world.tick_index - ticks


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=200_000)
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--city", default="berlin")
    args = ap.parse_args()
    try:
        import ray
    except ImportError:
        print(json.dumps({"skipped": "Ray is not installed: pip install 'opsim[ray]'"}))
        return
    from simulator.ray_shards import RayPool, start_local_ray
    from simulator.served_shards import ServedShard, ServedShardedWorld

    config = WorldConfig(city=args.city, subscribers=args.subscribers, seed=1)
    t = time.perf_counter()
    single = World.build(config)
    build_single = time.perf_counter() - t
    wall_single, ticks = asyncio.run(_advance(single, args.hours))
    del single
    start_local_ray(args.workers)
    try:
        t = time.perf_counter()
        sharded = ServedShardedWorld(config, RayPool(config, args.workers, shard_class=ServedShard))
        build_sharded = time.perf_counter() - t
        wall_sharded, ticks_sharded = asyncio.run(_advance(sharded, args.hours))
        sharded.close()
    finally:
        ray.shutdown()
    assert ticks_sharded == ticks
    emit("served ticks per second, sharded on Ray", ticks / wall_sharded, ticks / wall_single, None, "ticks/s",
         better="higher", subscribers=args.subscribers, workers=args.workers, city=args.city,
         build_single_s=round(build_single, 1), build_sharded_s=round(build_sharded, 1),
         tick_ms_single=round(1000 * wall_single / ticks, 2), tick_ms_sharded=round(1000 * wall_sharded / ticks, 2))


if __name__ == "__main__":
    main()
