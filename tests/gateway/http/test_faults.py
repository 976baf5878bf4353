"""Fault injection over HTTP: error answers in the route's shape, latency, dropped connections, webhook faults,
network faults, the admin API and the metrics."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from gateway.core.settings import Settings
from gateway.core.webhooks import OutboxEvent, cloud_event
from gateway.http.keys import WEBHOOKS
from simulator.world import World
from tests.gateway.camara_helpers import Sink, camara_partner, cell_centre, circle, located, msisdn, start_sink
from tests.gateway.conftest import ADMIN, Client, MakePartner, PartnerCreds, bearer, fetch_token

ME = "/partner/v1/me"
VERIFY = "/location-verification/v3/verify"


@pytest.fixture
def client(fault_client: Client) -> Client:
    """The gateway with its injected latency recorded in ``slept`` (see tests/gateway/conftest.py)."""
    return fault_client


async def add_profile(client: Client, profile: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post("/admin/v1/faults", json=profile, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def partner_token(client: Client, make_partner: MakePartner, name: str = "acme") -> tuple[PartnerCreds, str]:
    creds = await make_partner(name)
    return creds, await fetch_token(client, creds)


@pytest.mark.parametrize(("status", "code"), [
    (500, "INTERNAL"),  # a crash upstream
    (502, "BAD_GATEWAY"),  # an upstream answered badly
    (503, "UNAVAILABLE"),  # down for maintenance
    (504, "TIMEOUT"),  # an upstream did not answer in time
])
async def test_error_answers_in_camara_shape(client: Client, make_partner: MakePartner, status: int,
                                             code: str) -> None:
    """An error fault answers the route's CAMARA error with the correlator echoed and the profile named."""
    _, token = await partner_token(client, make_partner)
    await add_profile(client, {"name": "flaky", "http": {"routes": ["/partner/*"],
                                                         "errors": [{"status": status, "probability": 1.0}]}})
    resp = await client.get(ME, headers={**bearer(token), "x-correlator": "c-42"})
    assert resp.status == status
    assert await resp.json() == {"status": status, "code": code, "message": (await resp.json())["message"]}
    assert resp.headers["x-correlator"] == "c-42"
    assert resp.headers["x-opsim-fault"] == "flaky"


async def test_429_carries_retry_after(client: Client, make_partner: MakePartner) -> None:
    """A 429 fault carries Retry-After (default 1 s, or as the profile says)."""
    _, token = await partner_token(client, make_partner)
    await add_profile(client, {"name": "busy", "http": {"errors": [{"status": 429, "probability": 1.0,
                                                                    "retryAfterS": 7}]}})
    resp = await client.get(ME, headers=bearer(token))
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "7"
    assert (await resp.json())["code"] == "TOO_MANY_REQUESTS"


async def test_token_endpoint_answers_oauth_errors(client: Client, make_partner: MakePartner) -> None:
    """On /oauth2/token the injected error is an RFC 6749 body, for the partner that owns the client id."""
    creds = await make_partner("acme")
    other = await make_partner("other")
    await add_profile(client, {"name": "auth-down", "partner": creds.id,
                               "http": {"routes": ["/oauth2/token"], "errors": [{"status": 503, "probability": 1}]}})
    form = {"grant_type": "client_credentials", "client_id": creds.client_id, "client_secret": creds.client_secret}
    resp = await client.post("/oauth2/token", data=form)
    assert resp.status == 503
    assert await resp.json() == {"error": "temporarily_unavailable",
                                 "error_description": "the server cannot answer now"}
    await fetch_token(client, other)  # the profile names one partner: the other one is served


async def test_latency_is_added_then_served(client: Client, make_partner: MakePartner, slept: list[float]) -> None:
    """A latency fault waits (through the injected sleep) and then serves the request normally."""
    _, token = await partner_token(client, make_partner)
    await add_profile(client, {"name": "slow", "http": {"latency": {"distribution": "fixed", "ms": 250}}})
    resp = await client.get(ME, headers=bearer(token))
    assert resp.status == 200
    assert slept == [0.25]


async def test_latency_distribution_is_seeded(client: Client, make_partner: MakePartner, slept: list[float]) -> None:
    """Uniform latencies stay within bounds and repeat for the same seed once the profile is re-created."""
    _, token = await partner_token(client, make_partner)
    profile = {"name": "jitter", "seed": 7,
               "http": {"latency": {"distribution": "uniform", "minMs": 100, "maxMs": 300}}}
    runs = []
    for _ in range(2):
        await add_profile(client, profile)
        slept.clear()
        for _ in range(5):
            assert (await client.get(ME, headers=bearer(token))).status == 200
        runs.append(list(slept))
        assert (await client.delete("/admin/v1/faults/jitter", headers=ADMIN)).status == 204
    assert runs[0] == runs[1]
    assert all(0.1 <= s <= 0.3 for s in runs[0]) and len(set(runs[0])) == 5


