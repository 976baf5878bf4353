"""What the partner event-subscription resources share (``/campaigns/v1/subscriptions``,
``/journeys/v1/subscriptions``): the wire models and the four handlers, added to a resource module's route table
by :func:`add_routes` for one feed (its app key, event types and scope). The rules live in
:mod:`gateway.services.partner_events`. Not routes of their own: this module has no ``routes`` table.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from gateway.core.webhooks import check_sink, sink_access_token
from gateway.http.auth import auth_of
from gateway.http.keys import SETTINGS, WORLD
from gateway.http.routing import Access, RouteTable, json_response, no_content, read_json
from gateway.services.partner_events import EventSubscription, PartnerEvents
from gateway.wire.event_subscriptions import (
    EventSubscriptionList,
    EventSubscriptionRequest,
    EventSubscriptionView,
    TypeT,
)


def view(sub: EventSubscription, now: datetime) -> EventSubscriptionView:
    """Wire form at simulated instant ``now`` (``EXPIRED`` once the sink answered 410 or its token expired)."""
    return EventSubscriptionView(id=sub.id, sink=sub.sink, types=list(sub.types), created_at=sub.created_at,
                                 status="ACTIVE" if sub.active_at(now) else "EXPIRED")


def add_routes(routes: RouteTable, base: str, noun: str, scope: str, key: web.AppKey[PartnerEvents],
               request_model: type[EventSubscriptionRequest[TypeT]], all_types: tuple[str, ...]) -> None:
    """Create, list, read and delete subscriptions of one feed at ``base`` (``noun``: campaign, journey)."""

    @routes.post(base, summary=f"Subscribe to my {noun}s' events", access=Access.PARTNER, scopes=(scope,),
                 request=request_model, response=EventSubscriptionView, status=201, errors=(400, 403))
    async def create(request: web.Request) -> web.Response:
        """Events are POSTed to ``sink`` as signed CloudEvents (aggregates only, never an identity)."""
        body = await read_json(request, request_model)
        sink = check_sink(body.sink, request.app[SETTINGS].allow_http_loopback_sinks)
        now = request.app[WORLD].clock.now
        token = sink_access_token(body.sink_credential, now)
        expires = None if body.sink_credential is None else body.sink_credential.access_token_expires_utc
        types = tuple(body.types) if body.types else all_types
        sub = request.app[key].create(auth_of(request).partner_id, types, sink, token, now, expires)
        return json_response(view(sub, now), status=201)

    @routes.get(base, summary=f"List my {noun} event subscriptions", access=Access.PARTNER, scopes=(scope,),
                response=EventSubscriptionList, errors=(403,))
    async def list_subscriptions(request: web.Request) -> web.Response:
        """Oldest first."""
        subs = request.app[key].list(auth_of(request).partner_id)
        now = request.app[WORLD].clock.now
        return json_response(EventSubscriptionList(subscriptions=[view(s, now) for s in subs]))

    @routes.get(base + "/{subscriptionId}", summary=f"One {noun} event subscription", access=Access.PARTNER,
                scopes=(scope,), response=EventSubscriptionView, errors=(403, 404))
    async def get(request: web.Request) -> web.Response:
        """Another partner's subscription is 404."""
        sub = request.app[key].get(auth_of(request).partner_id, request.match_info["subscriptionId"])
        return json_response(view(sub, request.app[WORLD].clock.now))

    @routes.delete(base + "/{subscriptionId}", summary=f"Delete a {noun} event subscription",
                   access=Access.PARTNER, scopes=(scope,), status=204, errors=(403, 404))
    async def delete(request: web.Request) -> web.Response:
        """No more events; pending ones are dropped."""
        request.app[key].delete(auth_of(request).partner_id, request.match_info["subscriptionId"],
                                request.app[WORLD].clock.now)
        return no_content()
