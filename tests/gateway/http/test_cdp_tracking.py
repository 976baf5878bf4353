"""CDP tracking API (Segment spec): call shapes, write keys, de-duplication, timestamps, gzip, real libraries."""

from __future__ import annotations

import asyncio
import base64
import gzip
import importlib
import json
import sqlite3
import time
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from gateway.core.settings import Settings
from gateway.http.app import create_app
from gateway.http.keys import PARTNERS, RATE_LIMITER
from gateway.http.ratelimit import RateLimiter
from simulator.world import World
from tests.gateway.conftest import ADMIN, Client, MakePartner, PartnerCreds, bearer, fetch_token

SCOPES = ("cdp:read", "cdp:write", "apps:read", "apps:write")


async def partner_token(client: Client, make_partner: MakePartner, name: str = "acme") -> str:
    creds = await make_partner(name, SCOPES)
    return await fetch_token(client, creds)


async def new_source(client: Client, token: str, **body: Any) -> dict[str, Any]:
    resp = await client.post("/cdp/v1/sources", json={"name": "Backend", **body}, headers=bearer(token))
    assert resp.status == 201, await resp.text()
    source: dict[str, Any] = await resp.json()
    return source


def basic(write_key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}


async def profile(client: Client, token: str, identity: str, status: int = 200) -> dict[str, Any]:
    resp = await client.get(f"/cdp/v1/profiles/{identity}", headers=bearer(token))
    assert resp.status == status, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


@pytest.mark.parametrize(("kind", "body"), [
    ("track", {"userId": "u1", "event": "Order Completed", "properties": {"revenue": 9.5}}),  # server-side track
    ("track", {"anonymousId": "a1", "event": "Product Viewed", "context": {"ip": "0.0.0.0"}}),  # anonymous, context
    ("identify", {"userId": "u1", "traits": {"email": "x@example.com"}}),  # identify with traits
    ("identify", {"anonymousId": "a1", "traits": {}}),  # anonymous identify
    ("page", {"userId": "u1", "name": "Home", "category": "Docs", "properties": {"path": "/"}}),  # page
    ("screen", {"anonymousId": "a1", "name": "Basket"}),  # screen
    ("group", {"userId": "u1", "groupId": "g1", "traits": {"name": "ACME"}}),  # group
    ("alias", {"previousId": "a1", "userId": "u1"}),  # alias
    ("track", {"userId": 42, "event": "E", "integrations": {"All": True}, "_metadata": {}}),  # numeric id, extras
    ("track", {"userId": "u1", "event": "E", "timestamp": "2025-06-01T00:00:00.000+00:00"}),  # explicit timestamp
])
async def test_spec_calls_are_accepted(client: Client, make_partner: MakePartner, kind: str,
                                       body: dict[str, Any]) -> None:
    """Every call type in the spec's shape answers 200 {"success": true}."""
    token = await partner_token(client, make_partner)
    source = await new_source(client, token)
    resp = await client.post(f"/v1/{kind}", json=body, headers=basic(source["writeKey"]))
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"success": True}


