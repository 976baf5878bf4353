"""The operator console's view of the world: what ``/console`` draws and what its live stream pushes.

Owns :class:`ConsoleService` (the map, computed once: every cell as a regular hexagon of the cell's surface around
its centre, the city's outline, zones and named places; the live state: clock, occupancy per cell, test phones,
campaigns with their deliveries, geofences with their recent events, outbox counts; a subscriber's track) and
:class:`ConsoleFeed` (wakes the console streams when the clock moves or a subscriber changes cell, and ends them
when the app shuts down). Everything is read through the World's public API and the other services; this module
knows nothing of HTTP and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

from gateway.core.ids import partner_public_id
from gateway.core.webhooks import Outbox
from gateway.services.camara.geofencing import TYPE_PREFIX as GEOFENCING_EVENTS
from gateway.services.camara.geofencing import GeofencingService
from gateway.services.campaigns.service import CampaignService
from gateway.services.targeting import CircleSpec
from gateway.wire.console import (
    ConsoleArea,
    ConsoleCampaign,
    ConsoleCell,
    ConsoleClock,
    ConsoleEvent,
    ConsoleGeofence,
    ConsoleMap,
    ConsoleOccupancy,
    ConsoleOutbox,
    ConsolePhone,
    ConsolePlace,
    ConsoleState,
    ConsoleTrack,
    ConsoleTrackPoint,
    ConsoleZone,
)
from simulator.city import ZONE_NAMES
from simulator.world import World

MAX_PHONES = 200
"""Test phones shown (the first ones added): the console is for a handful of QA phones, not a fleet."""
MAX_CAMPAIGNS = 10
"""Most recent campaigns shown (each costs a count of its records on every state)."""
MAX_GEOFENCES = 100
"""Most recent geofencing subscriptions shown."""
MAX_EVENTS = 20
"""Most recent geofencing notifications shown."""
MAX_TRACK = 500
"""Most recent cells of a track."""
OUTLINE_TOLERANCE_M = 100.0
"""The city's outline is simplified to this precision (the console draws it, nothing is computed from it)."""

_HEX_ANGLES = np.radians(np.arange(6) * 60.0 + 30.0)  # pointy-top hexagons


def _round(values: NDArray[np.float64], digits: int = 6) -> list[float]:
    return [round(v, digits) for v in values.tolist()]


def _down(value: Any) -> float:
    return math.floor(float(value) * 1e5) / 1e5


def _up(value: Any) -> float:
    return math.ceil(float(value) * 1e5) / 1e5


