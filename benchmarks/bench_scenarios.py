"""Scenario figure: the stadium-match library scenario with 200,000 subscribers over 6 simulated hours, end to end
(build, serve on loopback, replay over HTTP, collect every outcome), and where the wall time went.

Baseline measured in the same run: the same world built and stepped for the same 6 hours with no gateway and no
client (what the end-to-end run costs on top of the simulation). The split: world ticks (including the gateway's
per-tick targeting listeners, which run inside the tick), the rest of the gateway's request handling, and the
client side (scenario runner, HTTP, JSON).
Usage: python -m benchmarks.bench_scenarios [--subscribers N] [--hours H]
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from benchmarks._report import emit
from scenarios.loader import LIBRARY, load
from scenarios.runner import build_world, run_scenario
from scenarios.schema import Scenario


def scaled(subscribers: int, hours: float) -> Scenario:
    """The stadium scenario with another population, run until ``hours`` after its start."""
    base = load(LIBRARY / "stadium-match.yaml")
    data = base.model_dump(mode="json", exclude_unset=True)
    data["world"]["subscribers"] = subscribers
    end = base.start + timedelta(hours=hours)
    data["steps"].append({"advance": {"to": end.isoformat()}})
    return Scenario.model_validate(data)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=200_000)
    ap.add_argument("--hours", type=float, default=6.0)
    args = ap.parse_args()
    scenario = scaled(args.subscribers, args.hours)

    started = time.perf_counter()
    world = build_world(scenario, scenario.seed, LIBRARY)
    world.run_until(scenario.start + timedelta(hours=args.hours))
    baseline = time.perf_counter() - started

    result = run_scenario(scenario, base_dir=LIBRARY)
    t = result.timings.to_dict()
    total = t["totalS"]
    emit("scenario_stadium_end_to_end_s", total, baseline, None, "s", subscribers=args.subscribers,
         sim_hours=args.hours, passed=not result.failed, deliveries=len(result.deliveries),
         build_s=t["buildS"], build_share=round(t["buildS"] / total, 3), world_share=round(t["worldTicksS"] / total, 3),
         gateway_share=round(t["gatewayS"] / total, 3), client_share=round(t["clientS"] / total, 3),
         other_share=round(max(0.0, total - t["buildS"] - t["worldTicksS"] - t["gatewayS"] - t["clientS"]) / total, 3),
         baseline_is="same world built and stepped alone")


if __name__ == "__main__":
    main()
