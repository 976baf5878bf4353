"""Campaign event subscriptions: a partner's campaign lifecycle as signed CloudEvents at its own sink."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from tests.gateway.camara_helpers import Sink, start_sink
from tests.gateway.campaign_helpers import advance, campaign_body, campaign_partner, create, now_of
from tests.gateway.conftest import ADMIN, Client, MakePartner

BASE = "/campaigns/v1/subscriptions"


@pytest.fixture
async def sink(aiohttp_server: AiohttpServer) -> Sink:
    return await start_sink(aiohttp_server)


async def test_lifecycle_events_reach_the_sink(client: Client, make_partner: MakePartner, sink: Sink) -> None:
    """started, hourly report and completed arrive as CloudEvents, signed, with the sink's bearer token."""
    caller = await campaign_partner(client, make_partner)
    resp = await client.post(BASE, headers=caller.headers, json={
        "sink": sink.url, "sinkCredential": {"credentialType": "ACCESSTOKEN", "accessToken": "tok",
                                             "accessTokenExpiresUtc": "2030-01-01T00:00:00Z",
                                             "accessTokenType": "bearer"}})
    assert resp.status == 201, await resp.text()
    sub = await resp.json()
    assert sub["status"] == "ACTIVE" and "campaign.report.hourly" in sub["types"]
    start = await now_of(client) + timedelta(minutes=10)
    campaign = await create(client, caller, campaign_body(start, hours=1.5))
    await advance(client, 120)
    await sink.wait_for(3)
    secret = (await (await client.get("/partner/v1/webhook-secret", headers=caller.headers)).json())["secret"]
    types = [e["type"] for e in sink.events()]
    assert types[0] == "org.opsim.campaigns.v1.campaign.started"
    assert "org.opsim.campaigns.v1.campaign.completed" in types
    for record in sink.received:
        body: dict[str, Any] = record["body"]
        assert record["headers"]["Content-Type"] == "application/cloudevents+json"
        assert record["headers"]["Authorization"] == "Bearer tok"
        assert record["headers"]["X-Opsim-Signature"] == "sha256=" + hmac.new(
            secret.encode(), record["raw"], hashlib.sha256).hexdigest()
        assert {"id", "source", "type", "specversion", "time", "data"} <= set(body)
        assert body["data"]["campaignId"] == campaign["id"] and body["data"]["subscriptionId"] == sub["id"]
    assert len({e["id"] for e in sink.events()}) == len(sink.events())


async def test_types_filter_crud_and_bad_sinks(client: Client, make_partner: MakePartner, sink: Sink) -> None:
    """Only the subscribed types are sent; list/get/delete are per partner; bad sinks are refused."""
    caller = await campaign_partner(client, make_partner)
    other = await campaign_partner(client, make_partner, name="other")
    sub = await (await client.post(BASE, headers=caller.headers, json={
        "sink": sink.url, "types": ["campaign.rejected"]})).json()
    assert [s["id"] for s in (await (await client.get(BASE, headers=caller.headers)).json())["subscriptions"]] == [
        sub["id"]]
    assert (await client.get(f"{BASE}/{sub['id']}", headers=other.headers)).status == 404
    start = await now_of(client) + timedelta(minutes=10)
    await create(client, caller, campaign_body(start, hours=1))
    await advance(client, 90)
    assert sink.events() == []
    for body, code in (({"sink": "http://example.com/x"}, "INVALID_SINK"),
                       ({"sink": sink.url, "types": ["campaign.exploded"]}, "INVALID_ARGUMENT"),
                       ({"sink": sink.url, "sinkCredential": {"credentialType": "PLAIN"}}, "INVALID_CREDENTIAL")):
        resp = await client.post(BASE, headers=caller.headers, json=body)
        assert (resp.status, (await resp.json())["code"]) == (400, code)
    assert (await client.delete(f"{BASE}/{sub['id']}", headers=caller.headers)).status == 204
    assert (await client.get(f"{BASE}/{sub['id']}", headers=caller.headers)).status == 404


async def test_sink_token_expiry(client: Client, make_partner: MakePartner, sink: Sink) -> None:
    """An already expired sink token is refused; once it expires (simulated time) nothing more is sent."""
    caller = await campaign_partner(client, make_partner)
    now = await now_of(client)

    def credential(expires: datetime) -> dict[str, Any]:
        return {"credentialType": "ACCESSTOKEN", "accessToken": "tok", "accessTokenType": "bearer",
                "accessTokenExpiresUtc": expires.isoformat().replace("+00:00", "Z")}

    resp = await client.post(BASE, headers=caller.headers,
                             json={"sink": sink.url, "sinkCredential": credential(now - timedelta(minutes=1))})
    assert (resp.status, (await resp.json())["code"]) == (400, "INVALID_CREDENTIAL")
    resp = await client.post(BASE, headers=caller.headers, json={
        "sink": sink.url, "types": ["campaign.started", "campaign.completed"],
        "sinkCredential": credential(now + timedelta(minutes=30))})
    sub = await resp.json()
    await create(client, caller, campaign_body(now + timedelta(minutes=10), hours=1))
    await advance(client, 120)
    await sink.wait_for(1)
    resp = await client.get("/admin/v1/webhooks/events", params={"subscriptionId": sub["id"]}, headers=ADMIN)
    stored = [e["type"].rsplit(".", 1)[-1] for e in (await resp.json())["events"]]
    assert stored == ["started"]  # completed came after the token expired: not even queued
    got = await (await client.get(f"{BASE}/{sub['id']}", headers=caller.headers)).json()
    assert got["status"] == "EXPIRED"
