"""The partner's CDP triggers ``/cdp/v1/triggers`` through the Python client: round trip with a fired webhook,
partner isolation, scopes and bad rules as 400s naming the field."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient, AiohttpServer

from gateway.client import AdminClient, ApiError, PartnerClient, TrackingClient
from gateway.core.settings import Settings
from gateway.http.app import create_app
from gateway.http.keys import WEBHOOKS
from simulator.world import World
from tests.gateway.camara_helpers import start_sink
from tests.gateway.conftest import ADMIN, ADMIN_TOKEN, bearer, cdp_session, fetch_token
from tests.gateway.conftest import PartnerCreds as Creds

SCOPES = ["cdp:read", "cdp:write"]
CART = {"name": "Cart abandoned",
        "rule": {"kind": "EVENT_NOT_FOLLOWED", "event": "Product Added", "notFollowedBy": "Order Completed",
                 "withinSeconds": 3600},
        "steps": [{"action": {"type": "WEBHOOK", "sink": "https://partner.example/cdp"}}]}

REMINDER = {"kind": "EVENT_REMINDER", "event": "Ticket Purchased", "hoursBefore": 24}
VENUE = {"kind": "VENUE_AT_TIME", "appId": "app_000001", "areaId": "stadium", "startTime": "18:00", "endTime": "20:00",
         "area": {"areaType": "CIRCLE", "center": {"latitude": 52.52, "longitude": 13.405}, "radius": 1000}}


async def test_trigger_round_trip_with_clients(aiohttp_server: AiohttpServer, world: World,
                                               settings: Settings) -> None:
    """Create, list, read; an abandoned cart fires a CloudEvent with the user id; isolation; delete."""
    server = await aiohttp_server(create_app(world, settings))
    url = str(server.make_url("")).rstrip("/")
    async with AdminClient(url, ADMIN_TOKEN) as admin:
        mine, theirs = await admin.create_partner("acme", SCOPES), await admin.create_partner("other", SCOPES)
        async with PartnerClient(url, mine.client_id, mine.client_secret) as a, \
                PartnerClient(url, theirs.client_id, theirs.client_secret) as b:
            trigger = await a.create_trigger(CART)
            assert trigger.id.startswith("trg_") and trigger.rule.kind == "EVENT_NOT_FOLLOWED"
            assert [t.id for t in await a.triggers()] == [trigger.id]
            assert (await a.trigger(trigger.id)) == trigger
            source = await a.create_source("Backend")
            assert source.write_key is not None
            async with TrackingClient(url, source.write_key) as tracking:
                await tracking.track({"userId": "u1", "event": "Product Added"})
                await tracking.track({"userId": "u2", "event": "Product Added"})
                await tracking.track({"userId": "u2", "event": "Order Completed"})
            await admin.advance(timedelta(hours=1, minutes=5))
            fires = await a.trigger_fires(trigger.id)
            assert [(f.user_id, f.status, f.action) for f in fires] == [("u1", "SENT", "WEBHOOK")]
            [event] = server.app[WEBHOOKS].outbox.events(subscription_id=trigger.id)
            assert json.loads(event.body)["data"]["userId"] == "u1"
            for call in (b.trigger(trigger.id), b.trigger_fires(trigger.id), b.delete_trigger(trigger.id)):
                with pytest.raises(ApiError) as caught:
                    await call
                assert caught.value.status == 404
            assert await b.triggers() == []
            await a.delete_trigger(trigger.id)
            assert await a.triggers() == []


async def test_fires_page_by_cursor(aiohttp_server: AiohttpServer, world: World, settings: Settings) -> None:
    """A trigger's fires come ``limit`` per page, each page's ``nextCursor`` leading to the next one, the last page
    without it; the client's reader follows the cursors to the same list."""
    server = await aiohttp_server(create_app(world, settings))
    url = str(server.make_url("")).rstrip("/")
    async with AdminClient(url, ADMIN_TOKEN) as admin:
        created = await admin.create_partner("acme", SCOPES)
        async with PartnerClient(url, created.client_id, created.client_secret) as partner:
            trigger = await partner.create_trigger(CART)
            source = await partner.create_source("Backend")
            assert source.write_key is not None
            async with TrackingClient(url, source.write_key) as tracking:
                for n in range(5):
                    await tracking.track({"userId": f"u{n}", "event": "Product Added"})
            await admin.advance(timedelta(hours=1, minutes=5))
            whole = await partner.trigger_fire_page(trigger.id)
            assert len(whole.fires) == 5 and whole.next_cursor is None
            pages, cursor = [], None
            while True:
                page = await partner.trigger_fire_page(trigger.id, limit=2, cursor=cursor)
                pages.append([f.id for f in page.fires])
                if page.next_cursor is None:
                    break
                assert page.next_cursor == page.fires[-1].id  # the cursor is the last fire's id
                cursor = page.next_cursor
            assert [len(p) for p in pages] == [2, 2, 1]
            assert [i for p in pages for i in p] == [f.id for f in whole.fires]
            assert await partner.trigger_fires(trigger.id, limit=2) == whole.fires
            assert len(await partner.trigger_fires(trigger.id, most=3, limit=2)) == 4  # whole pages up to ``most``


