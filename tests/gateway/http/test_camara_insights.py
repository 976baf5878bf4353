"""CAMARA region-device-count, population-density-data, device-reachability-status and device-roaming-status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pytest_aiohttp import AiohttpServer

from gateway.core.settings import Settings
from gateway.services.camara import insights
from gateway.services.camara.insights import InsightsService, geohash_cover
from simulator.world import World
from tests.gateway.camara_helpers import (
    Sink,
    camara_partner,
    cell_centre,
    ciba_token,
    circle,
    located,
    msisdn,
    start_sink,
)
from tests.gateway.camara_spec import assert_conforms, assert_schema, spec
from tests.gateway.conftest import ADMIN, Client, MakePartner, Wall, bearer

COUNT = "/region-device-count/v0.2/count"
DENSITY = "/population-density-data/v0.3/retrieve"
REACH = "/device-reachability-status/v1/retrieve"
ROAM = "/device-roaming-status/v1/retrieve"
COUNT_SPEC = "RegionDeviceCount_region-device-count.yaml"
DENSITY_SPEC = "PopulationDensityData_population-density-data.yaml"


@pytest.fixture
def settings(tmp_path: Path, wall: Wall) -> Settings:
    """A low privacy threshold: the test world has only 2,000 subscribers."""
    return Settings(db_path=tmp_path / "opsim.db", admin_token="test-admin-token", wall_clock=wall, port=0,
                    privacy_threshold=3)


@pytest.fixture
async def token(client: Client, make_partner: MakePartner) -> str:
    return (await camara_partner(client, make_partner))[1]


async def post(client: Client, path: str, body: Any, token: str) -> tuple[int, Any]:
    resp = await client.post(path, json=body, headers={**bearer(token), "x-correlator": "i-1"})
    assert resp.headers["x-correlator"] == "i-1"
    return resp.status, await resp.json()


def square(world: World, half_km: float, dx_km: float = 0.0) -> dict[str, Any]:
    """A square polygon around the city centre (shifted east by ``dx_km``)."""
    lat0, lon0 = world.city.projection.lat0, world.city.projection.lon0
    dlat, dlon = half_km / 111.0, half_km / (111.0 * np.cos(np.radians(lat0)))
    shift = dx_km / (111.0 * np.cos(np.radians(lat0)))
    pts = [(lat0 - dlat, lon0 - dlon + shift), (lat0 - dlat, lon0 + dlon + shift), (lat0 + dlat, lon0 + dlon + shift),
           (lat0 + dlat, lon0 - dlon + shift)]
    return {"areaType": "POLYGON", "boundary": [{"latitude": a, "longitude": b} for a, b in pts]}


async def test_count_now_and_in_the_past(client: Client, world: World, token: str) -> None:
    """Counts match the world's occupants and visitors; filters narrow them; the answers conform."""
    api = spec(COUNT_SPEC)
    lat, lon = world.city.projection.lat0, world.city.projection.lon0
    area = circle(lat, lon, 3000)
    # region_device_count_count_01_supported_area_success_scenario
    status, body = await post(client, COUNT, {"area": area}, token)
    assert (status, body["status"]) == (200, "SUPPORTED_AREA") and body["count"] > 10
    assert_conforms(api, "POST", COUNT, status, body)
    await client.post("/admin/v1/clock/advance", json={"duration": "PT3H"}, headers=ADMIN)
    # region_device_count_count_05_supported_area_time_interval_success_scenario
    window = {"starttime": "2026-06-01T06:00:00Z", "endtime": "2026-06-01T08:00:00Z"}
    status, past = await post(client, COUNT, {"area": area, **window}, token)
    assert status == 200 and past["count"] >= body["count"]
    assert_conforms(api, "POST", COUNT, status, past)
    # region_device_count_count_06_supported_area_filter_success_scenario
    status, smart = await post(client, COUNT, {"area": area, "filter": {"deviceType": ["human device"]}}, token)
    _, other = await post(client, COUNT, {"area": area, "filter": {"deviceType": ["other", "IoT device"]}}, token)
    _, now = await post(client, COUNT, {"area": area}, token)
    assert smart["count"] + other.get("count", 0) == now["count"] or other["status"] == \
        "DENSITY_BELOW_PRIVACY_THRESHOLD"
    _, roaming = await post(client, COUNT, {"area": area, "filter": {"roamingStatus": ["roaming", "non-roaming"]}},
                            token)
    assert roaming["count"] == now["count"]


