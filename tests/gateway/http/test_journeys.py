"""Triggered chains /journeys/v1: chain timing per trigger, stop conditions, per-kind rules, reports, isolation."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from pytest_aiohttp import AiohttpClient, AiohttpServer

from gateway.client import AdminClient, PartnerClient
from gateway.core.settings import CampaignSettings, Settings
from gateway.http.app import create_app
from gateway.http.keys import JOURNEYS
from gateway.wire.base import format_instant
from gateway.wire.journeys import EnrolmentRequest, JourneyCreate
from simulator.world import World
from tests.gateway.conftest import ADMIN, ADMIN_TOKEN, Client, PartnerCreds, bearer, fetch_token
from tests.gateway.http.test_messages import approve, inbox, phone

PATH = "/journeys/v1/journeys"
SCOPES = ("messages:send", "messages:read", "journeys:read", "journeys:write")
START = "2026-06-01T06:00:00Z"


@dataclass
class Partner:
    id: str
    token: str


@pytest.fixture
async def jclient(aiohttp_client: AiohttpClient, world: World, settings: Settings) -> Client:
    """An app whose privacy threshold is 1, so that reports of a few test phones show exact counts."""
    open_settings = dataclasses.replace(settings, campaigns=CampaignSettings(privacy_threshold=1))
    return await aiohttp_client(create_app(world, open_settings))


async def new_partner(client: Client, name: str = "shop") -> Partner:
    """A partner with the journeys and messages scopes and the approved sender name ``Acme``."""
    resp = await client.post("/admin/v1/partners", json={"name": name, "scopes": list(SCOPES)}, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    creds = PartnerCreds(body["id"], body["clientId"], body["clientSecret"])
    token = await fetch_token(client, creds)
    resp = await client.post("/messages/v1/senders", json={"name": "Acme"}, headers=bearer(token))
    assert resp.status == 201, await resp.text()
    await approve(client, "senders", (await resp.json())["id"])
    return Partner(creds.id, token)


@pytest.fixture
async def partner(jclient: Client) -> Partner:
    return await new_partner(jclient)


def centre(world: World) -> tuple[float, float]:
    return world.city.projection.lat0, world.city.projection.lon0


def step(text: str = "Hello", kind: str = "INFORMATIONAL", **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "channel": "SMS", "text": text, **extra}


def journey(trigger: dict[str, Any], steps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"name": "chain", "trigger": trigger, "senderName": "Acme", "steps": steps, **extra}


def area_trigger(world: World, radius: float = 300) -> dict[str, Any]:
    lat, lon = centre(world)
    return {"type": "AREA_ENTERED", "area": {"areaType": "CIRCLE", "center": {"latitude": lat, "longitude": lon},
                                             "radius": radius}}


async def create(client: Client, token: str, body: dict[str, Any], status: int = 201) -> Any:
    resp = await client.post(PATH, json=body, headers=bearer(token))
    assert resp.status == status, await resp.text()
    return await resp.json()


async def advance(client: Client, seconds: float) -> None:
    resp = await client.post("/admin/v1/clock/advance", json={"seconds": seconds}, headers=ADMIN)
    assert resp.status == 200, await resp.text()


async def report(client: Client, token: str, jid: str) -> Any:
    resp = await client.get(f"{PATH}/{jid}/report", headers=bearer(token))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def pin(client: Client, msisdn: str, lat: float, lon: float) -> None:
    resp = await client.post(f"/admin/v1/subscribers/{msisdn}/pin", json={"latitude": lat, "longitude": lon},
                             headers=ADMIN)
    assert resp.status == 200, await resp.text()


async def outside_phone(client: Client, world: World, msisdn: str, ads: bool = True) -> str:
    """A test phone 3 km north of the centre, in another cell than the centre's."""
    lat, lon = centre(world)
    body = {"msisdn": msisdn, "profile": {"appInstalled": True},
            "consent": {"ADVERTISING": {"PUSH": ads, "SMS": ads}}, "latitude": lat + 0.03, "longitude": lon}
    resp = await client.post("/admin/v1/subscribers", json=body, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    i = world.find_subscriber(msisdn)
    assert world.serving_cells(np.asarray([i]))[0] != world.network.cell_of(
        *(np.asarray([v]) for v in world.city.projection.point_xy(lat, lon)))[0]
    return msisdn


def received(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["text"], m["receivedAt"][:16]) for m in messages]


# -- triggers and chain timing ----------------------------------------------------------------------------------

