"""``sim-swap-subscriptions`` v0.3: create, list, get and delete subscriptions to a line's SIM swaps.

Handlers check the request (protocol ``HTTP``, sink rules, ``ACCESSTOKEN`` sink credential, the one event type and
its create scope, expiry in the future, the two-/three-legged identifier rule of
:func:`gateway.http.camara.sim_swap.phone_subject`; the parts every CAMARA subscription API shares are
:mod:`gateway.services.camara.subscriptions`) and call
:class:`~gateway.services.camara.sim_swap_events.SimSwapSubscriptions` (the rules and events live there).
"""

from __future__ import annotations

from aiohttp import web

from gateway.core.errors import InvalidArgument
from gateway.http.auth import auth_of
from gateway.http.camara.sim_swap import phone_subject
from gateway.http.keys import SETTINGS, SIM_SWAP_EVENTS, WORLD
from gateway.http.routing import Access, RouteTable, json_response, no_content, read_json
from gateway.services.camara import subscriptions
from gateway.services.camara.sim_swap_events import SWAPPED, SwapSubscription, SwapSubscriptionSpec
from gateway.wire.camara.sim_swap_subscriptions import (
    Config,
    Subscription,
    SubscriptionDetail,
    SubscriptionList,
    SubscriptionRequest,
)

BASE = "/sim-swap-subscriptions/v0.3/subscriptions"
SCOPE_CREATE = f"sim-swap-subscriptions:{SWAPPED}:create"
SCOPE_READ = "sim-swap-subscriptions:read"
SCOPE_DELETE = "sim-swap-subscriptions:delete"

routes = RouteTable("CAMARA: sim-swap-subscriptions")












def view(s: SwapSubscription) -> Subscription:
    """Wire form of a subscription."""
    config = Config(subscription_detail=SubscriptionDetail(phone_number=s.spec.phone_number),
                    subscription_expire_time=s.spec.expire_time, subscription_max_events=s.spec.max_events)
    return Subscription(sink=s.spec.sink, types=[SWAPPED], config=config, id=s.id, starts_at=s.created_at,
                        expires_at=s.spec.expire_time, status=s.status)


@routes.post(BASE, summary="Create a SIM swap subscription", access=Access.PARTNER, scopes=(SCOPE_CREATE,),
             request=SubscriptionRequest, response=Subscription, status=201, errors=(400, 401, 403, 404, 422),
             changes_world=True)
async def create(request: web.Request) -> web.Response:
    """A ``swapped`` event per SIM swap of the line (random or operator-made) until deleted, expired or
    ``subscriptionMaxEvents`` is reached; ``subscription-started``/``-ended`` lifecycle events."""
    body = await read_json(request, SubscriptionRequest)
    world = request.app[WORLD]
    sink, token = subscriptions.delivery(body, request.app[SETTINGS].allow_http_loopback_sinks)
    if len(body.types) > 1:
        raise InvalidArgument("Only one event type per subscription is supported.")
    config = body.config
    subscriptions.check_expire_time(config.subscription_expire_time, world.clock.now)
    auth = auth_of(request)
    subject = phone_subject(world, auth, config.subscription_detail.phone_number)
    spec = SwapSubscriptionSpec(subscriber=subject.index, phone_number=config.subscription_detail.phone_number,
                                sink=sink, sink_token=token, expire_time=config.subscription_expire_time,
                                max_events=config.subscription_max_events)
    s = request.app[SIM_SWAP_EVENTS].create(auth.partner_id, spec)
    return json_response(view(s), status=201)


@routes.get(BASE, summary="List SIM swap subscriptions", access=Access.PARTNER, scopes=(SCOPE_READ,),
            response=SubscriptionList, errors=(400, 401, 403))
async def list_subscriptions(request: web.Request) -> web.Response:
    """The calling partner's subscriptions (a JSON array)."""
    subs = request.app[SIM_SWAP_EVENTS].list(auth_of(request).partner_id)
    return json_response(SubscriptionList([view(s) for s in subs]))


@routes.get(BASE + "/{subscriptionId}", summary="Get a SIM swap subscription", access=Access.PARTNER,
            scopes=(SCOPE_READ,), response=Subscription, errors=(400, 401, 403, 404))
async def get(request: web.Request) -> web.Response:
    """One of the calling partner's subscriptions."""
    s = request.app[SIM_SWAP_EVENTS].get(auth_of(request).partner_id, request.match_info["subscriptionId"])
    return json_response(view(s))


@routes.delete(BASE + "/{subscriptionId}", summary="Delete a SIM swap subscription", access=Access.PARTNER,
               scopes=(SCOPE_DELETE,), status=204, errors=(400, 401, 403, 404), changes_world=True)
async def delete(request: web.Request) -> web.Response:
    """Ends the subscription (a ``subscription-ended`` event with ``SUBSCRIPTION_DELETED`` follows)."""
    request.app[SIM_SWAP_EVENTS].delete(auth_of(request).partner_id, request.match_info["subscriptionId"])
    return no_content()
