"""Daily movement of the population: schedules, exploration and preferential return, travel.

Owns the per-subscriber movement columns (position, current place, trip origin/destination and times) and
the day plans. A day plan is a set of departure events ``(tick, subscriber, place)`` generated per local day
and per block of subscribers, each block with its own random stream, so plans never depend on how blocks are
scheduled. Leisure destinations follow exploration and preferential return (Song et al., Nature Physics 2010,
"Modelling the scaling properties of human mobility"): a person explores a new venue with probability
``rho * S**-gamma`` (S = venues known) at a distance drawn from a truncated power law, and otherwise returns
to a known venue with probability proportional to past visits. Travel is a straight line at a mode-dependent
speed. Nights are not empty: night-shift and early-shift workers, evenings and nights out end after midnight
(a day plan runs past its local midnight; the next day's plan of a person starts after their last event).
In a territory of several cities a daily share of residents travels to another city by rail, air or road
(through the cities' stations and airports), some staying the night. Only subscribers in transit are touched
in a tick. :mod:`simulator.movement` carries the plans out tick by
tick; gatherings (:mod:`simulator.gatherings`) only hold routine departures back here (``hold_until``). This module
knows nothing of cells or consent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from simulator.city import City
from simulator.rng import BLOCK_SIZE, RngStreams

HOME = -1
WORK = -2

KNOWN_SLOTS = 6
"""How many leisure venues a person remembers (the least visited is forgotten when full)."""

EPR_RHO = 0.6
EPR_GAMMA = 0.21
JUMP_BETA = 0.8  # exponent of the jump-length density (r + r0) ** -(1 + beta); Song et al. report ~0.55-0.8
JUMP_R0_M = 400.0
JUMP_MAX_M = 25_000.0

WALK_SPEED_MS = 1.3
RIDE_SPEED_MS = 7.5  # door-to-door average of transit and car in a large city (~27 km/h)
WALK_MAX_M = 1_200.0
RIDE_ACCESS_S = 300.0  # waiting and walking to the stop or car

VENUE_GRID_M = 250.0

# Intercity legs (straight-line effective speeds): road beyond the first 20 km runs at motorway pace; rail and air
# run hub to hub (stations, airports) with their own speeds and, for flights, taxiing and climbing time.
ROAD_CITY_M = 20_000.0
ROAD_SPEED_MS = 25.0  # 90 km/h
RAIL_SPEED_MS = 35.0  # 126 km/h straight-line: KTX, Sapsan and ICE average 150-200 km/h on longer tracks
AIR_SPEED_MS = 210.0  # 756 km/h
AIR_OVERHEAD_S = 1_800.0
INTERCITY_M = 30_000.0
"""A leg between two hubs of the same kind (stations, airports) farther apart than this is a train or a flight."""
HUB_WAIT_MIN = (15.0, 75.0, 0.0)
"""Minutes spent at the departure hub before the long leg, per mode (RAIL, AIR, ROAD)."""
MODE_RAIL, MODE_AIR, MODE_ROAD = 0, 1, 2
HUB_NONE, HUB_STATION, HUB_AIRPORT = 0, 1, 2

NIGHT_SHIFT_PERMILLE = 60
"""Employed people working nights (Eurostat LFS: about 5-6% of the employed usually work at night)."""
EARLY_SHIFT_PERMILLE = 60
"""Employed people starting before 06:00 (bakeries, transport, logistics, hospitals)."""

STATUS_EMPLOYED, STATUS_STUDENT, STATUS_RETIRED, STATUS_UNEMPLOYED, STATUS_VISITOR = 0, 1, 2, 3, 4


def leg_modes(venues: Venues, origin: NDArray[np.int32], destination: NDArray[np.int32],
              distance_m: NDArray[np.float64]) -> NDArray[np.int8]:
    """Mode of each leg: rail between two stations, air between two airports, else the road.

    Only legs longer than :data:`INTERCITY_M` ride a train or a plane.
    """
    o, d = venues.hub_of(origin), venues.hub_of(destination)
    same = (o == d) & (distance_m > INTERCITY_M)
    return np.where(same & (d == HUB_STATION), MODE_RAIL,
                    np.where(same & (d == HUB_AIRPORT), MODE_AIR, MODE_ROAD)).astype(np.int8)


def travel_seconds(distance_m: NDArray[np.float64], mode: NDArray[np.int8] | int = MODE_ROAD
                   ) -> NDArray[np.float64]:
    """Door-to-door travel time: walking for short trips, riding (plus access time) for longer ones.

    Road trips beyond :data:`ROAD_CITY_M` run the rest at motorway pace; ``MODE_RAIL`` and ``MODE_AIR`` legs (hub
    to hub) at train and plane speed.
    """
    d = np.asarray(distance_m, dtype=np.float64)
    road = np.where(d <= WALK_MAX_M, d / WALK_SPEED_MS,
                    RIDE_ACCESS_S + np.minimum(d, ROAD_CITY_M) / RIDE_SPEED_MS
                    + np.maximum(d - ROAD_CITY_M, 0.0) / ROAD_SPEED_MS)
    m = np.asarray(mode)
    if not np.any(m != MODE_ROAD):
        return road
    return np.where(m == MODE_RAIL, d / RAIL_SPEED_MS, np.where(m == MODE_AIR, AIR_OVERHEAD_S + d / AIR_SPEED_MS,
                                                                  road))


@dataclass
class Venues:
    """Places people go to besides home and work: a jittered grid of venues plus the city's named places."""

    x: NDArray[np.float64]
    y: NDArray[np.float64]
    grid_origin: tuple[float, float]
    grid_shape: tuple[int, int]
    grid_venue: NDArray[np.int32]  # venue index of each grid square, -1 outside the city
    named_offset: int  # venues [named_offset, named_offset + len(city.places)) are the named places
    hub: NDArray[np.int8] = field(default_factory=lambda: np.zeros(0, np.int8))  # HUB_* of each venue
    grids: list[tuple[tuple[float, float], tuple[int, int], NDArray[np.int32]]] = field(default_factory=list)
    """One (origin, shape, venue per square) grid per metro; the first is ``grid_origin``, ``grid_shape``, ..."""

    @classmethod
    def build(cls, city: City, streams: RngStreams) -> Venues:
        """One venue per grid square inside the city (per metro), jittered, plus one per named place."""
        rng = streams.stream("venues")
        several = len(city.metros) > 1
        xs: list[NDArray[np.float64]] = []
        ys: list[NDArray[np.float64]] = []
        grids = []
        count = 0
        for m in range(len(city.metros)):
            minx, miny, maxx, maxy = city.metro_bounds(m)
            nx = int(np.ceil((maxx - minx) / VENUE_GRID_M))
            ny = int(np.ceil((maxy - miny) / VENUE_GRID_M))
            gx, gy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
            cx = minx + (gx.ravel() + rng.uniform(0.1, 0.9, nx * ny)) * VENUE_GRID_M
            cy = miny + (gy.ravel() + rng.uniform(0.1, 0.9, nx * ny)) * VENUE_GRID_M
            inside = city.contains(cx, cy)
            if several:  # metros' boxes overlap where cities touch: a square belongs to one metro only
                inside &= city.metro_of(cx, cy) == m
            grid_venue = np.full(nx * ny, -1, dtype=np.int32)
            grid_venue[inside] = count + np.arange(int(inside.sum()), dtype=np.int32)
            count += int(inside.sum())
            xs.append(cx[inside])
            ys.append(cy[inside])
            grids.append(((minx, miny), (nx, ny), grid_venue))
        vx, vy = np.concatenate(xs), np.concatenate(ys)
        named_offset = len(vx)
        hub = np.zeros(named_offset, np.int8)
        if len(city.place_xy):
            vx = np.concatenate([vx, city.place_xy[:, 0]])
            vy = np.concatenate([vy, city.place_xy[:, 1]])
            kinds = {"STATION": HUB_STATION, "AIRPORT": HUB_AIRPORT}
            hub = np.concatenate([hub, np.asarray([kinds.get(p.kind, HUB_NONE) for p in city.places], np.int8)])
        origin, shape, grid = grids[0]
        return cls(vx, vy, origin, shape, grid, named_offset, hub, grids)

    def add(self, x: float, y: float) -> int:
        """Add a venue (e.g. a gathering at arbitrary coordinates) and return its index."""
        self.x = np.append(self.x, x)
        self.y = np.append(self.y, y)
        self.hub = np.append(self.hub, np.int8(HUB_NONE))
        return len(self.x) - 1

    def hub_of(self, places: NDArray[np.int32]) -> NDArray[np.int8]:
        """Hub kind (``HUB_*``) of each place (home, work and ordinary venues are ``HUB_NONE``)."""
        if len(self.hub) == 0:
            return np.zeros(len(places), np.int8)
        return np.where(places >= 0, self.hub[np.clip(places, 0, len(self.hub) - 1)], HUB_NONE).astype(np.int8)

    def snap(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.int32]:
        """The venue of the grid square holding each point (-1 outside the city)."""
        out = np.full(len(x), -1, dtype=np.int32)
        for origin, (nx, ny), grid_venue in self.grids or [(self.grid_origin, self.grid_shape, self.grid_venue)]:
            ix = np.floor((x - origin[0]) / VENUE_GRID_M).astype(np.int64)
            iy = np.floor((y - origin[1]) / VENUE_GRID_M).astype(np.int64)
            ok = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
            if len(self.grids) > 1:
                ok &= out < 0
            out[ok] = grid_venue[ix[ok] * ny + iy[ok]]  # -1 outside this metro: a later grid may answer
        return out


