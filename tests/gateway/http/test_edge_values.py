"""Edge instants, durations, numbers and ids are refused at the edge (4xx in the error shape), never stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from gateway.core.settings import Settings
from gateway.core.store import Store
from gateway.http.app import create_app
from simulator.clock import to_micros
from simulator.world import World
from tests.gateway.campaign_helpers import campaign_body, instant
from tests.gateway.conftest import ADMIN, TINY, Client, MakePartner, PartnerCreds, a_msisdn, bearer, fetch_token

CAMPAIGN_SUBS = "/campaigns/v1/subscriptions"
SIM_SWAP_SUBS = "/sim-swap-subscriptions/v0.3/subscriptions"
SWAPPED = "org.camaraproject.sim-swap-subscriptions.v0.swapped"
SCOPES = ("campaigns:read", "campaigns:write", f"sim-swap-subscriptions:{SWAPPED}:create",
          "sim-swap-subscriptions:read", "journeys:read", "journeys:write", "messages:read", "messages:send", "verify",
          "api-keys:read", "api-keys:write")
START = datetime.fromisoformat("2026-06-01T07:00:00+00:00")  # an hour after the tiny world's start

YEAR_1 = "0001-01-01T00:00:00+01:00"  # year 0 in UTC
YEAR_9999 = "9999-12-31T23:59:59-01:00"  # year 10000 in UTC
BIG_ID = "99999999999999999999999999"  # more than SQLite's int64


def credential(expires: str) -> dict[str, Any]:
    return {"credentialType": "ACCESSTOKEN", "accessToken": "tok", "accessTokenType": "bearer",
            "accessTokenExpiresUtc": expires}


def campaign(**schedule: str) -> dict[str, Any]:
    return campaign_body(START, schedule=schedule)


def sim_swap_subscription(msisdn: str, **config: Any) -> dict[str, Any]:
    return {"protocol": "HTTP", "sink": "https://partner.example.com/sim-events", "types": [SWAPPED],
            "sinkCredential": credential("2030-01-01T00:00:00Z"),
            "config": {"subscriptionDetail": {"phoneNumber": msisdn}, **config}}


@pytest.fixture
async def headers(client: Client, make_partner: MakePartner) -> dict[str, str]:
    """A partner allowed to do everything the table tries."""
    return bearer(await fetch_token(client, await make_partner("edgy", SCOPES)))


async def snapshot(client: Client, headers: dict[str, str]) -> dict[str, Any]:
    """Everything a refused request could have written: clock, campaigns, subscriptions, gatherings, partners."""
    out: dict[str, Any] = {}
    for name, path, who in (("clock", "/admin/v1/clock", ADMIN), ("campaigns", "/campaigns/v1/campaigns", headers),
                            ("campaign subscriptions", CAMPAIGN_SUBS, headers),
                            ("sim-swap subscriptions", SIM_SWAP_SUBS, headers),
                            ("gatherings", "/admin/v1/gatherings", ADMIN), ("partners", "/admin/v1/partners", ADMIN)):
        resp = await client.get(path, headers=who)
        assert resp.status == 200, (path, await resp.text())
        out[name] = await resp.json()
    return out


# (path, body: a JSON value or raw JSON text, as admin?, status, code); msisdn placeholders are filled per world
REFUSED: list[tuple[str, Any, bool, int, str]] = [
    # one partner's far-future sink token used to poison everyone's subscription list (year 10000 in UTC)
    (CAMPAIGN_SUBS, {"sink": "https://partner.example.com/e", "sinkCredential": credential(YEAR_9999)}, False,
     400, "INVALID_ARGUMENT"),
    # ... and year 0 in UTC
    (CAMPAIGN_SUBS, {"sink": "https://partner.example.com/e", "sinkCredential": credential(YEAR_1)}, False,
     400, "INVALID_ARGUMENT"),
    # CAMARA subscription expiry past the range
    (SIM_SWAP_SUBS, "sim-swap:" + YEAR_9999, False, 400, "INVALID_ARGUMENT"),
    # campaign window ending in year 10000
    ("/campaigns/v1/campaigns", campaign(endTime=YEAR_9999), False, 400, "INVALID_ARGUMENT"),
    # campaign window starting in year 0
    ("/campaigns/v1/campaigns", campaign(startTime=YEAR_1), False, 400, "INVALID_ARGUMENT"),
    # a window inside datetime's range but past the accepted one: start + window would be near overflow
    ("/campaigns/v1/campaigns", campaign(startTime="9500-01-01T00:00:00Z", endTime="9500-01-02T00:00:00Z"), False,
     400, "INVALID_ARGUMENT"),
    # visitedFrom in year 0
    ("/campaigns/v1/campaigns", campaign_body(START, targeting={"locationMode": "VISITED", "visitedFrom": YEAR_1,
                                                                "visitedTo": instant(START)}), False,
     400, "INVALID_ARGUMENT"),
    # gathering ending in year 10000
    ("/admin/v1/gatherings", {"name": "g", "place": "Olympiastadion", "start": instant(START), "end": YEAR_9999,
                              "share": 0.01}, True, 400, "INVALID_ARGUMENT"),
    # gathering starting in year 0
    ("/admin/v1/gatherings", {"name": "g", "place": "Olympiastadion", "start": YEAR_1, "end": instant(START),
                              "share": 0.01}, True, 400, "INVALID_ARGUMENT"),
    # gathering in range but so far ahead its end tick does not fit the world's tick numbers
    ("/admin/v1/gatherings", {"name": "g", "place": "Olympiastadion", "start": "8000-01-01T00:00:00Z",
                              "end": "8000-01-01T02:00:00Z", "share": 0.01}, True, 400, "INVALID_ARGUMENT"),
    # clock advance: the largest float
    ("/admin/v1/clock/advance", {"seconds": 1e308}, True, 400, "OUT_OF_RANGE"),
    # clock advance: past the maximum advance, fits a timedelta
    ("/admin/v1/clock/advance", {"seconds": 1e32}, True, 400, "OUT_OF_RANGE"),
    # clock advance: one day past the maximum advance
    ("/admin/v1/clock/advance", {"seconds": 367 * 86400}, True, 400, "OUT_OF_RANGE"),
    # clock advance: Python's json would read this as inf
    ("/admin/v1/clock/advance", '{"seconds": Infinity}', True, 400, "INVALID_ARGUMENT"),
    # clock advance: NaN is no number
    ("/admin/v1/clock/advance", '{"seconds": NaN}', True, 400, "INVALID_ARGUMENT"),
    # clock advance: overflows a double
    ("/admin/v1/clock/advance", '{"seconds": 1e400}', True, 400, "INVALID_ARGUMENT"),
    # clock advance: the longest timedelta there is
    ("/admin/v1/clock/advance", {"duration": "P999999999D"}, True, 400, "OUT_OF_RANGE"),
    # clock advance to year 0
    ("/admin/v1/clock/advance", {"to": YEAR_1}, True, 400, "INVALID_ARGUMENT"),
    # clock advance to year 10000
    ("/admin/v1/clock/advance", {"to": YEAR_9999}, True, 400, "INVALID_ARGUMENT"),
    # a partner limit that overflows a double was stored as null (unlimited)
    ("/admin/v1/partners", '{"name": "inf", "limits": {"requestsPerSecond": 1e400}}', True, 400,
     "INVALID_ARGUMENT"),
    # same with -Infinity
    ("/admin/v1/partners", '{"name": "inf", "limits": {"requestsPerSecond": -Infinity}}', True, 400,
     "INVALID_ARGUMENT"),
]


@pytest.mark.parametrize(("path", "body", "as_admin", "status", "code"), REFUSED)
async def test_edge_values_are_refused_and_nothing_is_stored(client: Client, world: World, headers: dict[str, str],
                                                             path: str, body: Any, as_admin: bool, status: int,
                                                             code: str) -> None:
    """Each request is a 4xx in the error shape; the clock did not move and no list changed."""
    if isinstance(body, str) and body.startswith("sim-swap:"):
        body = sim_swap_subscription(a_msisdn(world, 8), subscriptionExpireTime=body.removeprefix("sim-swap:"))
    text = body if isinstance(body, str) else json.dumps(body)
    before = await snapshot(client, headers)
    resp = await client.post(path, data=text, headers={**(ADMIN if as_admin else headers),
                                                      "Content-Type": "application/json", "x-correlator": "edge-1"})
    got = await resp.json()
    assert (resp.status, got["code"]) == (status, code), got
    assert got["status"] == status and got["message"] and resp.headers["x-correlator"] == "edge-1"
    assert await snapshot(client, headers) == before


# Every path that takes a prefixed id, with an id whose number does not fit SQLite's int64 (and one with a digit
# int() refuses): (method, path template, as admin?)
ID_PATHS: list[tuple[str, str, bool]] = [
    ("GET", "/campaigns/v1/campaigns/cmp_{n}", False),  # campaign
    ("DELETE", "/campaigns/v1/campaigns/cmp_{n}", False),  # campaign cancel
    ("GET", "/campaigns/v1/campaigns/cmp_{n}/report", False),  # campaign report
    ("GET", "/admin/v1/campaigns/cmp_{n}/deliveries", True),  # operator truth
    ("GET", CAMPAIGN_SUBS + "/cms_{n}", False),  # campaign event subscription
    ("DELETE", CAMPAIGN_SUBS + "/cms_{n}", False),  # ... deleted
    ("GET", SIM_SWAP_SUBS + "/sss_{n}", False),  # CAMARA subscription
    ("GET", "/messages/v1/messages/msg_{n}", False),  # message
    ("GET", "/journeys/v1/journeys/jny_{n}", False),  # journey
    ("GET", "/journeys/v1/journeys/jny_{n}/report", False),  # journey report
    ("DELETE", "/journeys/v1/journeys/jny_{n}", False),  # journey cancel
    ("GET", "/admin/v1/journeys/jny_{n}/recipients", True),  # operator truth
    ("GET", "/verify/v1/verifications/vrf_{n}", False),  # verification
    ("GET", "/partner/v1/api-keys/key_{n}", False),  # own API key
    ("DELETE", "/partner/v1/api-keys/key_{n}", False),  # own API key revoked
    ("GET", "/admin/v1/partners/ptn_{n}", True),  # partner
    ("POST", "/admin/v1/partners/ptn_{n}/disable", True),  # partner disabled
    ("DELETE", "/admin/v1/partners/ptn_{n}/api-keys/key_{n}", True),  # partner key revoked
    ("GET", "/admin/v1/partners/ptn_{n}/webhook-secret", True),  # partner webhook secret
    ("GET", "/admin/v1/webhooks/events/cms_{n}-x", True),  # outbox event
]


@pytest.mark.parametrize("number", [BIG_ID, "²"])
@pytest.mark.parametrize(("method", "template", "as_admin"), ID_PATHS)
async def test_ids_out_of_range_are_not_found(client: Client, headers: dict[str, str], method: str, template: str,
                                              as_admin: bool, number: str) -> None:
    """An id whose number SQLite cannot hold, or that is no ASCII number, is simply unknown: 404."""
    resp = await client.request(method, template.format(n=number), headers=ADMIN if as_admin else headers)
    got = await resp.json()
    assert (resp.status, got["code"], got["status"]) == (404, "NOT_FOUND", 404), got


# (path, query): cursors that are ids or numbers out of range
CURSORS = [
    ("/campaigns/v1/campaigns", {"cursor": f"cmp_{BIG_ID}"}),  # partner paging by campaign id
    ("/journeys/v1/journeys", {"cursor": f"jny_{BIG_ID}"}),  # partner paging by journey id
]


@pytest.mark.parametrize(("path", "query"), CURSORS)
async def test_cursors_out_of_range_are_bad_requests(client: Client, headers: dict[str, str], path: str,
                                                     query: dict[str, str]) -> None:
    """A cursor naming no possible row is 400, not an overflow."""
    resp = await client.get(path, params=query, headers=headers)
    assert resp.status == 400, await resp.text()


async def test_operator_cursor_out_of_range_is_a_bad_request(client: Client, headers: dict[str, str]) -> None:
    """The operator's record cursor is a number: past int64 it is 400 naming the parameter."""
    resp = await client.post("/campaigns/v1/campaigns", json=campaign_body(START), headers=headers)
    cid = (await resp.json())["id"]
    resp = await client.get(f"/admin/v1/campaigns/{cid}/deliveries", params={"cursor": BIG_ID}, headers=ADMIN)
    got = await resp.json()
    assert (resp.status, got["details"][0]["field"]) == (400, "query.cursor"), got


