"""CAMARA geofencing-subscriptions (v0.5, v0.4, v0.3): lifecycle, area events at cell level, CloudEvents at a sink."""

from __future__ import annotations

import copy
import hashlib
import hmac
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from openapi_schema_validator import OAS30Validator
from pytest_aiohttp import AiohttpClient, AiohttpServer

import gateway.services.camara.geofencing as geofencing_module
from gateway.core.settings import Settings
from gateway.http.app import create_app
from gateway.http.keys import CAMARA as CAMARA_SERVICES
from gateway.wire.camara.areas import Circle
from simulator.world import World
from tests.gateway.camara_helpers import (
    ENTERED,
    LEFT,
    Sink,
    camara_partner,
    cell_centre,
    ciba_token,
    circle,
    far_cell_circle,
    located,
    msisdn,
    start_sink,
)
from tests.gateway.camara_spec import CAMARA, assert_conforms, spec
from tests.gateway.conftest import ADMIN, Client, MakePartner, Wall, bearer

SPEC = "DeviceLocation_geofencing-subscriptions.yaml"
BASE = "/geofencing-subscriptions/v0.5/subscriptions"
HTTPS_SINK = "https://127.0.0.1:9/hook"  # spec-valid sink for conformance checks; nothing listens there
EVENT_SCHEMAS = {"area-entered": "EventAreaEntered", "area-left": "EventAreaLeft",
                 "subscription-started": "EventSubscriptionStarted", "subscription-ended": "EventSubscriptionEnded",
                 "subscription-updated": "EventSubscriptionUpdated"}


@pytest.fixture
def settings(tmp_path: Path, wall: Wall) -> Settings:
    return Settings(db_path=tmp_path / "opsim.db", admin_token="test-admin-token", wall_clock=wall, port=0,
                    webhook_backoff_base_s=0.02, webhook_backoff_max_s=0.1, webhook_poll_s=0.01,
                    webhook_timeout_s=0.5)


@pytest.fixture
async def sink(aiohttp_server: AiohttpServer) -> Sink:
    return await start_sink(aiohttp_server)


@cache
def _validator(name: str) -> OAS30Validator:
    document = yaml.safe_load((CAMARA / "specs" / SPEC).read_text())
    return OAS30Validator({"$ref": f"#/components/schemas/{name}", "components": document["components"]})


def check_cloud_event(record: dict[str, Any], secret: str, token: str | None) -> dict[str, Any]:
    """Required attributes, content type, bearer, signature, and the data schema of the event's type."""
    headers, body = record["headers"], record["body"]
    assert headers["Content-Type"] == "application/cloudevents+json"
    if token is not None:
        assert headers["Authorization"] == f"Bearer {token}"
    expected = "sha256=" + hmac.new(secret.encode(), record["raw"], hashlib.sha256).hexdigest()
    assert headers["X-Opsim-Signature"] == expected
    assert {"id", "source", "type", "specversion", "time", "data"} <= set(body)
    assert body["specversion"] == "1.0" and body["datacontenttype"] == "application/json"
    kind = str(body["type"]).rsplit(".", 1)[-1]
    spec(SPEC)  # skip when the definitions are absent
    errors = [e.message for e in _validator(EVENT_SCHEMAS[kind]).iter_errors(body)]
    assert not errors, errors
    return dict(body)


def request_body(sink: str, device: dict[str, Any] | None, area: dict[str, Any], event: str = ENTERED,
                 **config: Any) -> dict[str, Any]:
    detail: dict[str, Any] = {"area": area}
    if device is not None:
        detail["device"] = device
    return {"protocol": "HTTP", "sink": sink, "types": [event],
            "sinkCredential": {"credentialType": "ACCESSTOKEN", "accessToken": "sink-token",
                               "accessTokenExpiresUtc": "2030-01-01T00:00:00Z", "accessTokenType": "bearer"},
            "config": {"subscriptionDetail": detail, **config}}


