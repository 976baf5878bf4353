"""Authentication codes ``/verify/v1`` (scope ``verify``): start (or resend), check, read a verification.

The code is never in an answer: it reaches the device, whose inbox integrators read through
``GET /admin/v1/subscribers/{msisdn}/inbox`` (advance the simulated clock a few seconds for it to arrive).
Rules are in :mod:`gateway.services.verify`.
"""

from __future__ import annotations

from aiohttp import web

from gateway.http.auth import auth_of
from gateway.http.keys import VERIFY
from gateway.http.routing import Access, RouteTable, json_response, read_json
from gateway.services.verify import VerificationView
from gateway.wire.verify import CheckCode, SendInfo, StartVerification, Verification

SCOPE = "verify"

routes = RouteTable("verify")










def _wire(view: VerificationView) -> Verification:
    return Verification(
        id=view.id, phone_number=view.phone_number, channel=view.channel, status=view.status,
        created_at=view.created_at, expires_at=view.expires_at, send_count=view.send_count,
        check_count=view.check_count, checks_left=view.checks_left,
        sends=[SendInfo(attempt=s.attempt, channel=s.channel, at=s.at, status=s.status,
                        reason=s.reason, delivered_at=s.delivered_at) for s in view.sends])


@routes.post("/verify/v1/verifications", summary="Send a verification code", access=Access.PARTNER,
             scopes=(SCOPE,), request=StartVerification, response=Verification, status=201,
             errors=(400, 401, 403, 404, 422, 429), also=((200, Verification),), changes_world=True,
             example={"phoneNumber": "+491701000001", "channel": "SMS"})
async def start(request: web.Request) -> web.Response:
    """A new verification (201), or a resend of the same code when one is pending for the number (200)."""
    body = await read_json(request, StartVerification)
    view, created = request.app[VERIFY].start(auth_of(request).partner_id, body.phone_number, body.channel,
                                              body.sim_swap_max_age_hours)
    return json_response(_wire(view), status=201 if created else 200)


@routes.post("/verify/v1/verifications/{verificationId}/check", summary="Check a code", access=Access.PARTNER,
             scopes=(SCOPE,), request=CheckCode, response=Verification, errors=(400, 401, 403, 404),
             example={"code": "123456"})
async def check(request: web.Request) -> web.Response:
    """``APPROVED``; ``PENDING`` (wrong code, tries left); ``EXPIRED``; ``MAX_ATTEMPTS``."""
    body = await read_json(request, CheckCode)
    view = request.app[VERIFY].check(auth_of(request).partner_id, request.match_info["verificationId"], body.code)
    return json_response(_wire(view))


@routes.get("/verify/v1/verifications/{verificationId}", summary="Read a verification", access=Access.PARTNER,
            scopes=(SCOPE,), response=Verification, errors=(401, 403, 404))
async def get(request: web.Request) -> web.Response:
    """Status, counts and every send with its channel and outcome."""
    view = request.app[VERIFY].get(auth_of(request).partner_id, request.match_info["verificationId"])
    return json_response(_wire(view))