async def test_connection_drop_seen_by_a_raw_client(client: Client, make_partner: MakePartner) -> None:
    """A drop fault closes the connection without a single byte of answer."""
    _, token = await partner_token(client, make_partner)
    await add_profile(client, {"name": "cut", "http": {"dropProbability": 1.0}})
    server = client.server
    assert isinstance(server, TestServer) and server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(f"GET {ME} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    resp = await client.get("/health")  # the gateway keeps serving
    assert resp.status == 200


async def test_faults_only_where_the_profile_says(client: Client, make_partner: MakePartner) -> None:
    """Routes outside the globs, other partners and the admin API are never faulted."""
    creds, token = await partner_token(client, make_partner)
    _, other = await partner_token(client, make_partner, "other")
    await add_profile(client, {"name": "p", "partner": creds.id,
                               "http": {"routes": ["/partner/v1/api-keys*"],
                                        "errors": [{"status": 500, "probability": 1}]}})
    assert (await client.get(ME, headers=bearer(token))).status == 200  # another route
    assert (await client.get("/partner/v1/api-keys", headers=bearer(other))).status == 200  # another partner
    assert (await client.get("/partner/v1/api-keys", headers=bearer(token))).status == 500
    assert (await client.get("/admin/v1/faults", headers=ADMIN)).status == 200


async def test_same_requests_same_faults(client: Client, make_partner: MakePartner) -> None:
    """A re-created profile answers the same sequence of requests with the same faults."""
    profile = {"name": "mixed", "seed": 11, "http": {"errors": [{"status": 503, "probability": 0.3},
                                                                {"status": 429, "probability": 0.2}]}}
    _, token = await partner_token(client, make_partner)
    await add_profile(client, profile)
    first = [(await client.get(ME, headers=bearer(token))).status for _ in range(30)]
    await client.delete("/admin/v1/faults/mixed", headers=ADMIN)
    await add_profile(client, profile)
    again = [(await client.get(ME, headers=bearer(token))).status for _ in range(30)]
    assert first == again
    assert {200, 429, 503} <= set(first)


@pytest.mark.parametrize("body", [
    {"http": {"dropProbability": 1}},  # no name
    {"name": "x"},  # neither http nor webhooks
    {"name": "x", "http": {"dropProbability": 1.5}},  # a probability above 1
    {"name": "x", "http": {"errors": [{"status": 418, "probability": 0.5}]}},  # not an injectable status
    {"name": "x", "http": {"errors": [{"status": 500, "probability": 0.7}, {"status": 503, "probability": 0.7}]}},
    # probabilities adding up past 1
    {"name": "x", "http": {"errors": [{"status": 500, "probability": 0.5, "retryAfterS": 3}]}},  # Retry-After on 500
    {"name": "x", "http": {"latency": {"distribution": "normal", "meanMs": 10}}},  # normal without stddevMs
    {"name": "x", "http": {"latency": {"distribution": "fixed", "ms": 10, "maxMs": 20}}},  # a stray parameter
    {"name": "x", "http": {"latency": {"distribution": "uniform", "minMs": 30, "maxMs": 20}}},  # min above max
    {"name": "x", "webhooks": {"delayProbability": 0.5}},  # a delay without delayS
    {"name": "x", "http": {"dropProbability": 1}, "colour": "red"},  # an unknown field
    {"name": "x", "http": {"dropProbability": "1"}},  # a string for a number (strict)
    {"name": "1bad", "http": {"dropProbability": 1}},  # a name not starting with a letter
    [],  # not an object
])
async def test_bad_profiles_are_refused_and_nothing_stored(client: Client, body: Any) -> None:
    """Bad profile input is 400 INVALID_ARGUMENT in the CAMARA shape, and no profile is stored."""
    resp = await client.post("/admin/v1/faults", data=json.dumps(body), headers={**ADMIN,
                                                                                 "Content-Type": "application/json"})
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["code"] == "INVALID_ARGUMENT"
    listed = await (await client.get("/admin/v1/faults", headers=ADMIN)).json()
    assert listed == {"profiles": []}


async def test_admin_profile_lifecycle(client: Client) -> None:
    """Profiles are listed, read, refused twice under one name, deleted, and unknown names are 404."""
    created = await add_profile(client, {"name": "a", "http": {"dropProbability": 0.1}})
    assert created["decisions"] == 0 and created["http"]["routes"] == ["*"]
    resp = await client.post("/admin/v1/faults", json={"name": "a", "http": {"dropProbability": 0.1}}, headers=ADMIN)
    assert (resp.status, (await resp.json())["code"]) == (409, "CONFLICT")
    assert (await client.get("/admin/v1/faults/a", headers=ADMIN)).status == 200
    assert (await client.delete("/admin/v1/faults/a", headers=ADMIN)).status == 204
    assert (await client.delete("/admin/v1/faults/a", headers=ADMIN)).status == 404
    assert (await client.get("/admin/v1/faults", headers={})).status == 401


async def test_injected_faults_are_counted_in_metrics(client: Client, make_partner: MakePartner) -> None:
    """/metrics counts injected faults by kind and route."""
    _, token = await partner_token(client, make_partner)
    await add_profile(client, {"name": "m", "http": {"errors": [{"status": 503, "probability": 1}]}})
    for _ in range(3):
        await client.get(ME, headers=bearer(token))
    text = await (await client.get("/metrics")).text()
    assert 'opsim_faults_injected_total{kind="error_503",route="/partner/v1/me"} 3.0' in text


# -- webhooks ----------------------------------------------------------------------------------------------

@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, webhook_backoff_base_s=0.02, webhook_backoff_max_s=0.05, webhook_poll_s=0.01,
                   webhook_timeout_s=1.0)


