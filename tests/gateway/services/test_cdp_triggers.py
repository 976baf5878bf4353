"""CDP triggers: each rule kind fires exactly when it should, chains keep their delays, caps and quiet hours
suppress, marketing pushes need both consents at the send instant (transactional and informational ones obey none of
the three, as in /messages/v1), webhooks carry no MSISDN nor location, a gone
sink ends a trigger's webhooks, and a restart mid-chain (mid-wait, mid-dwell) fires the same actions with the same
ids."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway.core.errors import InvalidArgument
from gateway.core.store import Store
from gateway.core.webhooks import Outbox
from gateway.services.apps.events import APP_EVENT_CODE, AppEventBatch
from gateway.services.apps.installs import PermissionChange
from gateway.services.apps.model import AppRecord, AppSpec
from gateway.services.apps.push import PushService
from gateway.services.apps.repository import AppRepository
from gateway.services.apps.service import AppService
from gateway.services.camara.geofencing import GeofencingService
from gateway.services.cdp.model import Source
from gateway.services.cdp.repository import CdpRepository
from gateway.services.cdp.service import CdpService
from gateway.services.cdp.triggers import TriggerRecord, TriggerService
from gateway.wire.cdp import TrackingCall
from gateway.wire.cdp_triggers import TriggerRequest
from simulator.clock import to_micros
from simulator.world import World

SPEC = AppSpec("Shoply", ("ANDROID", "IOS"), ("SHOPPING", "FASHION"), 0.5, 6000)
SINK = "https://partner.example/cdp"
HOOK = {"type": "WEBHOOK", "sink": SINK}
CART = {"kind": "EVENT_NOT_FOLLOWED", "event": "Product Added", "notFollowedBy": "Order Completed",
        "withinSeconds": 3600}


@dataclass
class Stack:
    store: Store
    world: World
    apps: AppService
    push: PushService
    cdp: CdpService
    triggers: TriggerService
    outbox: Outbox
    partner: int
    source: Source
    app: AppRecord

    def trigger(self, rule: dict[str, Any], steps: list[dict[str, Any]] | None = None, **extra: Any) -> TriggerRecord:
        body = {"name": "t", "rule": rule, "steps": steps or [{"action": HOOK}], **extra}
        return self.triggers.create(self.partner, TriggerRequest.model_validate(body))

    def track(self, user: str, event: str, **fields: Any) -> None:
        call = TrackingCall.model_validate({"type": "track", "userId": user, "event": event, **fields})
        self.cdp.ingest(self.source, self.cdp.normalise([call]))

    def app_events(self, rows: list[int], names: list[str]) -> None:
        n = len(rows)
        seq0 = self._seq
        self._seq += n
        self.cdp.ingest_app_events(AppEventBatch(
            self.app.seq, np.arange(seq0, seq0 + n, dtype=np.int64), np.full(n, to_micros(self.world.clock.now)),
            np.asarray(rows, np.int64), np.asarray([APP_EVENT_CODE[x] for x in names], np.uint8),
            np.full(n, -1, np.int16), np.zeros(n, np.int64)))

    _seq: int = 0

    def advance(self, delta: timedelta) -> None:
        self.world.run_until(self.world.clock.now + delta)

    def fires(self, record: TriggerRecord) -> list[tuple[str, str | None, int, str, str | None]]:
        return [(f.fire_id, f.user_id, f.step, f.status, f.reason) for f in self.triggers.fires(self.partner,
                                                                                                 record.id)]

    def sent_at(self, record: TriggerRecord) -> list[datetime]:
        return [f.at for f in self.triggers.fires(self.partner, record.id) if f.status == "SENT"]


def open_stack(path: Path, world: World, first: bool = True) -> Stack:
    store = Store(path)
    app_repo, cdp_repo = AppRepository(store), CdpRepository(store)
    now = lambda: world.clock.now  # noqa: E731
    outbox = Outbox(store, wall=lambda: 100.0)
    apps = AppService(world, app_repo, now)
    push = PushService(world, app_repo, apps, now, lambda: True)
    cdp = CdpService(cdp_repo, apps, now, 10)
    geofencing = GeofencingService(world, store, outbox, 50.0)
    triggers = TriggerService(store, world, cdp, apps, push, lambda: outbox, geofencing, lambda: True)
    store.open()
    if first:
        partner, _, _ = store.create_partner("acme", (), {}, "2025-06-02T08:00:00Z")
        app = apps.register(partner.id, SPEC)
        source, _ = cdp.create_source(partner.id, "Backend", None)
    else:
        apps.resume()
        push.resume()
        cdp.resume()
        triggers.resume()
        app = apps.all()[0]
        source = cdp.sources(app.partner_id)[0]
    return Stack(store, world, apps, push, cdp, triggers, outbox, app.partner_id, source, app)


def reopened(s: Stack, path: Path, fresh_world: Callable[[], World],
             replay: Callable[[World], None] | None = None) -> Stack:
    """``s`` stopped (its store closed) and the stack opened again on ``path`` over a fresh world run to the same
    instant, as a restart does; ``replay`` first tells the fresh world what the journal would (e.g. a pin)."""
    stopped_at = s.world.clock.now
    s.store.close()
    world = fresh_world()
    if replay is not None:
        replay(world)
    world.run_until(stopped_at)
    return open_stack(path, world, first=False)


@pytest.fixture
def stack(world: World, tmp_path: Path) -> Iterator[Stack]:
    s = open_stack(tmp_path / "t.db", world)
    yield s
    s.store.close()


def installed_row(s: Stack, marketing: bool = True, notifications: bool = True) -> int:
    table = s.apps.installs(s.app)
    row = int(np.flatnonzero(table.installed)[0])
    table.marketing[row], table.notifications[row] = marketing, notifications
    return row


# -- rules -----------------------------------------------------------------------------------------------------

def test_cart_abandoned_fires_after_the_window_without_the_order(stack: Stack) -> None:
    """Product Added then no Order Completed within 1 h fires once, at the end of the hour."""
    record = stack.trigger(CART)
    start = stack.world.clock.now
    stack.track("u1", "Product Added")
    stack.track("u1", "Product Added")  # a second add while waiting opens no second wait
    stack.advance(timedelta(minutes=59))
    assert stack.fires(record) == []
    stack.advance(timedelta(minutes=5))
    assert stack.fires(record) == [(f"{record.id}-1-0", "u1", 0, "SENT", None)]
    assert start + timedelta(hours=1) <= stack.sent_at(record)[0] <= start + timedelta(minutes=62)


def test_cart_not_abandoned_when_the_order_follows_within_the_window(stack: Stack) -> None:
    """An Order Completed within the hour cancels the wait; an order before the add does not."""
    record = stack.trigger(CART)
    stack.track("u1", "Order Completed")
    stack.track("u1", "Product Added")
    stack.track("u2", "Product Added")
    stack.advance(timedelta(minutes=30))
    stack.track("u1", "Order Completed")
    stack.advance(timedelta(hours=2))
    assert [f[1] for f in stack.fires(record)] == ["u2"]


def test_welcome_chain_steps_at_their_delays_once_per_user(stack: Stack) -> None:
    """The first Application Opened starts the chain; its steps follow at their delays; a later open does not
    start it again."""
    row = installed_row(stack)
    record = stack.trigger({"kind": "FIRST_EVENT"}, steps=[
        {"action": HOOK}, {"delaySeconds": 3600, "action": HOOK}, {"delaySeconds": 86400, "action": HOOK}])
    start = stack.world.clock.now
    stack.app_events([row], ["Application Opened"])
    stack.advance(timedelta(minutes=2))
    stack.app_events([row], ["Application Opened"])
    stack.advance(timedelta(days=1, hours=2))
    fires = stack.triggers.fires(stack.partner, record.id)
    assert [f.step for f in fires] == [0, 1, 2]
    user = stack.apps.install(stack.app, row).user_id
    assert {f.user_id for f in fires} == {user}
    offsets = [(f.at - start).total_seconds() for f in fires]
    tick = stack.world.tick.total_seconds()
    for got, want in zip(offsets, (0, 3600, 90000), strict=True):
        assert want <= got <= want + 2 * tick


def test_audience_entered_fires_for_each_entry(stack: Stack) -> None:
    """Entering an audience fires for that user only."""
    audience = stack.cdp.create_audience(stack.partner, "Buyers", {"event": "Order Completed", "withinDays": 30})
    record = stack.trigger({"kind": "AUDIENCE_ENTERED", "audienceId": audience.id})
    stack.track("u1", "Product Viewed")
    stack.track("u2", "Order Completed")
    stack.advance(timedelta(minutes=2))
    assert [f[1] for f in stack.fires(record)] == ["u2"]


def test_a_deleted_trigger_does_nothing_more(stack: Stack) -> None:
    """Waits and pending steps of a deleted trigger do nothing."""
    record = stack.trigger(CART)
    stack.track("u1", "Product Added")
    stack.triggers.delete(stack.partner, record.id)
    stack.advance(timedelta(hours=2))
    assert stack.store.conn.execute("SELECT count(*) FROM cdp_trigger_fires").fetchone()[0] == 0


@pytest.mark.parametrize(("body", "field"), [
    # the follow-up event is the event itself
    ({"rule": {**CART, "notFollowedBy": "Product Added"}}, "body.rule.notFollowedBy"),
    # an audience of nobody
    ({"rule": {"kind": "AUDIENCE_ENTERED", "audienceId": "aud_999999"}}, "body.rule.audienceId"),
    # a sink that is not https
    ({"steps": [{"action": {"type": "WEBHOOK", "sink": "ftp://x"}}]}, "body.steps.0.action.sink"),
    # an app of nobody
    ({"steps": [{"action": HOOK}, {"action": {"type": "PUSH", "appId": "app_999999", "title": "t", "body": "b"}}]},
     "body.steps.1.action.appId"),
])
def test_bad_triggers_name_the_field(stack: Stack, body: dict[str, Any], field: str) -> None:
    """A trigger that cannot work is refused with the faulty field named, and nothing is stored."""
    spec = TriggerRequest.model_validate({"name": "t", "rule": CART, "steps": [{"action": HOOK}], **body})
    with pytest.raises(InvalidArgument) as err:
        stack.triggers.create(stack.partner, spec)
    assert [d.field for d in err.value.details or []] == [field]
    assert stack.triggers.of_partner(stack.partner) == []


# -- caps, quiet hours, consent ----------------------------------------------------------------------------------

def test_daily_cap_suppresses_past_the_cap(stack: Stack) -> None:
    """With dailyCap 1, the second run of the same user that day is suppressed."""
    record = stack.trigger(CART, dailyCap=1)
    for _ in range(2):
        stack.track("u1", "Product Added")
        stack.advance(timedelta(minutes=70))
    assert [(f[3], f[4]) for f in stack.fires(record)] == [("SENT", None), ("SUPPRESSED", "FREQUENCY_CAP")]


def test_quiet_hours_suppress_in_the_users_local_time(stack: Stack) -> None:
    """A step due in the user's local quiet hours is suppressed; the same trigger outside them sends."""
    row = installed_row(stack)
    sub = int(stack.apps.installs(stack.app).subscriber[row])
    hour = int(stack.world.local_clock(np.array([sub])).hour[0])
    quiet = stack.trigger({"kind": "FIRST_EVENT"}, quietHours={"startHour": hour, "endHour": (hour + 1) % 24})
    open_ = stack.trigger({"kind": "FIRST_EVENT"}, quietHours={"startHour": (hour + 2) % 24,
                                                                "endHour": (hour + 3) % 24})
    stack.app_events([row], ["Application Opened"])
    stack.world.clock.run_until(stack.world.clock.now)
    assert [f[4] for f in stack.fires(quiet)] == ["QUIET_HOURS"]
    assert [f[3] for f in stack.fires(open_)] == ["SENT"]


