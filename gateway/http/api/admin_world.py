"""Admin API for the world as a whole: its summary (city, size, cells, sim time, tick cost)."""

from __future__ import annotations

from aiohttp import web

from gateway.http.keys import WORLD
from gateway.http.routing import Access, RouteTable, json_response
from gateway.wire.admin_world import WorldSummary

routes = RouteTable("admin: world")




@routes.get("/admin/v1/world", summary="World summary", access=Access.ADMIN, response=WorldSummary)
async def world_summary(request: web.Request) -> web.Response:
    """City, size, cells, sim time and tick cost."""
    return json_response(WorldSummary.model_validate(request.app[WORLD].summary()))
