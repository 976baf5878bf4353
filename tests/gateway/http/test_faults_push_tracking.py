"""Fault injection on the push server (FCM send, Instance ID topics) and the tracking API: the caller is the partner
its credential or write key names, injected errors are in each route's own error model and store nothing, and the
genuine FCM ``UNAVAILABLE`` while the world is being restored."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import requests
from aiohttp.test_utils import TestServer
from pyfcm import FCMNotification
from pyfcm.errors import FCMServerError
from urllib3 import Retry

from gateway.core.settings import epoch_seconds
from gateway.http.keys import CONTROL, STORE
from simulator.world import World
from tests.gateway.conftest import ADMIN, Client, MakePartner, Wall, bearer, fetch_token
from tests.gateway.http.test_apps_push import MSG, fcm_error, installs, push_rows, reachable_install, register
from tests.gateway.http.test_cdp_tracking import basic, new_source, profile
from tests.gateway.http.test_faults import add_profile
from tests.gateway.http.test_openapi import _conformance
from tests.gateway.http.test_service_accounts import google_credentials, key_file

SCOPES = ("apps:read", "apps:write", "push:send", "cdp:read", "cdp:write")
SEND = "/v1/projects/*"
TRACK = {"userId": "u1", "event": "Order Completed"}


@pytest.fixture
def client(fault_client: Client) -> Client:
    """The gateway with its injected latency recorded in ``slept`` (see tests/gateway/conftest.py)."""
    return fault_client


class Setup:
    """A partner with a registered app, a reachable install's registration token and a tracking source."""

    def __init__(self, partner: str, token: str, app: str, target: dict[str, Any], write_key: str) -> None:
        self.partner, self.token, self.app, self.target, self.write_key = partner, token, app, target, write_key

    async def send(self, client: Client, headers: dict[str, str] | None = None) -> Any:
        body = {"message": {**MSG, "token": self.target["registrationToken"]}}
        return await client.post(f"/v1/projects/{self.app}/messages:send", json=body,
                                 headers=bearer(self.token) if headers is None else headers)


async def setup(client: Client, make_partner: MakePartner, world: World, name: str = "acme") -> Setup:
    creds = await make_partner(name, SCOPES)
    token = await fetch_token(client, creds)
    app = await register(client, token)
    target = reachable_install(world, await installs(client, app["id"]))
    source = await new_source(client, token)
    return Setup(creds.id, token, app["id"], target, source["writeKey"])


def topic_rows(client: Client) -> int:
    return int(client.app[STORE].conn.execute("SELECT count(*) FROM app_topics").fetchone()[0])


def inbox_size(world: World, setup: Setup) -> int:
    return len(world.inbox(world.find_subscriber(setup.target["phoneNumber"])))


@pytest.mark.parametrize(("status", "google", "code"), [
    (503, "UNAVAILABLE", "UNAVAILABLE"),  # overloaded: the client backs off and retries
    (500, "INTERNAL", "INTERNAL"),  # an internal error
    (502, "UNAVAILABLE", "UNAVAILABLE"),  # a bad upstream answer reads as unavailable
    (504, "DEADLINE_EXCEEDED", None),  # timed out upstream: a Google status without an FCM error code
])
async def test_fcm_send_fault_in_fcm_shape_and_nothing_stored(client: Client, make_partner: MakePartner,
                                                              world: World, status: int, google: str,
                                                              code: str | None) -> None:
    """An error fault on the FCM send answers FCM's error model; no push row, nothing in the device's inbox."""
    acme = await setup(client, make_partner, world)
    rows, inbox = push_rows(client), inbox_size(world, acme)
    await add_profile(client, {"name": "fcm-down", "partner": acme.partner,
                               "http": {"routes": [SEND], "errors": [{"status": status, "probability": 1}]}})
    resp = await acme.send(client)
    assert resp.status == status
    assert fcm_error(await resp.json()) == (status, google, code)
    assert resp.headers["x-opsim-fault"] == "fcm-down"
    assert (push_rows(client), inbox_size(world, acme)) == (rows, inbox)


