"""Three-legged consent (CIBA): bc-authorize, polling the token endpoint, the subscriber's answer, bound tokens."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from gateway.wire.oauth import CIBA_GRANT_TYPE
from simulator.world import World
from tests.gateway.camara_helpers import ALL_SCOPES, camara_partner, located, msisdn
from tests.gateway.conftest import ADMIN, Client, MakePartner, PartnerCreds, Wall, bearer

SCOPE = "openid dpv:FraudPreventionAndDetection location-verification:verify"


async def authorize(client: Client, creds: PartnerCreds, **fields: str) -> tuple[int, Any]:
    data = {"client_id": creds.client_id, "client_secret": creds.client_secret, **fields}
    resp = await client.post("/bc-authorize", data=data)
    return resp.status, await resp.json()


async def poll(client: Client, creds: PartnerCreds, auth_req_id: str) -> tuple[int, Any]:
    resp = await client.post("/oauth2/token", data={"grant_type": CIBA_GRANT_TYPE, "auth_req_id": auth_req_id,
                                                    "client_id": creds.client_id,
                                                    "client_secret": creds.client_secret})
    return resp.status, await resp.json()


async def set_mode(client: Client, number: str, mode: str) -> None:
    resp = await client.put(f"/admin/v1/subscribers/{quote(number)}/ciba", json={"mode": mode}, headers=ADMIN)
    assert resp.status == 200, await resp.text()


async def test_pending_then_approved_token_is_bound(client: Client, world: World, make_partner: MakePartner) -> None:
    """authorization_pending until the subscriber approves; the token acts for that subscriber only."""
    creds, _ = await camara_partner(client, make_partner)
    i = located(world)[0]
    number = msisdn(world, i)
    await set_mode(client, number, "pending")
    status, ack = await authorize(client, creds, scope=SCOPE, login_hint=f"tel:{number}")
    assert status == 200 and ack["expires_in"] > 0 and ack["auth_req_id"].startswith("ciba_")
    status, body = await poll(client, creds, ack["auth_req_id"])
    assert (status, body["error"]) == (400, "authorization_pending")
    await set_mode(client, number, "approve")
    status, body = await poll(client, creds, ack["auth_req_id"])
    assert status == 200 and body["scope"] == "location-verification:verify"
    me = await (await client.get("/partner/v1/me", headers=bearer(body["access_token"]))).json()
    assert me["scopes"] == ["location-verification:verify"]
    resp = await client.post("/device-reachability-status/v1/retrieve", json={},
                             headers=bearer(body["access_token"]))
    assert resp.status == 403  # the token carries only the approved scope
    status, again = await poll(client, creds, ack["auth_req_id"])
    assert (status, again["error"]) == (400, "invalid_grant")  # one token per request


async def test_answers_follow_consent_or_policy(client: Client, world: World, make_partner: MakePartner) -> None:
    """By default approval follows LOCATION_SHARING consent; deny is access_denied."""
    creds, _ = await camara_partner(client, make_partner)
    refusing = msisdn(world, located(world, consent=False)[0])
    _, ack = await authorize(client, creds, scope=SCOPE, login_hint=f"tel:{refusing}")
    assert (await poll(client, creds, ack["auth_req_id"]))[1]["error"] == "access_denied"
    # a non-location scope does not need location consent
    _, ack = await authorize(client, creds, scope="openid dpv:RequestedServiceProvision device-roaming-status:read",
                             login_hint=f"tel:{refusing}")
    assert (await poll(client, creds, ack["auth_req_id"]))[0] == 200
    agreeing = msisdn(world, located(world)[0])
    await set_mode(client, agreeing, "deny")
    _, ack = await authorize(client, creds, scope=SCOPE, login_hint=f"tel:{agreeing}")
    assert (await poll(client, creds, ack["auth_req_id"]))[1]["error"] == "access_denied"
    view = await (await client.get(f"/admin/v1/subscribers/{quote(agreeing)}/ciba", headers=ADMIN)).json()
    assert view == {"msisdn": agreeing, "mode": "deny"}


async def test_expired_request(client: Client, world: World, make_partner: MakePartner, wall: Wall) -> None:
    """Past expires_in (wall time), polling is expired_token."""
    creds, _ = await camara_partner(client, make_partner)
    _, ack = await authorize(client, creds, scope=SCOPE, login_hint=f"tel:{msisdn(world, located(world)[0])}")
    wall.now += ack["expires_in"] + 1
    assert (await poll(client, creds, ack["auth_req_id"]))[1]["error"] == "expired_token"


@pytest.mark.parametrize(("fields", "status", "error"), [
    ({"scope": "openid location-verification:verify"}, 400, "invalid_scope"),  # no purpose
    ({"scope": "openid dpv:A dpv:B location-verification:verify"}, 400, "invalid_scope"),  # two purposes
    ({"scope": "openid dpv:FraudPreventionAndDetection"}, 400, "invalid_scope"),  # no API scope
    ({"scope": "openid dpv:X sim-swap:check"}, 400, "invalid_scope"),  # not granted to the partner
    ({"scope": "openid dpv:X region-device-count:count"}, 400, "invalid_scope"),  # two-legged only API
    ({"login_hint": "+4915112345678"}, 400, "invalid_request"),  # not a tel: URI
    ({"login_hint": "tel:+99912345678"}, 400, "unknown_user_id"),
    ({"login_hint": ""}, 400, "invalid_request"),
    ({"client_secret": "wrong"}, 401, "invalid_client"),
])
async def test_bc_authorize_bad_input(client: Client, world: World, make_partner: MakePartner,
                                      fields: dict[str, str], status: int, error: str) -> None:
    creds, _ = await camara_partner(client, make_partner, scopes=(*ALL_SCOPES,))
    base = {"scope": SCOPE, "login_hint": f"tel:{msisdn(world, 0)}"}
    got, body = await authorize(client, creds, **{**base, **fields})
    assert (got, body["error"]) == (status, error)


async def test_token_endpoint_ciba_errors(client: Client, make_partner: MakePartner) -> None:
    """Unknown or missing auth_req_id, and another partner's request, are refused."""
    creds, _ = await camara_partner(client, make_partner)
    assert (await poll(client, creds, "ciba_nope"))[1]["error"] == "invalid_grant"
    resp = await client.post("/oauth2/token", data={"grant_type": CIBA_GRANT_TYPE, "client_id": creds.client_id,
                                                    "client_secret": creds.client_secret})
    assert (await resp.json())["error"] == "invalid_request"
    resp = await client.put("/admin/v1/subscribers/%2B99912345678/ciba", json={"mode": "deny"}, headers=ADMIN)
    assert resp.status == 404
    resp = await client.put("/admin/v1/subscribers/%2B99912345678/ciba", json={"mode": "maybe"}, headers=ADMIN)
    assert resp.status == 400