def push_trigger(s: Stack, kind: str = "MARKETING") -> TriggerRecord:
    return s.trigger({"kind": "FIRST_EVENT"}, steps=[{"action": {
        "type": "PUSH", "appId": s.app.id, "title": "Hi {{firstName}}", "body": "Welcome{{missing}}!",
        "kind": kind}}])


def test_push_fills_the_template_with_traits(stack: Stack) -> None:
    """The push goes through the push server with {{trait}} replaced by the profile's traits."""
    row = installed_row(stack)
    info = stack.apps.install(stack.app, row)
    stack.cdp.ingest(stack.source, stack.cdp.normalise([TrackingCall.model_validate(
        {"type": "identify", "userId": info.user_id, "anonymousId": info.installation_id,
         "traits": {"firstName": "Ada"}})]))
    record = push_trigger(stack)
    stack.app_events([row], ["Application Opened"])
    stack.world.clock.run_until(stack.world.clock.now)
    fire = stack.triggers.fires(stack.partner, record.id)[0]
    assert fire.status == "SENT" and fire.refs[0].startswith("psh_")
    stack.store.drain()  # push rows are group-committed (at the latest by the end of the tick)
    spec = json.loads(stack.store.conn.execute("SELECT spec FROM push_messages").fetchone()["spec"])
    assert spec["notification"] == {"title": "Hi Ada", "body": "Welcome!"}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(marketing=st.booleans(), notifications=st.booleans(),
       kind=st.sampled_from(["MARKETING", "TRANSACTIONAL", "INFORMATIONAL"]))
def test_no_marketing_push_without_both_consents_at_the_send_instant(fresh_world: Any, tmp_path_factory: Any,
                                                                     marketing: bool, notifications: bool,
                                                                     kind: str) -> None:
    """A marketing push is sent iff the install has in-app marketing consent and OS permission when the step
    runs (consent given at the event but withdrawn before the step counts as withdrawn); transactional and
    informational ones go regardless."""
    s = open_stack(tmp_path_factory.mktemp("p") / "t.db", fresh_world())
    try:
        row = installed_row(s, marketing=True, notifications=True)
        record = s.trigger({"kind": "FIRST_EVENT"}, steps=[{"delaySeconds": 60, "action": {
            "type": "PUSH", "appId": s.app.id, "title": "t", "body": "b", "kind": kind}}])
        s.app_events([row], ["Application Opened"])
        table = s.apps.installs(s.app)
        table.marketing[row], table.notifications[row] = marketing, notifications  # changed before the send
        s.world.clock.run_until(s.world.clock.now + timedelta(seconds=60))
        [fire] = s.triggers.fires(s.partner, record.id)
        allowed = kind != "MARKETING" or (marketing and notifications)
        assert (fire.status == "SENT") == allowed
        assert fire.reason in (None, "NO_CONSENT")
        s.store.drain()
        pushes = s.store.conn.execute("SELECT count(*) FROM push_messages").fetchone()[0]
        assert pushes == (1 if allowed else 0)
    finally:
        s.store.close()


def test_marketing_consent_withdrawn_by_the_operator_stops_the_next_marketing_push(stack: Stack) -> None:
    """Consent withdrawn through the app service (what the admin PATCH calls) after the event and before the step:
    the step is NO_CONSENT and no push row is written; a transactional step still goes."""
    row = installed_row(stack, marketing=True, notifications=True)
    marketing = push_trigger(stack)
    transactional = push_trigger(stack, "TRANSACTIONAL")
    stack.app_events([row], ["Application Opened"])
    stack.apps.set_permissions(stack.app, row, PermissionChange(marketing=False))
    stack.world.clock.run_until(stack.world.clock.now + timedelta(seconds=60))
    assert [(f[3], f[4]) for f in stack.fires(marketing)] == [("SUPPRESSED", "NO_CONSENT")]
    assert [f[3] for f in stack.fires(transactional)] == ["SENT"]
    stack.store.drain()
    assert stack.store.conn.execute("SELECT count(*) FROM push_messages").fetchone()[0] == 1


def test_push_without_an_install_is_suppressed(stack: Stack) -> None:
    """A user known only server-side has no install to push to."""
    record = stack.trigger(CART, steps=[{"action": {"type": "PUSH", "appId": stack.app.id, "title": "t",
                                                    "body": "b", "kind": "TRANSACTIONAL"}}])
    stack.track("u1", "Product Added")
    stack.advance(timedelta(minutes=65))
    assert [f[4] for f in stack.fires(record)] == ["NO_INSTALL"]


def local_hour(s: Stack, row: int) -> int:
    sub = int(s.apps.installs(s.app).subscriber[row])
    return int(s.world.local_clock(np.array([sub])).hour[0])


