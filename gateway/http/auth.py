"""Who is calling: partner and admin authentication, scopes, and the OAuth 2.0 token endpoint.

Owns the auth middleware (reads each matched route's declared :class:`~gateway.http.routing.Access` and scopes,
attaches an :class:`AuthContext` to the request), credential extraction from ``Authorization: Bearer``,
``x-api-key`` and ``x-rapidapi-key``, and ``POST /oauth2/token`` (client-credentials grant).

``/oauth2/token`` is the one route whose errors are **not** the CAMARA shape: OAuth clients expect RFC 6749
section 5.2 bodies ``{"error", "error_description"}``, so that is what it returns. Failures outside the grant
itself (wrong method, oversized body) still use the CAMARA shape.

It must not hold credentials itself: they live in the store, behind :class:`~gateway.services.partners.PartnerService`.
"""

from __future__ import annotations

import base64
import hmac
import json
from typing import Literal
from urllib.parse import parse_qsl, unquote

from aiohttp import web

from gateway.core.errors import PermissionDenied, Unauthenticated
from gateway.core.principal import AuthContext
from gateway.http.keys import AUTH, CIBA, PARTNERS, RATE_LIMITER, ROUTES, SETTINGS
from gateway.http.middleware import Handler
from gateway.http.routing import UTF8_CHARSETS, Access, RouteTable, visible_ascii
from gateway.services.ciba import CibaError
from gateway.services.partners import InvalidClient, InvalidGrant, InvalidScope, IssuedToken
from gateway.wire.oauth import CIBA_GRANT_TYPE, JWT_BEARER_GRANT_TYPE, TokenRequest, TokenResponse

API_KEY_HEADERS = ("x-api-key", "x-rapidapi-key")




def presented_credential(request: web.Request) -> str | None:
    """The bearer token or API key a request carries, if any (``Authorization`` wins over key headers).

    401 when it is not printable ASCII: no credential is issued with other bytes.
    """
    header = request.headers.get("Authorization")
    credential: str | None = None
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        credential = value.strip() or None
    else:
        for name in API_KEY_HEADERS:
            key = request.headers.get(name)
            if key:
                credential = key.strip()
                break
    if credential is not None and not visible_ascii(credential):
        raise Unauthenticated()
    return credential


def _is_admin(request: web.Request) -> bool:
    credential = presented_credential(request)
    expected = request.app[SETTINGS].admin_token
    return credential is not None and hmac.compare_digest(credential.encode(), expected.encode())


