"""``/campaigns/v1/subscriptions``: partners subscribe a sink to their campaigns' events (CloudEvents).

Types: ``campaign.started``, ``campaign.completed``, ``campaign.cancelled``, ``campaign.rejected`` and
``campaign.report.hourly`` (delivered as ``org.opsim.campaigns.v1.<type>``). Same envelope, signature, sink rules and
outbox as the CAMARA notifications; the handlers are those of every partner event feed
(:mod:`gateway.api.event_subscriptions`), the rules live in :mod:`gateway.campaign_events`.
"""

from __future__ import annotations

from typing import Literal

from gateway.api.event_subscriptions import EventSubscriptionRequest, add_routes
from gateway.campaigns import EVENT_TYPES
from gateway.keys import CAMPAIGN_EVENTS
from gateway.routing import RouteTable

routes = RouteTable("campaigns")
SCOPE = "campaigns:read"

EventType = Literal["campaign.started", "campaign.completed", "campaign.cancelled", "campaign.rejected",
                    "campaign.report.hourly"]


class CampaignSubscriptionRequest(EventSubscriptionRequest[EventType]):
    """A sink for some campaign event types (all of them when ``types`` is left out)."""


add_routes(routes, "/campaigns/v1/subscriptions", "campaign", SCOPE, CAMPAIGN_EVENTS, CampaignSubscriptionRequest,
           EVENT_TYPES)
