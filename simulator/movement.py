"""Movement of the whole population through the ticks: day plans, departures, trips in progress, pins and holds.

Owns the :class:`~simulator.mobility.MobilityState` columns, each subscriber's routine place (where their day plan
says they should be), the day plans still being consumed and the extra departures scheduled for given ticks
(gatherings), and moves inbound roamers in and out of the country on the stays :mod:`simulator.roaming` schedules
(arrival point, accommodation, out of the routine while abroad: :attr:`Movement.away`). :mod:`simulator.mobility`
generates the plans; this module carries them out tick by tick. It knows
nothing of cells: :meth:`Movement.move` returns who moved and where they are, and the world maps that to cells.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from simulator.city import City
from simulator.mobility import (
    HOME,
    HUB_AIRPORT,
    HUB_STATION,
    WORK,
    DayPlan,
    MobilityState,
    PlanBuilder,
    Venues,
    leg_modes,
    travel_seconds,
)
from simulator.population import Population
from simulator.rng import BLOCK_SIZE, RngStreams
from simulator.roaming import ARRIVAL_WAIT_MIN, DEPARTURE_WAIT_MIN

ROUTINE = -3
"""Place code meaning "wherever the routine says the subscriber should be now" (end of a gathering)."""
NEVER = np.iinfo(np.int32).max
"""A ``hold_until`` that holds routine departures back until it is reset (inbound roamers abroad)."""

DepartureListener = Callable[[NDArray[np.int32], NDArray[np.int32]], None]


class Movement:
    """Everyone's whereabouts and trips; the world steps it once per tick (see :meth:`depart_due`, :meth:`move`).

    ``base_size`` subscribers follow day plans; test subscribers added later stay where they are put.
    ``on_departures(subscribers, places)`` hears every batch of departures (the realism tracker counts them).
    """

    def __init__(self, city: City, population: Population, venues: Venues, streams: RngStreams,
                 tick_seconds: int, on_departures: DepartureListener) -> None:
        self.population = population
        self.city = city
        self.venues = venues
        self.tick_seconds = tick_seconds
        self.base_size = population.size
        self.state = MobilityState.at_home(population.home_x, population.home_y)
        self.routine_place = np.full(population.size, HOME, np.int32)
        self.away = np.zeros(population.size, bool)
        """Inbound roamers out of the routine: abroad, or on their way out (no departure of theirs is carried out)."""
        self._plans: list[DayPlan] = []
        self._extra: dict[int, list[tuple[NDArray[np.int32], NDArray[np.int32]]]] = {}
        self._planner = PlanBuilder(city, venues, streams, population.first_row)
        self._on_departures = on_departures

    # -- day plans -----------------------------------------------------------------------------------
    def plan_day(self, day: int, weekday: int, day_start_tick: int | NDArray[np.int64]) -> DayPlan:
        """Add the departures of a new local day (plans already consumed are dropped); returns the new plan."""
        plan = self.build_plan(day, weekday, day_start_tick)
        self._plans = [p for p in self._plans if p.cursor < len(p.tick)] + [plan]
        return plan

    def build_plan(self, day: int, weekday: int, day_start_tick: int | NDArray[np.int64],
                   block_order: Sequence[int] | None = None) -> DayPlan:
        """Departures of a local day; blocks are independent, so ``block_order`` cannot change the result.

        ``day_start_tick`` is the tick of the day's local midnight, or one per time zone of the territory (indexed
        by the population's ``timezone``): each subscriber's day runs on their own zone's hours.
        """
        pop = self.population
        tpm = 60.0 / self.tick_seconds
        parts = []
        blocks = range(math.ceil(self.base_size / BLOCK_SIZE))
        for b in (blocks if block_order is None else block_order):
            lo, hi = b * BLOCK_SIZE, min((b + 1) * BLOCK_SIZE, self.base_size)
            parts.append(self._planner.block(
                day, weekday, b, day_start_tick, tpm, pop.status[lo:hi], pop.age[lo:hi],
                (pop.home_x[lo:hi], pop.home_y[lo:hi]), (pop.work_x[lo:hi], pop.work_y[lo:hi]), self.state,
                zone=pop.timezone[lo:hi]))
        return DayPlan.concat(parts)

    def place_at_start(self, plan: DayPlan, k: int) -> None:
        """Put everyone where their routine says they are at tick ``k`` (no travel)."""
        subs, places = plan.take_until(k)
        if len(subs) == 0:
            return
        last_sub, last_idx = np.unique(subs[::-1], return_index=True)
        last_place = places[::-1][last_idx]
        x, y = self.place_xy(last_sub, last_place)
        m = self.state
        m.x[last_sub] = x
        m.y[last_sub] = y
        m.place[last_sub] = last_place
        self.routine_place[last_sub] = last_place

    def place_xy(self, subs: NDArray[np.int32], places: NDArray[np.int32]
                 ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Local metres of each subscriber's place (home, work or a venue)."""
        pop = self.population
        vi = np.clip(places, 0, None)
        x = np.where(places == HOME, pop.home_x[subs], np.where(places == WORK, pop.work_x[subs], self.venues.x[vi]))
        y = np.where(places == HOME, pop.home_y[subs], np.where(places == WORK, pop.work_y[subs], self.venues.y[vi]))
        return x.astype(np.float32), y.astype(np.float32)

    # -- ticks ---------------------------------------------------------------------------------------
    def depart_due(self, k: int) -> None:
        """Start the trips due at tick ``k``: routine departures (unless pinned or held) and scheduled ones."""
        subs_parts = []
        place_parts = []
        for plan in self._plans:
            s, p = plan.take_until(k)
            if len(s):
                subs_parts.append(s)
                place_parts.append(p)
        m = self.state
        if subs_parts:
            subs = np.concatenate(subs_parts)
            places = np.concatenate(place_parts)
            self.routine_place[subs] = places
            free = ~m.pinned[subs] & (m.hold_until[subs] <= k) & ~self.away[subs]
            self.depart(k, subs[free], places[free])
        extra = self._extra.pop(k, None)
        if extra:
            subs = np.concatenate([e[0] for e in extra])
            places = np.concatenate([e[1] for e in extra])
            places = np.where(places == ROUTINE, self.routine_place[subs], places)
            free = ~m.pinned[subs] & ~self.away[subs]
            self.depart(k, subs[free], places[free])

    def depart(self, k: int, subs: NDArray[np.int32], places: NDArray[np.int32]) -> None:
        """Send ``subs`` towards ``places`` from where they stand, leaving at tick ``k``."""
        if len(subs) == 0:
            return
        m = self.state
        dx, dy = self.place_xy(subs, places)
        dist = np.hypot(dx - m.x[subs], dy - m.y[subs]).astype(np.float64)
        mode = leg_modes(self.venues, m.place[subs], places, dist)
        dur = np.ceil(travel_seconds(dist, mode) / self.tick_seconds).astype(np.int32)
        dur = np.where(dist > 1.0, np.maximum(dur, 1), 0)
        new = subs[~m.moving[subs]]
        m.ox[subs], m.oy[subs] = m.x[subs], m.y[subs]
        m.dx[subs], m.dy[subs] = dx, dy
        m.t0[subs] = k - 1
        m.t1[subs] = k - 1 + dur
        m.place[subs] = places
        m.moving[subs] = True
        if len(new):
            m.movers = np.concatenate([m.movers, np.unique(new)])
        self._on_departures(subs, places)

    def move(self, k: int) -> tuple[NDArray[np.int32], NDArray[np.float32], NDArray[np.float32]]:
        """Advance every trip to tick ``k``; returns who was travelling and where they now stand."""
        m = self.state
        movers = m.movers
        if len(movers) == 0:
            return movers, m.x[movers], m.y[movers]
        span = np.maximum(m.t1[movers] - m.t0[movers], 1)
        frac = np.clip((k - m.t0[movers]) / span, 0.0, 1.0).astype(np.float32)
        x = m.ox[movers] + (m.dx[movers] - m.ox[movers]) * frac
        y = m.oy[movers] + (m.dy[movers] - m.oy[movers]) * frac
        m.x[movers] = x
        m.y[movers] = y
        arrived = frac >= 1.0
        m.moving[movers[arrived]] = False
        m.movers = movers[~arrived]
        return movers, x, y

    # -- interventions -------------------------------------------------------------------------------
    def schedule(self, ticks: NDArray[np.int64], subs: NDArray[np.int32], places: NDArray[np.int32]) -> None:
        """Make ``subs[j]`` leave for ``places[j]`` at tick ``ticks[j]`` (``ROUTINE``: back to their routine)."""
        order = np.argsort(ticks, kind="stable")
        bounds = np.flatnonzero(np.diff(ticks[order])) + 1
        for grp in np.split(order, bounds):
            self._extra.setdefault(int(ticks[grp[0]]), []).append((subs[grp], places[grp]))

    def hold(self, subs: NDArray[np.int32], until: NDArray[np.int32]) -> None:
        """Ignore routine departures of ``subs`` before tick ``until`` (they attend something)."""
        self.state.hold_until[subs] = np.maximum(self.state.hold_until[subs], until)

    def pin(self, i: int, x: float, y: float) -> None:
        """Hold subscriber ``i`` standing at (x, y) until released."""
        m = self.state
        m.pinned[i] = True
        m.moving[i] = False
        m.movers = m.movers[m.movers != i]
        m.x[i], m.y[i] = x, y

    def release(self, i: int, k: int) -> None:
        """Let a pinned subscriber head back to their routine place from tick ``k``."""
        m = self.state
        if not m.pinned[i]:
            return
        m.pinned[i] = False
        if i < self.base_size:
            self.depart(k, np.asarray([i], np.int32), self.routine_place[[i]])

    def arrival_points(self, rows: NDArray[np.int32]) -> NDArray[np.int32]:
        """Venue where each inbound roamer arrives and leaves (``rows``: local rows of visitors).

        The airport nearest their accommodation in their own city (a city without an airport: its station, reached
        by train from the airport of arrival; a territory without airports: the accommodation itself, ``HOME``).
        """
        pop, city, venues = self.population, self.city, self.venues
        hub = venues.hub[venues.named_offset: venues.named_offset + len(city.places)]
        if len(rows) == 0 or not (hub == HUB_AIRPORT).any():
            return np.full(len(rows), HOME, np.int32)
        hx, hy = pop.home_x[rows].astype(np.float64), pop.home_y[rows].astype(np.float64)
        metro = city.metro_of(hx, hy)
        place_xy = city.place_xy
        # Nearest arrival point per visitor: an airport of their city first, else a station of it, else any airport.
        rank = np.where(hub == HUB_AIRPORT, 0.0, np.where(hub == HUB_STATION, 1.0, np.inf))[None, :]
        rank = rank + np.where(city.place_metro[None, :] == metro[:, None], 0.0, 2.0)
        dist = np.hypot(place_xy[None, :, 0] - hx[:, None], place_xy[None, :, 1] - hy[:, None])
        # Rank first, distance second (distances are far below 1e9 m).
        chosen = np.argmin(rank * 1e9 + dist, axis=1)
        points: NDArray[np.int32] = (venues.named_offset + chosen).astype(np.int32)
        return points

    def _stand(self, rows: NDArray[np.int32], places: NDArray[np.int32]) -> None:
        """Put ``rows`` standing at ``places`` (no trip under way)."""
        m = self.state
        m.x[rows], m.y[rows] = self.place_xy(rows, places)
        m.place[rows] = places
        if m.moving[rows].any():
            m.moving[rows] = False
            m.movers = m.movers[~np.isin(m.movers, rows)]

    def set_abroad(self, rows: NDArray[np.int32]) -> None:
        """Inbound roamers abroad at the start: out of the routine, standing where they will arrive."""
        self.away[rows] = True
        self.state.hold_until[rows] = NEVER
        self._stand(rows, self.arrival_points(rows))

    def arrive(self, k: int, rows: NDArray[np.int32]) -> None:
        """Inbound roamers landing at tick ``k``: they stand at their arrival point.

        They head to their accommodation after :data:`~simulator.roaming.ARRIVAL_WAIT_MIN`; their routine resumes
        from there.
        """
        if len(rows) == 0:
            return
        self.away[rows] = False
        self._stand(rows, self.arrival_points(rows))
        go = k + max(1, math.ceil(ARRIVAL_WAIT_MIN * 60 / self.tick_seconds))
        self.state.hold_until[rows] = go
        self.schedule(np.full(len(rows), go, np.int64), rows, np.full(len(rows), HOME, np.int32))

    def leave(self, k: int, rows: NDArray[np.int32]) -> NDArray[np.int64]:
        """Inbound roamers leaving at tick ``k`` for their arrival point, out of the routine from now on.

        Returns the tick each device detaches (:data:`~simulator.roaming.DEPARTURE_WAIT_MIN` after reaching it).
        """
        if len(rows) == 0:
            return np.zeros(0, np.int64)
        self.away[rows] = True
        self.state.hold_until[rows] = NEVER
        self.depart(k, rows, self.arrival_points(rows))
        wait = max(1, math.ceil(DEPARTURE_WAIT_MIN * 60 / self.tick_seconds))
        return np.maximum(self.state.t1[rows].astype(np.int64), k) + wait

    def add_pinned(self, x: float, y: float) -> None:
        """Add one subscriber (a test phone) standing pinned at (x, y)."""
        self.state.extend(x, y)
        self.state.pinned[-1] = True
        self.routine_place = np.append(self.routine_place, np.int32(HOME))
        self.away = np.append(self.away, False)
