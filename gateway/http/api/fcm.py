"""FCM HTTP v1 compatible send: ``POST /v1/projects/{projectId}/messages:send`` (scope ``push:send``).

The project id is an app id of :mod:`gateway.http.api.apps`; the bearer token comes from opsim's ``/oauth2/token``
(or an API key). This route answers every error in **FCM's** error model, not the CAMARA shape:
``{"error": {"code", "message", "status", "details": [{"@type": ".../google.firebase.fcm.v1.FcmError",
"errorCode"}]}}``, so an FCM client works by changing only its endpoint. It therefore authenticates in the
handler (declared public to the auth middleware). Rules in :mod:`gateway.services.apps.push`.
"""

from __future__ import annotations

import pydantic
from aiohttp import web

from gateway.core.errors import Unauthenticated
from gateway.http.auth import presented_credential
from gateway.http.keys import APPS, PARTNERS, PUSH
from gateway.http.routing import Access, RouteTable
from gateway.services.apps.push import PushError
from gateway.wire.fcm import ErrorBody, ErrorDetail, ErrorStatus, SendRequest, SendResponse

SCOPE_SEND = "push:send"
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"

routes = RouteTable("push (FCM v1)")
_ERRORS = (400, 401, 403, 404, 429, 503)


def fcm_error(error: PushError) -> web.Response:
    """The FCM error response of ``error`` (``Retry-After`` for a quota error)."""
    details = [] if error.error_code is None else [ErrorDetail.model_validate(
        {"@type": FCM_ERROR_TYPE, "errorCode": error.error_code})]
    body = ErrorBody(error=ErrorStatus(code=error.code, message=error.message, status=error.status, details=details))
    headers = {} if error.retry_after_s is None else {"Retry-After": str(error.retry_after_s)}
    return web.Response(status=error.code, text=body.model_dump_json(by_alias=True, exclude_none=True),
                        content_type="application/json", headers=headers)


def invalid_argument(exc: pydantic.ValidationError) -> web.Response:
    """A body off the FCM schema: 400 ``INVALID_ARGUMENT`` with the fields as ``BadRequest`` violations."""
    violations = [{"field": ".".join(str(p) for p in err["loc"]) or "message", "description": err["msg"]}
                  for err in exc.errors(include_url=False)]
    body = ErrorBody(error=ErrorStatus(code=400, message="Request contains an invalid argument.",
                                       status="INVALID_ARGUMENT", details=[
                                           ErrorDetail.model_validate({"@type": FCM_ERROR_TYPE,
                                                                       "errorCode": "INVALID_ARGUMENT"}),
                                           ErrorDetail.model_validate({"@type": BAD_REQUEST_TYPE,
                                                                       "fieldViolations": violations})]))
    return web.Response(status=400, text=body.model_dump_json(by_alias=True, exclude_none=True),
                        content_type="application/json")


def _authorise(request: web.Request) -> int:
    """The calling partner (``PushError`` 401/403 in FCM's shape otherwise)."""
    try:
        credential = presented_credential(request)
    except Unauthenticated:
        credential = None
    grant = None if credential is None else request.app[PARTNERS].resolve(credential)
    if grant is None:
        raise PushError(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR",
                        "Request is missing required authentication credential.")
    if SCOPE_SEND not in grant.scopes:
        raise PushError(403, "PERMISSION_DENIED", None, f"Missing scope: {SCOPE_SEND}.")
    return grant.partner_id


@routes.post("/v1/projects/{projectId}/messages:send", summary="Send a push message (FCM HTTP v1)",
             access=Access.PUBLIC, scopes=(SCOPE_SEND,), request=SendRequest, response=SendResponse,
             errors=_ERRORS, also=tuple((code, ErrorBody) for code in _ERRORS), changes_world=True)
async def send(request: web.Request) -> web.Response:
    """Send one message to a registration token of the project's app; errors in FCM's model."""
    try:
        partner_id = _authorise(request)
        project = request.match_info["projectId"]
        app = request.app[APPS].find(project)
        if app is None or app.partner_id != partner_id:
            raise PushError(403, "PERMISSION_DENIED", None, "The caller does not have permission.")
        if request.content_type != "application/json":
            raise PushError(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "The body must be application/json.")
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise PushError(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT",
                            "Request payload size exceeds the limit.") from None
        try:
            body = SendRequest.model_validate_json(raw, by_alias=True, by_name=True)
        except pydantic.ValidationError as exc:
            return invalid_argument(exc)
        message_id = request.app[PUSH].send(app, body.message, body.validate_only)
    except PushError as exc:
        return fcm_error(exc)
    return web.Response(text=SendResponse(name=f"projects/{project}/messages/{message_id}").model_dump_json(),
                        content_type="application/json")
