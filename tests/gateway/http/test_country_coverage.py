"""Every partner API covers a whole country: an area in another city resolves; only outside every city is refused."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gateway.core.settings import Settings
from simulator.world import World, WorldConfig
from tests.gateway.camara_helpers import camara_partner, circle, msisdn
from tests.gateway.conftest import Client, MakePartner, Wall, bearer

VERIFY = "/location-verification/v3/verify"
RETRIEVE = "/location-retrieval/v0.5/retrieve"
GEOFENCE = "/geofencing-subscriptions/v0.5/subscriptions"
COUNT = "/region-device-count/v0.2/count"
DENSITY = "/population-density-data/v0.3/retrieve"
FUTURE = {"startTime": "2026-06-02T08:00:00Z", "endTime": "2026-06-02T10:00:00Z"}

def square(lat: float, lon: float, half_deg: float = 0.02) -> dict[str, Any]:
    """A small square polygon around (lat, lon) (population density takes polygons only)."""
    pts = [(lat - half_deg, lon - half_deg), (lat - half_deg, lon + half_deg), (lat + half_deg, lon + half_deg),
           (lat + half_deg, lon - half_deg)]
    return {"areaType": "POLYGON", "boundary": [{"latitude": a, "longitude": b} for a, b in pts]}


BUSAN = circle(35.1796, 129.0756, 3000)  # 325 km from Seoul, another city of the preset
ANDONG = circle(36.5684, 128.7294, 3000)  # a Korean town outside the preset's cities: not covered
TOKYO = circle(35.6812, 139.7671, 3000)  # another country


@pytest.fixture(scope="module")
def korea() -> World:
    """A small South Korea (six cities), built once for the module."""
    return World.build(WorldConfig(country="south-korea", subscribers=3000, seed=4))


@pytest.fixture
def world(korea: World) -> World:
    return copy.deepcopy(korea)


@pytest.fixture
def settings(tmp_path: Path, wall: Wall) -> Settings:
    """A low privacy threshold: the test country has only 3,000 subscribers."""
    return Settings(db_path=tmp_path / "opsim.db", admin_token="test-admin-token", wall_clock=wall, port=0,
                    privacy_threshold=3)


def in_metro(world: World, metro: int) -> int:
    """A reachable subscriber with location consent standing in metro ``metro`` (0 = Seoul, 1 = Busan)."""
    idx = np.arange(world.population.size)
    m = world.mobility
    ok = world.is_reachable(idx) & (world.serving_cells(idx) >= 0) & ~world.population.roaming
    ok &= world.consent.is_permitted(idx, "LOCATION_SHARING", None)
    ok &= world.city.metro_of(m.x, m.y) == metro
    return int(np.flatnonzero(ok)[0])


async def _post(client: Client, path: str, body: dict[str, Any], token: str) -> tuple[int, Any]:
    resp = await client.post(path, json=body, headers={**bearer(token), "x-correlator": "k-1"})
    return resp.status, await resp.json()


@pytest.mark.parametrize(("area", "status", "expected"), [
    (BUSAN, 200, "FALSE"),  # a Seoul phone checked against Busan: a plain no, as a national operator answers
    (ANDONG, 422, "LOCATION_VERIFICATION.AREA_NOT_COVERED"),  # between the cities: no coverage
    (TOKYO, 422, "LOCATION_VERIFICATION.AREA_NOT_COVERED"),  # outside the country
])
async def test_verification_across_the_country(client: Client, world: World, make_partner: MakePartner,
                                               area: dict[str, Any], status: int, expected: str) -> None:
    """A device in Seoul against an area in Busan is FALSE; only an area outside every city is not covered."""
    token = (await camara_partner(client, make_partner))[1]
    body = {"device": {"phoneNumber": msisdn(world, in_metro(world, 0))}, "area": area}
    got, answer = await _post(client, VERIFY, body, token)
    assert (got, answer.get("verificationResult", answer.get("code"))) == (status, expected), answer


async def test_a_busan_phone_is_true_in_busan_and_located_there(client: Client, world: World,
                                                               make_partner: MakePartner) -> None:
    """A device in Busan verifies TRUE in a circle around its own cell and is retrieved in Busan."""
    token = (await camara_partner(client, make_partner))[1]
    i = in_metro(world, 1)
    loc = world.locate(i)
    device = {"phoneNumber": msisdn(world, i)}
    got, answer = await _post(client, VERIFY, {"device": device, "area": circle(
        loc.cell_latitude, loc.cell_longitude, loc.cell_radius * 1.05 + 100)}, token)
    assert (got, answer["verificationResult"]) == (200, "TRUE")
    got, answer = await _post(client, RETRIEVE, {"device": device}, token)
    assert got == 200
    centre = answer["area"]["center"]
    assert abs(centre["latitude"] - 35.18) < 0.3 and abs(centre["longitude"] - 129.07) < 0.3


@pytest.mark.parametrize(("path", "area", "status", "outcome"), [
    (GEOFENCE, BUSAN, 201, None),  # a geofence in another city than the device's
    (GEOFENCE, ANDONG, 422, "GEOFENCING_SUBSCRIPTIONS.AREA_NOT_COVERED"),
    (COUNT, BUSAN, 200, "SUPPORTED_AREA"),
    (COUNT, TOKYO, 200, "AREA_NOT_SUPPORTED"),
    (DENSITY, square(35.1796, 129.0756), 200, "SUPPORTED_AREA"),
    (DENSITY, square(35.6812, 139.7671), 200, "AREA_NOT_SUPPORTED"),
])
async def test_other_apis_cover_every_city(client: Client, world: World, make_partner: MakePartner, path: str,
                                           area: dict[str, Any], status: int, outcome: str | None) -> None:
    """Geofencing, region device count and population density answer for Busan as for Seoul."""
    token = (await camara_partner(client, make_partner))[1]
    device = {"phoneNumber": msisdn(world, in_metro(world, 0))}
    bodies: dict[str, dict[str, Any]] = {
        GEOFENCE: {"protocol": "HTTP", "sink": "https://127.0.0.1:9/hook",
                   "types": ["org.camaraproject.geofencing-subscriptions.v0.area-entered"],
                   "config": {"subscriptionDetail": {"device": device, "area": area}}},
        COUNT: {"area": area},
        DENSITY: {"area": area, **FUTURE},
    }
    body = bodies[path]
    got, answer = await _post(client, path, body, token)
    assert got == status, answer
    if outcome is not None:
        assert (answer["code"] if got >= 400 else answer["status"]) == outcome, answer