@dataclass
class DayPlan:
    """Departure events of one local day, sorted by tick: at ``tick`` subscriber ``sub`` leaves for ``place``."""

    tick: NDArray[np.int32]
    sub: NDArray[np.int32]
    place: NDArray[np.int32]
    cursor: int = 0

    @classmethod
    def concat(cls, parts: list[tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int32]]]) -> DayPlan:
        """Merge event arrays into one plan sorted by (tick, subscriber)."""
        if not parts:
            return cls(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int32))
        tick = np.concatenate([p[0] for p in parts])
        sub = np.concatenate([p[1] for p in parts])
        # One int64 sort key instead of lexsort: half the temporaries on a million-person day.
        key = (tick.astype(np.int64) << 32) | sub.astype(np.int64)
        order = np.argsort(key, kind="stable")
        del key
        place = np.concatenate([p[2] for p in parts])[order]
        return cls(tick[order], sub[order], place)

    def take_until(self, tick: int) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
        """Events due at or before ``tick`` not yet taken."""
        # The needle must have the array's dtype: a Python int would make numpy cast the whole array first.
        end = int(np.searchsorted(self.tick, self.tick.dtype.type(tick), side="right"))
        sl = slice(self.cursor, end)
        self.cursor = max(end, self.cursor)
        return self.sub[sl], self.place[sl]


