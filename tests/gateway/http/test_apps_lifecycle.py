"""Partner apps over simulated time: lifecycle (refresh, uninstall → UNREGISTERED), usage events to listeners,
push opens as app events, and a restart that rebuilds the same installs and numbers events as before."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
from pytest_aiohttp import AiohttpClient

from gateway.core.settings import Settings
from gateway.http.app import create_app
from gateway.http.keys import APPS, STORE
from gateway.services.apps.events import APP_EVENT_CODE, APP_EVENTS, AppEventBatch
from gateway.services.apps.service import AppService
from simulator.world import World
from tests.gateway.conftest import ADMIN, Client, MakePartner
from tests.gateway.http.test_apps_push import MSG, fcm_error, installs, partner_token, register, send

SESSION_EVENTS = {APP_EVENT_CODE[e] for e in ("Application Opened", "Application Backgrounded", "Product Viewed",
                                              "Product Added", "Checkout Started", "Order Completed",
                                              "Content Viewed")}


async def advance(client: Client, duration: str) -> None:
    resp = await client.post("/admin/v1/clock/advance", json={"duration": duration}, headers=ADMIN)
    assert resp.status == 200, await resp.text()


def listen(service: AppService) -> list[AppEventBatch]:
    got: list[AppEventBatch] = []
    service.add_event_listener(got.append)
    return got


def as_rows(batches: list[AppEventBatch]) -> list[tuple[int, int, int, int, int, int, int]]:
    return [row for b in batches for row in zip([b.app_seq] * b.size, b.seq.tolist(), b.time_us.tolist(),
                                                 b.row.tolist(), b.event.tolist(), b.item.tolist(),
                                                 b.value_cents.tolist(), strict=True)]


async def test_refreshed_and_uninstalled_tokens_are_unregistered(client: Client, make_partner: MakePartner,
                                                                 world: World) -> None:
    """After days of simulated time, a refreshed install's old token is UNREGISTERED and its new one works; an
    uninstalled one is UNREGISTERED; new installs are new rows with working tokens."""
    token = await partner_token(client, make_partner)
    app = await register(client, token, popularity=1.0, pushQuotaPerMinute=600_000)
    service = client.app[APPS]
    record = service.find(app["id"])
    assert record is not None
    table = service.installs(record)
    start = table.size
    old_tokens = {r: service.install(record, r).token for r in range(start)}
    await advance(client, "P3D")
    refreshed = np.flatnonzero((table.generation[:start] > 0) & table.installed[:start])
    gone = np.flatnonzero(~table.installed[:start])
    assert len(refreshed) and len(gone) and table.size > start
    row = int(refreshed[0])
    stale = await send(client, token, app["id"], {"data": {"k": "v"}, "token": old_tokens[row]})
    assert stale.status == 404 and fcm_error(await stale.json()) == (404, "NOT_FOUND", "UNREGISTERED")
    listed = [r for r in await installs(client, app["id"], limit=1000) if r["installationId"] ==
              service.install(record, row).installation_id]
    assert listed[0]["registrationToken"] != old_tokens[row]  # the admin view shows the current token
    fresh = await send(client, token, app["id"], {"data": {"k": "v"}, "token": listed[0]["registrationToken"]})
    assert fresh.status == 200
    removed = await send(client, token, app["id"], {"data": {"k": "v"}, "token": old_tokens[int(gone[0])]})
    assert removed.status == 404 and fcm_error(await removed.json())[2] == "UNREGISTERED"
    new_row = int(np.flatnonzero(table.installed[start:])[0]) + start
    ok = await send(client, token, app["id"], {"data": {"k": "v"}, "token": service.install(record, new_row).token})
    assert ok.status == 200


async def test_usage_events_follow_the_world(client: Client, make_partner: MakePartner, world: World) -> None:
    """Sessions only for people awake (not 00:00-06:00 local), not travelling and reachable; more at home in the
    evening; batches reach listeners with ``seq`` increasing without gaps and times ordered."""
    token = await partner_token(client, make_partner)
    app = await register(client, token, categories=["SHOPPING"], popularity=0.8)
    service = client.app[APPS]
    record = service.find(app["id"])
    assert record is not None
    table = service.installs(record)
    by_hour: Counter[int] = Counter()
    batches: list[AppEventBatch] = []

    def check(batch: AppEventBatch) -> None:  # runs inside the tick: the world is as the events saw it
        batches.append(batch)
        session = np.isin(batch.event, list(SESSION_EVENTS))
        subs = table.subscriber[batch.row[session]]
        assert not world.whereabouts(subs).travelling.any()
        assert world.is_reachable(subs).all()
        hours = world.local_clock(subs).hour
        assert (hours >= 6).all()
        opened = batch.event[session] == APP_EVENT_CODE["Application Opened"]
        by_hour.update(hours[opened].tolist())

    service.add_event_listener(check)
    await advance(client, "P2D")
    assert batches
    seqs = np.concatenate([b.seq for b in batches])
    assert seqs.tolist() == list(range(len(seqs)))
    for b in batches:
        assert np.all(np.diff(b.time_us) >= 0) and b.app_seq == record.seq
    evening = sum(by_hour[h] for h in range(18, 23)) / 5
    daytime = sum(by_hour[h] for h in range(9, 17)) / 8
    assert evening > daytime > 0
    counts = Counter(APP_EVENTS[e] for b in batches for e in b.event.tolist())
    assert counts["Product Viewed"] > counts["Product Added"] > counts["Order Completed"] > 0
    assert counts["Application Opened"] == counts["Application Backgrounded"]
    orders = np.concatenate([b.value_cents[b.event == APP_EVENT_CODE["Order Completed"]] for b in batches])
    assert (orders > 0).all()


async def test_opened_push_comes_back_only_as_app_events(client: Client, make_partner: MakePartner,
                                                         world: World) -> None:
    """Delivered pushes are reported as received; some displayed ones are tapped later (an app event and the
    truth's openedAt), never data-only ones."""
    token = await partner_token(client, make_partner)
    app = await register(client, token, popularity=1.0, pushQuotaPerMinute=600_000)
    service = client.app[APPS]
    batches = listen(service)
    rows = [r for r in await installs(client, app["id"], limit=1000) if r["installed"]]
    ids = {}
    for r in rows[:300]:
        resp = await send(client, token, app["id"], {**MSG, "token": r["registrationToken"]})
        ids[(await resp.json())["name"].rsplit("/", 1)[1]] = r
    await advance(client, "P1D")
    counts = Counter(APP_EVENTS[e] for b in batches for e in b.event.tolist())
    truths = [await (await client.get(f"/admin/v1/push/messages/{m}", headers=ADMIN)).json() for m in ids]
    opened = [t for t in truths if "openedAt" in t]
    assert counts["Push Notification Received"] == sum(t["status"] == "DELIVERED" for t in truths)
    assert counts["Push Notification Tapped"] == len(opened) > 0
    assert all(t["displayed"] and t["openedAt"] >= t["deliveredAt"] for t in opened)
    assert len(opened) < 0.25 * len(truths)


async def test_restart_rebuilds_installs_and_events_exactly(aiohttp_client: AiohttpClient,
                                                            fresh_world: Callable[[], World],
                                                            settings: Settings, tmp_path: Any) -> None:
    """A gateway restarted mid-run has the same install table (lifecycle replayed from the seed, operator
    uninstalls where they were) and goes on with the same events under the same seqs as one that never stopped."""
    async def start(world: World, db: str) -> Client:
        return await aiohttp_client(create_app(world, dataclasses.replace(settings, db_path=tmp_path / db)))

    async def prepare(client: Client) -> tuple[AppService, Any]:
        creds = await client.post("/admin/v1/partners", json={"name": "acme", "scopes": [
            "apps:read", "apps:write", "push:send"]}, headers=ADMIN)
        body = await creds.json()
        form = {"grant_type": "client_credentials", "client_id": body["clientId"],
                "client_secret": body["clientSecret"]}
        tok = (await (await client.post("/oauth2/token", data=form)).json())["access_token"]
        app = await register(client, tok, popularity=0.8)
        await advance(client, "PT20H")
        first = (await installs(client, app["id"]))[3]
        resp = await client.delete(f"/admin/v1/apps/{app['id']}/installations/{first['installationId']}",
                                   headers=ADMIN)
        assert resp.status == 204
        service = client.app[APPS]
        return service, service.find(app["id"])

    steady = await start(fresh_world(), "steady.db")
    service, record = await prepare(steady)
    await advance(steady, "PT12H")
    later = listen(service)
    await advance(steady, "PT6H")
    expected_table = service.installs(record)

    first = await start(fresh_world(), "restarted.db")
    await prepare(first)
    await advance(first, "PT12H")
    await first.close()
    second = await start(fresh_world(), "restarted.db")
    service2 = second.app[APPS]
    record2 = service2.find(record.id)
    assert record2 is not None
    resumed = listen(service2)
    await advance(second, "PT6H")
    table = service2.installs(record2)
    for name in ("subscriber", "installed", "generation", "notifications", "platform", "marketing", "location",
                 "linked"):
        assert getattr(table, name).tolist() == getattr(expected_table, name).tolist(), name
    assert as_rows(resumed) == as_rows(later) and later
    assert second.app[STORE].conn.execute("SELECT COUNT(*) FROM app_uninstalls").fetchone()[0] == 1


async def test_restart_after_a_test_subscriber_keeps_the_installs(aiohttp_client: AiohttpClient,
                                                                  fresh_world: Callable[[], World],
                                                                  settings: Settings) -> None:
    """A test subscriber added after an app was registered changes nothing in the app's installs after a restart
    (the draws were over the subscribers there were at registration)."""
    client = await aiohttp_client(create_app(fresh_world(), settings))
    token = await partner_token_for(client)
    app = await register(client, token, popularity=0.7)
    before = await installs(client, app["id"], limit=1000)
    resp = await client.post("/admin/v1/subscribers", json={"msisdn": "+491701234567", "latitude": 52.52,
                                                            "longitude": 13.405}, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    await client.close()
    again = await aiohttp_client(create_app(fresh_world(), settings))
    assert await installs(again, app["id"], limit=1000) == before


async def partner_token_for(client: Client) -> str:
    resp = await client.post("/admin/v1/partners", json={"name": "acme", "scopes": [
        "apps:read", "apps:write", "push:send"]}, headers=ADMIN)
    body = await resp.json()
    form = {"grant_type": "client_credentials", "client_id": body["clientId"], "client_secret": body["clientSecret"]}
    return str((await (await client.post("/oauth2/token", data=form)).json())["access_token"])