class ConsoleService:
    """Read-only operator views for the console, of one world and the services that act in it."""

    def __init__(self, world: World, campaigns: CampaignService, geofencing: GeofencingService,
                 outbox: Callable[[], Outbox]) -> None:
        self.world = world
        self.campaigns = campaigns
        self.geofencing = geofencing
        self._outbox = outbox
        self._map: ConsoleMap | None = None
        self._map_json: str | None = None
        self._cell_lat: NDArray[np.float64] | None = None
        self._cell_lon: NDArray[np.float64] = np.zeros(0)

    # -- the map (static: computed on first use) ------------------------------------------------------------
    def map(self) -> ConsoleMap:
        """Cells as hexagons, the outline, zones and places (computed once; the network never changes)."""
        if self._map is None:
            self._map = self._build_map()
        return self._map

    def map_json(self) -> str:
        """The map as its JSON text (camelCase, computed once). Reads only the static network and city, so it may
        run off the event loop: a country's map takes about a second to build."""
        if self._map_json is None:
            self._map_json = self.map().model_dump_json(by_alias=True, exclude_none=True)
        return self._map_json

    def _centres_latlon(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Latitude and longitude of every cell centre (computed once: the network never changes)."""
        if self._cell_lat is None:
            lat, lon = self.world.city.projection.to_latlon(*self.world.cell_centres())
            self._cell_lat, self._cell_lon = np.asarray(lat, np.float64), np.asarray(lon, np.float64)
        return self._cell_lat, self._cell_lon

    def _build_map(self) -> ConsoleMap:
        world, city = self.world, self.world.city
        proj = city.projection
        cx, cy = world.cell_centres()
        surfaces = world.cell_surfaces()
        # A regular hexagon of surface A has circumradius sqrt(2A / (3 sqrt 3)); cells serving no pixel get a
        # small one so they stay visible.
        radius = np.sqrt(2.0 * surfaces / (3.0 * math.sqrt(3.0)))
        radius = np.where(radius > 0, radius, world.grid_resolution)
        hx = cx[:, None] + radius[:, None] * np.cos(_HEX_ANGLES)[None, :]
        hy = cy[:, None] + radius[:, None] * np.sin(_HEX_ANGLES)[None, :]
        hlat, hlon = proj.to_latlon(hx, hy)
        cell_lat, cell_lon = self._centres_latlon()
        zones = city.zone_of(cx, cy)
        cells = [ConsoleCell(index=c, id=world.cell_id(c), latitude=la, longitude=lo,
                             zone=ZONE_NAMES[z] if 0 <= z < len(ZONE_NAMES) else "OUTSIDE",
                             hexagon=list(zip(_round(hlat[c], 5), _round(hlon[c], 5), strict=True)))
                 for c, (la, lo, z) in enumerate(zip(_round(cell_lat), _round(cell_lon),
                                                     zones.tolist(), strict=True))]
        outline = city.boundary.simplify(OUTLINE_TOLERANCE_M)
        if outline.geom_type == "MultiPolygon":
            outline = max(outline.geoms, key=lambda g: g.area)
        ring = np.asarray(shapely.get_coordinates(outline.exterior) if hasattr(outline, "exterior")
                          else np.zeros((0, 2)))
        blat, blon = proj.to_latlon(ring[:, 0], ring[:, 1]) if len(ring) else (np.zeros(0), np.zeros(0))
        lat0, lon0 = proj.lat0, proj.lon0
        zone_rings = [ConsoleZone(name="CENTRE", latitude=lat0, longitude=lon0, radius=city.centre_radius_m),
                      ConsoleZone(name="RESIDENTIAL", latitude=lat0, longitude=lon0, radius=city.residential_radius_m)]
        places = [ConsolePlace(name=p.name, kind=p.kind, latitude=p.latitude, longitude=p.longitude)
                  for p in city.places]
        all_lat = np.concatenate([np.ravel(hlat), blat])
        all_lon = np.concatenate([np.ravel(hlon), blon])
        # Outward to the 5 decimals of the vertices, so every drawn vertex lies within.
        bounds = (_down(all_lat.min()), _down(all_lon.min()), _up(all_lat.max()), _up(all_lon.max()))
        return ConsoleMap(city=city.display_name, country=city.country.code, center=(lat0, lon0), bounds=bounds,
                          boundary=list(zip(_round(np.asarray(blat)), _round(np.asarray(blon)), strict=True)),
                          zones=zone_rings, places=places, cells=cells)

    def _cell_latlon(self, cell: int) -> tuple[float, float]:
        lat, lon = self._centres_latlon()
        return round(float(lat[cell]), 6), round(float(lon[cell]), 6)

    # -- live state -----------------------------------------------------------------------------------------
    def occupancy(self) -> ConsoleOccupancy:
        """Subscribers served by each cell now."""
        counts = self.world.cell_counts_at()
        return ConsoleOccupancy(now=self.world.clock.now, total=int(counts.sum()),
                                max=int(counts.max()) if len(counts) else 0, counts=counts.tolist())

    def state(self) -> ConsoleState:
        """Clock, occupancy, test phones, campaigns, geofences, recent geofence events and outbox counts."""
        clock = self.world.clock
        outbox = self._outbox()
        counts = outbox.counts()
        return ConsoleState(
            clock=ConsoleClock(now=clock.now, mode=clock.mode, factor=clock.factor, paused=clock.paused),
            occupancy=self.occupancy(), phones=self.phones(), campaigns=self._campaigns(),
            geofences=self._geofences(),
            geofence_events=[ConsoleEvent(event_id=r.event_id, subscription_id=r.subscription_id, type=r.event_type,
                                          time=r.at, state=r.delivery_state)
                             for r in outbox.latest(MAX_EVENTS, GEOFENCING_EVENTS)],
            outbox=ConsoleOutbox(pending=counts.pending, retrying=counts.retrying, delivered=counts.delivered,
                                 dead=counts.dead, cancelled=counts.cancelled))

    def phones(self) -> list[ConsolePhone]:
        """The test phones (up to :data:`MAX_PHONES`), where they are and which cell serves them."""
        world = self.world
        subs = world.test_subscribers()[:MAX_PHONES]
        cells = world.serving_cells(subs).tolist()
        out = []
        for i, cell in zip(subs.tolist(), cells, strict=True):
            loc = world.locate(i)
            out.append(ConsolePhone(msisdn=world.msisdn_of(i), name=world.subscriber_profile(i).name,
                                    latitude=loc.latitude, longitude=loc.longitude, cell_id=loc.cell_id,
                                    cell_index=cell, pinned=loc.pinned))
        return out

    def _campaigns(self) -> list[ConsoleCampaign]:
        out = []
        for view, totals in self.campaigns.latest(MAX_CAMPAIGNS):
            areas = [ConsoleArea(kind="CIRCLE", latitude=a.latitude, longitude=a.longitude, radius=a.radius)
                     if isinstance(a, CircleSpec) else ConsoleArea(kind="POLYGON", boundary=list(a.boundary))
                     for a in view.request.targeting.areas]
            out.append(ConsoleCampaign(id=view.id, partner_id=partner_public_id(view.partner_id),
                                       name=view.request.name, status=view.status, areas=areas, **totals))
        return out

    def _geofences(self) -> list[ConsoleGeofence]:
        out = []
        for g in self.geofencing.every()[-MAX_GEOFENCES:]:
            area: dict[str, Any] = g.spec.area
            centre = area.get("center", {})
            out.append(ConsoleGeofence(
                id=g.id, partner_id=partner_public_id(g.partner_id), msisdn=self.world.msisdn_of(g.spec.subscriber),
                event_type=g.spec.event_type, status=g.status, inside=g.inside, events=g.events,
                area=ConsoleArea(kind="CIRCLE", latitude=float(centre.get("latitude", 0.0)),
                                 longitude=float(centre.get("longitude", 0.0)), radius=float(area.get("radius", 0)))))
        return out

    # -- one subscriber -------------------------------------------------------------------------------------
    def track(self, index: int, hours: float) -> ConsoleTrack:
        """The cells that served subscriber ``index`` over the last ``hours`` (most recent :data:`MAX_TRACK`)."""
        world = self.world
        since = max(world.clock.now - timedelta(hours=hours), world.history_start)
        points = []
        for at, cell in world.cell_track(index, since)[-MAX_TRACK:]:
            if cell < 0:
                continue
            lat, lon = self._cell_latlon(cell)
            points.append(ConsoleTrackPoint(at=max(at, since), cell_id=world.cell_id(cell), cell_index=cell,
                                            latitude=lat, longitude=lon))
        profile = world.subscriber_profile(index)
        loc = world.locate(index)
        return ConsoleTrack(msisdn=world.msisdn_of(index), name=profile.name, is_test=profile.is_test, since=since,
                            points=points, latitude=loc.latitude, longitude=loc.longitude)


class ConsoleFeed:
    """Wakes the console's streams when the world moves (steps, cell changes, new lines, consent changes) or a
    webhook is attempted; ends them on shutdown.

    The world's listeners run in the event loop's thread (the control plane steps the world there), so an
    :class:`asyncio.Event` per wake-up is enough.
    """

    def __init__(self, world: World) -> None:
        self.version = 0
        """Moves seen so far: a stream sends when this differs from what it last sent."""
        self._moved = asyncio.Event()
        self._closed = asyncio.Event()
        self._rendered: tuple[int, str] | None = None
        world.on_step(lambda now: self.poke())
        world.on_cell_change(lambda now, subs, old, new: self.poke())
        world.on_line_activation(lambda now, subs, at: self.poke())  # a test phone added
        world.on_consent_change(lambda now, sub, purpose, channel, granted, source: self.poke())

    def render(self, compute: Callable[[], str]) -> str:
        """What ``compute`` gives as of the latest move, computed once however many streams are open."""
        if self._rendered is None or self._rendered[0] != self.version:
            self._rendered = (self.version, compute())
        return self._rendered[1]

    @property
    def closed(self) -> bool:
        """Whether the gateway is shutting down (streams end)."""
        return self._closed.is_set()

    def poke(self) -> None:
        """Something changed: wake every stream."""
        self.version += 1
        self._moved.set()
        self._moved = asyncio.Event()

    def close(self) -> None:
        """End every stream (on shutdown), now and for any stream opened later."""
        self._closed.set()
        self._moved.set()

    async def moves(self, min_interval_s: float, heartbeat_s: float) -> AsyncIterator[bool]:
        """Yield ``True`` at once and after each move (at most once per ``min_interval_s`` of wall time, so a
        fast clock does not flood the browser), ``False`` after ``heartbeat_s`` without one (keeps proxies from
        closing an idle stream); stops when the feed is closed."""
        sent = -1
        while not self.closed:
            if self.version != sent:
                sent = self.version
                yield True
                await self._wait_closed(min_interval_s)  # wall time: pacing network output, not domain time
                continue
            moved = self._moved
            woke = await self._wait_for(moved, heartbeat_s)
            if not woke and not self.closed:
                yield False

    async def _wait_closed(self, seconds: float) -> None:
        await self._wait_for(self._closed, seconds)

    @staticmethod
    async def _wait_for(event: asyncio.Event, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()
                return True
        return False

