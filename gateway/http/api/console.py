"""The live operator console: the page (``/console``) and the admin routes it reads (``/admin/v1/console``).

The page is served to anyone (like ``/docs``) and holds no data: every call it makes carries the admin token the
operator types in (or passes as ``#token=...``; kept in the tab's ``sessionStorage``). It draws the world from
``/admin/v1/console/map`` and follows ``/admin/v1/console/stream``, a Server-Sent Events stream with one
``state`` event (:class:`ConsoleState`) at once and after every clock move, at most a few per wall second. The
stream ends when the gateway shuts down. Clock controls, test phones (add, drag = pin) and the outbox use the
existing admin routes.
"""

from __future__ import annotations

import asyncio
from importlib import resources

from aiohttp import web

from gateway.http.keys import CONSOLE, CONSOLE_FEED, CONTROL, CORRELATOR
from gateway.http.routing import Access, RouteTable, json_response, read_query
from gateway.wire.console import ConsoleMap, ConsoleOccupancy, ConsoleState, ConsoleTrack, ConsoleTrackQuery

routes = RouteTable("admin: console")

STREAM_MIN_INTERVAL_S = 0.25
"""Least wall time between two state events of one stream (a paced clock moves every pacer wake-up)."""
STREAM_HEARTBEAT_S = 15.0
"""A comment line after this much wall time without a move, so idle connections are not cut by proxies."""


@routes.get("/console", summary="Live operator console", access=Access.PUBLIC, in_schema=False,
            response_content_type="text/html")
async def console_page(request: web.Request) -> web.Response:
    """A self-contained page (inline script and style, no external URL): asks for the admin token, then draws
    the cells, zones, places, test phones, campaigns and geofences and follows the live stream."""
    page = resources.files("gateway.http").joinpath("static/console.html").read_text(encoding="utf-8")
    return web.Response(text=page, content_type="text/html",
                        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                                 "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; "
                                                            "style-src 'unsafe-inline'; img-src 'self' data:"})


@routes.get("/admin/v1/console/map", summary="Console map", access=Access.ADMIN, response=ConsoleMap)
async def console_map(request: web.Request) -> web.Response:
    """Every cell as a hexagon of its surface around its centre (WGS84), the city's outline, zones and places."""
    # Built in a worker thread: about a second for a country's cells, which must not hold the event loop.
    text = await asyncio.get_running_loop().run_in_executor(None, request.app[CONSOLE].map_json)
    response = web.Response(text=text, content_type="application/json")
    response.enable_compression()  # a large city's map is a megabyte of JSON; gzip when the client accepts it
    return response


@routes.get("/admin/v1/console/occupancy", summary="Occupancy per cell", access=Access.ADMIN,
            response=ConsoleOccupancy)
async def console_occupancy(request: web.Request) -> web.Response:
    """Subscribers served by each cell now, in the map's cell order (operator side, exact counts)."""
    return json_response(request.app[CONSOLE].occupancy())


@routes.get("/admin/v1/console/state", summary="Console state", access=Access.ADMIN, response=ConsoleState)
async def console_state(request: web.Request) -> web.Response:
    """What the stream sends: clock, occupancy, test phones, campaigns with deliveries, geofences, their recent
    events and the outbox counts."""
    return json_response(request.app[CONSOLE].state())


@routes.get("/admin/v1/console/subscribers/{msisdn}/track", summary="A subscriber's recent cells",
            access=Access.ADMIN, query=ConsoleTrackQuery, response=ConsoleTrack, errors=(400, 404))
async def console_track(request: web.Request) -> web.Response:
    """The cells that served the subscriber over the last ``hours`` (default 6, within the history kept)."""
    query = read_query(request, ConsoleTrackQuery)
    index = request.app[CONTROL].find(request.match_info["msisdn"])
    return json_response(request.app[CONSOLE].track(index, query.hours))


@routes.get("/admin/v1/console/stream", summary="Live console stream (Server-Sent Events)", access=Access.ADMIN,
            response=ConsoleState, response_content_type="text/event-stream", in_schema=False)
async def console_stream(request: web.Request) -> web.StreamResponse:
    """``event: state`` with a :class:`ConsoleState` at once and after each clock move; ends on shutdown."""
    feed, console = request.app[CONSOLE_FEED], request.app[CONSOLE]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no", "x-correlator": request[CORRELATOR]})
    await response.prepare(request)
    try:
        async for moved in feed.moves(STREAM_MIN_INTERVAL_S, STREAM_HEARTBEAT_S):
            if moved:
                data = feed.render(lambda: console.state().model_dump_json(by_alias=True, exclude_none=True))
                await response.write(f"event: state\ndata: {data}\n\n".encode())
            else:
                await response.write(b": idle\n\n")
        await response.write_eof()
    except ConnectionError:  # the browser went away: nothing to finish
        pass
    return response
