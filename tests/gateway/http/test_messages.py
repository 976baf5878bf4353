"""Direct messages /messages/v1: status history on the clock, TTL expiry, idempotency, templates, blocks, webhooks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from gateway.core.webhooks import CLOUDEVENTS_JSON
from gateway.http.keys import CAMPAIGNS, MESSAGES
from simulator.world import World
from tests.gateway.camara_helpers import start_sink
from tests.gateway.conftest import ADMIN, Client, MakePartner, PartnerCreds, bearer, fetch_token

PATH = "/messages/v1/messages"
SCOPES = ("messages:send", "messages:read")


@dataclass
class Partner:
    id: str
    token: str


async def approve(client: Client, what: str, reg_id: str, decision: str = "APPROVED", **extra: Any) -> Any:
    resp = await client.post(f"/admin/v1/message-{what}/{reg_id}/decision", json={"decision": decision, **extra},
                             headers=ADMIN)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def new_partner(client: Client, make_partner: MakePartner, name: str = "shop", sender: str = "Acme") -> Partner:
    creds = await make_partner(name, scopes=SCOPES)
    token = await fetch_token(client, creds)
    resp = await client.post("/messages/v1/senders", json={"name": sender}, headers=bearer(token))
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["status"] == "PENDING"
    await approve(client, "senders", body["id"])
    return Partner(creds.id, token)


@pytest.fixture
async def partner(client: Client, make_partner: MakePartner) -> Partner:
    return await new_partner(client, make_partner)


async def phone(client: Client, msisdn: str, app: bool = True, ads: bool = True) -> str:
    """A test phone (always on, pinned) with or without the app and advertising consent."""
    body = {"msisdn": msisdn, "profile": {"appInstalled": app},
            "consent": {"ADVERTISING": {"PUSH": ads, "SMS": ads}}}
    resp = await client.post("/admin/v1/subscribers", json=body, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    return msisdn


async def send(client: Client, token: str, msisdn: str, headers: dict[str, str] | None = None,
               **extra: Any) -> tuple[int, Any]:
    body = {"phoneNumber": msisdn, "kind": "TRANSACTIONAL", "channel": "SMS", "senderName": "Acme",
            "text": "Your parcel is on its way", **extra}
    resp = await client.post(PATH, json=body, headers={**bearer(token), **(headers or {})})
    return resp.status, await resp.json()


async def read(client: Client, token: str, mid: str) -> Any:
    resp = await client.get(f"{PATH}/{mid}", headers=bearer(token))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def advance(client: Client, seconds: float) -> None:
    resp = await client.post("/admin/v1/clock/advance", json={"seconds": seconds}, headers=ADMIN)
    assert resp.status == 200


def statuses(body: Any) -> list[str]:
    return [h["status"] for h in body["history"]]


async def inbox(client: Client, msisdn: str) -> list[dict[str, Any]]:
    resp = await client.get(f"/admin/v1/subscribers/{msisdn}/inbox", headers=ADMIN)
    return list((await resp.json())["messages"])


async def test_status_history_on_the_clock(client: Client, partner: Partner) -> None:
    """Accepted and sent at once, delivered after the SMS latency; the device holds it under the message id."""
    msisdn = await phone(client, "+491701000001")
    status, body = await send(client, partner.token, msisdn)
    assert status == 201
    assert body["id"].startswith("msg_") and statuses(body) == ["ACCEPTED", "SENT"]
    assert body["history"][1] == {"status": "SENT", "at": "2026-06-01T06:00:00Z", "channel": "SMS"}
    assert body["expiresAt"] == "2026-06-02T06:00:00Z" and body["priority"] == "NORMAL"
    assert await inbox(client, msisdn) == []
    await advance(client, 60)
    got = await read(client, partner.token, body["id"])
    assert statuses(got) == ["ACCEPTED", "SENT", "DELIVERED"] and got["status"] == "DELIVERED"
    assert "2026-06-01T06:00:00Z" < got["history"][2]["at"] < "2026-06-01T06:01:00Z"
    [received] = await inbox(client, msisdn)
    assert (received["id"], received["text"], received["sender"]) == (body["id"], "Your parcel is on its way", "Acme")
    assert set(got) <= {"id", "phoneNumber", "kind", "channel", "priority", "senderName", "text", "createdAt",
                        "expiresAt", "status", "history"}  # nothing about the subscriber


async def test_unreachable_until_ttl_expires(client: Client, world: World, partner: Partner) -> None:
    """A phone that is off is retried until the time to live is over: EXPIRED (UNREACHABLE), never delivered."""
    msisdn = await phone(client, "+491701000002")
    world.devices.forced_off[world.find_subscriber(msisdn)] = True
    status, body = await send(client, partner.token, msisdn, ttlSeconds=600)
    assert status == 201 and statuses(body) == ["ACCEPTED"]
    await advance(client, 599)
    assert (await read(client, partner.token, body["id"]))["status"] == "ACCEPTED"
    await advance(client, 1)
    got = await read(client, partner.token, body["id"])
    assert statuses(got)[-1] == "EXPIRED" and got["reason"] == "UNREACHABLE"
    assert got["history"][-1]["at"] == "2026-06-01T06:10:00Z"
    await advance(client, 600)
    assert await inbox(client, msisdn) == []


async def test_phone_back_on_before_expiry(client: Client, world: World, partner: Partner) -> None:
    """HIGH priority is retried every minute: the phone is back after 90 s, the message goes on the next retry."""
    msisdn = await phone(client, "+491701000003")
    i = world.find_subscriber(msisdn)
    world.devices.forced_off[i] = True
    _, body = await send(client, partner.token, msisdn, priority="HIGH")
    await advance(client, 90)
    world.devices.forced_off[i] = False
    await advance(client, 60)
    got = await read(client, partner.token, body["id"])
    assert statuses(got) == ["ACCEPTED", "SENT", "DELIVERED"]
    assert got["history"][1]["at"] == "2026-06-01T06:02:00Z"


async def test_push_then_sms_without_app_goes_by_sms(client: Client, partner: Partner) -> None:
    """No app: the policy picks SMS at once; with the app, push."""
    no_app = await phone(client, "+491701000004", app=False)
    _, body = await send(client, partner.token, no_app, channel="PUSH_THEN_SMS")
    assert body["history"][1]["channel"] == "SMS"
    with_app = await phone(client, "+491701000005")
    _, body = await send(client, partner.token, with_app, channel="PUSH_THEN_SMS")
    assert body["history"][1]["channel"] == "PUSH"
    _, body = await send(client, partner.token, no_app, channel="PUSH")
    assert (body["status"], body["reason"]) == ("SUPPRESSED", "NO_APP")


async def test_idempotency_key(client: Client, partner: Partner) -> None:
    """Same key and body: the same message (200); another body: 409; the device gets it once."""
    msisdn = await phone(client, "+491701000006")
    key = {"Idempotency-Key": "order-42"}
    s1, first = await send(client, partner.token, msisdn, headers=key)
    s2, again = await send(client, partner.token, msisdn, headers=key)
    assert (s1, s2, again["id"]) == (201, 200, first["id"])
    s3, conflict = await send(client, partner.token, msisdn, headers=key, text="Another text")
    assert (s3, conflict["code"]) == (409, "CONFLICT")
    await advance(client, 60)
    assert len(await inbox(client, msisdn)) == 1


async def test_authentication_template_approval_flow(client: Client, partner: Partner,
                                                     make_partner: MakePartner) -> None:
    """AUTHENTICATION needs an approved template of that kind; HIGH priority, short TTL; others cannot use it."""
    msisdn = await phone(client, "+491701000007")
    resp = await client.post("/messages/v1/templates", json={"kind": "AUTHENTICATION",
                                                            "text": "Your Acme code is {code}"},
                             headers=bearer(partner.token))
    assert resp.status == 201
    tpl = await resp.json()
    auth = {"kind": "AUTHENTICATION", "text": None, "templateId": tpl["id"], "templateParameters": {"code": "482913"}}
    status, body = await send(client, partner.token, msisdn, **auth)
    assert (status, body["code"]) == (422, "MESSAGES.TEMPLATE_NOT_APPROVED")
    pending = await (await client.get("/admin/v1/message-templates?status=PENDING", headers=ADMIN)).json()
    assert [t["id"] for t in pending["templates"]] == [tpl["id"]]
    assert pending["templates"][0]["partnerId"] == partner.id
    await approve(client, "templates", tpl["id"])
    status, body = await send(client, partner.token, msisdn, **auth)
    assert status == 201, body
    assert (body["text"], body["priority"], body["templateId"]) == ("Your Acme code is 482913", "HIGH", tpl["id"])
    assert body["expiresAt"] == "2026-06-01T06:05:00Z"
    status, body = await send(client, partner.token, msisdn, kind="AUTHENTICATION")
    assert (status, body["code"]) == (422, "MESSAGES.TEMPLATE_REQUIRED")
    status, body = await send(client, partner.token, msisdn, **{**auth, "ttlSeconds": 3600})
    assert (status, body["code"]) == (400, "OUT_OF_RANGE")
    status, body = await send(client, partner.token, msisdn, **{**auth, "priority": "NORMAL"})
    assert status == 422
    status, body = await send(client, partner.token, msisdn, **{**auth, "kind": "TRANSACTIONAL"})
    assert (status, body["code"]) == (422, "MESSAGES.TEMPLATE_NOT_APPROVED")  # approved for another kind
    status, body = await send(client, partner.token, msisdn, **{**auth, "templateParameters": {}})
    assert (status, body["code"]) == (400, "MESSAGES.INVALID_MESSAGE")
    other = await new_partner(client, make_partner, "other", sender="Other")
    status, body = await send(client, other.token, msisdn, **{**auth, "senderName": "Other"})
    assert (status, body["code"]) == (422, "MESSAGES.TEMPLATE_NOT_APPROVED")
    rejected = await approve(client, "templates", tpl["id"], "REJECTED", reason="Brand name missing")
    assert (rejected["status"], rejected["reason"]) == ("REJECTED", "Brand name missing")
    status, body = await send(client, partner.token, msisdn, **auth)
    assert status == 422


async def test_sender_must_be_approved(client: Client, partner: Partner) -> None:
    """An unregistered, pending or rejected sender name is refused; names are unique per partner."""
    msisdn = await phone(client, "+491701000008")
    status, body = await send(client, partner.token, msisdn, senderName="Nobody")
    assert (status, body["code"]) == (422, "MESSAGES.SENDER_NOT_APPROVED")
    resp = await client.post("/messages/v1/senders", json={"name": "Acme"}, headers=bearer(partner.token))
    assert resp.status == 409
    resp = await client.post("/messages/v1/senders", json={"name": "12345"}, headers=bearer(partner.token))
    assert resp.status == 400
    senders = await (await client.get("/messages/v1/senders", headers=bearer(partner.token))).json()
    assert [(s["name"], s["status"]) for s in senders["senders"]] == [("Acme", "APPROVED")]


async def test_sender_block(client: Client, partner: Partner) -> None:
    """A block of the sender suppresses TRANSACTIONAL and PROMO, not codes; '*' blocks every sender; lifting it
    lets messages through again."""
    msisdn = await phone(client, "+491701000009")
    path = f"/admin/v1/subscribers/{msisdn}/sender-blocks"
    resp = await client.post(path, json={"partnerId": partner.id, "sender": "Acme"}, headers=ADMIN)
    assert resp.status == 201
    assert [b["sender"] for b in (await resp.json())["blocks"]] == ["Acme"]
    _, body = await send(client, partner.token, msisdn)
    assert (body["status"], body["reason"], statuses(body)) == ("SUPPRESSED", "SENDER_BLOCKED",
                                                                ["ACCEPTED", "SUPPRESSED"])
    _, body = await send(client, partner.token, msisdn, kind="PROMO", text="Summer sale")
    assert body["reason"] == "SENDER_BLOCKED"
    resp = await client.post("/messages/v1/templates", json={"kind": "AUTHENTICATION", "text": "Code {code}"},
                             headers=bearer(partner.token))
    await approve(client, "templates", (await resp.json())["id"])
    _, body = await send(client, partner.token, msisdn, kind="AUTHENTICATION", text=None, templateId="tpl_00000001",
                         templateParameters={"code": "1234"})
    assert body["status"] == "SENT"
    assert (await client.delete(f"{path}/{partner.id}/Acme", headers=ADMIN)).status == 204
    assert (await client.delete(f"{path}/{partner.id}/Acme", headers=ADMIN)).status == 404
    await client.post(path, json={"partnerId": partner.id, "sender": "*"}, headers=ADMIN)
    assert (await send(client, partner.token, msisdn))[1]["reason"] == "SENDER_BLOCKED"
    assert (await client.delete(f"{path}/{partner.id}/*", headers=ADMIN)).status == 204
    assert (await send(client, partner.token, msisdn))[1]["status"] == "SENT"


async def test_promo_consent_and_shared_daily_cap(client: Client, world: World, partner: Partner) -> None:
    """PROMO needs advertising consent now, and counts against the operator cap campaigns use (1 a day)."""
    client_app = client.app
    assert client_app is not None and client_app[MESSAGES].caps is client_app[CAMPAIGNS].caps
    no = await phone(client, "+491701000010", ads=False)
    _, body = await send(client, partner.token, no, kind="PROMO", text="Summer sale")
    assert (body["status"], body["reason"]) == ("SUPPRESSED", "NO_CONSENT")
    yes = await phone(client, "+491701000011")
    _, first = await send(client, partner.token, yes, kind="PROMO", text="Summer sale")
    assert first["status"] == "SENT"
    _, second = await send(client, partner.token, yes, kind="PROMO", text="Summer sale, day 2")
    assert (second["status"], second["reason"]) == ("SUPPRESSED", "FREQUENCY_CAP")
    _, service = await send(client, partner.token, yes)
    assert service["status"] == "SENT"  # transactional messages are not capped
    import numpy as np  # a campaign message counted today blocks a direct PROMO as well

    capped = await phone(client, "+491701000012")
    i = np.asarray([world.find_subscriber(capped)], np.int32)
    client_app[CAMPAIGNS].caps.record(i, world.local_clock(i).day, np.asarray([99], np.int64))
    _, body = await send(client, partner.token, capped, kind="PROMO", text="Summer sale")
    assert body["reason"] == "FREQUENCY_CAP"
    status, body = await send(client, partner.token, yes, kind="PROMO", text="Casino bonus: bet now")
    assert (status, body["code"]) == (422, "MESSAGES.MODERATION_REJECTED")


async def test_promo_held_through_quiet_hours(client: Client, partner: Partner) -> None:
    """At 22:30 local a PROMO is held until 08:00 when its TTL allows, else suppressed QUIET_HOURS."""
    msisdn = await phone(client, "+491701000013")
    await advance(client, 14.5 * 3600)  # 06:00Z = 08:00 Berlin → 22:30 Berlin
    _, held = await send(client, partner.token, msisdn, kind="PROMO", text="Breakfast deal")
    assert (held["status"], held["reason"]) == ("HELD", "QUIET_HOURS")
    _, short = await send(client, partner.token, msisdn, kind="PROMO", text="Late deal", ttlSeconds=3600)
    assert (short["status"], short["reason"]) == ("SUPPRESSED", "QUIET_HOURS")
    _, info = await send(client, partner.token, msisdn, kind="INFORMATIONAL", text="Your table is ready")
    assert info["status"] == "SENT"  # no quiet hours for service messages
    await advance(client, 9.5 * 3600 + 60)
    got = await read(client, partner.token, held["id"])
    assert statuses(got) == ["ACCEPTED", "HELD", "SENT", "DELIVERED"]
    assert got["history"][2]["at"] == "2026-06-02T06:00:00Z"  # 08:00 Berlin


async def test_promo_held_then_waiting_for_the_phone_expires_unreachable(client: Client, world: World,
                                                                         partner: Partner) -> None:
    """A PROMO released at 08:00 to a phone that is off waits for it; at expiry the reason is UNREACHABLE."""
    msisdn = await phone(client, "+491701000015")
    await advance(client, 14.5 * 3600)  # 22:30 Berlin
    _, held = await send(client, partner.token, msisdn, kind="PROMO", text="Breakfast deal", ttlSeconds=12 * 3600)
    assert (held["status"], held["reason"]) == ("HELD", "QUIET_HOURS")
    world.devices.forced_off[world.find_subscriber(msisdn)] = True
    await advance(client, 12 * 3600)  # released at 08:00, expires at 10:30 Berlin with the phone still off
    got = await read(client, partner.token, held["id"])
    assert statuses(got) == ["ACCEPTED", "HELD", "EXPIRED"] and got["reason"] == "UNREACHABLE"


async def test_status_webhooks_at_a_real_receiver(client: Client, partner: Partner,
                                                  aiohttp_server: AiohttpServer) -> None:
    """Every status change of a message with a callback arrives as a signed CloudEvent, in order."""
    sink = await start_sink(aiohttp_server)
    msisdn = await phone(client, "+491701000014")
    callback = {"sink": sink.url, "sinkCredential": {"credentialType": "ACCESSTOKEN", "accessToken": "tok-1",
                                                     "accessTokenExpiresUtc": "2030-01-01T00:00:00Z",
                                                     "accessTokenType": "bearer"}}
    _, body = await send(client, partner.token, msisdn, callback=callback)
    await advance(client, 60)
    events = await sink.wait_for(3)
    assert [e["data"]["status"] for e in events] == ["ACCEPTED", "SENT", "DELIVERED"]
    assert {e["type"] for e in events} == {"org.opsim.messages.v1.message-status"}
    assert [e["id"] for e in events] == [f"{body['id']}-001", f"{body['id']}-002", f"{body['id']}-003"]
    assert events[2]["data"] == {"messageId": body["id"], "phoneNumber": msisdn, "status": "DELIVERED",
                                 "channel": "SMS"}
    first = sink.received[0]
    assert first["headers"]["Content-Type"] == CLOUDEVENTS_JSON
    assert first["headers"]["Authorization"] == "Bearer tok-1"
    assert first["headers"]["X-Opsim-Signature"].startswith("sha256=")
    assert all(e["specversion"] == "1.0" and e["source"] == "/messages/v1" and e["time"] for e in events)


async def test_other_partner_sees_nothing(client: Client, partner: Partner, make_partner: MakePartner) -> None:
    """Another partner's message is 404; scopes are enforced."""
    msisdn = await phone(client, "+491701000015")
    _, body = await send(client, partner.token, msisdn)
    other = await new_partner(client, make_partner, "other", sender="Other")
    resp = await client.get(f"{PATH}/{body['id']}", headers=bearer(other.token))
    assert resp.status == 404
    creds = await make_partner("reader", scopes=("messages:read",))
    status, body = await send(client, await fetch_token(client, creds), msisdn)
    assert (status, body["code"]) == (403, "PERMISSION_DENIED")


