"""The direct-messaging services of one app (authentication codes, direct messages), and how they are wired.

Owns :func:`install`, which builds the services of an app made by ``create_app`` and stores them under typed
app keys. Direct ``PROMO`` messages share the campaign service's rules and frequency caps; status webhooks go
through the app's webhook outbox (installed later by :mod:`gateway.camara.services`, hence looked up lazily).
It must not contain handlers or business rules.
"""

from __future__ import annotations

from aiohttp import web

from gateway.keys import CAMPAIGNS, MESSAGES, SETTINGS, STORE, VERIFY, WEBHOOKS, WORLD
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

    app[MESSAGES] = MessageService(world, store, settings.messages, campaigns.rules, campaigns.caps,
                                   settings.campaigns.moderation_terms, outbox)