@pytest.mark.parametrize(("kind", "body", "field"), [
    ("track", {"userId": "u1"}, "body.event"),  # track without event
    ("track", {"event": "E"}, "body.userId"),  # no identity at all
    ("alias", {"userId": "u1"}, "body.previousId"),  # alias without previousId
    ("alias", {"previousId": "a1"}, "body.userId"),  # alias without userId
    ("group", {"userId": "u1"}, "body.groupId"),  # group without groupId
    ("track", {"userId": "u1", "event": ""}, "body.event"),  # empty event name
    ("track", {"userId": "u1", "event": "E", "properties": []}, "body.properties"),  # properties not an object
    ("track", {"userId": "u1", "event": "E", "timestamp": "yesterday"}, "body.timestamp"),  # not an instant
    ("track", {"userId": "u1", "event": "E", "timestamp": "1960-01-01T00:00:00Z"}, "body.timestamp"),  # too early
    ("batch", {"batch": [{"userId": "u1", "event": "E"}]}, "body.batch.0.type"),  # batch call without type
    ("batch", {"batch": [{"type": "track", "userId": "u", "event": "E"}, {"type": "nope"}]}, "body.batch.1.type"),
    ("batch", {"batch": "x"}, "body.batch"),  # batch not a list
])
async def test_bad_calls_are_400_and_store_nothing(client: Client, make_partner: MakePartner, kind: str,
                                                   body: dict[str, Any], field: str) -> None:
    """A malformed call is a 400 in the gateway's shape naming the field; no part of it reaches a profile."""
    token = await partner_token(client, make_partner)
    source = await new_source(client, token)
    resp = await client.post(f"/v1/{kind}", json=body, headers=basic(source["writeKey"]))
    assert resp.status == 400, await resp.text()
    err = await resp.json()
    assert err["code"] == "INVALID_ARGUMENT" and field in [d["field"] for d in err["details"]]
    await profile(client, token, "u", status=404)
    await profile(client, token, "u1", status=404)


@pytest.mark.parametrize("headers", [
    {},  # no credential
    {"Authorization": "Basic " + base64.b64encode(b"nope:").decode()},  # unknown write key
    {"Authorization": "Basic !!!"},  # not base64
    {"Authorization": "Bearer whatever"},  # not Basic
])
async def test_write_key_is_required(client: Client, make_partner: MakePartner, headers: dict[str, str]) -> None:
    """Without a known write key a call is 401 UNAUTHENTICATED."""
    resp = await client.post("/v1/track", json={"userId": "u1", "event": "E"}, headers=headers)
    assert resp.status == 401 and (await resp.json())["code"] == "UNAUTHENTICATED"


async def test_disabled_partner_write_key_stops_working(client: Client, make_partner: MakePartner) -> None:
    """A disabled partner's write keys are refused at once, and work again when it is enabled."""
    creds = await make_partner("acme", SCOPES)
    token = await fetch_token(client, creds)
    key = (await new_source(client, token))["writeKey"]
    call = {"userId": "u1", "event": "E"}
    assert (await client.post(f"/admin/v1/partners/{creds.id}/disable", headers=ADMIN)).status == 200
    assert (await client.post("/v1/track", json=call, headers=basic(key))).status == 401
    assert (await client.post(f"/admin/v1/partners/{creds.id}/enable", headers=ADMIN)).status == 200
    assert (await client.post("/v1/track", json=call, headers=basic(key))).status == 200


async def test_write_key_in_body(client: Client, make_partner: MakePartner) -> None:
    """A write key given as writeKey in the body works as the Basic user does."""
    token = await partner_token(client, make_partner)
    source = await new_source(client, token)
    resp = await client.post("/v1/batch", json={"writeKey": source["writeKey"],
                                                "batch": [{"type": "track", "userId": "u1", "event": "E"}]})
    assert resp.status == 200
    assert [e["event"] for e in (await profile(client, token, "u1"))["events"]] == ["E"]


class _SlowCommit(sqlite3.Connection):
    """A connection whose commits take a while (the background writer's, in the test below)."""

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT":
            time.sleep(0.3)
        return super().execute(sql, *args)


@pytest.mark.parametrize("path", ["/v1/track", "/v1/batch"])
async def test_an_acknowledged_call_is_in_the_log(client: Client, make_partner: MakePartner, settings: Settings,
                                                  monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    """The 200 comes only once the call's events are committed to the log (a crash then cannot lose them), even
    when the background writer is slow."""
    token = await partner_token(client, make_partner)
    key = (await new_source(client, token))["writeKey"]
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: connect(*a, **{**k, "factory": _SlowCommit}))
    call = {"userId": "u1", "event": "Order Completed"}
    body = call if path == "/v1/track" else {"batch": [{**call, "type": "track"}] * 3}
    assert (await client.post(path, json=body, headers=basic(key))).status == 200
    with connect(settings.db_path) as other:
        assert other.execute("SELECT COUNT(*) FROM cdp_events WHERE user_id = 'u1'").fetchone()[0] == (
            1 if path == "/v1/track" else 3)


