"""The admin control plane: partners, clock, subscribers, test phones and inboxes, world summary."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from simulator.world import World
from tests.gateway.conftest import ADMIN, Client, MakePartner, a_msisdn

START = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)


async def test_partner_lifecycle(client: Client, make_partner: MakePartner) -> None:
    """Create (secret once), list, get with keys, never a secret again."""
    creds = await make_partner("acme", scopes=("a:b",))
    assert creds.id == "ptn_000001"
    assert creds.client_id == "cid_000001"
    key = await (await client.post(f"/admin/v1/partners/{creds.id}/api-keys", headers=ADMIN)).json()
    assert key["key"].startswith(key["prefix"])
    one = await (await client.get(f"/admin/v1/partners/{creds.id}", headers=ADMIN)).json()
    assert one["apiKeys"] == [{"id": key["id"], "prefix": key["prefix"], "createdAt": "2026-06-01T06:00:00Z",
                               "revoked": False}]
    assert "clientSecret" not in one
    listed = await (await client.get("/admin/v1/partners", headers=ADMIN)).json()
    assert [p["id"] for p in listed["partners"]] == [creds.id]
    gone = await client.delete(f"/admin/v1/partners/{creds.id}/api-keys/{key['id']}", headers=ADMIN)
    assert gone.status == 204
    again = await client.delete(f"/admin/v1/partners/{creds.id}/api-keys/key_999999", headers=ADMIN)
    assert again.status == 404


async def test_clock_advance_by_duration_seconds_and_to(client: Client, world: World) -> None:
    """ISO 8601 durations, seconds and instants all work and return when the world is there."""
    state = await (await client.get("/admin/v1/clock", headers=ADMIN)).json()
    assert state == {"now": "2026-06-01T06:00:00Z", "mode": "manual", "factor": 60.0, "paused": False,
                     "tickSeconds": 60}
    resp = await client.post("/admin/v1/clock/advance", json={"duration": "PT1H30M"}, headers=ADMIN)
    assert (await resp.json())["now"] == "2026-06-01T07:30:00Z"
    resp = await client.post("/admin/v1/clock/advance", json={"seconds": 90}, headers=ADMIN)
    assert (await resp.json())["now"] == "2026-06-01T07:31:30Z"
    resp = await client.post("/admin/v1/clock/advance", json={"to": "2026-06-01T10:00:00+02:00"}, headers=ADMIN)
    assert (await resp.json())["now"] == "2026-06-01T08:00:00Z"
    assert world.clock.now == START + timedelta(hours=2)
    assert world.summary().ticks == 120


@pytest.mark.parametrize(("body", "status"), [
    ({"to": "2026-06-01T05:00:00Z"}, 409),  # the past
    ({"duration": "-PT1H"}, 400),  # negative duration
    ({"seconds": 0}, 400),  # nothing to do is a mistake
    ({"duration": "PT1H", "seconds": 5}, 400),  # two ways at once
    ({}, 400),  # none at all
    ({"duration": "one hour"}, 400),  # not ISO 8601
    ({"duration": "P400D"}, 400),  # beyond the single-advance limit
])
async def test_clock_advance_refusals(client: Client, world: World, body: dict[str, object], status: int) -> None:
    """Bad advances are refused and leave the clock alone."""
    resp = await client.post("/admin/v1/clock/advance", json=body, headers=ADMIN)
    assert resp.status == status
    assert world.clock.now == START


async def test_paced_mode_refuses_advance_and_moves_by_itself(client: Client, world: World) -> None:
    """In paced mode the pacer moves time; manual advances are 409 until switched back."""
    resp = await client.post("/admin/v1/clock/mode", json={"mode": "paced", "factor": 36000}, headers=ADMIN)
    assert (await resp.json())["mode"] == "paced"
    refused = await client.post("/admin/v1/clock/advance", json={"seconds": 60}, headers=ADMIN)
    assert refused.status == 409
    assert (await refused.json())["code"] == "CONFLICT"
    for _ in range(100):  # 36000x: a simulated minute every 1.7 ms of wall time
        await asyncio.sleep(0.02)
        if world.clock.now >= START + timedelta(minutes=10):
            break
    assert world.clock.now >= START + timedelta(minutes=10)
    paused = await (await client.post("/admin/v1/clock/pause", headers=ADMIN)).json()
    assert paused["paused"] is True
    at_pause = world.clock.now
    await asyncio.sleep(0.25)
    assert world.clock.now == at_pause
    await client.post("/admin/v1/clock/resume", headers=ADMIN)
    manual = await (await client.post("/admin/v1/clock/mode", json={"mode": "manual"}, headers=ADMIN)).json()
    assert manual["mode"] == "manual"
    ok = await client.post("/admin/v1/clock/advance", json={"seconds": 60}, headers=ADMIN)
    assert ok.status == 200


async def test_subscriber_lookup_with_and_without_plus(client: Client, world: World) -> None:
    """Profile, location, consent and history; the MSISDN may be URL-encoded with + or given without it."""
    msisdn = a_msisdn(world, 5)
    with_plus = await (await client.get(f"/admin/v1/subscribers/{quote(msisdn, safe='')}", headers=ADMIN)).json()
    without = await (await client.get(f"/admin/v1/subscribers/{msisdn.lstrip('+')}", headers=ADMIN)).json()
    assert with_plus == without
    assert with_plus["profile"]["msisdn"] == msisdn
    assert set(with_plus) == {"profile", "location", "consent", "consentHistory"}
    assert with_plus["location"]["cellId"] == world.locate(5).cell_id


async def test_set_consent_pin_release(client: Client, world: World) -> None:
    """Consent changes show in state and history; pin holds a subscriber, release lets them go."""
    msisdn = a_msisdn(world, 7)
    path = f"/admin/v1/subscribers/{quote(msisdn, safe='')}"
    before = len(world.consent_history(7))
    resp = await client.put(f"{path}/consent", json={"purpose": "ADVERTISING", "channel": "SMS", "granted": False},
                            headers=ADMIN)
    assert resp.status == 200, await resp.text()
    view = await resp.json()
    assert view["consent"]["ADVERTISING"]["SMS"] is False
    assert len(view["consentHistory"]) == before + 1
    assert view["consentHistory"][-1]["source"] == "ADMIN"
    bad = await client.put(f"{path}/consent", json={"purpose": "NOT_A_PURPOSE", "granted": True}, headers=ADMIN)
    assert bad.status == 400
    centre = world.city.projection.lat0, world.city.projection.lon0
    pinned = await (await client.post(f"{path}/pin", json={"latitude": centre[0], "longitude": centre[1]},
                                      headers=ADMIN)).json()
    assert pinned["location"]["pinned"] is True
    assert abs(pinned["location"]["latitude"] - centre[0]) < 1e-4
    await client.post("/admin/v1/clock/advance", json={"duration": "PT2H"}, headers=ADMIN)
    assert abs(world.locate(7).latitude - centre[0]) < 1e-4
    released = await (await client.delete(f"{path}/pin", headers=ADMIN)).json()
    assert released["location"]["pinned"] is False


async def test_test_subscriber_and_inbox(client: Client, world: World) -> None:
    """A QA phone gets the chosen number, profile, consent and place; its inbox lists what it received."""
    lat, lon = world.city.projection.lat0 + 0.01, world.city.projection.lon0
    body = {"msisdn": "+4915100000001", "profile": {"firstName": "Qa", "lastName": "Phone", "age": 33},
            "consent": {"ADVERTISING": {"SMS": True}}, "latitude": lat, "longitude": lon}
    resp = await client.post("/admin/v1/subscribers", json=body, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    view = await resp.json()
    assert view["profile"]["msisdn"] == "+4915100000001"
    assert (view["profile"]["firstName"], view["profile"]["age"], view["profile"]["isTest"]) == ("Qa", 33, True)
    assert view["location"]["pinned"] is True
    assert abs(view["location"]["latitude"] - lat) < 1e-4
    duplicate = await client.post("/admin/v1/subscribers", json=body, headers=ADMIN)
    assert duplicate.status == 409
    inbox_path = "/admin/v1/subscribers/4915100000001/inbox"
    assert await (await client.get(inbox_path, headers=ADMIN)).json() == {"messages": []}
    i = world.find_subscriber("+4915100000001")
    world.deliver(i, "SMS", "ACME", "Hello", "TRANSACTIONAL")
    messages = (await (await client.get(inbox_path, headers=ADMIN)).json())["messages"]
    assert [(m["sender"], m["text"], m["channel"]) for m in messages] == [("ACME", "Hello", "SMS")]
    assert messages[0]["receivedAt"].startswith("2026-06-01T06:00")


@pytest.mark.parametrize("body", [
    {"msisdn": "12"},  # too short
    {"msisdn": "+4915100000002", "latitude": 95.0, "longitude": 13.4},  # not a latitude
    {"msisdn": "+4915100000002", "latitude": 0.0, "longitude": 0.0},  # outside the city
    {"msisdn": "+4915100000002", "consent": {"ADVERTISING": {"SMS": "yes"}}},  # not a boolean
    {"msisdn": "+4915100000002", "profile": {"shoeSize": 44}},  # not a profile field
    {"msisdn": "+4915100000002", "consent": {"TELEPATHY": {"SMS": True}}},  # not a purpose
])
async def test_test_subscriber_refusals(client: Client, world: World, body: dict[str, object]) -> None:
    """Bad QA phones are refused with 400 and nothing is added."""
    size = world.population.size
    resp = await client.post("/admin/v1/subscribers", json=body, headers=ADMIN)
    assert resp.status == 400
    assert world.population.size == size


async def test_world_summary(client: Client) -> None:
    """City, size, cells, sim time and tick cost."""
    await client.post("/admin/v1/clock/advance", json={"seconds": 600}, headers=ADMIN)
    summary = await (await client.get("/admin/v1/world", headers=ADMIN)).json()
    assert summary["city"] == "berlin"
    assert summary["subscribers"] == 2000
    assert summary["cells"] > 0
    assert summary["now"] == "2026-06-01T06:10:00Z"
    assert summary["ticks"] == 10
    assert summary["meanTickMs"] > 0