@pytest.mark.parametrize(("case", "expected"), [
    ("tiny", "DENSITY_BELOW_PRIVACY_THRESHOLD"),  # region_device_count_count_04
    ("outside", "AREA_NOT_SUPPORTED"),  # region_device_count_count_03
    ("future", "TIME_INTERVAL_NO_DATA_FOUND"),
])
async def test_count_statuses(client: Client, world: World, token: str, case: str, expected: str) -> None:
    lat, lon = world.city.projection.lat0, world.city.projection.lon0
    body: dict[str, Any] = {"area": circle(lat, lon, 3000)}
    if case == "tiny":
        body = {"area": circle(lat, lon, 1), "filter": {"roamingStatus": ["roaming"], "deviceType": ["IoT device"]}}
    elif case == "outside":
        body = {"area": circle(0.0, 0.0, 1000)}
    elif case == "future":
        body["starttime"], body["endtime"] = "2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z"
    status, answer = await post(client, COUNT, body, token)
    assert (status, answer) == (200, {"status": expected})
    assert_conforms(spec(COUNT_SPEC), "POST", COUNT, status, answer)


async def test_count_partial_area(client: Client, world: World, token: str) -> None:
    """region_device_count_count_02: an area partly outside the coverage."""
    edge_x = float(world.network.coverage.bounds[2])
    lat, lon = world.city.projection.point_latlon(edge_x - 1500, 0.0)
    status, answer = await post(client, COUNT, {"area": circle(lat, lon, 2000)}, token)
    assert (status, answer["status"]) == (200, "PART_OF_AREA_NOT_SUPPORTED")


C = {"areaType": "CIRCLE", "center": {"latitude": 52.52, "longitude": 13.405}, "radius": 1000}


@pytest.mark.parametrize(("body", "code"), [
    ({}, "INVALID_ARGUMENT"),  # region_device_count_count_08_missing_required_property
    ({"area": C, "starttime": "yesterday", "endtime": "2026-06-01T07:00:00Z"}, "INVALID_ARGUMENT"),  # count_09
    ({"area": C, "starttime": "2026-06-01T06:00:00Z", "endtime": "2026-06-01T07:00:00"}, "INVALID_ARGUMENT"),
    ({"area": C, "starttime": "2026-06-01T06:00:00Z"}, "REGION_DEVICE_COUNT.TIME_INVALID_ARGUMENT"),  # count_15
    ({"area": C, "starttime": "2026-06-01T07:00:00Z", "endtime": "2026-06-01T06:00:00Z"},
     "REGION_DEVICE_COUNT.INVALID_END_DATE"),  # region_device_count_invalid_end_time
    ({"area": {"areaType": "CIRCLE", "radius": 100}}, "REGION_DEVICE_COUNT.INVALID_CIRCLE_AREA"),  # count_16
    ({"area": {"areaType": "POLYGON", "boundary": [{"latitude": 52.5, "longitude": 13.4}] * 3}},
     "REGION_DEVICE_COUNT.INVALID_POLYGON_AREA"),  # count_17: not a polygon shape
    ({"area": {"areaType": "POLYGON", "boundary": [{"latitude": 52.5, "longitude": 13.4}] * 16}},
     "REGION_DEVICE_COUNT.INVALID_POLYGON_AREA"),  # too many points
    ({"area": C, "filter": {}}, "INVALID_ARGUMENT"),
    ({"area": C, "filter": {"deviceType": ["robot"]}}, "INVALID_ARGUMENT"),
    ({"area": {**C, "radius": 0}}, "INVALID_ARGUMENT"),
    ({"area": C, "sink": "https://example.com/cb", "sinkCredential": {"credentialType": "PLAIN"}},
     "INVALID_CREDENTIAL"),  # region_device_count_count_10_invalid_sink_credential
    ({"area": C, "sink": "https://example.com/cb", "sinkCredential": {
        "credentialType": "ACCESSTOKEN", "accessToken": "x", "accessTokenExpiresUtc": "2030-01-01T00:00:00Z",
        "accessTokenType": "mac"}}, "INVALID_TOKEN"),  # region_device_count_count_11_sink_credential_invalid_token
    # Commonalities: a sink access token already expired (simulated time) is refused
    ({"area": C, "sink": "https://example.com/cb", "sinkCredential": {
        "credentialType": "ACCESSTOKEN", "accessToken": "x", "accessTokenExpiresUtc": "2026-06-01T05:00:00Z",
        "accessTokenType": "bearer"}}, "INVALID_CREDENTIAL"),
    ({"area": C, "sink": "ftp://example.com/cb"}, "INVALID_ARGUMENT"),  # v0.2 has no INVALID_SINK
])
async def test_count_bad_input(client: Client, token: str, body: Any, code: str) -> None:
    status, answer = await post(client, COUNT, body, token)
    assert (status, answer["code"]) == (400, code), answer
    assert_conforms(spec(COUNT_SPEC), "POST", COUNT, status, answer)