@pytest.mark.parametrize("notifications", [True, False])  # the OS permission decides display only
@pytest.mark.parametrize(("kind", "sent"), [
    ("MARKETING", False),  # PROMO's rules: quiet hours, the daily cap and both consents
    ("TRANSACTIONAL", True),  # none of them (/messages/v1)
    ("INFORMATIONAL", True),  # none of them either
])
@pytest.mark.parametrize("situation", ["QUIET_HOURS", "FREQUENCY_CAP", "NO_CONSENT"])
def test_push_kinds_follow_the_message_kind_rules(stack: Stack, situation: str, kind: str, sent: bool,
                                                  notifications: bool) -> None:
    """In the user's quiet hours, past the daily cap or without in-app marketing consent, a marketing push is
    suppressed with that reason while a transactional or informational one is sent (shown iff the OS allows)."""
    row = installed_row(stack, marketing=situation != "NO_CONSENT", notifications=notifications)
    hour = local_hour(stack, row)
    push = {"action": {"type": "PUSH", "appId": stack.app.id, "title": "t", "body": "b", "kind": kind}}
    situations: dict[str, dict[str, Any]] = {
        "QUIET_HOURS": {"quietHours": {"startHour": hour, "endHour": (hour + 1) % 24}},
        "FREQUENCY_CAP": {"dailyCap": 1}, "NO_CONSENT": {}}
    extra = situations[situation]
    steps = [{"action": HOOK}, push] if situation == "FREQUENCY_CAP" else [push]  # the webhook uses the day's one
    record = stack.trigger({"kind": "FIRST_EVENT"}, steps=steps, **extra)
    stack.app_events([row], ["Application Opened"])
    stack.world.clock.run_until(stack.world.clock.now)
    assert stack.fires(record)[-1][3:] == (("SENT", None) if sent else ("SUPPRESSED", situation))
    stack.store.drain()
    shown = [bool(r[0]) for r in stack.store.conn.execute("SELECT displayed FROM push_messages ORDER BY seq")]
    assert shown == ([notifications] if sent else [])


@pytest.mark.parametrize("restart", [False, True])  # uninterrupted; stopped after the service pushes
def test_service_pushes_do_not_count_against_the_daily_cap(fresh_world: Any, tmp_path: Path, restart: bool) -> None:
    """With dailyCap 1, a transactional and an informational push leave the day's one action to the webhook after
    them (a restart rebuilds the cap the same way), and a marketing push after that is capped."""
    def push(kind: str) -> dict[str, Any]:
        return {"delaySeconds": 60, "action": {"type": "PUSH", "appId": s.app.id, "title": "t", "body": "b",
                                               "kind": kind}}

    s = open_stack(tmp_path / "t.db", fresh_world())
    row = installed_row(s)
    record = s.trigger({"kind": "FIRST_EVENT"}, dailyCap=1, steps=[
        push("TRANSACTIONAL"), push("INFORMATIONAL"), {"delaySeconds": 60, "action": HOOK}, push("MARKETING")])
    s.app_events([row], ["Application Opened"])
    s.advance(timedelta(seconds=150))  # both service pushes sent, the webhook pending
    if restart:
        s = reopened(s, tmp_path / "t.db", fresh_world)
    s.advance(timedelta(minutes=5))
    assert [(f[2], f[3], f[4]) for f in s.fires(record)] == [
        (0, "SENT", None), (1, "SENT", None), (2, "SENT", None), (3, "SUPPRESSED", "FREQUENCY_CAP")]
    s.store.close()


@pytest.mark.parametrize("kind", [
    "AUTHENTICATION",  # a code goes when the user asks for it (/messages/v1), not when a rule matches
    "PROMO",  # the /messages/v1 name: a trigger says MARKETING
    "marketing",  # kinds are upper case
])
def test_a_push_kind_a_trigger_cannot_send_is_refused(kind: str) -> None:
    """A push kind other than MARKETING, TRANSACTIONAL or INFORMATIONAL is refused naming the allowed ones."""
    with pytest.raises(ValidationError) as err:
        TriggerRequest.model_validate({"name": "t", "rule": CART, "steps": [{"action": {
            "type": "PUSH", "appId": "app_000001", "title": "t", "body": "b", "kind": kind}}]})
    [error] = err.value.errors()
    assert error["loc"] == ("steps", 0, "action", "PUSH", "kind")
    assert "MARKETING, TRANSACTIONAL, INFORMATIONAL" in error["msg"]


# -- webhook payload ---------------------------------------------------------------------------------------------

def test_webhook_carries_the_user_id_and_no_msisdn_nor_location(stack: Stack) -> None:
    """The CloudEvent names the partner's user id; nothing in it is an MSISDN or a coordinate."""
    row = installed_row(stack)
    record = stack.trigger({"kind": "FIRST_EVENT"})
    stack.app_events([row], ["Application Opened"])
    stack.world.clock.run_until(stack.world.clock.now)
    [event] = stack.outbox.events()
    body = json.loads(event.body)
    assert body["type"] == "org.opsim.cdp.v1.trigger.fired" and body["id"] == f"{record.id}-1-0"
    user = stack.apps.install(stack.app, row).user_id
    assert body["data"] == {"triggerId": record.id, "triggerName": "t", "rule": "FIRST_EVENT", "step": 0,
                            "userId": user, "event": "Application Opened"}
    sub = int(stack.apps.installs(stack.app).subscriber[row])
    text = event.body
    assert stack.world.msisdn_of(sub).lstrip("+") not in text
    assert not re.search(r"\+?\d{9,}", text)
    assert "latitude" not in text and "longitude" not in text


# -- restart -----------------------------------------------------------------------------------------------------

def test_restart_mid_chain_fires_the_same_actions(fresh_world: Any, tmp_path: Path) -> None:
    """Stopping mid-chain and mid-wait, then resuming, gives exactly the fires (ids, users, steps, instants) and
    outbox events of an uninterrupted run."""
    def begin(s: Stack) -> list[TriggerRecord]:
        row = installed_row(s)
        chain = s.trigger({"kind": "FIRST_EVENT"}, steps=[{"action": HOOK}, {"delaySeconds": 3600, "action": HOOK},
                                                          {"delaySeconds": 7200, "action": HOOK}])
        cart = s.trigger(CART)
        s.app_events([row], ["Application Opened"])
        s.track("u1", "Product Added")
        s.track("u2", "Product Added")
        s.advance(timedelta(minutes=20))
        s.track("u2", "Order Completed")
        s.advance(timedelta(minutes=20))
        return [chain, cart]

    def result(s: Stack, records: list[TriggerRecord]) -> tuple[Any, ...]:
        fires = [(f.fire_id, f.user_id, f.step, f.status, f.at) for r in records
                 for f in s.triggers.fires(s.partner, r.id)]
        return tuple(fires), tuple((e.event_id, e.body) for e in s.outbox.events())

    whole = open_stack(tmp_path / "a.db", fresh_world())
    records = begin(whole)
    whole.advance(timedelta(hours=4))
    expected = result(whole, records)
    whole.store.close()
    assert len(expected[0]) == 4  # three chain steps, one abandoned cart

    first = open_stack(tmp_path / "b.db", fresh_world())
    records = begin(first)
    again = reopened(first, tmp_path / "b.db", fresh_world)
    again.advance(timedelta(hours=4))
    assert result(again, records) == expected
    again.store.close()


# -- operator signal: entered an area ----------------------------------------------------------------------------

def test_area_entered_fires_for_app_users_who_allowed_location(stack: Stack) -> None:
    """Movers into the area's cells fire when their install allows location in the app (the link consent);
    others, and movers already inside, do not; the webhook names the area by its label only, and a permission
    withdrawn before a later step suppresses it."""
    table = stack.apps.installs(stack.app)
    rows = [int(r) for r in np.flatnonzero(table.installed)]
    by_sub: dict[int, int] = {}
    for r in rows:
        by_sub.setdefault(int(table.subscriber[r]), r)
    (allowed, row_a), (denied, row_d), (inside, row_i) = list(by_sub.items())[:3]
    table.location[row_a], table.location[row_d], table.location[row_i] = 1, 0, 2
    table.linked[[row_a, row_d, row_i]] = True
    loc = stack.world.locate(allowed)
    area = {"areaType": "CIRCLE", "center": {"latitude": loc.cell_latitude, "longitude": loc.cell_longitude},
            "radius": max(loc.cell_radius, 100.0)}
    record = stack.trigger({"kind": "AREA_ENTERED", "appId": stack.app.id, "areaId": "mall-1", "area": area},
                           steps=[{"action": HOOK}, {"delaySeconds": 600, "action": HOOK}])
    cell = int(record.cells[0])
    outside = int(np.setdiff1d(np.arange(stack.world.network.cell_x.size), record.cells)[0])
    now = stack.world.clock.now
    stack.triggers.on_cell_change(now, np.array([allowed, denied, inside], np.int32),
                                  np.array([outside, outside, cell], np.int32), np.array([cell, cell, cell], np.int32))
    stack.world.clock.run_until(now)
    table.location[row_a] = 0  # withdrawn before the second step
    stack.world.clock.run_until(now + timedelta(seconds=600))
    user = stack.apps.install(stack.app, row_a).user_id
    assert [(f[1], f[2], f[3], f[4]) for f in stack.fires(record)] == [(user, 0, "SENT", None),
                                                                       (user, 1, "SUPPRESSED", "NO_CONSENT")]
    [event] = stack.outbox.events()
    data = json.loads(event.body)["data"]
    assert data == {"triggerId": record.id, "triggerName": "t", "rule": "AREA_ENTERED", "step": 0, "userId": user,
                    "areaId": "mall-1"}
    assert str(loc.cell_latitude)[:6] not in event.body and stack.world.msisdn_of(allowed).lstrip("+") not in event.body


