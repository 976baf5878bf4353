"""Admin API for the world as a whole: its summary (city, size, cells, sim time, tick cost)."""

from __future__ import annotations

from aiohttp import web

from gateway.http.keys import WORLD
from gateway.http.routing import Access, RouteTable, json_response
from gateway.wire.admin_world import WorldSummary
from simulator.world import WorldSummary as WorldFigures

routes = RouteTable("admin: world")




def summary_view(s: WorldFigures) -> WorldSummary:
    """Wire form of the world's summary."""
    return WorldSummary(city=s.city, subscribers=s.subscribers, cells=s.cells, now=s.now, tick_seconds=s.tick_seconds,
                        ticks=s.ticks, last_tick_ms=s.last_tick_ms, mean_tick_ms=s.mean_tick_ms, seed=s.seed,
                        country=s.country, timezone=s.timezone, start=s.start, clock_mode=s.clock_mode)


@routes.get("/admin/v1/world", summary="World summary", access=Access.ADMIN, response=WorldSummary)
async def world_summary(request: web.Request) -> web.Response:
    """City, size, cells, sim time and tick cost."""
    return json_response(summary_view(request.app[WORLD].summary()))
