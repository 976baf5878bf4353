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
from datetime import date, datetime
from typing import Any, Protocol, TypeVar

import aiohttp
import pydantic

from gateway.client import ApiError, PartnerClient, TrackingClient
from gateway.wire.admin_gatherings import GatheringCreate
from gateway.wire.admin_subscribers import ProfileFields
from gateway.wire.apps import AppRequest, Installation, InstallationChange
from gateway.wire.camara.geofencing_subscriptions import SubscriptionRequest
from gateway.wire.camara.location_verification import VerifyLocationRequest
from gateway.wire.camara.population_density_data import PopulationDensityRequest
from gateway.wire.camara.region_device_count import RegionDeviceCountRequest
from gateway.wire.campaigns import AudienceEstimate, Campaign, CampaignReport
from gateway.wire.cdp_triggers import TriggerFire, TriggerRequest
from gateway.wire.fcm import Message as PushBody
from scenarios.checks import compare, resolve_path
from scenarios.results import CheckResult, StepResult, truth_counts
from scenarios.schema import (
    STEP_ACTIONS,
    AreaSpec,
    Check,
    CircleSpec,
    PartnerSpec,
    Scenario,
    Step,
    TargetingSpec,
    wire_rule,
)
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
    made: dict[str, tuple[str, str]]
    """Apps, CDP sources and audiences made so far: step id → (partner name, app/source/audience id)."""
    write_keys: dict[str, str]
    """Write keys of the CDP sources made so far, by ``create_source`` step id (never recorded)."""
    pushes: dict[str, list[str]]
    """Push message ids (``psh_``, or ``pst_`` for a topic or condition) each ``send_push`` step got, by step id."""
    final_fires: dict[str, list[TriggerFire]]
    """Fires of deleted triggers at their deletion, by ``define_trigger`` step id."""

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
    views: dict[tuple[str, str | None], Any] = {}  # trigger views of this step: several checks read one
    for j, check in enumerate(step.expect):
        name = check.name or f"steps[{result.index}].expect[{j}]"
        try:
            actual = resolve_path(await observe(run, check, views), check.path)
            ok, expected, message = compare(check, actual)
        except (KeyError, ApiError) as exc:
            actual, ok, expected, message = None, False, {}, str(exc).strip("'\"")
        checked = CheckResult(name, check.of, check.path, plain(actual), plain(expected), ok, message)
        run.transcript.add(run.now, "check", step=result.index, **checked.to_dict())
        result.checks.append(checked)
    result.ok = all(c.ok for c in result.checks)
    result.answer = {"passed": sum(c.ok for c in result.checks), "failed": sum(not c.ok for c in result.checks)}


async def observe(run: Run, check: Check, views: dict[tuple[str, str | None], Any] | None = None) -> Any:
    """The value a check looks at (its ``of``), before its ``path`` is followed.

    ``views`` keeps the trigger views already read at this instant (by step id and identity).
    """
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
    if check.of == "profile":
        assert check.identity is not None
        partner = run.partners[check.partner or run.scenario.partners[0].name]
        return plain(await run.timed(partner.profile(str(fill(run, check.identity)), limit=100)))
    assert check.step is not None
    if check.of == "audience":
        return await audience_view(run, check.step)
    if check.of == "push":
        return await push_truth(run, run.pushes.get(check.step, []))
    if check.of == "app":
        return await app_view(run, check.step)
    if check.of == "trigger":
        key = (check.step, None if check.identity is None else str(fill(run, check.identity)))
        views = {} if views is None else views
        if key not in views:
            views[key] = await trigger_view(run, *key)
        return views[key]
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


# -- partner apps, CDP and push (issue 13) ---------------------------------------------------------------
PAGE = 1000
"""Page size of the member and install listings the runner walks."""


def made(run: Run, step_id: str) -> tuple[str, PartnerClient, str]:
    """What an earlier app, source or audience step made: (partner name, its client, the resource id)."""
    if step_id not in run.made:
        raise ApiError(0, "UNRESOLVED", f"step {step_id!r} made nothing (its step failed)", None)
    name, resource = run.made[step_id]
    return name, run.partners[name], resource


