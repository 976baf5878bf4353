"""CAMARA number-verification v2 with tokens from simulated network-based authentication, against the spec and
the applicable scenarios of NumberVerification_*.feature."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.http.camara.number_verification import hash_number
from gateway.wire.oauth import CIBA_GRANT_TYPE
from simulator.world import World
from tests.gateway.camara_helpers import ciba_token
from tests.gateway.camara_spec import assert_conforms, spec
from tests.gateway.conftest import ADMIN, Client, MakePartner, PartnerCreds, Wall, bearer, fetch_token

SPEC = "NumberVerification_number-verification.yaml"
SCOPES = ("number-verification:verify", "number-verification:device-phone-number:read")
SCOPE = "openid dpv:FraudPreventionAndDetection " + " ".join(SCOPES)
LINE = "+491701000100"
OTHER = "+491701000101"


async def phone(client: Client, msisdn: str, roaming: bool = False) -> str:
    resp = await client.post("/admin/v1/subscribers", json={"msisdn": msisdn, "profile": {"roaming": roaming}},
                             headers=ADMIN)
    assert resp.status == 201, await resp.text()
    return msisdn


async def network_auth(client: Client, creds: PartnerCreds, msisdn: str, scope: str = SCOPE) -> tuple[int, Any]:
    resp = await client.post(f"/admin/v1/subscribers/{msisdn}/network-authentication",
                             json={"clientId": creds.client_id, "scope": scope}, headers=ADMIN)
    return resp.status, await resp.json()


async def nba_token(client: Client, creds: PartnerCreds, msisdn: str, scope: str = SCOPE) -> str:
    """The documented flow: the device authenticates through the network, the partner redeems the auth_req_id."""
    status, body = await network_auth(client, creds, msisdn, scope)
    assert status == 201, body
    assert body["amr"] == ["nba"]
    form = {"client_id": creds.client_id, "client_secret": creds.client_secret, "grant_type": CIBA_GRANT_TYPE,
            "auth_req_id": body["auth_req_id"]}
    resp = await client.post("/oauth2/token", data=form)
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["access_token"])


@pytest.fixture
async def creds(client: Client, make_partner: MakePartner) -> PartnerCreds:
    await phone(client, LINE)
    await phone(client, OTHER)
    return await make_partner("bank", scopes=SCOPES)


@pytest.fixture
async def token(client: Client, creds: PartnerCreds) -> str:
    return await nba_token(client, creds, LINE)


async def verify(client: Client, token: str, body: Any, raw: bool = False) -> tuple[int, Any]:
    headers = {**bearer(token), "x-correlator": "nv-1"}
    if raw:
        resp = await client.post("/number-verification/v2/verify", data=body,
                                 headers={**headers, "Content-Type": "application/json"})
    else:
        resp = await client.post("/number-verification/v2/verify", json=body, headers=headers)
    assert resp.headers["x-correlator"] == "nv-1"
    assert resp.headers["Content-Type"].startswith("application/json")
    return resp.status, await resp.json()


@pytest.mark.parametrize(("body", "verified"), [
    ({"phoneNumber": LINE}, True),  # @phoneNumberVerify_2 plain number of the line
    ({"phoneNumber": OTHER}, False),  # @phoneNumberVerify_3 another number
    ({"hashedPhoneNumber": hash_number(LINE)}, True),  # @phoneNumberVerify_4 hashed number of the line
    ({"hashedPhoneNumber": hash_number(LINE).upper()}, True),  # hex is case-insensitive
    ({"hashedPhoneNumber": hash_number(OTHER)}, False),  # @phoneNumberVerify_5 hashed other number
])
async def test_verify(client: Client, token: str, body: dict[str, str], verified: bool) -> None:
    """@phoneNumberVerify_1: 200 with the match, valid against the definition."""
    status, got = await verify(client, token, body)
    assert (status, got) == (200, {"devicePhoneNumberVerified": verified})
    assert_conforms(spec(SPEC), "POST", "/number-verification/v2/verify", 200, got, body)


async def test_device_phone_number(client: Client, token: str) -> None:
    """@phoneNumberShare_1/2: the line's number."""
    resp = await client.get("/number-verification/v2/device-phone-number", headers=bearer(token))
    got = await resp.json()
    assert (resp.status, got) == (200, {"devicePhoneNumber": LINE})
    assert_conforms(spec(SPEC), "GET", "/number-verification/v2/device-phone-number", 200, got)


