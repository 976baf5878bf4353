"""CIBA routes: ``POST /bc-authorize`` (partners start a three-legged request) and the admin's subscriber answers.

``/bc-authorize`` speaks OAuth like the token endpoint: form-encoded, client authentication by HTTP Basic or form
fields, errors as ``{"error", "error_description"}``. The token is then fetched from ``/oauth2/token`` with
``grant_type=urn:openid:params:grant-type:ciba``. The rules live in :mod:`gateway.services.ciba`.
"""

from __future__ import annotations

import json

from aiohttp import web

from gateway.http.auth import basic_credentials, oauth_error, oauth_form
from gateway.http.keys import CIBA
from gateway.http.routing import Access, RouteTable, json_response, read_json
from gateway.services.ciba import CibaError, PolicyMode
from gateway.services.control import normalise_msisdn
from gateway.services.partners import InvalidClient
from gateway.wire.ciba import BackchannelRequest, BackchannelResponse, CibaPolicy, CibaPolicyView

routes = RouteTable("oauth")






@routes.post("/bc-authorize", summary="Start a three-legged (CIBA) authorisation", access=Access.PUBLIC,
             request=BackchannelRequest, response=BackchannelResponse,
             request_content_type="application/x-www-form-urlencoded", errors=(400, 401))
async def bc_authorize(request: web.Request) -> web.Response:
    """Ask the subscriber named by ``login_hint`` (``tel:+…``) to approve ``scope`` (API scopes and one ``dpv:``
    purpose). Poll ``/oauth2/token`` with the CIBA grant and the ``auth_req_id`` for the answer."""
    fields = await oauth_form(request)
    if isinstance(fields, web.Response):
        return fields
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        basic = basic_credentials(authorization)
        if basic is None or "client_id" in fields or "client_secret" in fields:
            return oauth_error("invalid_client", "malformed or duplicate client authentication", 401)
        client = basic
    elif "client_id" in fields and "client_secret" in fields:
        client = fields["client_id"], fields["client_secret"]
    else:
        return oauth_error("invalid_client", "client authentication is required", 401)
    try:
        ack = request.app[CIBA].authorize(client[0], client[1], fields.get("scope"), fields.get("login_hint"))
    except InvalidClient:
        return oauth_error("invalid_client", "client authentication failed", 401)
    except CibaError as exc:
        return oauth_error(exc.error, exc.description, exc.status)
    body = BackchannelResponse(auth_req_id=ack.auth_req_id, expires_in=ack.expires_in, interval=ack.interval)
    return web.Response(text=json.dumps(body.model_dump()), content_type="application/json",
                        headers={"Cache-Control": "no-store"})






@routes.get("/admin/v1/subscribers/{msisdn}/ciba", summary="How a subscriber answers CIBA requests",
            access=Access.ADMIN, response=CibaPolicyView, errors=(404,))
async def get_policy(request: web.Request) -> web.Response:
    """``consent`` (the default) approves when the subscriber's consent allows the requested scopes."""
    msisdn = normalise_msisdn(request.match_info["msisdn"])
    service = request.app[CIBA]
    service.world.find_subscriber(msisdn)
    return json_response(CibaPolicyView(msisdn=msisdn, mode=service.policy(msisdn)))


@routes.put("/admin/v1/subscribers/{msisdn}/ciba", summary="Make a subscriber approve, deny or ignore CIBA requests",
            access=Access.ADMIN, request=CibaPolicy, response=CibaPolicyView, errors=(400, 404))
async def set_policy(request: web.Request) -> web.Response:
    """Applies to requests polled from now on, pending ones included."""
    msisdn = normalise_msisdn(request.match_info["msisdn"])
    body = await read_json(request, CibaPolicy)
    mode: PolicyMode = body.mode
    request.app[CIBA].set_policy(msisdn, mode)
    return json_response(CibaPolicyView(msisdn=msisdn, mode=mode))
