"""``/journeys/v1/subscriptions``: partners subscribe a sink to their journeys' events (CloudEvents).

Types: ``journey.started``, ``journey.completed``, ``journey.cancelled`` and ``journey.report.hourly`` (delivered as
``org.opsim.journeys.v1.<type>``); data are the journey's report aggregates (never an identity). The handlers are
those of every partner event feed (:mod:`gateway.api.event_subscriptions`), the rules live in
:mod:`gateway.campaign_events` and :mod:`gateway.journeys`.
"""

from __future__ import annotations

from typing import Literal

from gateway.api.event_subscriptions import EventSubscriptionRequest, add_routes
from gateway.journeys import EVENT_TYPES
from gateway.keys import JOURNEY_EVENTS
from gateway.routing import RouteTable

routes = RouteTable("journeys")
SCOPE = "journeys:read"

EventType = Literal["journey.started", "journey.completed", "journey.cancelled", "journey.report.hourly"]


class JourneySubscriptionRequest(EventSubscriptionRequest[EventType]):
    """A sink for some journey event types (all of them when ``types`` is left out)."""


add_routes(routes, "/journeys/v1/subscriptions", "journey", SCOPE, JOURNEY_EVENTS, JourneySubscriptionRequest,
           EVENT_TYPES)