async def test_area_entered_chain_timing(jclient: Client, world: World, partner: Partner) -> None:
    """A first entry starts the chain at the tick that sees it; the next step follows 10 minutes later."""
    msisdn = await outside_phone(jclient, world, "+491701100001")
    body = await create(jclient, partner.token, journey(area_trigger(world), [
        step("Welcome to the mall"), step("Coffee is on us", delaySeconds=600)]))
    assert body["id"].startswith("jny_") and body["status"] == "ACTIVE" and body["createdAt"] == START
    await advance(jclient, 60)  # the journey becomes visible to the engine at 06:01
    await pin(jclient, msisdn, *centre(world))  # enters at 06:01, seen by the tick of 06:02
    await advance(jclient, 70)
    assert received(await inbox(jclient, msisdn)) == [("Welcome to the mall", "2026-06-01T06:02")]
    await advance(jclient, 60 * 9)  # 06:11:10
    assert len(await inbox(jclient, msisdn)) == 1
    await advance(jclient, 60)  # 06:12:10
    assert received(await inbox(jclient, msisdn))[1] == ("Coffee is on us", "2026-06-01T06:12")
    await pin(jclient, msisdn, centre(world)[0] + 0.03, centre(world)[1])  # leaves and comes back: no new chain
    await advance(jclient, 60)
    await pin(jclient, msisdn, *centre(world))
    await advance(jclient, 900)
    assert len(await inbox(jclient, msisdn)) == 2
    got = await report(jclient, partner.token, body["id"])  # the city's own movers enter the area too
    conn = jclient.app[JOURNEYS].store.conn
    assert got["recipients"] == conn.execute("SELECT COUNT(*) FROM journey_recipients").fetchone()[0] >= 1
    assert conn.execute("SELECT COUNT(*) FROM journey_recipients WHERE subscriber = ?",
                        (world.find_subscriber(msisdn),)).fetchone()[0] == 1
    assert got["steps"][0]["sent"] >= 1 and got["steps"][0]["pending"] == 0


async def test_subscriber_joined_timing_from_the_activation(jclient: Client, world: World,
                                                            partner: Partner) -> None:
    """A line activated at 06:01 gets step 1 two minutes after its activation and step 2 one hour after that."""
    body = await create(jclient, partner.token, journey({"type": "SUBSCRIBER_JOINED"}, [
        step("Welcome aboard", delaySeconds=120, after="TRIGGER"), step("Your tips", delaySeconds=3600)]))
    await advance(jclient, 60)
    msisdn = await phone(jclient, "+491701100002")  # activated now, 06:01
    await advance(jclient, 119)  # 06:02:59
    assert await inbox(jclient, msisdn) == []
    await advance(jclient, 30)
    assert received(await inbox(jclient, msisdn)) == [("Welcome aboard", "2026-06-01T06:03")]
    await advance(jclient, 3600)
    assert received(await inbox(jclient, msisdn))[1] == ("Your tips", "2026-06-01T07:03")
    got = await report(jclient, partner.token, body["id"])
    assert got["recipients"] == 1 and got["steps"][1]["delivered"] == 1


async def test_roaming_arrival_welcomes_each_visitor_once(jclient: Client, world: World,
                                                          partner: Partner) -> None:
    """Every visitor in the country is welcomed at its first network contact after the start (within one periodic
    update), those abroad when they land; a roaming phone added later is welcomed when it attaches; nobody twice,
    no home subscriber."""
    body = await create(jclient, partner.token, journey({"type": "ROAMING_ARRIVAL"}, [step("Willkommen!")]))
    roaming = world.population.roaming
    visitors = np.flatnonzero(roaming & (world.cell >= 0)).astype(np.int32)
    assert len(visitors) > 10 and (roaming & (world.cell < 0)).any()  # some are abroad
    landed: list[int] = []
    world.on_roamer_arrival(lambda now, subs: landed.extend(subs.tolist()))
    contacts = world.next_periodic_contacts(visitors, world.clock.now)
    await advance(jclient, 3300)  # 55 minutes: beyond one 54-minute periodic update of everyone
    roamer = "+33612345678"
    resp = await jclient.post("/admin/v1/subscribers", json={"msisdn": roamer, "profile": {"roaming": True}},
                              headers=ADMIN)
    assert resp.status == 201, await resp.text()
    await advance(jclient, 600)
    store = jclient.app[JOURNEYS].store
    rows = store.conn.execute("SELECT subscriber, trigger_us FROM journey_recipients ORDER BY n").fetchall()
    subs = [r["subscriber"] for r in rows]
    assert landed[-1] == world.find_subscriber(roamer)  # the test phone lands when added
    assert sorted(subs) == sorted([*visitors.tolist(), *landed])
    by_sub = dict(zip(visitors.tolist(), contacts.tolist(), strict=True))
    for r in rows:
        if r["subscriber"] in by_sub:
            assert r["trigger_us"] <= by_sub[r["subscriber"]]  # a cell change may come first
    assert [m["text"] for m in await inbox(jclient, roamer)] == ["Willkommen!"]
    home = int(np.flatnonzero(~world.population.roaming)[0])
    assert world.inbox(home) == []
    got = await report(jclient, partner.token, body["id"])
    assert got["recipients"] == len(visitors) + len(landed) and got["steps"][0]["pending"] == 0


