"""Admin API for gatherings: make people attend a place between two instants, mid-run, and list the gatherings.

A gathering added here is journaled through the control plane like every other world-changing admin operation,
so a restarted gateway replays it at the same simulated instant and the world comes back identical. Attendees
are counted, never listed: the partner-facing APIs only ever see their effect on presence.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Self

from aiohttp import web
from pydantic import Field, StringConstraints, model_validator

from gateway.keys import CONTROL, WORLD
from gateway.routing import Access, RouteTable, json_response, read_json
from gateway.wire import Instant, WireModel
from simulator.world import GatheringInfo, World

routes = RouteTable("admin: gatherings")

Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]


class GatheringCreate(WireModel):
    """A named place of the city or coordinates inside it; a share of the base population or a head count."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    place: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    start: Instant
    end: Instant
    share: Annotated[float, Field(gt=0, le=1)] | None = None
    count: Annotated[int, Field(ge=1)] | None = None
    arrive_before_minutes: Annotated[int, Field(ge=0, le=1440)] = 60
    """Attendees arrive during this lead-up to ``start``."""

    @model_validator(mode="after")
    def _where_and_how_many(self) -> Self:
        if (self.place is None) == (self.latitude is None or self.longitude is None):
            raise ValueError("give either place or both latitude and longitude")
        if self.place is not None and (self.latitude is not None or self.longitude is not None):
            raise ValueError("give either place or both latitude and longitude")
        if (self.share is None) == (self.count is None):
            raise ValueError("give exactly one of share, count")
        return self


class Gathering(WireModel):
    """A gathering as set up: where, when and how many attend."""

    id: str
    name: str
    place: str | None = None
    latitude: float
    longitude: float
    start: Instant
    end: Instant
    attendees: int


class GatheringList(WireModel):
    """Every gathering of the world, in the order they were added."""

    gatherings: list[Gathering]


def gathering_view(world: World, g: GatheringInfo) -> Gathering:
    """Wire form of a gathering (the venue's coordinates, and its name when it is a named place)."""
    lat, lon, place = world.gathering_venue(g)
    return Gathering(id=g.id, name=g.name, place=place, latitude=round(lat, 6),
                     longitude=round(lon, 6), start=g.start, end=g.end, attendees=len(g.attendees))


@routes.post("/admin/v1/gatherings", summary="Add a gathering", access=Access.ADMIN, request=GatheringCreate,
             response=Gathering, status=201, errors=(400,))
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
