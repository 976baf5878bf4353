"""Campaign text rules (SMS segments, push limits, sender) and the bad-input table of the campaigns API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from gateway.services.sms import moderation_hit, sender_problem, sms_info, text_problems
from tests.gateway.campaign_helpers import campaign_body, campaign_partner, circle, create, now_of
from tests.gateway.conftest import Client, MakePartner


@pytest.mark.parametrize(("text", "encoding", "units", "segments"), [
    ("", "GSM-7", 0, 0),
    ("a" * 160, "GSM-7", 160, 1),  # exactly one GSM-7 segment
    ("a" * 161, "GSM-7", 161, 2),  # one more septet: concatenated, 153 per part
    ("a" * 306, "GSM-7", 306, 2),
    ("a" * 307, "GSM-7", 307, 3),
    ("€" * 80, "GSM-7", 160, 1),  # extension characters count two septets
    ("€" * 81, "GSM-7", 162, 2),
    ("a" * 152 + "€" + "a" * 10, "GSM-7", 164, 2),  # escape pair not split: fits part one exactly
    ("a" * 153 + "€" + "a" * 152, "GSM-7", 307, 3),  # pair would straddle parts two and three
    ("Grüße {x} [y] ~ |", "GSM-7", 23, 1),  # ü and ß are basic; braces, brackets, tilde, bar extended
    ("é" * 160, "GSM-7", 160, 1),
    ("ç", "UCS-2", 1, 1),  # ç (lower case) is not in GSM-7, only Ç
    ("я" * 70, "UCS-2", 70, 1),  # exactly one UCS-2 segment
    ("я" * 71, "UCS-2", 71, 2),  # 67 per part
    ("я" * 134, "UCS-2", 134, 2),
    ("я" * 135, "UCS-2", 135, 3),
    ("😀" * 35, "UCS-2", 70, 1),  # astral characters are surrogate pairs
    ("я" * 66 + "😀", "UCS-2", 68, 1),
    ("я" * 66 + "😀" + "я" * 3, "UCS-2", 71, 2),  # pair not split: moves to part two
])
def test_sms_segments(text: str, encoding: str, units: int, segments: int) -> None:
    """GSM-7 vs UCS-2 detection and segment counting at the boundaries."""
    info = sms_info(text)
    assert (info.encoding, info.units, info.segments) == (encoding, units, segments)


@pytest.mark.parametrize(("channel", "text", "title", "ok"), [
    ("SMS", "a" * 918, None, True),  # 6 × 153
    ("SMS", "a" * 919, None, False),  # 7 segments
    ("SMS", "я" * 402, None, True),  # 6 × 67
    ("SMS", "я" * 403, None, False),
    ("PUSH", "a" * 240, "t" * 50, True),
    ("PUSH", "a" * 241, None, False),  # body over 240
    ("PUSH", "hi", "t" * 51, False),  # title over 50
    ("PUSH_THEN_SMS", "a" * 240, None, True),
    ("SMS", "hi", "title", False),  # titles are for push only
    ("SMS", "   ", None, False),
])
def test_text_limits(channel: str, text: str, title: str | None, ok: bool) -> None:
    """Per-channel limits: SMS ≤ 6 segments, push title ≤ 50 and body ≤ 240."""
    assert (text_problems(channel, text, title) == []) is ok


@pytest.mark.parametrize(("sender", "ok"), [
    ("Acme", True), ("ACME2026", True), ("A" * 11, True),
    ("A" * 12, False),  # over 11
    ("Acme Shop", False),  # space
    ("12345", False),  # digits only look like a number
    ("Äcme", False),  # not ASCII alphanumeric
])
def test_sender_names(sender: str, ok: bool) -> None:
    """Alphanumeric sender ids: 1-11 ASCII letters or digits with at least one letter."""
    assert (sender_problem(sender) is None) is ok


def test_moderation_matches_whole_words_case_insensitively() -> None:
    """Blocked terms match regardless of case, on word boundaries only."""
    assert moderation_hit("Visit our CASINO", ("casino",)) == "casino"
    assert moderation_hit("casinos are fine here", ("casino",)) is None
    assert moderation_hit("BET NOW!", ("bet now",)) == "bet now"


def _bad(body: dict[str, Any], path: list[str | int], value: Any) -> dict[str, Any]:
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


_DELETE = object()
SQUARE = [{"latitude": 52.50, "longitude": 13.35}, {"latitude": 52.50, "longitude": 13.45},
          {"latitude": 52.55, "longitude": 13.45}, {"latitude": 52.55, "longitude": 13.35}]
BOWTIE = [{"latitude": 52.50, "longitude": 13.35}, {"latitude": 52.55, "longitude": 13.45},
          {"latitude": 52.50, "longitude": 13.45}, {"latitude": 52.55, "longitude": 13.35}]


@pytest.mark.parametrize(("path", "value", "status", "code"), [
    (["targeting", "areas"], [], 400, "INVALID_ARGUMENT"),  # no area
    (["targeting", "areas"], [circle()] * 11, 400, "INVALID_ARGUMENT"),  # more than 10 areas
    (["targeting", "areas", 0, "areaType"], "HEXAGON", 400, "INVALID_ARGUMENT"),  # unknown shape
    (["targeting", "areas", 0, "radius"], -5, 400, "INVALID_ARGUMENT"),  # negative radius
    (["targeting", "areas", 0, "radius"], 50, 422, "CAMPAIGNS.INVALID_AREA"),  # under the operator minimum
    (["targeting", "areas", 0, "center", "latitude"], 95, 400, "INVALID_ARGUMENT"),  # not a latitude
    (["targeting", "areas", 0], circle(48.85, 2.35), 422, "CAMPAIGNS.AREA_NOT_COVERED"),  # Paris, not Berlin
    (["targeting", "areas", 0], {"areaType": "POLYGON", "boundary": SQUARE[:2]}, 400, "INVALID_ARGUMENT"),
    (["targeting", "areas", 0], {"areaType": "POLYGON", "boundary": SQUARE * 4}, 400, "INVALID_ARGUMENT"),  # 16
    (["targeting", "areas", 0], {"areaType": "POLYGON", "boundary": BOWTIE}, 422, "CAMPAIGNS.INVALID_AREA"),
    (["targeting", "areas", 0, "colour"], "red", 400, "INVALID_ARGUMENT"),  # unknown field
    (["targeting", "locationMode"], "NEARBY", 400, "INVALID_ARGUMENT"),
    (["targeting", "dwellMinutes"], 10, 400, "INVALID_ARGUMENT"),  # dwell without ENTERS
    (["targeting", "locationMode"], "VISITED", 400, "INVALID_ARGUMENT"),  # VISITED without interval
    (["targeting", "segment"], {"interestsAny": ["KNITTING"]}, 400, "INVALID_ARGUMENT"),  # unknown interest
    (["targeting", "segment"], {"ageMin": 60, "ageMax": 20}, 400, "INVALID_ARGUMENT"),
    (["schedule", "endTime"], "2026-06-01T05:00:00Z", 400, "INVALID_ARGUMENT"),  # end before start
    (["schedule", "startTime"], "2026-06-01T06:00:00", 400, "INVALID_ARGUMENT"),  # no time zone
    (["schedule", "dailyHours"], {"from": "25:00", "to": "10:00"}, 400, "INVALID_ARGUMENT"),
    (["schedule", "daysOfWeek"], ["FUNDAY"], 400, "INVALID_ARGUMENT"),
    (["message", "kind"], "SPAM", 400, "INVALID_ARGUMENT"),
    (["message", "senderName"], "Acme Shop Berlin", 400, "CAMPAIGNS.INVALID_MESSAGE"),
    (["message", "text"], "x" * 1000, 400, "CAMPAIGNS.INVALID_MESSAGE"),  # 7 SMS segments
    (["message", "text"], _DELETE, 400, "INVALID_ARGUMENT"),
    (["maxRecipients"], 0, 400, "INVALID_ARGUMENT"),
    (["unexpected"], True, 400, "INVALID_ARGUMENT"),  # unknown top-level field
])
async def test_bad_campaign_input(client: Client, make_partner: MakePartner, path: list[str | int], value: Any,
                                  status: int, code: str) -> None:
    """Every bad input is a clean error in the one shape; nothing is stored."""
    caller = await campaign_partner(client, make_partner)
    body = _bad(campaign_body(await now_of(client)), path, value)
    resp = await client.post("/campaigns/v1/campaigns", json=body, headers=caller.headers)
    assert resp.status == status, await resp.text()
    error = await resp.json()
    assert error["code"] == code and error["status"] == status and error["message"]
    listed = await (await client.get("/campaigns/v1/campaigns", headers=caller.headers)).json()
    assert listed["campaigns"] == []


async def test_scopes_are_enforced(client: Client, make_partner: MakePartner) -> None:
    """Without campaigns:write a partner cannot create; without campaigns:read it cannot estimate."""
    creds = await make_partner("reader", ("campaigns:read",))
    from tests.gateway.conftest import bearer, fetch_token

    headers = bearer(await fetch_token(client, creds))
    resp = await client.post("/campaigns/v1/campaigns", json=campaign_body(await now_of(client)), headers=headers)
    assert resp.status == 403
    unknown = await client.get("/campaigns/v1/campaigns/cmp_999999", headers=headers)
    assert unknown.status == 404 and (await unknown.json())["code"] == "NOT_FOUND"


async def test_end_in_the_past_is_refused(client: Client, make_partner: MakePartner) -> None:
    """A schedule that is already over is 400."""
    caller = await campaign_partner(client, make_partner)
    now = await now_of(client)
    body = campaign_body(now - timedelta(hours=3), hours=1)
    await create(client, caller, body, status=400)