async def test_event_reminder_relative_to_the_event(jclient: Client, world: World, partner: Partner) -> None:
    """Steps a day and an hour before the event; an enrolment 12 hours ahead has missed the first (TOO_LATE)."""
    body = await create(jclient, partner.token, journey({"type": "EVENT_REMINDER"}, [
        step("Tomorrow: your appointment", kind="TRANSACTIONAL", delaySeconds=-86_400, after="TRIGGER"),
        step("In one hour: your appointment", kind="TRANSACTIONAL", delaySeconds=-3600, after="TRIGGER")]))
    early, late = await phone(jclient, "+491701100003"), await phone(jclient, "+491701100004")
    enrolled = []
    for msisdn, hours in ((early, 48), (late, 12)):
        resp = await jclient.post(f"{PATH}/{body['id']}/enrolments", headers=bearer(partner.token), json={
            "phoneNumber": msisdn, "eventTime": format_instant(world.clock.now + timedelta(hours=hours))})
        assert resp.status == 201, await resp.text()
        enrolled.append(await resp.json())
    assert [(s["dueAt"], s["status"]) for s in enrolled[0]["steps"]] == [
        ("2026-06-02T06:00:00Z", "SCHEDULED"), ("2026-06-03T05:00:00Z", "SCHEDULED")]
    assert [s["status"] for s in enrolled[1]["steps"]] == ["TOO_LATE", "SCHEDULED"]
    await advance(jclient, 86_400 + 60)
    assert received(await inbox(jclient, early)) == [("Tomorrow: your appointment", "2026-06-02T06:00")]
    assert received(await inbox(jclient, late)) == [("In one hour: your appointment", "2026-06-01T17:00")]
    await advance(jclient, 86_400)
    assert received(await inbox(jclient, early))[1] == ("In one hour: your appointment", "2026-06-03T05:00")
    got = await report(jclient, partner.token, body["id"])
    assert got["steps"][0]["stopped"]["TOO_LATE"] == 1 and got["steps"][0]["delivered"] == 1
    assert got["steps"][1]["delivered"] == 2


# -- stop conditions -------------------------------------------------------------------------------------------

async def test_max_recipients_and_end_time(jclient: Client, world: World, partner: Partner) -> None:
    """maxRecipients ignores later joins; steps due from endTime on are stopped and the journey completes."""
    end = world.clock.now + timedelta(minutes=30)
    body = await create(jclient, partner.token, journey({"type": "SUBSCRIBER_JOINED"}, [
        step("One"), step("Two", delaySeconds=3600)], stop={"maxRecipients": 1, "endTime": format_instant(end)}))
    await advance(jclient, 60)
    first, second = await phone(jclient, "+491701100005"), await phone(jclient, "+491701100006")
    await advance(jclient, 7200)
    assert [m["text"] for m in await inbox(jclient, first)] == ["One"]
    assert await inbox(jclient, second) == []
    got = await report(jclient, partner.token, body["id"])
    assert got["status"] == "COMPLETED" and got["recipients"] == 1
    assert got["steps"][1]["stopped"]["JOURNEY_ENDED"] == 1 and got["steps"][1]["sent"] == 0


async def test_stop_when_leaving_the_area(jclient: Client, world: World, partner: Partner) -> None:
    """onAreaExit: the rest of the chain stops once the recipient leaves the area."""
    msisdn = await outside_phone(jclient, world, "+491701100007")
    body = await create(jclient, partner.token, journey(area_trigger(world), [
        step("Hi"), step("Still around?", delaySeconds=1800)], stop={"onAreaExit": True}))
    await advance(jclient, 60)
    await pin(jclient, msisdn, *centre(world))
    await advance(jclient, 120)
    await pin(jclient, msisdn, centre(world)[0] + 0.03, centre(world)[1])
    await advance(jclient, 3600)
    assert [m["text"] for m in await inbox(jclient, msisdn)] == ["Hi"]
    got = await report(jclient, partner.token, body["id"])
    assert got["steps"][1]["stopped"]["LEFT_AREA"] >= 1  # the city's own movers come and go too
    row = jclient.app[JOURNEYS].store.conn.execute(
        "SELECT s.outcome, s.reason FROM journey_steps s JOIN journey_recipients r USING (journey_seq, n) "
        "WHERE r.subscriber = ? AND s.step = 2", (world.find_subscriber(msisdn),)).fetchone()
    assert tuple(row) == ("STOPPED", "LEFT_AREA")