@dataclass
class MobilityState:
    """Movement columns of every subscriber (index = subscriber)."""

    x: NDArray[np.float32]
    y: NDArray[np.float32]
    place: NDArray[np.int32]  # HOME, WORK, a venue index, or the place a trip is heading to
    moving: NDArray[np.bool_]
    ox: NDArray[np.float32]
    oy: NDArray[np.float32]
    dx: NDArray[np.float32]
    dy: NDArray[np.float32]
    t0: NDArray[np.int32]  # departure tick
    t1: NDArray[np.int32]  # arrival tick
    hold_until: NDArray[np.int32]  # routine departures before this tick are ignored (gatherings)
    pinned: NDArray[np.bool_]
    known: NDArray[np.int32]  # (n, KNOWN_SLOTS) venue indices, -1 empty
    visits: NDArray[np.uint16]  # (n, KNOWN_SLOTS) visit counts
    movers: NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))
    busy_until: NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))
    """Tick of each person's last planned departure: a new day's plan only starts after it (past midnight)."""

    def __post_init__(self) -> None:
        if len(self.busy_until) != len(self.x):
            self.busy_until = np.full(len(self.x), np.iinfo(np.int32).min, np.int32)

    @classmethod
    def at_home(cls, home_x: NDArray[np.float32], home_y: NDArray[np.float32]) -> MobilityState:
        """Everyone at home, nobody moving."""
        n = len(home_x)
        return cls(
            home_x.astype(np.float32).copy(), home_y.astype(np.float32).copy(), np.full(n, HOME, np.int32),
            np.zeros(n, bool), np.zeros(n, np.float32), np.zeros(n, np.float32), np.zeros(n, np.float32),
            np.zeros(n, np.float32), np.zeros(n, np.int32), np.zeros(n, np.int32), np.zeros(n, np.int32),
            np.zeros(n, bool), np.full((n, KNOWN_SLOTS), -1, np.int32), np.zeros((n, KNOWN_SLOTS), np.uint16))

    def extend(self, x: float, y: float) -> None:
        """Add one subscriber standing at (x, y)."""
        def app(a: NDArray, v: object) -> NDArray:  # type: ignore[type-arg]
            return np.concatenate([a, np.asarray([v], dtype=a.dtype)])
        self.x, self.y = app(self.x, x), app(self.y, y)
        self.place = app(self.place, HOME)
        self.moving = app(self.moving, False)
        self.ox, self.oy, self.dx, self.dy = app(self.ox, 0), app(self.oy, 0), app(self.dx, 0), app(self.dy, 0)
        self.t0, self.t1, self.hold_until = app(self.t0, 0), app(self.t1, 0), app(self.hold_until, 0)
        self.pinned = app(self.pinned, False)
        self.busy_until = app(self.busy_until, np.iinfo(np.int32).min)
        self.known = np.concatenate([self.known, np.full((1, KNOWN_SLOTS), -1, np.int32)])
        self.visits = np.concatenate([self.visits, np.zeros((1, KNOWN_SLOTS), np.uint16)])