async def test_aggregates_take_two_legged_tokens_only(client: Client, world: World,
                                                      make_partner: MakePartner) -> None:
    creds, _ = await camara_partner(client, make_partner)
    three = await ciba_token(client, creds, msisdn(world, located(world)[0]))
    for path in (COUNT, DENSITY):
        status, answer = await post(client, path, {}, three)
        assert (status, answer["code"]) == (403, "PERMISSION_DENIED")


async def test_density_past_and_future(client: Client, world: World, token: str) -> None:
    """Hourly slots on the geohash grid: the past from history, the future from the same weekday; LOW_DENSITY."""
    api = spec(DENSITY_SPEC)
    await client.post("/admin/v1/clock/advance", json={"duration": "PT4H"}, headers=ADMIN)
    area = square(world, 2.0)
    # population_density_data_07_supported_area_past_success_scenario, _06 custom precision
    body = {"area": area, "startTime": "2026-06-01T07:30:00Z", "endTime": "2026-06-01T09:00:00Z", "precision": 6}
    status, answer = await post(client, DENSITY, body, token)
    assert (status, answer["status"]) == (200, "SUPPORTED_AREA"), answer
    assert_conforms(api, "POST", DENSITY, status, answer)
    slots = answer["timedPopulationDensityData"]
    assert [s["startTime"] for s in slots] == ["2026-06-01T07:00:00Z", "2026-06-01T08:00:00Z"]
    cells = slots[0]["cellPopulationDensityData"]
    assert {len(c["geohash"]) for c in cells} == {6}
    assert {c["dataType"] for c in cells} <= {"DENSITY_ESTIMATION", "LOW_DENSITY"}
    dense = [c for c in cells if c["dataType"] == "DENSITY_ESTIMATION"]
    assert dense and all(c["minPplDensity"] <= c["pplDensity"] <= c["maxPplDensity"] for c in dense)
    # population_density_data_01_supported_area_success_scenario (a future interval: forecast)
    body = {"area": area, "startTime": "2026-06-08T08:00:00Z", "endTime": "2026-06-08T09:00:00Z"}
    status, answer = await post(client, DENSITY, body, token)
    assert (status, answer["status"]) == (200, "SUPPORTED_AREA")
    assert_conforms(api, "POST", DENSITY, status, answer)
    # population_density_data_03_not_supported_area_success_scenario
    far = {"areaType": "POLYGON", "boundary": [{"latitude": 0, "longitude": 0}, {"latitude": 0, "longitude": 0.01},
                                               {"latitude": 0.01, "longitude": 0.01}]}
    status, answer = await post(client, DENSITY, {**body, "area": far, "precision": 5}, token)
    assert (status, answer) == (200, {"timedPopulationDensityData": [], "status": "AREA_NOT_SUPPORTED"})
    assert_conforms(api, "POST", DENSITY, status, answer)


