"""FCM topics: Instance ID subscription management, topic and condition sends fanning out, their errors, and the
Python client's push methods against a real server."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpClient, AiohttpServer

from gateway.client import AdminClient, ApiError, PartnerClient
from gateway.core.settings import Settings
from gateway.http.app import create_app
from gateway.http.keys import STORE
from gateway.wire.apps import AppRequest
from gateway.wire.fcm import Message
from simulator.world import World
from tests.gateway.conftest import ADMIN, ADMIN_TOKEN, Client, MakePartner, bearer
from tests.gateway.http.test_apps_push import (
    MSG,
    clocked_client,
    fcm_error,
    installs,
    limited_token,
    partner_token,
    register,
    send,
)


async def batch(client: Client, token: str, op: str, topic: str, tokens: list[str]) -> Any:
    return await client.post(f"/iid/v1:{op}", json={"to": topic, "registration_tokens": tokens},
                             headers=bearer(token))


def recipients(client: Client, message_id: str) -> list[int]:
    fanout = int(message_id.removeprefix("pst_"))
    return [int(r[0]) for r in client.app[STORE].conn.execute(
        "SELECT row FROM push_messages WHERE fanout = ? ORDER BY row", (fanout,))]


def row_of(rows: list[dict[str, Any]], token: str) -> int:
    return [r["registrationToken"] for r in rows].index(token)


async def test_topic_and_condition_sends_fan_out(client: Client, make_partner: MakePartner) -> None:
    """Subscribed installs get a topic send; a condition reaches exactly the installs it names; unsubscribed and
    uninstalled ones get nothing; one send counts once against the quota."""
    token = await partner_token(client, make_partner)
    app = await register(client, token, popularity=1.0)
    rows = await installs(client, app["id"])
    toks = [r["registrationToken"] for r in rows[:8]]
    resp = await batch(client, token, "batchAdd", "/topics/news", [*toks[:5], "not-a-token"])
    assert resp.status == 200
    assert (await resp.json()) == {"results": [{}] * 5 + [{"error": "NOT_FOUND"}]}
    assert (await batch(client, token, "batchAdd", "sport", toks[3:8])).status == 200  # bare name works too
    rel = await client.post(f"/iid/v1/{toks[0]}/rel/topics/vip", headers=bearer(token))
    assert rel.status == 200 and await rel.json() == {}
    removed = await batch(client, token, "batchRemove", "/topics/news", [toks[4]])
    assert (await removed.json()) == {"results": [{}]}
    gone = await client.delete(f"/admin/v1/apps/{app['id']}/installations/{rows[1]['installationId']}",
                               headers=ADMIN)
    assert gone.status == 204

    sent = await send(client, token, app["id"], {**MSG, "topic": "news"})
    assert sent.status == 200
    name = (await sent.json())["name"]
    assert name.startswith(f"projects/{app['id']}/messages/pst_")
    assert recipients(client, name.rsplit("/", 1)[1]) == [0, 2, 3]  # 1 uninstalled, 4 unsubscribed
    for condition, expected in (
            ("'news' in topics && 'sport' in topics", [3]),  # both
            ("'news' in topics || 'sport' in topics", [0, 2, 3, 4, 5, 6, 7]),  # either
            ("'sport' in topics && !('news' in topics)", [4, 5, 6, 7]),  # negation
            ("'vip' in topics || ('news' in topics && 'sport' in topics)", [0, 3]),  # grouping
            ("'nobody' in topics", [])):  # no subscriber: accepted, goes nowhere
        resp = await send(client, token, app["id"], {**MSG, "condition": condition})
        assert resp.status == 200, condition
        assert recipients(client, (await resp.json())["name"].rsplit("/", 1)[1]) == expected, condition
    truth = await (await client.get(f"/admin/v1/push/messages/psh_{1:08d}", headers=ADMIN)).json()
    assert truth["fanoutId"] == name.rsplit("/", 1)[1] and truth["installationId"] == rows[0]["installationId"]


@pytest.mark.parametrize("message", [
    {"condition": "'a' in topics &&"},  # dangling operator
    {"condition": "'a' in topics || 'b' in topics || 'c' in topics || 'd' in topics || 'e' in topics || "
                  "'f' in topics"},  # six topics
    {"condition": "a in topics"},  # unquoted
    {"topic": "bad topic"},  # invalid topic name (the schema refuses it)
])
async def test_bad_topic_sends_are_invalid_argument(client: Client, make_partner: MakePartner,
                                                    message: dict[str, Any]) -> None:
    """A malformed condition or topic is FCM's 400 INVALID_ARGUMENT and nothing is stored."""
    token = await partner_token(client, make_partner)
    app = await register(client, token)
    resp = await send(client, token, app["id"], {**MSG, **message})
    assert resp.status == 400 and fcm_error(await resp.json()) == (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT")
    assert client.app[STORE].conn.execute("SELECT COUNT(*) FROM push_messages").fetchone()[0] == 0


async def test_instance_id_errors(client: Client, make_partner: MakePartner) -> None:
    """Instance ID calls answer {"error": reason}: 401 without credentials, 400 for a bad body or topic, 404 for an
    unknown token, PERMISSION_DENIED per token of another partner's app; the legacy key= header is accepted."""
    token = await partner_token(client, make_partner)
    app = await register(client, token)
    tok = (await installs(client, app["id"]))[0]["registrationToken"]
    other = await partner_token(client, make_partner, "other")
    unauth = await client.post("/iid/v1:batchAdd", json={"to": "/topics/a", "registration_tokens": [tok]})
    assert unauth.status == 401 and (await unauth.json()) == {"error": "UNAUTHENTICATED"}
    for body in ({"to": "/topics/a"}, {"to": "/topics/a", "registration_tokens": []},
                 {"to": "/topics/a b", "registration_tokens": [tok]}, {"to": "/topics/a", "registration_tokens": [tok],
                                                                       "extra": 1}):
        resp = await client.post("/iid/v1:batchAdd", json=body, headers=bearer(token))
        assert resp.status == 400 and (await resp.json()) == {"error": "INVALID_ARGUMENT"}, body
    for bogus in ("nope", "!" * 22, "!" * 22 + ":APA91bx"):  # 22 characters outside base64 once made a 500
        missing = await client.post(f"/iid/v1/{bogus}/rel/topics/a", headers=bearer(token))
        assert missing.status == 404 and (await missing.json()) == {"error": "NOT_FOUND"}, bogus
        sent = await send(client, token, app["id"], {**MSG, "token": bogus})
        assert sent.status == 404 and fcm_error(await sent.json())[2] == "UNREGISTERED", bogus
    denied = await batch(client, other, "batchAdd", "/topics/a", [tok])
    assert (await denied.json()) == {"results": [{"error": "PERMISSION_DENIED"}]}
    legacy = await client.post("/iid/v1:batchAdd", json={"to": "/topics/a", "registration_tokens": [tok]},
                               headers={"Authorization": "key=" + token})
    assert legacy.status == 200 and (await legacy.json()) == {"results": [{}]}


@pytest.mark.parametrize(("path", "tokens"), [
    ("/iid/v1:batchAdd", [1]),  # would subscribe the second install
    ("/iid/v1:batchRemove", [0]),  # would unsubscribe the first
    ("/iid/v1/{1}/rel/topics/news", []),  # would subscribe the second install
])
async def test_instance_id_calls_take_the_partner_rate_limit(aiohttp_client: AiohttpClient, world: World,
                                                             settings: Settings, path: str,
                                                             tokens: list[int]) -> None:
    """Past its partner's requestsPerSecond an Instance ID call is 429 {"error": "QUOTA_EXCEEDED"} with
    Retry-After, from the bucket of the partner's other calls, and the topic is unchanged."""
    client, clock = await clocked_client(aiohttp_client, world, settings)
    token = await limited_token(client, 2)
    app = await register(client, token, popularity=1.0)  # the bucket's first request
    toks = [r["registrationToken"] for r in (await installs(client, app["id"]))[:2]]
    assert (await batch(client, token, "batchAdd", "/topics/news", toks[:1])).status == 200
    refused = await client.post(path.format(*toks), headers=bearer(token), json={
        "to": "/topics/news", "registration_tokens": [toks[i] for i in tokens]})
    assert refused.status == 429 and await refused.json() == {"error": "QUOTA_EXCEEDED"}
    assert refused.headers["Retry-After"] == "1"
    clock.now += 1.0
    sent = await send(client, token, app["id"], {**MSG, "topic": "news"})
    assert recipients(client, (await sent.json())["name"].rsplit("/", 1)[1]) == [0]


@pytest.fixture
async def server(aiohttp_server: AiohttpServer, world: World, settings: Settings) -> TestServer:
    return await aiohttp_server(create_app(world, settings))


async def test_client_push_round_trip(server: TestServer) -> None:
    """The Python client registers an app, subscribes tokens, sends by token and topic, reads the truth, and
    FCM errors surface as ApiError with the FCM errorCode."""
    url = str(server.make_url("")).rstrip("/")
    async with AdminClient(url, ADMIN_TOKEN) as admin:
        created = await admin.create_partner("acme", ["apps:read", "apps:write", "push:send"])
        async with PartnerClient(url, created.client_id, created.client_secret) as partner:
            app = await partner.register_app(AppRequest(name="Shoply", platforms=["ANDROID"], popularity=0.5))
            assert [a.id for a in await partner.apps()] == [app.id] and (await partner.app(app.id)) == app
            page = await admin.installations(app.id, limit=5)
            assert page.total >= 5 and len(page.installations) == 5
            mine = await admin.installations(app.id, phone_number=page.installations[0].phone_number)
            assert mine.installations[0] == page.installations[0]
            tokens = [i.registration_token for i in page.installations]
            assert all(r.error is None for r in (await partner.subscribe_topic("news", tokens[:3])).results)
            await partner.subscribe_token(tokens[4], "news")
            assert (await partner.subscribe_topic("news", tokens[:1], subscribe=False)).results[0].error is None
            topic_send = await partner.send_push(app.id, Message(topic="news", data={"k": "v"}))
            assert "/messages/pst_" in topic_send.name
            fanout = await admin.push_fanout(topic_send.name.rsplit("/", 1)[1])
            assert (fanout.recipients, fanout.suppressed, fanout.displayed) == (3, 0, 0)  # data only, three installs
            sent = await partner.send_push(app.id, Message(token=tokens[1], data={"k": "v"}))
            truth = await admin.push_message(sent.name.rsplit("/", 1)[1])
            assert truth.installation_id == page.installations[1].installation_id and truth.app_id == app.id
            await admin.uninstall(app.id, page.installations[1].installation_id)
            with pytest.raises(ApiError) as raised:
                await partner.send_push(app.id, Message(token=tokens[1], data={"k": "v"}))
            assert (raised.value.status, raised.value.code) == (404, "UNREGISTERED")
            with pytest.raises(ApiError) as bad:
                await partner.send_push(app.id, Message(condition="'a' in", data={"k": "v"}))
            assert (bad.value.status, bad.value.code) == (400, "INVALID_ARGUMENT")
            with pytest.raises(ApiError) as unknown:
                await partner.subscribe_token("nope", "news")
            assert (unknown.value.status, unknown.value.code) == (404, "NOT_FOUND")


async def test_fanout_truth_counts_outcomes(client: Client, make_partner: MakePartner) -> None:
    """The operator-side truth of a topic send counts its pushes by outcome: installs without in-app marketing
    consent are SUPPRESSED, the rest delivered or held; an unknown fan-out is 404."""
    token = await partner_token(client, make_partner)
    app = await register(client, token, popularity=1.0)
    rows = [r for r in await installs(client, app["id"]) if r["installed"]][:20]
    assert (await batch(client, token, "batchAdd", "deals", [r["registrationToken"] for r in rows])).status == 200
    sent = await send(client, token, app["id"], {**MSG, "topic": "deals"})
    fanout_id = (await sent.json())["name"].rsplit("/", 1)[1]
    resp = await client.get(f"/admin/v1/push/fanouts/{fanout_id}", headers=ADMIN)
    assert resp.status == 200, await resp.text()
    truth = await resp.json()
    assert truth["recipients"] == 20 and truth["target"] == "deals" and truth["appId"] == app["id"]
    assert truth["suppressed"] == sum(not r["marketingConsent"] for r in rows)
    assert truth["delivered"] + truth["held"] + truth["expired"] + truth["suppressed"] == 20
    assert truth["displayed"] <= sum(r["marketingConsent"] and r["notificationsPermitted"] for r in rows)
    assert (await client.get("/admin/v1/push/fanouts/pst_99999999", headers=ADMIN)).status == 404