def area_around(stack: Stack, sub: int) -> dict[str, Any]:
    loc = stack.world.locate(sub)
    return {"areaType": "CIRCLE", "center": {"latitude": loc.cell_latitude, "longitude": loc.cell_longitude},
            "radius": max(loc.cell_radius, 100.0)}


def enter(stack: Stack, record: TriggerRecord, subs: list[int]) -> None:
    """The subscribers move into the rule's area from outside it now."""
    cell = int(record.cells[0])
    outside = int(np.setdiff1d(np.arange(stack.world.network.cell_x.size), record.cells)[0])
    stack.triggers.on_cell_change(stack.world.clock.now, np.array(subs, np.int32),
                                  np.full(len(subs), outside, np.int32), np.full(len(subs), cell, np.int32))


@pytest.mark.parametrize("change", [
    PermissionChange(location="NEVER"),  # location permission withdrawn in the app
    PermissionChange(linked=False),  # the line unlinked from the app account
    PermissionChange(location="NEVER", linked=False),  # both
])
def test_an_operator_change_stops_the_next_operator_signal_step_at_once(stack: Stack,
                                                                       change: PermissionChange) -> None:
    """Location withdrawn or the line unlinked (as the admin PATCH does) between two steps of a run suppresses the
    next step (NO_CONSENT), and a later entry starts no run; given back, the next entry fires again."""
    table = stack.apps.installs(stack.app)
    row = int(np.flatnonzero(table.installed)[0])
    sub = int(table.subscriber[row])
    stack.apps.set_permissions(stack.app, row, PermissionChange(location="WHILE_USING", linked=True))
    record = stack.trigger({"kind": "AREA_ENTERED", "appId": stack.app.id, "areaId": "mall-1",
                            "area": area_around(stack, sub)},
                           steps=[{"action": HOOK}, {"delaySeconds": 600, "action": HOOK}])
    now = stack.world.clock.now
    enter(stack, record, [sub])
    stack.world.clock.run_until(now)
    stack.apps.set_permissions(stack.app, row, change)
    stack.world.clock.run_until(now + timedelta(seconds=600))
    assert [(f[2], f[3], f[4]) for f in stack.fires(record)] == [(0, "SENT", None), (1, "SUPPRESSED", "NO_CONSENT")]
    stack.world.clock.run_until(now + timedelta(hours=1))
    enter(stack, record, [sub])
    stack.world.clock.run_until(now + timedelta(hours=1, minutes=20))
    assert len(stack.fires(record)) == 2  # no run without the permission and the link
    stack.apps.set_permissions(stack.app, row, PermissionChange(location="ALWAYS", linked=True))
    enter(stack, record, [sub])
    stack.world.clock.run_until(now + timedelta(hours=1, minutes=40))
    assert [(f[2], f[3]) for f in stack.fires(record)][2:] == [(0, "SENT"), (1, "SENT")]


def test_location_without_the_link_starts_no_run(stack: Stack) -> None:
    """Of two users allowing location who enter together, only the one whose line is linked starts a run."""
    table = stack.apps.installs(stack.app)
    by_sub: dict[int, int] = {}
    for r in np.flatnonzero(table.installed).tolist():
        by_sub.setdefault(int(table.subscriber[r]), r)
    (linked, row_l), (unlinked, row_u) = list(by_sub.items())[:2]
    table.location[[row_l, row_u]] = 2
    table.linked[row_l], table.linked[row_u] = True, False
    record = stack.trigger({"kind": "AREA_ENTERED", "appId": stack.app.id, "areaId": "mall-1",
                            "area": area_around(stack, linked)})
    enter(stack, record, [linked, unlinked])
    stack.world.clock.run_until(stack.world.clock.now + timedelta(seconds=60))
    assert [f[1] for f in stack.fires(record)] == [stack.apps.install(stack.app, row_l).user_id]


def test_a_tick_rerun_after_a_crash_starts_no_run_twice(stack: Stack) -> None:
    """The same entries seen again at the same instant (a tick rerun whose first pass committed its runs before a
    kill -9) start nothing more: one run per trigger, user and instant."""
    table = stack.apps.installs(stack.app)
    row = int(np.flatnonzero(table.installed)[0])
    sub = int(table.subscriber[row])
    table.location[row], table.linked[row] = 1, True
    loc = stack.world.locate(sub)
    area = {"areaType": "CIRCLE", "center": {"latitude": loc.cell_latitude, "longitude": loc.cell_longitude},
            "radius": max(loc.cell_radius, 100.0)}
    record = stack.trigger({"kind": "AREA_ENTERED", "appId": stack.app.id, "areaId": "mall-1", "area": area})
    cell = int(record.cells[0])
    outside = int(np.setdiff1d(np.arange(stack.world.network.cell_x.size), record.cells)[0])
    now = stack.world.clock.now
    for _ in range(2):
        stack.triggers.on_cell_change(now, np.array([sub], np.int32), np.array([outside], np.int32),
                                      np.array([cell], np.int32))
    stack.world.clock.run_until(now + timedelta(minutes=1))
    assert [f[2] for f in stack.fires(record)] == [0]


def test_area_rule_with_an_area_too_small_names_the_field(stack: Stack) -> None:
    """An area under the minimum radius is a 400 on body.rule.area."""
    area = {"areaType": "CIRCLE", "center": {"latitude": 0.0, "longitude": 0.0}, "radius": 1.0}
    with pytest.raises(InvalidArgument) as err:
        stack.trigger({"kind": "AREA_ENTERED", "appId": stack.app.id, "areaId": "x", "area": area})
    assert [d.field for d in err.value.details or []] == ["body.rule.area"]


# -- event reminder ----------------------------------------------------------------------------------------------

def reminder(**extra: Any) -> dict[str, Any]:
    return {"kind": "EVENT_REMINDER", "event": "Ticket Purchased", "hoursBefore": 2, **extra}


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def test_reminder_fires_hours_before_the_scheduled_instant_once(stack: Stack) -> None:
    """A ticket for 5 h from now reminds at 3 h, not before, once (the same ticket again starts nothing), the next
    step counting from the reminder; the webhook carries the scheduled instant back."""
    record = stack.trigger(reminder(), steps=[{"action": HOOK}, {"delaySeconds": 1800, "action": HOOK}])
    start = stack.world.clock.now
    show = start + timedelta(hours=5)
    stack.track("u1", "Ticket Purchased", properties={"startsAt": iso(show), "seat": "12A"})
    stack.advance(timedelta(hours=2, minutes=59))
    assert stack.fires(record) == []
    stack.track("u1", "Ticket Purchased", properties={"startsAt": iso(show)})  # the same ticket again
    stack.advance(timedelta(hours=1))
    assert stack.fires(record) == [(f"{record.id}-1-0", "u1", 0, "SENT", None), (f"{record.id}-1-1", "u1", 1, "SENT",
                                                                                  None)]
    tick = stack.world.tick
    at = stack.sent_at(record)
    assert start + timedelta(hours=3) <= at[0] <= start + timedelta(hours=3) + tick
    assert at[1] - at[0] == timedelta(minutes=30)
    data = json.loads(stack.outbox.events()[0].body)["data"]
    assert data == {"triggerId": record.id, "triggerName": "t", "rule": "EVENT_REMINDER", "step": 0, "userId": "u1",
                    "event": "Ticket Purchased", "scheduledAt": iso(show)}


def test_reminder_whose_instant_passed_fires_at_once_unless_the_event_began(stack: Stack) -> None:
    """A booking 1 h ahead with a 2 h reminder fires at once; one that already began, and events without a valid
    instant, start nothing and are counted as ignored."""
    record = stack.trigger(reminder(timeProperty="at"))
    now = stack.world.clock.now
    stack.track("soon", "Ticket Purchased", properties={"at": iso(now + timedelta(hours=1))})
    stack.track("began", "Ticket Purchased", properties={"at": iso(now - timedelta(minutes=5))})
    for props in ({}, {"at": "tomorrow"}, {"at": 1767225600}, {"at": "2026-06-01T20:00:00"}):  # naive: no offset
        stack.track("bad", "Ticket Purchased", properties=props)
    stack.world.clock.run_until(now)
    assert [f[1] for f in stack.fires(record)] == ["soon"]
    assert stack.sent_at(record) == [now]
    assert stack.triggers.get(stack.partner, record.id).ignored == 5