P = {"areaType": "POLYGON", "boundary": [{"latitude": 52.50, "longitude": 13.38},
                                         {"latitude": 52.50, "longitude": 13.42},
                                         {"latitude": 52.53, "longitude": 13.42}]}
FUTURE = {"startTime": "2026-06-02T08:00:00Z", "endTime": "2026-06-02T10:00:00Z"}


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"area": P, "startTime": "2026-06-02T08:00:00Z"}, 400, "INVALID_ARGUMENT"),  # 400.01 missing endTime
    ({**FUTURE}, 400, "INVALID_ARGUMENT"),  # 400.01 missing area
    ({"area": P, **FUTURE, "startTime": "02/06/2026"}, 400, "INVALID_ARGUMENT"),  # 400.02
    ({"area": P, **FUTURE, "precision": 13}, 400, "INVALID_ARGUMENT"),  # 400.03
    ({"area": P, **FUTURE, "precision": 0}, 400, "INVALID_ARGUMENT"),  # 400.03
    ({"area": P, **FUTURE, "sink": "https://x.example/cb", "sinkCredential": {"credentialType": "REFRESHTOKEN"}},
     400, "INVALID_CREDENTIAL"),  # 400.04
    ({"area": P, **FUTURE, "sink": "https://x.example/cb", "sinkCredential": {
        "credentialType": "ACCESSTOKEN", "accessToken": "t", "accessTokenExpiresUtc": "2030-01-01T00:00:00Z",
        "accessTokenType": "other"}}, 400, "INVALID_TOKEN"),  # 400.05
    ({"area": P, **FUTURE, "sink": "ftp://x.example/cb"}, 400, "INVALID_SINK"),  # 400.06
    ({"area": C, **FUTURE}, 400, "POPULATION_DENSITY_DATA.INVALID_AREA"),  # 400.07 non-polygonal
    ({"area": {"areaType": "POLYGON", "boundary": [{"latitude": 52.5, "longitude": 13.4},
                                                   {"latitude": 52.6, "longitude": 13.5},
                                                   {"latitude": 52.5, "longitude": 13.5},
                                                   {"latitude": 52.6, "longitude": 13.4}]}, **FUTURE},
     400, "POPULATION_DENSITY_DATA.INVALID_AREA"),  # 400.08 self-intersecting
    ({"area": P, "startTime": "2026-01-01T08:00:00Z", "endTime": "2026-01-01T09:00:00Z"}, 400,
     "POPULATION_DENSITY_DATA.MIN_STARTTIME_EXCEEDED"),  # 400.09
    ({"area": P, "startTime": "2026-10-01T08:00:00Z", "endTime": "2026-10-01T09:00:00Z"}, 400,
     "POPULATION_DENSITY_DATA.MAX_STARTTIME_EXCEEDED"),  # 400.10
    ({"area": P, "startTime": "2026-06-02T08:00:00Z", "endTime": "2026-06-02T07:00:00Z"}, 400,
     "POPULATION_DENSITY_DATA.INVALID_END_TIME"),  # 400.11
    ({"area": P, "startTime": "2026-06-02T08:00:00Z", "endTime": "2026-06-10T08:00:00Z"}, 400,
     "POPULATION_DENSITY_DATA.MAX_TIME_PERIOD_EXCEEDED"),  # 400.12
    ({"area": P, "startTime": "2026-06-01T05:00:00Z", "endTime": "2026-06-01T08:00:00Z"}, 400,
     "POPULATION_DENSITY_DATA.INVALID_TIME_PERIOD"),  # 400.13
    ({"area": P, **FUTURE, "precision": 2}, 422, "POPULATION_DENSITY_DATA.UNSUPPORTED_PRECISION"),  # 422.01
    ({"area": P, "startTime": "2026-06-02T00:00:00Z", "endTime": "2026-06-09T00:00:00Z", "precision": 7}, 422,
     "POPULATION_DENSITY_DATA.UNSUPPORTED_SYNC_RESPONSE"),  # 422.02
    ({"area": {"areaType": "POLYGON", "boundary": [{"latitude": 40, "longitude": 0}, {"latitude": 40, "longitude": 30},
                                                   {"latitude": 60, "longitude": 30}]}, **FUTURE, "precision": 8}, 422,
     "POPULATION_DENSITY_DATA.UNSUPPORTED_REQUEST"),  # 422.03
    # 422.03 "MUST generate a too big response in both sync and async scenarios": too big for a sink too
    ({"area": {"areaType": "POLYGON", "boundary": [{"latitude": 40, "longitude": 0}, {"latitude": 40, "longitude": 30},
                                                   {"latitude": 60, "longitude": 30}]}, **FUTURE, "precision": 8,
      "sink": "https://x.example/cb"}, 422, "POPULATION_DENSITY_DATA.UNSUPPORTED_REQUEST"),
    # Commonalities: a sink access token already expired (simulated time) is refused
    ({"area": P, **FUTURE, "sink": "https://x.example/cb", "sinkCredential": {
        "credentialType": "ACCESSTOKEN", "accessToken": "t", "accessTokenExpiresUtc": "2026-06-01T05:00:00Z",
        "accessTokenType": "bearer"}}, 400, "INVALID_CREDENTIAL"),
])
async def test_density_bad_input(client: Client, token: str, body: Any, status: int, code: str) -> None:
    got, answer = await post(client, DENSITY, body, token)
    assert (got, answer["code"]) == (status, code), answer
    assert_conforms(spec(DENSITY_SPEC), "POST", DENSITY, got, answer)


