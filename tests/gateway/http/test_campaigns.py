"""Targeted campaigns over HTTP: location modes, schedules, dwell, quiet hours, caps, lifecycle, privacy."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from gateway.http.app import create_app
from gateway.http.keys import CAMPAIGNS
from simulator.world import World
from tests.gateway.campaign_helpers import (
    CENTRE,
    SCOPES,
    Caller,
    advance,
    campaign_body,
    campaign_partner,
    circle,
    create,
    instant,
    now_of,
    report,
    tally,
    truth,
)
from tests.gateway.conftest import ADMIN, Client, MakePartner, PartnerCreds, bearer, fetch_token

FAR = (52.45, 13.25)  # inside Berlin, ~13 km from the centre


async def qa_phone(client: Client, msisdn: str, where: tuple[float, float], *, push: bool = True, sms: bool = True,
                   app: bool = True, age: int = 30) -> None:
    body = {"msisdn": msisdn, "profile": {"appInstalled": app, "age": age},
            "consent": {"ADVERTISING": {"PUSH": push, "SMS": sms}}, "latitude": where[0], "longitude": where[1]}
    resp = await client.post("/admin/v1/subscribers", json=body, headers=ADMIN)
    assert resp.status == 201, await resp.text()


async def pin(client: Client, msisdn: str, where: tuple[float, float]) -> None:
    resp = await client.post(f"/admin/v1/subscribers/{quote(msisdn)}/pin",
                             json={"latitude": where[0], "longitude": where[1]}, headers=ADMIN)
    assert resp.status == 200, await resp.text()


async def inbox(client: Client, msisdn: str) -> list[dict[str, Any]]:
    resp = await client.get(f"/admin/v1/subscribers/{quote(msisdn)}/inbox", headers=ADMIN)
    body: dict[str, Any] = await resp.json()
    return list(body["messages"])


def campaign_messages(messages: list[dict[str, Any]], cid: str) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("campaignId") == cid]


async def test_present_campaign_runs_reports_and_matches_truth(client: Client, make_partner: MakePartner,
                                                               world: World) -> None:
    """PRESENT: occupants at start are evaluated once; the report equals the operator-side truth."""
    caller = await campaign_partner(client, make_partner)
    now = await now_of(client)
    created = await create(client, caller, campaign_body(now, hours=1))
    assert created["status"] == "SCHEDULED" and created["id"] == "cmp_000001"
    await advance(client, 30)
    running = await (await client.get(f"/campaigns/v1/campaigns/{created['id']}", headers=caller.headers)).json()
    assert running["status"] == "RUNNING" and running["startedAt"] == "2026-06-01T06:01:00Z"
    records = await truth(client, created["id"])
    counts = tally(records)
    rep = await report(client, caller, created["id"])
    assert rep["sent"] == counts.get("DELIVERED", 0) + counts.get("FAILED", 0)
    assert rep["suppressed"]["NO_CONSENT"] == counts["NO_CONSENT"]
    assert rep["matched"] == len(records)
    assert len({r["msisdn"] for r in records}) == len(records)  # each subscriber once per campaign
    delivered = [r for r in records if r["outcome"] == "DELIVERED"]
    msgs = campaign_messages(await inbox(client, delivered[0]["msisdn"]), created["id"])
    assert [m["id"] for m in msgs] == [delivered[0]["id"]]
    await advance(client, 40)
    done = await (await client.get(f"/campaigns/v1/campaigns/{created['id']}", headers=caller.headers)).json()
    assert done["status"] == "COMPLETED"
    assert len(await truth(client, created["id"])) == len(records)  # nobody new: PRESENT is a snapshot


async def test_enters_reaches_a_phone_that_walks_in(client: Client, make_partner: MakePartner) -> None:
    """ENTERS: a subscriber moving from outside into the area gets the message once, even entering twice."""
    caller = await campaign_partner(client, make_partner)
    await qa_phone(client, "+4915550000001", FAR)
    now = await now_of(client)
    c = await create(client, caller, campaign_body(now, hours=3, targeting={"locationMode": "ENTERS"}))
    await advance(client, 5)
    assert campaign_messages(await inbox(client, "+4915550000001"), c["id"]) == []
    await pin(client, "+4915550000001", CENTRE)
    await advance(client, 2)
    assert len(campaign_messages(await inbox(client, "+4915550000001"), c["id"])) == 1
    await pin(client, "+4915550000001", FAR)
    await advance(client, 2)
    await pin(client, "+4915550000001", CENTRE)
    await advance(client, 2)
    assert len(campaign_messages(await inbox(client, "+4915550000001"), c["id"])) == 1


async def test_enters_with_dwell_waits_and_drops_those_who_leave(client: Client, make_partner: MakePartner) -> None:
    """ENTERS with dwellMinutes: sent only after staying that long; leaving earlier cancels the entry."""
    caller = await campaign_partner(client, make_partner)
    await qa_phone(client, "+4915550000002", FAR)
    await qa_phone(client, "+4915550000003", FAR)
    now = await now_of(client)
    c = await create(client, caller, campaign_body(now, hours=3, targeting={"locationMode": "ENTERS",
                                                                            "dwellMinutes": 20}))
    await advance(client, 2)
    await pin(client, "+4915550000002", CENTRE)
    await pin(client, "+4915550000003", CENTRE)
    await advance(client, 10)
    await pin(client, "+4915550000003", FAR)
    assert campaign_messages(await inbox(client, "+4915550000002"), c["id"]) == []
    await advance(client, 15)
    assert len(campaign_messages(await inbox(client, "+4915550000002"), c["id"])) == 1
    assert campaign_messages(await inbox(client, "+4915550000003"), c["id"]) == []


async def test_home_and_work_modes_pick_residents(client: Client, make_partner: MakePartner, world: World) -> None:
    """HOME and WORK: candidates are exactly those whose home or workplace cell serves the area."""
    caller = await campaign_partner(client, make_partner)
    now = await now_of(client)
    for mode in ("HOME", "WORK"):
        body = campaign_body(now, targeting={"locationMode": mode, "areas": [circle(radius=4000)]},
                             message={"kind": "INFORMATIONAL"})
        c = await create(client, caller, body)
        await advance(client, 2)
        records = await truth(client, c["id"])
        cells = world.area_cells(_circle_area(world, 4000))
        expected = set(world.msisdns(world.residents_of_cells(cells, mode)))
        assert {r["msisdn"] for r in records} == expected


def _circle_area(world: World, radius: float) -> Any:
    from simulator.geo import Area

    return Area.circle_wgs84(world.city.projection, CENTRE[0], CENTRE[1], radius)


async def test_visited_uses_the_past_interval(client: Client, make_partner: MakePartner, world: World) -> None:
    """VISITED: candidates are the visitors of the area during visitedFrom–visitedTo."""
    caller = await campaign_partner(client, make_partner)
    start = await now_of(client)
    await advance(client, 90)
    now = await now_of(client)
    body = campaign_body(now, targeting={"locationMode": "VISITED", "visitedFrom": instant(start),
                                         "visitedTo": instant(start + timedelta(hours=1))})
    c = await create(client, caller, body)
    await advance(client, 2)
    cells = world.area_cells(_circle_area(world, 3000))
    visitors = world.visitors_of_cells(cells, start, start + timedelta(hours=1))
    assert {r["msisdn"] for r in await truth(client, c["id"])} == set(world.msisdns(visitors))


async def test_daily_window_and_days_of_week(client: Client, make_partner: MakePartner) -> None:
    """PRESENT waits for its local daily window; a day not in daysOfWeek sends nothing."""
    caller = await campaign_partner(client, make_partner)
    now = await now_of(client)  # Monday 08:00 in Berlin
    windowed = await create(client, caller, campaign_body(now, hours=12, schedule={
        "dailyHours": {"from": "10:00", "to": "11:00"}}))
    tuesday = await create(client, caller, campaign_body(now, hours=12, schedule={"daysOfWeek": ["TUESDAY"]}),
                           )
    await advance(client, 90)  # 09:30 local
    assert await truth(client, windowed["id"]) == []
    await advance(client, 45)  # 10:15 local
    first = await truth(client, windowed["id"])
    assert first and first[0]["at"] == "2026-06-01T08:00:00Z"  # the tick the window opened
    assert await truth(client, tuesday["id"]) == []


async def test_quiet_hours_hold_then_release_or_suppress(client: Client, make_partner: MakePartner) -> None:
    """Quiet hours: held while the schedule stays open (sent after 08:00), suppressed when it closes first."""
    caller = await campaign_partner(client, make_partner)
    now = await now_of(client)
    evening = now.replace(hour=19, minute=30)  # 21:30 in Berlin
    long = await create(client, caller, campaign_body(evening, hours=14))
    short = await create(client, caller, campaign_body(evening, hours=1, message={"kind": "INFORMATIONAL"}))
    await advance(client, 13 * 60 + 40)  # 21:40 local
    rep = await report(client, caller, long["id"])
    assert rep["sent"] == 0 and rep["held"] and rep["held"] > 0
    await advance(client, 90)  # 23:10 local: the short one is over
    short_records = await truth(client, short["id"])
    assert short_records and {r["reason"] for r in short_records} <= {"QUIET_HOURS", "SEGMENT"}
    await advance(client, 9 * 60)  # 08:10 local next day
    sent = [r for r in await truth(client, long["id"]) if r["outcome"] != "SUPPRESSED"]
    assert sent and min(r["at"] for r in sent) == "2026-06-02T06:00:00Z"
    for r in sent:
        hour = datetime.fromisoformat(r["at"]).astimezone(UTC).hour + 2
        assert 8 <= hour < 21


async def test_frequency_cap_across_partners(client: Client, make_partner: MakePartner) -> None:
    """Operator cap: one campaign message per subscriber per local day, across partners."""
    first = await campaign_partner(client, make_partner, "first")
    second = await campaign_partner(client, make_partner, "second")
    now = await now_of(client)
    a = await create(client, first, campaign_body(now))
    await advance(client, 2)
    b = await create(client, second, campaign_body(now + timedelta(minutes=2)))
    await advance(client, 2)
    sent_a = {r["msisdn"] for r in await truth(client, a["id"]) if r["outcome"] != "SUPPRESSED"}
    records_b = await truth(client, b["id"])
    capped = {r["msisdn"] for r in records_b if r["reason"] == "FREQUENCY_CAP"}
    assert capped and capped <= sent_a
    assert not sent_a & {r["msisdn"] for r in records_b if r["outcome"] != "SUPPRESSED"}


async def test_max_recipients_and_segment(client: Client, make_partner: MakePartner) -> None:
    """maxRecipients caps sends; segment mismatches are recorded as SEGMENT."""
    caller = await campaign_partner(client, make_partner)
    now = await now_of(client)
    body = campaign_body(now, maxRecipients=60, targeting={"areas": [circle(radius=6000)],
                                                           "segment": {"ageMin": 25, "ageMax": 60}})
    c = await create(client, caller, body)
    await advance(client, 2)
    counts = tally(await truth(client, c["id"]))
    assert counts.get("DELIVERED", 0) + counts.get("FAILED", 0) == 60
    assert counts["MAX_RECIPIENTS"] > 0 and counts["SEGMENT"] > 0


async def test_cancel_stops_sends_and_suppresses_held(client: Client, make_partner: MakePartner) -> None:
    """DELETE cancels: held candidates become CANCELLED, nothing more is sent; cancelling twice is 409."""
    caller = await campaign_partner(client, make_partner)
    now = await now_of(client)
    evening = now.replace(hour=19, minute=30)
    c = await create(client, caller, campaign_body(evening, hours=14))
    future = await create(client, caller, campaign_body(now + timedelta(days=1), hours=2))
    await advance(client, 13 * 60 + 40)
    held = (await report(client, caller, c["id"]))["held"]
    assert held
    resp = await client.delete(f"/campaigns/v1/campaigns/{c['id']}", headers=caller.headers)
    assert resp.status == 200 and (await resp.json())["status"] == "CANCELLED"
    await client.delete(f"/campaigns/v1/campaigns/{future['id']}", headers=caller.headers)
    await advance(client, 11 * 60)
    counts = tally(await truth(client, c["id"]))
    assert counts["CANCELLED"] == held and "DELIVERED" not in counts
    assert await truth(client, future["id"]) == []
    again = await client.delete(f"/campaigns/v1/campaigns/{c['id']}", headers=caller.headers)
    assert again.status == 409


async def test_idempotency_key(client: Client, make_partner: MakePartner) -> None:
    """Same key and body: same campaign (200); same key, other body: 409."""
    caller = await campaign_partner(client, make_partner)
    now = await now_of(client)
    body = campaign_body(now)
    first = await create(client, caller, body, key="k-1")
    again = await create(client, caller, body, status=200, key="k-1")
    assert again["id"] == first["id"]
    other = dict(body, name="Other")
    resp = await client.post("/campaigns/v1/campaigns", json=other,
                             headers={**caller.headers, "Idempotency-Key": "k-1"})
    assert resp.status == 409 and (await resp.json())["code"] == "CONFLICT"
    listed = await (await client.get("/campaigns/v1/campaigns", headers=caller.headers)).json()
    assert [c["id"] for c in listed["campaigns"]] == [first["id"]]


async def test_moderation_rejects(client: Client, make_partner: MakePartner) -> None:
    """A text with a blocked term is stored as REJECTED with a reason and never runs."""
    caller = await campaign_partner(client, make_partner)
    now = await now_of(client)
    c = await create(client, caller, campaign_body(now, message={"text": "Win big at the CASINO tonight"}))
    assert c["status"] == "REJECTED" and "casino" in c["rejectionReason"]
    await advance(client, 5)
    assert await truth(client, c["id"]) == []


async def test_listing_is_paginated_and_own_only(client: Client, make_partner: MakePartner) -> None:
    """GET /campaigns pages the caller's campaigns; another partner's id is 404 everywhere."""
    a = await campaign_partner(client, make_partner, "a")
    b = await campaign_partner(client, make_partner, "b")
    now = await now_of(client)
    ids = [(await create(client, a, campaign_body(now, name=f"c{i}")))["id"] for i in range(3)]
    page = await (await client.get("/campaigns/v1/campaigns", params={"limit": "2"}, headers=a.headers)).json()
    assert [c["id"] for c in page["campaigns"]] == ids[:2]
    rest = await (await client.get("/campaigns/v1/campaigns", params={"limit": "2", "cursor": page["nextCursor"]},
                                   headers=a.headers)).json()
    assert [c["id"] for c in rest["campaigns"]] == ids[2:] and "nextCursor" not in rest
    mine = await (await client.get("/campaigns/v1/campaigns", headers=b.headers)).json()
    assert mine["campaigns"] == []
    for method, path in (("GET", ""), ("GET", "/report"), ("DELETE", "")):
        resp = await client.request(method, f"/campaigns/v1/campaigns/{ids[0]}{path}", headers=b.headers)
        assert resp.status == 404, path


async def test_estimate_rounds_and_withholds(client: Client, make_partner: MakePartner) -> None:
    """Estimates are two significant figures; counts under the privacy threshold are null and listed."""
    caller = await campaign_partner(client, make_partner)
    big = await client.post("/campaigns/v1/audience-estimates",
                            json={"targeting": {"areas": [circle(radius=8000)]}}, headers=caller.headers)
    body = await big.json()
    assert big.status == 200 and body["estimatedAudience"] >= 100
    assert len(str(body["estimatedAudience"]).rstrip("0")) <= 2
    tiny = await client.post("/campaigns/v1/audience-estimates",
                             json={"targeting": {"areas": [circle(radius=100)], "segment": {"ageMin": 80}}},
                             headers=caller.headers)
    body = await tiny.json()
    assert body["estimatedAudience"] in (None, 0)
    assert body["estimatedAudience"] is not None or "audience" in body["withheld"]
    small = await client.post("/campaigns/v1/campaigns", json=campaign_body(
        await now_of(client), targeting={"areas": [circle(radius=200)]}), headers=caller.headers)
    assert small.status == 422 and (await small.json())["code"] == "CAMPAIGNS.AUDIENCE_TOO_SMALL"


async def test_partner_responses_never_carry_identities(client: Client, make_partner: MakePartner,
                                                        world: World) -> None:
    """No partner-facing body contains an MSISDN, IMSI or name of anyone in the population."""
    caller = await campaign_partner(client, make_partner)
    now = await now_of(client)
    c = await create(client, caller, campaign_body(now))
    await advance(client, 30)
    bodies = [json.dumps(c)]
    for path in (f"/campaigns/v1/campaigns/{c['id']}", f"/campaigns/v1/campaigns/{c['id']}/report",
                 "/campaigns/v1/campaigns"):
        bodies.append(await (await client.get(path, headers=caller.headers)).text())
    bodies.append(await (await client.post("/campaigns/v1/audience-estimates", json={
        "targeting": {"areas": [circle()]}}, headers=caller.headers)).text())
    text = "\n".join(bodies)
    table = world.population.table()
    for msisdn, imsi, name in zip(table["msisdn"], table["imsi"], table["name"], strict=True):
        assert str(msisdn).lstrip("+") not in text and str(imsi) not in text and name not in text


async def test_listener_hears_lifecycle_events(client: Client, make_partner: MakePartner) -> None:
    """add_listener: started, hourly report and completed events carry aggregates only."""
    events: list[tuple[str, dict[str, Any], datetime]] = []
    client.app[CAMPAIGNS].add_listener(lambda kind, data, at: events.append((kind, data, at)))
    caller = await campaign_partner(client, make_partner)
    now = await now_of(client)
    c = await create(client, caller, campaign_body(now, hours=1.5))
    await advance(client, 120)
    kinds = [e[0] for e in events]
    assert kinds[0] == "campaign.started" and "campaign.report.hourly" in kinds and kinds[-1] == "campaign.completed"
    assert all(e[1]["campaignId"] == c["id"] and e[1]["partnerId"] == caller.id for e in events)


async def test_restart_reproduces_records_and_inboxes(aiohttp_client: Any, fresh_world: Any, settings: Any,
                                                      make_partner: MakePartner, client: Client) -> None:
    """Stop and restart from the same db: the replay rebuilds the same report and inboxes, no duplicates."""
    caller = await campaign_partner(client, make_partner)
    now = await now_of(client)
    a = await create(client, caller, campaign_body(now, hours=3, targeting={"locationMode": "ENTERS"}))
    await advance(client, 30)
    b = await create(client, caller, campaign_body(now + timedelta(minutes=30)))
    await advance(client, 45)
    await client.delete(f"/campaigns/v1/campaigns/{a['id']}", headers=caller.headers)
    await advance(client, 20)
    before = {cid: (await report(client, caller, cid), await truth(client, cid)) for cid in (a["id"], b["id"])}
    sample = [r["msisdn"] for r in before[b["id"]][1] if r["outcome"] == "DELIVERED"][:5]
    inboxes = [await inbox(client, m) for m in sample]
    await client.close()

    world2 = fresh_world()
    client2 = await aiohttp_client(create_app(world2, settings))
    for cid, (rep, records) in before.items():
        rep2 = await report(client2, caller, cid)
        assert {k: v for k, v in rep2.items() if k != "generatedAt"} == {k: v for k, v in rep.items()
                                                                          if k != "generatedAt"}
        assert await truth(client2, cid) == records
    assert [await inbox(client2, m) for m in sample] == inboxes
    await advance(client2, 30)
    assert len(await truth(client2, a["id"])) == len(before[a["id"]][1])  # cancelled: nothing new


async def test_max_campaigns_limit_is_a_quota(client: Client) -> None:
    """A partner limited to 1 active campaign gets 429 QUOTA_EXCEEDED for a second, and may create again after
    cancelling the first."""
    resp = await client.post("/admin/v1/partners", headers=ADMIN,
                             json={"name": "small", "scopes": list(SCOPES), "limits": {"maxCampaigns": 1}})
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    caller = Caller(body["id"], bearer(await fetch_token(client, PartnerCreds(body["id"], body["clientId"],
                                                                                body["clientSecret"]))))
    start = await now_of(client) + timedelta(hours=1)
    first = await create(client, caller, campaign_body(start))
    refused = await client.post("/campaigns/v1/campaigns", json=campaign_body(start), headers=caller.headers)
    assert refused.status == 429
    err = await refused.json()
    assert err["code"] == "QUOTA_EXCEEDED" and err["status"] == 429
    cancel = await client.delete(f"/campaigns/v1/campaigns/{first['id']}", headers=caller.headers)
    assert cancel.status == 200, await cancel.text()
    await create(client, caller, campaign_body(start))


@pytest.mark.parametrize(("start_min", "end_min", "expected"), [
    # 07:00–11:00: hours 07, 08, 09 and 10, each reported at its end (no 06:00 report, a 10:00 one)
    (60, 300, [(60, 120), (120, 180), (180, 240), (240, 300)]),
    # 55 minutes: one partial-hour report, at the campaign's end
    (60, 115, [(60, 115)]),
    # mid-hour start and end: the first and last hours are partial
    (90, 195, [(60, 120), (120, 180), (180, 195)]),
])
async def test_hourly_reports_cover_each_hour_of_the_window_at_its_end(
        client: Client, make_partner: MakePartner, start_min: int, end_min: int,
        expected: list[tuple[int, int]]) -> None:
    """campaign.report.hourly: one per clock hour of [start, end), emitted at min(hour + 1 h, end)."""
    events: list[tuple[str, dict[str, Any], datetime]] = []
    client.app[CAMPAIGNS].add_listener(lambda kind, data, at: events.append((kind, data, at)))
    caller = await campaign_partner(client, make_partner)
    now = await now_of(client)
    base = now.replace(minute=0, second=0, microsecond=0)
    start, end = base + timedelta(minutes=start_min), base + timedelta(minutes=end_min)
    await create(client, caller, campaign_body(start, hours=(end - start) / timedelta(hours=1)))
    await advance(client, (end - now) / timedelta(minutes=1) + 90)
    hourly = [(datetime.fromisoformat(d["hour"]), at) for kind, d, at in events if kind == "campaign.report.hourly"]
    assert hourly == [(base + timedelta(minutes=h), base + timedelta(minutes=t)) for h, t in expected]
    kinds = [kind for kind, _, _ in events]
    assert kinds[-2:] == ["campaign.report.hourly", "campaign.completed"]


async def test_cancel_mid_hour_reports_the_hour_cut_short(client: Client, make_partner: MakePartner) -> None:
    """A campaign cancelled mid-hour gets a last partial-hour report, before campaign.cancelled."""
    events: list[tuple[str, dict[str, Any], datetime]] = []
    client.app[CAMPAIGNS].add_listener(lambda kind, data, at: events.append((kind, data, at)))
    caller = await campaign_partner(client, make_partner)
    now = await now_of(client)
    base = now.replace(minute=0, second=0, microsecond=0)
    c = await create(client, caller, campaign_body(base + timedelta(hours=1), hours=3))
    await advance(client, (base + timedelta(minutes=150) - now) / timedelta(minutes=1))
    resp = await client.delete(f"/campaigns/v1/campaigns/{c['id']}", headers=caller.headers)
    assert resp.status == 200, await resp.text()
    await advance(client, 120)
    got = [(kind, d.get("hour"), at - base) for kind, d, at in events if kind != "campaign.started"]
    assert got == [("campaign.report.hourly", instant(base + timedelta(hours=1)), timedelta(hours=2)),
                   ("campaign.report.hourly", instant(base + timedelta(hours=2)), timedelta(minutes=150)),
                   ("campaign.cancelled", None, timedelta(minutes=150))]
