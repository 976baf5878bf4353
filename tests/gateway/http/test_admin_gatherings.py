"""Admin gatherings: added mid-run, listed, felt in presence, replayed after a restart; bad input is 400."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from gateway.core.settings import Settings
from gateway.http.app import create_app
from simulator.geo import Area
from simulator.world import World
from tests.gateway.conftest import ADMIN, Client

STADIUM = {"name": "Match", "place": "Olympiastadion", "start": "2026-06-01T08:00:00Z",
           "end": "2026-06-01T10:00:00Z", "count": 300}


def near_stadium(world: World) -> int:
    place = next(p for p in world.city.places if p.name == "Olympiastadion")
    return len(world.occupants(Area.circle_wgs84(world.city.projection, place.latitude, place.longitude, 800)))


async def test_gathering_added_mid_run_fills_the_place(client: Client, world: World) -> None:
    """A gathering added through the admin API after some time has run brings its attendees to the place."""
    await client.post("/admin/v1/clock/advance", json={"duration": "PT30M"}, headers=ADMIN)
    before = near_stadium(world)
    resp = await client.post("/admin/v1/gatherings", json=STADIUM, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert created["id"] == "gth_0001" and created["attendees"] == 300 and created["place"] == "Olympiastadion"
    assert (created["start"], created["end"]) == (STADIUM["start"], STADIUM["end"])
    listed = await (await client.get("/admin/v1/gatherings", headers=ADMIN)).json()
    assert listed == {"gatherings": [created]}
    await client.post("/admin/v1/clock/advance", json={"to": "2026-06-01T09:00:00Z"}, headers=ADMIN)
    assert near_stadium(world) >= before + 200


async def test_gathering_at_coordinates_is_replayed_after_a_restart(
        aiohttp_client: AiohttpClient, fresh_world: Callable[[], World], settings: Settings) -> None:
    """The journal replays the gathering at the instant it was added: the restarted world is the same."""
    world = fresh_world()
    lat, lon = world.city.projection.lat0 + 0.01, world.city.projection.lon0 + 0.01
    client = await aiohttp_client(create_app(world, settings))
    await client.post("/admin/v1/clock/advance", json={"duration": "PT45M"}, headers=ADMIN)
    body = {"name": "Concert", "latitude": lat, "longitude": lon, "start": "2026-06-01T07:30:00Z",
            "end": "2026-06-01T08:30:00Z", "share": 0.1, "arriveBeforeMinutes": 30}
    resp = await client.post("/admin/v1/gatherings", json=body, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert "place" not in created and created["attendees"] == 200
    await client.post("/admin/v1/clock/advance", json={"to": "2026-06-01T08:00:00Z"}, headers=ADMIN)
    cells = world.cell.copy()
    listed = await (await client.get("/admin/v1/gatherings", headers=ADMIN)).json()
    await client.close()

    world2 = fresh_world()
    client2 = await aiohttp_client(create_app(world2, settings))
    assert await (await client2.get("/admin/v1/gatherings", headers=ADMIN)).json() == listed
    assert world2.clock.now == world.clock.now
    assert (world2.cell == cells).all()


@pytest.mark.parametrize(("change", "status", "code"), [
    ({"place": None}, 400, "INVALID_ARGUMENT"),  # neither place nor coordinates
    ({"latitude": 52.5, "longitude": 13.4}, 400, "INVALID_ARGUMENT"),  # both place and coordinates
    ({"share": 0.1}, 400, "INVALID_ARGUMENT"),  # both share and count
    ({"count": None}, 400, "INVALID_ARGUMENT"),  # neither share nor count
    ({"place": "Nowhere"}, 400, "INVALID_ARGUMENT"),  # unknown named place
    ({"start": "2026-06-01T05:00:00Z"}, 400, "INVALID_ARGUMENT"),  # starts in the past
    ({"end": "2026-06-01T07:00:00Z"}, 400, "INVALID_ARGUMENT"),  # ends before it starts
    ({"start": "2026-06-01T08:00:00"}, 400, "INVALID_ARGUMENT"),  # instant without a zone
    ({"count": 10**6}, 400, "INVALID_ARGUMENT"),  # more attendees than people
    ({"place": None, "latitude": 48.1, "longitude": 11.6}, 400, "INVALID_ARGUMENT"),  # outside the city (Munich)
    ({"colour": "red"}, 400, "INVALID_ARGUMENT"),  # unknown field
])
async def test_bad_gatherings(client: Client, world: World, change: dict[str, Any], status: int, code: str) -> None:
    body = {k: v for k, v in {**STADIUM, **change}.items() if v is not None}
    resp = await client.post("/admin/v1/gatherings", json=body, headers=ADMIN)
    answer = await resp.json()
    assert (resp.status, answer["code"]) == (status, code), answer
    assert list(world.gatherings) == []
    listed = await (await client.get("/admin/v1/gatherings", headers=ADMIN)).json()
    assert listed == {"gatherings": []}


async def test_gatherings_need_the_admin_token(client: Client) -> None:
    for resp in (await client.post("/admin/v1/gatherings", json=STADIUM), await client.get("/admin/v1/gatherings")):
        assert (resp.status, (await resp.json())["code"]) == (401, "UNAUTHENTICATED")