def test_geohash_cover_matches_known_hashes() -> None:
    """The grid's hashes are real geohashes (u33db is central Berlin)."""
    import shapely
    hashes, lat, lon = geohash_cover(shapely.box(13.40, 52.51, 13.41, 52.52), 5)
    assert "u33db" in hashes
    assert np.all(np.abs(lat - 52.515) < 0.05) and np.all(np.abs(lon - 13.405) < 0.05)


async def test_reachability_and_roaming(client: Client, world: World, token: str) -> None:
    """Reachable devices have DATA+SMS (smartphones); inbound roamers are roaming in the city's country."""
    reach_api = spec("DeviceReachabilityStatus_device-reachability-status.yaml")
    roam_api = spec("DeviceRoamingStatus_device-roaming-status.yaml")
    i = located(world)[0]
    # device_reachability_status_03_reachable_and_connected_data_and_sms (or 01 for a feature phone)
    status, body = await post(client, REACH, {"device": {"phoneNumber": msisdn(world, i)}}, token)
    assert status == 200 and body["reachable"] is True and "SMS" in body["connectivity"]
    assert_conforms(reach_api, "POST", REACH, status, body)
    roamer = int(np.flatnonzero(world.population.roaming[:2000] & (world.cell[:2000] >= 0))[0])  # in the country
    # device_roaming_status_01_roaming_status_true_with_country_code
    status, body = await post(client, ROAM, {"device": {"phoneNumber": msisdn(world, roamer)}}, token)
    assert (status, body["roaming"], body["countryName"]) == (200, True, ["DE"])
    assert body["countryCode"] == 262
    assert_conforms(roam_api, "POST", ROAM, status, body)
    # device_roaming_status_02_roaming_status_false
    local = int(np.flatnonzero(~world.population.roaming[:2000])[0])
    status, body = await post(client, ROAM, {"device": {"phoneNumber": msisdn(world, local)}}, token)
    assert (status, body["roaming"]) == (200, False) and "countryCode" not in body
    assert_conforms(roam_api, "POST", ROAM, status, body)
    # device_reachability_status_04_not_reachable
    await client.post("/admin/v1/clock/advance", json={"to": "2026-06-01T23:30:00Z"}, headers=ADMIN)
    off = int(np.flatnonzero(~world.is_reachable(np.arange(2000)))[0])
    status, body = await post(client, REACH, {"device": {"phoneNumber": msisdn(world, off)}}, token)
    assert (status, body["reachable"]) == (200, False) and "connectivity" not in body
    assert_conforms(reach_api, "POST", REACH, status, body)