def test_reminder_cancelled_by_the_same_booking_only(stack: Stack) -> None:
    """A refund naming the same instant cancels the reminder (also between its steps); a refund of another
    booking does not."""
    record = stack.trigger(reminder(cancelledBy="Ticket Refunded"),
                           steps=[{"action": HOOK}, {"delaySeconds": 3600, "action": HOOK}])
    now = stack.world.clock.now
    show, other = now + timedelta(hours=4), now + timedelta(hours=6)
    for user in ("u1", "u2", "u3"):
        stack.track(user, "Ticket Purchased", properties={"startsAt": iso(show)})
    stack.track("u1", "Ticket Refunded", properties={"startsAt": iso(show)})
    stack.track("u2", "Ticket Refunded", properties={"startsAt": iso(other)})
    stack.advance(timedelta(hours=2, minutes=30))  # u3's first step done
    stack.track("u3", "Ticket Refunded", properties={"startsAt": iso(show)})
    stack.advance(timedelta(hours=2))
    assert [(f[1], f[2]) for f in stack.fires(record)] == [("u2", 0), ("u3", 0), ("u2", 1)]


def call(s: Stack, type_: str, **fields: Any) -> None:
    """One Segment call of any type (``userId``/``anonymousId``/``previousId`` given as keywords)."""
    s.cdp.ingest(s.source, s.cdp.normalise([TrackingCall.model_validate({"type": type_, **fields})]))


def link(s: Stack, how: str, anon: str, user: str) -> None:
    """The visitor ``anon`` turns out to be ``user``: an ``identify`` with both ids, or an ``alias``."""
    if how == "identify":
        call(s, "identify", userId=user, anonymousId=anon)
    else:
        call(s, "alias", previousId=anon, userId=user)


def ticket(s: Stack, event: str, ids: dict[str, str], at: datetime) -> None:
    call(s, "track", event=event, properties={"startsAt": iso(at)}, **ids)


@pytest.mark.parametrize(("booked", "how", "linked", "refunded"), [
    # booked as an anonymous visitor, who then logs in (identify), refunded as the user
    ({"anonymousId": "anon-1"}, "identify", ("anon-1", "u-42"), {"userId": "u-42"}),
    # the same linked by alias
    ({"anonymousId": "anon-1"}, "alias", ("anon-1", "u-42"), {"userId": "u-42"}),
    # booked anonymously, aliased, refunded from the anonymous id again (the profile is now known as u-42)
    ({"anonymousId": "anon-1"}, "alias", ("anon-1", "u-42"), {"anonymousId": "anon-1"}),
    # the reverse: booked as the user, refunded from a device identified as that user afterwards
    ({"userId": "u-42"}, "identify", ("anon-1", "u-42"), {"anonymousId": "anon-1"}),
    # booked under an old user id, renamed by alias, refunded under the old id
    ({"userId": "u-old"}, "alias", ("u-old", "u-42"), {"userId": "u-old"}),
])
def test_reminder_cancelled_from_another_identity_of_the_profile(
        stack: Stack, booked: dict[str, str], how: str, linked: tuple[str, str], refunded: dict[str, str]) -> None:
    """A refund cancels the reminder of the profile, whichever of its identities (across an identify or alias
    between them) the booking and the refund came with."""
    record = stack.trigger(reminder(cancelledBy="Ticket Refunded"))
    show = stack.world.clock.now + timedelta(hours=4)
    ticket(stack, "Ticket Purchased", booked, show)
    link(stack, how, *linked)
    ticket(stack, "Ticket Refunded", refunded, show)
    stack.advance(timedelta(hours=4))
    assert stack.fires(record) == []


@pytest.mark.parametrize("linked_first", [
    True,   # the second booking comes after the link: nothing more is scheduled
    False,  # both booked while still two profiles, then linked: the later run yields to the earlier one
])
def test_reminder_booked_from_two_identities_of_one_profile_fires_once(stack: Stack, linked_first: bool) -> None:
    """The same booking from the anonymous id and from the user id of one profile reminds once, as the user."""
    record = stack.trigger(reminder(), steps=[{"action": HOOK}, {"delaySeconds": 600, "action": HOOK}])
    show = stack.world.clock.now + timedelta(hours=4)
    ticket(stack, "Ticket Purchased", {"anonymousId": "anon-1"}, show)
    if linked_first:
        link(stack, "identify", "anon-1", "u-42")
    ticket(stack, "Ticket Purchased", {"userId": "u-42"}, show)
    if not linked_first:
        link(stack, "alias", "anon-1", "u-42")
    ticket(stack, "Ticket Purchased", {"userId": "u-7"}, show)  # another user's booking of the same show
    stack.advance(timedelta(hours=4))
    assert [(f[1], f[2], f[3]) for f in stack.fires(record)] == [("u-42", 0, "SENT"), ("u-7", 0, "SENT"),
                                                                  ("u-42", 1, "SENT"), ("u-7", 1, "SENT")]


# -- identities linked by identify or alias: waits, first starts and caps follow the resolved profile -------------

Act = Callable[[Stack], None]


def run_acts(fresh_world: Any, path: Path, begin: Callable[[Stack], TriggerRecord], acts: list[Act],
             restart_after: int | None) -> list[tuple[str, str | None, int, str, str | None, timedelta]]:
    """``begin`` then ``acts`` in order, the gateway stopped and resumed after act ``restart_after`` (``None``:
    never); the trigger's fires, each with its instant as the time since ``begin``."""
    s = open_stack(path, fresh_world())
    start = s.world.clock.now
    record = begin(s)
    for i, act in enumerate(acts):
        act(s)
        if i == restart_after:
            s = reopened(s, path, fresh_world)
    got = [(*f, g.at - start) for f, g in zip(s.fires(record), s.triggers.fires(s.partner, record.id), strict=True)]
    s.store.close()
    return got


def track_as(event: str, **ids: str) -> Act:
    return lambda s: call(s, "track", event=event, **ids)


def wait(minutes: int) -> Act:
    return lambda s: s.advance(timedelta(minutes=minutes))


def linked(how: str) -> Act:
    return lambda s: link(s, how, "anon-1", "u-42")


def cart_of_a_known_user_filled_anonymously(s: Stack) -> TriggerRecord:
    """The probe: u-42 signs in, the cart is filled as anon-1 (two profiles until they are linked)."""
    record = s.trigger(CART)
    call(s, "track", event="Signed In", userId="u-42")
    call(s, "track", event="Product Added", anonymousId="anon-1")
    return record


@pytest.mark.parametrize("restart_after", [
    None,  # uninterrupted
    0,     # stopped right after the link, resumed before the window's end
    1,     # stopped mid-window
])
@pytest.mark.parametrize("how", ["identify", "alias"])
def test_a_wait_merged_into_another_profile_fires_once_at_the_window_end(
        fresh_world: Any, tmp_path: Path, how: str, restart_after: int | None) -> None:
    """A cart wait opened as an anonymous id that is then linked to a known user fires once, as that user, at the
    window's end — the same with and without a restart in between."""
    fires = run_acts(fresh_world, tmp_path / "t.db", cart_of_a_known_user_filled_anonymously,
                     [linked(how), wait(30), wait(120)], restart_after)
    assert [f[:5] for f in fires] == [("trg_000001-1-0", "u-42", 0, "SENT", None)]
    assert timedelta(hours=1) <= fires[0][5] <= timedelta(minutes=62)  # at the window's end, not later


@pytest.mark.parametrize("restart_after", [
    None,  # uninterrupted
    0,     # stopped between the link and the order
    2,     # stopped after the order, resumed before the window's end
])
@pytest.mark.parametrize(("how", "order_ids"), [
    # linked by identify; the order comes with the user id
    ("identify", {"userId": "u-42"}),
    # linked by alias; the order comes with the user id
    ("alias", {"userId": "u-42"}),
    # linked by alias; the order comes from the anonymous id again (a profile now known as u-42)
    ("alias", {"anonymousId": "anon-1"}),
])
def test_a_wait_merged_into_another_profile_is_cancelled_by_a_follow_up_from_any_identity(
        fresh_world: Any, tmp_path: Path, how: str, order_ids: dict[str, str], restart_after: int | None) -> None:
    """After the link, an order from any identity of the merged profile cancels the wait: nothing fires, with or
    without a restart (before or after the order)."""
    fires = run_acts(fresh_world, tmp_path / "t.db", cart_of_a_known_user_filled_anonymously,
                     [linked(how), wait(30), track_as("Order Completed", **order_ids), wait(120)], restart_after)
    assert fires == []


