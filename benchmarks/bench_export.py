"""Export figures: ``opsim simulate`` streaming its events to disk against the same simulation writing nothing.

Each leg runs in its own process, so each peak resident memory (``ru_maxrss``) is that leg's alone:

- *export*: ``opsim simulate --city C --subscribers N --days D --format F`` as a user runs it (build, simulate
  with events streamed per simulated hour, subscribers and cells tables, summary);
- *baseline*: the same world built and stepped for the same days, with the same one hour of presence history
  kept, writing nothing (the simulation alone).

Figures: peak RSS of the export (target ≤ 1.5 GB, baseline the simulation alone) and its wall time (target
1.3 × the simulation alone), plus the events written and their size on disk; and the CPU time of both (the same
comparison, steadier than wall time when other work shares the machine).
Usage: python -m benchmarks.bench_export [--subscribers N] [--days D] [--city seoul] [--format parquet|csv]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks._report import emit

RSS_TARGET_MB = 1536.0
WALL_RATIO_TARGET = 1.3


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_s() -> float:
    """CPU seconds of this process (all threads): steadier than wall time on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _leg_export(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    from scenarios.cli import main

    t = time.perf_counter()
    code = main(["simulate", "--city", args.city, "--subscribers", str(args.subscribers), "--days", str(args.days),
                 "--seed", "1", "--format", args.format, "--out", str(out), "--quiet"])
    wall = time.perf_counter() - t
    if code != 0:
        raise SystemExit(f"opsim simulate exited with {code}")
    summary = json.loads((out / "summary.json").read_text())
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file() and p.name.startswith(("events", "part-")))
    return {"wall": wall, "cpu": _cpu_s(), "rss": _peak_rss_mb(), "events": summary["counts"]["events"],
            "events_bytes": size,
            "timings": summary["timings"]}


def _leg_simulate(args: argparse.Namespace) -> dict[str, Any]:
    from simulator.world import World, WorldConfig

    t = time.perf_counter()
    world = World.build(WorldConfig(city=args.city, subscribers=args.subscribers, seed=1))
    world.presence.retention_ticks = world.presence.ticks_per_chunk  # as opsim simulate keeps it
    world.advance(timedelta(days=args.days))
    return {"wall": time.perf_counter() - t, "cpu": _cpu_s(), "rss": _peak_rss_mb(),
            "events": world.presence.n_events}


def _run_leg(leg: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.bench_export", "--leg", leg, "--subscribers", str(args.subscribers),
           "--days", str(args.days), "--city", args.city, "--format", args.format, "--out", str(out)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=200_000)
    ap.add_argument("--days", type=float, default=2.0)
    ap.add_argument("--city", default="seoul")
    ap.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    ap.add_argument("--leg", choices=("export", "simulate"), help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.leg == "export":
        print(json.dumps(_leg_export(args, args.out)))
        return
    if args.leg == "simulate":
        print(json.dumps(_leg_simulate(args)))
        return
    work = Path(tempfile.mkdtemp(prefix="opsim-bench-export-"))
    try:
        base = _run_leg("simulate", args, work / "none")
        exp = _run_leg("export", args, work / "out")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    size = {"subscribers": args.subscribers, "days": args.days, "city": args.city, "format": args.format}
    emit("simulate_export_peak_rss_mb", exp["rss"], base["rss"], RSS_TARGET_MB, "MB", **size)
    emit("simulate_export_wall_s", exp["wall"], base["wall"], round(WALL_RATIO_TARGET * base["wall"], 3), "s",
         **size, events=exp["events"], events_per_s_written=round(exp["events"] / max(exp["wall"], 1e-9)),
         events_mb_on_disk=round(exp["events_bytes"] / 2**20, 1),
         bytes_per_event_on_disk=round(exp["events_bytes"] / max(exp["events"], 1), 2),
         events_write_s=exp["timings"]["eventsWriteSeconds"], tables_write_s=exp["timings"]["tablesWriteSeconds"],
         same_events_as_baseline=exp["events"] == base["events"])
    # CPU time of each whole process (imports included): the wall ratio on a machine shared with other work
    emit("simulate_export_cpu_s", exp["cpu"], base["cpu"], round(WALL_RATIO_TARGET * base["cpu"], 3), "s", **size)


if __name__ == "__main__":
    main()
