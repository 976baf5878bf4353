"""Replaying a scenario over the real API: build the world, serve it on loopback, run the steps in simulated time.

Owns the order of a run: world built from the scenario (events such as gatherings are world set-up, applied
before serving), the gateway and the partner webhook receiver started on 127.0.0.1 (port 0) with a manual
clock, partners created through the admin API, then each step at its simulated time, done by its registered
action (:mod:`scenarios.actions`) through the partner and admin clients, and finally each campaign's report next
to the operator-side truth. Webhooks are read once the gateway's outbox has attempted every stored event, so
what a check sees does not depend on network timing. Every call and answer, webhook and check goes into the
transcript. It must not reach into the gateway's internals; the world object is read only for static geometry
(the report's map) and the timing split.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from gateway.client import PartnerClient
from gateway.core.settings import CampaignSettings
from gateway.wire.campaigns import CampaignReport, DeliveryList
from gateway.wire.cdp_triggers import TriggerFire
from scenarios.actions import ACTIONS
from scenarios.results import RunResult, StepResult, Timings, summary_json, truth_counts
from scenarios.schema import PartnerSpec, Scenario, Step
from scenarios.stack import Stack, serve
from scenarios.transcript import Transcript, plain, stamp, webhook_order
from simulator.city import city_from_geojson
from simulator.consent import ConsentRates
from simulator.errors import SimulatorError
from simulator.world import World, WorldConfig

T = TypeVar("T")

ADVANCE_CHUNK = timedelta(minutes=15)
"""Long advances are split into calls of at most this much simulated time (the progress bar moves per chunk)."""
MAP_POINTS = 3000
"""Delivery points located for the map (the first ones, in decision order); the CSV has every record."""


class RunError(Exception):
    """The scenario cannot run at all (a world it describes cannot be built); exit code 2."""


def world_config(scenario: Scenario, seed: int, base_dir: Path) -> WorldConfig:
    """The simulator's config for a scenario's world."""
    w = scenario.world
    rates = {k: v for k, v in w.consent.model_dump().items() if v is not None}
    custom = None
    if w.custom_city is not None:
        c = w.custom_city
        path = Path(c.geojson) if Path(c.geojson).is_absolute() else base_dir / c.geojson
        custom = city_from_geojson(path, c.name or path.stem, c.latitude, c.longitude, c.country, c.timezone)
    return WorldConfig(city=w.city, subscribers=w.subscribers, seed=seed, start=scenario.start,
                       tick_seconds=int(scenario.tick.total_seconds()), fictional_numbers=w.fictional_numbers,
                       roaming_share=w.roaming_share, consent=ConsentRates(**rates) if rates else None,
                       custom_city=custom, locale=w.locale, country=w.country)


def build_world(scenario: Scenario, seed: int, base_dir: Path) -> World:
    """Build the world and apply the scenario's events (gatherings are set up before serving)."""
    try:
        world = World.build(world_config(scenario, seed, base_dir))
        for event in scenario.events:
            g = event.gathering
            world.add_gathering(g.name, scenario.instant(g.start), scenario.instant(g.end), place=g.place,
                                latitude=g.latitude, longitude=g.longitude, share=g.share, count=g.count,
                                arrive_before=g.arrive_before)
    except (SimulatorError, OSError, ValueError) as exc:
        raise RunError(f"cannot build the world: {exc}") from exc
    return world


def timeline_end(scenario: Scenario) -> datetime:
    """The simulated instant the last step reaches (for the progress bar)."""
    now = scenario.start
    for step in scenario.steps:
        if step.at is not None:
            now = max(now, scenario.instant(step.at))
        if step.advance is not None:
            now = now + step.advance.by if step.advance.by is not None else max(
                now, scenario.instant(step.advance.to or now))
    return now


