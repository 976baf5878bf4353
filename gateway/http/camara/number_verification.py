"""CAMARA Number Verification ``/number-verification/v2``: ``POST /verify`` and ``GET /device-phone-number``.

Both take only a three-legged token whose subscriber was authenticated *by the mobile network* (``amr`` ``nba``);
any other token (two-legged, CIBA with user consent, API key) is ``403
NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK``. In a real network the partner's app runs the
OIDC authorization code flow with ``prompt=none`` over mobile data and the operator recognises the line; in opsim
the admin API plays the device::

    POST /admin/v1/subscribers/{msisdn}/network-authentication {"clientId": "cid_…", "scope": "openid
         dpv:FraudPreventionAndDetection number-verification:verify"}      → {"auth_req_id", "expires_in", "amr"}
    POST /oauth2/token grant_type=urn:openid:params:grant-type:ciba auth_req_id=…   (partner credentials)
                                                                              → a token bound to the line, amr nba

The device must be attached to the network now (on and in coverage: else ``409``), and be one of the operator's
own lines (an inbound roamer's SIM belongs to its home operator: ``422``). ``/verify`` compares ``phoneNumber``
or ``hashedPhoneNumber`` (SHA-256 hex of the E.164 number with ``+``) with the token's line. Scopes:
``number-verification:verify`` and ``number-verification:device-phone-number:read``.
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
from aiohttp import web

from gateway.core.errors import Conflict, InvalidArgument, PermissionDenied, Unprocessable
from gateway.core.principal import AuthContext
from gateway.http.auth import auth_of, presented_credential
from gateway.http.keys import CIBA, CONTROL, STORE, WORLD
from gateway.http.routing import Access, RouteTable, json_response, read_json
from gateway.services.ciba import CibaError
from gateway.wire.camara.number_verification import (
    NetworkAuthentication,
    NetworkAuthenticationResult,
    NumberVerificationMatchResponse,
    NumberVerificationRequest,
    NumberVerificationShareResponse,
)

SCOPE_VERIFY = "number-verification:verify"
SCOPE_SHARE = "number-verification:device-phone-number:read"
NETWORK_AMR = "nba"

routes = RouteTable("number-verification")



class NotByMobileNetwork(PermissionDenied):
    code = "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK"
    default_message = "Client must authenticate via the mobile network to use this service"








def hash_number(msisdn: str) -> str:
    """SHA-256 hex of an E.164 number with its ``+``, as ``hashedPhoneNumber`` carries it."""
    return hashlib.sha256(msisdn.encode()).hexdigest()


def _line(request: web.Request) -> str:
    """The number of the token's line, once the token is known to come from network-based authentication."""
    auth: AuthContext = auth_of(request)
    credential = presented_credential(request)
    if auth.subscriber is None or credential is None or request.app[STORE].token_amr(credential) != NETWORK_AMR:
        raise NotByMobileNetwork()
    return request.app[WORLD].msisdn_of(auth.subscriber)


@routes.post("/number-verification/v2/verify", summary="Verify the device's phone number", access=Access.PARTNER,
             scopes=(SCOPE_VERIFY,), request=NumberVerificationRequest, response=NumberVerificationMatchResponse,
             errors=(400, 401, 403))
async def verify(request: web.Request) -> web.Response:
    """True when the (hashed) number is the one of the line the network authenticated."""
    body = await read_json(request, NumberVerificationRequest)
    line = _line(request)
    if body.phone_number is not None:
        match = body.phone_number == line
    else:
        assert body.hashed_phone_number is not None
        match = hmac.compare_digest(body.hashed_phone_number.lower(), hash_number(line))
    return json_response(NumberVerificationMatchResponse(device_phone_number_verified=match))


@routes.get("/number-verification/v2/device-phone-number", summary="The device's phone number",
            access=Access.PARTNER, scopes=(SCOPE_SHARE,), response=NumberVerificationShareResponse,
            errors=(400, 401, 403))
async def device_phone_number(request: web.Request) -> web.Response:
    """The number of the line the network authenticated."""
    return json_response(NumberVerificationShareResponse(device_phone_number=_line(request)))


# -- the simulated device's side: network-based authentication --------------------------------------------------





@routes.post("/admin/v1/subscribers/{msisdn}/network-authentication",
             summary="Make a device authenticate to a partner through the mobile network", access=Access.ADMIN,
             request=NetworkAuthentication, response=NetworkAuthenticationResult, status=201,
             errors=(400, 404, 409, 422))
async def network_authentication(request: web.Request) -> web.Response:
    """The device, on mobile data, completes the partner's OIDC flow with ``prompt=none``: an ``auth_req_id`` to
    exchange at ``/oauth2/token`` (``grant_type=urn:openid:params:grant-type:ciba``) for a token bound to the line
    with ``amr`` ``nba``. 409 when the device is not attached to the network now; 422 for an inbound roamer."""
    body = await read_json(request, NetworkAuthentication)
    world = request.app[WORLD]
    i = request.app[CONTROL].find(request.match_info["msisdn"])
    if not bool(world.is_reachable(i)[0]):
        raise Conflict("The device is not attached to the mobile network now (off or out of coverage).")
    if bool(world.device_kinds(np.asarray([i]))[0][0]):
        raise Unprocessable("An inbound roamer's line is authenticated by its home operator, not by this one.")
    store = request.app[STORE]
    partner_id = next((p.id for p in store.list_partners()
                       if not p.disabled and store.client_id_of(p.id) == body.client_id), None)
    if partner_id is None:
        raise InvalidArgument(f"No partner has client id {body.client_id}.")
    try:
        ack = request.app[CIBA].network_authenticate(partner_id, i, world.msisdn_of(i),
                                                     body.scope)
    except CibaError as exc:
        raise InvalidArgument(f"{exc.error}: {exc.description}.") from None
    return json_response(NetworkAuthenticationResult(auth_req_id=ack.auth_req_id, expires_in=ack.expires_in,
                                                     amr=[NETWORK_AMR]), status=201)
