"""The direct-messaging services of one app (authentication codes, direct messages, journeys, SIM swap
subscriptions).

Owns :func:`install`, which builds the services of an app made by ``create_app`` and stores them under typed
app keys. Direct ``PROMO`` messages share the campaign service's rules and frequency caps. Status webhooks and
SIM swap events go through the app's webhook outbox, installed later by :mod:`gateway.camara.services`, hence
looked up lazily; SIM swap subscriptions are loaded at start-up, once the store is open and the world restored.
Codes and direct messages take part in the restore (:meth:`gateway.control.ControlPlane.on_restore`): what they
delivered and counted is replayed with the world, what they still wait for resumes after it. It must not contain
handlers or business rules.
"""

from __future__ import annotations

from aiohttp import web

from gateway.camara.sim_swap_events import SimSwapSubscriptions
from gateway.journeys import JourneyService
from gateway.keys import (
    CAMPAIGNS,
    CONTROL,
    JOURNEYS,
    MESSAGES,
    PARTNERS,
    SETTINGS,
    SIM_SWAP_EVENTS,
    STORE,
    VERIFY,
    WEBHOOKS,
    WORLD,
)
from gateway.messages import MessageService
from gateway.verify import VerifyService
from gateway.webhooks import Outbox


def install(app: web.Application) -> None:
    """Build the services (world, settings, store and campaigns are set on ``app``)."""
    world, settings, store = app[WORLD], app[SETTINGS], app[STORE]
    app[VERIFY] = VerifyService(world, store, settings.verify)
    campaigns = app[CAMPAIGNS]

    def outbox() -> Outbox | None:
        return app[WEBHOOKS].outbox if WEBHOOKS in app else None

    def required_outbox() -> Outbox:
        return app[WEBHOOKS].outbox

    app[MESSAGES] = MessageService(world, store, settings.messages, campaigns.rules, campaigns.caps,
                                   settings.campaigns.moderation_terms, outbox, partner_limit=app[PARTNERS].limit)
    for service in (app[VERIFY], app[MESSAGES]):  # what was delivered and counted is replayed, what waits resumes
        app[CONTROL].on_restore(service.replay, service.resume)
    control = app[CONTROL]
    app[JOURNEYS] = JourneyService(world, store, app[MESSAGES], settings.campaigns.privacy_threshold,
                                   settings.min_radius_m, settings.campaigns.max_radius_m,
                                   is_live=lambda: control.restored is not None)
    swaps = SimSwapSubscriptions(world, store, required_outbox)
    app[SIM_SWAP_EVENTS] = swaps

    async def start(app: web.Application) -> None:
        # on_startup runs after every cleanup_ctx: the store is open, the world restored, the sender running.
        app[WEBHOOKS].sender.on_gone(swaps.on_gone)
        swaps.load()

    app.on_startup.append(start)
