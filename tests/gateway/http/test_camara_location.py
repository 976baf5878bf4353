"""CAMARA location-verification (v3, v2, v1) and location-retrieval (v0.5, v0.4) against the simulated network."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from gateway.wire.base import format_instant
from simulator.world import World
from tests.gateway.camara_helpers import (
    camara_partner,
    cell_centre,
    ciba_token,
    circle,
    far_cell_circle,
    located,
    msisdn,
)
from tests.gateway.camara_spec import assert_conforms, spec
from tests.gateway.conftest import ADMIN, Client, MakePartner, bearer

VERIFY_SPEC = "DeviceLocation_location-verification.yaml"
RETRIEVE_SPEC = "DeviceLocation_location-retrieval.yaml"
VERIFY = "/location-verification/v3/verify"
RETRIEVE = "/location-retrieval/v0.5/retrieve"


async def post(client: Client, path: str, body: Any, token: str) -> tuple[int, Any]:
    headers = {**bearer(token), "x-correlator": "t-1", "Content-Type": "application/json"}
    resp = await client.post(path, data=b"" if body is None else json.dumps(body), headers=headers)
    assert resp.headers["x-correlator"] == "t-1"
    assert resp.content_type == "application/json"
    return resp.status, await resp.json()


def unreachable(world: World) -> int:
    """A subscriber whose phone is off (night-off phones at 01:00 local)."""
    idx = np.arange(2000)
    off = np.flatnonzero(~world.is_reachable(idx) & world.consent.is_permitted(idx, "LOCATION_SHARING", None))
    assert len(off)
    return int(off[0])


@pytest.fixture
async def token(client: Client, make_partner: MakePartner) -> str:
    return (await camara_partner(client, make_partner))[1]


async def test_verify_true_false_partial(client: Client, world: World, token: str) -> None:
    """The serving cell inside the circle is TRUE, far away FALSE, half-covered PARTIAL with a match rate."""
    api = spec(VERIFY_SPEC)
    i = located(world)[0]
    lat, lon, r = cell_centre(world, i)
    cases = [
        # location_verification_02_known_location_for_device_no_maxAge: a circle holding the whole cell
        (circle(lat, lon, r * 1.05 + 100), "TRUE"),
        # location_verification_04_false_location_for_device: a circle around a distant cell
        (far_cell_circle(world, i), "FALSE"),
        # location_verification_01_generic_success_scenario: part of the cell
        (circle(lat, lon, max(r * 0.45, 200)), "PARTIAL"),
    ]
    for area, expected in cases:
        body = {"device": {"phoneNumber": msisdn(world, i)}, "area": area}
        status, answer = await post(client, VERIFY, body, token)
        assert (status, answer["verificationResult"]) == (200, expected), answer
        assert_conforms(api, "POST", VERIFY, status, answer)
        assert ("matchRate" in answer) == (expected == "PARTIAL")
        assert answer["lastLocationTime"] <= format_instant(world.clock.now)


async def test_verify_max_age_and_unlocatable(client: Client, world: World, token: str) -> None:
    """maxAge=0 pages the device (fresh time); a phone that is off is UNABLE_TO_LOCATE, or UNKNOWN on v1/v2."""
    api = spec(VERIFY_SPEC)
    i = located(world)[0]
    lat, lon, r = cell_centre(world, i)
    area = circle(lat, lon, r + 500)
    # location_verification_03_known_location_for_device_with_maxAge
    status, answer = await post(client, VERIFY, {"device": {"phoneNumber": msisdn(world, i)}, "area": area,
                                                 "maxAge": 0}, token)
    assert status == 200 and answer["lastLocationTime"] == format_instant(world.clock.now)
    await client.post("/admin/v1/clock/advance", json={"to": "2026-06-01T23:00:00Z"}, headers=ADMIN)
    off = unreachable(world)
    lat, lon, r = cell_centre(world, off)
    body = {"device": {"phoneNumber": msisdn(world, off)}, "area": circle(lat, lon, r + 500)}
    # location_verification_422.4_unknown_location_for_device
    status, answer = await post(client, VERIFY, body, token)
    assert (status, answer["code"]) == (422, "LOCATION_VERIFICATION.UNABLE_TO_LOCATE")
    assert_conforms(api, "POST", VERIFY, status, answer)
    # location_verification_422.3_unable_to_fulfill_max_age
    status, answer = await post(client, VERIFY, {**body, "maxAge": 60}, token)
    assert (status, answer["code"]) == (422, "LOCATION_VERIFICATION.UNABLE_TO_FULFILL_MAX_AGE")
    for version in ("v1", "v2"):
        status, answer = await post(client, f"/location-verification/{version}/verify", body, token)
        assert (status, answer) == (200, {"verificationResult": "UNKNOWN"})


async def test_three_legged_and_identifiers(client: Client, world: World, make_partner: MakePartner) -> None:
    """A token bound to the subscriber needs no device; naming one is UNNECESSARY; neither is MISSING."""
    api = spec(VERIFY_SPEC)
    creds, two_legged = await camara_partner(client, make_partner)
    i = located(world)[0]
    lat, lon, r = cell_centre(world, i)
    area = circle(lat, lon, r + 500)
    three = await ciba_token(client, creds, msisdn(world, i))
    status, answer = await post(client, VERIFY, {"area": area}, three)
    assert (status, answer["verificationResult"]) == (200, "TRUE")
    assert "device" not in answer
    cases = [
        # location_verification_C02.04_unnecessary_device
        (three, {"device": {"phoneNumber": msisdn(world, i)}, "area": area}, 422, "UNNECESSARY_IDENTIFIER"),
        # location_verification_C01.05_missing_device
        (two_legged, {"area": area}, 422, "MISSING_IDENTIFIER"),
        # location_verification_C01.03_device_not_found
        (two_legged, {"device": {"phoneNumber": "+99912345678"}, "area": area}, 404, "IDENTIFIER_NOT_FOUND"),
        # location_verification_C01.06_unsupported_device
        (two_legged, {"device": {"ipv6Address": "2001:db8::1"}, "area": area}, 422, "UNSUPPORTED_IDENTIFIER"),
    ]
    for token, body, code, error in cases:
        status, answer = await post(client, VERIFY, body, token)
        assert (status, answer["code"]) == (code, error)
        assert_conforms(api, "POST", VERIFY, status, answer)
    # several identifiers: the one used is echoed
    body = {"device": {"phoneNumber": msisdn(world, i), "ipv4Address": {"publicAddress": "84.125.93.10",
                                                                         "publicPort": 59765}}, "area": area}
    status, answer = await post(client, VERIFY, body, two_legged)
    assert (status, answer["device"]) == (200, {"phoneNumber": msisdn(world, i)})
    assert_conforms(api, "POST", VERIFY, status, answer)


async def test_consent_is_required(client: Client, world: World, token: str) -> None:
    """A subscriber without LOCATION_SHARING consent is never located: 403 PERMISSION_DENIED."""
    i = located(world, consent=False)[0]
    lat, lon, r = cell_centre(world, i)
    for path, body in ((VERIFY, {"area": circle(lat, lon, r + 500)}), (RETRIEVE, {})):
        status, answer = await post(client, path, {**body, "device": {"phoneNumber": msisdn(world, i)}}, token)
        assert (status, answer["code"]) == (403, "PERMISSION_DENIED")


LAT, LON = 52.52, 13.405


@pytest.mark.parametrize(("body", "status", "code"), [
    # location_verification_400.1_no_request_body
    (None, 400, "INVALID_ARGUMENT"),
    # location_verification_400.2_empty_request_body
    ({}, 400, "INVALID_ARGUMENT"),
    # location_verification_C01.01_device_empty
    ({"device": {}, "area": circle(LAT, LON, 1000)}, 400, "INVALID_ARGUMENT"),
    # location_verification_C01.02_device_identifiers_not_schema_compliant: phoneNumber
    ({"device": {"phoneNumber": "0049123"}, "area": circle(LAT, LON, 1000)}, 400, "INVALID_ARGUMENT"),
    # C01.02: ipv4Address without port or private address
    ({"device": {"ipv4Address": {"publicAddress": "1.2.3.4"}}, "area": circle(LAT, LON, 1000)}, 400,
     "INVALID_ARGUMENT"),
    # C01.02: ipv6Address
    ({"device": {"ipv6Address": "not-an-ip"}, "area": circle(LAT, LON, 1000)}, 400, "INVALID_ARGUMENT"),
    # location_verification_400.3: areaType
    ({"device": {"phoneNumber": "+4915112345678"}, "area": {**circle(LAT, LON, 1000), "areaType": "SQUARE"}}, 400,
     "INVALID_ARGUMENT"),
    # 400.3: latitude out of range
    ({"device": {"phoneNumber": "+4915112345678"}, "area": circle(91, LON, 1000)}, 400, "INVALID_ARGUMENT"),
    # 400.3: longitude out of range
    ({"device": {"phoneNumber": "+4915112345678"}, "area": circle(LAT, 181, 1000)}, 400, "INVALID_ARGUMENT"),
    # 400.3: radius below the schema minimum
    ({"device": {"phoneNumber": "+4915112345678"}, "area": circle(LAT, LON, 0)}, 400, "INVALID_ARGUMENT"),
    # 400.3: maxAge negative or not an integer
    ({"device": {"phoneNumber": "+4915112345678"}, "area": circle(LAT, LON, 1000), "maxAge": -1}, 400,
     "INVALID_ARGUMENT"),
    ({"device": {"phoneNumber": "+4915112345678"}, "area": circle(LAT, LON, 1000), "maxAge": "60"}, 400,
     "INVALID_ARGUMENT"),
    # 400.4: required area missing
    ({"device": {"phoneNumber": "+4915112345678"}}, 400, "INVALID_ARGUMENT"),
    # unknown field
    ({"device": {"phoneNumber": "+4915112345678"}, "area": circle(LAT, LON, 1000), "extra": 1}, 400,
     "INVALID_ARGUMENT"),
])
async def test_verify_bad_input(client: Client, token: str, body: Any, status: int, code: str) -> None:
    got, answer = await post(client, VERIFY, body, token)
    assert (got, answer["code"]) == (status, code)
    assert_conforms(spec(VERIFY_SPEC), "POST", VERIFY, got, answer)


async def test_verify_area_rules(client: Client, world: World, token: str) -> None:
    """location_verification_422.2_area_too_small and 422.1_area_not_covered."""
    device = {"phoneNumber": msisdn(world, located(world)[0])}
    for area, code in ((circle(LAT, LON, 50), "LOCATION_VERIFICATION.INVALID_AREA"),
                       (circle(0.0, 0.0, 5000), "LOCATION_VERIFICATION.AREA_NOT_COVERED")):
        status, answer = await post(client, VERIFY, {"device": device, "area": area}, token)
        assert (status, answer["code"]) == (422, code)
        assert_conforms(spec(VERIFY_SPEC), "POST", VERIFY, status, answer)


@pytest.mark.parametrize(("headers", "scopes"), [
    # location_verification_401.1_no_authorization_header
    ({}, None),
    # location_verification_401.3_invalid_access_token
    ({"Authorization": "Bearer nope"}, None),
    # location_verification_403_missing_scope
    (None, ("location-retrieval:read",)),
])
async def test_verify_auth(client: Client, world: World, make_partner: MakePartner,
                           headers: dict[str, str] | None, scopes: tuple[str, ...] | None) -> None:
    if headers is None:
        _, token = await camara_partner(client, make_partner, scopes=scopes or ())
        headers = bearer(token)
    resp = await client.post(VERIFY, json={"device": {"phoneNumber": msisdn(world, 0)}, "area": circle(LAT, LON, 900)},
                             headers=headers)
    body = await resp.json()
    assert (resp.status, body["code"]) == ((401, "UNAUTHENTICATED") if scopes is None else (403, "PERMISSION_DENIED"))
    assert_conforms(spec(VERIFY_SPEC), "POST", VERIFY, resp.status, body)


async def test_retrieve_circle_polygon_and_limits(client: Client, world: World, token: str) -> None:
    """The serving cell as a circle; as a polygon when only that fits maxSurface; else UNABLE_TO_FULFILL."""
    api = spec(RETRIEVE_SPEC)
    i = located(world)[0]
    device = {"phoneNumber": msisdn(world, i)}
    lat, lon, r = cell_centre(world, i)
    # location_retrieval_200.1_location_retrieval_for_device_no_maxAge
    status, answer = await post(client, RETRIEVE, {"device": device}, token)
    assert status == 200 and answer["area"] == circle(round(lat, 6), round(lon, 6), r)
    assert_conforms(api, "POST", RETRIEVE, status, answer)
    # location_retrieval_200.2_location_retrieval_for_device_with_maxAge
    status, answer = await post(client, RETRIEVE, {"device": device, "maxAge": 0}, token)
    assert status == 200 and answer["lastLocationTime"] == format_instant(world.clock.now)
    surface = int(np.pi * r * r)
    status, answer = await post(client, RETRIEVE, {"device": device, "maxSurface": surface - 1}, token)
    assert status == 200 and answer["area"]["areaType"] == "POLYGON", answer
    assert 3 <= len(answer["area"]["boundary"]) <= 15
    assert_conforms(api, "POST", RETRIEVE, status, answer)
    # location_retrieval_422.1_unable_to_fulfill_max_surface
    status, answer = await post(client, RETRIEVE, {"device": device, "maxSurface": 1}, token)
    assert (status, answer["code"]) == (422, "LOCATION_RETRIEVAL.UNABLE_TO_FULFILL_MAX_SURFACE")
    assert_conforms(api, "POST", RETRIEVE, status, answer)
    # v0.4 answers circles only
    status, answer = await post(client, "/location-retrieval/v0.4/retrieve", {"device": device,
                                                                              "maxSurface": surface - 1}, token)
    assert (status, answer["code"]) == (422, "LOCATION_RETRIEVAL.UNABLE_TO_FULFILL_MAX_SURFACE")


async def test_retrieve_unlocatable(client: Client, world: World, token: str) -> None:
    """v0.5: 422 UNABLE_TO_LOCATE (and maxAge not met); v0.4: 404 LOCATION_RETRIEVAL.DEVICE_NOT_FOUND."""
    await client.post("/admin/v1/clock/advance", json={"duration": "PT17H"}, headers=ADMIN)
    device = {"phoneNumber": msisdn(world, unreachable(world))}
    status, answer = await post(client, RETRIEVE, {"device": device}, token)
    assert (status, answer["code"]) == (422, "LOCATION_RETRIEVAL.UNABLE_TO_LOCATE")
    assert_conforms(spec(RETRIEVE_SPEC), "POST", RETRIEVE, status, answer)
    # location_retrieval_422.2_unable_to_locate_device_with_required_freshness
    status, answer = await post(client, RETRIEVE, {"device": device, "maxAge": 120}, token)
    assert (status, answer["code"]) == (422, "LOCATION_RETRIEVAL.UNABLE_TO_FULFILL_MAX_AGE")
    # location_retrieval_404_unable_to_locate_device (the v0.4 wording of the test plan)
    status, answer = await post(client, "/location-retrieval/v0.4/retrieve", {"device": device}, token)
    assert (status, answer["code"]) == (404, "LOCATION_RETRIEVAL.DEVICE_NOT_FOUND")


@pytest.mark.parametrize(("body", "code"), [
    # location_retrieval_400.2_max_age_schema_compliant
    ({"device": {"phoneNumber": "+4915112345678"}, "maxAge": "x"}, "INVALID_ARGUMENT"),
    ({"device": {"phoneNumber": "+4915112345678"}, "maxSurface": 0}, "INVALID_ARGUMENT"),
    # location_retrieval_C01.01_device_empty
    ({"device": {}}, "INVALID_ARGUMENT"),
    # location_retrieval_C01.02_device_identifiers_not_schema_compliant
    ({"device": {"phoneNumber": "12"}}, "INVALID_ARGUMENT"),
    ({"device": {"networkAccessIdentifier": ""}}, "INVALID_ARGUMENT"),
])
async def test_retrieve_bad_input(client: Client, token: str, body: Any, code: str) -> None:
    status, answer = await post(client, RETRIEVE, body, token)
    assert (status, answer["code"]) == (400, code)
    assert_conforms(spec(RETRIEVE_SPEC), "POST", RETRIEVE, status, answer)


async def test_last_location_time_follows_the_network(client: Client, world: World, token: str) -> None:
    """lastLocationTime is the last cell change or periodic update: never in the future, at most 54 min old."""
    await client.post("/admin/v1/clock/advance", json={"duration": "PT2H"}, headers=ADMIN)
    for i in located(world, 5):
        status, answer = await post(client, RETRIEVE, {"device": {"phoneNumber": msisdn(world, i)}}, token)
        assert status == 200
        age = world.clock.now - world.last_seen(i)
        assert age <= timedelta(minutes=54)
        assert answer["lastLocationTime"] == format_instant(world.last_seen(i))