@pytest.mark.parametrize(("extra", "status", "code"), [
    ({"phoneNumber": "491701000016"}, 400, "INVALID_ARGUMENT"),  # not E.164
    ({"phoneNumber": "+999999999999"}, 404, "IDENTIFIER_NOT_FOUND"),  # not a subscriber of ours
    ({"kind": "SPAM"}, 400, "INVALID_ARGUMENT"),  # unknown kind
    ({"channel": "FAX"}, 400, "INVALID_ARGUMENT"),  # unknown channel
    ({"priority": "URGENT"}, 400, "INVALID_ARGUMENT"),  # unknown priority
    ({"ttlSeconds": 0}, 400, "INVALID_ARGUMENT"),  # below the schema minimum
    ({"ttlSeconds": "60"}, 400, "INVALID_ARGUMENT"),  # a string
    ({"ttlSeconds": 8 * 86_400}, 400, "OUT_OF_RANGE"),  # beyond the operator maximum
    ({"text": None}, 400, "INVALID_ARGUMENT"),  # neither text nor template
    ({"templateId": "tpl_00000001"}, 400, "INVALID_ARGUMENT"),  # both text and template
    ({"templateParameters": {"a": "b"}}, 400, "INVALID_ARGUMENT"),  # parameters without a template
    ({"text": "x" * 1000}, 400, "MESSAGES.INVALID_MESSAGE"),  # more than 6 SMS segments
    ({"channel": "SMS", "title": "Hi"}, 400, "MESSAGES.INVALID_MESSAGE"),  # a title is for push only
    ({"senderName": "Acme Shop!!"}, 422, "MESSAGES.SENDER_NOT_APPROVED"),  # not a registered sender
    ({"extra": 1}, 400, "INVALID_ARGUMENT"),  # unknown field
    ({"callback": {"sink": "ftp://example.com"}}, 400, "INVALID_SINK"),  # not https
    ({"callback": {"sink": "http://example.com/hook"}}, 400, "INVALID_SINK"),  # plain http off loopback
])
async def test_bad_inputs(client: Client, partner: Partner, extra: dict[str, Any], status: int, code: str) -> None:
    """Bad requests are refused with the error shape and nothing is stored."""
    await phone(client, "+491701000016")
    got_status, got = await send(client, partner.token, "+491701000016", **extra)
    assert (got_status, got["code"], got["status"]) == (status, code, status), got
    client_app = client.app
    assert client_app is not None
    assert client_app[MESSAGES].store.conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0


