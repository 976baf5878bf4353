"""A pace the world cannot keep up with runs as fast as it can, in bounded wake-ups, and never runs away."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from gateway.core.settings import Settings
from gateway.http.keys import CONTROL
from simulator.world import World
from tests.gateway.conftest import ADMIN, Client


async def test_huge_factor_wake_up_runs_bounded_ticks(client: Client, world: World, settings: Settings) -> None:
    """Factor 1e6: one wake-up runs ``pacer_max_ticks`` ticks, then re-anchors instead of chasing a backlog."""
    control = client.app[CONTROL]
    await control.set_mode("paced", 1_000_000)
    clock = world.clock
    clock.resume(wall=1000.0)  # anchor on a wall reading the test controls
    start = clock.now
    # Ten wall seconds at 1e6 would be 116 simulated days: a wake-up runs only its bounded share.
    assert await control.pace_once(1010.0) == settings.pacer_max_ticks
    assert control.last_wake_ticks == settings.pacer_max_ticks
    assert clock.now == start + world.tick * settings.pacer_max_ticks
    # Re-anchored where it stopped: no wall time has passed since, so nothing is owed.
    assert await control.pace_once(1010.0) == 0
    assert await control.pace_once(1010.000001) == 1  # a microsecond at 1e6 is a second: one (partial) tick


async def test_slow_factor_keeps_exact_pace(client: Client, world: World) -> None:
    """Within the bound the pace is exact: 60x for one wall second is one simulated minute."""
    control = client.app[CONTROL]
    await control.set_mode("paced", 60)
    world.clock.resume(wall=50.0)
    start = world.clock.now
    await control.pace_once(51.0)
    assert world.clock.now == start + timedelta(minutes=1)


async def test_clock_routes_answer_while_pacing_a_huge_factor(client: Client, world: World) -> None:
    """While the real pacer chases factor 1e6 the clock routes answer, and each wake-up stays bounded."""
    control = client.app[CONTROL]
    settings = replace(control.settings)
    resp = await client.post("/admin/v1/clock/mode", json={"mode": "paced", "factor": 1_000_000}, headers=ADMIN)
    assert resp.status == 200
    seen: list[int] = []
    for _ in range(20):
        await asyncio.sleep(settings.pacer_interval_s)
        got = await client.get("/admin/v1/clock", headers=ADMIN)
        assert got.status == 200
        seen.append(control.last_wake_ticks)
    assert max(seen) <= settings.pacer_max_ticks
    manual = await client.post("/admin/v1/clock/mode", json={"mode": "manual"}, headers=ADMIN)
    assert (manual.status, (await manual.json())["mode"]) == (200, "manual")
    at = world.clock.now
    await asyncio.sleep(2 * settings.pacer_interval_s)
    assert world.clock.now == at  # the pacer stopped with the mode
