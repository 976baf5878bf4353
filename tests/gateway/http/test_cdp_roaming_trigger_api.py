"""ARRIVED_FROM_ROAMING through ``/cdp/v1/triggers``: composed with the world's roamer arrivals and the simulated
installs of a travel app, and its bad rules as 400s naming the field."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient, AiohttpServer

from gateway.client import AdminClient, PartnerClient
from gateway.core.settings import Settings
from gateway.http.app import create_app
from gateway.http.keys import WEBHOOKS
from simulator.world import World
from tests.gateway.conftest import ADMIN, ADMIN_TOKEN, bearer, fetch_token
from tests.gateway.conftest import PartnerCreds as Creds

SCOPES = ["cdp:read", "cdp:write", "apps:read", "apps:write"]
HOOK = {"type": "WEBHOOK", "sink": "https://partner.example/cdp"}


async def test_visitors_landing_with_the_travel_app_fire(aiohttp_server: AiohttpServer, world: World,
                                                         settings: Settings) -> None:
    """Composed: over two simulated days the world's visitors who land with the partner's travel app and location
    allowed in it fire, each webhook naming the user and the home country (a foreign one) only."""
    server = await aiohttp_server(create_app(world, settings))
    url = str(server.make_url("")).rstrip("/")
    async with AdminClient(url, ADMIN_TOKEN) as admin:
        created = await admin.create_partner("acme", SCOPES)
        async with PartnerClient(url, created.client_id, created.client_secret) as partner:
            _, raw = await partner.send("POST", "/apps/v1/apps", json={
                "name": "Trips", "platforms": ["ANDROID", "IOS"], "categories": ["TRAVEL"], "popularity": 0.9})
            app_id = json.loads(raw)["id"]
            trigger = await partner.create_trigger({"name": "Welcome to town", "steps": [{"action": HOOK}],
                                                    "rule": {"kind": "ARRIVED_FROM_ROAMING", "appId": app_id}})
            assert trigger.rule.kind == "ARRIVED_FROM_ROAMING"
            await admin.advance(timedelta(days=2))
            fires = await partner.trigger_fires(trigger.id)
            assert fires and all(f.status == "SENT" and (f.user_id or "").startswith("u_") for f in fires)
    events = server.app[WEBHOOKS].outbox.events(subscription_id=trigger.id)
    assert len(events) == len(fires)
    home = world.city.country.code
    for event in events:
        data = json.loads(event.body)["data"]
        assert set(data) == {"triggerId", "triggerName", "rule", "step", "userId", "homeCountry"}
        assert data["homeCountry"] != home and len(data["homeCountry"]) == 2


@pytest.mark.parametrize(("rule", "field"), [
    # a lower-case country code
    ({"kind": "ARRIVED_FROM_ROAMING", "appId": "app_000001", "fromCountries": ["de"]},
     "body.rule.ARRIVED_FROM_ROAMING.fromCountries"),
    # an empty restriction (omit the field to take every country)
    ({"kind": "ARRIVED_FROM_ROAMING", "appId": "app_000001", "fromCountries": []},
     "body.rule.ARRIVED_FROM_ROAMING.fromCountries"),
    # no app
    ({"kind": "ARRIVED_FROM_ROAMING"}, "body.rule.ARRIVED_FROM_ROAMING.appId"),
    # an app the partner does not have
    ({"kind": "ARRIVED_FROM_ROAMING", "appId": "app_999999"}, "body.rule.appId"),
    # an unknown field
    ({"kind": "ARRIVED_FROM_ROAMING", "appId": "app_000001", "msisdn": "+4917012345678"},
     "body.rule.ARRIVED_FROM_ROAMING.msisdn"),
])
async def test_bad_arrival_rules_are_400_naming_the_field(aiohttp_client: AiohttpClient, world: World,
                                                          settings: Settings, rule: dict[str, Any],
                                                          field: str) -> None:
    """A malformed arrival rule is a 400 in the error shape naming the field; nothing is stored."""
    client = await aiohttp_client(create_app(world, settings))
    resp = await client.post("/admin/v1/partners", json={"name": "acme", "scopes": SCOPES}, headers=ADMIN)
    body = await resp.json()
    token = await fetch_token(client, Creds(body["id"], body["clientId"], body["clientSecret"]))
    resp = await client.post("/cdp/v1/triggers", json={"name": "t", "rule": rule, "steps": [{"action": HOOK}]},
                             headers=bearer(token))
    assert resp.status == 400
    err = await resp.json()
    assert err["code"] == "INVALID_ARGUMENT" and err["status"] == 400
    assert any(d["field"].startswith(field) for d in err["details"]), err
    assert (await (await client.get("/cdp/v1/triggers", headers=bearer(token))).json()) == {"triggers": []}
