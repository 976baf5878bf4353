"""Liveness and Prometheus metrics (no authentication: meant for probes and scrapers on the same host)."""

from __future__ import annotations

from typing import Literal

from aiohttp import web

from gateway.keys import METRICS, WORLD
from gateway.metrics import CONTENT_TYPE
from gateway.routing import Access, RouteTable, json_response
from gateway.wire import Instant, WireModel

routes = RouteTable("operations")


class Health(WireModel):
    """The gateway is up; where its world's clock stands."""

    status: Literal["UP"] = "UP"
    sim_time: Instant
    clock_mode: str


@routes.get("/health", summary="Liveness probe", access=Access.PUBLIC, response=Health)
async def health(request: web.Request) -> web.Response:
    """Always ``UP`` while the server answers."""
    clock = request.app[WORLD].clock
    return json_response(Health(sim_time=clock.now, clock_mode=clock.mode))


@routes.get("/metrics", summary="Prometheus metrics", access=Access.PUBLIC, response_content_type="text/plain")
async def metrics(request: web.Request) -> web.Response:
    """Requests by route and status, latency histogram, sim time, tick duration, subscribers."""
    return web.Response(body=request.app[METRICS].render(), headers={"Content-Type": CONTENT_TYPE})