async def test_message_id_deduplicates(client: Client, make_partner: MakePartner) -> None:
    """The same messageId twice is acknowledged twice and counted once."""
    token = await partner_token(client, make_partner)
    key = (await new_source(client, token))["writeKey"]
    call = {"userId": "u1", "event": "Order Completed", "messageId": "m-1"}
    for _ in range(2):
        assert (await client.post("/v1/track", json=call, headers=basic(key))).status == 200
    resp = await client.post("/v1/batch", json={"batch": [{**call, "type": "track"}, {**call, "type": "track"}]},
                             headers=basic(key))
    assert resp.status == 200
    assert len((await profile(client, token, "u1"))["events"]) == 1


@pytest.mark.parametrize(("later_hours", "events"), [(23, 1), (25, 2)])
async def test_message_ids_are_remembered_for_a_day(client: Client, make_partner: MakePartner, later_hours: int,
                                                    events: int) -> None:
    """A messageId sent again within 24 simulated hours is a duplicate; past them it is a new event (Segment keeps
    ids for a day too), so the store of ids stays bounded."""
    token = await partner_token(client, make_partner)
    key = (await new_source(client, token))["writeKey"]
    call = {"userId": "u1", "event": "Order Completed", "messageId": "m-1"}
    assert (await client.post("/v1/track", json=call, headers=basic(key))).status == 200
    resp = await client.post("/admin/v1/clock/advance", json={"seconds": later_hours * 3600}, headers=ADMIN)
    assert resp.status == 200, await resp.text()
    assert (await client.post("/v1/track", json=call, headers=basic(key))).status == 200
    assert len((await profile(client, token, "u1"))["events"]) == events


async def test_timestamps_are_skew_corrected(client: Client, make_partner: MakePartner) -> None:
    """timestamp = receivedAt - (sentAt - originalTimestamp); without sentAt the given one; never in the future."""
    token = await partner_token(client, make_partner)
    key = (await new_source(client, token))["writeKey"]
    calls = [
        {"type": "track", "userId": "u1", "event": "Skewed", "messageId": "1",
         "originalTimestamp": "2030-01-01T00:00:00Z", "sentAt": "2030-01-01T00:00:10Z"},
        {"type": "track", "userId": "u1", "event": "Imported", "messageId": "2", "timestamp": "2025-01-01T00:00:00Z"},
        {"type": "track", "userId": "u1", "event": "Future", "messageId": "3", "timestamp": "2031-01-01T00:00:00Z"},
    ]
    assert (await client.post("/v1/batch", json={"batch": calls}, headers=basic(key))).status == 200
    events = {e["event"]: e for e in (await profile(client, token, "u1"))["events"]}
    from datetime import datetime, timedelta
    received = datetime.fromisoformat(events["Skewed"]["receivedAt"])
    assert datetime.fromisoformat(events["Skewed"]["timestamp"]) == received - timedelta(seconds=10)
    assert events["Imported"]["timestamp"] == "2025-01-01T00:00:00Z"
    assert events["Future"]["timestamp"] == events["Future"]["receivedAt"]