@pytest.mark.parametrize(("path", "body", "status"), [
    ("/messages/v1/templates", {"kind": "AUTHENTICATION", "text": "No placeholder"}, 400),  # {code} missing
    ("/messages/v1/templates", {"kind": "PROMO", "text": ""}, 400),  # blank
    ("/messages/v1/templates", {"kind": "OTHER", "text": "Hi {name}"}, 400),  # unknown kind
    ("/messages/v1/senders", {"name": "Way too long sender"}, 400),  # over 11 characters
    ("/messages/v1/senders", {"name": "Bad name"}, 400),  # a space
])
async def test_bad_registrations(client: Client, partner: Partner, path: str, body: dict[str, Any],
                                 status: int) -> None:
    """Registrations are validated before anything is stored."""
    resp = await client.post(path, json=body, headers=bearer(partner.token))
    assert resp.status == status, await resp.text()


async def test_messages_per_day_limit_is_a_quota(client: Client) -> None:
    """A partner limited to 2 messages a day gets 429 QUOTA_EXCEEDED for the third, and may send again the next
    local day."""
    created = await client.post("/admin/v1/partners", headers=ADMIN,
                                json={"name": "limited", "scopes": list(SCOPES), "limits": {"messagesPerDay": 2}})
    assert created.status == 201, await created.text()
    body = await created.json()
    token = await fetch_token(client, PartnerCreds(body["id"], body["clientId"], body["clientSecret"]))
    reg = await client.post("/messages/v1/senders", json={"name": "Acme"}, headers=bearer(token))
    await approve(client, "senders", (await reg.json())["id"])
    number = await phone(client, "+491519990001")
    assert (await send(client, token, number))[0] == 201
    assert (await send(client, token, number))[0] == 201
    status, err = await send(client, token, number)
    assert status == 429 and err["code"] == "QUOTA_EXCEEDED"
    await advance(client, 24 * 3600)
    assert (await send(client, token, number))[0] == 201
