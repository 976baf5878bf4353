"""Helpers shared by the campaign tests: partners with campaign scopes, request bodies, clock moves, truth."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tests.gateway.conftest import ADMIN, Client, MakePartner, bearer, fetch_token

SCOPES = ("campaigns:read", "campaigns:write")
CENTRE = (52.52, 13.405)  # Berlin's projection centre


@dataclass
class Caller:
    """A partner's bearer headers."""

    id: str
    headers: dict[str, str]


async def campaign_partner(client: Client, make_partner: MakePartner, name: str = "acme") -> Caller:
    creds = await make_partner(name, SCOPES)
    return Caller(creds.id, bearer(await fetch_token(client, creds)))


def circle(lat: float = CENTRE[0], lon: float = CENTRE[1], radius: float = 3000.0) -> dict[str, Any]:
    return {"areaType": "CIRCLE", "center": {"latitude": lat, "longitude": lon}, "radius": radius}


def instant(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def campaign_body(start: datetime, *, hours: float = 2.0, targeting: dict[str, Any] | None = None,
                  message: dict[str, Any] | None = None, schedule: dict[str, Any] | None = None,
                  **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Summer sale",
        "targeting": {"areas": [circle()], "locationMode": "PRESENT", **(targeting or {})},
        "schedule": {"startTime": instant(start), "endTime": instant(start + timedelta(hours=hours)),
                     **(schedule or {})},
        "message": {"kind": "PROMO", "channel": "PUSH_THEN_SMS", "senderName": "Acme",
                    "text": "20% off today at Acme!", **(message or {})},
    }
    body.update(extra)
    return body


async def now_of(client: Client) -> datetime:
    body = await (await client.get("/admin/v1/clock", headers=ADMIN)).json()
    return datetime.fromisoformat(body["now"])


async def advance(client: Client, minutes: float) -> None:
    resp = await client.post("/admin/v1/clock/advance", json={"seconds": minutes * 60}, headers=ADMIN)
    assert resp.status == 200, await resp.text()


async def create(client: Client, caller: Caller, body: dict[str, Any], status: int = 201,
                 key: str | None = None) -> dict[str, Any]:
    headers = dict(caller.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    resp = await client.post("/campaigns/v1/campaigns", json=body, headers=headers)
    assert resp.status == status, await resp.text()
    out: dict[str, Any] = await resp.json()
    return out


async def report(client: Client, caller: Caller, cid: str) -> dict[str, Any]:
    resp = await client.get(f"/campaigns/v1/campaigns/{cid}/report", headers=caller.headers)
    assert resp.status == 200, await resp.text()
    out: dict[str, Any] = await resp.json()
    return out


async def truth(client: Client, cid: str) -> list[dict[str, Any]]:
    """Every record of a campaign through the admin API (all pages)."""
    records: list[dict[str, Any]] = []
    cursor = 0
    while True:
        resp = await client.get(f"/admin/v1/campaigns/{cid}/deliveries", params={"limit": "1000",
                                                                                  "cursor": str(cursor)},
                                headers=ADMIN)
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        records += body["records"]
        if body.get("nextCursor") is None:
            return records
        cursor = int(body["nextCursor"])


def tally(records: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in records:
        key = r["reason"] if r["outcome"] == "SUPPRESSED" else r["outcome"]
        out[key] = out.get(key, 0) + 1
    return out


def deep(value: Any) -> Any:
    return copy.deepcopy(value)