@pytest.fixture
async def sink(aiohttp_server: AiohttpServer) -> Sink:
    return await start_sink(aiohttp_server)


def emit(client: Client, world: World, sink: Sink, n: int, sub: str = "sub-1") -> list[str]:
    """Store ``n`` events of one subscription of partner 1 in the outbox; returns their ids."""
    ids = [f"evt-{sub}-{k}" for k in range(n)]
    events = [OutboxEvent(event_id=e, subscription_id=sub, partner_id=1, event_type="test.event", sink=sink.url,
                          sink_token=None, body=cloud_event(e, "test", "test.event", world.clock.now, {"k": k}),
                          at=world.clock.now) for k, e in enumerate(ids)]
    client.app[WEBHOOKS].outbox.add(events)
    return ids


async def test_webhook_duplicate(client: Client, world: World, sink: Sink, make_partner: MakePartner) -> None:
    """A duplicate fault POSTs the same event twice; both attempts are recorded."""
    await make_partner()
    await add_profile(client, {"name": "dup", "webhooks": {"duplicateProbability": 1.0}})
    (event_id,) = emit(client, world, sink, 1)
    bodies = await sink.wait_for(2)
    assert [b["id"] for b in bodies] == [event_id, event_id]
    attempts = client.app[WEBHOOKS].outbox.attempts(event_id)
    assert [a.status_code for a in attempts] == [204, 204] and "duplicate" in (attempts[1].error or "")


async def test_webhook_reorder(client: Client, world: World, sink: Sink, make_partner: MakePartner) -> None:
    """A reorder fault sends the subscription's next event before the held one."""
    await make_partner()
    await add_profile(client, {"name": "swap", "webhooks": {"reorderProbability": 1.0}})
    ids = emit(client, world, sink, 2)
    bodies = await sink.wait_for(2)
    assert [b["id"] for b in bodies] == [ids[1], ids[0]]


async def test_webhook_drop_then_retry(client: Client, world: World, sink: Sink, make_partner: MakePartner) -> None:
    """A drop-then-retry fault loses the first attempt; the outbox's retry delivers the event once."""
    await make_partner()
    await add_profile(client, {"name": "lossy", "webhooks": {"dropThenRetryProbability": 1.0}})
    ids = emit(client, world, sink, 2)
    bodies = await sink.wait_for(2)
    assert sorted(b["id"] for b in bodies) == ids
    await asyncio.sleep(0.1)
    assert len(sink.received) == 2  # each event delivered exactly once
    attempts = client.app[WEBHOOKS].outbox.attempts(ids[0])
    assert attempts[0].status_code is None and "dropped" in (attempts[0].error or "")
    assert attempts[-1].status_code == 204
    text = await (await client.get("/metrics")).text()
    assert 'opsim_faults_injected_total{kind="webhook_drop_then_retry",route="webhook"} 2.0' in text