async def test_stop_when_consent_is_withdrawn(jclient: Client, world: World, partner: Partner) -> None:
    """onConsentWithdrawn: withdrawing advertising consent stops the rest of the chain (any kind)."""
    body = await create(jclient, partner.token, journey({"type": "SUBSCRIBER_JOINED"}, [
        step("One"), step("Two", delaySeconds=600)], stop={"onConsentWithdrawn": True}))
    await advance(jclient, 60)
    msisdn = await phone(jclient, "+491701100008")
    await advance(jclient, 120)
    resp = await jclient.put(f"/admin/v1/subscribers/{msisdn}/consent", headers=ADMIN,
                             json={"purpose": "ADVERTISING", "channel": "SMS", "granted": False})
    assert resp.status == 200, await resp.text()
    await advance(jclient, 1200)
    assert [m["text"] for m in await inbox(jclient, msisdn)] == ["One"]
    assert (await report(jclient, partner.token, body["id"]))["steps"][1]["stopped"]["CONSENT_WITHDRAWN"] == 1


async def test_cancel_stops_the_rest(jclient: Client, world: World, partner: Partner) -> None:
    """DELETE stops every pending step (CANCELLED) and takes no new recipients; a second cancel is 409."""
    body = await create(jclient, partner.token, journey({"type": "SUBSCRIBER_JOINED"}, [
        step("One"), step("Two", delaySeconds=600)]))
    await advance(jclient, 60)
    msisdn = await phone(jclient, "+491701100009")
    await advance(jclient, 60)
    resp = await jclient.delete(f"{PATH}/{body['id']}", headers=bearer(partner.token))
    assert resp.status == 200 and (await resp.json())["status"] == "CANCELLED"
    later = await phone(jclient, "+491701100010")
    await advance(jclient, 1800)
    assert [m["text"] for m in await inbox(jclient, msisdn)] == ["One"] and await inbox(jclient, later) == []
    got = await report(jclient, partner.token, body["id"])
    assert got["recipients"] == 1 and got["steps"][1]["stopped"]["CANCELLED"] == 1
    resp = await jclient.delete(f"{PATH}/{body['id']}", headers=bearer(partner.token))
    assert resp.status == 409 and (await resp.json())["code"] == "JOURNEYS.NOT_ACTIVE"


# -- per-kind rules and privacy ------------------------------------------------------------------------------------

async def test_promo_step_without_consent_is_suppressed(jclient: Client, world: World, partner: Partner) -> None:
    """A PROMO step follows the campaign policy: no advertising consent, no message (NO_CONSENT); the
    INFORMATIONAL step of the same chain needs none."""
    body = await create(jclient, partner.token, journey({"type": "SUBSCRIBER_JOINED"}, [
        step("Service notice"), step("20% off today", kind="PROMO", delaySeconds=60)]))
    await advance(jclient, 60)
    msisdn = await phone(jclient, "+491701100011", ads=False)
    await advance(jclient, 600)
    assert [m["text"] for m in await inbox(jclient, msisdn)] == ["Service notice"]
    got = await report(jclient, partner.token, body["id"])
    assert got["steps"][1]["suppressed"]["NO_CONSENT"] == 1 and got["steps"][1]["sent"] == 0


async def test_report_withholds_small_counts(client: Client) -> None:
    """Under the default privacy threshold, one recipient's counts are null and named in withheld."""
    p = await new_partner(client)
    body = await create(client, p.token, journey({"type": "SUBSCRIBER_JOINED"}, [step("Hi")]))
    await advance(client, 60)
    await phone(client, "+491701100012")
    await advance(client, 120)
    got = await report(client, p.token, body["id"])
    assert got["privacyThreshold"] == 10 and got["recipients"] is None
    assert {"recipients", "steps[1].sent", "steps[1].delivered"} <= set(got["withheld"])
    assert got["steps"][0]["sent"] is None and got["steps"][0]["failed"] == 0


async def test_journeys_are_private_to_their_partner(jclient: Client, world: World, partner: Partner) -> None:
    """Another partner's journey is 404 everywhere; the partner itself cannot read the messages it sent to
    subscribers the operator selected."""
    other = await new_partner(jclient, "other")
    body = await create(jclient, partner.token, journey({"type": "SUBSCRIBER_JOINED"}, [step("Hi")]))
    jid = body["id"]
    for method, path, payload in (("GET", f"{PATH}/{jid}", None), ("GET", f"{PATH}/{jid}/report", None),
                                  ("DELETE", f"{PATH}/{jid}", None),
                                  ("POST", f"{PATH}/{jid}/enrolments",
                                   {"phoneNumber": "+491701100013", "eventTime": "2026-06-03T00:00:00Z"})):
        resp = await jclient.request(method, path, json=payload, headers=bearer(other.token))
        assert resp.status == 404, (method, path)
        assert (await resp.json())["code"] == "NOT_FOUND"
    resp = await jclient.get(PATH, headers=bearer(other.token))
    assert (await resp.json())["journeys"] == []
    await advance(jclient, 60)
    msisdn = await phone(jclient, "+491701100014")
    await advance(jclient, 90)
    [message] = await inbox(jclient, msisdn)
    resp = await jclient.get(f"/messages/v1/messages/{message['id']}", headers=bearer(partner.token))
    assert resp.status == 404


