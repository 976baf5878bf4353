"""``/campaigns/v1/subscriptions``: partners subscribe a sink to their campaigns' events (CloudEvents).

Types: ``campaign.started``, ``campaign.completed``, ``campaign.cancelled``, ``campaign.rejected`` and
``campaign.report.hourly`` (delivered as ``org.opsim.campaigns.v1.<type>``). Same envelope, signature, sink rules and
outbox as the CAMARA notifications. The rules live in :mod:`gateway.campaign_events`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from aiohttp import web
from pydantic import Field

from gateway.auth import auth_of
from gateway.campaign_events import CampaignSubscription
from gateway.campaigns import EVENT_TYPES
from gateway.keys import CAMPAIGN_EVENTS, SETTINGS, WORLD
from gateway.routing import Access, RouteTable, json_response, no_content, read_json
from gateway.webhooks import SinkCredential, check_sink, sink_access_token
from gateway.wire import Instant, WireModel

routes = RouteTable("campaigns")
SCOPE = "campaigns:read"

EventType = Literal["campaign.started", "campaign.completed", "campaign.cancelled", "campaign.rejected",
                    "campaign.report.hourly"]


class CampaignSubscriptionRequest(WireModel):
    """A sink for some campaign event types (all of them when ``types`` is left out)."""

    sink: str = Field(min_length=1, max_length=2048)
    sink_credential: SinkCredential | None = None
    types: list[EventType] | None = Field(default=None, min_length=1)


class CampaignSubscriptionView(WireModel):
    """A campaign event subscription."""

    id: str
    sink: str
    types: list[str]
    created_at: Instant
    status: Literal["ACTIVE", "EXPIRED"]


class CampaignSubscriptionList(WireModel):
    """The partner's campaign event subscriptions."""

    subscriptions: list[CampaignSubscriptionView]


def view(sub: CampaignSubscription, now: datetime) -> CampaignSubscriptionView:
    """Wire form at simulated instant ``now`` (``EXPIRED`` once the sink answered 410 or its token expired)."""
    return CampaignSubscriptionView(id=sub.id, sink=sub.sink, types=list(sub.types), created_at=sub.created_at,
                                    status="ACTIVE" if sub.active_at(now) else "EXPIRED")


@routes.post("/campaigns/v1/subscriptions", summary="Subscribe to my campaigns' events", access=Access.PARTNER,
             scopes=(SCOPE,), request=CampaignSubscriptionRequest, response=CampaignSubscriptionView, status=201,
             errors=(400, 403))
async def create(request: web.Request) -> web.Response:
    """Events of the partner's campaigns are POSTed to ``sink`` as signed CloudEvents."""
    body = await read_json(request, CampaignSubscriptionRequest)
    sink = check_sink(body.sink, request.app[SETTINGS].allow_http_loopback_sinks)
    now = request.app[WORLD].clock.now
    token = sink_access_token(body.sink_credential, now)
    expires = None if body.sink_credential is None else body.sink_credential.access_token_expires_utc
    types = tuple(body.types) if body.types else EVENT_TYPES
    sub = request.app[CAMPAIGN_EVENTS].create(auth_of(request).partner_id, types, sink, token, now, expires)
    return json_response(view(sub, now), status=201)


@routes.get("/campaigns/v1/subscriptions", summary="List my campaign event subscriptions", access=Access.PARTNER,
            scopes=(SCOPE,), response=CampaignSubscriptionList, errors=(403,))
async def list_subscriptions(request: web.Request) -> web.Response:
    """Oldest first."""
    subs = request.app[CAMPAIGN_EVENTS].list(auth_of(request).partner_id)
    now = request.app[WORLD].clock.now
    return json_response(CampaignSubscriptionList(subscriptions=[view(s, now) for s in subs]))


@routes.get("/campaigns/v1/subscriptions/{subscriptionId}", summary="One campaign event subscription",
            access=Access.PARTNER, scopes=(SCOPE,), response=CampaignSubscriptionView, errors=(403, 404))
async def get(request: web.Request) -> web.Response:
    """Another partner's subscription is 404."""
    sub = request.app[CAMPAIGN_EVENTS].get(auth_of(request).partner_id, request.match_info["subscriptionId"])
    return json_response(view(sub, request.app[WORLD].clock.now))


@routes.delete("/campaigns/v1/subscriptions/{subscriptionId}", summary="Delete a campaign event subscription",
               access=Access.PARTNER, scopes=(SCOPE,), status=204, errors=(403, 404))
async def delete(request: web.Request) -> web.Response:
    """No more events; pending ones are dropped."""
    request.app[CAMPAIGN_EVENTS].delete(auth_of(request).partner_id, request.match_info["subscriptionId"],
                                        request.app[WORLD].clock.now)
    return no_content()
