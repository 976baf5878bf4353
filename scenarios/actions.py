"""What each step kind does: one registered function per action key of :data:`scenarios.schema.STEP_ACTIONS`.

Owns the registry :data:`ACTIONS` (filled by the :func:`action` and :func:`handler` decorators below, so
adding a step kind is a schema field plus one decorated function here) and the translation of step
parameters into admin and partner API calls, exactly as an integrator's code would make them. API steps are
recorded the same way (:func:`perform`: the call, then the answer or the CAMARA error, with ``expect_error``
honoured); ``expect`` records its checks instead. Actions see the run only through :class:`Run`; they must not
reach into the gateway's internals.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

import aiohttp
import pydantic

from gateway.client import ApiError, PartnerClient
from gateway.wire.admin_gatherings import GatheringCreate
from gateway.wire.admin_subscribers import ProfileFields
from gateway.wire.camara.geofencing_subscriptions import SubscriptionRequest
from gateway.wire.camara.location_verification import VerifyLocationRequest
from gateway.wire.camara.population_density_data import PopulationDensityRequest
from gateway.wire.camara.region_device_count import RegionDeviceCountRequest
from gateway.wire.campaigns import AudienceEstimate, Campaign, CampaignReport
from scenarios.checks import compare, resolve_path
from scenarios.results import CheckResult, StepResult, truth_counts
from scenarios.schema import STEP_ACTIONS, AreaSpec, Check, CircleSpec, PartnerSpec, Scenario, Step, TargetingSpec
from scenarios.stack import Stack
from scenarios.transcript import Transcript, plain, stamp

T = TypeVar("T")

INBOX_PLACEHOLDER = "<inbox>"
"""Stands for the webhook receiver's base URL (a random port) in recorded answers."""
POLYGON_SIDES = 12
"""A circle sent to an API that takes polygons only (population density) is this regular polygon inscribed in it."""