@pytest.mark.parametrize("query", [
    # a page of none
    "limit=0",
    # a page larger than the largest
    "limit=1001",
    # a limit that is not a number
    "limit=many",
    # a cursor that is no fire id
    "cursor=nothing",
    # a fire id of another trigger
    "cursor=trg_000099-1-0",
    # a cursor longer than any id
    "cursor=" + "9" * 65,
])
async def test_bad_fire_paging_is_400(aiohttp_client: AiohttpClient, world: World, settings: Settings,
                                      query: str) -> None:
    """A bad ``limit`` or ``cursor`` on a trigger's fires is a 400 in the error shape."""
    client = await aiohttp_client(create_app(world, settings))
    resp = await client.post("/admin/v1/partners", json={"name": "acme", "scopes": SCOPES}, headers=ADMIN)
    body = await resp.json()
    token = await fetch_token(client, Creds(body["id"], body["clientId"], body["clientSecret"]))
    trigger = await (await client.post("/cdp/v1/triggers", json=CART, headers=bearer(token))).json()
    resp = await client.get(f"/cdp/v1/triggers/{trigger['id']}/fires?{query}", headers=bearer(token))
    assert resp.status == 400
    err = await resp.json()
    assert err["code"] == "INVALID_ARGUMENT" and err["status"] == 400