async def pin(client: Client, number: str, area: dict[str, Any]) -> None:
    resp = await client.post(f"/admin/v1/subscribers/{quote(number)}/pin", headers=ADMIN,
                             json={"latitude": area["center"]["latitude"], "longitude": area["center"]["longitude"]})
    assert resp.status == 200, await resp.text()


async def secret_of(client: Client, token: str) -> str:
    return str((await (await client.get("/partner/v1/webhook-secret", headers=bearer(token))).json())["secret"])


async def test_enter_leave_max_events_and_cloud_events(client: Client, world: World, make_partner: MakePartner,
                                                       sink: Sink) -> None:
    """area-left and area-entered at cell level, subscription-started/-ended, every event a valid signed CloudEvent."""
    _, token = await camara_partner(client, make_partner)
    i = located(world)[0]
    number = msisdn(world, i)
    lat, lon, r = cell_centre(world, i)
    home, away = circle(lat, lon, r + 300), far_cell_circle(world, i)
    await pin(client, number, home)
    # geofencing_subscriptions_01_create_subscription_sync, _12 (area-left)
    resp = await client.post(BASE, json=request_body(sink.url, {"phoneNumber": number}, home, LEFT),
                             headers={**bearer(token), "x-correlator": "g-1"})
    assert resp.status == 201 and resp.headers["x-correlator"] == "g-1"
    left_sub = await resp.json()
    assert left_sub["status"] == "ACTIVE"
    await pin(client, number, away)
    # geofencing_subscriptions_09_subscription_ends_on_max_events, _11 (area-entered), _13 (initial event)
    resp = await client.post(BASE, json=request_body(sink.url, {"phoneNumber": number}, home, ENTERED,
                                                     subscriptionMaxEvents=1, initialEvent=True), headers=bearer(token))
    entered_sub = await resp.json()
    await pin(client, number, home)
    await sink.wait_for(5)
    secret = await secret_of(client, token)
    bodies = [check_cloud_event(r, secret, "sink-token") for r in sink.received]
    kinds = [(b["data"]["subscriptionId"], b["type"].rsplit(".", 1)[-1]) for b in bodies]
    a, b = left_sub["id"], entered_sub["id"]
    assert sorted(kinds) == sorted([(a, "subscription-started"), (a, "area-left"), (b, "subscription-started"),
                                    (b, "area-entered"), (b, "subscription-ended")]), kinds
    ended = next(e for e in bodies if e["type"].endswith("subscription-ended"))
    assert ended["data"]["terminationReason"] == "MAX_EVENTS_REACHED"
    assert len({e["id"] for e in bodies}) == len(bodies)
    for e in bodies:
        assert e["time"] == world.clock.now.isoformat().replace("+00:00", "Z")
    started = next(e for e in bodies if e["type"].endswith("subscription-started"))
    assert started["data"]["initiationReason"] == "SUBSCRIPTION_CREATED"
    # per subscription, events arrive in the order they were issued
    for sub in (a, b):
        ids = [e["id"] for e in bodies if e["data"]["subscriptionId"] == sub]
        assert ids == sorted(ids)
    got = await (await client.get(f"{BASE}/{b}", headers=bearer(token))).json()
    assert got["status"] == "EXPIRED"


