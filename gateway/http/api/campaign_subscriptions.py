"""``/campaigns/v1/subscriptions``: partners subscribe a sink to their campaigns' events (CloudEvents).

Types: ``campaign.started``, ``campaign.completed``, ``campaign.cancelled``, ``campaign.rejected`` and
``campaign.report.hourly`` (delivered as ``org.opsim.campaigns.v1.<type>``). Same envelope, signature, sink rules and
outbox as the CAMARA notifications; the handlers are those of every partner event feed
(:mod:`gateway.http.api.event_subscriptions`), the rules live in :mod:`gateway.services.partner_events`.
"""

from __future__ import annotations

from gateway.http.api.event_subscriptions import add_routes
from gateway.http.keys import CAMPAIGN_EVENTS
from gateway.http.routing import RouteTable
from gateway.services.campaigns.model import EVENT_TYPES
from gateway.wire.campaigns import CampaignSubscriptionRequest

routes = RouteTable("campaigns")
SCOPE = "campaigns:read"





add_routes(routes, "/campaigns/v1/subscriptions", "campaign", SCOPE, CAMPAIGN_EVENTS, CampaignSubscriptionRequest,
           EVENT_TYPES)