@pytest.mark.parametrize(("change", "field"), [
    # window shorter than a minute (a discriminated union's path names the kind it was read as)
    ({"rule": {**CART["rule"], "withinSeconds": 5}}, "body.rule.EVENT_NOT_FOLLOWED.withinSeconds"),  # type: ignore[dict-item]
    # unknown rule kind
    ({"rule": {"kind": "BOGUS"}}, "body.rule"),
    # a chain without steps
    ({"steps": []}, "body.steps"),
    # a push without a title
    ({"steps": [{"action": {"type": "PUSH", "appId": "app_000001", "body": "b"}}]}, "body.steps.0.action.PUSH.title"),
    # a push kind a trigger does not send: a code goes when the user asks for it (/messages/v1)
    ({"steps": [{"action": {"type": "PUSH", "appId": "app_000001", "title": "t", "body": "b",
                            "kind": "AUTHENTICATION"}}]}, "body.steps.0.action.PUSH.kind"),
    # a push kind of nobody
    ({"steps": [{"action": {"type": "PUSH", "appId": "app_000001", "title": "t", "body": "b",
                            "kind": "URGENT"}}]}, "body.steps.0.action.PUSH.kind"),
    # the follow-up event is the event itself
    ({"rule": {**CART["rule"], "notFollowedBy": "Product Added"}}, "body.rule.notFollowedBy"),  # type: ignore[dict-item]
    # quiet hours out of the clock
    ({"quietHours": {"startHour": 25, "endHour": 8}}, "body.quietHours.startHour"),
    # a reminder at the scheduled instant itself
    ({"rule": {**REMINDER, "hoursBefore": 0}}, "body.rule.EVENT_REMINDER.hoursBefore"),
    # a reminder more than 30 days ahead
    ({"rule": {**REMINDER, "hoursBefore": 721}}, "body.rule.EVENT_REMINDER.hoursBefore"),
    # a reminder whose time property is a number
    ({"rule": {**REMINDER, "timeProperty": 7}}, "body.rule.EVENT_REMINDER.timeProperty"),
    # the cancelling event is the reminded event itself
    ({"rule": {**REMINDER, "cancelledBy": "Ticket Purchased"}}, "body.rule.cancelledBy"),
    # a local time out of the clock
    ({"rule": {**VENUE, "startTime": "24:00"}}, "body.rule.VENUE_AT_TIME.startTime"),
    # a local time without minutes
    ({"rule": {**VENUE, "endTime": "9"}}, "body.rule.VENUE_AT_TIME.endTime"),
    # a window ending before it starts (no wrap over midnight)
    ({"rule": {**VENUE, "startTime": "20:00", "endTime": "18:00"}}, "body.rule.endTime"),
    # an unknown weekday
    ({"rule": {**VENUE, "days": ["FUNDAY"]}}, "body.rule.VENUE_AT_TIME.days.0"),
    # a weekday twice
    ({"rule": {**VENUE, "days": ["MONDAY", "MONDAY"]}}, "body.rule.VENUE_AT_TIME.days"),
    # no day at all
    ({"rule": {**VENUE, "days": []}}, "body.rule.VENUE_AT_TIME.days"),
    # a dwell longer than 12 hours
    ({"rule": {**VENUE, "minDwellMinutes": 721}}, "body.rule.VENUE_AT_TIME.minDwellMinutes"),
    # an app of nobody
    ({"rule": VENUE}, "body.rule.appId"),
])
async def test_bad_triggers_are_400_naming_the_field(aiohttp_client: AiohttpClient, world: World, settings: Settings,
                                                     change: dict[str, Any], field: str) -> None:
    """A malformed trigger is a 400 in the error shape whose details name the field; nothing is stored."""
    client = await aiohttp_client(create_app(world, settings))
    resp = await client.post("/admin/v1/partners", json={"name": "acme", "scopes": SCOPES}, headers=ADMIN)
    body = await resp.json()
    token = await fetch_token(client, Creds(body["id"], body["clientId"], body["clientSecret"]))
    resp = await client.post("/cdp/v1/triggers", json={**CART, **change}, headers=bearer(token))
    assert resp.status == 400
    err = await resp.json()
    assert err["code"] == "INVALID_ARGUMENT" and err["status"] == 400
    assert any(d["field"].startswith(field) for d in err["details"]), err
    if field.endswith(".kind"):  # the allowed kinds are named
        assert "MARKETING, TRANSACTIONAL, INFORMATIONAL" in err["details"][0]["message"], err
    assert (await (await client.get("/cdp/v1/triggers", headers=bearer(token))).json()) == {"triggers": []}


async def test_triggers_need_cdp_scopes(aiohttp_client: AiohttpClient, world: World, settings: Settings) -> None:
    """Without cdp:write a trigger cannot be created (403)."""
    client = await aiohttp_client(create_app(world, settings))
    resp = await client.post("/admin/v1/partners", json={"name": "acme", "scopes": ["cdp:read"]}, headers=ADMIN)
    body = await resp.json()
    token = await fetch_token(client, Creds(body["id"], body["clientId"], body["clientSecret"]))
    resp = await client.post("/cdp/v1/triggers", json=CART, headers=bearer(token))
    assert resp.status == 403
    assert (await client.get("/cdp/v1/triggers", headers=bearer(token))).status == 200