class Runner:
    """Runs one scenario once; it is the :class:`~scenarios.actions.Run` that step actions see.

    Use :func:`run_scenario` unless you need the pieces.
    """

    def __init__(self, scenario: Scenario, *, seed: int | None = None, progress: bool = False) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.progress = progress
        self.transcript = Transcript()
        self.results: list[StepResult] = []
        self.answers: dict[str, Any] = {}
        self.partners: dict[str, PartnerClient] = {}
        self.partner_specs: dict[str, PartnerSpec] = {}
        self.tracks: dict[str, list[tuple[str, float, float, str]]] = {}
        self.timings = Timings()
        self._webhooks_seen = 0
        self.webhooks: list[dict[str, Any]] = []
        self._bar: tqdm[Any] | None = None
        self.campaigns: dict[str, tuple[str, str]] = {}  # step id → (partner name, campaign id)
        self.made: dict[str, tuple[str, str]] = {}  # step id → (partner name, app/source/audience id)
        self.write_keys: dict[str, str] = {}  # create_source step id → write key
        self.pushes: dict[str, list[str]] = {}  # send_push step id → accepted message ids
        self.final_fires: dict[str, list[TriggerFire]] = {}  # deleted define_trigger step id → its fires
        self._cursors: dict[str, int] = {}
        self._located: dict[str, tuple[float, float, str]] = {}  # delivery record id → cell lat, lon, cell id
        self.stack: Stack

    # -- plumbing --------------------------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        """Simulated now (the world's clock, which the gateway serves)."""
        return self.stack.world.clock.now

    async def timed(self, call: Awaitable[T]) -> T:
        """Await an API call, counting its wall time in :attr:`Timings.in_calls`."""
        started = time.monotonic()
        try:
            return await call
        finally:
            self.timings.in_calls += time.monotonic() - started

    @asynccontextmanager
    async def _served(self, world: World) -> AsyncIterator[Stack]:
        async with AsyncExitStack() as stack:
            served = await stack.enter_async_context(serve(world, campaigns=operator_settings(self.scenario)))
            self.stack = served
            summary = summary_json(world.summary())
            self.transcript.add(self.now, "world", **{k: summary[k] for k in (
                "city", "country", "timezone", "subscribers", "cells", "seed", "start", "tickSeconds")},
                gatherings=[{"id": g.id, "name": g.name, "start": g.start, "end": g.end,
                             "attendees": len(g.attendees)} for g in world.gatherings])
            for spec in self.scenario.partners:
                created = await self.timed(served.admin.create_partner(spec.name, spec.scopes))
                self.transcript.add(self.now, "call", step="setup", action="create_partner",
                                    request={"name": spec.name, "scopes": spec.scopes})
                self.transcript.add(self.now, "answer", step="setup", action="create_partner", body=created)
                client = await stack.enter_async_context(
                    served.partner_client(created.client_id, created.client_secret))
                self.partners[spec.name] = client
                self.partner_specs[spec.name] = spec
            yield served

    async def _outbox_busy(self) -> bool:
        """Whether the gateway's webhook outbox holds an event not attempted yet (it is on its way here)."""
        return (await self.timed(self.stack.admin.webhook_counts())).pending > 0

    async def collect_webhooks(self) -> None:
        """Wait until the outbox has attempted every stored event, then record what arrived since last time."""
        if any(spec.sinks for spec in self.partner_specs.values()):  # nothing can arrive without a sink
            await self.stack.inbox.settle(self._outbox_busy)
        new = self.stack.inbox.received[self._webhooks_seen:]
        self._webhooks_seen += len(new)
        rows = sorted((r.to_dict() for r in new), key=webhook_order)
        self.transcript.add_webhooks(self.now, rows)
        self.webhooks.extend(plain(rows))

    async def _track(self) -> None:
        """Append every tracked test subscriber's current position."""
        for msisdn, points in self.tracks.items():
            view = await self.timed(self.stack.admin.subscriber(msisdn))
            points.append((stamp(self.now), view.location.latitude, view.location.longitude,
                           view.location.cell_id))

    async def advance_to(self, target: datetime) -> None:
        """Run the clock to ``target`` in chunks, collecting webhooks, tracks and delivery places after each."""
        while self.now < target:
            chunk_end = min(target, self.now + ADVANCE_CHUNK)
            before = self.now
            await self.timed(self.stack.admin.advance(to=chunk_end))
            if self._bar is not None:
                self._bar.update((self.now - before).total_seconds() / 60.0)
            await self.collect_webhooks()
            await self._track()
            await self._locate_deliveries()

    async def records(self, campaign_id: str, cursor: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Operator-side outcome records of a campaign from ``cursor`` on (every page)."""
        out: list[dict[str, Any]] = []
        while True:
            _, raw = await self.timed(self.stack.admin.send(
                "GET", f"/admin/v1/campaigns/{campaign_id}/deliveries",
                params={"limit": "1000", "cursor": str(cursor)}))
            page = DeliveryList.model_validate_json(raw)
            out.extend(plain(r) for r in page.records)
            if page.next_cursor is None:
                return out, cursor + len(page.records)
            cursor = int(page.next_cursor)

    async def _locate_deliveries(self) -> None:
        """Where new deliveries landed: the recipient's serving cell right after the chunk they fell in."""
        for _, campaign_id in self.campaigns.values():
            records, self._cursors[campaign_id] = await self.records(campaign_id, self._cursors.get(campaign_id, 0))
            for r in records:
                if r["outcome"] != "DELIVERED" or len(self._located) >= MAP_POINTS:
                    continue
                view = await self.timed(self.stack.admin.subscriber(r["msisdn"]))
                self._located[r["id"]] = (view.location.cell_latitude, view.location.cell_longitude,
                                          view.location.cell_id)

    async def _run_step(self, index: int, step: Step) -> StepResult:
        """Advance to the step's time (refusing a time already past), do its action, remember its answer."""
        if step.at is not None:
            target = self.scenario.instant(step.at)
            if target > self.now:
                await self.advance_to(target)
        result = StepResult(index, step.id, step.action, self.now, ok=True)
        if step.at is not None and self.scenario.instant(step.at) < self.now:
            result.ok = False
            result.error = {"code": "IN_THE_PAST",
                            "message": f"step time {stamp(self.scenario.instant(step.at))} is before "
                                       f"the current simulated time {stamp(self.now)}"}
            return result
        await ACTIONS[step.action](self, step, result)
        if step.id is not None:
            self.answers[step.id] = result.answer
        return result

    # -- the run ---------------------------------------------------------------------------------------------
    async def run_async(self, world: World) -> RunResult:
        """Serve ``world`` and replay the steps."""
        started = time.monotonic()
        total_min = (timeline_end(self.scenario) - self.scenario.start).total_seconds() / 60.0
        async with self._served(world):
            self._bar = tqdm(total=round(total_min), unit="sim-min", disable=not self.progress,
                             desc=self.scenario.name, leave=False,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} sim-min [{elapsed}]")
            try:
                for i, step in enumerate(self.scenario.steps):
                    self.results.append(await self._run_step(i, step))
                await self.collect_webhooks()
                campaigns, deliveries = await self._final_campaigns()
                metrics = await self.stack.admin.metrics()
            finally:
                self._bar.close()
        self.timings.total = time.monotonic() - started
        self.timings.world_ticks = world.tick_ms_total / 1000.0
        self.timings.server = _server_seconds(metrics)
        return RunResult(self.scenario, self.seed, world, summary_json(world.summary()), self.results, self.transcript,
                         self.webhooks, self.tracks, self.timings, deliveries, campaigns)

    async def _final_campaigns(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Each campaign's partner report next to the operator-side truth; every outcome into the transcript."""
        campaigns: list[dict[str, Any]] = []
        deliveries: list[dict[str, Any]] = []
        for step_id, (partner_name, campaign_id) in self.campaigns.items():
            report = plain(await self.timed(self.partners[partner_name].call(
                CampaignReport, "GET", f"/campaigns/v1/campaigns/{campaign_id}/report")))
            records, _ = await self.records(campaign_id)
            truth = truth_counts(records, self.now)
            campaigns.append({"step": step_id, "id": campaign_id, "partner": partner_name, "report": report,
                              "truth": truth, "summary": _campaign_line(step_id, campaign_id, report, truth)})
            for r in records:
                kind = "suppression" if r["outcome"] == "SUPPRESSED" else "delivery"
                self.transcript.entries.append({"t": r["at"], "kind": kind, "campaign": campaign_id, **r})
                cell = self._located.get(r["id"])
                deliveries.append({
                    "t": r["at"], "campaign": campaign_id, "partner": partner_name, "subscriber": r["msisdn"],
                    "outcome": r["outcome"], "reason": r.get("reason"), "channel": r.get("channel"),
                    "cell": cell[2] if cell else None, "latitude": cell[0] if cell else None,
                    "longitude": cell[1] if cell else None, "delivered_at": r.get("deliveredAt"),
                    "opened_at": r.get("openedAt")})
        return campaigns, deliveries


def operator_settings(scenario: Scenario) -> CampaignSettings:
    """The gateway's campaign rules with the scenario's operator overrides."""
    overrides = {k: v for k, v in scenario.operator.model_dump().items() if v is not None}
    return dataclasses.replace(CampaignSettings(), **overrides)


def _campaign_line(step_id: str, campaign_id: str, report: dict[str, Any], truth: dict[str, Any]) -> str:
    def show(v: Any) -> str:
        return "withheld" if v is None else f"{v:,}" if isinstance(v, int) else str(v)

    return (f"{step_id} ({campaign_id}, {report.get('status')}): partner report sent {show(report.get('sent'))}, "
            f"delivered {show(report.get('delivered'))}, opened {show(report.get('opened'))} | operator truth sent "
            f"{truth['sent']:,}, delivered {truth['delivered']:,}, opened {truth['opened']:,}, suppressed "
            + (", ".join(f"{k} {v:,}" for k, v in truth["suppressed"].items() if v) or "none"))


def _server_seconds(metrics_text: str) -> float:
    """Total wall time the gateway spent serving requests (sum of the latency histogram)."""
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("opsim_http_request_duration_seconds_sum"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def run_scenario(scenario: Scenario, *, seed: int | None = None, base_dir: Path = Path("."),
                 progress: bool = False) -> RunResult:
    """Build the world, serve it, replay the scenario; returns the result (nothing written)."""
    runner = Runner(scenario, seed=seed, progress=progress)
    started = time.monotonic()
    world = build_world(scenario, runner.seed, base_dir)
    runner.timings.build = time.monotonic() - started
    result = asyncio.run(runner.run_async(world))
    result.timings.total += result.timings.build
    return result