def _authenticate_partner(request: web.Request, scopes: tuple[str, ...]) -> AuthContext:
    credential = presented_credential(request)
    if credential is None:
        raise Unauthenticated()
    grant = request.app[PARTNERS].resolve(credential)
    if grant is None:
        raise Unauthenticated()
    missing = [scope for scope in scopes if scope not in grant.scopes]
    if missing:
        raise PermissionDenied(f"Missing scope: {' '.join(missing)}.")
    via: Literal["token", "api_key"] = "api_key" if credential.startswith("opsim_key_") else "token"
    return AuthContext(grant.partner_id, grant.scopes, via, grant.subscriber)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Enforce the access and scopes the matched route declares."""
    route = request.app[ROUTES].lookup(request)
    if route is not None:
        if route.access is Access.PARTNER:
            context = _authenticate_partner(request, route.scopes)
            request.app[RATE_LIMITER].check(context.partner_id)
            request[AUTH] = context
        elif route.access is Access.ADMIN and not _is_admin(request):
            raise Unauthenticated()
    return await handler(request)


def auth_of(request: web.Request) -> AuthContext:
    """The caller of a partner route (set by the middleware)."""
    return request[AUTH]


# -- OAuth 2.0 token endpoint ----------------------------------------------------------------------------







_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    """An RFC 6749 section 5.2 error response (``no-store``; a ``401`` carries a Basic challenge)."""
    headers = dict(_NO_STORE)
    if status == 401:  # HTTP requires a challenge with every 401
        headers["WWW-Authenticate"] = 'Basic realm="opsim"'
    body = json.dumps({"error": error, "error_description": description})
    return web.Response(status=status, text=body, content_type="application/json", headers=headers)


async def oauth_form(request: web.Request) -> dict[str, str] | web.Response:
    """The parameters of an OAuth form body, each given once; else the RFC 6749 ``invalid_request`` answer.

    The body (and every percent-encoded value in it) must be UTF-8; another declared ``charset`` is refused.
    """
    if request.content_type != "application/x-www-form-urlencoded":
        return oauth_error("invalid_request", "the body must be application/x-www-form-urlencoded")
    if request.charset is not None and request.charset.lower() not in UTF8_CHARSETS:
        return oauth_error("invalid_request", "the body must be UTF-8 (charset=utf-8 or none)")
    raw = await request.read()  # raises 413 past client_max_size
    try:
        # Decoded here, not by request.post(): that trusts the declared charset and raises on bad bytes.
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        return oauth_error("invalid_request", "the body must be UTF-8 (charset=utf-8 or none)")
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            return oauth_error("invalid_request", f"parameter {name} must appear once")
        fields[name] = value
    return fields


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(client_id, client_secret) of an HTTP Basic ``Authorization`` header, or ``None`` when malformed."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except ValueError:  # not base64 (binascii.Error), not ASCII, or not UTF-8 once decoded
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    # RFC 6749 2.3.1: the id and secret are form-urlencoded before Basic encoding.
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


def _ciba_token(request: web.Request, client_id: str, secret: str, auth_req_id: str | None) -> web.Response:
    """CIBA grant: a token bound to the subscriber once they approved (see :mod:`gateway.services.ciba`)."""
    try:
        issued = request.app[CIBA].exchange(client_id, secret, auth_req_id)
    except InvalidClient:
        return oauth_error("invalid_client", "client authentication failed", 401)
    except CibaError as exc:
        return oauth_error(exc.error, exc.description, exc.status)
    return _token_answer(issued)


def _token_answer(issued: IssuedToken) -> web.Response:
    body = TokenResponse(access_token=issued.access_token, expires_in=issued.expires_in,
                         scope=" ".join(issued.scopes))
    return web.Response(text=body.model_dump_json(), content_type="application/json", headers=_NO_STORE)


def _jwt_bearer_token(request: web.Request, assertion: str | None) -> web.Response:
    """JWT bearer grant (RFC 7523): a service account's signed assertion for a token (``invalid_grant`` when it
    cannot be accepted, saying why)."""
    if not assertion:
        return oauth_error("invalid_request", "assertion is required")
    try:
        issued = request.app[PARTNERS].issue_token_for_assertion(assertion)
    except InvalidGrant as exc:
        return oauth_error("invalid_grant", str(exc))
    except InvalidScope as exc:
        return oauth_error("invalid_scope", str(exc))
    return _token_answer(issued)


routes = RouteTable("oauth")


@routes.post("/oauth2/token", summary="Issue an access token (OAuth 2.0 client credentials, JWT bearer, CIBA)",
             access=Access.PUBLIC,
             request=TokenRequest, response=TokenResponse, request_content_type="application/x-www-form-urlencoded",
             errors=(400, 401), example={"grant_type": "client_credentials", "client_id": "YOUR_CLIENT_ID",
                                         "client_secret": "YOUR_CLIENT_SECRET",
                                         "scope": "campaigns:read campaigns:write"})
async def token(request: web.Request) -> web.Response:
    """Client credentials grant. Authenticate with HTTP Basic or ``client_id``/``client_secret`` form fields.

    Or the JWT bearer grant (RFC 7523) of a service-account key file (``POST
    /admin/v1/partners/{partnerId}/service-accounts``): ``assertion`` signed with its key, no client credentials,
    as Google's client libraries send it.

    Errors follow RFC 6749 (``{"error", "error_description"}``), not the CAMARA shape. Tokens last
    ``expires_in`` wall-clock seconds.
    """
    fields = await oauth_form(request)
    if isinstance(fields, web.Response):
        return fields
    grant_type = fields.get("grant_type")
    if not grant_type:
        return oauth_error("invalid_request", "grant_type is required")
    if grant_type not in ("client_credentials", CIBA_GRANT_TYPE, JWT_BEARER_GRANT_TYPE):
        return oauth_error("unsupported_grant_type", f"only client_credentials, {CIBA_GRANT_TYPE} and "
                           f"{JWT_BEARER_GRANT_TYPE} are supported")
    if grant_type == JWT_BEARER_GRANT_TYPE:  # the assertion authenticates: no client credentials
        return _jwt_bearer_token(request, fields.get("assertion"))
    authorization = request.headers.get("Authorization")
    body_client = fields.get("client_id"), fields.get("client_secret")
    if authorization is not None:
        if body_client != (None, None):
            return oauth_error("invalid_request", "use one client authentication method, not two")
        basic = basic_credentials(authorization)
        if basic is None:
            return oauth_error("invalid_client", "malformed Basic credentials", 401)
        client_id, secret = basic
    else:
        if body_client[0] is None or body_client[1] is None:
            return oauth_error("invalid_client", "client authentication is required", 401)
        client_id, secret = body_client[0], body_client[1]
    if grant_type == CIBA_GRANT_TYPE:
        return _ciba_token(request, client_id, secret, fields.get("auth_req_id"))
    scope = fields.get("scope")
    requested = tuple(scope.split()) if scope and scope.strip() else None
    try:
        issued = request.app[PARTNERS].issue_token(client_id, secret, requested)
    except InvalidClient:
        return oauth_error("invalid_client", "client authentication failed", 401)
    except InvalidScope as exc:
        return oauth_error("invalid_scope", str(exc))
    return _token_answer(issued)