async def test_fcm_send_429_quota_exceeded_with_retry_after(client: Client, make_partner: MakePartner,
                                                            world: World) -> None:
    """A 429 fault is FCM's RESOURCE_EXHAUSTED / QUOTA_EXCEEDED with the profile's Retry-After."""
    acme = await setup(client, make_partner, world)
    rows = push_rows(client)
    await add_profile(client, {"name": "quota", "http": {"routes": [SEND], "errors": [
        {"status": 429, "probability": 1, "retryAfterS": 9}]}})
    resp = await acme.send(client)
    assert resp.status == 429
    assert fcm_error(await resp.json()) == (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED")
    assert resp.headers["Retry-After"] == "9"
    assert push_rows(client) == rows


async def test_fcm_send_drop_and_latency(client: Client, make_partner: MakePartner, world: World,
                                         slept: list[float]) -> None:
    """A drop fault closes an FCM send's connection without an answer or a push; latency delays a served send."""
    acme = await setup(client, make_partner, world)
    rows = push_rows(client)
    await add_profile(client, {"name": "cut", "http": {"routes": [SEND], "dropProbability": 1.0}})
    server = client.server
    assert isinstance(server, TestServer) and server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    body = b'{"message": {"token": "x"}}'
    writer.write(f"POST /v1/projects/{acme.app}/messages:send HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                 f"{acme.token}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                 + body)
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    assert push_rows(client) == rows
    assert (await client.delete("/admin/v1/faults/cut", headers=ADMIN)).status == 204
    await add_profile(client, {"name": "slow", "http": {"routes": [SEND], "latency": {"distribution": "fixed",
                                                                                      "ms": 300}}})
    assert (await acme.send(client)).status == 200
    assert slept == [0.3] and push_rows(client) == rows + 1


async def test_fcm_faults_follow_the_credential(client: Client, make_partner: MakePartner, world: World) -> None:
    """The partner is the one of the bearer token, API key or legacy key=; another partner and an unauthenticated
    send are untouched (the latter gets FCM's 401); the metrics count the faults on the route."""
    acme = await setup(client, make_partner, world)
    other = await setup(client, make_partner, world, "other")
    resp = await client.post(f"/admin/v1/partners/{acme.partner}/api-keys", headers=ADMIN)
    assert resp.status == 201, await resp.text()
    api_key = (await resp.json())["key"]
    await add_profile(client, {"name": "acme-down", "partner": acme.partner,
                               "http": {"errors": [{"status": 503, "probability": 1}]}})
    for headers in ({"x-api-key": api_key}, {"Authorization": f"key={api_key}"}):
        assert (await acme.send(client, headers)).status == 503
    assert (await other.send(client)).status == 200
    resp = await acme.send(client, {"Authorization": "Bearer nope"})
    assert resp.status == 401 and fcm_error(await resp.json())[1] == "UNAUTHENTICATED"
    text = await (await client.get("/metrics")).text()
    assert 'opsim_faults_injected_total{kind="error_503",route="/v1/projects/{projectId}/messages:send"} 2.0' in text


async def test_pyfcm_sees_the_injected_error(client: Client, make_partner: MakePartner, wall: Wall,
                                             world: World) -> None:
    """PyFCM pointed at the gateway raises its server error on an injected 500, retries an injected 503 as it
    retries FCM's, and gets through once the profile is gone; nothing is stored meanwhile."""
    wall.now = epoch_seconds()  # google-auth signs with the real clock
    acme = await setup(client, make_partner, world)
    file = await key_file(client, acme.partner, project_id=acme.app)
    fcm = FCMNotification(credentials=google_credentials(file),
                          adapter=requests.adapters.HTTPAdapter(max_retries=Retry(
                              total=2, backoff_factor=0, status_forcelist=[503], raise_on_status=False,
                              allowed_methods=frozenset(["POST"]))))  # PyFCM's retries, without its back-off
    fcm.FCM_END_POINT_BASE = str(client.make_url("/v1/projects"))
    rows = push_rows(client)

    def notify() -> dict[str, Any]:
        answer: dict[str, Any] = fcm.notify(fcm_token=acme.target["registrationToken"], notification_title="Sale",
                                            notification_body="20% off today")
        return answer

    for status, attempts in ((500, 1), (503, 3)):
        await add_profile(client, {"name": f"down-{status}", "http": {
            "routes": [SEND], "errors": [{"status": status, "probability": 1}]}})
        with pytest.raises(FCMServerError):
            await asyncio.to_thread(notify)
        view = await (await client.get(f"/admin/v1/faults/down-{status}", headers=ADMIN)).json()
        assert view["injected"] == attempts
        assert (await client.delete(f"/admin/v1/faults/down-{status}", headers=ADMIN)).status == 204
    assert push_rows(client) == rows
    assert (await asyncio.to_thread(notify))["name"].startswith(f"projects/{acme.app}/messages/psh_")


@pytest.mark.parametrize(("status", "error"), [
    (503, "UNAVAILABLE"),  # the Google status name, as the Instance ID API answers
    (500, "INTERNAL"),  # likewise
    (429, "QUOTA_EXCEEDED"),  # a quota error names FCM's code, as the rate limit does
])
async def test_instance_id_fault_in_its_shape(client: Client, make_partner: MakePartner, world: World,
                                              status: int, error: str) -> None:
    """An error fault on the Instance ID topic routes answers {"error": "<reason>"}; no one is subscribed."""
    acme = await setup(client, make_partner, world)
    await add_profile(client, {"name": "iid-down", "http": {"routes": ["/iid/*"], "errors": [
        {"status": status, "probability": 1}]}})
    body = {"to": "/topics/sale", "registration_tokens": [acme.target["registrationToken"]]}
    resp = await client.post("/iid/v1:batchAdd", json=body, headers=bearer(acme.token))
    assert (resp.status, await resp.json()) == (status, {"error": error})
    assert ("Retry-After" in resp.headers) == (status == 429)
    resp = await client.post(f"/iid/v1/{acme.target['registrationToken']}/rel/topics/sale",
                             headers={"Authorization": "Bearer nope"})
    assert (resp.status, await resp.json()) == (401, {"error": "UNAUTHENTICATED"})  # no credential: no fault
    assert topic_rows(client) == 0
    assert (await client.delete("/admin/v1/faults/iid-down", headers=ADMIN)).status == 204
    resp = await client.post("/iid/v1:batchAdd", json=body, headers=bearer(acme.token))
    assert (resp.status, await resp.json()) == (200, {"results": [{}]})
    assert topic_rows(client) == 1


@pytest.mark.parametrize(("status", "code"), [
    (503, "UNAVAILABLE"),  # down for maintenance
    (500, "INTERNAL"),  # a crash
    (429, "TOO_MANY_REQUESTS"),  # throttled, with Retry-After
])
async def test_tracking_fault_in_its_shape_and_nothing_stored(client: Client, make_partner: MakePartner,
                                                              world: World, status: int, code: str) -> None:
    """A tracking call (write key as Basic user or in the body) gets the injected error in the gateway's shape;
    its events are not stored; another partner's source and an unknown write key are untouched."""
    acme = await setup(client, make_partner, world)
    other = await setup(client, make_partner, world, "other")
    await add_profile(client, {"name": "cdp-down", "partner": acme.partner, "http": {
        "routes": ["/v1/track", "/v1/batch"], "errors": [{"status": status, "probability": 1}]}})
    resp = await client.post("/v1/track", json=TRACK, headers={**basic(acme.write_key), "x-correlator": "c-1"})
    assert resp.status == status
    body = await resp.json()
    assert body == {"status": status, "code": code, "message": body["message"]}
    assert resp.headers["x-correlator"] == "c-1" and resp.headers["x-opsim-fault"] == "cdp-down"
    assert ("Retry-After" in resp.headers) == (status == 429)
    resp = await client.post("/v1/batch", json={"writeKey": acme.write_key, "batch": [{"type": "track", **TRACK}]})
    assert resp.status == status
    await profile(client, acme.token, "u1", status=404)
    assert (await client.post("/v1/track", json=TRACK, headers=basic("nope"))).status == 401
    assert (await client.post("/v1/track", json=TRACK, headers=basic(other.write_key))).status == 200
    await profile(client, other.token, "u1")


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_injected_answers_are_documented(client: Client, make_partner: MakePartner, world: World,
                                               status: int) -> None:
    """Every injectable status on the FCM send, the Instance ID routes and the tracking API is an answer the
    OpenAPI document describes (in the route's own model)."""
    acme = await setup(client, make_partner, world)
    check = await _conformance(client)
    await add_profile(client, {"name": "all", "http": {"errors": [{"status": status, "probability": 1}]}})
    resp = await acme.send(client)
    assert resp.status == status
    await check("POST", "/v1/projects/{projectId}/messages:send", resp)
    body = {"to": "/topics/sale", "registration_tokens": [acme.target["registrationToken"]]}
    resp = await client.post("/iid/v1:batchAdd", json=body, headers=bearer(acme.token))
    assert resp.status == status
    await check("POST", "/iid/v1:batchAdd", resp)
    resp = await client.post("/v1/track", json=TRACK, headers=basic(acme.write_key))
    assert resp.status == status
    await check("POST", "/v1/track", resp)


async def test_fcm_unavailable_while_the_world_is_restored(client: Client, make_partner: MakePartner,
                                                           world: World) -> None:
    """While the control plane has not finished restoring the world, a send answers FCM's 503 UNAVAILABLE and
    stores nothing; once live again it is served."""
    acme = await setup(client, make_partner, world)
    rows, inbox = push_rows(client), inbox_size(world, acme)
    control = client.app[CONTROL]
    restored, control.restored = control.restored, None  # as during the restore at start-up
    try:
        resp = await acme.send(client)
    finally:
        control.restored = restored
    assert resp.status == 503
    assert fcm_error(await resp.json()) == (503, "UNAVAILABLE", "UNAVAILABLE")
    assert "x-opsim-fault" not in resp.headers
    assert (push_rows(client), inbox_size(world, acme)) == (rows, inbox)
    assert (await acme.send(client)).status == 200
