"""Webhook routes: a partner's signing secret (partner and admin side), the outbox, dead letters and re-drive.

The secret keys the ``X-Opsim-Signature`` (``sha256=<hex>`` HMAC of the body) on every event sent to the partner.
Dead letters are events given up after the maximum age; re-driving one puts it back in the queue.
"""

from __future__ import annotations

from aiohttp import web

from gateway.core.errors import NotFound
from gateway.core.ids import partner_public_id
from gateway.core.webhooks import OutboxRow
from gateway.http.auth import auth_of
from gateway.http.keys import PARTNERS, WEBHOOKS
from gateway.http.routing import Access, RouteTable, json_response, read_query
from gateway.wire.webhooks import AttemptView, OutboxCounts, OutboxEventView, OutboxList, OutboxQuery, WebhookSecret
from simulator.clock import from_micros

routes = RouteTable("webhooks")














def _secret(request: web.Request, partner_id: int, rotate: bool) -> web.Response:
    secrets_ = request.app[WEBHOOKS].secrets
    secret, rotated_at = secrets_.rotate(partner_id) if rotate else secrets_.get(partner_id)
    return json_response(WebhookSecret(partner_id=partner_public_id(partner_id), secret=secret,
                                       rotated_at=rotated_at))


def event_view(request: web.Request, row: OutboxRow, history: bool = False) -> OutboxEventView:
    """Wire form of an outbox row (with its attempts when asked)."""
    attempts = None
    if history:
        attempts = [AttemptView(attempt=a.attempt, at=from_micros(int(a.at_wall * 1_000_000)),
                                status_code=a.status_code, error=a.error, duration_ms=a.duration_ms)
                    for a in request.app[WEBHOOKS].outbox.attempts(row.event_id)]
    return OutboxEventView(event_id=row.event_id, subscription_id=row.subscription_id,
                           partner_id=partner_public_id(row.partner_id), type=row.event_type, sink=row.sink,
                           time=row.at, state=row.delivery_state, attempts=row.attempts, last_error=row.last_error,
                           history=attempts)


@routes.get("/partner/v1/webhook-secret", summary="My webhook signing secret", access=Access.PARTNER,
            response=WebhookSecret)
async def partner_secret(request: web.Request) -> web.Response:
    """Created on first read."""
    return _secret(request, auth_of(request).partner_id, rotate=False)


@routes.post("/partner/v1/webhook-secret/rotate", summary="Rotate my webhook signing secret", access=Access.PARTNER,
             response=WebhookSecret)
async def partner_rotate(request: web.Request) -> web.Response:
    """Events not sent yet are signed with the new secret."""
    return _secret(request, auth_of(request).partner_id, rotate=True)


@routes.get("/admin/v1/partners/{partnerId}/webhook-secret", summary="A partner's webhook secret",
            access=Access.ADMIN, response=WebhookSecret, errors=(404,))
async def admin_secret(request: web.Request) -> web.Response:
    """Created on first read."""
    return _secret(request, request.app[PARTNERS].get(request.match_info["partnerId"]).id, rotate=False)


@routes.post("/admin/v1/partners/{partnerId}/webhook-secret/rotate", summary="Rotate a partner's webhook secret",
             access=Access.ADMIN, response=WebhookSecret, errors=(404,))
async def admin_rotate(request: web.Request) -> web.Response:
    """Events not sent yet are signed with the new secret."""
    return _secret(request, request.app[PARTNERS].get(request.match_info["partnerId"]).id, rotate=True)


@routes.get("/admin/v1/webhooks/events", summary="Outbox events", access=Access.ADMIN, query=OutboxQuery,
            response=OutboxList, errors=(400,))
async def list_events(request: web.Request) -> web.Response:
    """Stored events with their delivery state, filtered by state and subscription."""
    q = read_query(request, OutboxQuery)
    rows = request.app[WEBHOOKS].outbox.events(state=q.state, subscription_id=q.subscription_id, limit=q.limit)
    return json_response(OutboxList(events=[event_view(request, r) for r in rows]))


@routes.get("/admin/v1/webhooks/counts", summary="Outbox counts", access=Access.ADMIN, response=OutboxCounts)
async def counts(request: web.Request) -> web.Response:
    """Events per delivery state: how much is on its way, retried, delivered, dead-lettered or cancelled."""
    c = request.app[WEBHOOKS].outbox.counts()
    return json_response(OutboxCounts(pending=c.pending, retrying=c.retrying, delivered=c.delivered, dead=c.dead,
                                      cancelled=c.cancelled))


@routes.get("/admin/v1/webhooks/dead-letters", summary="Dead-lettered events", access=Access.ADMIN,
            response=OutboxList)
async def dead_letters(request: web.Request) -> web.Response:
    """Events given up after the maximum age, with every attempt."""
    rows = request.app[WEBHOOKS].outbox.events(state="dead")
    return json_response(OutboxList(events=[event_view(request, r, history=True) for r in rows]))


@routes.get("/admin/v1/webhooks/events/{eventId}", summary="One outbox event", access=Access.ADMIN,
            response=OutboxEventView, errors=(404,))
async def get_event(request: web.Request) -> web.Response:
    """An event with every delivery attempt."""
    row = request.app[WEBHOOKS].outbox.get(request.match_info["eventId"])
    if row is None:
        raise NotFound(f"Event {request.match_info['eventId']} not found.")
    return json_response(event_view(request, row, history=True))


@routes.post("/admin/v1/webhooks/dead-letters/{eventId}/redrive", summary="Re-drive a dead-lettered event",
             access=Access.ADMIN, response=OutboxEventView, errors=(404,))
async def redrive(request: web.Request) -> web.Response:
    """Back in the queue, sent again under the same id (its maximum age starts again)."""
    outbox = request.app[WEBHOOKS].outbox
    event_id = request.match_info["eventId"]
    if not outbox.redrive(event_id):
        raise NotFound(f"No dead-lettered event {event_id}.")
    row = outbox.get(event_id)
    assert row is not None
    return json_response(event_view(request, row))
