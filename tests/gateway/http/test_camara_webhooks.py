"""The durable webhook outbox: retries with back-off, timeouts, 410 Gone, dead letters and re-drive, restarts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from pytest_aiohttp import AiohttpClient, AiohttpServer

from gateway.core.settings import Settings
from gateway.core.store import Store
from gateway.core.webhooks import Attempt, Outbox, OutboxCounts, OutboxEvent, check_sink, is_loopback
from gateway.http.app import create_app
from gateway.http.keys import WEBHOOKS, WORLD
from simulator.world import World
from tests.gateway.camara_helpers import (
    ENTERED,
    LEFT,
    Sink,
    camara_partner,
    cell_centre,
    circle,
    far_cell_circle,
    located,
    msisdn,
    start_sink,
)
from tests.gateway.conftest import ADMIN, Client, MakePartner, Wall, bearer

BASE = "/geofencing-subscriptions/v0.5/subscriptions"


@pytest.fixture
def settings(tmp_path: Path, wall: Wall) -> Settings:
    return Settings(db_path=tmp_path / "opsim.db", admin_token="test-admin-token", wall_clock=wall, port=0,
                    webhook_backoff_base_s=0.02, webhook_backoff_max_s=0.05, webhook_poll_s=0.01,
                    webhook_timeout_s=0.3, webhook_max_age_s=30.0)


@pytest.fixture
async def sink(aiohttp_server: AiohttpServer) -> Sink:
    return await start_sink(aiohttp_server)


def body_for(sink: str, number: str, area: dict[str, Any], event: str = LEFT) -> dict[str, Any]:
    return {"protocol": "HTTP", "sink": sink, "types": [event],
            "config": {"subscriptionDetail": {"device": {"phoneNumber": number}, "area": area}}}


async def pin(client: Client, number: str, area: dict[str, Any]) -> None:
    resp = await client.post(f"/admin/v1/subscribers/{quote(number)}/pin", headers=ADMIN,
                             json={"latitude": area["center"]["latitude"], "longitude": area["center"]["longitude"]})
    assert resp.status == 200


async def geofence_with_events(client: Client, world: World, token: str, sink_url: str, moves: int = 1) -> str:
    """A subscription whose device then leaves (and re-enters) its area: started + ``moves`` area events."""
    i = located(world)[0]
    number = msisdn(world, i)
    lat, lon, r = cell_centre(world, i)
    home, away = circle(lat, lon, r + 300), far_cell_circle(world, i)
    await pin(client, number, home)
    resp = await client.post(BASE, json=body_for(sink_url, number, home), headers=bearer(token))
    assert resp.status == 201, await resp.text()
    for _ in range(moves):
        await pin(client, number, away)
        await pin(client, number, home)
    return str((await resp.json())["id"])


async def admin_json(client: Client, path: str, method: str = "GET") -> Any:
    resp = await client.request(method, path, headers=ADMIN)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def eventually(check: Callable[[], Any], timeout: float = 5.0) -> None:
    async def loop() -> None:
        while not await check():
            await asyncio.sleep(0.02)
    await asyncio.wait_for(loop(), timeout)


async def test_failures_are_retried_in_order_with_every_attempt_recorded(
        client: Client, world: World, make_partner: MakePartner, sink: Sink) -> None:
    """500 twice, then accepted: same id, order kept per subscription, three attempts on record."""
    failures = {"left": 2}

    async def answer(record: dict[str, Any]) -> int:
        if failures["left"] > 0:
            failures["left"] -= 1
            return 500
        return 204

    sink.answer = answer
    _, token = await camara_partner(client, make_partner)
    sub = await geofence_with_events(client, world, token, sink.url, moves=2)
    events = await sink.wait_for(3)
    assert [e["id"] for e in events] == [f"{sub}-000001", f"{sub}-000002", f"{sub}-000003"]
    assert sink.statuses[:3] == [500, 500, 204]
    detail = await admin_json(client, f"/admin/v1/webhooks/events/{sub}-000001")
    assert detail["state"] == "delivered" and detail["attempts"] == 3
    assert [a.get("statusCode") for a in detail["history"]] == [500, 500, 204]


async def test_timeouts_are_retried(client: Client, world: World, make_partner: MakePartner, sink: Sink) -> None:
    """A sink slower than the timeout counts as a failed attempt; the event is sent again under its id."""
    slow = {"left": 1}

    async def answer(record: dict[str, Any]) -> int:
        if slow["left"] > 0:
            slow["left"] -= 1
            await asyncio.sleep(0.6)
            return 500  # too late anyway: the sender gave up on this attempt
        return 204

    sink.answer = answer
    _, token = await camara_partner(client, make_partner)
    sub = await geofence_with_events(client, world, token, sink.url, moves=0)
    await sink.wait_for(1)
    detail = await admin_json(client, f"/admin/v1/webhooks/events/{sub}-000001")
    assert detail["history"][0]["error"].startswith("timeout")
    assert detail["state"] == "delivered"


async def test_gone_ends_the_subscription(client: Client, world: World, make_partner: MakePartner,
                                          sink: Sink) -> None:
    """410 from the sink: the subscription ends (EXPIRED), its pending events are cancelled, nothing more is sent."""
    async def answer(record: dict[str, Any]) -> int:
        return 410

    sink.answer = answer
    _, token = await camara_partner(client, make_partner)
    sub = await geofence_with_events(client, world, token, sink.url, moves=2)

    async def ended() -> bool:
        got = await (await client.get(f"{BASE}/{sub}", headers=bearer(token))).json()
        return bool(got["status"] == "EXPIRED")

    await eventually(ended)
    states = {e["eventId"]: e["state"] for e in
              (await admin_json(client, f"/admin/v1/webhooks/events?subscriptionId={sub}"))["events"]}
    assert set(states.values()) == {"cancelled"}
    assert sink.statuses == [410]


async def test_dead_letters_and_redrive(client: Client, world: World, make_partner: MakePartner, sink: Sink,
                                        aiohttp_client: AiohttpClient, fresh_world: Callable[[], World],
                                        settings: Settings) -> None:
    """Undelivered past the maximum age: dead-lettered (listed with attempts); a re-drive sends it, same id."""
    broken = {"on": True}

    async def answer(record: dict[str, Any]) -> int:
        return 503 if broken["on"] else 204

    sink.answer = answer
    client = await aiohttp_client(create_app(fresh_world(), replace(settings, webhook_max_age_s=0.2)))
    world = client.app[WORLD]
    creds = await (await client.post("/admin/v1/partners", json={"name": "p", "scopes": [
        f"geofencing-subscriptions:{LEFT}:create"]}, headers=ADMIN)).json()
    token = (await (await client.post("/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": creds["clientId"],
        "client_secret": creds["clientSecret"]})).json())["access_token"]
    sub = await geofence_with_events(client, world, token, sink.url, moves=0)

    async def dead() -> bool:
        return bool((await admin_json(client, "/admin/v1/webhooks/dead-letters"))["events"])

    await eventually(dead)
    letters = (await admin_json(client, "/admin/v1/webhooks/dead-letters"))["events"]
    assert [e["eventId"] for e in letters] == [f"{sub}-000001"]
    assert (await admin_json(client, "/admin/v1/webhooks/counts")) == {
        "pending": 0, "retrying": 0, "delivered": 0, "dead": 1, "cancelled": 0}
    assert len(letters[0]["history"]) >= 2 and letters[0]["lastError"] == "sink answered 503"
    broken["on"] = False
    redriven = await admin_json(client, f"/admin/v1/webhooks/dead-letters/{sub}-000001/redrive", "POST")
    assert redriven["state"] == "retrying"  # attempted before: back in the queue, not new
    events = await sink.wait_for(1)
    assert events[0]["id"] == f"{sub}-000001"
    resp = await client.post(f"/admin/v1/webhooks/dead-letters/{sub}-000001/redrive", headers=ADMIN)
    assert resp.status == 404


async def test_restart_resumes_without_loss_or_duplicates(
        aiohttp_client: AiohttpClient, fresh_world: Callable[[], World], settings: Settings, sink: Sink) -> None:
    """Events stored before a stop are sent after the restart, once each, under their ids; numbering continues."""
    down = {"on": True}

    async def answer(record: dict[str, Any]) -> int:
        return 503 if down["on"] else 204

    sink.answer = answer
    world = fresh_world()
    client = await aiohttp_client(create_app(world, settings))
    creds = await (await client.post("/admin/v1/partners", json={"name": "p", "scopes": [
        f"geofencing-subscriptions:{LEFT}:create", f"geofencing-subscriptions:{ENTERED}:create",
        "geofencing-subscriptions:read"]}, headers=ADMIN)).json()
    form = {"grant_type": "client_credentials", "client_id": creds["clientId"], "client_secret": creds["clientSecret"]}
    token = (await (await client.post("/oauth2/token", data=form)).json())["access_token"]
    sub = await geofence_with_events(client, world, token, sink.url, moves=2)
    await client.post("/admin/v1/clock/advance", json={"duration": "PT30M"}, headers=ADMIN)
    async def tried() -> bool:
        return len(sink.statuses) >= 1

    await eventually(tried)
    await client.close()

    down["on"] = False
    world2 = fresh_world()
    client2 = await aiohttp_client(create_app(world2, settings))
    events = await sink.wait_for(3)
    await asyncio.sleep(0.2)
    ids = [e["id"] for e in sink.events()]
    assert ids == [f"{sub}-000001", f"{sub}-000002", f"{sub}-000003"]
    listed = (await admin_json(client2, f"/admin/v1/webhooks/events?subscriptionId={sub}"))["events"]
    assert [e["eventId"] for e in listed] == ids and {e["state"] for e in listed} == {"delivered"}
    token2 = (await (await client2.post("/oauth2/token", data=form)).json())["access_token"]
    got = await (await client2.get(f"{BASE}/{sub}", headers=bearer(token2))).json()
    assert got["status"] == "ACTIVE"
    i = located(world2)[0]
    await pin(client2, msisdn(world2, i), far_cell_circle(world2, i))
    await sink.wait_for(4)
    assert sink.events()[-1]["id"] == f"{sub}-000004" and len(events) >= 3


@pytest.mark.parametrize(("sink", "allowed"), [
    ("https://example.com/hook", True),  # https anywhere
    ("http://127.0.0.1:8080/hook", True),  # loopback over http (setting on)
    ("http://[::1]:8080/hook", True),
    ("http://localhost/hook", True),
    ("http://10.0.0.1/hook", False),  # private but not loopback
    ("http://example.com/hook", False),
    ("ws://127.0.0.1/hook", False),
    ("https://example.com:99999/hook", False),
    ("https:///nohost", False),
    ("https://exa mple.com/", False),
])
def test_sink_rules(sink: str, allowed: bool) -> None:
    try:
        check_sink(sink, allow_http_loopback=True)
        ok = True
    except Exception:
        ok = False
    assert ok == allowed
    if sink.startswith("http://127"):
        with pytest.raises(Exception, match="https"):
            check_sink(sink, allow_http_loopback=False)
    assert is_loopback("127.0.0.2") and not is_loopback("example.com")


async def test_secret_rotation(client: Client, make_partner: MakePartner) -> None:
    """A partner reads and rotates its secret; the admin sees the same one."""
    creds, token = await camara_partner(client, make_partner)
    first = await (await client.get("/partner/v1/webhook-secret", headers=bearer(token))).json()
    again = await (await client.get(f"/admin/v1/partners/{creds.id}/webhook-secret", headers=ADMIN)).json()
    assert first["secret"] == again["secret"] and first["secret"].startswith("whsec_")
    rotated = await (await client.post("/partner/v1/webhook-secret/rotate", headers=bearer(token))).json()
    assert rotated["secret"] != first["secret"]
    resp = await client.get("/admin/v1/partners/ptn_999999/webhook-secret", headers=ADMIN)
    assert resp.status == 404


def test_outbox_counts_by_state(tmp_path: Path) -> None:
    """Counts per state: events never attempted (pending) apart from those failed and waiting (retrying)."""
    store = Store(tmp_path / "counts.db")
    store.open()
    partner, _, _ = store.create_partner("p", ("a",), {}, "2026-06-01T06:00:00Z")
    outbox = Outbox(store, wall=lambda: 100.0)
    at = datetime(2026, 6, 1, 6, tzinfo=UTC)
    assert outbox.counts() == OutboxCounts(0, 0, 0, 0, 0)
    outbox.add([OutboxEvent(f"e{i}", f"s{i}", partner.id, "t", "https://example.org", None, "{}", at)
                for i in range(5)])
    rows = {r.event_id: r for r in outbox.events()}
    for event_id, state in (("e0", "delivered"), ("e1", "pending"), ("e2", "dead")):
        outbox.record(rows[event_id], Attempt(event_id, 1, 100.0, 500, None, 1.0), state, 200.0)
    outbox.cancel("s3", "gone")
    assert outbox.counts() == OutboxCounts(pending=1, retrying=1, delivered=1, dead=1, cancelled=1)
    store.close()


async def test_counts_and_listing_agree_on_every_state(aiohttp_client: AiohttpClient, world: World,
                                                       settings: Settings) -> None:
    """/webhooks/counts and /webhooks/events?state= give each event the same state (one definition)."""
    client = await aiohttp_client(create_app(world, replace(settings, webhook_concurrency=0)))  # nothing is sent
    creds = await (await client.post("/admin/v1/partners", json={"name": "p", "scopes": ["a"]}, headers=ADMIN)).json()
    partner = int(creds["id"].rsplit("_", 1)[1])
    outbox = client.app[WEBHOOKS].outbox
    at = datetime(2026, 6, 1, 6, tzinfo=UTC)
    outbox.add([OutboxEvent(f"e{i}", f"s{i}", partner, "t", "https://example.org", None, "{}", at) for i in range(5)])
    rows = {r.event_id: r for r in outbox.events()}
    for event_id, stored in (("e0", "delivered"), ("e1", "pending"), ("e2", "dead")):
        outbox.record(rows[event_id], Attempt(event_id, 1, 100.0, 500, None, 1.0), stored, 4e9)
    outbox.cancel("s3", "gone")
    expected = {"delivered": ["e0"], "retrying": ["e1"], "dead": ["e2"], "cancelled": ["e3"], "pending": ["e4"]}
    counts = await admin_json(client, "/admin/v1/webhooks/counts")
    assert counts == {state: len(ids) for state, ids in expected.items()}
    for state, ids in expected.items():
        listed = (await admin_json(client, f"/admin/v1/webhooks/events?state={state}"))["events"]
        assert [e["eventId"] for e in listed] == ids and {e["state"] for e in listed} == {state}
        assert (await admin_json(client, f"/admin/v1/webhooks/events/{ids[0]}"))["state"] == state
