"""The gateway application factory.

``create_app(world, settings)`` builds one served operator: the services (built by
:func:`gateway.http.composition.compose`, with the ``cleanup_ctx`` lifetimes: store open/restore/checkpoint, paced
clock), the middlewares (request context → errors → auth → serialisation of world-changing routes) and the routes
of every module in :data:`API_MODULES`. It also owns :class:`GatewayRunner`, which answers even requests aiohttp's
parser refused in the one error shape. Nothing here is module-level state, so several apps can live in one process
(tests do). This module must not contain handlers or business rules.

Adding an API: write ``gateway/http/api/<resource>.py`` (or ``gateway/http/camara/<api>.py``) exposing
``routes: RouteTable`` and add the module to :data:`API_MODULES`.
"""

from __future__ import annotations

import logging
import os
import re
import time
from types import ModuleType

from aiohttp import web

from gateway.core.errors import InvalidArgument
from gateway.core.settings import Settings
from gateway.http import auth
from gateway.http.api import (
    admin_apps,
    admin_clock,
    admin_faults,
    admin_gatherings,
    admin_lines,
    admin_messages,
    admin_partners,
    admin_recording,
    admin_subscribers,
    admin_world,
    apps,
    campaign_subscriptions,
    campaigns,
    cdp,
    cdp_triggers,
    console,
    docs,
    fcm,
    health,
    journey_subscriptions,
    journeys,
    messages,
    partners,
    tracking,
    verify,
)
from gateway.http.api import ciba as ciba_api
from gateway.http.api import webhooks as webhooks_api
from gateway.http.camara import (
    device_reachability_status,
    device_roaming_status,
    geofencing_subscriptions,
    location_retrieval,
    location_verification,
    number_verification,
    population_density_data,
    region_device_count,
    sim_swap,
    sim_swap_subscriptions,
)
from gateway.http.composition import compose
from gateway.http.faults import fault_middleware
from gateway.http.keys import CORRELATOR, METRICS, ROUTES, SETTINGS
from gateway.http.middleware import Handler, error_middleware, from_protocol_error, render
from gateway.http.recording import install_recording, recording_middleware
from gateway.http.routing import RouteRegistry, route_label
from gateway.http.serialise import serialise_middleware
from simulator.world import World

access_log = logging.getLogger("opsim.gateway.access")

API_MODULES: tuple[ModuleType, ...] = (health, docs, auth, partners, admin_partners, admin_clock,
                                       admin_subscribers, admin_world, admin_gatherings,
                                       admin_lines, sim_swap, sim_swap_subscriptions, number_verification, verify,
                                       messages, admin_messages, journeys, journey_subscriptions, campaigns,
                                       campaign_subscriptions,
                                       ciba_api, webhooks_api,
                                       location_verification, location_retrieval, geofencing_subscriptions,
                                       region_device_count, population_density_data, device_reachability_status,
                                       device_roaming_status, admin_faults, admin_recording, apps, fcm,
                                       admin_apps, console, cdp, cdp_triggers, tracking)
"""Every module whose ``routes`` the app serves, in documentation order."""

CORRELATOR_HEADER = "x-correlator"
_CORRELATOR = re.compile(r"^[a-zA-Z0-9\-_:;./<>{}]{0,256}$")


def fresh_correlator() -> str:
    """A random (version 4) UUID as text, the correlator of a request that brought none.

    Formatted from 16 random bytes directly: ``str(uuid.uuid4())`` costs twice as much, on every such request.
    """
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Correlator (validate, echo, generate), metrics and the access log line, around everything else."""
    started = time.monotonic()
    given = request.headers.get(CORRELATOR_HEADER)
    valid = given is not None and _CORRELATOR.match(given) is not None
    correlator = given if valid and given else fresh_correlator()
    request[CORRELATOR] = correlator
    if given is not None and not valid:
        # Never echo a value that breaks the pattern (header injection); answer with a fresh one instead.
        response: web.StreamResponse = render(InvalidArgument("x-correlator does not match the allowed pattern."))
    else:
        response = await handler(request)
    response.headers[CORRELATOR_HEADER] = correlator
    elapsed = time.monotonic() - started
    route = route_label(request)
    request.app[METRICS].observe(request.method, route, response.status, elapsed)
    if request.app[SETTINGS].access_log:
        access_log.info("%s %s %d %.1fms correlator=%s", request.method, route, response.status, elapsed * 1000,
                        correlator)
    return response


class _ProtocolErrors(web.RequestHandler):
    """aiohttp's per-connection protocol, answering requests its parser refused in the gateway's error shape.

    aiohttp renders those (bad request line, invalid path bytes, over-long headers, unknown methods) as text
    before any middleware runs; :meth:`handle_error` is the one place they pass through.
    """

    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # logs; raises if a response was already begun
        response = render(from_protocol_error(status, exc))
        response.headers[CORRELATOR_HEADER] = fresh_correlator()  # the request's own was never read
        response.force_close()
        return response


class _Server(web.Server):
    def __call__(self) -> web.RequestHandler:
        return _ProtocolErrors(self, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """An ``AppRunner`` whose connections answer even unparsable requests in the CAMARA error shape.

    aiohttp has no public hook for this (aio-libs/aiohttp#3287): the server is rebuilt around
    :class:`_ProtocolErrors` after the app started. Serve the gateway with this runner, not ``web.AppRunner``.
    """

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()  # starts the app (store, restore) and freezes it
        return _Server(server.request_handler, request_factory=server.request_factory,
                       handler_cancellation=server.handler_cancellation, loop=server._loop, **server._kwargs)


def create_app(world: World, settings: Settings) -> web.Application:
    """A gateway serving ``world`` as configured by ``settings`` (the store opens when the app starts)."""
    app = web.Application(middlewares=[request_context, recording_middleware, error_middleware, auth.auth_middleware,
                                       fault_middleware, serialise_middleware],
                          client_max_size=settings.body_limit_bytes)
    compose(app, world, settings)
    install_recording(app, world)
    registry = RouteRegistry()
    app[ROUTES] = registry
    for module in API_MODULES:
        registry.install(app, module.routes)
    return app
