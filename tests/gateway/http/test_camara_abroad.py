"""An inbound roamer abroad (not attached: serving cell -1) through the device APIs, the admin API and SMS: the
operator does not see a foreign SIM that is not on its network, and says so without a 500."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import numpy as np
import pytest

from simulator.world import World
from tests.gateway.camara_helpers import camara_partner, circle, msisdn
from tests.gateway.camara_spec import assert_conforms, spec
from tests.gateway.conftest import ADMIN, Client, MakePartner, bearer, fetch_token

ROAM = "/device-roaming-status/v1/retrieve"
REACH = "/device-reachability-status/v1/retrieve"


def abroad(world: World) -> int:
    """A visitor who is abroad now (not attached), with location consent (granted here if need be)."""
    idx = np.flatnonzero((world.cell == -1) & world.population.roaming)
    assert len(idx), "the test world starts with visitors abroad"
    i = int(idx[0])
    world.set_consent(i, "LOCATION_SHARING", None, True)
    return i


def present(world: World) -> int:
    """A visitor in the country now (attached)."""
    return int(np.flatnonzero((world.cell >= 0) & world.population.roaming)[0])


@pytest.fixture
async def token(client: Client, make_partner: MakePartner) -> str:
    return (await camara_partner(client, make_partner))[1]


async def post(client: Client, path: str, body: Any, token: str) -> tuple[int, Any]:
    resp = await client.post(path, json=body, headers={**bearer(token), "x-correlator": "abroad-1"})
    assert resp.headers["x-correlator"] == "abroad-1"
    return resp.status, await resp.json()


async def test_roaming_status_of_a_visitor_abroad_is_service_not_applicable(
        client: Client, world: World, token: str) -> None:
    """Abroad: 422 SERVICE_NOT_APPLICABLE (the spec's code); attached in the country: roaming in DE."""
    roam_api = spec("DeviceRoamingStatus_device-roaming-status.yaml")
    status, body = await post(client, ROAM, {"device": {"phoneNumber": msisdn(world, abroad(world))}}, token)
    assert (status, body["status"], body["code"]) == (422, 422, "SERVICE_NOT_APPLICABLE")
    assert "not on this network" in body["message"]
    assert_conforms(roam_api, "POST", ROAM, status, body)
    status, body = await post(client, ROAM, {"device": {"phoneNumber": msisdn(world, present(world))}}, token)
    assert (status, body["roaming"], body["countryCode"], body["countryName"]) == (200, True, 262, ["DE"])


async def test_other_device_apis_see_a_visitor_abroad_as_not_attached(
        client: Client, world: World, token: str) -> None:
    """Reachability: not reachable since the detach; location: unable to locate (UNKNOWN where a version has it)."""
    i = abroad(world)
    device = {"phoneNumber": msisdn(world, i)}
    status, body = await post(client, REACH, {"device": device}, token)
    assert (status, body["reachable"]) == (200, False) and "connectivity" not in body
    assert body["lastStatusTime"] == world.last_seen(i).isoformat().replace("+00:00", "Z")
    assert_conforms(spec("DeviceReachabilityStatus_device-reachability-status.yaml"), "POST", REACH, status, body)
    area = circle(world.city.projection.lat0, world.city.projection.lon0, 2000)
    cases = [  # (path, body, status, code or verification result)
        ("/location-retrieval/v0.5/retrieve", {"device": device}, 422, "LOCATION_RETRIEVAL.UNABLE_TO_LOCATE"),
        ("/location-retrieval/v0.4/retrieve", {"device": device}, 404, "LOCATION_RETRIEVAL.DEVICE_NOT_FOUND"),
        ("/location-verification/v3/verify", {"device": device, "area": area}, 422,
         "LOCATION_VERIFICATION.UNABLE_TO_LOCATE"),
        ("/location-verification/v2/verify", {"device": device, "area": area}, 200, "UNKNOWN"),
    ]
    for path, body_in, want_status, want in cases:
        status, body = await post(client, path, body_in, token)
        assert (status, body.get("code", body.get("verificationResult"))) == (want_status, want), path


async def test_pinning_a_visitor_abroad_is_refused_and_changes_nothing(client: Client, world: World) -> None:
    """Pin: 409 CONFLICT in the error shape, the visitor stays detached and unpinned; release is a no-op."""
    i = abroad(world)
    path = f"/admin/v1/subscribers/{quote(msisdn(world, i), safe='')}"
    centre = {"latitude": world.city.projection.lat0, "longitude": world.city.projection.lon0}
    resp = await client.post(f"{path}/pin", json=centre, headers={**ADMIN, "x-correlator": "pin-1"})
    body = await resp.json()
    assert (resp.status, body["status"], body["code"]) == (409, 409, "CONFLICT")
    assert "abroad" in body["message"] and resp.headers["x-correlator"] == "pin-1"
    view = await (await client.get(path, headers=ADMIN)).json()
    assert (view["location"]["cellId"], view["location"]["pinned"], view["location"]["reachable"]) == ("", False, False)
    assert int(world.cell[i]) == -1
    released = await client.delete(f"{path}/pin", headers=ADMIN)
    assert released.status == 200 and (await released.json())["location"]["pinned"] is False


async def test_pinning_a_visitor_in_the_country_holds_them(client: Client, world: World) -> None:
    """An attached visitor can be pinned like anyone (the refusal is for those abroad only)."""
    i = present(world)
    centre = {"latitude": world.city.projection.lat0, "longitude": world.city.projection.lon0}
    resp = await client.post(f"/admin/v1/subscribers/{quote(msisdn(world, i), safe='')}/pin", json=centre,
                             headers=ADMIN)
    assert resp.status == 200 and (await resp.json())["location"]["pinned"] is True


async def test_an_sms_code_to_a_visitor_abroad_waits_at_the_smsc(
        client: Client, world: World, make_partner: MakePartner) -> None:
    """A verification SMS to a visitor abroad is accepted and retried as unreachable; nothing reaches the inbox."""
    token = await fetch_token(client, await make_partner("shop", scopes=("verify",)))
    number = msisdn(world, abroad(world))
    resp = await client.post("/verify/v1/verifications", json={"phoneNumber": number, "channel": "SMS"},
                             headers=bearer(token))
    assert resp.status == 201, await resp.text()
    vid = (await resp.json())["id"]
    await client.post("/admin/v1/clock/advance", json={"seconds": 90}, headers=ADMIN)
    got = await (await client.get(f"/verify/v1/verifications/{vid}", headers=bearer(token))).json()
    assert (got["sends"][0]["status"], got["sends"][0]["reason"]) == ("SCHEDULED", "UNREACHABLE")
    inbox = await (await client.get(f"/admin/v1/subscribers/{quote(number, safe='')}/inbox", headers=ADMIN)).json()
    assert inbox["messages"] == []