async def test_simulated_installs_start_welcome_chains(aiohttp_server: AiohttpServer, world: World,
                                                       settings: Settings) -> None:
    """Composed: the simulated installs' first app opens reach the trigger through the CDP, and each user gets
    the welcome chain's steps once, by the brand's own user id."""
    server = await aiohttp_server(create_app(world, settings))
    url = str(server.make_url("")).rstrip("/")
    async with AdminClient(url, ADMIN_TOKEN) as admin:
        created = await admin.create_partner("acme", [*SCOPES, "apps:read", "apps:write"])
        async with PartnerClient(url, created.client_id, created.client_secret) as partner:
            _, raw = await partner.send("POST", "/apps/v1/apps", json={
                "name": "Shop", "platforms": ["ANDROID", "IOS"], "categories": ["SHOPPING"], "popularity": 0.8})
            app_id = json.loads(raw)["id"]
            await partner.create_source("App", app_id=app_id)
            hook = {"type": "WEBHOOK", "sink": "https://partner.example/cdp"}
            trigger = await partner.create_trigger({"name": "Welcome", "rule": {"kind": "FIRST_EVENT"},
                                                    "steps": [{"action": hook},
                                                              {"delaySeconds": 3600, "action": hook}]})
            await admin.advance(timedelta(hours=12))
            fires = await partner.trigger_fires(trigger.id)
            users = [f.user_id for f in fires if f.step == 0]
            assert users and len(users) == len(set(users))
            assert all(u is not None and u.startswith("u_") for u in users)
            assert {f.user_id for f in fires if f.step == 1} <= set(users)


async def test_a_sink_answering_gone_ends_the_triggers_webhooks(aiohttp_server: AiohttpServer, world: World,
                                                               settings: Settings) -> None:
    """Regression: 410 Gone from a trigger's sink used to cancel only the pending deliveries while later fires kept
    queueing events for the dead sink; now the trigger shows SINK_GONE and its later webhook steps are suppressed."""
    sink = await start_sink(aiohttp_server)

    async def gone(record: dict[str, Any]) -> int:
        return 410

    sink.answer = gone
    settings = replace(settings, webhook_poll_s=0.01)
    server = await aiohttp_server(create_app(world, settings))
    url = str(server.make_url("")).rstrip("/")
    hook = {"type": "WEBHOOK", "sink": sink.url}
    async with AdminClient(url, ADMIN_TOKEN) as admin:
        created = await admin.create_partner("acme", SCOPES)
        async with PartnerClient(url, created.client_id, created.client_secret) as partner:
            trigger = await partner.create_trigger({"name": "Signed up", "rule": {"kind": "FIRST_EVENT",
                                                                                   "event": "Signed Up"},
                                                    "steps": [{"action": hook}, {"delaySeconds": 3600,
                                                                                 "action": hook}]})
            assert trigger.status == "ACTIVE"
            source = await partner.create_source("Backend")
            assert source.write_key is not None
            async with TrackingClient(url, source.write_key) as tracking:
                await tracking.track({"userId": "u1", "event": "Signed Up"})
            await admin.advance(timedelta(minutes=1))
            for _ in range(500):
                if (await partner.trigger(trigger.id)).status == "SINK_GONE":
                    break
                await asyncio.sleep(0.01)
            assert (await partner.trigger(trigger.id)).status == "SINK_GONE"
            await admin.advance(timedelta(hours=2))
            fires = await partner.trigger_fires(trigger.id)
            assert [(f.step, f.status, f.reason) for f in fires] == [(0, "SENT", None), (1, "SUPPRESSED", "SINK_GONE")]
            assert sink.statuses == [410]
            assert [e.state for e in server.app[WEBHOOKS].outbox.events(subscription_id=trigger.id)] == ["cancelled"]


