"""Replaying a scenario over the real API: build the world, serve it on loopback, run the steps in simulated time.

Owns the order of a run: world built from the scenario (events such as gatherings are world set-up, applied
before serving), the gateway and the partner webhook receiver started on 127.0.0.1 (port 0) with a manual
clock, partners created through the admin API, then each step at its simulated time through the partner and
admin clients, exactly as an integrator's code would (``add_gathering`` steps add gatherings mid-run through the
admin API). Webhooks are read once the gateway's outbox has attempted every stored event, so what a check sees
does not depend on network timing. Every call and answer, webhook and check goes into the transcript. It must
not reach into the gateway's internals; the world object is read only for static geometry (the report's map) and
the timing split.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pydantic
from tqdm import tqdm

from gateway.api.admin_gatherings import GatheringCreate
from gateway.api.admin_subscribers import ProfileFields
from gateway.api.campaigns import AudienceEstimate, Campaign, CampaignReport, DeliveryList
from gateway.camara.geofencing_subscriptions import SubscriptionRequest
from gateway.camara.location_verification import VerifyLocationRequest
from gateway.camara.population_density_data import PopulationDensityRequest
from gateway.camara.region_device_count import RegionDeviceCountRequest
from gateway.client import ApiError, PartnerClient
from gateway.policy import REASONS
from gateway.settings import CampaignSettings
from scenarios.schema import (
    Advance,
    AreaSpec,
    Check,
    CircleSpec,
    Gathering,
    PartnerSpec,
    Scenario,
    Step,
    SubscribeGeofence,
    TargetingSpec,
)
from scenarios.stack import Stack, serve
from scenarios.transcript import Transcript, plain, stamp, webhook_order
from simulator.city import city_from_geojson
from simulator.consent import ConsentRates
from simulator.world import World, WorldConfig

T = TypeVar("T")

ADVANCE_CHUNK = timedelta(minutes=15)
"""Long advances are split into calls of at most this much simulated time (the progress bar moves per chunk)."""
DEFAULT_TOLERANCE = 0.05
"""Relative tolerance of ``approx`` when neither ``tolerance`` nor ``abs_tolerance`` is given."""
MAP_POINTS = 3000
"""Delivery points located for the map (the first ones, in decision order); the CSV has every record."""
INBOX_PLACEHOLDER = "<inbox>"
"""Stands for the webhook receiver's base URL (a random port) in recorded answers."""
POLYGON_SIDES = 12
"""A circle sent to an API that takes polygons only (population density) is this regular polygon inscribed in it."""
AGGREGATES: dict[str, Callable[[list[float]], float]] = {"max": max, "min": min, "sum": sum}
"""Reductions a check path may end a list with."""


class RunError(Exception):
    """The scenario cannot run at all (a world it describes cannot be built); exit code 2."""


@dataclass
class CheckResult:
    """One evaluated assertion."""

    name: str
    of: str
    path: str
    actual: Any
    expected: dict[str, Any]
    ok: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"name": self.name, "of": self.of, "path": self.path, "actual": self.actual,
                "expected": self.expected, "ok": self.ok, "message": self.message}


@dataclass
class StepResult:
    """What one step did and how it went."""

    index: int
    id: str | None
    action: str
    at: datetime
    ok: bool
    answer: Any = None
    error: dict[str, Any] | None = None
    checks: list[CheckResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        data: dict[str, Any] = plain({"index": self.index, "id": self.id, "action": self.action, "at": self.at,
                                      "ok": self.ok, "answer": self.answer, "error": self.error,
                                      "checks": [c.to_dict() for c in self.checks]})
        return data


@dataclass
class Timings:
    """Where the wall time went (seconds)."""

    build: float = 0.0
    total: float = 0.0
    in_calls: float = 0.0
    world_ticks: float = 0.0
    server: float = 0.0

    def to_dict(self) -> dict[str, float]:
        """JSON form, with the client share (time in calls minus time the server spent) derived."""
        client = max(0.0, self.in_calls - self.server)
        return {"buildS": round(self.build, 3), "totalS": round(self.total, 3), "inCallsS": round(self.in_calls, 3),
                "worldTicksS": round(self.world_ticks, 3), "serverS": round(self.server, 3),
                "gatewayS": round(max(0.0, self.server - self.world_ticks), 3), "clientS": round(client, 3)}


@dataclass
class RunResult:
    """Everything a run produced; :mod:`scenarios.report` writes it out."""

    scenario: Scenario
    seed: int
    world: World
    summary: dict[str, Any]
    steps: list[StepResult]
    transcript: Transcript
    webhooks: list[dict[str, Any]]
    tracks: dict[str, list[tuple[str, float, float, str]]]
    timings: Timings
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    campaigns: list[dict[str, Any]] = field(default_factory=list)

    @property
    def checks(self) -> list[CheckResult]:
        """Every check of every expect step."""
        return [c for s in self.steps for c in s.checks]

    @property
    def failed(self) -> bool:
        """Whether any step or check failed."""
        return any(not s.ok for s in self.steps)

    @property
    def digest(self) -> str:
        """sha256 of the transcript."""
        return self.transcript.digest()


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
                       custom_city=custom, locale=w.locale)