@action("register_app")
async def register_app(run: Run, step: Step) -> Any:
    """``POST /apps/v1/apps``; the app is remembered under the step's id."""
    r = step.register_app
    assert r is not None and step.id is not None  # the loader insists on the id
    name, partner = acting_partner(run, step)
    body = AppRequest.model_validate({"name": r.name, "platforms": r.platforms, "categories": r.categories,
                                      "popularity": r.popularity,
                                      **({"pushQuotaPerMinute": r.push_quota_per_minute}
                                         if r.push_quota_per_minute is not None else {})})
    app = await run.timed(partner.register_app(body))
    run.made[step.id] = (name, app.id)
    return app


@action("create_source")
async def create_source(run: Run, step: Step) -> Any:
    """``POST /cdp/v1/sources`` (bound to an app of an earlier step when given); its write key is kept."""
    c = step.create_source
    assert c is not None and step.id is not None
    name, partner = acting_partner(run, step)
    app_id = made(run, c.app)[2] if c.app is not None else None
    source = await run.timed(partner.create_source(c.name, app_id))
    assert source.write_key is not None  # answered once, at creation
    run.made[step.id] = (name, source.id)
    run.write_keys[step.id] = source.write_key
    return source


@action("track")
async def track(run: Run, step: Step) -> Any:
    """Segment-spec calls through the source's write key: one ``/v1/batch``, or one call each."""
    t = step.track
    assert t is not None
    if t.source not in run.write_keys:
        raise ApiError(0, "UNRESOLVED", f"step {t.source!r} made no source (its step failed)", None)
    try:
        calls = [{"type": "track", **fill(run, call)} for call in t.calls]
    except KeyError as exc:
        raise ApiError(0, "UNRESOLVED", str(exc).strip("'\""), None) from None
    async with TrackingClient(run.stack.base_url, run.write_keys[t.source]) as tracking:
        if t.batch:
            await run.timed(tracking.batch(calls))
        else:
            for call in calls:
                await run.timed(getattr(tracking, call["type"])({k: v for k, v in call.items() if k != "type"}))
    return {"accepted": len(calls)}


@action("define_audience")
async def define_audience(run: Run, step: Step) -> Any:
    """``POST /cdp/v1/audiences``; the audience is remembered under the step's id."""
    d = step.define_audience
    assert d is not None and step.id is not None
    name, partner = acting_partner(run, step)
    audience = await run.timed(partner.create_audience(d.name, d.definition))
    run.made[step.id] = (name, audience.id)
    return audience


async def members(run: Run, step_id: str) -> list[str]:
    """Every member of an audience by user id, all pages."""
    _, partner, audience_id = made(run, step_id)
    out: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = await run.timed(partner.audience_members(audience_id, offset=offset, limit=PAGE))
        out.extend(page.user_ids)
        offset = page.next_offset
    return out


@action("export_audience")
async def export_audience(run: Run, step: Step) -> Any:
    """The audience's members by the partner's user ids (what a brand exports to its own push backend)."""
    e = step.export_audience
    assert e is not None
    user_ids = await members(run, e.audience)
    return {"userIds": user_ids, "total": len(user_ids)}


async def installs(run: Run, app_id: str) -> list[Installation]:
    """The app's whole install table (operator side: it stands in for the brand's token registry)."""
    out: list[Installation] = []
    while True:
        page = await run.timed(run.stack.admin.installations(app_id, offset=len(out), limit=PAGE))
        out.extend(page.installations)
        if not page.installations or len(out) >= page.total:
            return out


def push_body(run: Run, p: Any, target: dict[str, str]) -> PushBody:
    """The FCM message of a ``send_push`` step for one target."""
    message: dict[str, Any] = dict(target)
    if p.notification is not None:
        message["notification"] = p.notification.model_dump(exclude_none=True)
    if p.data:
        message["data"] = fill(run, dict(p.data))
    if p.ttl is not None:
        seconds = round(p.ttl.total_seconds())
        message["android"] = {"ttl": f"{seconds}s"}
        message["apns"] = {"headers": {"apns-expiration": str(round(run.now.timestamp()) + seconds)}}
    return PushBody.model_validate(message)


