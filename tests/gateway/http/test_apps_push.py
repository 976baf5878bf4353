"""Partner apps and FCM v1 push: registration, simulated installs, sends, FCM errors, held delivery, display."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_aiohttp import AiohttpClient

from gateway.core.settings import Settings
from gateway.http.app import create_app
from gateway.http.keys import APPS, PARTNERS, PUSH, RATE_LIMITER, STORE
from gateway.http.ratelimit import RateLimiter
from simulator.world import World
from tests.gateway.conftest import ADMIN, Client, MakePartner, PartnerCreds, bearer, fetch_token
from tests.gateway.http.test_ratelimit import FakeMonotonic

SCOPES = ("apps:read", "apps:write", "push:send")
APP = {"name": "Shoply", "platforms": ["ANDROID", "IOS"], "categories": ["SHOPPING", "FASHION"],
       "popularity": 0.5}
MSG: dict[str, Any] = {"notification": {"title": "Sale", "body": "20% off today"}}


async def partner_token(client: Client, make_partner: MakePartner, name: str = "acme") -> str:
    creds = await make_partner(name, SCOPES)
    return await fetch_token(client, creds)


async def register(client: Client, token: str, **overrides: Any) -> dict[str, Any]:
    resp = await client.post("/apps/v1/apps", json={**APP, **overrides}, headers=bearer(token))
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def installs(client: Client, app_id: str, limit: int = 1000) -> list[dict[str, Any]]:
    resp = await client.get(f"/admin/v1/apps/{app_id}/installations", params={"limit": str(limit)}, headers=ADMIN)
    assert resp.status == 200, await resp.text()
    rows: list[dict[str, Any]] = (await resp.json())["installations"]
    return rows


async def send(client: Client, token: str, project: str, message: dict[str, Any], **extra: Any) -> Any:
    return await client.post(f"/v1/projects/{project}/messages:send", json={"message": message, **extra},
                             headers=bearer(token))


def reachable_install(world: World, rows: list[dict[str, Any]], permitted: bool = True,
                      marketing: bool = True) -> dict[str, Any]:
    for r in rows:
        i = world.find_subscriber(r["phoneNumber"])
        consents = r["notificationsPermitted"] == permitted and r["marketingConsent"] == marketing
        if consents and world.is_reachable(i)[0]:
            return r
    raise AssertionError("no reachable install")


async def test_register_list_get(client: Client, make_partner: MakePartner) -> None:
    """A registered app is listed and read back with its installs; another partner cannot see it."""
    token = await partner_token(client, make_partner)
    app = await register(client, token)
    assert app["id"].startswith("app_") and app["installs"] > 0 and app["pushQuotaPerMinute"] == 6000
    listed = await (await client.get("/apps/v1/apps", headers=bearer(token))).json()
    assert [a["id"] for a in listed["apps"]] == [app["id"]]
    got = await client.get(f"/apps/v1/apps/{app['id']}", headers=bearer(token))
    assert (await got.json()) == app
    other = await partner_token(client, make_partner, "other")
    assert (await client.get(f"/apps/v1/apps/{app['id']}", headers=bearer(other))).status == 404


@pytest.mark.parametrize("body", [
    {**APP, "popularity": 1.5},  # popularity above 1
    {**APP, "platforms": []},  # no platform
    {**APP, "platforms": ["WINDOWS"]},  # unknown platform
    {**APP, "categories": ["NOPE"]},  # unknown category
    {**APP, "extra": 1},  # unknown field
    {k: v for k, v in APP.items() if k != "name"},  # name missing
])
async def test_register_refuses_bad_apps(client: Client, make_partner: MakePartner, body: dict[str, Any]) -> None:
    """A malformed app is a CAMARA-shaped 400 and nothing is stored."""
    token = await partner_token(client, make_partner)
    resp = await client.post("/apps/v1/apps", json=body, headers=bearer(token))
    assert resp.status == 400 and (await resp.json())["code"] == "INVALID_ARGUMENT"
    assert (await (await client.get("/apps/v1/apps", headers=bearer(token))).json())["apps"] == []


async def test_install_shares_are_deterministic_and_realistic(client: Client, make_partner: MakePartner,
                                                              world: World) -> None:
    """Installs follow platforms and the documented permission shares, the same for the same seed."""
    token = await partner_token(client, make_partner)
    app = await register(client, token, popularity=0.9, categories=[])
    service = client.app[APPS]
    record = service.find(app["id"])
    assert record is not None
    table = service.installs(record)
    again = __import__("gateway.services.apps.installs", fromlist=["draw_installs"]).draw_installs(
        world, record.seq, record.spec)
    assert np.array_equal(table.subscriber, again.subscriber) and np.array_equal(table.notifications,
                                                                                 again.notifications)
    ios = table.platform == 1
    assert 0.40 <= table.notifications[ios].mean() <= 0.70  # iOS asks: 50-60% allow
    assert 0.75 <= table.notifications[~ios].mean() <= 0.98  # Android: 13+ asks (70-85%), older grants
    assert 0.30 <= table.marketing.mean() <= 0.70
    assert 0.28 <= table.linked.mean() <= 0.42  # about a third linked their line to the app account
    assert 0.03 <= (table.location == 2).mean() <= 0.18  # ALWAYS is the rare choice
    only_ios = await register(client, token, platforms=["IOS"], popularity=0.9)
    rows = await installs(client, only_ios["id"])
    assert rows and {r["platform"] for r in rows} == {"IOS"}
    assert all(r["userId"].startswith("u_") and r["registrationToken"].startswith(r["installationId"] + ":")
               for r in rows)


async def test_send_to_token_lands_in_inbox(client: Client, make_partner: MakePartner, world: World) -> None:
    """A send to a reachable device is delivered now, displayed with permission, and in its inbox with the app."""
    token = await partner_token(client, make_partner)
    app = await register(client, token)
    target = reachable_install(world, await installs(client, app["id"]))
    resp = await send(client, token, app["id"], {**MSG, "token": target["registrationToken"]})
    assert resp.status == 200, await resp.text()
    name = (await resp.json())["name"]
    assert name.startswith(f"projects/{app['id']}/messages/psh_")
    truth = await (await client.get(f"/admin/v1/push/messages/{name.rsplit('/', 1)[1]}", headers=ADMIN)).json()
    assert truth["status"] == "DELIVERED" and truth["displayed"] is True and truth["deliveredAt"]
    inbox = world.inbox(world.find_subscriber(target["phoneNumber"]))
    assert inbox[-1]["channel"] == "APP_PUSH" and inbox[-1]["appId"] == app["id"] and inbox[-1]["text"] == (
        "20% off today")


async def test_not_displayed_without_permission(client: Client, make_partner: MakePartner, world: World) -> None:
    """Without OS notification permission the push reaches the app but is not displayed."""
    token = await partner_token(client, make_partner)
    app = await register(client, token, platforms=["IOS"], popularity=1.0)
    target = reachable_install(world, await installs(client, app["id"]), permitted=False)
    resp = await send(client, token, app["id"], {**MSG, "token": target["registrationToken"]})
    message_id = (await resp.json())["name"].rsplit("/", 1)[1]
    truth = await (await client.get(f"/admin/v1/push/messages/{message_id}", headers=ADMIN)).json()
    assert truth["status"] == "DELIVERED" and truth["displayed"] is False


def fcm_error(body: dict[str, Any]) -> tuple[int, str, str | None]:
    error = body["error"]
    codes = [d.get("errorCode") for d in error["details"] if d["@type"].endswith("FcmError")]
    return error["code"], error["status"], codes[0] if codes else None


async def test_fcm_errors(client: Client, make_partner: MakePartner, world: World) -> None:
    """Wrong project, unknown and uninstalled tokens and bad bodies answer in FCM's error model."""
    token = await partner_token(client, make_partner)
    app = await register(client, token)
    other = await register(client, token, name="Other")
    rows = await installs(client, app["id"])
    tok = rows[0]["registrationToken"]
    resp = await send(client, token, other["id"], {**MSG, "token": tok})
    assert (resp.status, fcm_error(await resp.json())) == (403, (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"))
    resp = await send(client, token, app["id"], {**MSG, "token": tok[:-2] + "xx"})
    assert (resp.status, fcm_error(await resp.json())) == (404, (404, "NOT_FOUND", "UNREGISTERED"))
    resp = await client.delete(f"/admin/v1/apps/{app['id']}/installations/{rows[0]['installationId']}", headers=ADMIN)
    assert resp.status == 204
    resp = await send(client, token, app["id"], {**MSG, "token": tok})
    assert fcm_error(await resp.json()) == (404, "NOT_FOUND", "UNREGISTERED")
    resp = await send(client, token, "app_999999", {**MSG, "token": tok})
    assert fcm_error(await resp.json())[:2] == (403, "PERMISSION_DENIED")
    resp = await client.post(f"/v1/projects/{app['id']}/messages:send", json={"message": MSG})
    assert fcm_error(await resp.json())[:2] == (401, "UNAUTHENTICATED")


@pytest.mark.parametrize("body", [
    {"message": {**MSG}},  # no target
    {"message": {**MSG, "token": "t", "topic": "news"}},  # two targets
    {"message": {**MSG, "token": "t", "data": {"n": 1}}},  # data values must be strings
    {"message": {**MSG, "token": "t", "android": {"ttl": "1h"}}},  # ttl is a Duration like "3600s"
    {"message": {**MSG, "token": "t", "bogus": 1}},  # unknown field
    {"mesage": {**MSG, "token": "t"}},  # misspelt top-level field
    {"message": {**MSG, "token": "t"}, "validate_only": "yes"},  # not a boolean
])
async def test_bad_bodies_are_fcm_invalid_argument(client: Client, make_partner: MakePartner,
                                                   body: dict[str, Any]) -> None:
    """A body off the FCM schema is 400 INVALID_ARGUMENT in FCM's shape (not the CAMARA shape)."""
    token = await partner_token(client, make_partner)
    app = await register(client, token)
    resp = await client.post(f"/v1/projects/{app['id']}/messages:send", json=body, headers=bearer(token))
    got = await resp.json()
    assert resp.status == 400 and "code" not in got and fcm_error(got) == (400, "INVALID_ARGUMENT",
                                                                           "INVALID_ARGUMENT")


async def test_camel_case_and_validate_only(client: Client, make_partner: MakePartner, world: World) -> None:
    """camelCase field names are accepted too; validateOnly sends nothing."""
    token = await partner_token(client, make_partner)
    app = await register(client, token)
    target = reachable_install(world, await installs(client, app["id"]))
    i = world.find_subscriber(target["phoneNumber"])
    before = len(world.inbox(i))
    resp = await send(client, token, app["id"], {**MSG, "token": target["registrationToken"],
                                                 "fcmOptions": {"analyticsLabel": "x"}}, validateOnly=True)
    assert (await resp.json())["name"].endswith("/messages/fake_message_id")
    assert len(world.inbox(i)) == before


async def test_quota_exceeded_with_retry_after(client: Client, make_partner: MakePartner, world: World) -> None:
    """Past the project's sends per simulated minute: 429 QUOTA_EXCEEDED with Retry-After; the next minute works."""
    token = await partner_token(client, make_partner)
    app = await register(client, token, pushQuotaPerMinute=2)
    tok = reachable_install(world, await installs(client, app["id"]))["registrationToken"]
    for _ in range(2):
        assert (await send(client, token, app["id"], {**MSG, "token": tok})).status == 200
    resp = await send(client, token, app["id"], {**MSG, "token": tok})
    assert resp.status == 429 and fcm_error(await resp.json()) == (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED")
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    await client.post("/admin/v1/clock/advance", json={"seconds": 60}, headers=ADMIN)
    assert (await send(client, token, app["id"], {**MSG, "token": tok})).status == 200


async def clocked_client(aiohttp_client: AiohttpClient, world: World,
                         settings: Settings) -> tuple[Client, FakeMonotonic]:
    """A gateway whose rate limiter's clock the test moves by hand (frozen until then)."""
    app = create_app(world, settings)
    clock = FakeMonotonic()
    app[RATE_LIMITER] = RateLimiter(app[PARTNERS].rate_limit, clock)
    return await aiohttp_client(app), clock


async def limited_token(client: Client, requests_per_second: int | None) -> str:
    """A token of a new partner with the push scopes and ``requestsPerSecond`` (none: no limit)."""
    limits = {} if requests_per_second is None else {"limits": {"requestsPerSecond": requests_per_second}}
    resp = await client.post("/admin/v1/partners", headers=ADMIN,
                             json={"name": "slow", "scopes": list(SCOPES), **limits})
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    return await fetch_token(client, PartnerCreds(created["id"], created["clientId"], created["clientSecret"]))


def push_rows(client: Client) -> int:
    return int(client.app[STORE].conn.execute("SELECT count(*) FROM push_messages").fetchone()[0])


async def test_send_takes_the_partner_rate_limit(aiohttp_client: AiohttpClient, world: World,
                                                 settings: Settings) -> None:
    """Past its partner's requestsPerSecond a send is FCM's 429 RESOURCE_EXHAUSTED / QUOTA_EXCEEDED with
    Retry-After, from the bucket of the partner's other calls; nothing is recorded nor charged to the project."""
    client, clock = await clocked_client(aiohttp_client, world, settings)
    token = await limited_token(client, 2)
    app = await register(client, token, pushQuotaPerMinute=2)  # the bucket's first request
    tok = reachable_install(world, await installs(client, app["id"]))["registrationToken"]
    unauthenticated = await client.post(f"/v1/projects/{app['id']}/messages:send", json={"message": MSG})
    assert fcm_error(await unauthenticated.json())[:2] == (401, "UNAUTHENTICATED")  # not counted
    first = await send(client, token, app["id"], {**MSG, "token": tok})
    assert (await first.json())["name"].endswith("/psh_00000001")
    refused = await send(client, token, app["id"], {**MSG, "token": tok})
    assert refused.status == 429
    assert fcm_error(await refused.json()) == (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED")
    assert refused.headers["Retry-After"] == "1"
    assert push_rows(client) == 1
    clock.now += 1.0  # two more requests
    # The project's quota of 2 a minute still has room: the refused send was not charged, nor numbered.
    again = await send(client, token, app["id"], {**MSG, "token": tok})
    assert again.status == 200 and (await again.json())["name"].endswith("/psh_00000002")
    assert (await client.get("/apps/v1/apps", headers=bearer(token))).status == 200
    other = await client.get("/partner/v1/me", headers=bearer(token))  # the sends took from this bucket
    assert other.status == 429 and (await other.json())["code"] == "TOO_MANY_REQUESTS"


async def test_send_without_a_rate_limit_is_not_limited(aiohttp_client: AiohttpClient, world: World,
                                                        settings: Settings) -> None:
    """A partner without requestsPerSecond sends and subscribes any number of times in the same instant."""
    client, _ = await clocked_client(aiohttp_client, world, settings)
    token = await limited_token(client, None)
    app = await register(client, token)
    tok = reachable_install(world, await installs(client, app["id"]))["registrationToken"]
    for _ in range(20):
        assert (await send(client, token, app["id"], {**MSG, "token": tok})).status == 200
        subscribed = await client.post("/iid/v1:batchAdd", headers=bearer(token),
                                       json={"to": "/topics/news", "registration_tokens": [tok]})
        assert subscribed.status == 200
    assert push_rows(client) == 20


async def test_held_then_delivered_when_device_returns(client: Client, make_partner: MakePartner,
                                                       world: World) -> None:
    """A push to a device that is down is held, then delivered on the first tick it is back within the TTL."""
    token = await partner_token(client, make_partner)
    app = await register(client, token)
    target = reachable_install(world, await installs(client, app["id"]))
    i = world.find_subscriber(target["phoneNumber"])
    world.devices.take_down([i], world.clock.now + timedelta(minutes=20))
    resp = await send(client, token, app["id"], {**MSG, "token": target["registrationToken"],
                                                 "android": {"ttl": "7200s"},
                                                 "apns": {"headers": {"apns-expiration": str(
                                                     int(world.clock.now.timestamp()) + 7200)}}})
    message_id = (await resp.json())["name"].rsplit("/", 1)[1]
    truth = await (await client.get(f"/admin/v1/push/messages/{message_id}", headers=ADMIN)).json()
    assert truth["status"] == "HELD" and "deliveredAt" not in truth
    await client.post("/admin/v1/clock/advance", json={"seconds": 3600}, headers=ADMIN)
    truth = await (await client.get(f"/admin/v1/push/messages/{message_id}", headers=ADMIN)).json()
    assert truth["status"] == "DELIVERED"
    assert world.inbox(i)[-1]["id"] == message_id


async def test_held_pushes_across_ticks_are_delivered_in_send_order(client: Client, make_partner: MakePartner,
                                                                    world: World) -> None:
    """Pushes held before and after a tick reach the device in the order sent once it is back; a short TTL expires."""
    token = await partner_token(client, make_partner)
    app = await register(client, token, platforms=["ANDROID"])
    target = reachable_install(world, await installs(client, app["id"]))
    i = world.find_subscriber(target["phoneNumber"])
    world.devices.take_down([i], world.clock.now + timedelta(minutes=20))

    async def held(ttl: str) -> str:
        resp = await send(client, token, app["id"], {**MSG, "token": target["registrationToken"],
                                                     "android": {"ttl": ttl}})
        return str((await resp.json())["name"].rsplit("/", 1)[1])

    first = await held("7200s")
    await client.post("/admin/v1/clock/advance", json={"seconds": 60}, headers=ADMIN)  # a tick sees it held
    second, short = await held("7200s"), await held("120s")
    await client.post("/admin/v1/clock/advance", json={"seconds": 3600}, headers=ADMIN)
    statuses = [(await (await client.get(f"/admin/v1/push/messages/{m}", headers=ADMIN)).json())["status"]
                for m in (first, second, short)]
    assert statuses == ["DELIVERED", "DELIVERED", "EXPIRED"]
    assert [m["id"] for m in world.inbox(i) if m["id"] in (first, second, short)] == [first, second]


async def test_held_then_expired_past_ttl(client: Client, make_partner: MakePartner, world: World) -> None:
    """A device down longer than the TTL never gets the push: it expires."""
    token = await partner_token(client, make_partner)
    app = await register(client, token, platforms=["ANDROID"])
    target = reachable_install(world, await installs(client, app["id"]))
    i = world.find_subscriber(target["phoneNumber"])
    world.devices.take_down([i], world.clock.now + timedelta(hours=3))
    resp = await send(client, token, app["id"], {**MSG, "token": target["registrationToken"],
                                                 "android": {"ttl": "600s"}})
    message_id = (await resp.json())["name"].rsplit("/", 1)[1]
    await client.post("/admin/v1/clock/advance", json={"seconds": 4 * 3600}, headers=ADMIN)
    truth = await (await client.get(f"/admin/v1/push/messages/{message_id}", headers=ADMIN)).json()
    assert truth["status"] == "EXPIRED" and all(m["id"] != message_id for m in world.inbox(i))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=20),
       data_only=st.booleans())
async def test_no_push_displayed_without_os_permission(client: Client, make_partner: MakePartner,
                                                       rows: list[int], data_only: bool) -> None:
    """Whatever install a marketing push goes to, it is displayed only with notification permission."""
    apps, push = client.app[APPS], client.app[PUSH]
    if not apps.list(1):
        token = await partner_token(client, make_partner)
        await register(client, token, pushQuotaPerMinute=600_000)
    record = apps.list(1)[0]
    table = apps.installs(record)
    from gateway.wire.fcm import Message
    for r in rows:
        row = r % table.size
        body = {"data": {"k": "v"}} if data_only else MSG
        message_id = push.send(record, Message.model_validate({**body, "token": apps.install(record, row).token}),
                               False)
        truth = push.truth(message_id)
        assert truth is not None
        assert not truth.displayed or bool(table.notifications[row])
        assert not (data_only and truth.displayed)


async def test_an_acknowledged_send_is_committed_before_the_answer(client: Client, make_partner: MakePartner,
                                                                  settings: Any) -> None:
    """A send's push row is committed before its 200 leaves (group commit): a crash right after keeps it."""
    token = await partner_token(client, make_partner)
    app = await register(client, token)
    rows = await installs(client, app["id"])
    names = [(await (await send(client, token, app["id"], {**MSG, "token": r["registrationToken"]})).json())["name"]
             for r in rows[:3]]
    with sqlite3.connect(settings.db_path) as other:  # another connection sees only what is committed
        seqs = [r[0] for r in other.execute("SELECT seq FROM push_messages ORDER BY seq")]
    assert [f"psh_{s:08d}" for s in seqs] == [n.rsplit("/", 1)[1] for n in names]


async def test_push_ids_go_on_after_a_restart_and_across_topic_sends(
        aiohttp_client: AiohttpClient, client: Client, make_partner: MakePartner, fresh_world: Callable[[], World],
        settings: Any) -> None:
    """Push ids are numbered in memory (rows are committed in groups): a topic send takes the next ones, and a
    restarted gateway goes on after the last one stored."""
    token = await partner_token(client, make_partner)
    app = await register(client, token)
    rows = await installs(client, app["id"])
    first = await send(client, token, app["id"], {**MSG, "token": rows[0]["registrationToken"]})
    assert (await first.json())["name"].endswith("/psh_00000001")
    resp = await client.post("/iid/v1:batchAdd", json={"to": "/topics/news", "registration_tokens": [
        r["registrationToken"] for r in rows[:2]]}, headers=bearer(token))
    assert resp.status == 200, await resp.text()
    fanout = await send(client, token, app["id"], {**MSG, "topic": "news"})
    assert fanout.status == 200, await fanout.text()
    assert [r[0] for r in client.app[STORE].conn.execute(
        "SELECT seq FROM push_messages WHERE fanout IS NOT NULL ORDER BY seq")] == [2, 3]
    await client.close()
    restarted = await aiohttp_client(create_app(fresh_world(), settings))
    again = await send(restarted, token, app["id"], {**MSG, "token": rows[1]["registrationToken"]})
    assert again.status == 200, await again.text()
    assert (await again.json())["name"].endswith("/psh_00000004")


async def test_a_token_sent_to_before_is_unregistered_once_refreshed_or_uninstalled(
        client: Client, make_partner: MakePartner) -> None:
    """Tokens checked before are remembered as genuine, yet a refresh or an uninstall still unregisters them."""
    token = await partner_token(client, make_partner)
    app = await register(client, token)
    other = await register(client, token, name="Other")
    rows = await installs(client, app["id"])
    service = client.app[APPS]
    record = service.find(app["id"])
    assert record is not None
    for r in rows[:2]:
        assert (await send(client, token, app["id"], {**MSG, "token": r["registrationToken"]})).status == 200
    resp = await send(client, token, other["id"], {**MSG, "token": rows[0]["registrationToken"]})
    assert fcm_error(await resp.json()) == (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH")  # not the other app's
    row = service.current_row(record, rows[0]["registrationToken"])
    assert row is not None
    service.installs(record).generation[row] += 1  # a token refresh, as the lifecycle does it
    resp = await send(client, token, app["id"], {**MSG, "token": rows[0]["registrationToken"]})
    assert fcm_error(await resp.json()) == (404, "NOT_FOUND", "UNREGISTERED")
    fresh = service.install(record, row).token
    assert (await send(client, token, app["id"], {**MSG, "token": fresh})).status == 200
    resp = await client.delete(f"/admin/v1/apps/{app['id']}/installations/{rows[1]['installationId']}", headers=ADMIN)
    assert resp.status == 204
    resp = await send(client, token, app["id"], {**MSG, "token": rows[1]["registrationToken"]})
    assert fcm_error(await resp.json()) == (404, "NOT_FOUND", "UNREGISTERED")
async def test_marketing_push_needs_in_app_consent(client: Client, make_partner: MakePartner, world: World) -> None:
    """A partner's visible FCM send to an install without in-app marketing consent is accepted but never sent
    (SUPPRESSED); a data-only push to the same install is delivered, as is a send whose caller decided its kind."""
    token = await partner_token(client, make_partner)
    app = await register(client, token)
    target = reachable_install(world, await installs(client, app["id"]), marketing=False)
    i = world.find_subscriber(target["phoneNumber"])
    before = len(world.inbox(i))
    for message, status in ((MSG, "SUPPRESSED"), ({"data": {"k": "v"}}, "DELIVERED")):
        resp = await send(client, token, app["id"], {**message, "token": target["registrationToken"]})
        assert resp.status == 200, await resp.text()
        message_id = (await resp.json())["name"].rsplit("/", 1)[1]
        truth = await (await client.get(f"/admin/v1/push/messages/{message_id}", headers=ADMIN)).json()
        assert truth["status"] == status and truth["displayed"] is False
    assert [m["id"] for m in world.inbox(i)[before:]] == [message_id]  # only the data-only push arrived
    record = client.app[APPS].find(app["id"])
    assert record is not None
    from gateway.wire.fcm import Message
    sent = client.app[PUSH].send(record, Message.model_validate({**MSG, "token": target["registrationToken"]}), False)
    truth_of = client.app[PUSH].truth(sent)  # a caller that checked the kind itself (a transactional trigger)
    assert truth_of is not None and truth_of.status == "DELIVERED"


async def test_held_push_display_follows_permission_at_delivery(client: Client, make_partner: MakePartner,
                                                                 world: World) -> None:
    """A held push whose install switched notifications off meanwhile is delivered but not displayed."""
    token = await partner_token(client, make_partner)
    app = await register(client, token)
    target = reachable_install(world, await installs(client, app["id"]))
    i = world.find_subscriber(target["phoneNumber"])
    world.devices.take_down([i], world.clock.now + timedelta(minutes=20))
    resp = await send(client, token, app["id"], {**MSG, "token": target["registrationToken"]})
    message_id = (await resp.json())["name"].rsplit("/", 1)[1]
    record = client.app[APPS].find(app["id"])
    assert record is not None
    row = client.app[APPS].install_by_id(record, target["installationId"]).row
    client.app[APPS].installs(record).notifications[row] = False  # the user switches notifications off
    await client.post("/admin/v1/clock/advance", json={"seconds": 3600}, headers=ADMIN)
    truth = await (await client.get(f"/admin/v1/push/messages/{message_id}", headers=ADMIN)).json()
    assert truth["status"] == "DELIVERED" and truth["displayed"] is False
    assert world.inbox(i)[-1]["id"] == message_id and world.inbox(i)[-1]["displayed"] is False


KINDS: dict[str, dict[str, Any]] = {
    "notification": MSG,
    "data": {"data": {"k": "v"}},
    "android": {"android": {"notification": {"title": "Sale"}}},  # visible on Android only
    "apns": {"apns": {"payload": {"aps": {"alert": "Sale"}}}},  # visible on iOS only
}


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=12),
       kind=st.sampled_from(sorted(KINDS)), by_topic=st.booleans(),
       down=st.lists(st.integers(min_value=0, max_value=90), min_size=12, max_size=12),
       switch_off=st.lists(st.booleans(), min_size=12, max_size=12))
async def test_no_marketing_push_without_both_consents(client: Client, make_partner: MakePartner, world: World,
                                                       monkeypatch: pytest.MonkeyPatch, rows: list[int], kind: str,
                                                       by_topic: bool, down: list[int],
                                                       switch_off: list[bool]) -> None:
    """Whatever installs a push goes to (by token or topic), devices down for a while and notifications switched off
    while it is held: a marketing push reaches only installs with in-app marketing consent at the send instant, and
    a push is displayed only with OS notification permission at the delivery instant."""
    from gateway.services.apps.push import is_marketing
    from gateway.wire.fcm import Message

    apps, push = client.app[APPS], client.app[PUSH]
    if not apps.list(1):
        await register(client, await partner_token(client, make_partner), pushQuotaPerMinute=600_000)
    record = apps.list(1)[0]
    table = apps.installs(record)
    seen: list[tuple[int, int, bool, bool, bool]] = []  # (push, row, displayed, permitted now, marketing consent)
    deliver = push._deliver

    def watch(push_seq: int, app: Any, row: int, sub: int, displayed: bool, title: str | None,
              body: str | None) -> None:
        seen.append((push_seq, row, displayed, bool(table.notifications[row]), bool(table.marketing[row])))
        deliver(push_seq, app, row, sub, displayed, title, body)

    monkeypatch.setattr(push, "_deliver", watch)
    picked = sorted({r % table.size for r in rows if table.installed[r % table.size]})
    for k, row in enumerate(picked):  # some devices are away when the push is sent
        if down[k]:
            world.devices.take_down([int(table.subscriber[row])], world.clock.now + timedelta(minutes=down[k]))
    if by_topic:
        tokens = [apps.install(record, r).token for r in picked]
        push.manage_topic(record.partner_id, "prop", tokens, True)
        push.send(record, Message.model_validate({**KINDS[kind], "topic": "prop"}), False, marketing_rule=True)
        push.manage_topic(record.partner_id, "prop", tokens, False)
    else:
        for row in picked:
            push.send(record, Message.model_validate({**KINDS[kind], "token": apps.install(record, row).token}), False,
                      marketing_rule=True)
    for k, row in enumerate(picked):  # some users switch notifications off while their push is held
        if switch_off[k]:
            table.notifications[row] = False
    await client.post("/admin/v1/clock/advance", json={"seconds": 100 * 60}, headers=ADMIN)
    for push_seq, row, displayed, permitted, consent in seen:  # pushes held by earlier examples arrive here too
        assert not displayed or permitted  # displayed only with OS permission at the delivery instant
        stored_push = push.repository.get_push(push_seq)
        assert stored_push is not None
        platform = "IOS" if table.platform[row] == 1 else "ANDROID"
        marketing = is_marketing(Message.model_validate(json.loads(stored_push["spec"])), platform)
        assert consent or not marketing  # a marketing push reached only consenting installs
        assert not displayed or marketing  # data only is never displayed
    stored = push.repository.store.conn.execute("SELECT row, status, spec FROM push_messages WHERE app_seq = ?",
                                                (record.seq,)).fetchall()
    for row, status, spec in stored:  # every partner send says why: SUPPRESSED exactly for marketing without consent
        platform = "IOS" if table.platform[row] == 1 else "ANDROID"
        visible = is_marketing(Message.model_validate(json.loads(spec)), platform)
        assert (status == "SUPPRESSED") == (visible and not table.marketing[row])