# -- bad input -----------------------------------------------------------------------------------------------------

BAD: list[tuple[dict[str, Any], int, str]] = [
    ({"trigger": {"type": "BIRTHDAY"}}, 400, "INVALID_ARGUMENT"),  # unknown trigger
    ({"steps": []}, 400, "INVALID_ARGUMENT"),  # no step
    ({"steps": [step()] * 11}, 400, "INVALID_ARGUMENT"),  # too many steps
    ({"steps": [step(colour="red")]}, 400, "INVALID_ARGUMENT"),  # unknown field
    ({"steps": [step(delaySeconds="60")]}, 400, "INVALID_ARGUMENT"),  # delay as a string
    ({"steps": [step(delaySeconds=-60)]}, 400, "INVALID_ARGUMENT"),  # negative delay outside EVENT_REMINDER
    ({"steps": [step(delaySeconds=600, after="TRIGGER"), step(delaySeconds=60, after="TRIGGER")]}, 400,
     "INVALID_ARGUMENT"),  # steps out of time order
    ({"trigger": {"type": "AREA_ENTERED"}}, 400, "INVALID_ARGUMENT"),  # area missing
    ({"stop": {"onAreaExit": True}}, 400, "INVALID_ARGUMENT"),  # onAreaExit without an area trigger
    ({"stop": {"maxRecipients": 0}}, 400, "INVALID_ARGUMENT"),  # maxRecipients under 1
    ({"stop": {"endTime": "2026-05-01T00:00:00Z"}}, 400, "INVALID_ARGUMENT"),  # end in the past
    ({"stop": {"endTime": "2026-06-02T00:00:00"}}, 400, "INVALID_ARGUMENT"),  # instant without a zone
    ({"senderName": "Unknown"}, 422, "MESSAGES.SENDER_NOT_APPROVED"),  # sender not approved
    ({"steps": [{"kind": "INFORMATIONAL", "channel": "SMS"}]}, 400, "INVALID_ARGUMENT"),  # neither text nor template
    ({"steps": [{"kind": "INFORMATIONAL", "channel": "SMS", "templateId": "tpl_00000099"}]}, 422,
     "MESSAGES.TEMPLATE_NOT_APPROVED"),  # a template that is not approved
    ({"steps": [step(kind="AUTHENTICATION")]}, 422, "JOURNEYS.KIND_NOT_ALLOWED"),  # codes are never chained
    ({"steps": [step(kind="TRANSACTIONAL")]}, 422, "JOURNEYS.KIND_NOT_ALLOWED"),  # transactional to strangers
    ({"steps": [step(text="Big casino night", kind="PROMO")]}, 422, "MESSAGES.MODERATION_REJECTED"),  # moderation
    ({"steps": [step(ttlSeconds=10**8)]}, 400, "OUT_OF_RANGE"),  # time to live over the maximum
]


@pytest.mark.parametrize(("change", "status", "code"), BAD)
async def test_bad_input(jclient: Client, partner: Partner, change: dict[str, Any], status: int, code: str) -> None:
    """Every refusal is the one error shape with a precise code, and nothing is stored."""
    body = {**journey({"type": "SUBSCRIBER_JOINED"}, [step()]), **change}
    resp = await jclient.post(PATH, json=body, headers=bearer(partner.token))
    assert resp.status == status, await resp.text()
    assert (await resp.json())["code"] == code
    assert (await (await jclient.get(PATH, headers=bearer(partner.token))).json())["journeys"] == []


async def test_bad_enrolments(jclient: Client, world: World, partner: Partner) -> None:
    """Enrolments: only EVENT_REMINDER journeys, future events, subscribers, no repeat, within maxRecipients."""
    joined = await create(jclient, partner.token, journey({"type": "SUBSCRIBER_JOINED"}, [step()]))
    reminder = await create(jclient, partner.token, journey({"type": "EVENT_REMINDER"}, [step()],
                                                            stop={"maxRecipients": 1}))
    msisdn = await phone(jclient, "+491701100015")
    future = format_instant(world.clock.now + timedelta(days=1))
    cases = [
        (joined["id"], {"phoneNumber": msisdn, "eventTime": future}, 409, "JOURNEYS.NOT_ENROLLABLE"),
        (reminder["id"], {"phoneNumber": msisdn, "eventTime": START}, 400, "INVALID_ARGUMENT"),
        (reminder["id"], {"phoneNumber": "+491799999999", "eventTime": future}, 404, "IDENTIFIER_NOT_FOUND"),
        (reminder["id"], {"phoneNumber": "0170", "eventTime": future}, 400, "INVALID_ARGUMENT"),
        (reminder["id"], {"phoneNumber": msisdn, "eventTime": future}, 201, ""),
        (reminder["id"], {"phoneNumber": msisdn, "eventTime": future}, 409, "JOURNEYS.MAX_RECIPIENTS_REACHED"),
    ]
    for jid, payload, status, code in cases:
        resp = await jclient.post(f"{PATH}/{jid}/enrolments", json=payload, headers=bearer(partner.token))
        assert resp.status == status, (payload, await resp.text())
        if code:
            assert (await resp.json())["code"] == code