@pytest.mark.parametrize("restart_after", [None, 2])
def test_two_waits_merged_into_one_profile_fire_once_the_earlier(
        fresh_world: Any, tmp_path: Path, restart_after: int | None) -> None:
    """Carts filled as anon-1 and, 10 minutes later, as u-42 (two profiles), then aliased: one wait per user, the
    earlier one fires, once, with or without a restart."""
    def begin(s: Stack) -> TriggerRecord:
        return s.trigger(CART)

    fires = run_acts(fresh_world, tmp_path / "t.db", begin,
                     [track_as("Product Added", anonymousId="anon-1"), wait(10),
                      track_as("Product Added", userId="u-42"), linked("alias"), wait(180)], restart_after)
    assert [f[:5] for f in fires] == [("trg_000001-1-0", "u-42", 0, "SENT", None)]
    assert timedelta(hours=1) <= fires[0][5] <= timedelta(minutes=62)  # the earlier wait's window end


@pytest.mark.parametrize("restart_after", [None, 0])
def test_first_event_merged_into_another_profile_starts_once(
        fresh_world: Any, tmp_path: Path, restart_after: int | None) -> None:
    """A welcome chain started as an anonymous id is the profile's once linked to the user: the user's own first
    open afterwards starts nothing more, with or without a restart."""
    def begin(s: Stack) -> TriggerRecord:
        record = s.trigger({"kind": "FIRST_EVENT"})
        call(s, "track", event="Signed In", userId="u-42")
        call(s, "track", event="Application Opened", anonymousId="anon-1")
        return record

    fires = run_acts(fresh_world, tmp_path / "t.db", begin,
                     [linked("alias"), wait(5), track_as("Application Opened", userId="u-42"), wait(5)],
                     restart_after)
    assert [f[:4] for f in fires] == [("trg_000001-1-0", "u-42", 0, "SENT")]


@pytest.mark.parametrize("restart_after", [
    None,  # uninterrupted
    1,     # stopped after the link, before the second send (the cap is rebuilt from the fires)
])
def test_daily_cap_counts_per_profile_across_linked_identities(
        fresh_world: Any, tmp_path: Path, restart_after: int | None) -> None:
    """dailyCap 1: a send to anon-1 counts for the user it is linked to, so the user's own run the same day is
    suppressed; another user is not — with or without a restart in between."""
    def begin(s: Stack) -> TriggerRecord:
        record = s.trigger(CART, dailyCap=1)
        call(s, "track", event="Product Added", anonymousId="anon-1")
        return record

    fires = run_acts(fresh_world, tmp_path / "t.db", begin,
                     [wait(70), linked("alias"), track_as("Product Added", userId="u-42"),
                      track_as("Product Added", userId="u-7"), wait(70)], restart_after)
    assert [f[1:5] for f in fires] == [(None, 0, "SENT", None), ("u-42", 0, "SUPPRESSED", "FREQUENCY_CAP"),
                                       ("u-7", 0, "SENT", None)]


# -- a follow-up done from the other identity before the link decides at the merge -----------------------------

def track_back(event: str, minutes: int, **ids: str) -> Act:
    """A call tracked now, stamped ``minutes`` before now (a late upload)."""
    return lambda s: call(s, "track", event=event, timestamp=iso(s.world.clock.now - timedelta(minutes=minutes)),
                          **ids)


def ticket_as(event: str, hours: int, **ids: str) -> Act:
    """A ticket event naming the instant ``hours`` after the trigger was created (the test's start)."""
    def act(s: Stack) -> None:
        show = s.triggers.of_partner(s.partner)[0].created_at + timedelta(hours=hours)
        call(s, "track", event=event, properties={"startsAt": iso(show)}, **ids)
    return act


LINK = object()
"""Where the link (identify or alias of anon-1 and u-42) goes in a table row's acts."""


def restarted(acts: list[Any], how: str, restart: str | None) -> tuple[list[Act], int | None]:
    """The acts with the link in its place, and the act after which to restart: ``before`` the link (after the
    act preceding it) or ``after`` it."""
    at = acts.index(LINK)
    done = [linked(how) if a is LINK else a for a in acts]
    return done, None if restart is None else at - 1 if restart == "before" else at


def begin_trigger(rule: dict[str, Any]) -> Callable[[Stack], TriggerRecord]:
    return lambda s: s.trigger(rule)


@pytest.mark.parametrize("restart", [None, "before", "after"])  # uninterrupted; stopped before / after the link
@pytest.mark.parametrize("how", ["identify", "alias"])
@pytest.mark.parametrize(("acts", "fired"), [
    # the cart as anon-1, the order as u-42 10 min later, then linked: the order was in the window, nothing fires
    ([track_as("Product Added", anonymousId="anon-1"), wait(10), track_as("Order Completed", userId="u-42"), LINK,
      wait(120)], []),
    # the other way round: the cart as u-42, the order as anon-1 (still anonymous), then linked
    ([track_as("Product Added", userId="u-42"), wait(10), track_as("Order Completed", anonymousId="anon-1"), LINK,
      wait(120)], []),
    # the order as u-42 BEFORE the cart as anon-1: no follow-up, the wait fires at its end (10 + 60 min)
    ([track_as("Order Completed", userId="u-42"), wait(10), track_as("Product Added", anonymousId="anon-1"), LINK,
      wait(120)], [("trg_000001-1-0", "u-42", timedelta(minutes=70))]),
    # the order as u-42 at the same instant as the cart, but just before it: no follow-up, the wait fires at 60 min
    ([track_as("Order Completed", userId="u-42"), track_as("Product Added", anonymousId="anon-1"), LINK, wait(120)],
     [("trg_000001-1-0", "u-42", timedelta(minutes=60))]),
    # the same instant, the order just after the cart: it follows, nothing fires
    ([track_as("Product Added", anonymousId="anon-1"), track_as("Order Completed", userId="u-42"), LINK, wait(120)],
     []),
    # out of the window: the cart uploaded late (2 h ago), the order 30 min ago, linked before the wait expired
    ([track_back("Product Added", 120, anonymousId="anon-1"), track_back("Order Completed", 30, userId="u-42"),
      LINK, wait(5)], [("trg_000001-1-0", "u-42", timedelta(0))]),
    # the order after the window ended (the wait fired as anon-1 already), then linked: nothing more
    ([track_as("Product Added", anonymousId="anon-1"), wait(70), track_as("Order Completed", userId="u-42"), LINK,
      wait(120)], [("trg_000001-1-0", None, timedelta(minutes=60))]),
    # two carts: anon-1's ended by u-42's order, u-42's own cart 5 min later stands (linked all along, the order
    # closed the first wait and the second cart opened a new one): it fires at its end, 70 min in
    ([track_as("Product Added", anonymousId="anon-1"), wait(5), track_as("Order Completed", userId="u-42"), wait(5),
      track_as("Product Added", userId="u-42"), LINK, wait(120)], [("trg_000001-2-0", "u-42", timedelta(minutes=70))]),
])
def test_a_follow_up_from_the_other_identity_before_the_link_cancels_the_merged_wait(
        fresh_world: Any, tmp_path: Path, acts: list[Any], fired: list[tuple[str, str | None, timedelta]], how: str,
        restart: str | None) -> None:
    """At an identify or alias the merged history decides a wait as if the ids had been linked all along: a
    follow-up from the other identity inside the window cancels it, one before it or past its end does not — the
    same with a restart before or after the link."""
    done, restart_after = restarted(acts, how, restart)
    fires = run_acts(fresh_world, tmp_path / "t.db", begin_trigger(CART), done, restart_after)
    assert [(f[0], f[1], f[3]) for f in fires] == [(fire_id, user, "SENT") for fire_id, user, _ in fired]
    for f, (_, _, at) in zip(fires, fired, strict=True):
        assert at <= f[5] <= at + timedelta(minutes=2)  # at the window's end (the next tick), not later