@action("send_push")
async def send_push(run: Run, step: Step) -> Any:
    """FCM v1 sends for the app; the accepted message ids are kept for ``push`` checks."""
    p = step.send_push
    assert p is not None
    owner, _, app_id = made(run, p.app)
    partner = run.partners[step.partner or owner]
    sent = run.pushes.setdefault(step.id or f"steps[{len(run.pushes)}]", [])
    if p.users is None:
        if p.install is not None:
            page = await run.timed(run.stack.admin.installations(app_id, offset=p.install, limit=1))
            if not page.installations:
                raise ApiError(0, "UNRESOLVED", f"the app has {page.total} installs, no row {p.install}", None)
            target = {"token": page.installations[0].registration_token}
        elif p.token is not None:
            try:
                target = {"token": str(fill(run, p.token))}
            except KeyError as exc:
                raise ApiError(0, "UNRESOLVED", str(exc).strip("'\""), None) from None
        else:
            target = {"topic": p.topic} if p.topic is not None else {"condition": str(p.condition)}
        answer = await run.timed(partner.send_push(app_id, push_body(run, p, target)))
        sent.append(answer.name.rsplit("/", 1)[1])
        return answer
    wanted = exported(run, p.users)
    tokens = [i.registration_token for i in await installs(run, app_id) if i.installed and i.user_id in wanted]
    errors: dict[str, int] = {}
    for token in tokens:
        try:
            answer = await run.timed(partner.send_push(app_id, push_body(run, p, {"token": token})))
        except ApiError as exc:
            errors[exc.code] = errors.get(exc.code, 0) + 1
            continue
        sent.append(answer.name.rsplit("/", 1)[1])
    return {"users": len(wanted), "targets": len(tokens), "accepted": len(tokens) - sum(errors.values()),
            "errors": dict(sorted(errors.items()))}


def exported(run: Run, step_id: str) -> set[str]:
    """The user ids an ``export_audience`` step exported (none when it failed)."""
    answer = run.answers.get(step_id)
    return set(answer.get("userIds", [])) if isinstance(answer, dict) else set()


@action("subscribe_topic")
async def subscribe_topic(run: Run, step: Step) -> Any:
    """Instance ID batch (un)subscription of install rows, or of the exported members' installed devices."""
    t = step.subscribe_topic
    assert t is not None
    owner, _, app_id = made(run, t.app)
    partner = run.partners[step.partner or owner]
    rows = await installs(run, app_id)
    if t.install is not None:
        missing = [r for r in t.install if r >= len(rows)]
        if missing:
            raise ApiError(0, "UNRESOLVED", f"the app has {len(rows)} installs, no row {missing[0]}", None)
        tokens = [rows[r].registration_token for r in t.install]
    else:
        wanted = exported(run, str(t.users))
        tokens = [i.registration_token for i in rows if i.installed and i.user_id in wanted]
    errors: dict[str, int] = {}
    for start in range(0, len(tokens), PAGE):
        answer = await run.timed(partner.subscribe_topic(t.topic, tokens[start:start + PAGE], not t.unsubscribe))
        for result in answer.results:
            if result.error is not None:
                errors[result.error] = errors.get(result.error, 0) + 1
    return {"tokens": len(tokens), "done": len(tokens) - sum(errors.values()), "errors": dict(sorted(errors.items()))}


@action("set_app_permissions")
async def set_app_permissions(run: Run, step: Step) -> Any:
    """The operator sets permissions of one install row now; the answer is the install as it is then."""
    p = step.set_app_permissions
    assert p is not None
    _, _, app_id = made(run, p.app)
    page = await run.timed(run.stack.admin.installations(app_id, offset=p.install, limit=1))
    if not page.installations:
        raise ApiError(0, "UNRESOLVED", f"the app has {page.total} installs, no row {p.install}", None)
    given = {"notifications": p.notifications, "marketing_consent": p.marketing_consent,
             "location_permission": p.location_permission, "line_linked": p.line_linked}
    change = InstallationChange.model_validate({k: v for k, v in given.items() if v is not None})
    return await run.timed(run.stack.admin.set_installation_permissions(
        app_id, page.installations[0].installation_id, change))


async def audience_view(run: Run, step_id: str) -> dict[str, Any]:
    """The partner's view of an audience now, with ``members``: how many it exports by user id."""
    _, partner, audience_id = made(run, step_id)
    view = plain(await run.timed(partner.audience(audience_id)))
    page = await run.timed(partner.audience_members(audience_id, limit=1))
    return {**view, "members": page.total}