async def test_everything_still_works_after_refused_requests(client: Client, headers: dict[str, str]) -> None:
    """After every refused request, subscriptions list and are created, and the clock advances."""
    for path, body, as_admin, _, _ in REFUSED:
        if not (isinstance(body, str) and body.startswith("sim-swap:")):
            text = body if isinstance(body, str) else json.dumps(body)
            await client.post(path, data=text, headers={**(ADMIN if as_admin else headers),
                                                        "Content-Type": "application/json"})
    resp = await client.post(CAMPAIGN_SUBS, json={"sink": "https://partner.example.com/e",
                                                  "sinkCredential": credential("8999-12-31T23:59:59Z")},
                             headers=headers)
    assert resp.status == 201, await resp.text()
    assert len((await (await client.get(CAMPAIGN_SUBS, headers=headers)).json())["subscriptions"]) == 1
    resp = await client.post("/campaigns/v1/campaigns", json=campaign_body(START), headers=headers)
    assert resp.status == 201, await resp.text()
    resp = await client.post("/admin/v1/clock/advance", json={"seconds": 3 * 3600}, headers=ADMIN)
    assert resp.status == 200, await resp.text()
    assert datetime.fromisoformat((await resp.json())["now"]) == START + timedelta(hours=2)


async def test_a_stored_instant_out_of_range_does_not_break_the_others(
        aiohttp_client: AiohttpClient, fresh_world: Callable[[], World], settings: Settings) -> None:
    """A db written by an older version (sink token expiring past year 9999, an infinite limit) still serves."""
    client = await aiohttp_client(create_app(fresh_world(), settings))
    resp = await client.post("/admin/v1/partners", json={"name": "old", "scopes": list(SCOPES)}, headers=ADMIN)
    created = await resp.json()
    creds = PartnerCreds(created["id"], created["clientId"], created["clientSecret"])
    headers = bearer(await fetch_token(client, creds))
    resp = await client.post(CAMPAIGN_SUBS, json={"sink": "https://partner.example.com/e",
                                                  "sinkCredential": credential("2030-01-01T00:00:00Z")},
                             headers=headers)
    sub = await resp.json()
    await client.close()
    store = Store(settings.db_path)
    store.open()
    with store.transaction() as conn:  # what an older version stored for "9999-12-31T23:59:59-01:00"
        spec = json.loads(conn.execute("SELECT spec FROM event_subscriptions WHERE id = ?", (sub["id"],)).fetchone()[0])
        spec["sink_token_expires"] = to_micros(datetime.fromisoformat("9999-12-31T23:59:59+00:00")) + 3_600_000_000
        conn.execute("UPDATE event_subscriptions SET spec = ? WHERE id = ?", (json.dumps(spec), sub["id"]))
        # ... and for "requestsPerSecond": 1e400
        conn.execute("UPDATE partners SET limits = ?", (json.dumps({"requestsPerSecond": float("inf")}),))
    store.close()
    client = await aiohttp_client(create_app(fresh_world(), settings))
    headers = bearer(await fetch_token(client, creds))
    listed = await (await client.get(CAMPAIGN_SUBS, headers=headers)).json()
    assert [(s["id"], s["status"]) for s in listed["subscriptions"]] == [(sub["id"], "ACTIVE")]
    resp = await client.post("/campaigns/v1/campaigns", json=campaign_body(START), headers=headers)
    assert resp.status == 201, await resp.text()
    resp = await client.post("/admin/v1/clock/advance", json={"seconds": 3 * 3600}, headers=ADMIN)
    assert resp.status == 200, await resp.text()
    resp = await client.get("/admin/v1/partners", headers=ADMIN)
    assert [p["limits"] for p in (await resp.json())["partners"]] == [{}], await resp.text()


async def test_advance_past_the_last_instant_is_refused_before_any_tick(aiohttp_client: AiohttpClient,
                                                                        settings: Settings) -> None:
    """A world near the end of the range refuses an advance past it with 400 OUT_OF_RANGE; time does not move."""
    start = datetime.fromisoformat("8999-12-31T12:00:00+00:00")
    client = await aiohttp_client(create_app(World.build(replace(TINY, subscribers=200, start=start)), settings))
    resp = await client.post("/admin/v1/clock/advance", json={"duration": "P1D"}, headers=ADMIN)
    got = await resp.json()
    assert (resp.status, got["code"]) == (400, "OUT_OF_RANGE"), got
    assert (await (await client.get("/admin/v1/clock", headers=ADMIN)).json())["now"] == "8999-12-31T12:00:00Z"
    resp = await client.post("/admin/v1/clock/advance", json={"duration": "PT1H"}, headers=ADMIN)
    assert resp.status == 200, await resp.text()