class Run(Protocol):
    """What an action may use of the run in progress (:class:`scenarios.runner.Runner` provides it)."""

    scenario: Scenario
    stack: Stack
    transcript: Transcript
    partners: dict[str, PartnerClient]
    partner_specs: dict[str, PartnerSpec]
    answers: dict[str, Any]
    """Recorded answers of earlier steps, by step id."""
    campaigns: dict[str, tuple[str, str]]
    """Campaigns created so far: ``create_campaign`` step id → (partner name, campaign id)."""
    tracks: dict[str, list[tuple[str, float, float, str]]]
    """Test subscribers' positions over time (for the map): msisdn → (instant, latitude, longitude, cell id)."""
    webhooks: list[dict[str, Any]]
    """Webhooks received so far (collected by :meth:`collect_webhooks`)."""

    @property
    def now(self) -> datetime:
        """Simulated now."""

    async def timed(self, call: Awaitable[T]) -> T:
        """Await an API call, counting its wall time."""

    async def advance_to(self, target: datetime) -> None:
        """Run the simulated clock to ``target``."""

    async def collect_webhooks(self) -> None:
        """Wait until every stored webhook event was attempted and take in what arrived."""

    async def records(self, campaign_id: str, cursor: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Operator-side outcome records of a campaign from ``cursor`` on, and the next cursor."""


Do = Callable[[Run, Step], Awaitable[Any]]
"""An API step: makes its call(s) and returns the answer to record."""
Handler = Callable[[Run, Step, StepResult], Awaitable[None]]
"""A whole step: does it, records it in the transcript and fills in its :class:`StepResult`."""

ACTIONS: dict[str, Handler] = {}
"""Step kind (the action key of a step) → what the runner does for it."""


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register a function that runs and records a whole step of ``kind`` itself (``expect`` does)."""
    if kind not in STEP_ACTIONS:
        raise ValueError(f"unknown step kind {kind!r}; step kinds: {', '.join(STEP_ACTIONS)}")
    if kind in ACTIONS:
        raise ValueError(f"step kind {kind!r} already has an action")

    def register(fn: Handler) -> Handler:
        ACTIONS[kind] = fn
        return fn

    return register


def action(kind: str) -> Callable[[Do], Do]:
    """Register an API step of ``kind``: the function returns the answer, :func:`perform` records it."""
    add = handler(kind)  # refuses an unknown or already registered kind right away

    def register(do: Do) -> Do:
        async def run_step(run: Run, step: Step, result: StepResult) -> None:
            await perform(run, step, result, do)

        add(run_step)
        return do

    return register


async def perform(run: Run, step: Step, result: StepResult, do: Do) -> None:
    """Run an API step between its records: the call, then the answer or the error.

    The step passes when it succeeds without ``expect_error``, or fails with exactly the ``expect_error`` code.
    """
    index = result.index
    request = plain(step.body.model_dump(mode="json", exclude_none=True))
    run.transcript.add(run.now, "call", step=index, action=step.action, request=request)
    try:
        answer = scrub(run, plain(await do(run, step)))
        result.answer = answer
        run.transcript.add(run.now, "answer", step=index, action=step.action, body=answer)
        if step.expect_error is not None:
            result.ok = False
            result.error = {"code": "EXPECTED_ERROR", "message": f"expected {step.expect_error}, got success"}
    except (ApiError, pydantic.ValidationError, aiohttp.ClientConnectionError) as exc:
        if isinstance(exc, pydantic.ValidationError):  # the client refused to send it: no status
            exc = ApiError(0, "CLIENT_VALIDATION", str(exc.errors(include_url=False)[0]["msg"]), None)
        elif isinstance(exc, aiohttp.ClientConnectionError):  # e.g. an injected connection drop: no answer
            exc = ApiError(0, "CONNECTION_DROPPED", "the connection closed without an answer", None)
        error = {"status": exc.status, "code": exc.code, "message": exc.message}
        run.transcript.add(run.now, "answer", step=index, action=step.action, error=error)
        result.error = error
        result.answer = {"error": error}
        result.ok = step.expect_error == exc.code


# -- operator side (admin API) ---------------------------------------------------------------------------
@action("advance")
async def advance(run: Run, step: Step) -> Any:
    """Run the clock ``by`` a duration or ``to`` an instant (never backwards: that is a CONFLICT)."""
    adv = step.advance
    assert adv is not None
    target = run.now + adv.by if adv.by is not None else run.scenario.instant(adv.to or run.now)
    if target < run.now:
        raise ApiError(409, "CONFLICT", f"cannot go back from {stamp(run.now)} to {stamp(target)}", None)
    await run.advance_to(target)
    return {"now": run.now}


@action("set_consent")
async def set_consent(run: Run, step: Step) -> Any:
    """Grant or withdraw a consent; advertising without a channel is set on every channel."""
    c = step.set_consent
    assert c is not None
    channels: list[str | None] = [c.channel]
    if c.purpose == "ADVERTISING" and c.channel is None:
        channels = ["PUSH", "SMS"]  # advertising consent is per channel: absent means every channel
    for channel in channels:
        view = await run.timed(run.stack.admin.set_consent(c.msisdn, c.purpose, c.granted, channel))
    return {"consent": view.consent}


@action("add_test_subscriber")
async def add_test_subscriber(run: Run, step: Step) -> Any:
    """Add a QA phone where the step puts it; its track starts there."""
    a = step.add_test_subscriber
    assert a is not None
    lat, lon = where(run, a.place, a.latitude, a.longitude)
    profile = ProfileFields.model_validate(a.profile.model_dump(exclude_none=True))
    consent: dict[str, dict[str, bool]] = {p: {str(c): g for c, g in ch.items()} for p, ch in a.consent.items()}
    view = await run.timed(run.stack.admin.add_test_subscriber(
        a.msisdn, profile=profile, consent=consent, latitude=lat, longitude=lon))
    run.tracks.setdefault(a.msisdn, []).append(
        (stamp(run.now), view.location.latitude, view.location.longitude, view.location.cell_id))
    return view


@action("pin_subscriber")
async def pin_subscriber(run: Run, step: Step) -> Any:
    """Hold a subscriber at a place, or release them to their routine; their track is extended."""
    p = step.pin_subscriber
    assert p is not None
    if p.release:
        view = await run.timed(run.stack.admin.release(p.msisdn))
    else:
        lat, lon = where(run, p.place, p.latitude, p.longitude)
        assert lat is not None and lon is not None
        view = await run.timed(run.stack.admin.pin(p.msisdn, lat, lon))
    run.tracks.setdefault(p.msisdn, []).append(
        (stamp(run.now), view.location.latitude, view.location.longitude, view.location.cell_id))
    return {"location": view.location}


@action("add_gathering")
async def add_gathering(run: Run, step: Step) -> Any:
    """Add a gathering mid-run through the admin API."""
    g = step.add_gathering
    assert g is not None
    return await run.timed(run.stack.admin.add_gathering(GatheringCreate(
        name=g.name, place=g.place, latitude=g.latitude, longitude=g.longitude,
        start=run.scenario.instant(g.start), end=run.scenario.instant(g.end), share=g.share, count=g.count,
        arrive_before_minutes=round(g.arrive_before.total_seconds() / 60))))


@action("faults")
async def faults(run: Run, step: Step) -> Any:
    """Clear, remove and add fault profiles and inject network faults, in that order (admin API)."""
    f = step.faults
    assert f is not None
    admin = run.stack.admin
    if f.clear:
        await run.timed(admin.clear_fault_profiles())
    for name in f.remove:
        await run.timed(admin.remove_fault_profile(name))
    added = [await run.timed(admin.add_fault_profile(p)) for p in f.add]
    network = [await run.timed(admin.add_network_fault(n)) for n in f.network]
    return {"profiles": [p.name for p in await run.timed(admin.fault_profiles())], "added": added,
            "network": network}


@handler("expect")
async def expect(run: Run, step: Step, result: StepResult) -> None:
    """Evaluate every check against what it observes now (webhooks are collected first).

    Each check goes into the transcript; the step's answer counts the passed and failed ones.
    """
    assert step.expect is not None
    await run.collect_webhooks()
    for j, check in enumerate(step.expect):
        name = check.name or f"steps[{result.index}].expect[{j}]"
        try:
            actual = resolve_path(await observe(run, check), check.path)
            ok, expected, message = compare(check, actual)
        except (KeyError, ApiError) as exc:
            actual, ok, expected, message = None, False, {}, str(exc).strip("'\"")
        checked = CheckResult(name, check.of, check.path, plain(actual), plain(expected), ok, message)
        run.transcript.add(run.now, "check", step=result.index, **checked.to_dict())
        result.checks.append(checked)
    result.ok = all(c.ok for c in result.checks)
    result.answer = {"passed": sum(c.ok for c in result.checks), "failed": sum(not c.ok for c in result.checks)}


async def observe(run: Run, check: Check) -> Any:
    """The value a check looks at (its ``of``), before its ``path`` is followed."""
    admin = run.stack.admin
    if check.of == "inbox":
        assert check.msisdn is not None
        return plain(await run.timed(admin.inbox(check.msisdn)))
    if check.of == "subscriber":
        assert check.msisdn is not None
        return plain(await run.timed(admin.subscriber(check.msisdn)))
    if check.of == "webhooks":
        paths = {path for name, spec in run.partner_specs.items() if check.partner in (None, name)
                 for sink, path in spec.sinks.items() if check.sink in (None, sink)}
        hooks = [h for h in run.webhooks if h["path"] in paths]
        if check.event_type is not None:
            hooks = [h for h in hooks if isinstance(h["body"], dict) and h["body"].get("type") == check.event_type]
        return [h["body"] for h in hooks]
    if check.of in ("report", "truth"):
        assert check.campaign is not None
        if check.campaign not in run.campaigns:
            raise KeyError(f"campaign {check.campaign!r} was not created (its step failed)")
        partner_name, campaign_id = run.campaigns[check.campaign]
        if check.of == "report":
            return plain(await run.timed(run.partners[partner_name].call(
                CampaignReport, "GET", f"/campaigns/v1/campaigns/{campaign_id}/report")))
        records, _ = await run.records(campaign_id)
        return truth_counts(records, run.now)
    assert check.step is not None
    return run.answers[check.step]


# -- partner side (campaigns API) ------------------------------------------------------------------------
@action("estimate")
async def estimate(run: Run, step: Step) -> Any:
    """``POST /campaigns/v1/audience-estimates``."""
    e = step.estimate
    assert e is not None
    _, partner = acting_partner(run, step)
    request: dict[str, Any] = {"targeting": targeting(run, e), "kind": e.kind, "channel": e.channel}
    if e.max_recipients is not None:
        request["maxRecipients"] = e.max_recipients
    return await run.timed(partner.call(AudienceEstimate, "POST", "/campaigns/v1/audience-estimates", json=request))


@action("create_campaign")
async def create_campaign(run: Run, step: Step) -> Any:
    """``POST /campaigns/v1/campaigns``; the campaign is remembered under the step's id."""
    cc = step.create_campaign
    assert cc is not None
    name, partner = acting_partner(run, step)
    schedule: dict[str, Any] = {"startTime": stamp(run.scenario.instant(cc.start)),
                                "endTime": stamp(run.scenario.instant(cc.end))}
    if cc.daily_hours is not None:
        schedule["dailyHours"] = {"from": cc.daily_hours.from_, "to": cc.daily_hours.to}
    if cc.days_of_week is not None:
        schedule["daysOfWeek"] = list(cc.days_of_week)
    message = cc.message.model_dump(exclude_none=True)
    request: dict[str, Any] = {"name": cc.name, "targeting": targeting(run, cc), "schedule": schedule,
                               "message": {"kind": message["kind"], "channel": message["channel"],
                                           "senderName": message["sender_name"], "text": message["text"],
                                           **({"title": message["title"]} if "title" in message else {})}}
    if cc.max_recipients is not None:
        request["maxRecipients"] = cc.max_recipients
    created = await run.timed(partner.call(Campaign, "POST", "/campaigns/v1/campaigns", json=request))
    assert step.id is not None  # the loader insists
    run.campaigns[step.id] = (name, created.id)
    return created


@action("cancel_campaign")
async def cancel_campaign(run: Run, step: Step) -> Any:
    """``DELETE /campaigns/v1/campaigns/{id}``, as the partner that created it."""
    assert step.cancel_campaign is not None
    partner_name, campaign_id = run.campaigns[step.cancel_campaign.campaign]
    return await run.timed(run.partners[partner_name].call(
        Campaign, "DELETE", f"/campaigns/v1/campaigns/{campaign_id}"))


# -- partner side (CAMARA APIs) --------------------------------------------------------------------------
@action("subscribe_geofence")
async def subscribe_geofence(run: Run, step: Step) -> Any:
    """Create a geofencing subscription whose CloudEvents go to one of the partner's sinks on the receiver."""
    sg = step.subscribe_geofence
    assert sg is not None
    name, partner = acting_partner(run, step)
    sinks = run.partner_specs[name].sinks
    path = sinks[sg.sink] if sg.sink is not None else next(iter(sinks.values()))
    config: dict[str, Any] = {"subscriptionDetail": {"device": {"phoneNumber": sg.msisdn},
                                                     "area": area(run, sg.area)}}
    if sg.expire_at is not None:
        config["subscriptionExpireTime"] = stamp(run.scenario.instant(sg.expire_at))
    if sg.max_events is not None:
        config["subscriptionMaxEvents"] = sg.max_events
    if sg.initial_event:
        config["initialEvent"] = True
    return await run.timed(partner.create_geofence_subscription(SubscriptionRequest.model_validate({
        "protocol": "HTTP", "sink": run.stack.inbox.url(path), "config": config,
        "types": [f"org.camaraproject.geofencing-subscriptions.v0.{sg.event}"]})))


@action("verify_location")
async def verify_location(run: Run, step: Step) -> Any:
    """Whether the device is within the circle."""
    v = step.verify_location
    assert v is not None
    _, partner = acting_partner(run, step)
    return await run.timed(partner.verify_location(VerifyLocationRequest.model_validate(
        {"device": {"phoneNumber": v.msisdn}, "area": area(run, v.area), "maxAge": v.max_age})))


@action("count_devices")
async def count_devices(run: Run, step: Step) -> Any:
    """Devices in an area now, or during a window, with the optional filters."""
    cd = step.count_devices
    assert cd is not None
    _, partner = acting_partner(run, step)
    request: dict[str, Any] = {"area": area(run, cd.area)}
    if cd.start is not None and cd.end is not None:
        request |= {"starttime": stamp(run.scenario.instant(cd.start)),
                    "endtime": stamp(run.scenario.instant(cd.end))}
    flt = {k: v for k, v in (("roamingStatus", cd.roaming_status), ("deviceType", cd.device_type)) if v}
    if flt:
        request["filter"] = flt
    return await run.timed(partner.count_devices(RegionDeviceCountRequest.model_validate(request)))


@action("density")
async def density(run: Run, step: Step) -> Any:
    """Hourly population density over an area (a circle is sent as a polygon), with :func:`density_summary`."""
    d = step.density
    assert d is not None
    _, partner = acting_partner(run, step)
    answer = await run.timed(partner.population_density(PopulationDensityRequest.model_validate({
        "area": area(run, d.area, polygon_only=True), "startTime": stamp(run.scenario.instant(d.start)),
        "endTime": stamp(run.scenario.instant(d.end)), "precision": d.precision})))
    return density_summary(plain(answer))


# -- any call (recorded sessions replay through it) ------------------------------------------------------
@handler("request")
async def request(run: Run, step: Step, result: StepResult) -> None:
    """Send a call as given (``${id.path}`` and ``<inbox>`` filled in) and check its status and ``fields``.

    The answer (or the CAMARA error body) is recorded; one check per expectation: the status, then each field.
    """
    r = step.request
    assert r is not None
    index = result.index
    try:
        path, query, body = fill(run, r.path), fill(run, r.query), fill(run, r.body)
    except KeyError as exc:
        result.ok = False
        result.error = {"code": "UNRESOLVED", "message": str(exc).strip("'\"")}
        return
    client = run.stack.admin if r.caller == "admin" else acting_partner(run, step)[1]
    run.transcript.add(run.now, "call", step=index, action=step.action,
                       request=plain({"method": r.method, "path": path, "query": query, "body": body}))
    try:
        status, raw = await run.timed(client.send(r.method, path, json=body, params=query or None))
        answer: Any = _json_or_text(raw)
    except ApiError as exc:
        status, answer = exc.status, {"status": exc.status, "code": exc.code, "message": exc.message}
    except aiohttp.ClientConnectionError:
        status, answer = 0, {"code": "CONNECTION_DROPPED", "message": "the connection closed without an answer"}
    answer = scrub(run, plain(answer))
    result.answer = answer
    run.transcript.add(run.now, "answer", step=index, action=step.action, status=status, body=answer)
    label = step.id or f"steps[{index}]"
    ok = 200 <= status < 300 if r.status is None else status == r.status
    result.checks.append(CheckResult(f"{label} status", "step", "status", status,
                                     {"equals": r.status} if r.status is not None else {"success": True}, ok,
                                     "" if ok else f"status {status}, expected {r.status or '2xx'}"))
    for field_path, expected in r.fields.items():
        try:
            actual = resolve_path(answer, field_path)
        except KeyError as exc:
            actual, ok, message = None, False, str(exc).strip("'\"")
        else:
            ok = actual == expected
            message = "" if ok else f"{actual!r} != {expected!r}"
        result.checks.append(CheckResult(f"{label} {field_path}", "step", field_path, plain(actual),
                                         {"equals": plain(expected)}, ok, message))
    for checked in result.checks:
        run.transcript.add(run.now, "check", step=index, **checked.to_dict())
    result.ok = all(c.ok for c in result.checks)


_REFERENCE = re.compile(r"\$\{([A-Za-z][A-Za-z0-9_-]*)\.([^}]+)\}")


def fill(run: Run, value: Any) -> Any:
    """``value`` with ``${id.path}`` replaced by that field of step ``id``'s answer and ``<inbox>`` by the receiver.

    A string that is one reference becomes the field's value itself (a number stays a number). Raises
    :class:`KeyError` naming a missing step or field.
    """
    if isinstance(value, dict):
        return {k: fill(run, v) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(run, v) for v in value]
    if not isinstance(value, str):
        return value

    def field(match: re.Match[str]) -> Any:
        if match[1] not in run.answers:
            raise KeyError(f"no earlier step has id {match[1]!r}")
        return resolve_path(run.answers[match[1]], match[2])

    whole = _REFERENCE.fullmatch(value)
    if whole is not None:
        return field(whole)
    value = _REFERENCE.sub(lambda m: str(field(m)), value)
    return value.replace(INBOX_PLACEHOLDER, run.stack.inbox.url("/").rstrip("/"))


def _json_or_text(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


# -- building requests and recording answers -------------------------------------------------------------
def acting_partner(run: Run, step: Step) -> tuple[str, PartnerClient]:
    """The partner a step acts as (default: the first one), by name and client."""
    name = step.partner or run.scenario.partners[0].name
    return name, run.partners[name]


def where(run: Run, place: str | None, lat: float | None, lon: float | None) -> tuple[float | None, float | None]:
    """Coordinates of a named place of the city, or the coordinates given."""
    if place is None:
        return lat, lon
    named = next(p for p in run.stack.world.city.places if p.name.lower() == place.lower())
    return named.latitude, named.longitude


def area(run: Run, a: AreaSpec | CircleSpec, polygon_only: bool = False) -> dict[str, Any]:
    """The wire form of an area (a circle becomes an inscribed regular polygon when only polygons are taken)."""
    if isinstance(a, AreaSpec) and a.polygon is not None:
        return {"areaType": "POLYGON", "boundary": [{"latitude": la, "longitude": lo} for la, lo in a.polygon]}
    lat, lon = where(run, a.place, a.latitude, a.longitude)
    assert lat is not None and lon is not None and a.radius is not None  # the schema insists
    if polygon_only:
        return {"areaType": "POLYGON", "boundary": [
            {"latitude": la, "longitude": lo} for la, lo in inscribed_polygon(lat, lon, a.radius)]}
    return {"areaType": "CIRCLE", "center": {"latitude": lat, "longitude": lon}, "radius": a.radius}


def targeting(run: Run, t: TargetingSpec) -> dict[str, Any]:
    """The wire form of a campaign's or an estimate's targeting."""
    body: dict[str, Any] = {"areas": [area(run, a) for a in t.areas], "locationMode": t.location_mode}
    if t.dwell_minutes is not None:
        body["dwellMinutes"] = t.dwell_minutes
    if t.visited_from is not None:
        body["visitedFrom"] = stamp(run.scenario.instant(t.visited_from))
    if t.visited_to is not None:
        body["visitedTo"] = stamp(run.scenario.instant(t.visited_to))
    if t.segment is not None:
        body["segment"] = t.segment.model_dump(mode="json", by_alias=True, exclude_none=True)
    return body


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


def scrub(run: Run, value: Any) -> Any:
    """Recorded data with the receiver's base URL (a random port) replaced by :data:`INBOX_PLACEHOLDER`."""
    base = run.stack.inbox.url("/").rstrip("/")
    return _replace(value, base)


def _replace(value: Any, base: str) -> Any:
    if isinstance(value, str):
        return value.replace(base, INBOX_PLACEHOLDER)
    if isinstance(value, dict):
        return {k: _replace(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, base) for v in value]
    return value