def build_world(scenario: Scenario, seed: int, base_dir: Path) -> World:
    """Build the world and apply the scenario's events (gatherings are set up before serving)."""
    from simulator.errors import SimulatorError

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


def resolve_path(value: Any, path: str) -> Any:
    """Follow a dotted path (``a.b.0.c``; ``count`` is the length of a list or mapping).

    ``*`` maps the rest of the path (up to the next ``count``/``max``/``min``/``sum``) over every item of a list,
    skipping items that lack a field and flattening nested ``*``; ``max``, ``min`` and ``sum`` reduce a list.
    """
    return _resolve(value, [p for p in path.split(".") if p] if path else [])


def _resolve(value: Any, parts: list[str]) -> Any:
    for k, part in enumerate(parts):
        if part == "*":
            if not isinstance(value, list | dict):
                raise KeyError(f"cannot take * of {type(value).__name__}")
            rest = parts[k + 1:]
            cut = next((j for j, p in enumerate(rest) if p == "count" or p in AGGREGATES), len(rest))
            mapped: list[Any] = []
            for item in value if isinstance(value, list) else value.values():
                try:
                    got = _resolve(item, rest[:cut])
                except KeyError:
                    continue
                if "*" in rest[:cut] and isinstance(got, list):
                    mapped.extend(got)
                else:
                    mapped.append(got)
            return _resolve(mapped, rest[cut:])
        if part in AGGREGATES and isinstance(value, list):
            numbers = [v for v in value if isinstance(v, int | float) and not isinstance(v, bool)]
            if len(numbers) != len(value):
                raise KeyError(f"{part} needs a list of numbers")
            value = AGGREGATES[part](numbers) if numbers else None
        elif part == "count" and isinstance(value, list | dict) and "count" not in (value if isinstance(value, dict)
                                                                                  else {}):
            value = len(value)
        elif isinstance(value, dict):
            if part not in value:
                raise KeyError(f"no field {part!r} (fields: {', '.join(sorted(map(str, value))) or 'none'})")
            value = value[part]
        elif isinstance(value, list):
            try:
                value = value[int(part)]
            except (ValueError, IndexError):
                raise KeyError(f"no item {part!r} in a list of {len(value)}") from None
        else:
            raise KeyError(f"cannot take {part!r} of {type(value).__name__}")
    return value


def compare(check: Check, actual: Any) -> tuple[bool, dict[str, Any], str]:
    """Evaluate the operators of a check against ``actual``: (ok, expected, message)."""
    expected: dict[str, Any] = {}
    failures: list[str] = []
    given = check.model_fields_set
    if "equals" in given:
        expected["equals"] = check.equals
        if actual != check.equals:
            failures.append(f"expected {check.equals!r}, got {actual!r}")
    numeric = isinstance(actual, int | float) and not isinstance(actual, bool)
    for op, bound in (("at_least", check.at_least), ("at_most", check.at_most)):
        if bound is None:
            continue
        expected[op] = bound
        if not numeric:
            failures.append(f"{op} needs a number, got {actual!r}")
        elif (op == "at_least" and actual < bound) or (op == "at_most" and actual > bound):
            failures.append(f"expected {'≥' if op == 'at_least' else '≤'} {bound:g}, got {actual!r}")
    if check.approx is not None:
        if check.abs_tolerance is not None:
            tol = check.abs_tolerance
        else:
            tol = abs(check.approx) * (check.tolerance if check.tolerance is not None else DEFAULT_TOLERANCE)
        expected["approx"] = check.approx
        expected["within"] = tol
        if not numeric:
            failures.append(f"approx needs a number, got {actual!r}")
        elif not math.isclose(actual, check.approx, abs_tol=tol, rel_tol=0):
            failures.append(f"expected {check.approx:g} ± {tol:g}, got {actual!r}")
    if "contains" in given:
        expected["contains"] = check.contains
        text = isinstance(actual, str) and isinstance(check.contains, str)
        ok = check.contains in actual if text or isinstance(actual, list | dict) else False
        if not ok:
            failures.append(f"expected to contain {check.contains!r}, got {actual!r}")
    return not failures, expected, "; ".join(failures) or "ok"


