"""The World: owns the clock, city, network, population, consent, mobility, presence and devices.

It advances in fixed ticks (``step``/``run_until``), notifies listeners of cell and consent changes, and offers
the public methods the gateway uses (locate, occupants of an area, visitors in a window, profiles, consent,
pins, test subscribers, inboxes). Everything random comes from one root seed through named streams; the
subscribers' routines are processed per block, so results never depend on block scheduling. The world is
synchronous and not thread-safe; it knows nothing of HTTP.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from simulator.city import City, city_from_preset, with_locale
from simulator.clock import MAX_INSTANT, MIN_INSTANT, ClockMode, SimClock, as_utc, from_micros, to_micros
from simulator.consent import ConsentLedger, ConsentRates
from simulator.devices import Devices
from simulator.errors import InvalidAreaError, InvalidConfigError, UnknownSubscriberError
from simulator.geo import Area
from simulator.inbox import MessageTemplate
from simulator.lifecycle import SimCards
from simulator.mobility import HOME, DayPlan, MobilityState, PlanBuilder, Venues, travel_seconds
from simulator.network import Network
from simulator.population import Population
from simulator.presence import PresenceHistory
from simulator.profiles import OS_NAMES
from simulator.realism import RealismTracker
from simulator.rng import BLOCK_SIZE, RngStreams
from simulator.segments import Segment

ROUTINE = -3
"""Place code meaning "wherever the routine says the subscriber should be now" (end of a gathering)."""

DEFAULT_START = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)

_MAX_GATHERING_TICK = np.iinfo(np.int32).max - 3600
"""Gatherings end before this tick: attendees' hold is an int32 tick number (plus up to half an hour of leaving)."""

CellListener = Callable[[datetime, NDArray[np.int32], NDArray[np.int32], NDArray[np.int32]], None]
ConsentListener = Callable[[datetime, int, str, "str | None", bool, str], None]
StepListener = Callable[[datetime], None]
SimSwapListener = Callable[[datetime, NDArray[np.int32], NDArray[np.int64]], None]
ActivationListener = Callable[[datetime, NDArray[np.int32], NDArray[np.int64]], None]


@dataclass
class WorldConfig:
    """Everything needed to build a world; the same config always builds the same world."""

    city: str = "moscow"
    subscribers: int = 100_000
    seed: int = 0
    start: datetime = DEFAULT_START
    tick_seconds: int = 60
    fictional_numbers: bool = False
    roaming_share: float = 0.02
    consent: ConsentRates | None = None
    realism_sample: int = 2_000
    custom_city: City | None = field(default=None, repr=False)
    locale: str | None = None
    """Faker locale of the subscribers' names and e-mails; default: the city's."""

    def validate(self) -> None:
        """Raise InvalidConfigError naming the first bad field."""
        if self.subscribers < 1:
            raise InvalidConfigError("subscribers must be at least 1")
        if self.subscribers > 5_000_000:
            raise InvalidConfigError("subscribers must be at most 5,000,000")
        if self.seed < 0:
            raise InvalidConfigError("seed must be a non-negative integer")
        if not 1 <= self.tick_seconds <= 3600:
            raise InvalidConfigError("tick must be between 1 and 3600 seconds")
        if not 0.0 <= self.roaming_share <= 0.5:
            raise InvalidConfigError("roaming share must be between 0 and 0.5")
        if self.start.tzinfo is None:
            raise InvalidConfigError("start must have a time zone")
        if not MIN_INSTANT <= self.start < MAX_INSTANT:
            raise InvalidConfigError(f"start must be from {MIN_INSTANT.isoformat()} "
                                     f"to before {MAX_INSTANT.isoformat()}")


@dataclass(frozen=True)
class LocalClock:
    """Per-subscriber local wall time at one instant (aligned with the subscribers asked about).

    ``day`` is the local calendar day as a proleptic Gregorian ordinal (for per-day caps); ``weekday`` is 0 for
    Monday; ``minute`` is the minute of the local day (0-1439).
    """

    hour: NDArray[np.int16]
    minute: NDArray[np.int16]
    weekday: NDArray[np.int8]
    day: NDArray[np.int32]


@dataclass
class GatheringInfo:
    """A gathering: a share of people attending a place between two instants."""

    id: str
    name: str
    venue: int
    start: datetime
    end: datetime
    attendees: NDArray[np.int32]


