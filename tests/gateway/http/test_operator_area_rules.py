"""One operator minimum radius (``Settings.min_radius_m``) for location verification, geofencing and campaigns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.core.settings import Settings
from simulator.world import World
from tests.gateway.camara_helpers import ENTERED, camara_partner, located, msisdn
from tests.gateway.campaign_helpers import CENTRE, campaign_partner
from tests.gateway.conftest import Client, MakePartner, Wall, bearer

MINIMUM = 500.0


@pytest.fixture
def settings(tmp_path: Path, wall: Wall) -> Settings:
    return Settings(db_path=tmp_path / "opsim.db", admin_token="test-admin-token", wall_clock=wall, port=0,
                    min_radius_m=MINIMUM)


def _circle(radius: float) -> dict[str, Any]:
    return {"areaType": "CIRCLE", "center": {"latitude": CENTRE[0], "longitude": CENTRE[1]}, "radius": radius}


def _verify(device: dict[str, Any], radius: float) -> dict[str, Any]:
    return {"device": device, "area": _circle(radius)}


def _geofence(device: dict[str, Any], radius: float) -> dict[str, Any]:
    return {"protocol": "HTTP", "sink": "https://127.0.0.1:9/hook", "types": [ENTERED],
            "config": {"subscriptionDetail": {"device": device, "area": _circle(radius)}}}


def _estimate(_device: dict[str, Any], radius: float) -> dict[str, Any]:
    return {"targeting": {"areas": [_circle(radius)]}}


@pytest.mark.parametrize(("path", "make", "code"), [
    # location_verification_422.2_area_too_small ("a minimum radius allowed by the implementation")
    ("/location-verification/v3/verify", _verify, "LOCATION_VERIFICATION.INVALID_AREA"),
    ("/location-verification/v1/verify", _verify, "LOCATION_VERIFICATION.INVALID_AREA"),
    # geofencing_subscriptions_422.2_create_with_an_invalid_area ("too small area-size")
    ("/geofencing-subscriptions/v0.5/subscriptions", _geofence, "GEOFENCING_SUBSCRIPTIONS.INVALID_AREA"),
    # campaign targeting: estimates and campaigns share the rule
    ("/campaigns/v1/audience-estimates", _estimate, "CAMPAIGNS.INVALID_AREA"),
])
async def test_one_minimum_radius(client: Client, world: World, make_partner: MakePartner, path: str,
                                  make: Any, code: str) -> None:
    """Just under the setting is 422 naming it; at the setting the area rule passes."""
    if path.startswith("/campaigns"):
        headers = (await campaign_partner(client, make_partner)).headers
    else:
        headers = bearer((await camara_partner(client, make_partner))[1])
    device = {"phoneNumber": msisdn(world, located(world)[0])}
    resp = await client.post(path, json=make(device, MINIMUM - 1), headers=headers)
    answer = await resp.json()
    assert (resp.status, answer["code"]) == (422, code)
    assert "500 m" in answer["message"]
    resp = await client.post(path, json=make(device, MINIMUM), headers=headers)
    assert resp.status < 300, await resp.text()