@pytest.mark.parametrize("path", [REACH, ROAM])
@pytest.mark.parametrize(("body", "status", "code"), [
    ({"device": {}}, 400, "INVALID_ARGUMENT"),  # C01.01_device_empty
    ({"device": {"phoneNumber": "+1"}}, 400, "INVALID_ARGUMENT"),  # C01.02
    ({"device": {"phoneNumber": "+99912345678"}}, 404, "IDENTIFIER_NOT_FOUND"),  # C01.03
    ({}, 422, "MISSING_IDENTIFIER"),  # C01.05
    ({"device": {"ipv4Address": {"publicAddress": "1.2.3.4", "publicPort": 80}}}, 422,
     "UNSUPPORTED_IDENTIFIER"),  # C01.06
])
async def test_status_bad_input(client: Client, token: str, path: str, body: Any, status: int, code: str) -> None:
    got, answer = await post(client, path, body, token)
    assert (got, answer["code"]) == (status, code)
    name = "DeviceReachabilityStatus_device-reachability-status.yaml" if path == REACH else \
        "DeviceRoamingStatus_device-roaming-status.yaml"
    assert_conforms(spec(name), "POST", path, got, answer)


async def test_status_three_legged(client: Client, world: World, make_partner: MakePartner) -> None:
    """device_*_status_C01.04_unnecessary_device and a plain three-legged answer."""
    creds, _ = await camara_partner(client, make_partner)
    i = located(world)[0]
    three = await ciba_token(client, creds, msisdn(world, i),
                             "openid dpv:RequestedServiceProvision device-reachability-status:read")
    status, body = await post(client, REACH, {}, three)
    assert status == 200 and "device" not in body
    status, body = await post(client, REACH, {"device": {"phoneNumber": msisdn(world, i)}}, three)
    assert (status, body["code"]) == (422, "UNNECESSARY_IDENTIFIER")
    _ = cell_centre


SINK_CREDENTIAL = {"credentialType": "ACCESSTOKEN", "accessToken": "sink-token",
                   "accessTokenExpiresUtc": "2026-06-02T00:00:00Z", "accessTokenType": "bearer"}


@pytest.fixture
async def sink(aiohttp_server: AiohttpServer) -> Sink:
    return await start_sink(aiohttp_server)


async def post_async(client: Client, path: str, body: Any, token: str, correlator: str) -> tuple[int, Any]:
    """POST naming the sink; the immediate answer must be JSON and echo the correlator."""
    resp = await client.post(path, json=body, headers={**bearer(token), "x-correlator": correlator})
    assert resp.content_type == "application/json" and resp.headers["x-correlator"] == correlator
    return resp.status, await resp.json()


