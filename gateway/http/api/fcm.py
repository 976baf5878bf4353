"""FCM HTTP v1 compatible send: ``POST /v1/projects/{projectId}/messages:send`` (scope ``push:send``).

The project id is an app id of :mod:`gateway.http.api.apps`; the bearer token comes from opsim's ``/oauth2/token``
(or an API key). This route answers every error in **FCM's** error model, not the CAMARA shape:
``{"error": {"code", "message", "status", "details": [{"@type": ".../google.firebase.fcm.v1.FcmError",
"errorCode"}]}}``, so an FCM client works by changing only its endpoint. It therefore authenticates in the
handler (declared public to the auth middleware). Rules in :mod:`gateway.services.apps.push`.

Topic subscriptions follow the Instance ID API the Firebase Admin SDKs call (``POST /iid/v1:batchAdd`` and
``:batchRemove`` with ``{"to": "/topics/x", "registration_tokens": [...]}``,
``POST /iid/v1/{token}/rel/topics/{topic}``), with the same credentials (a bearer token, an API key, or the legacy
``Authorization: key=<API key>``) and its error body ``{"error": "<reason>"}``.

As they authenticate here, they also take the partner's ``requestsPerSecond`` limit here (the bucket its other
calls share; after authentication, before anything is read or stored): past it the send answers 429
``RESOURCE_EXHAUSTED`` / ``QUOTA_EXCEEDED``, the Instance ID routes 429 ``{"error": "QUOTA_EXCEEDED"}``, both with
``Retry-After``.

Fault profiles (:mod:`gateway.http.faults`) reach these routes too, for the partner the credential belongs to (no
fault without a valid one), answered in the route's own model: on the send :data:`FAULT_STATUSES` (429
``RESOURCE_EXHAUSTED`` / ``QUOTA_EXCEEDED`` with ``Retry-After``, 503 ``UNAVAILABLE``...), on the Instance ID
routes ``{"error": "<status>"}`` (``QUOTA_EXCEEDED`` for a 429).
"""

from __future__ import annotations

import pydantic
from aiohttp import web

from gateway.core.errors import TooManyRequests, Unauthenticated
from gateway.core.ids import partner_public_id
from gateway.core.store import Grant
from gateway.http.auth import presented_credential
from gateway.http.keys import APPS, PARTNERS, PUSH, RATE_LIMITER
from gateway.http.routing import Access, FaultModel, RouteTable
from gateway.services.apps.push import PushError
from gateway.wire.fcm import (
    ErrorBody,
    ErrorDetail,
    ErrorStatus,
    IidError,
    SendRequest,
    SendResponse,
    TopicBatchRequest,
    TopicBatchResponse,
    TopicResult,
)

SCOPE_SEND = "push:send"
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"

routes = RouteTable("push (FCM v1)")
_ERRORS = (400, 401, 403, 404, 429, 500, 502, 503, 504)  # 500, 502, 504 (and 429, 503): injected faults


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


def _grant(request: web.Request) -> Grant | None:
    """What the request's credential grants: a bearer token, an API key or the legacy ``key=`` form."""
    try:
        credential = presented_credential(request)
    except Unauthenticated:
        credential = None
    header = request.headers.get("Authorization", "")
    if credential is None and header[:4].lower() == "key=" and header[4:].strip().isascii():
        credential = header[4:].strip() or None  # the legacy server-key form, with an opsim API key
    return None if credential is None else request.app[PARTNERS].resolve(credential)


async def _caller(request: web.Request) -> str | None:
    """The calling partner's wire id for fault injection (``None`` without a valid credential)."""
    grant = _grant(request)
    return None if grant is None else partner_public_id(grant.partner_id)


FAULT_STATUSES: dict[int, tuple[str, str | None, str]] = {
    429: ("RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded for the sender."),
    500: ("INTERNAL", "INTERNAL", "Internal error encountered."),
    502: ("UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable."),
    503: ("UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable."),
    504: ("DEADLINE_EXCEEDED", None, "The request timed out."),
}
"""An injected error status as FCM answers it: (Google status, FCM ``errorCode``, message)."""


def _fault(status: int, retry_after_s: int | None) -> PushError:
    name, error_code, message = FAULT_STATUSES.get(status, ("UNKNOWN", "UNSPECIFIED_ERROR", "Unknown error."))
    return PushError(status, name, error_code, message, retry_after_s=retry_after_s)


def fcm_fault(status: int, retry_after_s: int | None) -> web.Response:
    """An injected error in FCM's model (:data:`FAULT_STATUSES`)."""
    return fcm_error(_fault(status, retry_after_s))


def iid_fault(status: int, retry_after_s: int | None) -> web.Response:
    """An injected error in the Instance ID model: ``{"error": "<status>"}``, ``QUOTA_EXCEEDED`` for a 429."""
    return iid_error(_fault(status, retry_after_s))


