"""Partner and admin authentication, scopes, ownership, and the OAuth 2.0 token endpoint."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.gateway.conftest import ADMIN, Client, MakePartner, Wall, bearer, fetch_token


async def test_token_grants_all_partner_scopes_by_default(client: Client, make_partner: MakePartner) -> None:
    """No ``scope`` parameter: the token carries every scope of the partner."""
    creds = await make_partner(scopes=("api-keys:read", "x:y"))
    resp = await client.post("/oauth2/token", data={"grant_type": "client_credentials", "client_id": creds.client_id,
                                                    "client_secret": creds.client_secret})
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    body = await resp.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert set(body["scope"].split()) == {"api-keys:read", "x:y"}
    me = await client.get("/partner/v1/me", headers=bearer(body["access_token"]))
    assert (await me.json()) == {"id": creds.id, "name": "acme", "scopes": ["api-keys:read", "x:y"],
                                 "credential": "token"}


async def test_basic_auth_and_narrowed_scope(client: Client, make_partner: MakePartner) -> None:
    """HTTP Basic client authentication; a requested subset of scopes is what the token gets."""
    creds = await make_partner(scopes=("api-keys:read", "x:y"))
    basic = base64.b64encode(f"{creds.client_id}:{creds.client_secret}".encode()).decode()
    resp = await client.post("/oauth2/token", data={"grant_type": "client_credentials", "scope": "x:y"},
                             headers={"Authorization": f"Basic {basic}"})
    assert resp.status == 200
    token = (await resp.json())["access_token"]
    me = await (await client.get("/partner/v1/me", headers=bearer(token))).json()
    assert me["scopes"] == ["x:y"]
    denied = await client.get("/partner/v1/api-keys", headers=bearer(token))
    assert denied.status == 403


@pytest.mark.parametrize(("form", "headers", "status", "error"), [
    # no grant type at all
    ({"client_id": "cid_000001", "client_secret": "S"}, {}, 400, "invalid_request"),
    # a grant we do not support
    ({"grant_type": "password", "client_id": "cid_000001", "client_secret": "S"}, {}, 400, "unsupported_grant_type"),
    # wrong secret
    ({"grant_type": "client_credentials", "client_id": "cid_000001", "client_secret": "nope"}, {}, 401,
     "invalid_client"),
    # unknown client
    ({"grant_type": "client_credentials", "client_id": "cid_999999", "client_secret": "S"}, {}, 401,
     "invalid_client"),
    # no client authentication
    ({"grant_type": "client_credentials"}, {}, 401, "invalid_client"),
    # scope the partner does not have
    ({"grant_type": "client_credentials", "client_id": "cid_000001", "client_secret": "S", "scope": "admin:all"}, {},
     400, "invalid_scope"),
    # two client authentication methods at once
    ({"grant_type": "client_credentials", "client_id": "cid_000001", "client_secret": "S"},
     {"Authorization": "Basic Y2lkXzAwMDAwMTpT"}, 400, "invalid_request"),
    # malformed Basic header
    ({"grant_type": "client_credentials"}, {"Authorization": "Basic !!!"}, 401, "invalid_client"),
])
async def test_oauth_errors(client: Client, make_partner: MakePartner, form: dict[str, str],
                            headers: dict[str, str], status: int, error: str) -> None:
    """RFC 6749 section 5.2 errors (the one exception to the CAMARA error shape)."""
    creds = await make_partner()
    form = {k: (creds.client_secret if v == "S" else v) for k, v in form.items()}
    resp = await client.post("/oauth2/token", data=form, headers=headers)
    assert resp.status == status
    body = await resp.json()
    assert body["error"] == error
    assert set(body) == {"error", "error_description"}
    if status == 401:
        assert "WWW-Authenticate" in resp.headers


async def test_oauth_json_body_is_invalid_request(client: Client) -> None:
    """The token endpoint takes form encoding only."""
    resp = await client.post("/oauth2/token", json={"grant_type": "client_credentials"})
    assert resp.status == 400
    assert (await resp.json())["error"] == "invalid_request"


async def _api_key(client: Client, partner_id: str) -> dict[str, Any]:
    resp = await client.post(f"/admin/v1/partners/{partner_id}/api-keys", headers=ADMIN)
    assert resp.status == 201
    body: dict[str, Any] = await resp.json()
    return body


@pytest.mark.parametrize("header", ["Authorization", "x-api-key", "x-rapidapi-key"])
async def test_api_key_in_each_header(client: Client, make_partner: MakePartner, header: str) -> None:
    """An API key works as a bearer token and in the two key headers SDKs for hosted APIs use."""
    creds = await make_partner()
    key = (await _api_key(client, creds.id))["key"]
    value = f"Bearer {key}" if header == "Authorization" else key
    resp = await client.get("/partner/v1/me", headers={header: value})
    assert resp.status == 200
    assert (await resp.json())["credential"] == "api_key"


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401),  # no credential
    ({"Authorization": "Bearer opsim_at_not-a-token"}, 401),  # unknown token
    ({"Authorization": "Bearer "}, 401),  # empty bearer
    ({"Authorization": "Basic YTpi"}, 401),  # wrong scheme
    ({"x-api-key": "opsim_key_unknown"}, 401),  # unknown key
    ({"Authorization": "Bearer test-admin-token"}, 401),  # the admin token is not a partner credential
])
async def test_partner_route_rejects(client: Client, headers: dict[str, str], status: int) -> None:
    """Missing or bad credentials: always the same generic 401 UNAUTHENTICATED."""
    resp = await client.get("/partner/v1/me", headers=headers)
    assert resp.status == status
    assert await resp.json() == {"status": 401, "code": "UNAUTHENTICATED", "message":
                                 "Request not authenticated due to missing, invalid, or expired credentials."}


async def test_expired_token(client: Client, make_partner: MakePartner, wall: Wall) -> None:
    """Token lifetimes count in wall time: past ``expires_in`` the token is refused."""
    creds = await make_partner()
    token = await fetch_token(client, creds)
    assert (await client.get("/partner/v1/me", headers=bearer(token))).status == 200
    wall.now += 3599
    assert (await client.get("/partner/v1/me", headers=bearer(token))).status == 200
    wall.now += 2
    resp = await client.get("/partner/v1/me", headers=bearer(token))
    assert resp.status == 401
    assert (await resp.json())["code"] == "UNAUTHENTICATED"


async def test_wrong_scope_is_403(client: Client, make_partner: MakePartner) -> None:
    """A valid credential without the route's scope: 403 PERMISSION_DENIED."""
    creds = await make_partner(scopes=("api-keys:read",))
    token = await fetch_token(client, creds)
    resp = await client.delete("/partner/v1/api-keys/key_000001", headers=bearer(token))
    assert resp.status == 403
    assert (await resp.json())["code"] == "PERMISSION_DENIED"


