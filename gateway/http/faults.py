"""The fault injection middleware: applies what :class:`gateway.services.faults.FaultService` decides.

Faults apply to partner routes, ``/oauth2/token`` and the public routes that authenticate in their handler and
declare a :class:`~gateway.http.routing.FaultModel` (the FCM send, the Instance ID topic routes, the tracking API:
the caller is resolved as the handler would, and a request without a valid credential gets no fault), never to the
admin API, health, docs or metrics (the control plane that removes a profile must keep answering). Order: the added
latency first (wall time, through the app's :data:`FAULT_SLEEP`), then a dropped connection (the transport is
closed without an answer) or an error in the route's shape (CAMARA ``{"status","code","message"}`` with the
correlator, RFC 6749 on ``/oauth2/token``, the route's own model where its ``FaultModel`` renders one), else the
request is served. Injected answers carry ``x-opsim-fault: <profile>``. With no profile active the
middleware costs one attribute read. It must not decide anything itself.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

from aiohttp import web

from gateway.core.errors import BadGateway, GatewayError, GatewayTimeout, Internal, ServiceUnavailable, TooManyRequests
from gateway.core.ids import partner_public_id
from gateway.http.auth import basic_credentials, oauth_error
from gateway.http.keys import AUTH, FAULT_SLEEP, FAULTS, ROUTES, STORE
from gateway.http.middleware import Handler
from gateway.http.routing import Access, ApiRoute, route_label
from gateway.services.faults import HttpDecision

TOKEN_PATH = "/oauth2/token"
FAULT_HEADER = "x-opsim-fault"
"""Names the profile that injected an error answer."""

_ERRORS: dict[int, type[GatewayError]] = {429: TooManyRequests, 500: Internal, 502: BadGateway,
                                          503: ServiceUnavailable, 504: GatewayTimeout}
_OAUTH_ERRORS = {429: "temporarily_unavailable", 503: "temporarily_unavailable"}


async def _partner_of(request: web.Request, route: ApiRoute) -> str | None:
    """Wire id of the calling partner: the authenticated one, or on the token endpoint the client's owner."""
    if AUTH in request:
        return request[AUTH].partner
    if route.path != TOKEN_PATH:
        return None
    client_id: str | None = None
    header = request.headers.get("Authorization")
    if header is not None:
        basic = basic_credentials(header)
        client_id = basic[0] if basic is not None else None
    elif request.content_type == "application/x-www-form-urlencoded":
        raw = await request.read()  # cached: the handler reads the same bytes
        fields = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        client_id = fields.get("client_id")
    if not client_id:
        return None
    partner_id = request.app[STORE].partner_of_client(client_id)
    return None if partner_id is None else partner_public_id(partner_id)


def _error_answer(route: ApiRoute, decision: HttpDecision) -> web.Response:
    """The injected error in the route's shape (raised for CAMARA routes, returned on the token endpoint and by a
    route's own fault model)."""
    status = decision.status or 500
    headers = {FAULT_HEADER: decision.profile or "-"}
    if decision.retry_after_s is not None:
        headers["Retry-After"] = str(decision.retry_after_s)
    if route.faults is not None and route.faults.answer is not None:
        response = route.faults.answer(status, decision.retry_after_s)
        response.headers.update(headers)
        return response
    if route.path == TOKEN_PATH:
        response = oauth_error(_OAUTH_ERRORS.get(status, "server_error"), "the server cannot answer now", status)
        response.headers.update(headers)
        return response
    raise _ERRORS[status](headers=headers)


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Inject the faults the active profiles decide for this partner request (see the module docstring)."""
    faults = request.app[FAULTS]
    if not faults.active:
        return await handler(request)
    route = request.app[ROUTES].lookup(request)
    if route is None:
        return await handler(request)
    if route.faults is not None:
        partner = await route.faults.partner(request)
        if partner is None:  # no valid credential: the handler answers its 401, undisturbed
            return await handler(request)
    elif route.access is Access.PARTNER or route.path == TOKEN_PATH:
        partner = await _partner_of(request, route)
    else:
        return await handler(request)
    decision = faults.http(partner, request.path, route_label(request))
    if decision.none:
        return await handler(request)
    if decision.delay_s > 0:
        await request.app[FAULT_SLEEP](decision.delay_s)
    if decision.drop:
        if request.transport is not None:
            request.transport.close()  # the client sees the connection end without an answer
        raise asyncio.CancelledError  # nothing can be written any more; aiohttp ends the request quietly
    if decision.status is not None:
        return _error_answer(route, decision)
    return await handler(request)