# -- clients and determinism ----------------------------------------------------------------------------------------

async def test_journey_round_trip_with_clients(aiohttp_server: AiohttpServer, world: World,
                                               settings: Settings) -> None:
    """Create (idempotent), list, read, enrol, report and cancel through the typed PartnerClient."""
    server = await aiohttp_server(create_app(world, settings))
    url = str(server.make_url("")).rstrip("/")
    async with AdminClient(url, ADMIN_TOKEN) as admin:
        created = await admin.create_partner("acme", list(SCOPES))
        await admin.add_test_subscriber("+491701100016")
        async with PartnerClient(url, created.client_id, created.client_secret) as partner:
            _, raw = await partner.send("POST", "/messages/v1/senders", json={"name": "Acme"})
            sender_id = json.loads(raw)["id"]
            await admin.send("POST", f"/admin/v1/message-senders/{sender_id}/decision", json={"decision": "APPROVED"})
            body = JourneyCreate.model_validate(journey({"type": "EVENT_REMINDER"}, [
                step(kind="TRANSACTIONAL", delaySeconds=-600, after="TRIGGER")]))
            made = await partner.create_journey(body, idempotency_key="once")
            assert (await partner.create_journey(body, idempotency_key="once")).id == made.id
            assert [j.id for j in (await partner.journeys()).journeys] == [made.id]
            assert (await partner.journey(made.id)).status == "ACTIVE"
            event = datetime.fromisoformat("2026-06-01T08:00:00+00:00")
            enrolment = await partner.enrol(made.id, EnrolmentRequest(phone_number="+491701100016",
                                                                      event_time=event))
            assert enrolment.steps[0].due_at == event - timedelta(minutes=10)
            await admin.advance(timedelta(hours=2))
            assert (await partner.journey_report(made.id)).steps[0].stopped["CANCELLED"] == 0
            assert (await partner.cancel_journey(made.id)).status == "CANCELLED"


async def test_same_seed_same_journey_records(aiohttp_client: AiohttpClient, fresh_world: Any,
                                              settings: Settings, tmp_path: Any) -> None:
    """Two identical worlds and API calls give identical journey records (recipients, steps, messages)."""
    digests = []
    for k in range(2):
        client = await aiohttp_client(create_app(fresh_world(), dataclasses.replace(
            settings, db_path=tmp_path / f"run{k}.db")))
        p = await new_partner(client)
        await create(client, p.token, journey({"type": "ROAMING_ARRIVAL"}, [step("Welcome"),
                                                                           step("Tips", delaySeconds=900)]))
        await advance(client, 3600)
        conn = client.app[JOURNEYS].store.conn
        rows = conn.execute("SELECT s.n, s.step, s.outcome, s.at_us, r.subscriber, m.status, m.opened_us "
                            "FROM journey_steps s JOIN journey_recipients r USING (journey_seq, n) "
                            "LEFT JOIN messages m ON m.seq = s.message_seq ORDER BY s.n, s.step").fetchall()
        digests.append([tuple(r) for r in rows])
    assert digests[0] and digests[0] == digests[1]


# -- restart and operator-side truth ---------------------------------------------------------------------------------

async def truth(client: Client, jid: str, limit: int = 1000) -> list[dict[str, Any]]:
    """Every recipient of a journey through the admin API (all pages)."""
    out: list[dict[str, Any]] = []
    cursor = "0"
    while True:
        resp = await client.get(f"/admin/v1/journeys/{jid}/recipients", params={"limit": str(limit),
                                                                                 "cursor": cursor}, headers=ADMIN)
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        out += body["recipients"]
        if body.get("nextCursor") is None:
            return out
        cursor = body["nextCursor"]


