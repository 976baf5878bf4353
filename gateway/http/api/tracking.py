"""Tracking API in the Segment spec: ``POST /v1/track``, ``/v1/identify``, ``/v1/page``, ``/v1/screen``,
``/v1/group``, ``/v1/alias`` and ``/v1/batch``.

A source's write key authenticates as the HTTP Basic user with an empty password (or as ``writeKey`` in the body,
as some libraries also send it); gzip request bodies are accepted (aiohttp decodes ``Content-Encoding``). An
accepted call answers ``200 {"success": true}`` like Segment, duplicates included; a bad payload is a 400 in the
gateway's error shape with each fault's path, and nothing of the request is stored. An accepted call is
answered once its events are committed to the event log (by the store's background writer, off the event loop),
so an acknowledged call survives a crash. The routes are declared
public to the auth middleware because the write key is checked here, and so is the source's partner's
``requestsPerSecond`` limit (429 ``TOO_MANY_REQUESTS`` with ``Retry-After``, the same bucket as its other partner
calls). Fault profiles (:mod:`gateway.http.faults`) reach these routes for the partner of the write key's source
(no fault without a known write key), in the same error shape (an injected 429 with ``Retry-After``). Rules in
:mod:`gateway.services.cdp`.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from gateway.core.errors import Unauthenticated
from gateway.core.ids import partner_public_id
from gateway.http.auth import basic_credentials
from gateway.http.keys import CDP, RATE_LIMITER, STORE
from gateway.http.routing import Access, FaultModel, Handler, RouteTable, read_json, visible_ascii
from gateway.services.cdp.model import Source
from gateway.wire.cdp import TrackingAck, TrackingBatch, TrackingCall

routes = RouteTable("tracking (Segment spec)")
_ERRORS = (400, 401, 413, 415, 429)
ACK = TrackingAck()


def _source(request: web.Request, body_key: str | None) -> Source:
    """The source whose write key the request presents (401 otherwise), one request taken from its partner's rate
    limit (429 past it)."""
    header = request.headers.get("Authorization")
    key = body_key
    if header is not None:
        basic = basic_credentials(header)
        if basic is None:
            raise Unauthenticated("Send the write key as the HTTP Basic user name (empty password).")
        key = basic[0]
    if not key or not visible_ascii(key):
        raise Unauthenticated("A write key is required (HTTP Basic user name, or writeKey in the body).")
    source = request.app[CDP].authenticate(key)
    if source is None:
        raise Unauthenticated("Unknown write key.")
    request.app[RATE_LIMITER].check(source.partner_id)
    return source


async def _caller(request: web.Request) -> str | None:
    """The wire id of the partner whose source's write key the request presents, for fault injection (``None``
    without a known write key). A body key is read leniently: a body the handler refuses gets no fault."""
    header = request.headers.get("Authorization")
    key: Any = None
    if header is not None:
        basic = basic_credentials(header)
        key = None if basic is None else basic[0]
    elif request.body_exists and request.content_type == "application/json":
        try:
            body = json.loads(await request.read())  # cached: the handler reads the same bytes
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
            return None
        key = body.get("writeKey") if isinstance(body, dict) else None
    if not isinstance(key, str) or not key or not visible_ascii(key):
        return None
    source = request.app[CDP].authenticate(key)
    return None if source is None else partner_public_id(source.partner_id)


FAULTS = FaultModel(_caller)
"""Injected errors in the gateway's own error shape, like the tracking API's other errors."""


def _ack() -> web.Response:
    return web.Response(text=ACK.model_dump_json(), content_type="application/json")


def _single(kind: str, example: dict[str, Any]) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        call = await read_json(request, TrackingCall)
        source = _source(request, call.write_key)
        cdp = request.app[CDP]
        cdp.ingest(source, cdp.normalise([call], forced_type=kind))
        await request.app[STORE].appended_committed()  # acknowledged: in the log, surviving a crash
        return _ack()

    handler.__doc__ = (f"A ``{kind}`` call (Segment spec). Answers ``{{\"success\": true}}``; a ``messageId`` seen "
                       "within 24 simulated hours is acknowledged and dropped.")
    routes.post(f"/v1/{kind}", summary=f"Segment {kind} call", access=Access.PUBLIC, request=TrackingCall,
                response=TrackingAck, errors=_ERRORS, example=example, faults=FAULTS)(handler)
    return handler


track = _single("track", {"userId": "u_1", "event": "Order Completed", "properties": {"revenue": 25.0}})
identify = _single("identify", {"userId": "u_1", "anonymousId": "a_1", "traits": {"plan": "gold"}})
page = _single("page", {"anonymousId": "a_1", "name": "Home", "properties": {"path": "/"}})
screen = _single("screen", {"userId": "u_1", "name": "Basket"})
group = _single("group", {"userId": "u_1", "groupId": "g_1", "traits": {"name": "ACME"}})
alias = _single("alias", {"previousId": "a_1", "userId": "u_1"})


@routes.post("/v1/batch", summary="Segment batch of calls", access=Access.PUBLIC, request=TrackingBatch,
             response=TrackingAck, errors=_ERRORS, faults=FAULTS,
             example={"batch": [{"type": "track", "userId": "u_1", "event": "Product Viewed",
                                 "messageId": "m-1", "timestamp": "2025-06-02T10:00:00Z"}]})
async def batch(request: web.Request) -> web.Response:
    """Many calls, each with its ``type``; all are accepted or, when one is malformed, none."""
    body = await read_json(request, TrackingBatch)
    source = _source(request, body.write_key)
    cdp = request.app[CDP]
    cdp.ingest(source, cdp.normalise(body.batch, sent_at=body.sent_at))
    await request.app[STORE].appended_committed()  # acknowledged: in the log, surviving a crash
    return _ack()