async def test_gzip_body(client: Client, make_partner: MakePartner) -> None:
    """A gzip-encoded batch (as analytics-python sends it) is read as the plain one."""
    token = await partner_token(client, make_partner)
    key = (await new_source(client, token))["writeKey"]
    raw = json.dumps({"batch": [{"type": "identify", "userId": "u1", "traits": {"plan": "gold"}}]}).encode()
    resp = await client.post("/v1/batch", data=gzip.compress(raw),
                             headers={**basic(key), "Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert resp.status == 200, await resp.text()
    assert (await profile(client, token, "u1"))["traits"] == {"plan": "gold"}


async def test_identify_traits_in_context_count(client: Client, make_partner: MakePartner) -> None:
    """An identify's context.traits (where RudderStack's libraries put them) are its traits; top-level ones win;
    another call's context.traits are not the profile's."""
    token = await partner_token(client, make_partner)
    key = (await new_source(client, token))["writeKey"]
    calls = [{"type": "identify", "userId": "u1", "context": {"traits": {"plan": "gold", "tier": 1}},
              "traits": {"tier": 2}},
             {"type": "track", "userId": "u1", "event": "E", "context": {"traits": {"plan": "free"}}}]
    assert (await client.post("/v1/batch", json={"batch": calls}, headers=basic(key))).status == 200
    assert (await profile(client, token, "u1"))["traits"] == {"plan": "gold", "tier": 2}


@pytest.mark.parametrize("library", [
    "segment.analytics",  # segment-analytics-python
    "rudderstack.analytics",  # rudder-sdk-python: host= is the data plane URL
])
async def test_analytics_libraries_work_unchanged(client: Client, make_partner: MakePartner, library: str) -> None:
    """Segment's and RudderStack's Python libraries, pointed at the gateway by host=, work unchanged (gzip on)."""
    analytics = importlib.import_module(library)
    token = await partner_token(client, make_partner)
    key = (await new_source(client, token))["writeKey"]
    errors: list[Exception] = []
    lib = analytics.Client(key, host=str(client.make_url("")).rstrip("/"), sync_mode=True, gzip=True,
                           on_error=lambda e, _batch: errors.append(e), max_retries=0)

    def calls() -> None:
        lib.identify("u7", {"plan": "gold"}, anonymous_id="anon-7")
        lib.track("u7", "Order Completed", {"revenue": 12.5, "category": "SHOES"})
        lib.page("u7", "Docs", "Home")
        lib.screen("u7", "App", "Basket")
        lib.group("u7", "g1", {"name": "ACME"})
        lib.alias("anon-old", "u7")
        lib.flush()

    await asyncio.to_thread(calls)
    assert errors == []
    got = await profile(client, token, "anon-7")
    assert got["userId"] == "u7" and got["traits"] == {"plan": "gold"} and "g1" in got["groups"]
    assert set(got["anonymousIds"]) == {"anon-7", "anon-old"}
    assert {e["type"] for e in got["events"]} == {"identify", "track", "page", "screen", "group", "alias"}


class _Monotonic:
    """The rate limiter's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("path", "call"), [
    ("/v1/track", {"userId": "u9", "event": "Limited"}),  # a single call
    ("/v1/batch", {"batch": [{"type": "track", "userId": "u9", "event": "Limited"}]}),  # a batch
])
async def test_tracking_calls_take_the_partner_rate_limit(aiohttp_client: AiohttpClient, world: World,
                                                          settings: Settings, path: str,
                                                          call: dict[str, Any]) -> None:
    """Past its partner's requestsPerSecond a write key is 429 TOO_MANY_REQUESTS with Retry-After, nothing stored,
    in the bucket its other partner calls share; accepted again once the bucket refills."""
    app = create_app(world, settings)
    clock = _Monotonic()
    app[RATE_LIMITER] = RateLimiter(app[PARTNERS].rate_limit, clock)
    client = await aiohttp_client(app)
    resp = await client.post("/admin/v1/partners", headers=ADMIN, json={
        "name": "slow", "scopes": list(SCOPES), "limits": {"requestsPerSecond": 2}})
    created = await resp.json()
    token = await fetch_token(client, PartnerCreds(created["id"], created["clientId"], created["clientSecret"]))
    key = (await new_source(client, token))["writeKey"]  # the first request of the bucket
    assert (await client.post("/v1/track", json={"userId": "u1", "event": "E"}, headers=basic(key))).status == 200
    refused = await client.post(path, json=call, headers=basic(key))
    assert refused.status == 429
    assert (await refused.json())["code"] == "TOO_MANY_REQUESTS"
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers.get("x-correlator")
    clock.now += 1.0  # two more requests
    await profile(client, token, "u9", status=404)  # the refused call stored nothing
    assert (await client.post(path, json=call, headers=basic(key))).status == 200