async def first_phase(client: Client, world: World) -> tuple[Partner, list[str], list[str]]:
    """Journeys of every trigger (and one cancelled), run until some steps have fired and some wait."""
    p = await new_partner(client)
    walker = await outside_phone(client, world, "+491701100020")
    early = await create(client, p.token, journey({"type": "SUBSCRIBER_JOINED"}, [step("Too early")]))
    await phone(client, "+491701100023")  # joins at the instant of the next journey's creation, before it
    chains: list[tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]] = [
        ({"type": "SUBSCRIBER_JOINED"}, [step("Welcome aboard", delaySeconds=120, after="TRIGGER"),
                                         step("Your tips", delaySeconds=3600)], {}),
        ({"type": "ROAMING_ARRIVAL"}, [step("Willkommen!"), step("Travel tips", delaySeconds=1800)], {}),
        (area_trigger(world), [step("Hi"), step("Still around?", delaySeconds=1800)], {"stop": {"onAreaExit": True}}),
        ({"type": "EVENT_REMINDER"}, [
            step("In one hour", kind="TRANSACTIONAL", delaySeconds=-3600, after="TRIGGER"),
            step("In ten minutes", kind="TRANSACTIONAL", delaySeconds=-600, after="TRIGGER")], {}),
        ({"type": "SUBSCRIBER_JOINED"}, [step("One"), step("Two", delaySeconds=900)], {})]
    ids = [early["id"]] + [(await create(client, p.token, journey(trigger, steps, **extra)))["id"]
                           for trigger, steps, extra in chains]
    await advance(client, 60)
    joiner = await phone(client, "+491701100021")  # joins at 06:01
    await pin(client, walker, *centre(world))  # enters at 06:01
    enrolled = await phone(client, "+491701100022")
    resp = await client.post(f"{PATH}/{ids[4]}/enrolments", headers=bearer(p.token),
                             json={"phoneNumber": enrolled, "eventTime": "2026-06-01T07:30:00Z"})
    assert resp.status == 201, await resp.text()
    await advance(client, 120)
    resp = await client.delete(f"{PATH}/{ids[5]}", headers=bearer(p.token))  # its joiner's step 2 is CANCELLED
    assert resp.status == 200, await resp.text()
    await advance(client, 30 * 60 + 30)  # 06:33:30, between two ticks
    return p, ids, [walker, joiner, enrolled, "+491701100023"]


async def snapshot(client: Client, p: Partner, ids: list[str], phones: list[str]) -> dict[str, Any]:
    """Reports (but their generation instant), the operator-side truth and inboxes of every recipient."""
    reports = [{k: v for k, v in (await report(client, p.token, jid)).items() if k != "generatedAt"} for jid in ids]
    records = {jid: await truth(client, jid, limit=7) for jid in ids}
    numbers = sorted({r["msisdn"] for rs in records.values() for r in rs} | set(phones))
    return {"reports": reports, "records": records, "inboxes": {m: await inbox(client, m) for m in numbers}}


async def test_restart_resumes_journeys_as_if_uninterrupted(aiohttp_client: AiohttpClient, fresh_world: Any,
                                                            settings: Settings, tmp_path: Any) -> None:
    """Stop with steps fired and pending and restart from the same db: reports, records and inboxes are those
    before the stop, pending steps fire at their instants, and the end state is that of an uninterrupted run."""
    def app_settings(name: str) -> Settings:
        return dataclasses.replace(settings, db_path=tmp_path / name,
                                   campaigns=CampaignSettings(privacy_threshold=1))

    whole = await aiohttp_client(create_app(fresh_world(), app_settings("whole.db")))
    wp, ids, phones = await first_phase(whole, whole.app[JOURNEYS].world)
    await advance(whole, 3 * 3600)
    uninterrupted = await snapshot(whole, wp, ids, phones)
    await whole.close()

    first = await aiohttp_client(create_app(fresh_world(), app_settings("restarted.db")))
    p, ids, phones = await first_phase(first, first.app[JOURNEYS].world)
    before = await snapshot(first, p, ids, phones)
    walker, joiner, enrolled, _ = phones
    # (the two at 06:02 in the order of their drawn latencies)
    assert received(before["inboxes"][joiner]) == [("Too early", "2026-06-01T06:02"), ("One", "2026-06-01T06:02"),
                                                   ("Welcome aboard", "2026-06-01T06:03")]
    assert received(before["inboxes"][enrolled])[-1] == ("In one hour", "2026-06-01T06:30")
    assert ("Hi", "2026-06-01T06:02") in received(before["inboxes"][walker])
    pending = [s["outcome"] for rs in before["records"].values() for r in rs for s in r["steps"]]
    assert "PENDING" in pending and "MESSAGE" in pending and "STOPPED" in pending
    await first.close()

    world = fresh_world()
    second = await aiohttp_client(create_app(world, app_settings("restarted.db")))
    assert await snapshot(second, p, ids, phones) == before
    await advance(second, 29 * 60)  # 07:02:30: the joiner's second step is due at 07:03
    [joined] = [r for r in await truth(second, ids[1]) if r["msisdn"] == joiner]
    assert joined["steps"][1]["outcome"] == "PENDING" and joined["steps"][1]["dueAt"] == "2026-06-01T07:03:00Z"
    await advance(second, 60)
    [joined] = [r for r in await truth(second, ids[1]) if r["msisdn"] == joiner]
    assert joined["steps"][1]["outcome"] == "MESSAGE" and joined["steps"][1]["decidedAt"] == "2026-06-01T07:03:00Z"
    await advance(second, 3 * 3600 - 30 * 60)
    [late] = [r for r in (await truth(second, ids[4])) if r["msisdn"] == enrolled]
    assert [(s["dueAt"], s["decidedAt"]) for s in late["steps"]] == [("2026-06-01T06:30:00Z", "2026-06-01T06:30:00Z"),
                                                                     ("2026-06-01T07:20:00Z", "2026-06-01T07:20:00Z")]
    assert await snapshot(second, p, ids, phones) == uninterrupted