def check_callback(record: dict[str, Any], token: str | None) -> None:
    """A plain JSON callback (not a CloudEvent), with the sink's bearer token and the partner's signature."""
    headers = record["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers.get("Authorization") == (None if token is None else f"Bearer {token}")
    assert headers["X-Opsim-Signature"].startswith("sha256=")


async def test_count_async_answer_at_sink(client: Client, world: World, token: str, sink: Sink) -> None:
    """region_device_count_count_07_async_success: 202, then the answer of that instant at the sink."""
    lat, lon = world.city.projection.lat0, world.city.projection.lon0
    area = circle(lat, lon, 3000)
    _, now = await post(client, COUNT, {"area": area}, token)
    status, accepted = await post_async(client, COUNT, {"area": area, "sink": sink.url,
                                                        "sinkCredential": SINK_CREDENTIAL}, token, "rdc-07")
    assert (status, accepted) == (202, {})  # v0.2 defines no 202 body: an empty RegionDeviceCountResponse
    assert_schema(COUNT_SPEC, "RegionDeviceCountResponse", accepted)
    [body] = await sink.wait_for(1)
    check_callback(sink.received[0], "sink-token")
    assert sink.received[0]["headers"]["x-correlator"] == "rdc-07"  # v0.2 correlates callbacks by this header
    assert body == now and body["status"] == "SUPPORTED_AREA"
    assert_schema(COUNT_SPEC, "RegionDeviceCountResponse", body)
    # without a sinkCredential (only RECOMMENDED): no Authorization header; a withheld count is a status only
    tiny = {"area": circle(lat, lon, 1), "filter": {"deviceType": ["IoT device"]}, "sink": sink.url}
    status, _ = await post_async(client, COUNT, tiny, token, "rdc-07b")
    assert status == 202
    bodies = await sink.wait_for(2)
    check_callback(sink.received[1], None)
    assert bodies[1] == {"status": "DENSITY_BELOW_PRIVACY_THRESHOLD"}
    resp = await client.get("/admin/v1/webhooks/events", headers=ADMIN)
    events = (await resp.json())["events"]
    assert [(e["subscriptionId"], e["type"], e["state"]) for e in events] == [
        ("op_000001", "org.camaraproject.region-device-count.v0.callback", "delivered"),
        ("op_000002", "org.camaraproject.region-device-count.v0.callback", "delivered")]


async def test_density_async_answer_at_sink(client: Client, world: World, token: str, sink: Sink,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """population_density_data_04_async_success_scenario: 202 with operationId, the same id in the callback;
    asynchronous answers may exceed the synchronous size limit."""
    api = spec(DENSITY_SPEC)
    body = {"area": square(world, 1.0), "startTime": "2026-06-08T08:00:00Z", "endTime": "2026-06-08T10:00:00Z",
            "precision": 6}
    _, sync = await post(client, DENSITY, body, token)
    monkeypatch.setattr(insights, "DENSITY_SYNC_LIMIT", 1)  # the same request is now too big for a sync answer
    status, answer = await post(client, DENSITY, body, token)
    assert (status, answer["code"]) == (422, "POPULATION_DENSITY_DATA.UNSUPPORTED_SYNC_RESPONSE")
    status, accepted = await post_async(client, DENSITY, {**body, "sink": sink.url,
                                                          "sinkCredential": SINK_CREDENTIAL}, token, "pdd-04")
    assert status == 202 and set(accepted) == {"operationId"}
    assert_conforms(api, "POST", DENSITY, status, accepted)
    [callback] = await sink.wait_for(1)
    check_callback(sink.received[0], "sink-token")
    assert callback == {**sync, "operationId": accepted["operationId"]}
    assert_schema(DENSITY_SPEC, "PopulationDensityAsyncResponse", callback)


async def test_density_async_failure_is_reported_at_sink(client: Client, world: World, token: str, sink: Sink,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """population_density_data_05_async_operation_not_completed_scenario: OPERATION_NOT_COMPLETED with statusInfo."""
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("simulated failure while computing")

    monkeypatch.setattr(InsightsService, "density", broken)
    body = {"area": P, **FUTURE, "sink": sink.url, "sinkCredential": SINK_CREDENTIAL}
    status, accepted = await post_async(client, DENSITY, body, token, "pdd-05")
    assert status == 202
    [callback] = await sink.wait_for(1)
    assert callback["operationId"] == accepted["operationId"]
    assert callback["status"] == "OPERATION_NOT_COMPLETED" and callback["statusInfo"]
    assert "simulated failure" not in callback["statusInfo"]  # no internals
    assert_schema(DENSITY_SPEC, "PopulationDensityAsyncResponse", callback)