@pytest.mark.parametrize(("body", "raw"), [
    ("", True),  # @phoneNumberVerify_400.1 missing body
    ({}, False),  # @phoneNumberVerify_400.2 empty object
    ({"other": "+491701000100"}, False),  # @phoneNumberVerify_400.3 neither property
    ({"phoneNumber": LINE, "hashedPhoneNumber": hash_number(LINE)}, False),  # @phoneNumberVerify_400.4 both
    ({"phoneNumber": "491701000100"}, False),  # @C02.01 not E.164
    ({"hashedPhoneNumber": "abc"}, False),  # not a SHA-256 hex digest
    ({"phoneNumber": 491701000100}, False),  # not a string
    ("{not json", True),  # malformed JSON
])
async def test_bad_requests(client: Client, token: str, body: Any, raw: bool) -> None:
    """400 INVALID_ARGUMENT in the CAMARA error shape."""
    status, got = await verify(client, token, body, raw=raw)
    assert (status, got["status"], got["code"]) == (400, 400, "INVALID_ARGUMENT")
    assert got["message"]
    assert_conforms(spec(SPEC), "POST", "/number-verification/v2/verify", 400, got)


async def test_unauthenticated(client: Client, token: str, wall: Wall) -> None:
    """@401.1-3: no Authorization header, invalid token, expired token."""
    api = spec(SPEC)
    for headers in ({}, bearer("opsim_at_not-a-token")):
        resp = await client.post("/number-verification/v2/verify", json={"phoneNumber": LINE}, headers=headers)
        got = await resp.json()
        assert (resp.status, got["code"]) == (401, "UNAUTHENTICATED")
        assert_conforms(api, "POST", "/number-verification/v2/verify", 401, got)
    wall.now += 3601
    resp = await client.get("/number-verification/v2/device-phone-number", headers=bearer(token))
    got = await resp.json()
    assert (resp.status, got["code"]) == (401, "UNAUTHENTICATED")
    assert_conforms(api, "GET", "/number-verification/v2/device-phone-number", 401, got)


async def test_tokens_not_from_the_network_are_refused(client: Client, world: World, creds: PartnerCreds,
                                                       make_partner: MakePartner) -> None:
    """@403.2: a two-legged token or a CIBA (user consent) token was not network-based authentication; @403.1:
    a token without the scope is PERMISSION_DENIED."""
    api = spec(SPEC)
    two_legged = await fetch_token(client, creds)
    consented = await ciba_token(client, creds, LINE, scope=SCOPE)
    for tok in (two_legged, consented):
        status, got = await verify(client, tok, {"phoneNumber": LINE})
        assert (status, got["code"]) == (403, "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK")
        assert_conforms(api, "POST", "/number-verification/v2/verify", 403, got)
    narrow = await nba_token(client, creds, LINE, scope="openid dpv:FraudPreventionAndDetection "
                                                        "number-verification:verify")
    resp = await client.get("/number-verification/v2/device-phone-number", headers=bearer(narrow))
    got = await resp.json()
    assert (resp.status, got["code"]) == (403, "PERMISSION_DENIED")
    assert_conforms(api, "GET", "/number-verification/v2/device-phone-number", 403, got)


async def test_network_authentication_needs_an_attached_home_line(client: Client, world: World,
                                                                  creds: PartnerCreds) -> None:
    """The device must be on the network now and be the operator's own line; the scope must be granted."""
    world.devices.forced_off[world.find_subscriber(OTHER)] = True
    assert (await network_auth(client, creds, OTHER))[0] == 409
    roamer = await phone(client, "+441701000102", roaming=True)
    assert (await network_auth(client, creds, roamer))[0] == 422
    assert (await network_auth(client, creds, "+999999999999"))[0] == 404
    status, body = await network_auth(client, creds, LINE, scope="openid dpv:X location-verification:verify")
    assert (status, body["code"]) == (400, "INVALID_ARGUMENT") and "invalid_scope" in body["message"]
    bad = PartnerCreds("ptn_999999", "cid_999999", "x")
    assert (await network_auth(client, bad, LINE))[0] == 400
    token = await nba_token(client, creds, LINE)
    form = {"client_id": creds.client_id, "client_secret": creds.client_secret, "grant_type": CIBA_GRANT_TYPE}
    status, body = await network_auth(client, creds, LINE)
    resp = await client.post("/oauth2/token", data={**form, "auth_req_id": body["auth_req_id"]})
    assert resp.status == 200
    again = await client.post("/oauth2/token", data={**form, "auth_req_id": body["auth_req_id"]})
    assert again.status == 400  # an auth_req_id is redeemed once
    assert token