@pytest.mark.parametrize("restart", [None, "before", "after"])  # uninterrupted; stopped before / after the link
@pytest.mark.parametrize("how", ["identify", "alias"])
@pytest.mark.parametrize(("acts", "fired"), [
    # booked as anon-1, refunded as u-42 (the same show), then linked: the reminder is cancelled
    ([ticket_as("Ticket Purchased", 5, anonymousId="anon-1"), wait(10), ticket_as("Ticket Refunded", 5, userId="u-42"),
      LINK, wait(300)], 0),
    # booked as u-42, refunded as anon-1, then linked
    ([ticket_as("Ticket Purchased", 5, userId="u-42"), wait(10), ticket_as("Ticket Refunded", 5, anonymousId="anon-1"),
      LINK, wait(300)], 0),
    # the refund as u-42 BEFORE the booking as anon-1: the reminder stays
    ([ticket_as("Ticket Refunded", 5, userId="u-42"), wait(10), ticket_as("Ticket Purchased", 5, anonymousId="anon-1"),
      LINK, wait(300)], 1),
    # refund and booking at the same instant, the refund first: the reminder stays
    ([ticket_as("Ticket Refunded", 5, userId="u-42"), ticket_as("Ticket Purchased", 5, anonymousId="anon-1"), LINK,
      wait(300)], 1),
    # a refund of another show: the reminder stays
    ([ticket_as("Ticket Purchased", 5, anonymousId="anon-1"), wait(10), ticket_as("Ticket Refunded", 6, userId="u-42"),
      LINK, wait(300)], 1),
])
def test_a_refund_from_the_other_identity_before_the_link_cancels_the_merged_reminder(
        fresh_world: Any, tmp_path: Path, acts: list[Any], fired: int, how: str, restart: str | None) -> None:
    """At an identify or alias a pending reminder is cancelled when the merged profile refunded the same instant
    after booking it (from either identity, before the link); the same with a restart before or after the link."""
    done, restart_after = restarted(acts, how, restart)
    fires = run_acts(fresh_world, tmp_path / "t.db", begin_trigger(reminder(cancelledBy="Ticket Refunded")), done,
                     restart_after)
    assert [f[1:4] for f in fires] == [("u-42", 0, "SENT")] * fired
    assert all(timedelta(hours=3) <= f[5] <= timedelta(hours=3, minutes=2) for f in fires)


def test_an_app_s_first_event_links_the_ids_and_the_order_done_before_cancels_the_wait(stack: Stack) -> None:
    """A cart filled server-side as the app's installation id and an order as the install's user id 5 minutes later
    are two profiles until the app's first event brings both ids (a merge inside an app batch): nothing fires."""
    record = stack.trigger(CART)
    row = installed_row(stack)
    codec = stack.apps.codec
    call(stack, "track", event="Product Added", anonymousId=codec.installation_id(stack.app.seq, row))
    stack.advance(timedelta(minutes=5))
    call(stack, "track", event="Order Completed", userId=codec.user_id(stack.app.seq, row))
    stack.app_events([row], ["Application Opened"])
    stack.advance(timedelta(hours=2))
    assert stack.fires(record) == []


def test_reminder_in_quiet_hours_is_suppressed(stack: Stack) -> None:
    """A reminder due in the quiet hours (UTC for a server-side user) is suppressed, not delayed."""
    now = stack.world.clock.now
    due = now + timedelta(hours=1)
    record = stack.trigger(reminder(), quietHours={"startHour": due.hour, "endHour": (due.hour + 1) % 24})
    stack.track("u1", "Ticket Purchased", properties={"startsAt": iso(due + timedelta(hours=2))})
    stack.advance(timedelta(hours=2))
    assert [(f[3], f[4]) for f in stack.fires(record)] == [("SUPPRESSED", "QUIET_HOURS")]


# -- operator signal: at a venue at a time ---------------------------------------------------------------------

@dataclass
class Venue:
    row: int
    sub: int
    inside: tuple[float, float]
    outside: tuple[float, float]
    area: dict[str, Any]
    minute: int
    """The user's local minute of day when the stack was opened."""

    def rule(self, start: int, end: int, **extra: Any) -> dict[str, Any]:
        """A rule whose window is ``start``..``end`` minutes from the opening minute."""
        def hhmm(m: int) -> str:
            return f"{(self.minute + m) // 60:02d}:{(self.minute + m) % 60:02d}"
        return {"kind": "VENUE_AT_TIME", "appId": "", "areaId": "stadium", "area": self.area, "startTime": hhmm(start),
                "endTime": hhmm(end), **extra}


def venue(s: Stack, allowed: bool = True) -> Venue:
    """One install (the only one allowing location) and a venue around its current cell, with a far point
    outside; the user's local minute now."""
    table = s.apps.installs(s.app)
    row = int(np.flatnonzero(table.installed)[0])
    sub = int(table.subscriber[row])
    table.location[:] = 0
    table.location[row] = 1 if allowed else 0
    table.linked[row] = True
    world = s.world
    cell = int(world.cell[sub])
    x, y = world.cell_centres()
    far = int(np.argmax(np.where(world.city.contains(x, y), np.hypot(x - x[cell], y - y[cell]), -1.0)))
    inside = world.city.projection.point_latlon(float(x[cell]), float(y[cell]))
    outside = world.city.projection.point_latlon(float(x[far]), float(y[far]))
    radius = max(world.cell_radius(cell), 100.0)
    area = {"areaType": "CIRCLE", "center": {"latitude": inside[0], "longitude": inside[1]}, "radius": radius}
    minute = int(world.local_clock(np.array([sub])).minute[0])
    return Venue(row, sub, inside, outside, area, minute)


def venue_trigger(s: Stack, v: Venue, start: int, end: int, **extra: Any) -> TriggerRecord:
    rule = v.rule(start, end, **{k: extra.pop(k) for k in ("days", "minDwellMinutes") if k in extra})
    return s.trigger({**rule, "appId": s.app.id}, **extra)


def test_venue_fires_after_the_dwell_inside_the_window_once_a_day(stack: Stack) -> None:
    """Entering during the window fires once the dwell is done, not before; leaving and coming back the same day
    fires nothing more; the webhook names the venue by its label only."""
    v = venue(stack)
    stack.world.pin(v.sub, *v.outside)
    record = venue_trigger(stack, v, 10, 130, minDwellMinutes=30)
    start = stack.world.clock.now
    stack.advance(timedelta(minutes=20))
    stack.world.pin(v.sub, *v.inside)
    entered = stack.world.clock.now
    stack.advance(timedelta(minutes=29))
    assert stack.fires(record) == []
    stack.advance(timedelta(minutes=2))
    user = stack.apps.install(stack.app, v.row).user_id
    assert [(f[1], f[3]) for f in stack.fires(record)] == [(user, "SENT")]
    [at] = stack.sent_at(record)
    assert entered + timedelta(minutes=30) <= at <= entered + timedelta(minutes=30) + stack.world.tick
    stack.world.pin(v.sub, *v.outside)
    stack.advance(timedelta(minutes=10))
    stack.world.pin(v.sub, *v.inside)
    stack.advance(timedelta(minutes=60))
    assert len(stack.fires(record)) == 1
    data = json.loads(stack.outbox.events()[0].body)["data"]
    assert data == {"triggerId": record.id, "triggerName": "t", "rule": "VENUE_AT_TIME", "step": 0, "userId": user,
                    "areaId": "stadium"}
    assert start < at


def test_venue_already_there_when_the_window_opens(stack: Stack) -> None:
    """A user in the area before the window counts their dwell from its opening."""
    v = venue(stack)
    stack.world.pin(v.sub, *v.inside)
    record = venue_trigger(stack, v, 10, 120, minDwellMinutes=15)
    start = stack.world.clock.now
    stack.advance(timedelta(minutes=24))
    assert stack.fires(record) == []
    stack.advance(timedelta(minutes=2))
    [at] = stack.sent_at(record)
    assert start + timedelta(minutes=25) <= at <= start + timedelta(minutes=25) + stack.world.tick


@pytest.mark.parametrize(("allowed", "window", "extra"), [
    # no in-app location permission: no link, no signal
    (False, (0, 120), {}),
    # the dwell would end after the window closed
    (True, (0, 20), {"minDwellMinutes": 30}),
    # today is not one of the rule's days
    (True, (0, 120), {"days": "NOT_TODAY"}),
])
def test_venue_does_not_fire(stack: Stack, allowed: bool, window: tuple[int, int], extra: dict[str, Any]) -> None:
    """No permission, a dwell past the window's end, or another weekday: nothing fires."""
    v = venue(stack, allowed)
    stack.world.pin(v.sub, *v.inside)
    if extra.get("days") == "NOT_TODAY":
        today = int(stack.world.local_clock(np.array([v.sub])).weekday[0])
        extra = {"days": [d for i, d in enumerate(["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY",
                                                     "SATURDAY", "SUNDAY"]) if i != today]}
    record = venue_trigger(stack, v, *window, **extra)
    stack.advance(timedelta(hours=3))
    assert stack.fires(record) == []