async def test_other_partners_resource_is_404(client: Client, make_partner: MakePartner) -> None:
    """A partner cannot see or revoke another partner's API key: it does not exist for them."""
    alice = await make_partner("alice")
    bob = await make_partner("bob")
    alice_key = await _api_key(client, alice.id)
    bob_token = await fetch_token(client, bob)
    for method in ("GET", "DELETE"):
        resp = await client.request(method, f"/partner/v1/api-keys/{alice_key['id']}", headers=bearer(bob_token))
        assert resp.status == 404
        assert (await resp.json())["code"] == "NOT_FOUND"
    alice_token = await fetch_token(client, alice)
    own = await client.get(f"/partner/v1/api-keys/{alice_key['id']}", headers=bearer(alice_token))
    assert (await own.json())["prefix"] == alice_key["prefix"]
    listed = await (await client.get("/partner/v1/api-keys", headers=bearer(bob_token))).json()
    assert listed == {"apiKeys": []}


async def test_revoked_key_stops_working(client: Client, make_partner: MakePartner) -> None:
    """A key revoked by its partner (or the operator) is refused at once."""
    creds = await make_partner()
    key = await _api_key(client, creds.id)
    assert (await client.get("/partner/v1/me", headers={"x-api-key": key["key"]})).status == 200
    resp = await client.delete(f"/partner/v1/api-keys/{key['id']}", headers={"x-api-key": key["key"]})
    assert resp.status == 204
    assert (await client.get("/partner/v1/me", headers={"x-api-key": key["key"]})).status == 401


async def test_disabled_partner(client: Client, make_partner: MakePartner) -> None:
    """Disabling a partner kills its tokens and keys and refuses new tokens; enabling restores keys."""
    creds = await make_partner()
    token = await fetch_token(client, creds)
    key = (await _api_key(client, creds.id))["key"]
    resp = await client.post(f"/admin/v1/partners/{creds.id}/disable", headers=ADMIN)
    assert (await resp.json())["disabled"] is True
    assert (await client.get("/partner/v1/me", headers=bearer(token))).status == 401
    assert (await client.get("/partner/v1/me", headers={"x-api-key": key})).status == 401
    refused = await client.post("/oauth2/token", data={"grant_type": "client_credentials",
                                                       "client_id": creds.client_id,
                                                       "client_secret": creds.client_secret})
    assert refused.status == 401
    await client.post(f"/admin/v1/partners/{creds.id}/enable", headers=ADMIN)
    assert (await client.get("/partner/v1/me", headers={"x-api-key": key})).status == 200


@pytest.mark.parametrize("credential", ["partner-token", "partner-key", "none", "wrong"])
async def test_admin_routes_take_only_the_admin_token(client: Client, make_partner: MakePartner,
                                                      credential: str) -> None:
    """Partner credentials on the admin API are 401, as is any other token."""
    creds = await make_partner()
    headers = {
        "partner-token": bearer(await fetch_token(client, creds)),
        "partner-key": {"x-api-key": (await _api_key(client, creds.id))["key"]},
        "none": {},
        "wrong": bearer("test-admin-tokeN"),
    }[credential]
    resp = await client.get("/admin/v1/partners", headers=headers)
    assert resp.status == 401
    assert (await resp.json())["code"] == "UNAUTHENTICATED"
    assert (await client.get("/admin/v1/partners", headers=ADMIN)).status == 200
