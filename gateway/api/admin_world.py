"""Admin API for the world as a whole: its summary (city, size, cells, sim time, tick cost)."""

from __future__ import annotations

from aiohttp import web
from pydantic import ConfigDict

from gateway.keys import WORLD
from gateway.routing import Access, RouteTable, json_response
from gateway.wire import Instant, WireModel

routes = RouteTable("admin: world")


class WorldSummary(WireModel):
    """What world is being served and how costly its ticks are."""

    model_config = ConfigDict(extra="ignore")  # built from the world's dict; tolerate fields added later

    city: str
    subscribers: int
    cells: int
    now: Instant
    tick_seconds: int
    ticks: int
    last_tick_ms: float
    mean_tick_ms: float
    seed: int | None = None
    country: str | None = None
    timezone: str | None = None
    start: Instant | None = None
    clock_mode: str | None = None


@routes.get("/admin/v1/world", summary="World summary", access=Access.ADMIN, response=WorldSummary)
async def world_summary(request: web.Request) -> web.Response:
    """City, size, cells, sim time and tick cost."""
    return json_response(WorldSummary.model_validate(request.app[WORLD].summary()))