def test_venue_in_quiet_hours_is_suppressed_and_withdrawal_before_a_step_suppresses(stack: Stack) -> None:
    """Quiet hours in the user's local time suppress the fire; a location permission withdrawn before the next
    step suppresses that step."""
    v = venue(stack)
    stack.world.pin(v.sub, *v.inside)
    hour = (v.minute + 5) // 60
    quiet = venue_trigger(stack, v, 5, 60, quietHours={"startHour": hour, "endHour": (hour + 1) % 24})
    chain = venue_trigger(stack, v, 5, 60, steps=[{"action": HOOK}, {"delaySeconds": 600, "action": HOOK}])
    stack.advance(timedelta(minutes=7))
    stack.apps.installs(stack.app).location[v.row] = 0
    stack.advance(timedelta(minutes=15))
    assert [(f[3], f[4]) for f in stack.fires(quiet)] == [("SUPPRESSED", "QUIET_HOURS")]
    assert [(f[2], f[3], f[4]) for f in stack.fires(chain)] == [(0, "SENT", None), (1, "SUPPRESSED", "NO_CONSENT")]


@pytest.mark.parametrize(("rule", "field"), [
    # the cancelling event is the reminded event itself
    (reminder(cancelledBy="Ticket Purchased"), "body.rule.cancelledBy"),
    # a window ending before it starts (no wrap over midnight)
    ({"kind": "VENUE_AT_TIME", "appId": "APP", "areaId": "x", "startTime": "20:00", "endTime": "18:00",
      "area": {"areaType": "CIRCLE", "center": {"latitude": 52.52, "longitude": 13.405}, "radius": 1000}},
     "body.rule.endTime"),
    # an app of nobody
    ({"kind": "VENUE_AT_TIME", "appId": "app_999999", "areaId": "x", "startTime": "18:00", "endTime": "20:00",
      "area": {"areaType": "CIRCLE", "center": {"latitude": 52.52, "longitude": 13.405}, "radius": 1000}},
     "body.rule.appId"),
])
def test_bad_signal_rules_name_the_field(stack: Stack, rule: dict[str, Any], field: str) -> None:
    """A reminder or venue rule that cannot work is refused naming the field; nothing is stored."""
    if rule.get("appId") == "APP":
        rule = {**rule, "appId": stack.app.id}
    with pytest.raises(InvalidArgument) as err:
        stack.trigger(rule)
    assert [d.field for d in err.value.details or []] == [field]
    assert stack.triggers.of_partner(stack.partner) == []


# -- a sink gone -------------------------------------------------------------------------------------------------

def test_a_gone_sink_ends_the_triggers_webhooks(stack: Stack) -> None:
    """After 410 Gone from its sink, a trigger shows SINK_GONE, its later webhook steps are suppressed while its
    push steps go on, and one with only webhook steps starts no more runs; the state survives a restart."""
    row = installed_row(stack)
    mixed = stack.trigger(CART, steps=[{"action": HOOK}, {"delaySeconds": 60, "action": {
        "type": "PUSH", "appId": stack.app.id, "title": "t", "body": "b", "kind": "TRANSACTIONAL"}}])
    hooks = stack.trigger({"kind": "FIRST_EVENT"})
    for record in (mixed, hooks):
        stack.triggers.on_gone(record.id)
    stack.triggers.on_gone("geo_000001")  # another subscription's: not ours
    assert [t.status for t in stack.triggers.of_partner(stack.partner)] == ["SINK_GONE", "SINK_GONE"]
    stack.track(stack.apps.install(stack.app, row).user_id, "Product Added")
    stack.app_events([row], ["Application Opened"])
    stack.advance(timedelta(minutes=65))
    assert [(f[2], f[3], f[4]) for f in stack.fires(mixed)] == [(0, "SUPPRESSED", "SINK_GONE"), (1, "SENT", None)]
    assert stack.fires(hooks) == []
    assert stack.outbox.events() == []
    stack.triggers.resume()
    assert stack.triggers.get(stack.partner, mixed.id).status == "SINK_GONE"


# -- restart of the signal rules ---------------------------------------------------------------------------------

def begin_reminders(s: Stack) -> tuple[list[TriggerRecord], Callable[[World], None]]:
    """Reminders waiting for their instants (one cancelled, one whose chain is mid-way at the stop)."""
    record = s.trigger(reminder(cancelledBy="Ticket Refunded", hoursBefore=1),
                       steps=[{"action": HOOK}, {"delaySeconds": 3600, "action": HOOK}])
    now = s.world.clock.now
    s.track("u1", "Ticket Purchased", properties={"startsAt": iso(now + timedelta(hours=1, minutes=30))})
    s.track("u2", "Ticket Purchased", properties={"startsAt": iso(now + timedelta(hours=3))})
    s.track("u3", "Ticket Purchased", properties={"startsAt": iso(now + timedelta(hours=3))})
    s.track("u3", "Ticket Refunded", properties={"startsAt": iso(now + timedelta(hours=3))})
    s.advance(timedelta(minutes=50))  # u1's reminder sent, its second step pending; u2's reminder pending
    return [record], lambda world: None


def test_restart_between_alias_and_refund_keeps_the_profile_s_reminder(fresh_world: Any, tmp_path: Path) -> None:
    """After a restart between the alias and the refund, the refund from the user id still cancels the reminder
    booked anonymously, and a second booking from the user id starts nothing (the profile is rebuilt from the log,
    the runs from the store)."""
    first = open_stack(tmp_path / "t.db", fresh_world())
    record = first.trigger(reminder(cancelledBy="Ticket Refunded"))
    now = first.world.clock.now
    show, gig = now + timedelta(hours=3), now + timedelta(hours=5)
    ticket(first, "Ticket Purchased", {"anonymousId": "anon-1"}, show)
    ticket(first, "Ticket Purchased", {"anonymousId": "anon-1"}, gig)
    link(first, "alias", "anon-1", "u-42")
    first.advance(timedelta(minutes=10))
    again = reopened(first, tmp_path / "t.db", fresh_world)
    ticket(again, "Ticket Refunded", {"userId": "u-42"}, show)
    ticket(again, "Ticket Purchased", {"userId": "u-42"}, gig)  # the gig again: already the profile's
    again.advance(timedelta(hours=5))
    assert [(f[1], f[3]) for f in again.fires(record)] == [("u-42", "SENT")]
    assert again.sent_at(record)[0] >= gig - timedelta(hours=2)
    again.store.close()


def begin_venue(s: Stack) -> tuple[list[TriggerRecord], Callable[[World], None]]:
    """A user in the venue since before the window, stopped mid-dwell."""
    v = venue(s)
    s.world.pin(v.sub, *v.inside)
    record = venue_trigger(s, v, 10, 130, minDwellMinutes=30,
                           steps=[{"action": HOOK}, {"delaySeconds": 1800, "action": HOOK}])
    s.advance(timedelta(minutes=25))
    return [record], lambda world: world.pin(v.sub, *v.inside)


def allow_venue_user(s: Stack) -> None:
    """The install permissions are drawn again from the seed on resume: the test's choice applied again."""
    venue(s)


@pytest.mark.parametrize(("begin", "after_open", "fires"), [
    # reminders: one sent with its next step pending, one waiting, one cancelled
    (begin_reminders, lambda s: None, 4),
    # a venue user mid-dwell at the stop (their presence since before the window is kept), fired once that day
    (begin_venue, allow_venue_user, 2),
])
def test_restart_mid_wait_fires_the_same_actions_for_signal_rules(
        fresh_world: Any, tmp_path: Path, begin: Callable[[Stack], tuple[list[TriggerRecord], Callable[[World], None]]],
        after_open: Callable[[Stack], None], fires: int) -> None:
    """Stopping while reminders wait or a venue dwell runs, then resuming, gives exactly the fires and outbox
    events of an uninterrupted run."""
    def result(s: Stack, records: list[TriggerRecord]) -> tuple[Any, ...]:
        got = [(f.fire_id, f.user_id, f.step, f.status, f.at) for r in records
               for f in s.triggers.fires(s.partner, r.id)]
        return tuple(got), tuple((e.event_id, e.body) for e in s.outbox.events())

    whole = open_stack(tmp_path / "a.db", fresh_world())
    records, _ = begin(whole)
    whole.advance(timedelta(hours=4))
    expected = result(whole, records)
    whole.store.close()
    assert len(expected[0]) == fires

    first = open_stack(tmp_path / "b.db", fresh_world())
    records, replay = begin(first)
    # The fresh world is first told what this one was at the start (a pin), as the journal would replay it.
    again = reopened(first, tmp_path / "b.db", fresh_world, replay)
    after_open(again)
    again.advance(timedelta(hours=4))
    assert result(again, records) == expected
    again.store.close()
