"""Instants in answers are RFC 3339 UTC with ``Z`` (never ``+00:00``): subscriber lastSeen, inbox receivedAt,
consent history, the world summary, and clock errors."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from scenarios.results import summary_json
from simulator.clock import SimClock, format_instant
from simulator.errors import ClockError
from simulator.world import World
from tests.gateway.conftest import ADMIN, Client

LINE = "+491701000100"
INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?")


def _instants(value: Any) -> list[str]:
    """Every string in ``value`` that starts like an ISO 8601 date-time."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in _instants(v)]
    if isinstance(value, list):
        return [s for v in value for s in _instants(v)]
    return [value] if isinstance(value, str) and INSTANT.match(value) else []


async def test_admin_answers_write_instants_with_z(client: Client) -> None:
    """Subscriber view (lastSeen, consent history), inbox (receivedAt) and world summary end every instant in Z."""
    resp = await client.post("/admin/v1/subscribers", json={"msisdn": LINE}, headers=ADMIN)
    assert resp.status == 201
    await client.put(f"/admin/v1/subscribers/{LINE}/consent", json={"purpose": "ANALYTICS", "granted": False},
                     headers=ADMIN)
    partner = await (await client.post("/admin/v1/partners", json={"name": "acme", "scopes": ["verify"]},
                                       headers=ADMIN)).json()
    token = await (await client.post("/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": partner["clientId"],
        "client_secret": partner["clientSecret"]})).json()
    started = await client.post("/verify/v1/verifications", json={"phoneNumber": LINE, "channel": "SMS"},
                                headers={"Authorization": f"Bearer {token['access_token']}"})
    assert started.status == 201
    await client.post("/admin/v1/clock/advance", json={"seconds": 60}, headers=ADMIN)
    view = await (await client.get(f"/admin/v1/subscribers/{LINE}", headers=ADMIN)).json()
    inbox = await (await client.get(f"/admin/v1/subscribers/{LINE}/inbox", headers=ADMIN)).json()
    world = await (await client.get("/admin/v1/world", headers=ADMIN)).json()
    assert view["location"]["lastSeen"].endswith("Z") and inbox["messages"][0]["receivedAt"].endswith("Z")
    found = _instants([view, inbox, world])
    assert len(found) >= 4 and all(s.endswith("Z") for s in found), found


def test_world_summary_locate_and_inbox_use_z(world: World) -> None:
    """The summaries scenarios and exports are built from write Z too."""
    summary = summary_json(world.summary())
    assert summary["now"].endswith("Z") and summary["start"].endswith("Z")
    assert format_instant(world.clock.now + timedelta(hours=3)).endswith("Z")


def test_clock_errors_write_z(world: World) -> None:
    """A clock refusal names its instants with Z (it becomes a 409 message)."""
    clock: SimClock = world.clock
    with pytest.raises(ClockError) as raised:
        clock.run_until(clock.now - timedelta(hours=1))
    assert "+00:00" not in str(raised.value) and f"from {format_instant(clock.now)}" in str(raised.value)
