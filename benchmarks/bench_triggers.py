"""CDP trigger figures: the cost of evaluating triggers per simulated tick, against the same tick without them.

Identical worlds (``--subscribers``, default 100,000, Berlin, 60 s ticks) each with one partner app (popularity
0.8) and its CDP; each tick steps the world and feeds the CDP the same load: 1,000 app events of random installs and
60 tracking calls (``Ticket Purchased`` with a ``startsAt`` 1-48 h ahead, some ``Ticket Refunded``). Two of them also
have ``--per-kind`` triggers (default 3) of each kind — ``EVENT_NOT_FOLLOWED``, ``FIRST_EVENT``, ``AREA_ENTERED``,
``EVENT_REMINDER``, ``VENUE_AT_TIME`` (areas of 1 km around the busiest cells, windows open over the run, 10 min
dwell) — with a webhook step each, so runs start, timers fire and events reach the outbox. Figures (one JSON line
each, see :mod:`benchmarks._report`): the mean tick with triggers against the tick without them (and its parts:
the rules' listeners, the steps per fire), the same with the triggers quiet (their events absent, the venue windows
closed), and the ``VENUE_AT_TIME`` evaluation alone per tick (numpy over each area's occupants).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks._report import emit
from gateway.core.store import Store
from gateway.core.webhooks import Outbox
from gateway.services.apps.events import APP_EVENT_CODE, AppEventBatch
from gateway.services.apps.model import AppSpec
from gateway.services.apps.push import PushService
from gateway.services.apps.repository import AppRepository
from gateway.services.apps.service import AppService
from gateway.services.camara.geofencing import GeofencingService
from gateway.services.cdp.model import EventsIngested
from gateway.services.cdp.repository import CdpRepository
from gateway.services.cdp.service import CdpService
from gateway.services.cdp.triggers import TriggerService
from gateway.wire.cdp import TrackingCall
from gateway.wire.cdp_triggers import TriggerRequest
from simulator.clock import to_micros
from simulator.world import World, WorldConfig

HOOK = {"type": "WEBHOOK", "sink": "https://partner.example/cdp"}
APP_EVENTS_PER_TICK = 1000
CALLS_PER_TICK = 60
WARM_TICKS = 5


class TimedTriggers(TriggerService):
    """The service with its listeners timed (the rules' evaluation: matching, runs stored, first timers set)."""

    listening_ms = 0.0

    def on_events(self, notice: EventsIngested) -> None:
        started = time.perf_counter()
        super().on_events(notice)
        self.listening_ms += (time.perf_counter() - started) * 1000

    def on_cell_change(self, now: datetime, subs: NDArray[np.int32], old: NDArray[np.int32],
                       new: NDArray[np.int32]) -> None:
        started = time.perf_counter()
        super().on_cell_change(now, subs, old, new)
        self.listening_ms += (time.perf_counter() - started) * 1000

    def on_step(self, now: datetime) -> None:
        started = time.perf_counter()
        super().on_step(now)
        self.listening_ms += (time.perf_counter() - started) * 1000


@dataclass
class Run:
    """Mean and worst tick, and what the triggers did."""

    tick_ms: list[float]
    step_ms: list[float]
    """Time spent in trigger steps (deciding and doing the actions) in each measured tick."""
    listen_ms: list[float]
    """Time spent in the trigger listeners in each measured tick."""
    fires: int
    runs: int
    venue_ms: float
    occupants: int


def rules(world: World, per_kind: int, app_id: str, quiet: bool) -> list[dict[str, Any]]:
    """``per_kind`` rules of each kind; areas around the busiest cells, windows open over the run. ``quiet``: the
    same rules on events that do not happen and with the venue windows closed (what evaluating them costs when
    they have little to do; area entries still start runs)."""
    counts = np.bincount(world.cell[world.cell >= 0], minlength=world.network.cell_x.size)
    busiest = np.argsort(counts)[::-1][:per_kind]
    local = world.local_clock(np.array([0]))
    minute = int(local.minute[0])
    start, end = max(minute - 60, 0), min(minute + 180, 1439)
    if quiet:
        start, end = (0, 1) if minute > 10 else (1400, 1439)
    never = "Never Happens" if quiet else ""
    out: list[dict[str, Any]] = []
    for i, cell in enumerate(busiest.tolist()):
        lat, lon = world.city.projection.point_latlon(float(world.network.cell_x[cell]),
                                                      float(world.network.cell_y[cell]))
        area = {"areaType": "CIRCLE", "center": {"latitude": lat, "longitude": lon}, "radius": 1000.0}
        out += [
            {"kind": "EVENT_NOT_FOLLOWED", "event": never or "Product Added", "notFollowedBy": "Order Completed",
             "withinSeconds": 1800 + 600 * i},
            {"kind": "FIRST_EVENT", "event": never or ("Application Opened", "Product Viewed", "Product Added")[i % 3]},
            {"kind": "AREA_ENTERED", "appId": app_id, "areaId": f"area-{i}", "area": area},
            {"kind": "EVENT_REMINDER", "event": never or "Ticket Purchased", "hoursBefore": 1 + i,
             "cancelledBy": "Ticket Refunded"},
            {"kind": "VENUE_AT_TIME", "appId": app_id, "areaId": f"venue-{i}", "area": area,
             "startTime": f"{start // 60:02d}:{start % 60:02d}", "endTime": f"{end // 60:02d}:{end % 60:02d}",
             "minDwellMinutes": 10},
        ]
    return out


def run(tmp: Path, tag: str, subscribers: int, ticks: int, per_kind: int, quiet: bool = False) -> Run:
    """Step a fresh world ``ticks`` times with the load, with triggers when ``per_kind`` > 0 (``quiet``: see
    :func:`rules`)."""
    world = World.build(WorldConfig(city="berlin", subscribers=subscribers, seed=1))
    now = lambda: world.clock.now  # noqa: E731
    store = Store(tmp / f"{tag}.db")
    app_repo, cdp_repo = AppRepository(store), CdpRepository(store)
    outbox = Outbox(store, wall=lambda: 0.0)
    apps = AppService(world, app_repo, now)
    push = PushService(world, app_repo, apps, now, lambda: True)
    cdp = CdpService(cdp_repo, apps, now, 10)
    triggers = None
    if per_kind:
        geofencing = GeofencingService(world, store, outbox, 50.0)
        triggers = TimedTriggers(store, world, cdp, apps, push, lambda: outbox, geofencing, lambda: True)
    store.open()
    partner, _, _ = store.create_partner("bench", (), {}, "2025-06-02T08:00:00Z")
    app = apps.register(partner.id, AppSpec("Shoply", ("ANDROID", "IOS"), ("SHOPPING",), 0.8, 600_000))
    source, _ = cdp.create_source(partner.id, "Backend", None)
    if triggers is not None:
        for i, rule in enumerate(rules(world, per_kind, app.id, quiet)):
            triggers.create(partner.id, TriggerRequest.model_validate({"name": f"t{i}", "rule": rule,
                                                                       "steps": [{"action": HOOK}]}))
    in_steps = [0.0]
    if triggers is not None:  # time the actions apart from the rules' evaluation (the timers call this)
        step = triggers._timers._actions["step"]

        def timed_step(**args: Any) -> None:
            started = time.perf_counter()
            step(**args)
            in_steps[0] += (time.perf_counter() - started) * 1000

        triggers._timers._actions["step"] = timed_step
    table = apps.installs(app)
    installed = np.flatnonzero(table.installed)
    codes = np.array([APP_EVENT_CODE[n] for n in ("Application Opened", "Product Viewed", "Product Added",
                                                  "Order Completed")], np.uint8)
    rng = np.random.default_rng(5)
    seq = 0
    tick_ms: list[float] = []
    step_ms: list[float] = []
    listen_ms: list[float] = []
    for k in range(WARM_TICKS + ticks):
        rows = np.sort(rng.choice(installed, APP_EVENTS_PER_TICK, replace=False))
        t_us = to_micros(world.clock.now)
        batch = AppEventBatch(app.seq, np.arange(seq, seq + len(rows), dtype=np.int64),
                              np.full(len(rows), t_us, np.int64), rows.astype(np.int64),
                              codes[rng.choice(len(codes), len(rows), p=[0.4, 0.4, 0.12, 0.08])],
                              np.full(len(rows), -1, np.int16), np.zeros(len(rows), np.int64))
        seq += len(rows)
        users = rng.integers(0, 20_000, CALLS_PER_TICK)
        ahead = rng.integers(3600, 48 * 3600, CALLS_PER_TICK)
        calls = [TrackingCall.model_validate({
            "type": "track", "userId": f"user-{int(u)}", "event": "Ticket Refunded" if j % 10 == 9 else
            "Ticket Purchased", "messageId": f"{k}-{j}",
            "properties": {"startsAt": (world.clock.now + timedelta(seconds=int(a))).isoformat()}})
            for j, (u, a) in enumerate(zip(users.tolist(), ahead.tolist(), strict=True))]
        in_steps[0] = 0.0
        if triggers is not None:
            triggers.listening_ms = 0.0
        started = time.perf_counter()
        cdp.ingest_app_events(batch)
        cdp.ingest(source, cdp.normalise(calls))
        world.step()
        elapsed = (time.perf_counter() - started) * 1000
        store.drain()  # the event log's writer catches up beside the tick, as in the gateway
        if k >= WARM_TICKS:
            tick_ms.append(elapsed)
            step_ms.append(in_steps[0])
            listen_ms.append(0.0 if triggers is None else triggers.listening_ms)
    fires = runs = occupants = 0
    venue_ms = 0.0
    if triggers is not None:
        fires = int(store.conn.execute("SELECT count(*) FROM cdp_trigger_fires").fetchone()[0])
        runs = int(store.conn.execute("SELECT count(*) FROM cdp_trigger_runs").fetchone()[0])
        venues = [t for t in triggers.of_partner(partner.id) if t.spec.rule.kind == "VENUE_AT_TIME"]
        occupants = sum(len(world.occupants_of_cells(t.cells.astype(np.int32))) for t in venues)
        samples = []
        for _ in range(20):  # the steady evaluation: same instant, nobody new
            started = time.perf_counter()
            triggers.on_step(world.clock.now)
            samples.append((time.perf_counter() - started) * 1000)
        venue_ms = float(np.median(samples))
    store.close()
    return Run(tick_ms, step_ms, listen_ms, fires, runs, venue_ms, occupants)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--ticks", type=int, default=60)
    parser.add_argument("--per-kind", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bare = run(Path(tmp), "bare", args.subscribers, args.ticks, 0)
        full = run(Path(tmp), "triggers", args.subscribers, args.ticks, args.per_kind)
        quiet = run(Path(tmp), "quiet", args.subscribers, args.ticks, args.per_kind, quiet=True)
    with_ms, without_ms = float(np.mean(full.tick_ms)), float(np.mean(bare.tick_ms))
    steps_ms = float(np.mean(full.step_ms))
    measured_fires = full.fires * args.ticks / (args.ticks + WARM_TICKS)  # roughly: fires of the measured ticks
    emit("trigger_tick_ms", with_ms, without_ms, None, "ms", subscribers=args.subscribers, ticks=args.ticks,
         triggers=5 * args.per_kind, overhead_ms=round(with_ms - without_ms, 2), in_steps_ms=round(steps_ms, 2),
         worst_ms=round(max(full.tick_ms), 2), baseline_worst_ms=round(max(bare.tick_ms), 2),
         runs=full.runs, fires=full.fires,
         load=json.dumps({"app_events": APP_EVENTS_PER_TICK, "tracking_calls": CALLS_PER_TICK}))
    listen_ms = float(np.mean(full.listen_ms))
    emit("trigger_rules_ms_per_tick", listen_ms, without_ms, None, "ms",
         note="the trigger listeners: rules matched, runs stored, first timers set",
         timers_commits_ms=round(with_ms - without_ms - steps_ms - listen_ms, 2))
    emit("trigger_step_ms_per_fire", steps_ms * args.ticks / max(measured_fires, 1), None, None, "ms",
         note="one step decided and done: caps, quiet hours, consent, the fire row, the outbox event, its commit")
    emit("trigger_tick_quiet_ms", float(np.mean(quiet.tick_ms)), without_ms, None, "ms",
         note="the same triggers with little to do: their events absent, venue windows closed",
         rules_ms=round(float(np.mean(quiet.listen_ms)), 2), runs=quiet.runs, fires=quiet.fires)
    emit("venue_eval_ms_per_tick", full.venue_ms, None, None, "ms", venues=args.per_kind,
         occupants=full.occupants, subscribers=args.subscribers)


if __name__ == "__main__":
    main()