async def test_three_legged_initial_event_and_delete(client: Client, world: World, make_partner: MakePartner,
                                                     sink: Sink) -> None:
    """A three-legged subscription (no device), an initial event, and subscription-ended on DELETE."""
    creds, _ = await camara_partner(client, make_partner)
    i = located(world)[0]
    lat, lon, r = cell_centre(world, i)
    home = circle(lat, lon, r + 300)
    token = await ciba_token(client, creds, msisdn(world, i),
                             f"openid dpv:FraudPreventionAndDetection geofencing-subscriptions:{ENTERED}:create "
                             "geofencing-subscriptions:delete geofencing-subscriptions:read")
    resp = await client.post(BASE, json=request_body(sink.url, None, home, initialEvent=True), headers=bearer(token))
    assert resp.status == 201, await resp.text()
    sub = await resp.json()
    assert "device" not in sub["config"]["subscriptionDetail"]
    # geofencing_subscriptions_07 and _10
    resp = await client.delete(f"{BASE}/{sub['id']}", headers=bearer(token))
    assert resp.status == 204
    await sink.wait_for(3)
    assert [e["type"].rsplit(".", 1)[-1] for e in sink.events()] == ["subscription-started", "area-entered",
                                                                      "subscription-ended"]
    assert sink.events("ended")[0]["data"]["terminationReason"] == "SUBSCRIPTION_DELETED"
    assert "device" not in sink.events("entered")[0]["data"]
    # geofencing_subscriptions_404.1 / 404.2: a deleted subscription is gone
    for method in ("GET", "DELETE"):
        resp = await client.request(method, f"{BASE}/{sub['id']}", headers=bearer(token))
        assert (resp.status, (await resp.json())["code"]) == (404, "NOT_FOUND")


async def test_expiry_in_simulated_time(client: Client, world: World, make_partner: MakePartner, sink: Sink) -> None:
    """geofencing_subscriptions_08_subscription_ends_on_expiry: subscriptionExpireTime is simulated time."""
    _, token = await camara_partner(client, make_partner)
    i = located(world)[0]
    lat, lon, r = cell_centre(world, i)
    expire = "2026-06-01T06:30:00Z"
    body = request_body(sink.url, {"phoneNumber": msisdn(world, i)}, circle(lat, lon, r), subscriptionExpireTime=expire)
    sub = await (await client.post(BASE, json=body, headers=bearer(token))).json()
    assert sub["expiresAt"] == expire
    await client.post("/admin/v1/clock/advance", json={"to": "2026-06-01T06:29:00Z"}, headers=ADMIN)
    assert (await (await client.get(f"{BASE}/{sub['id']}", headers=bearer(token))).json())["status"] == "ACTIVE"
    await client.post("/admin/v1/clock/advance", json={"to": "2026-06-01T06:31:00Z"}, headers=ADMIN)
    await sink.wait_for(2)
    ended = sink.events("subscription-ended")[-1]
    assert ended["data"]["terminationReason"] == "SUBSCRIPTION_EXPIRED"
    assert ended["time"] == expire


async def test_responses_conform(client: Client, world: World, make_partner: MakePartner) -> None:
    """Create, list, get, delete answers validate against the definition (with an https sink)."""
    api = spec(SPEC)
    _, token = await camara_partner(client, make_partner)
    # geofencing_subscriptions_04: no subscriptions yet
    resp = await client.get(BASE, headers=bearer(token))
    assert (resp.status, await resp.json()) == (200, [])
    i = located(world)[0]
    lat, lon, r = cell_centre(world, i)
    body = request_body(HTTPS_SINK, {"phoneNumber": msisdn(world, i), "ipv6Address": "2001:db8::1"},
                        circle(lat, lon, r), subscriptionMaxEvents=3, subscriptionExpireTime="2026-06-02T00:00:00Z")
    resp = await client.post(BASE, json=body, headers=bearer(token))
    created = await resp.json()
    assert_conforms(api, "POST", BASE, resp.status, created, body)
    assert created["config"]["subscriptionDetail"]["device"] == {"phoneNumber": msisdn(world, i)}
    # geofencing_subscriptions_05, _06
    resp = await client.get(BASE, headers=bearer(token))
    assert_conforms(api, "GET", BASE, resp.status, listed := await resp.json())
    assert [s["id"] for s in listed] == [created["id"]]
    resp = await client.get(f"{BASE}/{created['id']}", headers=bearer(token))
    assert_conforms(api, "GET", f"{BASE}/{created['id']}", resp.status, await resp.json())
    # another partner does not see it
    _, other = await camara_partner(client, make_partner, name="other")
    resp = await client.get(f"{BASE}/{created['id']}", headers=bearer(other))
    assert_conforms(api, "GET", f"{BASE}/{created['id']}", resp.status, await resp.json())
    assert resp.status == 404
    assert await (await client.get(BASE, headers=bearer(other))).json() == []


