"""Partner-facing account routes: who am I, and my own API keys (another partner's key is ``404``)."""

from __future__ import annotations

from aiohttp import web

from gateway.core.ids import key_public_id
from gateway.core.store import ApiKeyRow
from gateway.http.auth import auth_of
from gateway.http.keys import PARTNERS
from gateway.http.routing import Access, RouteTable, json_response, no_content
from gateway.wire.partners import ApiKeyInfo, ApiKeyList, Me

routes = RouteTable("partner account")

SCOPE_KEYS_READ = "api-keys:read"
SCOPE_KEYS_WRITE = "api-keys:write"








def key_info(row: ApiKeyRow) -> ApiKeyInfo:
    """Wire form of a stored key."""
    return ApiKeyInfo(id=key_public_id(row.id), prefix=row.prefix, created_at=row.created_at, revoked=row.revoked)


@routes.get("/partner/v1/me", summary="The calling partner", access=Access.PARTNER, response=Me)
async def me(request: web.Request) -> web.Response:
    """Identity and granted scopes of the credential used (no scope required)."""
    auth = auth_of(request)
    partner = request.app[PARTNERS].get(auth.partner)
    return json_response(Me(id=auth.partner, name=partner.name, scopes=sorted(auth.scopes), credential=auth.via))


@routes.get("/partner/v1/api-keys", summary="List my API keys", access=Access.PARTNER, scopes=(SCOPE_KEYS_READ,),
            response=ApiKeyList, errors=(403,))
async def list_keys(request: web.Request) -> web.Response:
    """The calling partner's keys, revoked ones included."""
    rows = request.app[PARTNERS].keys(auth_of(request).partner_id)
    return json_response(ApiKeyList(api_keys=[key_info(r) for r in rows]))


@routes.get("/partner/v1/api-keys/{keyId}", summary="One of my API keys", access=Access.PARTNER,
            scopes=(SCOPE_KEYS_READ,), response=ApiKeyInfo, errors=(403, 404))
async def get_key(request: web.Request) -> web.Response:
    """A key of the calling partner; any other id, including another partner's key, is 404."""
    row = request.app[PARTNERS].key(auth_of(request).partner_id, request.match_info["keyId"])
    return json_response(key_info(row))


@routes.delete("/partner/v1/api-keys/{keyId}", summary="Revoke one of my API keys", access=Access.PARTNER,
               scopes=(SCOPE_KEYS_WRITE,), status=204, errors=(403, 404))
async def revoke_key(request: web.Request) -> web.Response:
    """Revoke a key of the calling partner (it stops working at once)."""
    request.app[PARTNERS].revoke_key(auth_of(request).partner_id, request.match_info["keyId"])
    return no_content()
