"""The partner's CDP API ``/cdp/v1`` through the Python clients: sources, profiles, audiences, isolation, restart."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_aiohttp import AiohttpClient, AiohttpServer

from gateway.client import AdminClient, ApiError, PartnerClient, TrackingClient
from gateway.core.settings import Settings
from gateway.http.app import create_app
from gateway.http.keys import APPS, CDP, WEBHOOKS
from gateway.services.apps.events import APP_EVENT_CODE, AppEventBatch
from simulator.clock import to_micros
from simulator.world import World
from tests.gateway.conftest import ADMIN, ADMIN_TOKEN, Client, MakePartner, bearer, cdp_session, fetch_token
from tests.gateway.conftest import PartnerCreds as Creds

SCOPES = ["cdp:read", "cdp:write", "apps:read", "apps:write"]
BUYERS = {"event": "Order Completed", "withinDays": 30}


async def test_cdp_round_trip_with_clients(aiohttp_server: AiohttpServer, world: World, settings: Settings) -> None:
    """Source, tracking calls, profile, audience with a withheld then shown size, export, delete."""
    server = await aiohttp_server(create_app(world, settings))
    url = str(server.make_url("")).rstrip("/")
    async with AdminClient(url, ADMIN_TOKEN) as admin:
        created = await admin.create_partner("acme", SCOPES)
        async with PartnerClient(url, created.client_id, created.client_secret) as partner:
            source = await partner.create_source("Backend")
            assert source.write_key and source.id.startswith("src_")
            assert [s.write_key for s in await partner.sources()] == [None]
            audience = await partner.create_audience("Buyers", {"event": "Order Completed", "withinHours": 2})
            assert audience.size == 0 and not audience.size_suppressed
            async with TrackingClient(url, source.write_key) as tracking:
                assert (await tracking.identify({"userId": "u0", "anonymousId": "a0",
                                                 "traits": {"plan": "gold"}})).success
                await tracking.track({"anonymousId": "a0", "event": "Order Completed"})
                for kind in ("page", "screen"):
                    await getattr(tracking, kind)({"userId": "u0", "name": "Home"})
                await tracking.group({"userId": "u0", "groupId": "g"})
                await tracking.alias({"previousId": "a9", "userId": "u0"})
                got = await partner.audience(audience.id)
                assert got.size is None and got.size_suppressed  # one member: under the threshold
                await tracking.batch([{"type": "track", "userId": f"u{i}", "event": "Order Completed"}
                                      for i in range(1, 12)])
            profile = await partner.profile("a0")
            assert profile.user_id == "u0" and profile.traits == {"plan": "gold"}
            assert profile.audiences == [audience.id] and profile.events[0].type == "alias"
            assert {e.event for e in profile.events} >= {"Order Completed", "Page Viewed", "Screen Viewed"}
            assert (await partner.audience(audience.id)).size == 12
            assert [a.id for a in await partner.audiences()] == [audience.id]
            page = await partner.audience_members(audience.id, limit=5)
            assert page.total == 12 and len(page.user_ids) == 5 and page.next_offset == 5
            rest = await partner.audience_members(audience.id, offset=5, limit=100)
            assert sorted(page.user_ids + rest.user_ids) == sorted(f"u{i}" for i in range(12))
            await admin.advance(timedelta(hours=2, minutes=1))
            assert (await partner.audience(audience.id)).size == 0  # the purchases left the window
            await partner.delete_audience(audience.id)
            with pytest.raises(ApiError) as caught:
                await partner.audience(audience.id)
            assert caught.value.status == 404


async def test_partners_are_isolated(aiohttp_server: AiohttpServer, world: World, settings: Settings) -> None:
    """A partner cannot read another's profiles or audiences, nor bind another's app to a source."""
    server = await aiohttp_server(create_app(world, settings))
    url = str(server.make_url("")).rstrip("/")
    async with AdminClient(url, ADMIN_TOKEN) as admin:
        mine, theirs = await admin.create_partner("acme", SCOPES), await admin.create_partner("other", SCOPES)
        async with PartnerClient(url, mine.client_id, mine.client_secret) as a, \
                PartnerClient(url, theirs.client_id, theirs.client_secret) as b:
            source = await a.create_source("Backend")
            assert source.write_key is not None
            audience = await a.create_audience("Buyers", BUYERS)
            async with TrackingClient(url, source.write_key) as tracking:
                await tracking.track({"userId": "u1", "event": "Order Completed"})
            assert (await a.profile("u1")).user_id == "u1"
            for call in (b.profile("u1"), b.audience(audience.id), b.audience_members(audience.id),
                         b.delete_audience(audience.id)):
                with pytest.raises(ApiError) as caught:
                    await call
                assert caught.value.status == 404
            assert await b.audiences() == []
            _, raw = await a.send("POST", "/apps/v1/apps", json={"name": "Shoply", "platforms": ["IOS"],
                                                                 "popularity": 0.3})
            app_id = raw.decode().split('"id":"')[1].split('"')[0]
            with pytest.raises(ApiError) as caught:
                await b.create_source("Stolen", app_id=app_id)
            assert caught.value.status == 404
            assert (await a.create_source("App", app_id=app_id)).app_id == app_id


async def test_group_trait_audience_through_group_calls(aiohttp_server: AiohttpServer, world: World,
                                                        settings: Settings) -> None:
    """/v1/group sets the group's traits for all its members; a groupTrait audience follows; a bad one is a 400
    naming the path."""
    server = await aiohttp_server(create_app(world, settings))
    async with cdp_session(server, SCOPES) as session:
        partner, tracking = session.partner, session.tracking
        audience = await partner.create_audience("Enterprise", {"and": [
            {"groupTrait": "plan", "op": "eq", "value": "enterprise"},
            {"not": {"groupTrait": "seats", "op": "lt", "value": 10}}]})
        with pytest.raises(ApiError) as caught:
            await partner.create_audience("Bad", {"and": [{"groupTrait": "", "op": "exists"}]})
        assert caught.value.status == 400
        assert [d["field"] for d in caught.value.details] == ["body.definition.and.0.groupTrait"]
        await tracking.group({"userId": "u1", "groupId": "acme", "traits": {"plan": "free", "seats": 50}})
        await tracking.group({"userId": "u2", "groupId": "acme"})
        await tracking.group({"userId": "u3", "groupId": "tiny", "traits": {"plan": "enterprise", "seats": 2}})
        assert (await partner.audience_members(audience.id)).user_ids == []
        await tracking.group({"userId": "u2", "groupId": "acme", "traits": {"plan": "enterprise"}})
        assert sorted((await partner.audience_members(audience.id)).user_ids) == ["u1", "u2"]
        profile = await partner.profile("u1")
        assert profile.groups == {"acme": {"plan": "enterprise", "seats": 50}}
        assert profile.audiences == [audience.id]


@pytest.mark.parametrize("definition", [
    {"event": "E", "withinDays": 365},  # window past the retention
    {"and": [{"trait": "plan", "op": "gt", "value": "x"}]},  # numeric comparison with a string
    {"bogus": True},  # no condition
])
async def test_bad_audience_is_400_with_paths(aiohttp_client: AiohttpClient, world: World, settings: Settings,
                                              definition: dict[str, object]) -> None:
    """A malformed definition is a 400 whose details name the faulty path, and nothing is stored."""
    client = await aiohttp_client(create_app(world, settings))
    resp = await client.post("/admin/v1/partners", json={"name": "acme", "scopes": SCOPES}, headers=ADMIN)
    body = await resp.json()
    token = await fetch_token(client, Creds(body["id"], body["clientId"], body["clientSecret"]))
    resp = await client.post("/cdp/v1/audiences", json={"name": "x", "definition": definition},
                             headers=bearer(token))
    assert resp.status == 400
    err = await resp.json()
    assert err["code"] == "INVALID_ARGUMENT" and all(d["field"].startswith("body.definition")
                                                     for d in err["details"])
    assert (await (await client.get("/cdp/v1/audiences", headers=bearer(token))).json()) == {"audiences": []}


async def test_restart_keeps_profiles_and_audiences(aiohttp_client: AiohttpClient, fresh_world: Callable[[], World],
                                                    settings: Settings) -> None:
    """A restarted gateway rebuilds profiles, app installs' events and memberships from its log."""
    client = await aiohttp_client(create_app(fresh_world(), settings))
    resp = await client.post("/admin/v1/partners", json={"name": "acme", "scopes": SCOPES}, headers=ADMIN)
    body = await resp.json()
    creds = Creds(body["id"], body["clientId"], body["clientSecret"])
    token = await fetch_token(client, creds)
    app = await (await client.post("/apps/v1/apps", json={"name": "Shoply", "platforms": ["ANDROID", "IOS"],
                                                          "categories": ["SHOPPING"], "popularity": 0.5},
                                   headers=bearer(token))).json()
    await client.post("/cdp/v1/sources", json={"name": "App", "appId": app["id"]}, headers=bearer(token))
    audience = await (await client.post("/cdp/v1/audiences", json={"name": "Buyers", "definition": BUYERS},
                                        headers=bearer(token))).json()
    service, apps = client.app[CDP], client.app[APPS]
    record = apps.get(int(body["id"].removeprefix("ptn_")), app["id"])
    now = to_micros(client.app[CDP]._now())
    n = 12
    service.ingest_app_events(AppEventBatch(
        record.seq, np.arange(n), np.full(n, now),
        np.arange(n), np.full(n, APP_EVENT_CODE["Order Completed"], "uint8"),
        np.zeros(n, "int16"), np.full(n, 1999)))
    user = apps.codec.user_id(record.seq, 3)
    before = await (await client.get(f"/cdp/v1/profiles/{user}", headers=bearer(token))).json()
    size = (await (await client.get(f"/cdp/v1/audiences/{audience['id']}", headers=bearer(token))).json())["size"]
    assert size == n and before["events"][0]["properties"] == {"category": "SHOPPING", "revenue": 19.99,
                                                               "currency": "EUR"}
    await client.close()

    client = await aiohttp_client(create_app(fresh_world(), settings))
    token = await fetch_token(client, creds)
    after = await (await client.get(f"/cdp/v1/profiles/{user}", headers=bearer(token))).json()
    assert after == before
    got = await (await client.get(f"/cdp/v1/audiences/{audience['id']}", headers=bearer(token))).json()
    assert got["size"] == n


