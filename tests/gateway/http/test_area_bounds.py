"""Wire areas are bounded once (size, span, vertices, antimeridian, validity) and far ones refused cheaply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.core.settings import Settings
from gateway.services.camara import insights
from simulator.errors import AreaTooLargeError, InvalidAreaError
from simulator.geo import MAX_AREA_SPAN_M, MAX_AREA_VERTICES, Area
from simulator.network import Network
from simulator.world import World
from tests.gateway.camara_helpers import camara_partner, located, msisdn
from tests.gateway.campaign_helpers import CENTRE, campaign_partner
from tests.gateway.conftest import Client, MakePartner, Wall, bearer

DENSITY = "/population-density-data/v0.3/retrieve"
COUNT = "/region-device-count/v0.2/count"
VERIFY = "/location-verification/v3/verify"
GEOFENCE = "/geofencing-subscriptions/v0.5/subscriptions"
ESTIMATE = "/campaigns/v1/audience-estimates"
FUTURE = {"startTime": "2026-06-02T08:00:00Z", "endTime": "2026-06-02T10:00:00Z"}


def _pts(*latlon: tuple[float, float]) -> list[dict[str, float]]:
    return [{"latitude": lat, "longitude": lon} for lat, lon in latlon]


ANTIMERIDIAN = {"areaType": "POLYGON", "boundary": _pts((0.0, 179.9), (0.1, -179.9), (-0.1, -179.9))}
SELF_INTERSECTING = {"areaType": "POLYGON", "boundary": _pts((52.50, 13.40), (52.54, 13.44), (52.50, 13.44),
                                                             (52.54, 13.40))}
MANY_VERTICES = {"areaType": "POLYGON", "boundary": _pts(*[(52.52 + 0.01 * (k % 2), 13.40 + 1e-5 * k)
                                                           for k in range(10_000)])}
HUGE_POLYGON = {"areaType": "POLYGON", "boundary": _pts((50.0, 10.0), (50.0, 16.0), (55.0, 13.0))}
FAR_POLYGON = {"areaType": "POLYGON", "boundary": _pts((-33.90, 151.20), (-33.90, 151.22), (-33.88, 151.21))}
HUGE_CIRCLE = {"areaType": "CIRCLE", "center": {"latitude": CENTRE[0], "longitude": CENTRE[1]}, "radius": 1e7}
FAR_CIRCLE = {"areaType": "CIRCLE", "center": {"latitude": -33.9, "longitude": 151.2}, "radius": 1000}


@pytest.fixture
def settings(tmp_path: Path, wall: Wall) -> Settings:
    return Settings(db_path=tmp_path / "opsim.db", admin_token="test-admin-token", wall_clock=wall, port=0,
                    privacy_threshold=3)


def _body(path: str, area: dict[str, Any], device: dict[str, Any]) -> dict[str, Any]:
    if path == DENSITY:
        return {"area": area, **FUTURE}
    if path == COUNT:
        return {"area": area}
    if path == VERIFY:
        return {"device": device, "area": area}
    if path == GEOFENCE:
        return {"protocol": "HTTP", "sink": "https://127.0.0.1:9/hook",
                "types": ["org.camaraproject.geofencing-subscriptions.v0.area-entered"],
                "config": {"subscriptionDetail": {"device": device, "area": area}}}
    return {"targeting": {"areas": [area]}}


async def _post(client: Client, make_partner: MakePartner, world: World, path: str,
                area: dict[str, Any]) -> tuple[int, Any]:
    if path == ESTIMATE:
        headers = (await campaign_partner(client, make_partner)).headers
    else:
        headers = bearer((await camara_partner(client, make_partner))[1])
    device = {"phoneNumber": msisdn(world, located(world)[0])}
    resp = await client.post(path, json=_body(path, area, device), headers=headers)
    return resp.status, await resp.json()


@pytest.mark.parametrize(("path", "area", "status", "code"), [
    # the request: a 3-point polygon across the antimeridian
    (DENSITY, ANTIMERIDIAN, 400, "POPULATION_DENSITY_DATA.INVALID_AREA"),
    # 10,000 boundary points: "exceeds supported complexity"
    (DENSITY, MANY_VERTICES, 400, "POPULATION_DENSITY_DATA.INVALID_AREA"),
    # a bow tie is not a polygon shape
    (DENSITY, SELF_INTERSECTING, 400, "POPULATION_DENSITY_DATA.INVALID_AREA"),
    # a valid shape hundreds of km across: too big an answer (test plan 422.03), refused before any grid
    (DENSITY, HUGE_POLYGON, 422, "POPULATION_DENSITY_DATA.UNSUPPORTED_REQUEST"),
    # region-device-count has one code per shape
    (COUNT, ANTIMERIDIAN, 400, "REGION_DEVICE_COUNT.INVALID_POLYGON_AREA"),
    (COUNT, MANY_VERTICES, 400, "REGION_DEVICE_COUNT.INVALID_POLYGON_AREA"),
    (COUNT, SELF_INTERSECTING, 400, "REGION_DEVICE_COUNT.INVALID_POLYGON_AREA"),
    (COUNT, HUGE_POLYGON, 400, "REGION_DEVICE_COUNT.INVALID_POLYGON_AREA"),
    (COUNT, HUGE_CIRCLE, 400, "REGION_DEVICE_COUNT.INVALID_CIRCLE_AREA"),
    # location APIs: the operator's area restrictions are 422 INVALID_AREA, far away is AREA_NOT_COVERED
    (VERIFY, HUGE_CIRCLE, 422, "LOCATION_VERIFICATION.INVALID_AREA"),
    (VERIFY, FAR_CIRCLE, 422, "LOCATION_VERIFICATION.AREA_NOT_COVERED"),
    (GEOFENCE, HUGE_CIRCLE, 422, "GEOFENCING_SUBSCRIPTIONS.INVALID_AREA"),
    (GEOFENCE, FAR_CIRCLE, 422, "GEOFENCING_SUBSCRIPTIONS.AREA_NOT_COVERED"),
    # campaign targeting
    (ESTIMATE, ANTIMERIDIAN, 422, "CAMPAIGNS.INVALID_AREA"),
    (ESTIMATE, SELF_INTERSECTING, 422, "CAMPAIGNS.INVALID_AREA"),
    (ESTIMATE, FAR_POLYGON, 422, "CAMPAIGNS.AREA_NOT_COVERED"),
])
async def test_areas_out_of_bounds_are_refused(client: Client, world: World, make_partner: MakePartner, path: str,
                                               area: dict[str, Any], status: int, code: str) -> None:
    """Each API refuses an unbounded or far area with its own documented code."""
    got, answer = await _post(client, make_partner, world, path, area)
    assert (got, answer["code"]) == (status, code), answer


@pytest.mark.parametrize(("path", "area", "status"), [
    (DENSITY, FAR_POLYGON, "AREA_NOT_SUPPORTED"),  # density: far away is a status, not an error
    (COUNT, FAR_POLYGON, "AREA_NOT_SUPPORTED"),  # region device count: likewise
    (COUNT, FAR_CIRCLE, "AREA_NOT_SUPPORTED"),  # a circle too
])
async def test_far_areas_do_no_raster_work(client: Client, world: World, make_partner: MakePartner,
                                           monkeypatch: pytest.MonkeyPatch, path: str, area: dict[str, Any],
                                           status: str) -> None:
    """An area far from the city is answered from its bounding box: no geohash grid, no raster window."""
    calls: list[str] = []

    def no_cover(*_args: Any, **_kwargs: Any) -> Any:
        calls.append("geohash_cover")
        raise AssertionError("geohash grid built for a far area")

    real_window = Network._window

    def window(self: Network, bounds: tuple[float, float, float, float]) -> Any:
        calls.append("raster window")
        return real_window(self, bounds)

    monkeypatch.setattr(insights, "geohash_cover", no_cover)
    monkeypatch.setattr(Network, "_window", window)
    got, answer = await _post(client, make_partner, world, path, area)
    assert (got, answer["status"]) == (200, status), answer
    assert calls == []


async def test_antimeridian_density_is_refused_before_any_grid(client: Client, world: World,
                                                                make_partner: MakePartner,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's antimeridian request never reaches the geohash grid (it used to build 2M boxes)."""
    calls: list[int] = []
    monkeypatch.setattr(insights, "geohash_cover", lambda *a, **k: calls.append(1))
    for area in (ANTIMERIDIAN, MANY_VERTICES, SELF_INTERSECTING, HUGE_POLYGON):
        got, _ = await _post(client, make_partner, world, DENSITY, area)
        assert got in (400, 422)
    assert calls == []


