"""Journey event subscriptions: a partner's journeys as signed CloudEvents with aggregates at its own sink."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from typing import Any

from pytest_aiohttp import AiohttpClient, AiohttpServer

from gateway.core.settings import CampaignSettings, Settings
from gateway.http.app import create_app
from tests.gateway.camara_helpers import start_sink
from tests.gateway.conftest import ADMIN, bearer
from tests.gateway.http.test_journeys import PATH, advance, create, journey, new_partner, step
from tests.gateway.http.test_messages import phone

BASE = "/journeys/v1/subscriptions"


async def test_journey_events_reach_the_sink_once(aiohttp_client: AiohttpClient, aiohttp_server: AiohttpServer,
                                                  fresh_world: Any, settings: Settings) -> None:
    """started, hourly reports, completed and cancelled arrive signed at a real receiver, with aggregates and
    never a number; a restart does not send them again, and events go on after it."""
    sink = await start_sink(aiohttp_server)
    settings = dataclasses.replace(settings, campaigns=CampaignSettings(privacy_threshold=1))
    client = await aiohttp_client(create_app(fresh_world(), settings))
    p = await new_partner(client)
    resp = await client.post(BASE, headers=bearer(p.token), json={
        "sink": sink.url, "sinkCredential": {"credentialType": "ACCESSTOKEN", "accessToken": "tok",
                                             "accessTokenExpiresUtc": "2030-01-01T00:00:00Z",
                                             "accessTokenType": "bearer"}})
    assert resp.status == 201, await resp.text()
    sub = await resp.json()
    assert sub["id"].startswith("jns_") and sub["status"] == "ACTIVE" and len(sub["types"]) == 4
    listed = await (await client.get(BASE, headers=bearer(p.token))).json()
    assert [s["id"] for s in listed["subscriptions"]] == [sub["id"]]
    end = "2026-06-01T08:30:00Z"
    kept = await create(client, p.token, journey({"type": "SUBSCRIBER_JOINED"}, [
        step("Hello"), step("Tips", delaySeconds=1800)], stop={"endTime": end}))
    dropped = await create(client, p.token, journey({"type": "SUBSCRIBER_JOINED"}, [step("Hi")]))
    await advance(client, 60)
    number = await phone(client, "+491701100040")
    await advance(client, 120)
    assert (await client.delete(f"{PATH}/{dropped['id']}", headers=bearer(p.token))).status == 200
    await advance(client, 3600)  # 07:03: the hour 06:00 is reported
    await sink.wait_for(5)
    types = [e["type"].rsplit(".v1.", 1)[1] for e in sink.events()]
    assert types == ["journey.started", "journey.started", "journey.report.hourly", "journey.cancelled",
                     "journey.report.hourly"]
    cut, hourly = (e["data"] for e in sink.events("journey.report.hourly"))
    # the cancelled journey's hour cut short is reported at the cancellation, before journey.cancelled
    assert cut["journeyId"] == dropped["id"] and cut["hour"] == "2026-06-01T06:00:00Z"
    assert sink.events("journey.report.hourly")[0]["time"] == "2026-06-01T06:03:00Z"
    assert hourly["journeyId"] == kept["id"] and hourly["hour"] == "2026-06-01T06:00:00Z"
    assert hourly["recipients"] == 1 and hourly["steps"][0]["sent"] == 1 and hourly["steps"][1]["sent"] == 1
    secret = (await (await client.get("/partner/v1/webhook-secret", headers=bearer(p.token))).json())["secret"]
    for record in sink.received:
        assert record["headers"]["Authorization"] == "Bearer tok"
        assert record["headers"]["X-Opsim-Signature"] == "sha256=" + hmac.new(
            secret.encode(), record["raw"], hashlib.sha256).hexdigest()
        assert record["body"]["source"] == "/journeys/v1" and record["body"]["data"]["subscriptionId"] == sub["id"]
        assert number.lstrip("+") not in record["raw"].decode() and "msisdn" not in record["raw"].decode()
    stored = await client.get("/admin/v1/webhooks/events", params={"subscriptionId": sub["id"]}, headers=ADMIN)
    before = [e["eventId"] for e in (await stored.json())["events"]]
    await client.close()

    client = await aiohttp_client(create_app(fresh_world(), settings))  # restart: the replay emits nothing
    stored = await client.get("/admin/v1/webhooks/events", params={"subscriptionId": sub["id"]}, headers=ADMIN)
    assert [e["eventId"] for e in (await stored.json())["events"]] == before
    await advance(client, 2 * 3600)  # 09:03: the hours 07:00 and 08:00 (to the end at 08:30), then completed
    await sink.wait_for(8)
    later = sink.events()[5:]
    assert [e["type"].rsplit(".v1.", 1)[1] for e in later] == ["journey.report.hourly", "journey.report.hourly",
                                                                "journey.completed"]
    assert [(e["data"]["hour"], e["time"]) for e in later[:2]] == [("2026-06-01T07:00:00Z", "2026-06-01T08:00:00Z"),
                                                                   ("2026-06-01T08:00:00Z", "2026-06-01T08:30:00Z")]
    assert later[2]["data"]["status"] == "COMPLETED" and later[2]["data"]["steps"][1]["sent"] == 1
    assert len({e["id"] for e in sink.events()}) == len(sink.events()) == 8
    assert json.dumps(later).count("+49") == 0


async def test_subscription_types_filter_and_bad_input(aiohttp_client: AiohttpClient, aiohttp_server: AiohttpServer,
                                                       fresh_world: Any, settings: Settings) -> None:
    """Only the subscribed types are sent; another partner's subscription is 404; bad bodies are refused."""
    sink = await start_sink(aiohttp_server)
    client = await aiohttp_client(create_app(fresh_world(), settings))
    p, other = await new_partner(client), await new_partner(client, "other")
    sub = await (await client.post(BASE, headers=bearer(p.token), json={
        "sink": sink.url, "types": ["journey.cancelled"]})).json()
    assert (await client.get(f"{BASE}/{sub['id']}", headers=bearer(other.token))).status == 404
    body = await create(client, p.token, journey({"type": "SUBSCRIBER_JOINED"}, [step()]))
    await advance(client, 60 * 90)
    assert sink.events() == []
    await client.delete(f"{PATH}/{body['id']}", headers=bearer(p.token))
    await advance(client, 60)
    await sink.wait_for(1)
    assert [e["type"] for e in sink.events()] == ["org.opsim.journeys.v1.journey.cancelled"]
    assert sink.events()[0]["data"]["recipients"] in (0, None)  # aggregates under the privacy threshold
    for bad, code in (({"sink": "http://example.com/x"}, "INVALID_SINK"),
                      ({"sink": sink.url, "types": ["campaign.started"]}, "INVALID_ARGUMENT"),
                      ({"sink": sink.url, "types": []}, "INVALID_ARGUMENT"),
                      ({"sink": sink.url, "colour": "red"}, "INVALID_ARGUMENT")):
        resp = await client.post(BASE, headers=bearer(p.token), json=bad)
        assert (resp.status, (await resp.json())["code"]) == (400, code)
    assert (await client.delete(f"{BASE}/{sub['id']}", headers=bearer(p.token))).status == 204
    assert (await client.get(f"{BASE}/{sub['id']}", headers=bearer(p.token))).status == 404