async def test_reminder_through_the_tracking_api(aiohttp_server: AiohttpServer, world: World,
                                                 settings: Settings) -> None:
    """A tracked booking's startsAt reaches the reminder through /v1/track: it fires an hour before; a booking
    without the property is counted in ignoredEvents."""
    server = await aiohttp_server(create_app(world, settings))
    url = str(server.make_url("")).rstrip("/")
    starts = world.clock.now + timedelta(hours=3)
    async with AdminClient(url, ADMIN_TOKEN) as admin:
        created = await admin.create_partner("acme", SCOPES)
        async with PartnerClient(url, created.client_id, created.client_secret) as partner:
            trigger = await partner.create_trigger({
                "name": "Show reminder", "rule": {**REMINDER, "hoursBefore": 1},
                "steps": [{"action": {"type": "WEBHOOK", "sink": "https://partner.example/cdp"}}]})
            source = await partner.create_source("Backend")
            assert source.write_key is not None
            async with TrackingClient(url, source.write_key) as tracking:
                await tracking.track({"userId": "u1", "event": "Ticket Purchased",
                                      "properties": {"startsAt": starts.isoformat()}})
                await tracking.track({"userId": "u2", "event": "Ticket Purchased", "properties": {"seat": "1A"}})
            await admin.advance(timedelta(hours=1, minutes=55))
            assert await partner.trigger_fires(trigger.id) == []
            await admin.advance(timedelta(minutes=10))
            fires = await partner.trigger_fires(trigger.id)
            assert [(f.user_id, f.status) for f in fires] == [("u1", "SENT")]
            assert starts - timedelta(hours=1) <= fires[0].at <= starts - timedelta(hours=1) + world.tick
            assert (await partner.trigger(trigger.id)).ignored_events == 1


async def test_cart_filled_anonymously_then_aliased_through_the_tracking_api(
        aiohttp_server: AiohttpServer, world: World, settings: Settings) -> None:
    """The issue's probe through /v1/track and /v1/alias: u-42 signs in, fills the cart as anon-1, the two are
    aliased; the wait fires once at the window's end as u-42 (dailyCap 1: u-42's next cart that day is capped);
    another user's wait is cancelled by the order from their anonymous id after their alias."""
    server = await aiohttp_server(create_app(world, settings))
    async with cdp_session(server, SCOPES) as session:
        trigger = await session.partner.create_trigger({**CART, "dailyCap": 1})
        tracking = session.tracking
        await tracking.track({"userId": "u-42", "event": "Signed In"})
        await tracking.track({"anonymousId": "anon-1", "event": "Product Added"})
        await tracking.alias({"previousId": "anon-1", "userId": "u-42"})
        await tracking.track({"userId": "u-7", "event": "Signed In"})
        await tracking.track({"anonymousId": "anon-7", "event": "Product Added"})
        await tracking.alias({"previousId": "anon-7", "userId": "u-7"})
        await tracking.track({"anonymousId": "anon-7", "event": "Order Completed"})
        await session.admin.advance(timedelta(hours=1, minutes=5))
        await tracking.track({"userId": "u-42", "event": "Product Added"})
        await session.admin.advance(timedelta(hours=1, minutes=5))
        fires = await session.partner.trigger_fires(trigger.id)
        assert [(f.user_id, f.status, f.reason) for f in fires] == [("u-42", "SENT", None),
                                                                  ("u-42", "SUPPRESSED", "FREQUENCY_CAP")]


async def test_an_order_from_the_user_id_before_the_alias_cancels_the_anonymous_cart(
        aiohttp_server: AiohttpServer, world: World, settings: Settings) -> None:
    """Through /v1/track and /v1/alias: a cart filled as anon-1 and, 10 minutes later, an order as u-42 (two
    profiles until the alias) — the alias finds the order inside the window and nothing fires; u-7's order came
    before their anonymous cart, so that wait still fires once at its end, as u-7."""
    server = await aiohttp_server(create_app(world, settings))
    async with cdp_session(server, SCOPES) as session:
        trigger = await session.partner.create_trigger(CART)
        tracking = session.tracking
        await tracking.track({"userId": "u-7", "event": "Order Completed"})
        await tracking.track({"anonymousId": "anon-1", "event": "Product Added"})
        await tracking.track({"anonymousId": "anon-7", "event": "Product Added"})
        await session.admin.advance(timedelta(minutes=10))
        await tracking.track({"userId": "u-42", "event": "Order Completed"})
        await tracking.alias({"previousId": "anon-1", "userId": "u-42"})
        await tracking.alias({"previousId": "anon-7", "userId": "u-7"})
        await session.admin.advance(timedelta(hours=1))
        fires = await session.partner.trigger_fires(trigger.id)
        assert [(f.user_id, f.status) for f in fires] == [("u-7", "SENT")]