async def test_webhook_delay(client: Client, world: World, sink: Sink, make_partner: MakePartner) -> None:
    """A delay fault holds the event until delayS after it was stored; it is then delivered once, without a
    failed attempt."""
    await make_partner()
    await add_profile(client, {"name": "late", "webhooks": {"delayS": 0.2, "delayProbability": 1.0}})
    (event_id,) = emit(client, world, sink, 1)
    await sink.wait_for(1)
    outbox = client.app[WEBHOOKS].outbox
    stored = outbox.get(event_id)
    assert stored is not None and stored.delivery_state == "delivered"
    (attempt,) = outbox.attempts(event_id)
    assert attempt.at_wall >= stored.created_wall + 0.2 and attempt.status_code == 204


async def test_webhook_faults_follow_the_sink_glob(client: Client, world: World, sink: Sink,
                                                   make_partner: MakePartner) -> None:
    """Sinks outside the profile's URL globs are delivered as usual."""
    await make_partner()
    await add_profile(client, {"name": "elsewhere", "webhooks": {"sinks": ["https://partner.example/*"],
                                                                "duplicateProbability": 1.0}})
    emit(client, world, sink, 1)
    await sink.wait_for(1)
    await asyncio.sleep(0.1)
    assert len(sink.received) == 1


# -- network faults ----------------------------------------------------------------------------------------

async def test_cell_outage_makes_devices_unreachable(client: Client, world: World,
                                                     make_partner: MakePartner) -> None:
    """A cell outage over an area: devices there are unreachable and location verification answers UNKNOWN
    (v2); after the outage they are back."""
    _, token = await camara_partner(client, make_partner)
    i = located(world)[0]
    lat, lon, r = cell_centre(world, i)
    resp = await client.post("/admin/v1/faults/network", headers=ADMIN, json={
        "kind": "CELL_OUTAGE", "durationS": 600, "area": {"center": {"latitude": lat, "longitude": lon},
                                                          "radius": 50}})
    assert resp.status == 201, await resp.text()
    fault = await resp.json()
    everyone = np.arange(2000, dtype=np.int64)
    cell = int(world.serving_cells(everyone)[i])
    assert world.network.cell_ids[cell] in fault["cells"]
    assert not world.is_reachable(everyone)[world.serving_cells(everyone) == cell].any()
    body = {"device": {"phoneNumber": msisdn(world, i)}, "area": circle(lat, lon, r + 500)}
    resp = await client.post("/location-verification/v2/verify", json=body, headers=bearer(token))
    assert await resp.json() == {"verificationResult": "UNKNOWN"}
    listed = await (await client.get("/admin/v1/faults/network", headers=ADMIN)).json()
    assert [f["id"] for f in listed["faults"]] == [fault["id"]]
    await client.post("/admin/v1/clock/advance", json={"duration": "PT11M"}, headers=ADMIN)
    assert (await (await client.get("/admin/v1/faults/network", headers=ADMIN)).json()) == {"faults": []}


async def test_device_unreachable_for_a_period(client: Client, world: World) -> None:
    """A device taken down is unreachable until the fault's end (simulated time), then reachable again."""
    i = located(world)[0]
    resp = await client.post("/admin/v1/faults/network", headers=ADMIN,
                             json={"kind": "DEVICE_UNREACHABLE", "durationS": 300, "phoneNumber": msisdn(world, i)})
    assert resp.status == 201
    assert not world.is_reachable(i)[0]
    await client.post("/admin/v1/clock/advance", json={"duration": "PT5M"}, headers=ADMIN)
    after = bool(world.is_reachable(i)[0])
    world.devices.down_until_us[i] = 0
    assert after == bool(world.is_reachable(i)[0])  # the fault no longer counts


@pytest.mark.parametrize(("body", "status"), [
    ({"kind": "CELL_OUTAGE", "durationS": 60}, 400),  # an outage without an area
    ({"kind": "DEVICE_UNREACHABLE", "durationS": 60, "delayS": 5}, 400),  # the wrong parameter
    ({"kind": "SMS_DELAY", "durationS": 0, "delayS": 5}, 400),  # no duration
    ({"kind": "DEVICE_UNREACHABLE", "durationS": 60, "phoneNumber": "+4900000000001"}, 404),  # unknown number
])
async def test_bad_network_faults(client: Client, body: dict[str, Any], status: int) -> None:
    """Bad network fault input is refused in the CAMARA shape and nothing is applied."""
    resp = await client.post("/admin/v1/faults/network", json=body, headers=ADMIN)
    assert resp.status == status, await resp.text()
    assert (await (await client.get("/admin/v1/faults/network", headers=ADMIN)).json()) == {"faults": []}
