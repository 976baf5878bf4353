"""``/journeys/v1/subscriptions``: partners subscribe a sink to their journeys' events (CloudEvents).

Types: ``journey.started``, ``journey.completed``, ``journey.cancelled`` and ``journey.report.hourly`` (delivered as
``org.opsim.journeys.v1.<type>``); data are the journey's report aggregates (never an identity). The handlers are
those of every partner event feed (:mod:`gateway.http.api.event_subscriptions`), the rules live in
:mod:`gateway.services.partner_events` and :mod:`gateway.services.journeys`.
"""

from __future__ import annotations

from gateway.http.api.event_subscriptions import add_routes
from gateway.http.keys import JOURNEY_EVENTS
from gateway.http.routing import RouteTable
from gateway.services.journeys.model import EVENT_TYPES
from gateway.wire.journeys import JourneySubscriptionRequest

routes = RouteTable("journeys")
SCOPE = "journeys:read"





add_routes(routes, "/journeys/v1/subscriptions", "journey", SCOPE, JOURNEY_EVENTS, JourneySubscriptionRequest,
           EVENT_TYPES)
