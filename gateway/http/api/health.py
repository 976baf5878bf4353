"""Liveness and Prometheus metrics (no authentication: meant for probes and scrapers on the same host)."""

from __future__ import annotations

from aiohttp import web

from gateway.http.keys import METRICS, WORLD
from gateway.http.metrics import CONTENT_TYPE
from gateway.http.routing import Access, RouteTable, json_response
from gateway.wire.health import Health

routes = RouteTable("operations")




@routes.get("/health", summary="Liveness probe", access=Access.PUBLIC, response=Health)
async def health(request: web.Request) -> web.Response:
    """Always ``UP`` while the server answers."""
    clock = request.app[WORLD].clock
    return json_response(Health(sim_time=clock.now, clock_mode=clock.mode))


@routes.get("/metrics", summary="Prometheus metrics", access=Access.PUBLIC, response_content_type="text/plain")
async def metrics(request: web.Request) -> web.Response:
    """Requests by route and status, latency histogram, sim time, tick duration, subscribers."""
    return web.Response(body=request.app[METRICS].render(), headers={"Content-Type": CONTENT_TYPE})
