"""The CAMARA services of one app, and how they are wired into it.

Owns :class:`CamaraServices` (location, insights, device status, geofencing, asynchronous answers) and
:func:`install`, which builds them with the webhook outbox and the CIBA service, stores them under typed app keys,
loads the geofences once the store is open and the world restored, and ties the webhook sender to the app's
lifetime. Handlers reach the services through :func:`camara`. It must not contain handlers or business rules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from gateway.camara.callbacks import AsyncAnswers
from gateway.camara.device_status import DeviceStatusService
from gateway.camara.geofencing import GeofencingService
from gateway.camara.insights import InsightsService
from gateway.camara.location import LocationService
from gateway.campaign_events import CAMPAIGN_FEED, JOURNEY_FEED, PartnerEvents
from gateway.ciba import CibaService
from gateway.keys import (
    CAMARA,
    CAMPAIGN_EVENTS,
    CAMPAIGNS,
    CIBA,
    JOURNEY_EVENTS,
    JOURNEYS,
    SETTINGS,
    SIM_SWAP_EVENTS,
    STORE,
    WEBHOOKS,
    WORLD,
)
from gateway.webhooks import Webhooks


@dataclass(frozen=True)
class CamaraServices:
    """Everything the CAMARA handlers call."""

    location: LocationService
    insights: InsightsService
    status: DeviceStatusService
    geofencing: GeofencingService
    answers: AsyncAnswers


def camara(request: web.Request) -> CamaraServices:
    """The CAMARA services of the app serving ``request``."""
    return request.app[CAMARA]


def install(app: web.Application) -> None:
    """Build the services of an app made by ``create_app`` (world, settings, store, campaigns set); also wires
    campaign and journey event subscriptions to the webhook outbox."""
    world, settings, store = app[WORLD], app[SETTINGS], app[STORE]
    webhooks = Webhooks.build(store, settings, lambda: world.clock.now)
    # One batch with SIM swap events: their states are committed together with the clock at the end of a tick.
    shared = app[SIM_SWAP_EVENTS].events if SIM_SWAP_EVENTS in app else None
    geofencing = GeofencingService(world, store, webhooks.outbox, settings.min_radius_m, shared)
    webhooks.sender.on_gone(geofencing.on_gone)
    for key, service, feed in ((CAMPAIGN_EVENTS, CAMPAIGNS, CAMPAIGN_FEED), (JOURNEY_EVENTS, JOURNEYS, JOURNEY_FEED)):
        events = PartnerEvents(store, webhooks.outbox, feed)
        webhooks.sender.on_gone(events.on_gone)
        app[key] = events
        if service in app:
            app[service].add_listener(events.on_event)
    app[WEBHOOKS] = webhooks
    app[CIBA] = CibaService(store, world, settings)
    app[CAMARA] = CamaraServices(LocationService(world, settings.min_radius_m),
                                 InsightsService(world, settings.privacy_threshold), DeviceStatusService(world),
                                 geofencing, AsyncAnswers(store, webhooks.outbox, lambda: world.clock.now))

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        geofencing.load()  # the store is open and the world restored (replayed without subscriptions) by now
        async for _ in webhooks.lifetime(app):
            yield

    app.cleanup_ctx.append(lifetime)