def tally(records: list[dict[str, Any]], steps: int) -> list[dict[str, Any]]:
    """The per-step counts of a report, computed from the operator-side truth."""
    out: list[dict[str, Any]] = []
    for k in range(steps):
        outcomes = [r["steps"][k] for r in records]
        messages = [s for s in outcomes if s["outcome"] == "MESSAGE"]
        suppressed: dict[str, int] = {}
        stopped: dict[str, int] = {}
        for s in outcomes:
            if s["outcome"] == "STOPPED":
                stopped[s["reason"]] = stopped.get(s["reason"], 0) + 1
            elif s["outcome"] == "REFUSED" or s.get("status") == "SUPPRESSED":
                reason = s["reason"].rsplit(".", 1)[-1]
                suppressed[reason] = suppressed.get(reason, 0) + 1
        out.append({"step": k + 1, "pending": sum(s["outcome"] == "PENDING" for s in outcomes),
                    "inFlight": sum(s["status"] in ("ACCEPTED", "HELD", "SENT") for s in messages),
                    "sent": sum(s["sent"] for s in messages),
                    **{name: sum(s["status"] == name.upper() for s in messages)
                       for name in ("delivered", "failed", "expired")},
                    "opened": sum("openedAt" in s for s in messages),
                    "suppressed": suppressed, "stopped": stopped})
    return out


async def test_report_totals_equal_the_operator_truth(jclient: Client, world: World, partner: Partner) -> None:
    """The partner's report is the aggregate of /admin/v1/journeys/{id}/recipients, step by step; pages join up."""
    welcome = await create(jclient, partner.token, journey({"type": "ROAMING_ARRIVAL"}, [
        step("Willkommen!"), step("20% off in the duty free", kind="PROMO", delaySeconds=600),
        step("Tips", delaySeconds=3600)], stop={"onConsentWithdrawn": True}))
    joined = await create(jclient, partner.token, journey({"type": "SUBSCRIBER_JOINED"}, [
        step("Hello", channel="PUSH"), step("Deal", kind="PROMO", delaySeconds=300)]))
    await advance(jclient, 60)
    await phone(jclient, "+491701100030", ads=False)  # no advertising consent: the PROMO step is suppressed
    await phone(jclient, "+491701100031", app=False)  # no app: the PUSH step is suppressed (NO_APP)
    await advance(jclient, 1800)
    await jclient.delete(f"{PATH}/{joined['id']}", headers=bearer(partner.token))
    await advance(jclient, 1800)
    for body in (welcome, joined):
        records = await truth(jclient, body["id"])
        assert records == await truth(jclient, body["id"], limit=3)
        assert [r["n"] for r in records] == list(range(1, len(records) + 1))
        got = await report(jclient, partner.token, body["id"])
        assert got["recipients"] == len(records) > 0
        for counted, expected in zip(got["steps"], tally(records, len(body["steps"])), strict=True):
            nonzero = {k: {r: n for r, n in v.items() if n} if isinstance(v, dict) else v for k, v in counted.items()}
            assert nonzero == expected
    promo = tally(await truth(jclient, joined["id"]), 2)[1]
    assert promo["suppressed"].get("NO_CONSENT") == 1 and tally(await truth(jclient, joined["id"]), 2)[0][
        "suppressed"] == {"NO_APP": 1}
    [first] = (await truth(jclient, welcome["id"], limit=1))[:1]
    assert first["msisdn"].startswith("+") and first["steps"][0]["messageId"].startswith("msg_")


async def test_truth_is_operator_only(jclient: Client, partner: Partner) -> None:
    """The truth endpoint needs the admin token; an unknown journey is 404; a bad cursor is 400."""
    body = await create(jclient, partner.token, journey({"type": "SUBSCRIBER_JOINED"}, [step()]))
    path = f"/admin/v1/journeys/{body['id']}/recipients"
    assert (await jclient.get(path, headers=bearer(partner.token))).status in (401, 403)
    for url, status in ((path, 200), ("/admin/v1/journeys/jny_999999/recipients", 404),
                        (path + "?cursor=x", 400), (path + "?limit=0", 400)):
        resp = await jclient.get(url, headers=ADMIN)
        assert resp.status == status, url
    assert (await (await jclient.get(path, headers=ADMIN)).json()) == {"recipients": []}