async def push_truth(run: Run, message_ids: list[str]) -> dict[str, Any]:
    """Operator-side outcome counts of pushes; a topic or condition send (``fanouts``) adds its pushes' counts.

    ``recipients``: distinct phones of token sends plus the devices a fan-out was sent to.
    """
    counts = dict.fromkeys(("messages", "delivered", "held", "expired", "suppressed", "displayed", "opened"), 0)
    phones: set[str] = set()
    fanouts = devices = 0
    cutoff = stamp(run.now)
    for message_id in message_ids:
        if not message_id.startswith("psh_"):
            fanout = await run.timed(run.stack.admin.push_fanout(message_id))
            fanouts += 1
            counts["messages"] += fanout.recipients
            for key in ("delivered", "held", "expired", "suppressed", "displayed", "opened"):
                counts[key] += getattr(fanout, key)
            devices += fanout.recipients - fanout.suppressed
            continue
        truth = await run.timed(run.stack.admin.push_message(message_id))
        counts["messages"] += 1
        counts[truth.status.lower()] += 1
        counts["displayed"] += truth.displayed
        counts["opened"] += truth.opened_at is not None and stamp(truth.opened_at) <= cutoff
        if truth.status != "SUPPRESSED":
            phones.add(truth.phone_number)
    return {**counts, "recipients": len(phones) + devices, "fanouts": fanouts}


async def app_view(run: Run, step_id: str) -> dict[str, Any]:
    """The partner's view of an app now, with operator-side counts of its install table."""
    _, partner, app_id = made(run, step_id)
    view = plain(await run.timed(partner.app(app_id)))
    rows = [i for i in await installs(run, app_id) if i.installed]
    return {**view, "installed": len(rows), "notificationsPermitted": sum(i.notifications_permitted for i in rows),
            "marketingConsent": sum(i.marketing_consent for i in rows),
            "locationAlways": sum(i.location_permission == "ALWAYS" for i in rows),
            "lineLinked": sum(i.line_linked for i in rows)}


# -- CDP triggers (issue 13) -----------------------------------------------------------------------------
KNOWN_REASONS = ("QUIET_HOURS", "FREQUENCY_CAP", "NO_CONSENT", "NO_INSTALL", "PUSH_FAILED")
"""Suppression reasons a trigger view counts even when zero (others are counted as they appear)."""
FIRES_LIMIT = 100_000
"""Most fires a trigger view reads (page after page): a view that reaches it says ``truncated``."""
_PHONE = re.compile(r"^\+?[0-9]{8,15}$")


@action("define_trigger")
async def define_trigger(run: Run, step: Step) -> Any:
    """``POST /cdp/v1/triggers``; step references become ids, sink names the receiver's URLs, places coordinates.

    The rule goes to the wire model as given otherwise (:func:`scenarios.schema.wire_rule`); the trigger is
    remembered under the step's id.
    """
    d = step.define_trigger
    assert d is not None and step.id is not None  # the loader insists on the id
    name, partner = acting_partner(run, step)

    def resolve(key: str, ref: str) -> str:
        return made(run, ref)[2]

    def centre(circle: CircleSpec) -> tuple[float, float]:
        lat, lon = where(run, circle.place, circle.latitude, circle.longitude)
        assert lat is not None and lon is not None  # the schema insists
        return lat, lon

    sinks = run.partner_specs[name].sinks
    chain: list[dict[str, Any]] = []
    for s in d.steps:
        if s.push is not None:
            act: dict[str, Any] = {"type": "PUSH", "appId": made(run, s.push.app)[2], "title": s.push.title,
                                   "body": s.push.body, "kind": s.push.kind}
        else:
            act = {"type": "WEBHOOK", "sink": run.stack.inbox.url(sinks[str(s.webhook)])}
        chain.append({"delaySeconds": round(s.delay.total_seconds()), "action": act})
    body = TriggerRequest.model_validate({
        "name": d.name, "rule": wire_rule(d.rule, resolve, centre), "steps": chain,
        **({"dailyCap": d.daily_cap} if d.daily_cap is not None else {}),
        **({"quietHours": {"startHour": d.quiet_hours.start_hour, "endHour": d.quiet_hours.end_hour}}
           if d.quiet_hours is not None else {})})
    trigger = await run.timed(partner.create_trigger(body))
    run.made[step.id] = (name, trigger.id)
    return trigger


@action("delete_trigger")
async def delete_trigger(run: Run, step: Step) -> Any:
    """``DELETE /cdp/v1/triggers/{id}``; its fires so far are kept for checks.

    The API forgets a deleted trigger, and a deleted trigger fires nothing more.
    """
    d = step.delete_trigger
    assert d is not None
    _, partner, trigger_id = made(run, d.trigger)
    fires = await run.timed(partner.trigger_fires(trigger_id, most=FIRES_LIMIT))
    await run.timed(partner.delete_trigger(trigger_id))
    run.final_fires[d.trigger] = fires
    return {"deleted": trigger_id, "fires": len(fires)}