def test_geohash_cover_refuses_before_allocating() -> None:
    """A bounding box whose grid times the slots exceeds the limit is refused from its size alone."""
    import shapely

    from gateway.core.errors import Unprocessable

    box = shapely.box(13.0, 52.3, 13.8, 52.7)  # ~55 km × 45 km: millions of precision-8 cells
    with pytest.raises(Unprocessable) as exc:
        insights.geohash_cover(box, 8, slots=1, limit=insights.DENSITY_SYNC_LIMIT)
    assert exc.value.error_code == "POPULATION_DENSITY_DATA.UNSUPPORTED_REQUEST"
    with pytest.raises(Unprocessable) as exc:
        insights.geohash_cover(box, 6, slots=48, limit=insights.DENSITY_SYNC_LIMIT)
    assert exc.value.error_code == "POPULATION_DENSITY_DATA.UNSUPPORTED_SYNC_RESPONSE"


@pytest.mark.parametrize(("make", "error"), [
    # across the antimeridian: refused from the longitudes, before projecting
    (lambda w: Area.polygon_wgs84(w.city.projection, [(0.0, 179.9), (0.1, -179.9), (-0.1, -179.9)]),
     InvalidAreaError),
    # more vertices than any area may have
    (lambda w: Area.polygon_wgs84(w.city.projection, [(52.5 + 1e-6 * k, 13.4 + 1e-6 * (k % 7))
                                                      for k in range(MAX_AREA_VERTICES + 1)]), InvalidAreaError),
    # a bow tie
    (lambda w: Area.polygon([(0, 0), (1000, 1000), (1000, 0), (0, 1000)]), InvalidAreaError),
    # wider than the span bound
    (lambda w: Area.polygon([(0, 0), (MAX_AREA_SPAN_M + 1, 0), (0, 1000)]), AreaTooLargeError),
    (lambda w: Area.circle(0, 0, MAX_AREA_SPAN_M), AreaTooLargeError),
    (lambda w: Area.circle(0, 0, float("inf")), InvalidAreaError),
])
def test_simulator_areas_are_bounded(world: World, make: Any, error: type[Exception]) -> None:
    """Area constructors refuse what is out of bounds with InvalidAreaError (or its too-large subclass)."""
    with pytest.raises(error):
        make(world)


def test_far_area_has_no_cells_and_no_coverage(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """``cells_covering`` and ``covers`` answer a far area from bounding boxes, without a raster window."""
    far = Area.circle_wgs84(world.city.projection, -33.9, 151.2, 1000.0)
    monkeypatch.setattr(Network, "_window", lambda *_a: pytest.fail("raster window for a far area"))
    assert not world.network.reaches(far)
    assert not world.network.covers(far)
    assert len(world.network.cells_covering(far)) == 0