class PlanBuilder:
    """Generates a local day's departures for a block of subscribers (vectorised, one stream per block).

    ``first_row`` is the global row of local row 0 (a shard's :attr:`~simulator.population.Population.first_row`):
    per-person traits hash the global row, so a shard plans its people exactly as the whole world does.
    """

    def __init__(self, city: City, venues: Venues, streams: RngStreams, first_row: int = 0) -> None:
        self.city = city
        self.venues = venues
        self.streams = streams
        self.first_row = first_row

    def block(self, day: int, weekday: int, block: int, start_tick: int | NDArray[np.int64], ticks_per_min: float,
              status: NDArray[np.uint8], age: NDArray[np.uint8], anchor_home: tuple[NDArray, NDArray],  # type: ignore[type-arg]
              anchor_work: tuple[NDArray, NDArray], state: MobilityState,  # type: ignore[type-arg]
              zone: NDArray[np.uint8] | None = None,
              ) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int32]]:
        """Departure events of block ``block`` on local day ``day`` (``start_tick`` = the day's local midnight).

        In a territory of several time zones ``start_tick`` holds the midnight tick of each zone and ``zone`` each
        person's zone: the plan is drawn in local minutes, and each person's minutes count from their own midnight
        (a trip to another city keeps the hours of its origin).
        """
        rng = self.streams.stream("plan", day, block)
        lo = block * BLOCK_SIZE
        n = len(status)
        subs = np.arange(lo, lo + n, dtype=np.int32)
        weekend = weekday >= 5
        ticks: list[NDArray[np.float64]] = []
        who: list[NDArray[np.int32]] = []
        where: list[NDArray[np.int32]] = []

        def emit(mask: NDArray[np.bool_], minute: NDArray[np.float64], place: NDArray[np.int32] | int) -> None:
            idx = np.flatnonzero(mask)
            if len(idx) == 0:
                return
            ticks.append(minute[idx])
            who.append(subs[idx])
            where.append(np.broadcast_to(np.asarray(place, np.int32), (n,))[idx])

        # Everyone draws the same uniform columns in the same order, so a block's plan does not depend on
        # how many people fall in each group.
        u_workday = rng.random(n)
        t_leave = rng.normal(0.0, 1.0, n)
        dwell_work = rng.normal(0.0, 1.0, n)
        u_lunch = rng.random(n)
        u_after = rng.random(n)
        u_evening = rng.random(n)
        n_out_draw = rng.poisson(2.1 if weekend else 1.8, n)
        out_start = rng.uniform(8.5 * 60, 12 * 60, n)
        dwell_out = rng.gamma(2.0, 75.0, (n, 3)) + 40
        gap_out = rng.gamma(2.0, 40.0, (n, 3)) + 15
        u_chain = rng.random((n, 3))
        u_night = rng.random(n)
        night_at = rng.normal(0.0, 1.0, n)
        night_dwell = rng.gamma(4.0, 45.0, n)

        employed = status == STATUS_EMPLOYED
        student = status == STATUS_STUDENT
        visitor = status == STATUS_VISITOR
        # Shift work is a trait of the person (a hash of the global row, the same in a shard as in the whole world),
        # not of the day: the same people work nights.
        trait = ((subs.astype(np.int64) + self.first_row) * 2_654_435_761 + 12_345) % 1_000
        night_shift = employed & (trait < NIGHT_SHIFT_PERMILLE)
        early_shift = employed & (trait >= NIGHT_SHIFT_PERMILLE) & (trait < NIGHT_SHIFT_PERMILLE + EARLY_SHIFT_PERMILLE)
        p_work = np.where(employed, 0.92, np.where(student, 0.88, 0.0))
        if weekend:
            p_work = np.where(employed, np.where(night_shift | early_shift, 0.3, 0.14), np.where(student, 0.05, 0.0))
        works = u_workday < p_work
        intercity = self._intercity(rng, subs, anchor_home, visitor, emit)
        works &= ~intercity

        # Night shift: leave home around 21:30, work about 8.5 hours, come home the next morning.
        nights = works & night_shift
        night_leave = np.clip(21 * 60 + 30 + 30 * t_leave, 20 * 60, 23 * 60 + 30)
        emit(nights, night_leave, WORK)
        emit(nights, night_leave + np.clip(8.5 * 60 + 30 * dwell_work, 7 * 60, 10 * 60), HOME)
        works &= ~night_shift

        # Commuters: home -> work (-> lunch -> work) -> (leisure ->) home (-> evening out -> home).
        leave_home = np.where(student, 8 * 60 + 5 + 35 * t_leave, 8 * 60 + 50 * t_leave)
        leave_home = np.clip(leave_home, 5 * 60 + 30, 11 * 60)
        # Early shift: out between about 04:00 and 06:00.
        leave_home = np.where(early_shift, np.clip(5 * 60 + 25 * t_leave, 3 * 60 + 45, 6 * 60), leave_home)
        leave_work = leave_home + np.clip(np.where(student, 6.5 * 60, 9 * 60) + 60 * dwell_work, 4 * 60, 11 * 60)
        emit(works, leave_home, WORK)
        lunch = works & (u_lunch < 0.35) & ~student
        lunch_at = leave_home + np.clip((leave_work - leave_home) * 0.45, 120, None)
        lunch_venue = self._explore_or_return(rng, lunch, anchor_work, state, lo, near=True)
        emit(lunch, lunch_at, lunch_venue)
        emit(lunch, lunch_at + 35 + 20 * rng.random(n), WORK)
        after = works & (u_after < 0.55)
        after_venue = self._explore_or_return(rng, after, anchor_work, state, lo)
        emit(after, leave_work, after_venue)
        back_home = leave_work + np.where(after, dwell_out[:, 0] + 30, 0.0)
        emit(works, back_home, HOME)
        evening = works & (u_evening < 0.25)
        evening_at = np.maximum(back_home + 60, 19 * 60 + 30 * rng.random(n))
        evening_venue = self._explore_or_return(rng, evening, anchor_home, state, lo)
        emit(evening, evening_at, evening_venue)
        # An evening out lasts two hours or so; a few run on past midnight (never clipped to it).
        emit(evening, evening_at + 0.6 * dwell_out[:, 1] + 30, HOME)

        # Everyone else: 0-3 outings from home, some chained venue -> venue.
        free = ~works & ~nights & ~intercity
        n_out = np.where(visitor, np.clip(n_out_draw + 2, 2, 3), np.clip(n_out_draw, 0, 3))
        if not weekend:
            # A weekday home day has a small chance of no outing at all even for the active.
            n_out = np.where(free & (age >= 75), np.minimum(n_out, 1), n_out)
        t = out_start.copy()
        at_home = np.ones(n, bool)
        for k in range(3):
            go = free & (n_out > k) & (t < 21 * 60)
            anchor = anchor_home
            venue = self._explore_or_return(rng, go, anchor, state, lo, named_bias=visitor)
            emit(go, t, venue)
            t = t + dwell_out[:, k]
            chain = go & (n_out > k + 1) & (u_chain[:, k] < 0.35)
            home_now = go & ~chain
            emit(home_now, t, HOME)
            at_home = np.where(go, ~chain, at_home)
            t = t + np.where(home_now, gap_out[:, k] + 30, 0.0)
        emit(free & ~at_home, t, HOME)
        # An evening out (dinner, friends, a show) for some of those who spent the day off work.
        late = free & (u_evening < 0.22) & (t < 20 * 60) & ~visitor
        late_at = np.maximum(t + 45, 18 * 60 + 90 * rng.random(n))
        late_venue = self._explore_or_return(rng, late, anchor_home, state, lo)
        emit(late, late_at, late_venue)
        emit(late, late_at + 0.6 * dwell_out[:, 2] + 30, HOME)

        # A night out (bars, clubs, friends) for young adults, mostly on Friday and Saturday nights: out around
        # 22:30, home between midnight and 05:00.
        young = (age >= 18) & (age <= 35) & ~nights & ~intercity & ~(works & early_shift)
        p_night = 0.12 if weekday in (4, 5) else 0.03
        night_out = young & (u_night < p_night) & ~evening & ~late
        night_out_at = np.clip(22 * 60 + 30 + 40 * night_at, 21 * 60, 24 * 60)
        night_venue = self._explore_or_return(rng, night_out, anchor_home, state, lo)
        emit(night_out, night_out_at, night_venue)
        emit(night_out, night_out_at + 60 + night_dwell, HOME)

        if not ticks:
            return np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int32)
        # A plan runs on past its midnight (night shifts, nights out, overnight trips), at most to the next one.
        minute = np.clip(np.concatenate(ticks), 0, 48 * 60 - 1)
        sub = np.concatenate(who)
        start: int | NDArray[np.int64] = start_tick
        if np.ndim(start_tick) > 0:
            starts = np.asarray(start_tick, np.int64)
            start = starts[zone[sub - lo]] if zone is not None and len(starts) > 1 else int(starts[0])
        tick = (start + np.floor(minute * ticks_per_min)).astype(np.int32)
        place = np.concatenate(where)
        # Whoever is still on yesterday's plan (home from a night shift, back from another city) starts today's
        # after it: their earlier events are dropped.
        keep = tick > state.busy_until[sub]
        tick, sub, place = tick[keep], sub[keep], place[keep]
        last = np.full(n, np.iinfo(np.int32).min, np.int32)
        np.maximum.at(last, sub - lo, tick)
        state.busy_until[subs] = np.maximum(state.busy_until[subs], last)
        return tick, sub, place

    def _intercity(self, rng: np.random.Generator, subs: NDArray[np.int32],
                   anchor_home: tuple[NDArray, NDArray], visitor: NDArray[np.bool_],  # type: ignore[type-arg]
                   emit: Callable[[NDArray[np.bool_], NDArray[np.float64], NDArray[np.int32] | int], None]
                   ) -> NDArray[np.bool_]:
        """Emit the legs of today's trips to other cities; returns who travels (nobody in a one-city territory).

        A traveller leaves in the morning for a venue near another city's centre (destinations in proportion to
        the cities' population shares) by rail or air through the cities' stations and airports, or by road; a
        day trip comes back in the evening, an overnight one the next day.
        """
        city = self.city
        n = len(subs)
        ic = city.intercity
        if len(city.metros) < 2 or ic.daily_share <= 0:
            return np.zeros(n, bool)
        u_go = rng.random(n)
        u_dest = rng.random(n)
        u_mode = rng.random(n)
        u_stay = rng.random(n)
        t_go = rng.normal(0.0, 1.0, n)
        dwell = rng.uniform(4 * 60, 9 * 60, n)
        back_next = rng.uniform(9 * 60, 15 * 60, n)
        spot = rng.normal(0.0, 1.0, (n, 2))
        hx, hy = anchor_home[0].astype(np.float64), anchor_home[1].astype(np.float64)
        home_metro = city.metro_of(hx, hy)
        go = (u_go < ic.daily_share) & ~visitor
        idx = np.flatnonzero(go)
        if len(idx) == 0:
            return go
        shares = city.metro_shares
        n_m = len(shares)
        w = np.where(np.arange(n_m)[None, :] == home_metro[idx, None], 0.0, shares[None, :])
        cum = np.cumsum(w, axis=1)
        dest = np.minimum((cum < (u_dest[idx] * cum[:, -1])[:, None]).sum(axis=1), n_m - 1)
        mx = np.asarray([m.x for m in city.metros])
        my = np.asarray([m.y for m in city.metros])
        mr = np.asarray([m.centre_radius_m for m in city.metros])
        origin_m = home_metro[idx]
        span = np.hypot(mx[dest] - mx[origin_m], my[dest] - my[origin_m])
        mode = np.searchsorted(np.cumsum(ic.modes), u_mode[idx] * sum(ic.modes), side="right").astype(np.int8)
        mode = np.minimum(mode, MODE_ROAD).astype(np.int8)
        mode = np.where(span > 1_500_000, MODE_AIR, mode).astype(np.int8)
        mode = np.where((mode == MODE_AIR) & (span < 150_000), MODE_RAIL, mode).astype(np.int8)
        hubs = self._hubs()
        o_hub = np.where(mode == MODE_RAIL, hubs[0][origin_m], np.where(mode == MODE_AIR, hubs[1][origin_m], -1))
        d_hub = np.where(mode == MODE_RAIL, hubs[0][dest], np.where(mode == MODE_AIR, hubs[1][dest], -1))
        mode = np.where((o_hub < 0) | (d_hub < 0), MODE_ROAD, mode).astype(np.int8)
        # The destination: a venue near the other city's centre (a meeting, relatives, a hotel).
        tx = mx[dest] + spot[idx, 0] * mr[dest]
        ty = my[dest] + spot[idx, 1] * mr[dest]
        venue = self.venues.snap(tx, ty)
        venue = np.where(venue < 0, self.venues.snap(mx[dest], my[dest]), venue)
        ok = venue >= 0
        idx, mode, venue, o_hub, d_hub = idx[ok], mode[ok], venue[ok], o_hub[ok], d_hub[ok]
        go = np.zeros(n, bool)
        go[idx] = True
        vx, vy = self.venues.x, self.venues.y
        hxi, hyi = hx[idx], hy[idx]
        leave = np.clip(7 * 60 + 90 * t_go[idx], 5 * 60, 13 * 60)
        via = mode != MODE_ROAD
        oh, dh = np.clip(o_hub, 0, None), np.clip(d_hub, 0, None)
        to_hub = travel_seconds(np.hypot(vx[oh] - hxi, vy[oh] - hyi)) / 60
        long_leg = travel_seconds(np.hypot(vx[dh] - vx[oh], vy[dh] - vy[oh]), mode) / 60
        from_hub = travel_seconds(np.hypot(vx[venue] - vx[dh], vy[venue] - vy[dh])) / 60
        wait = np.asarray(HUB_WAIT_MIN)[mode]
        # Out: home -> origin hub -> destination hub -> venue (by road: home -> venue).
        t_hub = leave + to_hub + wait
        t_dest_hub = t_hub + long_leg + 10
        arrive = np.where(via, t_dest_hub + from_hub,
                          leave + travel_seconds(np.hypot(vx[venue] - hxi, vy[venue] - hyi)) / 60)
        overnight = u_stay[idx] < ic.overnight_share
        back = np.where(overnight, np.maximum(24 * 60 + back_next[idx], arrive + 8 * 60), arrive + dwell[idx])
        # Back: venue -> destination hub -> origin hub -> home (by road: venue -> home).
        b_hub = back + from_hub + wait
        b_origin_hub = b_hub + long_leg + 10

        def emit_at(mask: NDArray[np.bool_], minute: NDArray[np.float64],
                    place: NDArray[np.int64] | NDArray[np.int32]) -> None:
            full_minute = np.zeros(n)
            full_place = np.zeros(n, np.int32)
            full_mask = np.zeros(n, bool)
            full_minute[idx] = minute
            full_place[idx] = place
            full_mask[idx] = mask
            emit(full_mask, full_minute, full_place)

        everyone = np.ones(len(idx), bool)
        emit_at(via, leave, o_hub)
        emit_at(via, t_hub, d_hub)
        emit_at(everyone, np.where(via, t_dest_hub, leave), venue)
        emit_at(via, back, d_hub)
        emit_at(via, b_hub, o_hub)
        emit_at(everyone, np.where(via, b_origin_hub, back), np.full(len(idx), HOME))
        return go

    def _hubs(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Venue of each metro's first station and first airport (-1 where it has none)."""
        city = self.city
        out = np.full((2, len(city.metros)), -1, np.int64)
        for k, place in enumerate(city.places):
            kind = {"STATION": 0, "AIRPORT": 1}.get(place.kind)
            m = int(city.place_metro[k])
            if kind is not None and out[kind, m] < 0:
                out[kind, m] = self.venues.named_offset + k
        return out[0], out[1]

    def _explore_or_return(self, rng: np.random.Generator, mask: NDArray[np.bool_],
                           anchor: tuple[NDArray, NDArray], state: MobilityState, lo: int,  # type: ignore[type-arg]
                           near: bool = False, named_bias: NDArray[np.bool_] | None = None) -> NDArray[np.int32]:
        """Choose a leisure venue for every masked person by exploration and preferential return."""
        n = len(mask)
        u_explore = rng.random(n)
        u_pick = rng.random(n)
        r = rng.random(n)
        theta = rng.uniform(0.0, 2 * np.pi, n)
        u_named = rng.random(n)
        venue = np.full(n, HOME, np.int32)
        idx = np.flatnonzero(mask)
        if len(idx) == 0:
            return venue
        rows = idx + lo
        known = state.known[rows]
        visits = state.visits[rows].astype(np.float64)
        s = (known >= 0).sum(axis=1)
        p_explore = np.where(s == 0, 1.0, EPR_RHO * np.maximum(s, 1) ** -EPR_GAMMA)
        explore = u_explore[idx] < p_explore
        # Return: pick a known slot with probability proportional to its visits.
        total = visits.sum(axis=1)
        cum = np.cumsum(visits, axis=1)
        slot = np.minimum((cum < (u_pick[idx] * total)[:, None]).sum(axis=1), KNOWN_SLOTS - 1)
        ret_venue = known[np.arange(len(idx)), slot]
        # Explore: a jump of truncated power-law length from the anchor, snapped to the venue grid.
        r0 = 150.0 if near else JUMP_R0_M
        rmax = 1_500.0 if near else JUMP_MAX_M
        a = (r0 ** -JUMP_BETA - (rmax + r0) ** -JUMP_BETA)
        dist = (r0 ** -JUMP_BETA - r[idx] * a) ** (-1.0 / JUMP_BETA) - r0
        ax, ay = anchor[0][idx].astype(np.float64), anchor[1][idx].astype(np.float64)
        new = np.full(len(idx), -1, np.int32)
        for shrink in (1.0, 0.5, 0.25, 0.05):
            todo = new < 0
            if not todo.any():
                break
            tx = ax[todo] + np.cos(theta[idx][todo]) * dist[todo] * shrink
            ty = ay[todo] + np.sin(theta[idx][todo]) * dist[todo] * shrink
            new[todo] = self.venues.snap(tx, ty)
        n_named = len(self.city.places)
        if n_named > 0 and not near:
            p_named = 0.04 if named_bias is None else np.where(named_bias[idx], 0.5, 0.04)
            named = u_named[idx] < p_named
            if len(self.city.metros) == 1:
                pick = (u_pick[idx] * n_named).astype(np.int32) % n_named
            else:  # a named place of the person's own city
                pick = np.full(len(idx), -1, np.int32)
                anchor_metro = self.city.metro_of(ax, ay)
                for mi in range(len(self.city.metros)):
                    own = np.flatnonzero(self.city.place_metro == mi).astype(np.int32)
                    sel = anchor_metro == mi
                    if len(own):
                        pick[sel] = own[(u_pick[idx][sel] * len(own)).astype(np.int32) % len(own)]
                named &= pick >= 0
            new = np.where(named, self.venues.named_offset + pick, new)
        new = np.where(new < 0, self.venues.snap(ax, ay), new)
        chosen = np.where(explore | (ret_venue < 0), new, ret_venue)
        # Remember: a returning visit counts up; an explored venue takes an empty or the least visited slot.
        is_known = known == chosen[:, None]
        has = is_known.any(axis=1)
        slot_known = np.argmax(is_known, axis=1)
        slot_new = np.argmin(np.where(known < 0, -1.0, visits), axis=1)
        use_slot = np.where(has, slot_known, slot_new)
        ar = np.arange(len(idx))
        known[ar, use_slot] = chosen
        visits[ar, use_slot] = np.where(has, visits[ar, use_slot] + 1, 1)
        state.known[rows] = known
        state.visits[rows] = np.minimum(visits, 65_535).astype(np.uint16)
        venue[idx] = chosen
        return venue
