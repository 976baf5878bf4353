"""Admin API for gatherings: make people attend a place between two instants, mid-run, and list the gatherings.

A gathering added here is journaled through the control plane like every other world-changing admin operation,
so a restarted gateway replays it at the same simulated instant and the world comes back identical. Attendees
are counted, never listed: the partner-facing APIs only ever see their effect on presence.
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from gateway.http.keys import CONTROL, WORLD
from gateway.http.routing import Access, RouteTable, json_response, read_json
from gateway.wire.admin_gatherings import Gathering, GatheringCreate, GatheringList
from simulator.world import GatheringInfo, World

routes = RouteTable("admin: gatherings")









def gathering_view(world: World, g: GatheringInfo) -> Gathering:
    """Wire form of a gathering (the venue's coordinates, and its name when it is a named place)."""
    venue = world.gathering_venue(g)
    return Gathering(id=g.id, name=g.name, place=venue.place, latitude=round(venue.latitude, 6),
                     longitude=round(venue.longitude, 6), start=g.start, end=g.end, attendees=len(g.attendees))


@routes.post("/admin/v1/gatherings", summary="Add a gathering", access=Access.ADMIN, request=GatheringCreate,
             response=Gathering, status=201, errors=(400,), changes_world=True)
async def add_gathering(request: web.Request) -> web.Response:
    """People attend a place between two instants (the start must not be in the past); journaled."""
    body = await read_json(request, GatheringCreate)
    g = await request.app[CONTROL].add_gathering(
        body.name, body.start, body.end, place=body.place, latitude=body.latitude, longitude=body.longitude,
        share=body.share, count=body.count, arrive_before=timedelta(minutes=body.arrive_before_minutes))
    return json_response(gathering_view(request.app[WORLD], g), status=201)


@routes.get("/admin/v1/gatherings", summary="List gatherings", access=Access.ADMIN, response=GatheringList)
async def list_gatherings(request: web.Request) -> web.Response:
    """Gatherings set up at build time or through the admin API, oldest first."""
    world = request.app[WORLD]
    return json_response(GatheringList(gatherings=[gathering_view(world, g) for g in world.gatherings]))
