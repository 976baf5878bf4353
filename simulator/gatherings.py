"""Gatherings: a share (or a head count) of people attending a place between two instants.

Owns the gatherings added so far, in order, and how attendees are drawn and scheduled: each gathering draws its
attendees from its own random stream, makes them leave so as to arrive during the lead-up, holds their routine
back until they leave again within half an hour of the end, then sends them back to their routine (through
:class:`simulator.movement.Movement`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import overload
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from simulator.city import City
from simulator.clock import as_utc
from simulator.errors import InvalidAreaError, InvalidConfigError
from simulator.mobility import Venues, travel_seconds
from simulator.movement import ROUTINE, Movement
from simulator.population import Population
from simulator.rng import RngStreams

MAX_GATHERING_TICK = np.iinfo(np.int32).max - 3600
"""Gatherings end before this tick: attendees' hold is an int32 tick number (plus up to half an hour of leaving)."""


@dataclass
class GatheringInfo:
    """A gathering: a share of people attending a place between two instants."""

    id: str
    name: str
    venue: int
    start: datetime
    end: datetime
    attendees: NDArray[np.int32]


@dataclass(frozen=True, slots=True)
class GatheringVenue:
    """Where a gathering takes place: WGS84 position, name (one of the city's named places) and time zone.

    The zone is the IANA zone of the metro the venue lies in: a gathering's local times are the venue's, wherever
    its attendees live.
    """

    latitude: float
    longitude: float
    place: str | None
    timezone: str = "UTC"

    def local(self, instant: datetime) -> datetime:
        """``instant`` in the venue's time zone (e.g. a gathering's start as the venue's clocks show it)."""
        return instant.astimezone(ZoneInfo(self.timezone))


class Gatherings(Sequence[GatheringInfo]):
    """The world's gatherings, oldest first (a read-only sequence); :meth:`add` schedules a new one."""

    def __init__(self, city: City, population: Population, venues: Venues, streams: RngStreams,
                 movement: Movement, start: datetime, tick_seconds: int,
                 tick_of: Callable[[datetime], int]) -> None:
        self.city = city
        self.population = population
        self.venues = venues
        self.streams = streams
        self.movement = movement
        self.start = start
        self.tick_seconds = tick_seconds
        self._tick_of = tick_of
        self._all: list[GatheringInfo] = []
        self.first_row = 0
        """Global row of this population's first subscriber (a shard's; 0 for a whole world)."""
        self.total: int | None = None
        """Base subscribers of the whole world attendees are drawn from (``None``: this population's own)."""

    @overload
    def __getitem__(self, index: int) -> GatheringInfo: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[GatheringInfo]: ...

    def __getitem__(self, index: int | slice) -> GatheringInfo | Sequence[GatheringInfo]:
        return self._all[index]

    def __len__(self) -> int:
        return len(self._all)

    def __iter__(self) -> Iterator[GatheringInfo]:
        return iter(self._all)

    def add(self, name: str, start: datetime, end: datetime, *, now: datetime, tick_index: int,
            place: str | None = None, latitude: float | None = None, longitude: float | None = None,
            share: float | None = None, count: int | None = None,
            arrive_before: timedelta = timedelta(minutes=60)) -> GatheringInfo:
        """Make a share (or a count) of the base population attend a place between ``start`` and ``end``.

        ``now`` and ``tick_index`` are the world's present: the start must not be before it, and nobody leaves
        before the next tick.
        """
        start, end = as_utc(start), as_utc(end)
        if end <= start:
            raise InvalidConfigError("gathering end must be after its start")
        if start < now:
            raise InvalidConfigError("gathering start must not be in the past")
        if self._tick_of(end) >= MAX_GATHERING_TICK:  # hold_until holds tick numbers as int32
            raise InvalidConfigError("gathering end is too far in the future for this world's tick")
        if place is not None:
            venue = self.venues.named_offset + self.city.place(place)
        elif latitude is not None and longitude is not None:
            x, y = self.city.projection.point_xy(latitude, longitude)
            if not bool(self.city.contains(x, y)):
                raise InvalidAreaError("gathering place is outside the city")
            venue = self.venues.add(x, y)
        else:
            raise InvalidConfigError("a gathering needs a named place or latitude and longitude")
        gid = f"gth_{len(self._all) + 1:04d}"
        rng = self.streams.stream("gathering", len(self._all) + 1)
        # A shard draws over the whole world, as the whole world does, and schedules its own attendees.
        pool = np.arange(self.movement.base_size if self.total is None else self.total, dtype=np.int32)
        if count is None:
            if share is None or not 0 < share <= 1:
                raise InvalidConfigError("gathering share must be in (0, 1]")
            count = round(share * len(pool))
        if not 0 < count <= len(pool):
            raise InvalidConfigError(f"gathering count must be between 1 and {len(pool)}")
        everyone = np.sort(rng.choice(pool, size=count, replace=False)).astype(np.int32)
        lead = rng.uniform(0, arrive_before.total_seconds(), count)
        leave_tick = self._tick_of(end) + rng.integers(0, max(1, 1800 // self.tick_seconds), count)
        mine = (everyone >= self.first_row) & (everyone < self.first_row + self.movement.base_size)
        attendees = (everyone[mine] - self.first_row).astype(np.int32)
        lead, leave_tick, count = lead[mine], leave_tick[mine], len(attendees)
        # Leave so as to arrive at a random moment in the lead-up; travel time from home is a fair estimate.
        x0 = self.population.home_x[attendees].astype(np.float64)
        y0 = self.population.home_y[attendees].astype(np.float64)
        dist = np.hypot(self.venues.x[venue] - x0, self.venues.y[venue] - y0)
        depart_at = start.timestamp() - travel_seconds(dist) - lead
        depart_tick = np.floor((depart_at - self.start.timestamp()) / self.tick_seconds).astype(np.int64)
        depart_tick = np.maximum(depart_tick, tick_index + 1)
        self.movement.hold(attendees, leave_tick.astype(np.int32))
        self.movement.schedule(depart_tick, attendees, np.full(count, venue, np.int32))
        self.movement.schedule(leave_tick, attendees, np.full(count, ROUTINE, np.int32))
        info = GatheringInfo(gid, name, int(venue), start, end, everyone)
        self._all.append(info)
        return info

    def venue_of(self, gathering: GatheringInfo) -> GatheringVenue:
        """WGS84 position of a gathering's venue, its name when it is one of the city's named places, its zone."""
        v = gathering.venue
        x, y = float(self.venues.x[v]), float(self.venues.y[v])
        lat, lon = self.city.projection.point_latlon(x, y)
        k = v - self.venues.named_offset
        zone = self.city.timezones[int(self.city.timezone_of(x, y))]
        return GatheringVenue(lat, lon, self.city.places[k].name if 0 <= k < len(self.city.places) else None, zone)
