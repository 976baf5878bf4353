"""The direct-messaging services of one app (authentication codes, direct messages), and how they are wired.

Owns :func:`install`, which builds the services of an app made by ``create_app`` and stores them under typed
app keys. It must not contain handlers or business rules.
"""

from __future__ import annotations

from aiohttp import web

from gateway.keys import SETTINGS, STORE, VERIFY, WORLD
from gateway.verify import VerifyService


def install(app: web.Application) -> None:
    """Build the services (world, settings and store are set on ``app``)."""
    world, settings, store = app[WORLD], app[SETTINGS], app[STORE]
    app[VERIFY] = VerifyService(world, store, settings.verify)