class World:
    """The simulated operator's world. Build with :meth:`build`."""

    def __init__(self, config: WorldConfig, city: City, network: Network, population: Population,
                 consent: ConsentLedger, devices: Devices, venues: Venues, streams: RngStreams) -> None:
        self.config = config
        self.city = city
        self.network = network
        self.population = population
        self.consent = consent
        self.devices = devices
        self.venues = venues
        self.streams = streams
        self.tz = ZoneInfo(city.timezone)
        self.start = as_utc(config.start)
        self.tick = timedelta(seconds=config.tick_seconds)
        self.clock = SimClock(self.start)
        self.tick_index = 0
        self.in_tick = False
        """True while :meth:`step` runs (its callbacks, moves and listeners): the tick's effects are incomplete."""
        self.base_size = population.size
        self.mobility = MobilityState.at_home(population.home_x, population.home_y)
        self.routine_place = np.full(population.size, HOME, np.int32)
        self._plans: list[DayPlan] = []
        self._next_day_tick = 0
        self._day = -1
        self._weekday = 0
        self._extra: dict[int, list[tuple[NDArray[np.int32], NDArray[np.int32]]]] = {}
        self.gatherings: list[GatheringInfo] = []
        self._planner = PlanBuilder(city, venues, streams)
        self._cell_listeners: list[CellListener] = []
        self._consent_listeners: list[ConsentListener] = []
        self._step_listeners: list[StepListener] = []
        self._sim_listeners: list[SimSwapListener] = []
        self._activation_listeners: list[ActivationListener] = []
        self.sims = SimCards(population.size, self.start, streams)
        self._place_cell_cache: dict[str, NDArray[np.int32]] = {}
        self._history_days: int | None = None
        self._inbox_days: int | None = None
        self.tick_ms_last = 0.0
        self.tick_ms_total = 0.0
        self.ticks_run = 0
        n = population.size
        sample = np.linspace(0, self.base_size - 1, min(config.realism_sample, self.base_size)).astype(np.int32)
        self.realism = RealismTracker(np.unique(sample), n)
        self._ensure_plan(0, initial=True)
        self.cell = network.cell_of(self.mobility.x, self.mobility.y).astype(np.int32)
        self.last_change_tick = np.full(n, -1, np.int32)
        ticks_per_hour = max(1, 3600 // config.tick_seconds)
        self.presence = PresenceHistory(self.cell, 0, ticks_per_hour)

    # -- construction --------------------------------------------------------------------------------
    @classmethod
    def build(cls, config: WorldConfig) -> World:
        """Build city, network, population, consent and devices from ``config``."""
        config.validate()
        streams = RngStreams(config.seed)
        city = config.custom_city or city_from_preset(config.city)
        if config.locale is not None:
            city = with_locale(city, config.locale)
        network = Network.build(city, streams)
        population = Population.build(city, config.subscribers, streams, fictional_numbers=config.fictional_numbers,
                                      roaming_share=config.roaming_share)
        consent = ConsentLedger.build(population.size, as_utc(config.start), streams, config.consent)
        devices = Devices(population.size, streams)
        venues = Venues.build(city, streams)
        return cls(config, city, network, population, consent, devices, venues, streams)

    # -- time ----------------------------------------------------------------------------------------
    def time_of(self, tick: int) -> datetime:
        """Instant of tick ``tick``."""
        return self.start + tick * self.tick

    def tick_of(self, at: datetime) -> int:
        """Last tick at or before ``at``."""
        return math.floor((as_utc(at) - self.start) / self.tick)

    def local_time(self, at: datetime | None = None) -> datetime:
        """``at`` (default now) in the city's time zone."""
        return (at or self.clock.now).astimezone(self.tz)

    def step(self) -> None:
        """Advance one tick: scheduled callbacks up to it, then movement and cell changes."""
        t_wall = time.perf_counter()
        k = self.tick_index + 1
        now = self.time_of(k)
        self.in_tick = True
        try:
            self.clock.run_until(now)
            self.tick_index = k
            self._ensure_plan(k)
            self._depart_due(k)
            self._move(k, now)
            swapped, swapped_at = self.sims.advance(now)
            if len(swapped):
                for sim_fn in self._sim_listeners:
                    sim_fn(now, swapped, swapped_at)
            joined, joined_at = self.sims.draw_activations(now)
            if len(joined):
                home = ~self.population.roaming[joined]  # inbound roamers hold foreign SIMs: not this operator's
                self._activated(now, joined[home], joined_at[home])
            self.realism.on_tick(self._day, self._weekday, self.mobility.place, self.mobility.moving)
            for fn in self._step_listeners:
                fn(now)
        finally:
            self.in_tick = False
        self.tick_ms_last = (time.perf_counter() - t_wall) * 1000.0
        self.tick_ms_total += self.tick_ms_last
        self.ticks_run += 1

    def run_until(self, until: datetime) -> None:
        """Step tick by tick up to ``until`` (refusing the past), then run callbacks due by ``until``."""
        until = as_utc(until)
        if until < self.clock.now:
            self.clock.run_until(until)  # raises ClockError with a clear message
        while self.time_of(self.tick_index + 1) <= until:
            self.step()
        self.clock.run_until(until)

    def keep_history(self, days: int | None) -> None:
        """Keep ``days`` simulated days of presence history and realism facts behind now (``None`` keeps all).

        A long run then holds a bounded history (see :class:`simulator.presence.PresenceHistory`).
        """
        if days is not None and days < 1:
            raise InvalidConfigError("history must be kept for at least one day")
        self._history_days = days
        if days is None:
            self.presence.retention_ticks = None
        else:
            ticks = self.presence.retention_ticks = math.ceil(timedelta(days=days) / self.tick)
            self.presence.forget_before(self.tick_index - ticks)
            self.realism.forget_before(self._day - days)

    def keep_inbox(self, days: int | None) -> None:
        """Keep ``days`` simulated days of device inboxes behind now (``None`` keeps all).

        Messages received more than ``days`` days before the current local day began are forgotten, at once
        and then at every local midnight, so an inbox shows between ``days`` and ``days + 1`` days of messages.
        """
        if days is not None and days < 1:
            raise InvalidConfigError("inboxes must be kept for at least one day")
        self._inbox_days = days
        if days is not None:
            local = self.local_time(self.clock.now)
            midnight = datetime(local.year, local.month, local.day, tzinfo=self.tz)
            self.devices.inboxes.forget_before(to_micros(midnight - timedelta(days=days)))

    @property
    def history_start(self) -> datetime:
        """Earliest instant the presence history answers for (the start, or the window's start once trimmed)."""
        return self.time_of(max(0, self.presence.start_tick))

    def advance(self, delta: timedelta) -> None:
        """Run for ``delta`` of simulated time."""
        self.run_until(self.clock.now + delta)

    def set_clock_mode(self, mode: ClockMode, factor: float | None = None, wall: float | None = None) -> None:
        """Switch the clock between manual and paced."""
        self.clock.set_mode(mode, factor, wall)

    # -- routine -------------------------------------------------------------------------------------
    def _ensure_plan(self, k: int, initial: bool = False) -> None:
        while k >= self._next_day_tick:
            local = self.local_time(self.time_of(k))
            midnight = datetime(local.year, local.month, local.day, tzinfo=self.tz)
            day_start_tick = self.tick_of(midnight.astimezone(UTC))
            day = (local.date() - self.local_time(self.start).date()).days
            self._day = day
            self._weekday = local.weekday()
            if self._history_days is not None:
                self.realism.forget_before(day - self._history_days)
            if self._inbox_days is not None:
                self.devices.inboxes.forget_before(to_micros(midnight - timedelta(days=self._inbox_days)))
            plan = self._build_plan(day, local.weekday(), day_start_tick)
            next_midnight = (midnight + timedelta(days=1, hours=2)).replace(hour=0)
            self._next_day_tick = self.tick_of(next_midnight.astimezone(UTC))
            if self._next_day_tick <= k:
                self._next_day_tick = k + 1
            self._plans = [p for p in self._plans if p.cursor < len(p.tick)] + [plan]
            if initial:
                self._place_at_start(plan, k)

    def _build_plan(self, day: int, weekday: int, day_start_tick: int,
                    block_order: Sequence[int] | None = None) -> DayPlan:
        """Departures of a local day; blocks are independent, so ``block_order`` cannot change the result."""
        pop = self.population
        tpm = 60.0 / self.config.tick_seconds
        parts = []
        blocks = range(math.ceil(self.base_size / BLOCK_SIZE))
        for b in (blocks if block_order is None else block_order):
            lo, hi = b * BLOCK_SIZE, min((b + 1) * BLOCK_SIZE, self.base_size)
            parts.append(self._planner.block(
                day, weekday, b, day_start_tick, tpm, pop.status[lo:hi], pop.age[lo:hi],
                (pop.home_x[lo:hi], pop.home_y[lo:hi]), (pop.work_x[lo:hi], pop.work_y[lo:hi]), self.mobility))
        return DayPlan.concat(parts)

    def _place_at_start(self, plan: DayPlan, k: int) -> None:
        """Put everyone where their routine says they are at tick ``k`` (no travel)."""
        subs, places = plan.take_until(k)
        if len(subs) == 0:
            return
        last_sub, last_idx = np.unique(subs[::-1], return_index=True)
        last_place = places[::-1][last_idx]
        x, y = self._place_xy(last_sub, last_place)
        self.mobility.x[last_sub] = x
        self.mobility.y[last_sub] = y
        self.mobility.place[last_sub] = last_place
        self.routine_place[last_sub] = last_place

    def _place_xy(self, subs: NDArray[np.int32], places: NDArray[np.int32]) -> tuple[NDArray, NDArray]:  # type: ignore[type-arg]
        pop = self.population
        vi = np.clip(places, 0, None)
        x = np.where(places == HOME, pop.home_x[subs], np.where(places == -2, pop.work_x[subs], self.venues.x[vi]))
        y = np.where(places == HOME, pop.home_y[subs], np.where(places == -2, pop.work_y[subs], self.venues.y[vi]))
        return x.astype(np.float32), y.astype(np.float32)

    def _depart_due(self, k: int) -> None:
        subs_parts = []
        place_parts = []
        for plan in self._plans:
            s, p = plan.take_until(k)
            if len(s):
                subs_parts.append(s)
                place_parts.append(p)
        if subs_parts:
            subs = np.concatenate(subs_parts)
            places = np.concatenate(place_parts)
            self.routine_place[subs] = places
            free = ~self.mobility.pinned[subs] & (self.mobility.hold_until[subs] <= k)
            self._depart(k, subs[free], places[free])
        extra = self._extra.pop(k, None)
        if extra:
            subs = np.concatenate([e[0] for e in extra])
            places = np.concatenate([e[1] for e in extra])
            places = np.where(places == ROUTINE, self.routine_place[subs], places)
            free = ~self.mobility.pinned[subs]
            self._depart(k, subs[free], places[free])

    def _depart(self, k: int, subs: NDArray[np.int32], places: NDArray[np.int32]) -> None:
        if len(subs) == 0:
            return
        m = self.mobility
        dx, dy = self._place_xy(subs, places)
        dist = np.hypot(dx - m.x[subs], dy - m.y[subs]).astype(np.float64)
        dur = np.ceil(travel_seconds(dist) / self.config.tick_seconds).astype(np.int32)
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
        self.realism.on_departures(self._day, subs, places)

    def _move(self, k: int, now: datetime) -> None:
        m = self.mobility
        movers = m.movers
        if len(movers) == 0:
            return
        span = np.maximum(m.t1[movers] - m.t0[movers], 1)
        frac = np.clip((k - m.t0[movers]) / span, 0.0, 1.0).astype(np.float32)
        x = m.ox[movers] + (m.dx[movers] - m.ox[movers]) * frac
        y = m.oy[movers] + (m.dy[movers] - m.oy[movers]) * frac
        m.x[movers] = x
        m.y[movers] = y
        arrived = frac >= 1.0
        m.moving[movers[arrived]] = False
        m.movers = movers[~arrived]
        cells = self.network.cell_of(x, y)
        changed = (cells != self.cell[movers]) & (cells >= 0)
        if changed.any():
            self._apply_cells(k, now, movers[changed], cells[changed])

    def _apply_cells(self, k: int, now: datetime, subs: NDArray[np.int32], cells: NDArray[np.int32]) -> None:
        old = self.cell[subs].copy()
        self.presence.record(k, subs, cells, self.cell)
        self.cell[subs] = cells
        self.last_change_tick[subs] = k
        self.realism.on_cell_changes(self._day, subs)
        for fn in self._cell_listeners:
            fn(now, subs, old, cells)

    # -- listeners -----------------------------------------------------------------------------------
    def on_cell_change(self, fn: CellListener) -> None:
        """Call ``fn(now, subscribers, old_cells, new_cells)`` after every batch of cell changes."""
        self._cell_listeners.append(fn)

    def on_consent_change(self, fn: ConsentListener) -> None:
        """Call ``fn(now, subscriber, purpose, channel, granted, source)`` after every consent change."""
        self._consent_listeners.append(fn)

    def on_step(self, fn: StepListener) -> None:
        """Call ``fn(now)`` after every tick."""
        self._step_listeners.append(fn)

    def on_sim_swap(self, fn: SimSwapListener) -> None:
        """Call ``fn(now, subscribers, instants_us)`` after SIM swaps (random ones per tick, admin ones at once).

        ``instants_us`` are the swap instants in microseconds since the epoch (aligned with ``subscribers``).
        """
        self._sim_listeners.append(fn)

    def on_line_activation(self, fn: ActivationListener) -> None:
        """Call ``fn(now, subscribers, instants_us)`` after new line activations (see :mod:`simulator.lifecycle`).

        Random activations are heard once per tick (instants within it); a test subscriber when it is added
        (inbound roamers among them: their first attach in the country).
        """
        self._activation_listeners.append(fn)

    def _activated(self, now: datetime, subs: NDArray[np.int32], at: NDArray[np.int64]) -> None:
        if len(subs) == 0:
            return
        self.sims.activate(subs, at)
        for fn in self._activation_listeners:
            fn(now, subs, at)

    # -- gatherings ----------------------------------------------------------------------------------
    def add_gathering(self, name: str, start: datetime, end: datetime, *, place: str | None = None,
                      latitude: float | None = None, longitude: float | None = None, share: float | None = None,
                      count: int | None = None, arrive_before: timedelta = timedelta(minutes=60)) -> GatheringInfo:
        """Make a share (or a count) of people attend a place between ``start`` and ``end``.

        Attendees travel so as to arrive during the ``arrive_before`` lead-up, stay, and leave within half an
        hour of the end, then resume their routine.
        """
        start, end = as_utc(start), as_utc(end)
        if end <= start:
            raise InvalidConfigError("gathering end must be after its start")
        if start < self.clock.now:
            raise InvalidConfigError("gathering start must not be in the past")
        if self.tick_of(end) >= _MAX_GATHERING_TICK:  # hold_until holds tick numbers as int32
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
        gid = f"gth_{len(self.gatherings) + 1:04d}"
        rng = self.streams.stream("gathering", len(self.gatherings) + 1)
        pool = np.arange(self.base_size, dtype=np.int32)
        if count is None:
            if share is None or not 0 < share <= 1:
                raise InvalidConfigError("gathering share must be in (0, 1]")
            count = round(share * len(pool))
        if not 0 < count <= len(pool):
            raise InvalidConfigError(f"gathering count must be between 1 and {len(pool)}")
        attendees = np.sort(rng.choice(pool, size=count, replace=False)).astype(np.int32)
        # Leave so as to arrive at a random moment in the lead-up; travel time from home is a fair estimate.
        x0 = self.population.home_x[attendees].astype(np.float64)
        y0 = self.population.home_y[attendees].astype(np.float64)
        dist = np.hypot(self.venues.x[venue] - x0, self.venues.y[venue] - y0)
        lead = rng.uniform(0, arrive_before.total_seconds(), count)
        depart_at = start.timestamp() - travel_seconds(dist) - lead
        depart_tick = np.floor((depart_at - self.start.timestamp()) / self.config.tick_seconds).astype(np.int64)
        depart_tick = np.maximum(depart_tick, self.tick_index + 1)
        leave_tick = self.tick_of(end) + rng.integers(0, max(1, 1800 // self.config.tick_seconds), count)
        self.mobility.hold_until[attendees] = np.maximum(self.mobility.hold_until[attendees],
                                                         leave_tick.astype(np.int32))
        for ticks, places in ((depart_tick, np.full(count, venue, np.int32)),
                              (leave_tick, np.full(count, ROUTINE, np.int32))):
            order = np.argsort(ticks, kind="stable")
            t_sorted = ticks[order]
            bounds = np.flatnonzero(np.diff(t_sorted)) + 1
            for grp in np.split(order, bounds):
                self._extra.setdefault(int(ticks[grp[0]]), []).append((attendees[grp], places[grp]))
        info = GatheringInfo(gid, name, int(venue), start, end, attendees)
        self.gatherings.append(info)
        return info

    def gathering_venue(self, gathering: GatheringInfo) -> tuple[float, float, str | None]:
        """WGS84 position of a gathering's venue, and its name when it is one of the city's named places."""
        v = gathering.venue
        lat, lon = self.city.projection.point_latlon(float(self.venues.x[v]), float(self.venues.y[v]))
        k = v - self.venues.named_offset
        return lat, lon, self.city.places[k].name if 0 <= k < len(self.city.places) else None

    # -- subscribers ---------------------------------------------------------------------------------
    def _check(self, i: int) -> int:
        if not 0 <= i < self.population.size:
            raise UnknownSubscriberError(f"no subscriber with index {i}")
        return i

    def find_subscriber(self, msisdn: str) -> int:
        """Index of the subscriber with this E.164 number (with or without '+')."""
        msisdn = msisdn.strip()
        if not msisdn.startswith("+"):
            msisdn = "+" + msisdn
        return self.population.index_of(msisdn)

    def subscriber_profile(self, i: int) -> dict[str, Any]:
        """Operator-side profile (camelCase)."""
        return self.population.view(self._check(i)).to_dict()

    def position_latlon(self, i: int) -> tuple[float, float]:
        """True position of a subscriber in WGS84 (operator-side truth; partners never see it)."""
        self._check(i)
        return self.city.projection.point_latlon(float(self.mobility.x[i]), float(self.mobility.y[i]))

    def last_seen(self, i: int) -> datetime:
        """Last network contact of a subscriber's device."""
        t = int(self.last_change_tick[i])
        last_change = self.time_of(t) if t >= 0 else None
        return self.devices.last_contact(i, self.clock.now, last_change)

    def next_periodic_contacts(self, subs: NDArray[np.int64] | NDArray[np.int32], after: datetime
                               ) -> NDArray[np.int64]:
        """Each device's first periodic update strictly after ``after`` (microseconds since the epoch).

        With cell changes (heard through :meth:`on_cell_change`), these are the moments the network hears a device.
        """
        return self.devices.next_periodic_update_us(np.asarray(subs, dtype=np.int64), after)

    def is_reachable(self, subs: NDArray[np.int64] | int) -> NDArray[np.bool_]:
        """Whether devices can be reached now."""
        return self.devices.reachable(subs, self.clock.now, self.local_time().hour)

    def locate(self, i: int) -> dict[str, Any]:
        """Where the network sees a subscriber: serving cell, plus the true position (operator side)."""
        self._check(i)
        c = int(self.cell[i])
        lat, lon = self.position_latlon(i)
        clat, clon = self.city.projection.point_latlon(float(self.network.cell_x[c]), float(self.network.cell_y[c]))
        return {
            "cellId": self.network.cell_ids[c], "latitude": round(lat, 6), "longitude": round(lon, 6),
            "cellLatitude": round(clat, 6), "cellLongitude": round(clon, 6),
            "cellRadius": round(float(self.network.cell_radius[c]), 1),
            "lastSeen": self.last_seen(i).isoformat(), "reachable": bool(self.is_reachable(i)[0]),
            "pinned": bool(self.mobility.pinned[i]), "moving": bool(self.mobility.moving[i]),
        }

    def consent_state(self, i: int) -> dict[str, Any]:
        """Current consent of a subscriber by purpose and channel."""
        return self.consent.state(self._check(i))

    def consent_history(self, i: int) -> list[dict[str, Any]]:
        """Every consent change of a subscriber, oldest first."""
        return [c.to_dict() for c in self.consent.history(self._check(i))]

    def set_consent(self, i: int, purpose: str, channel: str | None, granted: bool, source: str = "ADMIN") -> None:
        """Grant or withdraw consent now; listeners hear of actual changes."""
        self._check(i)
        changes = self.consent.set(i, purpose, channel, granted, self.clock.now, source)
        if len(changes):
            for fn in self._consent_listeners:
                fn(self.clock.now, i, purpose, channel, granted, source)

    def pin(self, i: int, latitude: float, longitude: float) -> None:
        """Hold a subscriber at a place until released (the cell updates at once)."""
        self._check(i)
        x, y = self.city.projection.point_xy(latitude, longitude)
        if not bool(self.city.contains(x, y)):
            raise InvalidAreaError(f"({latitude}, {longitude}) is outside {self.city.display_name}")
        m = self.mobility
        m.pinned[i] = True
        m.moving[i] = False
        m.movers = m.movers[m.movers != i]
        m.x[i], m.y[i] = x, y
        self._relocate(np.asarray([i], np.int32))

    def release(self, i: int) -> None:
        """Let a pinned subscriber return to their routine (they head to where it says they should be)."""
        self._check(i)
        m = self.mobility
        if not m.pinned[i]:
            return
        m.pinned[i] = False
        if i < self.base_size:
            self._depart(self.tick_index + 1, np.asarray([i], np.int32), self.routine_place[[i]])

    def _relocate(self, subs: NDArray[np.int32]) -> None:
        cells = self.network.cell_of(self.mobility.x[subs], self.mobility.y[subs])
        changed = cells != self.cell[subs]
        if changed.any():
            self._apply_cells(self.tick_index, self.clock.now, subs[changed], cells[changed])

    def add_test_subscriber(self, msisdn: str, *, profile: dict[str, Any] | None = None,
                            consent: dict[str, dict[str, bool]] | None = None, latitude: float | None = None,
                            longitude: float | None = None) -> int:
        """Add an integrator's QA phone with a chosen number, profile, consent and place; it stays put (pinned)."""
        profile = dict(profile or {})
        lat = self.city.projection.lat0 if latitude is None else latitude
        lon = self.city.projection.lon0 if longitude is None else longitude
        x, y = self.city.projection.point_xy(lat, lon)
        if not bool(self.city.contains(x, y)):
            raise InvalidAreaError(f"({lat}, {lon}) is outside {self.city.display_name}")
        grants: dict[tuple[str, str | None], bool] = {}
        for purpose, channels in (consent or {}).items():
            for channel, granted in channels.items():
                grants[(purpose, None if channel in ("ANY", "", None) else channel)] = bool(granted)
        self.consent.validate_grants(grants)
        i = self.population.append(msisdn=msisdn, home_xy=(x, y), **profile)
        self.consent.extend(1, grants, self.clock.now)
        self.devices.extend(1)
        self.mobility.extend(x, y)
        self.mobility.pinned[i] = True
        self.routine_place = np.append(self.routine_place, np.int32(HOME))
        cell = self.network.cell_of(np.asarray([x]), np.asarray([y]))
        self.cell = np.append(self.cell, np.int32(cell[0]))
        self.last_change_tick = np.append(self.last_change_tick, np.int32(self.tick_index))
        self.presence.extend(self.cell)
        self.realism.in_sample = np.append(self.realism.in_sample, False)
        self.sims.extend(self.clock.now)
        self._activated(self.clock.now, np.asarray([i], np.int32), self.sims.activated_us[[i]])
        return i

    def inbox(self, i: int) -> list[dict[str, Any]]:
        """Messages the device received, oldest first."""
        return [m.to_dict() for m in self.devices.inbox(self._check(i))]

    def deliver(self, i: int, channel: str, sender: str, text: str, kind: str, **extra: Any) -> None:
        """Put a message on a device now."""
        self.devices.deliver(self._check(i), self.clock.now, channel, sender, text, kind, **extra)

    # -- SIM cards (see simulator.lifecycle) ---------------------------------------------------------------
    def sim_swap(self, i: int) -> datetime:
        """Give subscriber ``i`` a new SIM now (operator action); listeners hear of it at once."""
        self._check(i)
        now = self.clock.now
        self.sims.swap(i, now)
        subs = np.asarray([i], np.int32)
        at = self.sims.latest_change_us(subs)
        for fn in self._sim_listeners:
            fn(now, subs, at)
        return now

    def sim_activated(self, i: int) -> datetime:
        """When subscriber ``i``'s line was activated."""
        return from_micros(int(self.sims.activated_us[self._check(i)]))

    def last_sim_change(self, i: int) -> datetime:
        """Latest SIM change of subscriber ``i``: its latest swap, or its activation if it was never swapped."""
        return from_micros(int(self.sims.latest_change_us(np.asarray([self._check(i)]))[0]))

    def last_sim_changes(self, subs: NDArray[np.int64] | NDArray[np.int32]) -> NDArray[np.int64]:
        """Latest SIM change of each subscriber, in microseconds since the epoch."""
        return self.sims.latest_change_us(subs)

    def sim_swapped_since(self, subs: NDArray[np.int64] | NDArray[np.int32], since: datetime) -> NDArray[np.bool_]:
        """Whether each subscriber's SIM changed (a swap, or activation of the line) after ``since``."""
        return self.sims.swapped_since(subs, since)

    # -- areas ---------------------------------------------------------------------------------------
    def area_cells(self, area: Area) -> NDArray[np.int32]:
        """Cells that serve some point of ``area``."""
        return self.network.cells_covering(area)

    def _mask(self, cells: NDArray[np.int32]) -> NDArray[np.bool_]:
        mask = np.zeros(self.network.n_cells + 1, bool)  # the extra slot absorbs -1 (no cell)
        mask[cells] = True
        return mask

    def occupants(self, area: Area, precise: bool = False) -> NDArray[np.int32]:
        """Subscribers whose serving cell covers part of ``area`` now (or, ``precise``, who are inside it)."""
        inside = self.occupants_of_cells(self.area_cells(area))
        if precise:
            inside = inside[area.contains(self.mobility.x[inside], self.mobility.y[inside])]
        return inside

    def visitors(self, area: Area, t1: datetime, t2: datetime) -> NDArray[np.int32]:
        """Subscribers who were in a cell of ``area`` at some moment between ``t1`` and ``t2``."""
        return self.visitors_of_cells(self.area_cells(area), t1, t2)

    # -- audiences (vectorised queries for targeting and delivery) --------------------------------------
    def occupants_of_cells(self, cells: NDArray[np.int32]) -> NDArray[np.int32]:
        """Subscribers whose serving cell is one of ``cells`` now (sorted row indices)."""
        return np.flatnonzero(self._mask(cells)[self.cell]).astype(np.int32)

    def visitors_of_cells(self, cells: NDArray[np.int32], t1: datetime, t2: datetime) -> NDArray[np.int32]:
        """Subscribers served by one of ``cells`` at some moment between ``t1`` and ``t2`` (up to now)."""
        k1, k2 = self.tick_of(t1), min(self.tick_of(t2), self.tick_index)
        seen = self.presence.visitors(self._mask(cells), k1, k2, self.population.size)
        return np.flatnonzero(seen).astype(np.int32)

    def residents_of_cells(self, cells: NDArray[np.int32], place: str = "HOME") -> NDArray[np.int32]:
        """Subscribers whose home (``place="HOME"``) or place of work or study (``"WORK"``) is served by ``cells``.

        Those without a workplace have it equal to their home. The home and work cells are computed once and
        extended for test subscribers added later.
        """
        if place not in ("HOME", "WORK"):
            raise InvalidConfigError(f"place must be HOME or WORK, got {place!r}")
        return np.flatnonzero(self._mask(cells)[self._place_cells(place)]).astype(np.int32)

    def _place_cells(self, place: str) -> NDArray[np.int32]:
        cache = self._place_cell_cache
        cached = cache.get(place)
        n = self.population.size
        if cached is None or len(cached) != n:
            pop = self.population
            x, y = (pop.home_x, pop.home_y) if place == "HOME" else (pop.work_x, pop.work_y)
            start = 0 if cached is None else len(cached)
            fresh = self.network.cell_of(x[start:n], y[start:n]).astype(np.int32)
            cached = fresh if cached is None else np.concatenate([cached, fresh])
            cache[place] = cached
        return cached

    def serving_cells(self, subs: NDArray[np.int64] | NDArray[np.int32]) -> NDArray[np.int32]:
        """Current serving cell of each subscriber (-1 when out of every cell)."""
        return self.cell[np.asarray(subs, dtype=np.int64)]

    def msisdns(self, subs: NDArray[np.int64] | NDArray[np.int32]) -> list[str]:
        """E.164 numbers of subscribers (operator side: for the admin truth, never for partners)."""
        return ["+" + str(d) for d in self.population.msisdn[np.asarray(subs, dtype=np.int64)].tolist()]

    def segment_mask(self, subs: NDArray[np.int64] | NDArray[np.int32], segment: Segment) -> NDArray[np.bool_]:
        """Whether each subscriber matches ``segment`` (see :mod:`simulator.segments`)."""
        return segment.mask(self.population, subs)

    def app_installed(self, subs: NDArray[np.int64] | NDArray[np.int32]) -> NDArray[np.bool_]:
        """Whether each subscriber has the operator's push-capable app."""
        return self.population.app_installed[np.asarray(subs, dtype=np.int64)]

    def ages(self, subs: NDArray[np.int64] | NDArray[np.int32]) -> NDArray[np.uint8]:
        """Age of each subscriber."""
        return self.population.age[np.asarray(subs, dtype=np.int64)]

    def local_clock(self, subs: NDArray[np.int64] | NDArray[np.int32], at: datetime | None = None) -> LocalClock:
        """Each subscriber's local hour, minute of day, weekday and calendar day at ``at`` (default now).

        Computed once per distinct time zone among ``subs`` (a handful), never per subscriber.
        """
        idx = np.asarray(subs, dtype=np.int64)
        instant = as_utc(at or self.clock.now)
        codes = self.population.timezone[idx]
        hour = np.empty(len(idx), np.int16)
        minute = np.empty(len(idx), np.int16)
        weekday = np.empty(len(idx), np.int8)
        day = np.empty(len(idx), np.int32)
        for code in np.unique(codes).tolist():
            local = instant.astimezone(ZoneInfo(self.population.timezones[code]))
            sel = codes == code
            hour[sel] = local.hour
            minute[sel] = local.hour * 60 + local.minute
            weekday[sel] = local.weekday()
            day[sel] = local.toordinal()
        return LocalClock(hour, minute, weekday, day)

    def message_template(self, template: MessageTemplate) -> int:
        """Register what a batch of deliveries share; :meth:`deliver_batch` refers to it by the returned number."""
        return self.devices.inboxes.register(template)

    def deliver_batch(self, subs: NDArray[np.int64] | NDArray[np.int32], received_us: NDArray[np.int64],
                      channel: NDArray[np.uint8], channel_names: Sequence[str], template: NDArray[np.int32] | int,
                      number: NDArray[np.int64] | None = None) -> None:
        """Put one message on each device of ``subs``, as columns (no object per message).

        Aligned with ``subs``: ``received_us`` (microseconds since the epoch), ``channel`` (indexes into
        ``channel_names``), ``template`` (numbers from :meth:`message_template`) and the id ``number`` (default:
        a running count).
        """
        inboxes = self.devices.inboxes
        inboxes.add(subs, received_us, inboxes.channel_codes(channel_names)[channel], template, number)

    # -- network insights (aggregates for the CAMARA APIs) -------------------------------------------
    def cell_counts_at(self, at: datetime | None = None) -> NDArray[np.int64]:
        """Subscribers served by each cell at ``at`` (default now), from the presence history."""
        n_cells = self.network.n_cells
        if at is None or self.tick_of(at) >= self.tick_index:
            cells = self.cell
        else:
            cells = self.presence.cells_at(max(self.tick_of(at), self.presence.start_tick), self.population.size)
        return np.bincount(cells[cells >= 0], minlength=n_cells)[:n_cells].astype(np.int64)

    def cell_surfaces(self) -> NDArray[np.float64]:
        """Surface in m² of each cell's footprint (the region its raster serves)."""
        counts = np.bincount(self.network.grid.ravel() + 1, minlength=self.network.n_cells + 1)[1:]
        return counts.astype(np.float64) * self.network.resolution ** 2

    def device_kinds(self, subs: NDArray[np.int64] | NDArray[np.int32]
                     ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """(roaming, smartphone) of each subscriber: inbound roamers; phones running Android or iOS."""
        idx = np.asarray(subs, dtype=np.int64)
        return self.population.roaming[idx], self.population.os[idx] != OS_NAMES.index("OTHER")

    # -- reporting -----------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """City, size, cells, simulated time and tick cost."""
        return {
            "city": self.city.name, "country": self.city.country.code, "timezone": self.city.timezone,
            "subscribers": int(self.population.size), "cells": int(self.network.n_cells),
            "seed": self.config.seed, "now": self.clock.now.isoformat(), "start": self.start.isoformat(),
            "tickSeconds": self.config.tick_seconds, "ticks": self.ticks_run,
            "lastTickMs": round(self.tick_ms_last, 3),
            "meanTickMs": round(self.tick_ms_total / self.ticks_run, 3) if self.ticks_run else 0.0,
            "clockMode": self.clock.mode, "moving": len(self.mobility.movers),
            "cellChanges": int(self.presence.n_events), "gatherings": len(self.gatherings),
        }