class Runner:
    """Runs one scenario once. Use :func:`run_scenario` unless you need the pieces."""

    def __init__(self, scenario: Scenario, *, seed: int | None = None, base_dir: Path = Path("."),
                 progress: bool = False) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.base_dir = base_dir
        self.progress = progress
        self.transcript = Transcript()
        self.results: list[StepResult] = []
        self.answers: dict[str, Any] = {}
        self.partners: dict[str, PartnerClient] = {}
        self.partner_specs: dict[str, PartnerSpec] = {}
        self.tracks: dict[str, list[tuple[str, float, float, str]]] = {}
        self.timings = Timings()
        self._webhooks_seen = 0
        self._webhooks: list[dict[str, Any]] = []
        self._bar: tqdm[Any] | None = None
        self.campaigns: dict[str, tuple[str, str]] = {}  # step id → (partner name, campaign id)
        self._cursors: dict[str, int] = {}
        self._located: dict[str, tuple[float, float, str]] = {}  # delivery record id → cell lat, lon, cell id
        self.stack: Stack

    # -- plumbing --------------------------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        """Simulated now (the world's clock, which the gateway serves)."""
        return self.stack.world.clock.now

    async def _timed(self, call: Awaitable[T]) -> T:
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
            summary = world.summary()
            self.transcript.add(self.now, "world", **{k: summary[k] for k in (
                "city", "country", "timezone", "subscribers", "cells", "seed", "start", "tickSeconds")},
                gatherings=[{"id": g.id, "name": g.name, "start": g.start, "end": g.end,
                             "attendees": len(g.attendees)} for g in world.gatherings])
            for spec in self.scenario.partners:
                created = await self._timed(served.admin.create_partner(spec.name, spec.scopes))
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
        return (await self._timed(self.stack.admin.webhook_counts())).pending > 0

    async def _collect_webhooks(self) -> None:
        if any(spec.sinks for spec in self.partner_specs.values()):  # nothing can arrive without a sink
            await self.stack.inbox.settle(self._outbox_busy)
        new = self.stack.inbox.received[self._webhooks_seen:]
        self._webhooks_seen += len(new)
        rows = sorted((r.to_dict() for r in new), key=webhook_order)
        self.transcript.add_webhooks(self.now, rows)
        self._webhooks.extend(plain(rows))

    async def _track(self) -> None:
        for msisdn, points in self.tracks.items():
            view = await self._timed(self.stack.admin.subscriber(msisdn))
            points.append((self.now.isoformat(), view.location.latitude, view.location.longitude,
                           view.location.cell_id))

    async def _advance_to(self, target: datetime) -> None:
        while self.now < target:
            chunk_end = min(target, self.now + ADVANCE_CHUNK)
            before = self.now
            await self._timed(self.stack.admin.advance(to=chunk_end))
            if self._bar is not None:
                self._bar.update((self.now - before).total_seconds() / 60.0)
            await self._collect_webhooks()
            await self._track()
            await self._locate_deliveries()

    async def _records(self, campaign_id: str, cursor: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Operator-side outcome records of a campaign from ``cursor`` on (every page)."""
        out: list[dict[str, Any]] = []
        while True:
            _, raw = await self._timed(self.stack.admin.send(
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
            records, self._cursors[campaign_id] = await self._records(campaign_id, self._cursors.get(campaign_id, 0))
            for r in records:
                if r["outcome"] != "DELIVERED" or len(self._located) >= MAP_POINTS:
                    continue
                view = await self._timed(self.stack.admin.subscriber(r["msisdn"]))
                self._located[r["id"]] = (view.location.cell_latitude, view.location.cell_longitude,
                                          view.location.cell_id)

    def _partner(self, step: Step) -> tuple[str, PartnerClient]:
        name = step.partner or self.scenario.partners[0].name
        return name, self.partners[name]

    def _area(self, a: AreaSpec | CircleSpec, polygon_only: bool = False) -> dict[str, Any]:
        """The wire form of an area (a circle becomes an inscribed regular polygon when only polygons are taken)."""
        if isinstance(a, AreaSpec) and a.polygon is not None:
            return {"areaType": "POLYGON", "boundary": [{"latitude": la, "longitude": lo} for la, lo in a.polygon]}
        lat, lon = self._where(a.place, a.latitude, a.longitude)
        assert lat is not None and lon is not None and a.radius is not None  # the schema insists
        if polygon_only:
            return {"areaType": "POLYGON", "boundary": [
                {"latitude": la, "longitude": lo} for la, lo in inscribed_polygon(lat, lon, a.radius)]}
        return {"areaType": "CIRCLE", "center": {"latitude": lat, "longitude": lon}, "radius": a.radius}

    def _targeting(self, t: TargetingSpec) -> dict[str, Any]:
        areas = [self._area(a) for a in t.areas]
        body: dict[str, Any] = {"areas": areas, "locationMode": t.location_mode}
        if t.dwell_minutes is not None:
            body["dwellMinutes"] = t.dwell_minutes
        if t.visited_from is not None:
            body["visitedFrom"] = stamp(self.scenario.instant(t.visited_from))
        if t.visited_to is not None:
            body["visitedTo"] = stamp(self.scenario.instant(t.visited_to))
        if t.segment is not None:
            body["segment"] = t.segment.model_dump(mode="json", by_alias=True, exclude_none=True)
        return body

    # -- steps -----------------------------------------------------------------------------------------------
    async def _do(self, step: Step) -> Any:
        admin = self.stack.admin
        body = step.body
        if step.advance is not None:
            adv: Advance = step.advance
            target = self.now + adv.by if adv.by is not None else self.scenario.instant(adv.to or self.now)
            if target < self.now:
                raise ApiError(409, "CONFLICT", f"cannot go back from {self.now.isoformat()} to {target.isoformat()}",
                               None)
            await self._advance_to(target)
            return {"now": self.now}
        if step.set_consent is not None:
            c = step.set_consent
            channels: list[str | None] = [c.channel]
            if c.purpose == "ADVERTISING" and c.channel is None:
                channels = ["PUSH", "SMS"]  # advertising consent is per channel: absent means every channel
            for channel in channels:
                view = await self._timed(admin.set_consent(c.msisdn, c.purpose, c.granted, channel))
            return {"consent": view.consent}
        if step.add_test_subscriber is not None:
            a = step.add_test_subscriber
            lat, lon = self._where(a.place, a.latitude, a.longitude)
            profile = ProfileFields.model_validate(a.profile.model_dump(exclude_none=True))
            consent: dict[str, dict[str, bool]] = {p: {str(c): g for c, g in ch.items()} for p, ch in a.consent.items()}
            view = await self._timed(admin.add_test_subscriber(
                a.msisdn, profile=profile, consent=consent, latitude=lat, longitude=lon))
            self.tracks.setdefault(a.msisdn, []).append(
                (self.now.isoformat(), view.location.latitude, view.location.longitude, view.location.cell_id))
            return view
        if step.pin_subscriber is not None:
            p = step.pin_subscriber
            if p.release:
                view = await self._timed(admin.release(p.msisdn))
            else:
                lat, lon = self._where(p.place, p.latitude, p.longitude)
                assert lat is not None and lon is not None
                view = await self._timed(admin.pin(p.msisdn, lat, lon))
            self.tracks.setdefault(p.msisdn, []).append(
                (self.now.isoformat(), view.location.latitude, view.location.longitude, view.location.cell_id))
            return {"location": view.location}
        if step.estimate is not None:
            e = step.estimate
            _, partner = self._partner(step)
            request: dict[str, Any] = {"targeting": self._targeting(e), "kind": e.kind, "channel": e.channel}
            if e.max_recipients is not None:
                request["maxRecipients"] = e.max_recipients
            return await self._timed(partner.call(AudienceEstimate, "POST", "/campaigns/v1/audience-estimates",
                                                  json=request))
        if step.create_campaign is not None:
            cc = step.create_campaign
            name, partner = self._partner(step)
            schedule: dict[str, Any] = {"startTime": stamp(self.scenario.instant(cc.start)),
                                        "endTime": stamp(self.scenario.instant(cc.end))}
            if cc.daily_hours is not None:
                schedule["dailyHours"] = {"from": cc.daily_hours.from_, "to": cc.daily_hours.to}
            if cc.days_of_week is not None:
                schedule["daysOfWeek"] = list(cc.days_of_week)
            message = cc.message.model_dump(exclude_none=True)
            request = {"name": cc.name, "targeting": self._targeting(cc), "schedule": schedule,
                       "message": {"kind": message["kind"], "channel": message["channel"],
                                   "senderName": message["sender_name"], "text": message["text"],
                                   **({"title": message["title"]} if "title" in message else {})}}
            if cc.max_recipients is not None:
                request["maxRecipients"] = cc.max_recipients
            created = await self._timed(partner.call(Campaign, "POST", "/campaigns/v1/campaigns", json=request))
            assert step.id is not None  # the loader insists
            self.campaigns[step.id] = (name, created.id)
            return created
        if step.cancel_campaign is not None:
            partner_name, campaign_id = self.campaigns[step.cancel_campaign.campaign]
            return await self._timed(self.partners[partner_name].call(
                Campaign, "DELETE", f"/campaigns/v1/campaigns/{campaign_id}"))
        if step.add_gathering is not None:
            return await self._timed(admin.add_gathering(self._gathering(step.add_gathering)))
        if step.subscribe_geofence is not None:
            name, partner = self._partner(step)
            return await self._timed(partner.create_geofence_subscription(
                self._subscription(name, step.subscribe_geofence)))
        if step.verify_location is not None:
            v = step.verify_location
            _, partner = self._partner(step)
            return await self._timed(partner.verify_location(VerifyLocationRequest.model_validate(
                {"device": {"phoneNumber": v.msisdn}, "area": self._area(v.area), "maxAge": v.max_age})))
        if step.count_devices is not None:
            cd = step.count_devices
            _, partner = self._partner(step)
            request = {"area": self._area(cd.area)}
            if cd.start is not None and cd.end is not None:
                request |= {"starttime": stamp(self.scenario.instant(cd.start)),
                            "endtime": stamp(self.scenario.instant(cd.end))}
            flt = {k: v for k, v in (("roamingStatus", cd.roaming_status), ("deviceType", cd.device_type)) if v}
            if flt:
                request["filter"] = flt
            return await self._timed(partner.count_devices(RegionDeviceCountRequest.model_validate(request)))
        if step.density is not None:
            d = step.density
            _, partner = self._partner(step)
            answer = await self._timed(partner.population_density(PopulationDensityRequest.model_validate({
                "area": self._area(d.area, polygon_only=True), "startTime": stamp(self.scenario.instant(d.start)),
                "endTime": stamp(self.scenario.instant(d.end)), "precision": d.precision})))
            return density_summary(plain(answer))
        raise NotImplementedError(f"step {step.action} with {body!r}")  # every action is handled above

    def _gathering(self, g: Gathering) -> GatheringCreate:
        return GatheringCreate(name=g.name, place=g.place, latitude=g.latitude, longitude=g.longitude,
                               start=self.scenario.instant(g.start), end=self.scenario.instant(g.end), share=g.share,
                               count=g.count, arrive_before_minutes=round(g.arrive_before.total_seconds() / 60))

    def _subscription(self, partner_name: str, sg: SubscribeGeofence) -> SubscriptionRequest:
        sinks = self.partner_specs[partner_name].sinks
        path = sinks[sg.sink] if sg.sink is not None else next(iter(sinks.values()))
        config: dict[str, Any] = {"subscriptionDetail": {"device": {"phoneNumber": sg.msisdn},
                                                         "area": self._area(sg.area)}}
        if sg.expire_at is not None:
            config["subscriptionExpireTime"] = stamp(self.scenario.instant(sg.expire_at))
        if sg.max_events is not None:
            config["subscriptionMaxEvents"] = sg.max_events
        if sg.initial_event:
            config["initialEvent"] = True
        return SubscriptionRequest.model_validate({
            "protocol": "HTTP", "sink": self.stack.inbox.url(path), "config": config,
            "types": [f"org.camaraproject.geofencing-subscriptions.v0.{sg.event}"]})

    def _scrub(self, value: Any) -> Any:
        """Recorded data with the receiver's base URL (a random port) replaced by :data:`INBOX_PLACEHOLDER`."""
        base = self.stack.inbox.url("/").rstrip("/")
        if isinstance(value, str):
            return value.replace(base, INBOX_PLACEHOLDER)
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        return value

    def _where(self, place: str | None, lat: float | None, lon: float | None) -> tuple[float | None, float | None]:
        if place is None:
            return lat, lon
        named = next(p for p in self.stack.world.city.places if p.name.lower() == place.lower())
        return named.latitude, named.longitude

    async def _observe(self, check: Check) -> Any:
        admin = self.stack.admin
        if check.of == "inbox":
            assert check.msisdn is not None
            msisdn = check.msisdn
            return plain(await self._timed(admin.inbox(msisdn)))
        if check.of == "subscriber":
            assert check.msisdn is not None
            msisdn = check.msisdn
            return plain(await self._timed(admin.subscriber(msisdn)))
        if check.of == "webhooks":
            paths = {path for name, spec in self.partner_specs.items() if check.partner in (None, name)
                     for sink, path in spec.sinks.items() if check.sink in (None, sink)}
            hooks = [h for h in self._webhooks if h["path"] in paths]
            if check.event_type is not None:
                hooks = [h for h in hooks if isinstance(h["body"], dict) and h["body"].get("type") == check.event_type]
            return [h["body"] for h in hooks]
        if check.of in ("report", "truth"):
            assert check.campaign is not None
            if check.campaign not in self.campaigns:
                raise KeyError(f"campaign {check.campaign!r} was not created (its step failed)")
            partner_name, campaign_id = self.campaigns[check.campaign]
            if check.of == "report":
                return plain(await self._timed(self.partners[partner_name].call(
                    CampaignReport, "GET", f"/campaigns/v1/campaigns/{campaign_id}/report")))
            records, _ = await self._records(campaign_id)
            return truth_counts(records, self.now)
        assert check.step is not None
        return self.answers[check.step]

    async def _expect(self, index: int, checks: list[Check]) -> list[CheckResult]:
        await self._collect_webhooks()
        out = []
        for j, check in enumerate(checks):
            name = check.name or f"steps[{index}].expect[{j}]"
            try:
                actual = resolve_path(await self._observe(check), check.path)
                ok, expected, message = compare(check, actual)
            except (KeyError, ApiError) as exc:
                actual, ok, expected, message = None, False, {}, str(exc).strip("'\"")
            result = CheckResult(name, check.of, check.path, plain(actual), plain(expected), ok, message)
            self.transcript.add(self.now, "check", step=index, **result.to_dict())
            out.append(result)
        return out

    async def _run_step(self, index: int, step: Step) -> StepResult:
        if step.at is not None:
            target = self.scenario.instant(step.at)
            if target > self.now:
                await self._advance_to(target)
        result = StepResult(index, step.id, step.action, self.now, ok=True)
        if step.at is not None and self.scenario.instant(step.at) < self.now:
            result.ok = False
            result.error = {"code": "IN_THE_PAST",
                            "message": f"step time {self.scenario.instant(step.at).isoformat()} is before "
                                       f"the current simulated time {self.now.isoformat()}"}
            return result
        if step.expect is not None:
            result.checks = await self._expect(index, step.expect)
            result.ok = all(c.ok for c in result.checks)
            result.answer = {"passed": sum(c.ok for c in result.checks), "failed": sum(not c.ok for c in result.checks)}
            if step.id is not None:
                self.answers[step.id] = result.answer
            return result
        request = plain(step.body.model_dump(mode="json", exclude_none=True))
        self.transcript.add(self.now, "call", step=index, action=step.action, request=request)
        try:
            answer = self._scrub(plain(await self._do(step)))
            result.answer = answer
            self.transcript.add(self.now, "answer", step=index, action=step.action, body=answer)
            if step.expect_error is not None:
                result.ok = False
                result.error = {"code": "EXPECTED_ERROR", "message": f"expected {step.expect_error}, got success"}
        except (ApiError, pydantic.ValidationError) as exc:
            if isinstance(exc, pydantic.ValidationError):  # the client refused to send it: no status
                exc = ApiError(0, "CLIENT_VALIDATION", str(exc.errors(include_url=False)[0]["msg"]), None)
            error = {"status": exc.status, "code": exc.code, "message": exc.message}
            self.transcript.add(self.now, "answer", step=index, action=step.action, error=error)
            result.error = error
            result.answer = {"error": error}
            result.ok = step.expect_error == exc.code
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
                await self._collect_webhooks()
                campaigns, deliveries = await self._final_campaigns()
                metrics = await self.stack.admin.metrics()
            finally:
                self._bar.close()
        self.timings.total = time.monotonic() - started
        self.timings.world_ticks = world.tick_ms_total / 1000.0
        self.timings.server = _server_seconds(metrics)
        return RunResult(self.scenario, self.seed, world, world.summary(), self.results, self.transcript,
                         self._webhooks, self.tracks, self.timings, deliveries, campaigns)

    async def _final_campaigns(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Each campaign's partner report next to the operator-side truth; every outcome into the transcript."""
        campaigns: list[dict[str, Any]] = []
        deliveries: list[dict[str, Any]] = []
        for step_id, (partner_name, campaign_id) in self.campaigns.items():
            report = plain(await self._timed(self.partners[partner_name].call(
                CampaignReport, "GET", f"/campaigns/v1/campaigns/{campaign_id}/report")))
            records, _ = await self._records(campaign_id)
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


def inscribed_polygon(latitude: float, longitude: float, radius: float,
                      sides: int = POLYGON_SIDES) -> list[tuple[float, float]]:
    """A regular polygon inscribed in a circle (metres), as rounded WGS84 points (equirectangular: city scale)."""
    dlat = radius / 111_320.0
    dlon = radius / (111_320.0 * math.cos(math.radians(latitude)))
    return [(round(latitude + dlat * math.cos(2 * math.pi * k / sides), 6),
             round(longitude + dlon * math.sin(2 * math.pi * k / sides), 6)) for k in range(sides)]


def density_summary(answer: dict[str, Any]) -> dict[str, Any]:
    """A population density answer with, per hourly slot, the peak and mean estimate, and the peak slot.

    This is what a partner would compute from the grid; it is added next to the API's own fields.
    """
    slots = []
    for slot in answer.get("timedPopulationDensityData", []):
        cells = slot.get("cellPopulationDensityData", [])
        estimates = [c["pplDensity"] for c in cells if c.get("dataType") == "DENSITY_ESTIMATION"]
        slots.append({"startTime": slot.get("startTime"), "endTime": slot.get("endTime"),
                      "maxPplDensity": max(estimates, default=None),
                      "meanPplDensity": round(sum(estimates) / len(estimates), 1) if estimates else None,
                      "estimatedCells": len(estimates),
                      "lowDensityCells": sum(c.get("dataType") == "LOW_DENSITY" for c in cells)})
    rated = [s for s in slots if s["maxPplDensity"] is not None]
    peak = max(rated, key=lambda s: s["maxPplDensity"], default=None)
    return {**answer, "slots": slots, "peakSlot": None if peak is None else peak["startTime"]}


def operator_settings(scenario: Scenario) -> CampaignSettings:
    """The gateway's campaign rules with the scenario's operator overrides."""
    import dataclasses

    overrides = {k: v for k, v in scenario.operator.model_dump().items() if v is not None}
    return dataclasses.replace(CampaignSettings(), **overrides)


def truth_counts(records: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """Operator-side outcome counts of a campaign's records as of ``now``.

    Exact: no rounding or withholding; every suppression reason is present, zeros included.
    """
    suppressed: dict[str, int] = dict.fromkeys(REASONS, 0)
    cutoff = stamp(now)
    for r in records:
        if r["outcome"] == "SUPPRESSED":
            reason = str(r.get("reason") or "UNKNOWN")
            suppressed[reason] = suppressed.get(reason, 0) + 1
    return {
        "records": len(records),
        "recipients": len({r["msisdn"] for r in records if r["outcome"] != "SUPPRESSED"}),
        "sent": sum(r["outcome"] != "SUPPRESSED" for r in records),
        "delivered": sum(r["outcome"] == "DELIVERED" for r in records),
        "failed": sum(r["outcome"] == "FAILED" for r in records),
        "opened": sum(r.get("openedAt") is not None and str(r["openedAt"]) <= cutoff for r in records),
        "clicked": sum(r.get("clickedAt") is not None and str(r["clickedAt"]) <= cutoff for r in records),
        "suppressed": dict(sorted(suppressed.items())),
        "suppressedTotal": sum(suppressed.values()),
    }


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
    runner = Runner(scenario, seed=seed, base_dir=base_dir, progress=progress)
    started = time.monotonic()
    world = build_world(scenario, runner.seed, base_dir)
    runner.timings.build = time.monotonic() - started
    result = asyncio.run(runner.run_async(world))
    result.timings.total += result.timings.build
    return result