def _with(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``body`` with the dotted ``path`` set (``None`` removes it)."""
    out: dict[str, Any] = copy.deepcopy(body)
    node = out
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[key]
    if value is None:
        node.pop(keys[-1], None)
    else:
        node[keys[-1]] = value
    return out


GOOD = request_body(HTTPS_SINK, {"phoneNumber": "+4915100000000"}, circle(52.52, 13.405, 1000))


@pytest.mark.parametrize(("path", "value", "status", "code"), [
    # geofencing_subscriptions_400.1: not the schema
    ("config", None, 400, "INVALID_ARGUMENT"),
    ("config.subscriptionDetail.area.radius", 0, 400, "INVALID_ARGUMENT"),
    ("config.subscriptionDetail.area.center.latitude", -91, 400, "INVALID_ARGUMENT"),
    ("config.subscriptionMaxEvents", 0, 400, "INVALID_ARGUMENT"),
    ("config.initialEvent", "yes", 400, "INVALID_ARGUMENT"),
    # geofencing_subscriptions_C01.01_device_empty
    ("config.subscriptionDetail.device", {}, 400, "INVALID_ARGUMENT"),
    # geofencing_subscriptions_C01.02_device_identifiers_not_schema_compliant
    ("config.subscriptionDetail.device", {"phoneNumber": "abc"}, 400, "INVALID_ARGUMENT"),
    ("config.subscriptionDetail.device", {"ipv4Address": {"publicAddress": "300.1.1.1", "publicPort": 1}}, 400,
     "INVALID_ARGUMENT"),
    # geofencing_subscriptions_400.2_creation_of_subscription_with_expiry_time_in_past
    ("config.subscriptionExpireTime", "2020-01-01T00:00:00Z", 400, "INVALID_ARGUMENT"),
    ("config.subscriptionExpireTime", "2030-01-01T00:00:00", 400, "INVALID_ARGUMENT"),
    # geofencing_subscriptions_400.3_invalid_eventType
    ("types", ["org.camaraproject.geofencing-subscriptions.v0.area-crossed"], 400, "INVALID_ARGUMENT"),
    ("types", [], 400, "INVALID_ARGUMENT"),
    # geofencing_subscriptions_400.4_invalid_protocol
    ("protocol", "MQTT3", 400, "INVALID_PROTOCOL"),
    # geofencing_subscriptions_400.5_invalid_credential
    ("sinkCredential", {"credentialType": "PLAIN", "identifier": "a", "secret": "b"}, 400, "INVALID_CREDENTIAL"),
    # geofencing_subscriptions_400.6_create_subscriptions_with_invalid_access_token_type
    ("sinkCredential.accessTokenType", "mac", 400, "INVALID_TOKEN"),
    # Commonalities event-subscription template: a sink access token already expired (simulated time) is refused
    ("sinkCredential.accessTokenExpiresUtc", "2026-06-01T05:00:00Z", 400, "INVALID_CREDENTIAL"),
    # geofencing_subscriptions_400.7_invalid_url: bad sinks
    ("sink", "ftp://example.com/x", 400, "INVALID_SINK"),
    ("sink", "http://example.com/x", 400, "INVALID_SINK"),
    ("sink", "not a url", 400, "INVALID_SINK"),
    ("sink", "https://", 400, "INVALID_SINK"),
    # geofencing_subscriptions_422.3_create_with_unsupported_multiple_event_type
    ("types", [ENTERED, LEFT], 422, "MULTIEVENT_SUBSCRIPTION_NOT_SUPPORTED"),
    # geofencing_subscriptions_422.2_create_with_an_invalid_area
    ("config.subscriptionDetail.area.radius", 20, 422, "GEOFENCING_SUBSCRIPTIONS.INVALID_AREA"),
    # geofencing_subscriptions_422.1_create_with_an_unsupported_area
    ("config.subscriptionDetail.area.center", {"latitude": 0, "longitude": 0}, 422,
     "GEOFENCING_SUBSCRIPTIONS.AREA_NOT_COVERED"),
    # geofencing_subscriptions_C01.05_missing_device
    ("config.subscriptionDetail.device", None, 422, "MISSING_IDENTIFIER"),
    # geofencing_subscriptions_C01.06_unsupported_device
    ("config.subscriptionDetail.device", {"networkAccessIdentifier": "123@example.org"}, 422,
     "UNSUPPORTED_IDENTIFIER"),
    # geofencing_subscriptions_C01.03_device_not_found
    ("config.subscriptionDetail.device", {"phoneNumber": "+99912345678"}, 404, "IDENTIFIER_NOT_FOUND"),
])
async def test_create_bad_input(client: Client, world: World, make_partner: MakePartner, path: str, value: Any,
                                status: int, code: str) -> None:
    _, token = await camara_partner(client, make_partner)
    body = _with(GOOD, "config.subscriptionDetail.device", {"phoneNumber": msisdn(world, located(world)[0])})
    resp = await client.post(BASE, json=_with(body, path, value), headers=bearer(token))
    answer = await resp.json()
    assert (resp.status, answer["code"]) == (status, code), answer
    if status != 404:  # the definition documents no 404 for creation; the test plan expects it
        assert_conforms(spec(SPEC), "POST", BASE, resp.status, answer)


async def test_scopes_and_token_kinds(client: Client, world: World, make_partner: MakePartner) -> None:
    """The create scope is per event type; v0.3 refuses three-legged tokens; a foreign token is 401."""
    _creds, token = await camara_partner(client, make_partner, scopes=(f"geofencing-subscriptions:{LEFT}:create",))
    body = _with(GOOD, "config.subscriptionDetail.device", {"phoneNumber": msisdn(world, located(world)[0])})
    resp = await client.post(BASE, json=body, headers=bearer(token))
    assert (resp.status, (await resp.json())["code"]) == (403, "PERMISSION_DENIED")
    # geofencing_subscriptions_400.10_invalid_access_token_for_create_subscription
    resp = await client.post(BASE, json=body, headers=bearer("opsim_at_bogus"))
    assert (resp.status, (await resp.json())["code"]) == (401, "UNAUTHENTICATED")
    # geofencing_subscriptions_401.3 / 401.4: no token on delete and get
    for method in ("GET", "DELETE"):
        resp = await client.request(method, f"{BASE}/gfs_000001")
        assert resp.status == 401
    full, _ = await camara_partner(client, make_partner, name="full")
    i = located(world)[0]
    three = await ciba_token(client, full, msisdn(world, i),
                             f"openid dpv:FraudPreventionAndDetection geofencing-subscriptions:{ENTERED}:create")
    resp = await client.post("/geofencing-subscriptions/v0.3/subscriptions",
                             json=_with(body, "config.subscriptionDetail.device", None), headers=bearer(three))
    assert (resp.status, (await resp.json())["code"]) == (403, "PERMISSION_DENIED")
    # geofencing_subscriptions_C01.04_unnecessary_device
    resp = await client.post(BASE, json=body, headers=bearer(three))
    assert (resp.status, (await resp.json())["code"]) == (422, "UNNECESSARY_IDENTIFIER")


async def test_v03_sends_no_started_event(client: Client, world: World, make_partner: MakePartner,
                                          sink: Sink) -> None:
    """v0.3: no subscription-started, initialEvent ignored; area events and subscription-ended as in v0.5."""
    _, token = await camara_partner(client, make_partner)
    i = located(world)[0]
    number = msisdn(world, i)
    lat, lon, r = cell_centre(world, i)
    home = circle(lat, lon, r + 300)
    await pin(client, number, home)
    base = "/geofencing-subscriptions/v0.3/subscriptions"
    resp = await client.post(base, json=request_body(sink.url, {"phoneNumber": number}, home, LEFT,
                                                     initialEvent=True), headers=bearer(token))
    sub = await resp.json()
    await pin(client, number, far_cell_circle(world, i))
    await client.delete(f"{base}/{sub['id']}", headers=bearer(token))
    await sink.wait_for(2)
    assert [e["type"].rsplit(".", 1)[-1] for e in sink.events()] == ["area-left", "subscription-ended"]
    assert sink.events()[0]["source"] == "/geofencing-subscriptions/v0.3"
    assert (await client.get(base, headers=bearer(token))).status == 200
    resp = await client.get(f"{BASE}/{sub['id']}", headers=bearer(token))
    assert resp.status == 404  # subscriptions live under the version they were created with


async def test_sink_token_expiry_ends_the_subscription(client: Client, world: World, make_partner: MakePartner,
                                                      sink: Sink) -> None:
    """accessTokenExpiresUtc is simulated time: the subscription ends then (ACCESS_TOKEN_EXPIRED, status EXPIRED)."""
    _, token = await camara_partner(client, make_partner)
    i = located(world)[0]
    lat, lon, r = cell_centre(world, i)
    body = request_body(sink.url, {"phoneNumber": msisdn(world, i)}, circle(lat, lon, r),
                        subscriptionExpireTime="2026-06-01T08:00:00Z")
    body["sinkCredential"]["accessTokenExpiresUtc"] = expires = "2026-06-01T06:30:00Z"
    sub = await (await client.post(BASE, json=body, headers=bearer(token))).json()
    await client.post("/admin/v1/clock/advance", json={"to": "2026-06-01T06:29:00Z"}, headers=ADMIN)
    assert (await (await client.get(f"{BASE}/{sub['id']}", headers=bearer(token))).json())["status"] == "ACTIVE"
    await client.post("/admin/v1/clock/advance", json={"to": "2026-06-01T09:00:00Z"}, headers=ADMIN)
    await sink.wait_for(2)
    secret = await secret_of(client, token)
    ended = [check_cloud_event(r, secret, "sink-token") for r in sink.received
             if r["body"]["type"].endswith("subscription-ended")]
    assert [(e["data"]["terminationReason"], e["time"]) for e in ended] == [("ACCESS_TOKEN_EXPIRED", expires)]
    assert (await (await client.get(f"{BASE}/{sub['id']}", headers=bearer(token))).json())["status"] == "EXPIRED"


async def test_consent_withdrawal_makes_the_subscription_inactive(client: Client, world: World,
                                                                  make_partner: MakePartner, sink: Sink) -> None:
    """subscription-updated: INACTIVE while location consent is withdrawn (no area events), ACTIVE when regranted."""
    api = spec(SPEC)
    _, token = await camara_partner(client, make_partner)
    i = located(world)[0]
    number = msisdn(world, i)
    lat, lon, r = cell_centre(world, i)
    home, away = circle(lat, lon, r + 300), far_cell_circle(world, i)
    await pin(client, number, home)
    sub = await (await client.post(BASE, json=request_body(sink.url, {"phoneNumber": number}, home, LEFT),
                                   headers=bearer(token))).json()
    consent = f"/admin/v1/subscribers/{quote(number)}/consent"
    resp = await client.put(consent, json={"purpose": "LOCATION_SHARING", "granted": False}, headers=ADMIN)
    assert resp.status == 200, await resp.text()
    resp = await client.get(f"{BASE}/{sub['id']}", headers=bearer(token))
    got = await resp.json()
    assert got["status"] == "INACTIVE"
    assert_conforms(api, "GET", f"{BASE}/{sub['id']}", resp.status, {**got, "sink": HTTPS_SINK})  # https in specs
    await pin(client, number, away)  # left the area while inactive: no area-left
    await client.put(consent, json={"purpose": "LOCATION_SHARING", "granted": True}, headers=ADMIN)
    assert (await (await client.get(f"{BASE}/{sub['id']}", headers=bearer(token))).json())["status"] == "ACTIVE"
    await pin(client, number, home)  # back inside: still no event for an area-left subscription
    await pin(client, number, away)  # leaves again while active: area-left
    await sink.wait_for(4)
    secret = await secret_of(client, token)
    bodies = [check_cloud_event(r, secret, "sink-token") for r in sink.received]
    kinds = [(b["type"].rsplit(".", 1)[-1], b["data"].get("updateReason")) for b in bodies]
    assert kinds == [("subscription-started", None), ("subscription-updated", "SUBSCRIPTION_INACTIVE"),
                     ("subscription-updated", "SUBSCRIPTION_ACTIVE"), ("area-left", None)]


async def test_the_cells_cache_of_circles_is_bounded(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Partners choose the circles: however many distinct ones are asked, the cache keeps at most its cap."""
    monkeypatch.setattr(geofencing_module, "CELLS_CACHE", 8)
    service = client.app[CAMARA_SERVICES].geofencing
    for k in range(30):
        circle = Circle.model_validate({"areaType": "CIRCLE", "center": {"latitude": 52.52 + k * 1e-4,
                                                                        "longitude": 13.405}, "radius": 1000})
        assert service.cells_of(circle)
    assert len(service._cells) == 8


async def test_the_default_cells_cache_is_full_within_a_few_hundred_circles(client: Client) -> None:
    """However many distinct circles partners watch, at most a few hundred cell sets are held (1,024 before)."""
    service = client.app[CAMARA_SERVICES].geofencing
    for k in range(400):
        circle = Circle.model_validate({"areaType": "CIRCLE", "center": {"latitude": 52.52 + k * 1e-5,
                                                                        "longitude": 13.405}, "radius": 1000})
        service.cells_of(circle)
    assert len(service._cells) <= 256


async def test_deleted_subscriptions_are_not_held(client: Client, world: World, make_partner: MakePartner,
                                                  sink: Sink, aiohttp_client: AiohttpClient, fresh_world: Any,
                                                  settings: Settings) -> None:
    """Creating and deleting subscriptions over and over leaves only the live ones in the service's memory, also
    after a restart."""
    _, token = await camara_partner(client, make_partner)
    service = client.app[CAMARA_SERVICES].geofencing
    i = located(world)[0]
    lat, lon, r = cell_centre(world, i)
    ids = []
    for k in range(12):
        body = request_body(sink.url, {"phoneNumber": msisdn(world, i)}, circle(lat, lon, r + 300 + k))
        resp = await client.post(BASE, json=body, headers=bearer(token))
        assert resp.status == 201, await resp.text()
        ids.append((await resp.json())["id"])
    for sub_id in ids[:10]:
        assert (await client.delete(f"{BASE}/{sub_id}", headers=bearer(token))).status == 204
    assert sorted(service._all) == sorted(ids[10:])  # all twelve were kept before
    listed = await (await client.get(BASE, headers=bearer(token))).json()
    assert [s["id"] for s in listed] == ids[10:]
    assert (await client.get(f"{BASE}/{ids[0]}", headers=bearer(token))).status == 404
    await client.close()
    again = await aiohttp_client(create_app(fresh_world(), settings))
    assert sorted(again.app[CAMARA_SERVICES].geofencing._all) == sorted(ids[10:])  # all twelve were loaded before
    listed = await (await again.get(BASE, headers=bearer(token))).json()
    assert [s["id"] for s in listed] == ids[10:]
    assert (await again.get(f"{BASE}/{ids[0]}", headers=bearer(token))).status == 404
