"""What the partner event-subscription resources share (``/campaigns/v1/subscriptions``,
``/journeys/v1/subscriptions``): the wire models and the four handlers, added to a resource module's route table
by :func:`add_routes` for one feed (its app key, event types and scope). The rules live in
:mod:`gateway.campaign_events`. Not routes of their own: this module has no ``routes`` table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, Literal, TypeVar

from aiohttp import web
from pydantic import Field

from gateway.auth import auth_of
from gateway.campaign_events import EventSubscription, PartnerEvents
from gateway.keys import SETTINGS, WORLD
from gateway.routing import Access, RouteTable, json_response, no_content, read_json
from gateway.webhooks import SinkCredential, check_sink, sink_access_token
from gateway.wire import Instant, WireModel

TypeT = TypeVar("TypeT", bound=str)


class EventSubscriptionRequest(WireModel, Generic[TypeT]):
    """A sink for some event types (all of them when ``types`` is left out)."""

    sink: str = Field(min_length=1, max_length=2048)
    sink_credential: SinkCredential | None = None
    types: list[TypeT] | None = Field(default=None, min_length=1)


class EventSubscriptionView(WireModel):
    """An event subscription."""

    id: str
    sink: str
    types: list[str]
    created_at: Instant
    status: Literal["ACTIVE", "EXPIRED"]


class EventSubscriptionList(WireModel):
    """The partner's event subscriptions of one resource, oldest first."""

    subscriptions: list[EventSubscriptionView]


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