async def trigger_view(run: Run, step_id: str, identity: str | None = None) -> dict[str, Any]:
    """What a trigger did (only for ``identity`` when given; see :class:`scenarios.schema.Check`).

    Counts of its fires overall and per step, the local hours with a send, the operator truth of its pushes, its
    CloudEvents at the receiver and an audit of both against the operator-side install tables of its apps.
    """
    _, partner, trigger_id = made(run, step_id)
    spec = run.answers[step_id]
    fires = run.final_fires.get(step_id)
    if fires is None:
        fires = await run.timed(partner.trigger_fires(trigger_id, most=FIRES_LIMIT))
    truncated = len(fires) >= FIRES_LIMIT
    if identity is not None:
        fires = [f for f in fires if f.user_id == identity]

    def counts(of: list[TriggerFire]) -> dict[str, Any]:
        reasons = dict.fromkeys(KNOWN_REASONS, 0)
        for f in of:
            if f.reason is not None:
                reasons[f.reason] = reasons.get(f.reason, 0) + 1
        sent = [f for f in of if f.status == "SENT"]
        return {"fires": len(of), "sent": len(sent), "suppressed": len(of) - len(sent), "reasons": reasons,
                "users": len({f.user_id for f in of}),
                "firstAt": stamp(min(f.at for f in of)) if of else None,
                "lastAt": stamp(max(f.at for f in of)) if of else None}

    tz = run.stack.world.tz
    steps = [counts([f for f in fires if f.step == i]) for i in range(len(spec["steps"]))]
    pushed = [r for f in fires if f.action == "PUSH" and f.status == "SENT" for r in f.refs]
    hooks = [h["body"] for h in run.webhooks if isinstance(h["body"], dict)
             and isinstance(h["body"].get("data"), dict) and h["body"]["data"].get("triggerId") == trigger_id
             and (identity is None or h["body"]["data"].get("userId") == identity)]
    apps = {spec["rule"].get("appId")} | {s["action"].get("appId") for s in spec["steps"]}
    rows = [i for app_id in sorted(a for a in apps if a) for i in await installs(run, app_id)]
    located = {i.user_id for i in rows if i.location_permission != "NEVER" and i.line_linked}
    consented = {i.installation_id for i in rows if i.marketing_consent}
    marketing = {i for i, s in enumerate(spec["steps"]) if s["action"].get("kind") == "MARKETING"}
    unconsented = 0
    for f in fires:
        if f.step in marketing and f.status == "SENT":
            for ref in f.refs:
                truth = await run.timed(run.stack.admin.push_message(ref))
                unconsented += truth.installation_id not in consented
    phones = {i.phone_number for i in rows}
    users = {i.user_id for i in rows}
    leaves = [v for h in hooks for v in _leaves(h)]
    per_day: dict[tuple[str | None, date], int] = {}
    for f in fires:
        if f.status == "SENT":
            key = (f.user_id, f.at.astimezone(tz).date())
            per_day[key] = per_day.get(key, 0) + 1
    return {"id": trigger_id, **counts(fires), "truncated": truncated, "steps": steps,
            "sentHours": sorted({f.at.astimezone(tz).hour for f in fires if f.status == "SENT"}),
            "maxSentPerUserDay": max(per_day.values(), default=0),
            "pushes": await push_truth(run, pushed),
            "webhooks": {
                "received": len(hooks),
                "dataKeys": sorted({k for h in hooks for k in h["data"]}),
                "phoneNumbers": sum(isinstance(v, str) and (v in phones or bool(_PHONE.match(v))) for v in leaves),
                "coordinates": sum(isinstance(v, float) and not v.is_integer() for v in leaves),
                "unknownUsers": sum(h["data"].get("userId") not in users for h in hooks)},
            "audit": {
                "sentWithoutLocation": sum(f.status == "SENT" and f.user_id not in located for f in fires),
                "pushedWithoutMarketingConsent": unconsented}}


def _leaves(value: Any) -> list[Any]:
    """Every scalar inside a JSON value."""
    if isinstance(value, dict):
        return [v for item in value.values() for v in _leaves(item)]
    if isinstance(value, list):
        return [v for item in value for v in _leaves(item)]
    return [value]


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