def _authorise(request: web.Request) -> int:
    """The calling partner, one request taken from its rate limit (``PushError`` 401/403/429 in FCM's shape
    otherwise)."""
    grant = _grant(request)
    if grant is None:
        raise PushError(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR",
                        "Request is missing required authentication credential.")
    if SCOPE_SEND not in grant.scopes:
        raise PushError(403, "PERMISSION_DENIED", None, f"Missing scope: {SCOPE_SEND}.")
    try:
        request.app[RATE_LIMITER].check(grant.partner_id)
    except TooManyRequests as exc:
        raise PushError(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", exc.message,
                        retry_after_s=int(exc.headers.get("Retry-After", "1"))) from None
    return grant.partner_id


@routes.post("/v1/projects/{projectId}/messages:send", summary="Send a push message (FCM HTTP v1)",
             access=Access.PUBLIC, scopes=(SCOPE_SEND,), request=SendRequest, response=SendResponse,
             errors=_ERRORS, also=tuple((code, ErrorBody) for code in _ERRORS), changes_world=True,
             faults=FaultModel(_caller, fcm_fault))
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
        # The push row is committed before the answer leaves (group commit: gateway.http.serialise).
        message_id = request.app[PUSH].send(app, body.message, body.validate_only, marketing_rule=True)
    except PushError as exc:
        return fcm_error(exc)
    return web.Response(text=SendResponse(name=f"projects/{project}/messages/{message_id}").model_dump_json(),
                        content_type="application/json")


_IID_ERRORS = (400, 401, 403, 404, 429, 500, 502, 503, 504)  # 500 and up: injected faults
_IID_FAULTS = FaultModel(_caller, iid_fault)


def iid_error(error: PushError) -> web.Response:
    """The Instance ID API error response of ``error``: ``{"error": "<status>"}``; a quota error names its FCM
    code (``{"error": "QUOTA_EXCEEDED"}``) with ``Retry-After``."""
    if error.retry_after_s is None:
        return web.Response(status=error.code, text=IidError(error=error.status).model_dump_json(),
                            content_type="application/json")
    return web.Response(status=error.code, text=IidError(error=error.error_code or error.status).model_dump_json(),
                        content_type="application/json", headers={"Retry-After": str(error.retry_after_s)})


async def _iid_body(request: web.Request) -> TopicBatchRequest:
    if request.content_type != "application/json":
        raise PushError(400, "INVALID_ARGUMENT", None, "The body must be application/json.")
    try:
        raw = await request.read()
        return TopicBatchRequest.model_validate_json(raw)
    except (pydantic.ValidationError, web.HTTPRequestEntityTooLarge):
        raise PushError(400, "INVALID_ARGUMENT", None, "Invalid topic batch request.") from None


async def _batch(request: web.Request, subscribed: bool) -> web.Response:
    try:
        partner_id = _authorise(request)
        body = await _iid_body(request)
        results = request.app[PUSH].manage_topic(partner_id, body.to, body.registration_tokens, subscribed)
    except PushError as exc:
        return iid_error(exc)
    answer = TopicBatchResponse(results=[TopicResult(error=r) for r in results])
    return web.Response(text=answer.model_dump_json(exclude_none=True), content_type="application/json")


@routes.post("/iid/v1:batchAdd", summary="Subscribe registration tokens to a topic (Instance ID API)",
             access=Access.PUBLIC, scopes=(SCOPE_SEND,), request=TopicBatchRequest, response=TopicBatchResponse,
             errors=_IID_ERRORS, also=tuple((code, IidError) for code in _IID_ERRORS),
             faults=_IID_FAULTS)
async def batch_add(request: web.Request) -> web.Response:
    """One result per token, in order (``{}`` when subscribed)."""
    return await _batch(request, True)


@routes.post("/iid/v1:batchRemove", summary="Unsubscribe registration tokens from a topic (Instance ID API)",
             access=Access.PUBLIC, scopes=(SCOPE_SEND,), request=TopicBatchRequest, response=TopicBatchResponse,
             errors=_IID_ERRORS, also=tuple((code, IidError) for code in _IID_ERRORS),
             faults=_IID_FAULTS)
async def batch_remove(request: web.Request) -> web.Response:
    """One result per token, in order (``{}`` when unsubscribed)."""
    return await _batch(request, False)


@routes.post("/iid/v1/{token}/rel/topics/{topic}", summary="Subscribe one registration token to a topic",
             access=Access.PUBLIC, scopes=(SCOPE_SEND,), errors=_IID_ERRORS,
             also=tuple((code, IidError) for code in _IID_ERRORS), faults=_IID_FAULTS)
async def relate(request: web.Request) -> web.Response:
    """``{}`` when subscribed; 404 ``NOT_FOUND`` for a token that is not a current one of an installed app."""
    try:
        partner_id = _authorise(request)
        [result] = request.app[PUSH].manage_topic(partner_id, request.match_info["topic"],
                                                  [request.match_info["token"]], True)
        if result == "NOT_FOUND":
            raise PushError(404, "NOT_FOUND", None, "No such registration token.")
        if result is not None:
            raise PushError(403, result, None, "The token belongs to another partner's app.")
    except PushError as exc:
        return iid_error(exc)
    return web.Response(text="{}", content_type="application/json")
