"""Daily movement of the population: schedules, exploration and preferential return, travel.

Owns the per-subscriber movement columns (position, current place, trip origin/destination and times) and
the day plans. A day plan is a set of departure events ``(tick, subscriber, place)`` generated per local day
and per block of subscribers, each block with its own random stream, so plans never depend on how blocks are
scheduled. Leisure destinations follow exploration and preferential return (Song et al., Nature Physics 2010,
"Modelling the scaling properties of human mobility"): a person explores a new venue with probability
``rho * S**-gamma`` (S = venues known) at a distance drawn from a truncated power law, and otherwise returns
to a known venue with probability proportional to past visits. Travel is a straight line at a mode-dependent
speed. Only subscribers in transit are touched in a tick. :mod:`simulator.movement` carries the plans out tick by
tick; gatherings (:mod:`simulator.gatherings`) only hold routine departures back here (``hold_until``). This module
knows nothing of cells or consent.
"""

from __future__ import annotations

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

STATUS_EMPLOYED, STATUS_STUDENT, STATUS_RETIRED, STATUS_UNEMPLOYED, STATUS_VISITOR = 0, 1, 2, 3, 4


def travel_seconds(distance_m: NDArray[np.float64]) -> NDArray[np.float64]:
    """Door-to-door travel time: walking for short trips, riding (plus access time) for longer ones."""
    return np.where(distance_m <= WALK_MAX_M, distance_m / WALK_SPEED_MS,
                    RIDE_ACCESS_S + distance_m / RIDE_SPEED_MS)


@dataclass
class Venues:
    """Places people go to besides home and work: a jittered grid of venues plus the city's named places."""

    x: NDArray[np.float64]
    y: NDArray[np.float64]
    grid_origin: tuple[float, float]
    grid_shape: tuple[int, int]
    grid_venue: NDArray[np.int32]  # venue index of each grid square, -1 outside the city
    named_offset: int  # venues [named_offset, named_offset + len(city.places)) are the named places

    @classmethod
    def build(cls, city: City, streams: RngStreams) -> Venues:
        """One venue per grid square inside the city, jittered, plus one per named place."""
        rng = streams.stream("venues")
        minx, miny, maxx, maxy = city.bounds
        nx = int(np.ceil((maxx - minx) / VENUE_GRID_M))
        ny = int(np.ceil((maxy - miny) / VENUE_GRID_M))
        gx, gy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
        cx = minx + (gx.ravel() + rng.uniform(0.1, 0.9, nx * ny)) * VENUE_GRID_M
        cy = miny + (gy.ravel() + rng.uniform(0.1, 0.9, nx * ny)) * VENUE_GRID_M
        inside = city.contains(cx, cy)
        grid_venue = np.full(nx * ny, -1, dtype=np.int32)
        grid_venue[inside] = np.arange(int(inside.sum()), dtype=np.int32)
        vx, vy = cx[inside], cy[inside]
        named_offset = len(vx)
        if len(city.place_xy):
            vx = np.concatenate([vx, city.place_xy[:, 0]])
            vy = np.concatenate([vy, city.place_xy[:, 1]])
        return cls(vx, vy, (minx, miny), (nx, ny), grid_venue, named_offset)

    def add(self, x: float, y: float) -> int:
        """Add a venue (e.g. a gathering at arbitrary coordinates) and return its index."""
        self.x = np.append(self.x, x)
        self.y = np.append(self.y, y)
        return len(self.x) - 1

    def snap(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.int32]:
        """The venue of the grid square holding each point (-1 outside the city)."""
        nx, ny = self.grid_shape
        ix = np.floor((x - self.grid_origin[0]) / VENUE_GRID_M).astype(np.int64)
        iy = np.floor((y - self.grid_origin[1]) / VENUE_GRID_M).astype(np.int64)
        ok = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
        out = np.full(len(x), -1, dtype=np.int32)
        out[ok] = self.grid_venue[ix[ok] * ny + iy[ok]]
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
        self.known = np.concatenate([self.known, np.full((1, KNOWN_SLOTS), -1, np.int32)])
        self.visits = np.concatenate([self.visits, np.zeros((1, KNOWN_SLOTS), np.uint16)])


class PlanBuilder:
    """Generates a local day's departures for a block of subscribers (vectorised, one stream per block)."""

    def __init__(self, city: City, venues: Venues, streams: RngStreams) -> None:
        self.city = city
        self.venues = venues
        self.streams = streams

    def block(self, day: int, weekday: int, block: int, start_tick: int, ticks_per_min: float,
              status: NDArray[np.uint8], age: NDArray[np.uint8], anchor_home: tuple[NDArray, NDArray],  # type: ignore[type-arg]
              anchor_work: tuple[NDArray, NDArray], state: MobilityState,  # type: ignore[type-arg]
              ) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int32]]:
        """Departure events of block ``block`` on local day ``day`` (``start_tick`` = the day's local midnight)."""
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

        employed = status == STATUS_EMPLOYED
        student = status == STATUS_STUDENT
        visitor = status == STATUS_VISITOR
        p_work = np.where(employed, 0.92, np.where(student, 0.88, 0.0))
        if weekend:
            p_work = np.where(employed, 0.14, np.where(student, 0.05, 0.0))
        works = u_workday < p_work

        # Commuters: home -> work (-> lunch -> work) -> (leisure ->) home (-> evening out -> home).
        leave_home = np.where(student, 8 * 60 + 5 + 35 * t_leave, 8 * 60 + 50 * t_leave)
        leave_home = np.clip(leave_home, 5 * 60 + 30, 11 * 60)
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
        emit(evening, evening_at + dwell_out[:, 1] + 30, HOME)

        # Everyone else: 0-3 outings from home, some chained venue -> venue.
        free = ~works
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
        emit(late, late_at + dwell_out[:, 2] + 20, HOME)

        if not ticks:
            return np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int32)
        minute = np.clip(np.concatenate(ticks), 0, 24 * 60 - 1)
        tick = (start_tick + np.floor(minute * ticks_per_min)).astype(np.int32)
        return tick, np.concatenate(who), np.concatenate(where)

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
        n_named = len(self.venues.x) - self.venues.named_offset
        if n_named > 0 and not near:
            p_named = 0.04 if named_bias is None else np.where(named_bias[idx], 0.5, 0.04)
            named = u_named[idx] < p_named
            new = np.where(named, self.venues.named_offset + (u_pick[idx] * n_named).astype(np.int32) % n_named,
                           new)
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