async def test_simulated_installs_report_through_the_cdp(client: Client, make_partner: MakePartner) -> None:
    """Wired by the composition: the app's simulated events land in the partner's profiles and audiences, and a
    server-side identify for the same user id meets them in one profile."""
    creds = await make_partner("acme", SCOPES)
    token = await fetch_token(client, creds)
    resp = await client.post("/apps/v1/apps", headers=bearer(token),
                             json={"name": "Shop", "platforms": ["ANDROID", "IOS"], "categories": ["SHOPPING"],
                                   "popularity": 0.8})
    assert resp.status == 201, await resp.text()
    app_id = (await resp.json())["id"]
    resp = await client.post("/cdp/v1/sources", json={"name": "App", "appId": app_id}, headers=bearer(token))
    assert resp.status == 201, await resp.text()
    write_key = (await resp.json())["writeKey"]
    resp = await client.post("/cdp/v1/audiences", headers=bearer(token),
                             json={"name": "Buyers", "definition": BUYERS})
    audience_id = (await resp.json())["id"]
    service = client.app[APPS]
    record = service.find(app_id)
    assert record is not None
    batches: list[AppEventBatch] = []
    service.add_event_listener(batches.append)
    resp = await client.post("/admin/v1/clock/advance", json={"duration": "P1D"}, headers=ADMIN)
    assert resp.status == 200, await resp.text()
    order = APP_EVENT_CODE["Order Completed"]
    buyer_rows = sorted({int(r) for b in batches for r in b.row[b.event == order].tolist()})
    buyers = sorted({service.install(record, r).user_id for r in buyer_rows})
    assert len(buyers) >= 1
    members: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = await (await client.get(f"/cdp/v1/audiences/{audience_id}/members", params={"offset": str(offset)},
                                       headers=bearer(token))).json()
        members += page["userIds"]
        offset = page.get("nextOffset")
    assert sorted(members) == buyers  # the simulated purchases are the audience, by the brand's own user ids
    buyer = buyers[0]
    resp = await client.post("/v1/identify", json={"userId": buyer, "traits": {"tier": "gold"}},
                             headers={"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()})
    assert resp.status == 200, await resp.text()
    profile = await (await client.get(f"/cdp/v1/profiles/{buyer}", headers=bearer(token),
                                      params={"limit": "100"})).json()
    assert profile["traits"] == {"tier": "gold"} and audience_id in profile["audiences"]
    assert "Order Completed" in {e.get("event") for e in profile["events"]}
    assert not any(key in json.dumps(profile) for key in ("msisdn", "+49", "latitude"))  # partner-facing: no line


TOKENS: dict[int, str] = {}
TRIGGERS: dict[int, list[str]] = {}  # the triggers of that partner, by client
"""The property test's partner token, by test client (hypothesis runs its examples on one client)."""
WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=12)
PLACE_KEYS = frozenset({"latitude", "longitude", "lat", "lon", "lng", "coordinates", "location", "msisdn",
                        "phoneNumber", "phone_number"})
"""Keys that would carry an exact coordinate or a line: none may appear in a partner-facing CDP payload."""
CALL = st.fixed_dictionaries({
    "type": st.sampled_from(["track", "identify", "page", "screen"]),
    "userId": st.sampled_from(["p1", "p2", "p3"]),
    "event": st.sampled_from(["Order Completed", "Product Viewed", "Signed Up"]),
    "properties": st.dictionaries(WORD.filter(lambda k: k.strip() not in PLACE_KEYS),
                                  st.one_of(WORD, st.integers(-10**6, 10**6), st.booleans()), max_size=3),
    "traits": st.dictionaries(WORD.filter(lambda k: k.strip() not in PLACE_KEYS), WORD, max_size=2),
    # what a mobile library sends on its own: the CDP ignores context, so none of it may come back
    "context": st.fixed_dictionaries({"location": st.fixed_dictionaries({
        "latitude": st.floats(52.3, 52.7), "longitude": st.floats(13.1, 13.7)})}),
})


async def write_key(client: Client, token: str) -> str:
    """A fresh server-side source's write key (keys are shown once)."""
    resp = await client.post("/cdp/v1/sources", json={"name": "Server"}, headers=bearer(token))
    assert resp.status == 201, await resp.text()
    key: str = (await resp.json())["writeKey"]
    return key


def leaks(value: Any, msisdns: set[str], where: str = "") -> list[str]:
    """Paths of a JSON value that name a line (a world MSISDN) or carry a coordinate key."""
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if str(k) in PLACE_KEYS:
                found.append(f"{where}.{k}")
            found += leaks(v, msisdns, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += leaks(v, msisdns, f"{where}[{i}]")
    elif isinstance(value, str) and (value in msisdns or value.lstrip("+") in msisdns):
        found.append(where)
    return found


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(calls=st.lists(CALL, min_size=1, max_size=6), hours=st.integers(min_value=1, max_value=4))
async def test_no_line_or_coordinates_in_partner_cdp_payloads(client: Client, make_partner: MakePartner,
                                                              world: World, calls: list[dict[str, Any]],
                                                              hours: int) -> None:
    """Whatever the partner tracks (with a library's device location in context) and whatever the simulated
    installs report (sessions, orders, pushes received and tapped), no partner-facing CDP payload — sources,
    audiences, members, profiles, trigger fires and the CloudEvents their webhooks carry (an event's trigger and an
    operator signal's: entering an area) — holds an MSISDN of the world or a coordinate."""
    service = client.app[APPS]
    if not service.list(1):
        token = await fetch_token(client, await make_partner("acme", [*SCOPES, "push:send"]))
        resp = await client.post("/apps/v1/apps", headers=bearer(token), json={
            "name": "Shop", "platforms": ["ANDROID", "IOS"], "categories": ["SHOPPING"], "popularity": 0.8,
            "pushQuotaPerMinute": 600_000})
        app_id = (await resp.json())["id"]
        await client.post("/cdp/v1/sources", json={"name": "App", "appId": app_id}, headers=bearer(token))
        await client.post("/cdp/v1/audiences", json={"name": "Buyers", "definition": BUYERS}, headers=bearer(token))
        await client.post("/cdp/v1/audiences", json={"name": "Viewers", "definition": {
            "event": "Product Viewed", "withinHours": 6}}, headers=bearer(token))
        hook = {"action": {"type": "WEBHOOK", "sink": "https://partner.example/cdp"}}
        for rule in ({"kind": "FIRST_EVENT", "event": "Push Notification Received"},
                     {"kind": "AREA_ENTERED", "appId": app_id, "areaId": "centre", "area": {
                         "areaType": "CIRCLE", "center": {"latitude": 52.52, "longitude": 13.405}, "radius": 3000}}):
            resp = await client.post("/cdp/v1/triggers", headers=bearer(token), json={
                "name": rule["kind"], "rule": rule, "steps": [hook]})
            assert resp.status == 201, await resp.text()
            TRIGGERS.setdefault(id(client), []).append((await resp.json())["id"])
        TOKENS[id(client)] = token  # the next examples of this test reuse the partner
    token = TOKENS[id(client)]
    record = service.list(1)[0]
    auth = {"Authorization": "Basic " + base64.b64encode(f"{await write_key(client, token)}:".encode()).decode()}
    resp = await client.post("/v1/batch", json={"batch": calls}, headers=auth)
    assert resp.status == 200, await resp.text()
    table = service.installs(record)
    for row in range(0, min(table.size, 40), 4):  # pushes received and tapped come back as app events
        if table.installed[row]:
            await client.post(f"/v1/projects/{record.id}/messages:send", headers=bearer(token), json={
                "message": {"token": service.install(record, row).token, "notification": {"title": "Hi"}}})
    await client.post("/admin/v1/clock/advance", json={"seconds": hours * 3600}, headers=ADMIN)
    msisdns = set(world.msisdns(np.arange(world.summary().subscribers, dtype=np.int64)))
    payloads: list[Any] = [await (await client.get("/cdp/v1/sources", headers=bearer(token))).json()]
    audiences = await (await client.get("/cdp/v1/audiences", headers=bearer(token))).json()
    payloads.append(audiences)
    users = {c["userId"] for c in calls}
    for audience in audiences["audiences"]:
        page = await (await client.get(f"/cdp/v1/audiences/{audience['id']}/members", headers=bearer(token),
                                       params={"limit": "1000"})).json()
        payloads.append(page)
        users |= set(page["userIds"][:15])
    users |= {service.install(record, r).installation_id for r in range(min(table.size, 10))}  # anonymous ids
    for identity in sorted(users):
        resp = await client.get(f"/cdp/v1/profiles/{identity}", headers=bearer(token), params={"limit": "100"})
        assert resp.status in (200, 404)
        payloads.append(await resp.json())
    events = {e.get("event") for p in payloads if isinstance(p, dict) for e in p.get("events", [])}
    assert "Push Notification Received" in events  # the scan saw the installs' own events
    webhooks: dict[str, int] = {}
    for trigger_id in TRIGGERS[id(client)]:
        resp = await client.get(f"/cdp/v1/triggers/{trigger_id}/fires", headers=bearer(token),
                                params={"limit": "1000"})
        assert resp.status == 200, await resp.text()
        payloads.append(await resp.json())
        for event in client.app[WEBHOOKS].outbox.events(subscription_id=trigger_id):
            payloads.append(json.loads(event.body))
            webhooks[trigger_id] = webhooks.get(trigger_id, 0) + 1
    # The scan saw CloudEvents of both triggers: the installs' pushes received fire the first, people moving into
    # the centre the second.
    assert len(webhooks) == len(TRIGGERS[id(client)])
    assert not [path for p in payloads for path in leaks(p, msisdns)]
