"""The World: the model that builds, owns and steps its parts, and answers for them.

Its parts are the clock, city, network, population, consent, devices, SIM cards, movement (day plans and trips,
:mod:`simulator.movement`), inbound roamers' stays (:mod:`simulator.roaming`: abroad, a device is not attached and
its serving cell is ``-1``), gatherings (:mod:`simulator.gatherings`), presence history and realism tracker. The
world advances them in fixed ticks (``step``/``run_until``), keeps everyone's serving cell, notifies listeners of
cell, consent, SIM and activation changes, and offers the queries the gateway uses (locate, occupants of an
area, visitors in a window, profiles, consent, cells and coverage, pins, test subscribers, inboxes); the answers
about one subscriber or the world as a whole are typed, frozen records (:class:`SubscriberLocation`,
:class:`ConsentState`, :class:`WorldSummary`, :class:`~simulator.population.Subscriber`), never wire shapes.
Everything random comes from one root seed through named streams; the subscribers' routines are processed per
block, so results never depend on block scheduling. The world is synchronous and not thread-safe; it knows
nothing of HTTP.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from simulator.city import City, city_from_preset, country_from_preset, territory_country, with_locale
from simulator.clock import (
    MAX_INSTANT,
    MIN_INSTANT,
    ClockMode,
    SimClock,
    as_utc,
    format_instant,
    from_micros,
    to_micros,
)
from simulator.consent import ConsentChange, ConsentLedger, ConsentRates
from simulator.devices import Devices
from simulator.errors import InvalidAreaError, InvalidConfigError, NotAttachedError, UnknownSubscriberError
from simulator.gatherings import GatheringInfo, Gatherings, GatheringVenue
from simulator.geo import Area
from simulator.inbox import MessageTemplate
from simulator.lifecycle import SimCards
from simulator.mobility import HOME, WORK, MobilityState, Venues
from simulator.movement import ROUTINE, Movement
from simulator.network import Network
from simulator.population import Population, Subscriber
from simulator.presence import PresenceHistory
from simulator.profiles import OS_NAMES
from simulator.realism import RealismTracker
from simulator.rng import RngStreams
from simulator.roaming import RoamingStays
from simulator.segments import Segment
from simulator.synthesis import check_number_capacity

__all__ = ["DEFAULT_START", "ROUTINE", "ConsentChange", "ConsentState", "GatheringInfo", "GatheringVenue",
           "LocalClock", "Subscriber", "SubscriberLocation", "World", "WorldConfig", "WorldSummary"]

DEFAULT_START = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)

CellListener = Callable[[datetime, NDArray[np.int32], NDArray[np.int32], NDArray[np.int32]], None]
ConsentListener = Callable[[datetime, int, str, "str | None", bool, str], None]
StepListener = Callable[[datetime], None]
SimSwapListener = Callable[[datetime, NDArray[np.int32], NDArray[np.int64]], None]
ActivationListener = Callable[[datetime, NDArray[np.int32], NDArray[np.int64]], None]
RoamerListener = Callable[[datetime, NDArray[np.int32]], None]


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
    country: str | None = None
    """A country preset (``south-korea``, ``russia``, ``germany``, or ``KR``, ``RU``, ``DE``) instead of ``city``."""

    def territory(self) -> City:
        """The territory the config names: the custom city, else the country preset, else the city preset."""
        if self.custom_city is not None:
            return self.custom_city
        if self.country is not None:
            return country_from_preset(self.country)
        return city_from_preset(self.city)

    def validate(self) -> None:
        """Raise InvalidConfigError naming the first bad field."""
        if self.subscribers < 1:
            raise InvalidConfigError("subscribers must be at least 1")
        if self.seed < 0:
            raise InvalidConfigError("seed must be a non-negative integer")
        if not 1 <= self.tick_seconds <= 3600:
            raise InvalidConfigError("tick must be between 1 and 3600 seconds")
        if not 0.0 <= self.roaming_share <= 0.5:
            raise InvalidConfigError("roaming share must be between 0 and 0.5")
        if self.start.tzinfo is None:
            raise InvalidConfigError("start must have a time zone")
        if not MIN_INSTANT <= self.start < MAX_INSTANT:
            raise InvalidConfigError(f"start must be from {format_instant(MIN_INSTANT)} "
                                     f"to before {format_instant(MAX_INSTANT)}")
        if self.custom_city is not None:
            country, name = self.custom_city.country, self.custom_city.display_name
        else:
            try:
                country, name = territory_country(self.city, self.country)
            except KeyError:
                self.territory()  # raises UnknownCityError naming the presets
                raise
        # The only cap on size is the numbering plans' (memory is the machine's): the error names the plan.
        check_number_capacity(self.subscribers, country, self.roaming_share, self.fictional_numbers, name)


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


@dataclass(frozen=True)
class Whereabouts:
    """Where subscribers are now, as columns aligned with the subscribers asked about.

    ``travelling`` is on the way between two places (a trip under way); ``at_home`` and ``at_work`` are staying at
    home or at the place of work or study (neither: at a venue, or on the way).
    """

    at_home: NDArray[np.bool_]
    at_work: NDArray[np.bool_]
    travelling: NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class SubscriberLocation:
    """Where the network sees a subscriber (serving cell) and where they truly are (operator-side truth).

    Positions in WGS84 degrees rounded to 6 decimals, the cell radius in metres rounded to 0.1 m. A device not
    attached to the network (an inbound roamer abroad) has no cell: ``cell_id`` is empty, the radius 0 and the cell
    position its last known one.
    """

    cell_id: str
    latitude: float
    longitude: float
    cell_latitude: float
    cell_longitude: float
    cell_radius: float
    last_seen: datetime
    reachable: bool
    pinned: bool
    moving: bool


@dataclass(frozen=True, slots=True)
class ConsentState:
    """A subscriber's current consent: for each purpose, granted or not per channel (``ANY`` when channel-less)."""

    purposes: Mapping[str, Mapping[str, bool]]

    def granted(self, purpose: str, channel: str = "ANY") -> bool:
        """Whether ``purpose`` is granted on ``channel`` (``ANY`` for purposes without channels)."""
        return self.purposes[purpose][channel]


@dataclass(frozen=True, slots=True)
class WorldSummary:
    """City, size, cells, simulated time and tick cost (tick costs in milliseconds, rounded to the microsecond)."""

    city: str
    country: str
    timezone: str
    subscribers: int
    cells: int
    seed: int
    now: datetime
    start: datetime
    tick_seconds: int
    ticks: int
    last_tick_ms: float
    mean_tick_ms: float
    clock_mode: ClockMode
    moving: int
    cell_changes: int
    gatherings: int


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
        self.zones = [ZoneInfo(z) for z in population.timezones]
        """Time zones of the territory (``population.timezone`` indexes them; the capital's first)."""
        self.start = as_utc(config.start)
        self._first_date = min(self.start.astimezone(z).date() for z in self.zones)
        self.tick = timedelta(seconds=config.tick_seconds)
        self.clock = SimClock(self.start)
        self.tick_index = 0
        self.in_tick = False
        """True while :meth:`step` runs (its callbacks, moves and listeners): the tick's effects are incomplete."""
        self.base_size = population.size
        self._next_day_tick = 0
        self._day = -1
        self._weekday = 0
        self.movement = Movement(city, population, venues, streams, config.tick_seconds,
                                 lambda subs, places: self.realism.on_departures(self._day, subs, places))
        self.gatherings = Gatherings(city, population, venues, streams, self.movement, self.start,
                                     config.tick_seconds, self.tick_of)
        self._cell_listeners: list[CellListener] = []
        self._consent_listeners: list[ConsentListener] = []
        self._step_listeners: list[StepListener] = []
        self._sim_listeners: list[SimSwapListener] = []
        self._activation_listeners: list[ActivationListener] = []
        self._roamer_listeners: list[RoamerListener] = []
        self.roaming = RoamingStays(population.roaming[: self.base_size], streams, config.tick_seconds,
                                    population.timezone[: self.base_size])
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
        self._ensure_day(0, initial=True)
        ticks_per_hour = max(1, 3600 // config.tick_seconds)
        self.cell = network.cell_of(self.mobility.x, self.mobility.y).astype(np.int32)
        self.cell[self.movement.away] = -1  # inbound roamers abroad: not attached
        self.last_change_tick = np.full(n, -1, np.int32)
        self.presence = PresenceHistory(self.cell, 0, ticks_per_hour)

    # -- construction --------------------------------------------------------------------------------
    @classmethod
    def build(cls, config: WorldConfig) -> World:
        """Build city, network, population, consent and devices from ``config``."""
        config.validate()
        streams = RngStreams(config.seed)
        city = config.territory()
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

    def local_time(self, at: datetime | None = None, sub: int | None = None) -> datetime:
        """``at`` (default now) in the city's time zone (a country's: its capital's), or in subscriber ``sub``'s.

        A subscriber's zone is that of the metro they live (or stay) in; see :meth:`local_clock` for many.
        """
        zone = self.tz if sub is None else self.zones[int(self.population.timezone[self._check(sub)])]
        return (at or self.clock.now).astimezone(zone)

    @property
    def timezones(self) -> list[str]:
        """IANA names of the territory's time zones (``timezone_codes`` index them; the capital's first)."""
        return list(self.population.timezones)

    def timezone_codes(self, subs: NDArray[np.int64] | NDArray[np.int32]) -> NDArray[np.uint8]:
        """Each subscriber's time zone, as an index into :attr:`timezones`."""
        return self.population.timezone[np.asarray(subs, dtype=np.int64)]

    def step(self) -> None:
        """Advance one tick: scheduled callbacks up to it, then movement and cell changes."""
        t_wall = time.perf_counter()
        k = self.tick_index + 1
        now = self.time_of(k)
        self.in_tick = True
        try:
            self.clock.run_until(now)
            self.tick_index = k
            self._ensure_day(k)
            arriving, leaving, detaching = self.roaming.due(k)
            self.movement.arrive(k, arriving)
            if len(leaving):
                self.roaming.detach_at(self.movement.leave(k, leaving), leaving)
            self.movement.depart_due(k)
            movers, x, y = self.movement.move(k)
            subs = np.zeros(0, np.int32)
            cells = np.zeros(0, np.int32)
            if len(movers):
                moved = self.network.cell_of(x, y)
                changed = (moved != self.cell[movers]) & (moved >= 0)
                subs, cells = movers[changed], moved[changed]
            if len(arriving) or len(detaching):
                subs, cells = self._attach_changes(subs, cells, arriving, detaching)
            if len(subs):  # one batch per tick: listeners and exports see a tick's changes together
                self._apply_cells(k, now, subs, cells)
            if len(arriving):
                for roamer_fn in self._roamer_listeners:
                    roamer_fn(now, arriving)
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
    def inbox_days(self) -> int | None:
        """Days of device inboxes kept behind now (:meth:`keep_inbox`; ``None``: all)."""
        return self._inbox_days

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

    # -- days and cells ------------------------------------------------------------------------------
    @property
    def mobility(self) -> MobilityState:
        """Everyone's movement columns (position, place, trips), owned by :attr:`movement`."""
        return self.movement.state

    def _ensure_day(self, k: int, initial: bool = False) -> None:
        """Start each local day reached by tick ``k``: its calendar, its plan, the history kept.

        A territory of several time zones plans a calendar day for everyone at once, when its first zone (the
        easternmost) reaches that day's midnight; each subscriber's plan runs on the local hours of their own
        zone. The first day is the one the westernmost zone is on at the start (the others may already be on
        the next, planned at once).
        """
        while k >= self._next_day_tick:
            at = self.time_of(k)
            dates = [at.astimezone(z).date() for z in self.zones]
            date = min(dates) if self._day < 0 else max(dates)
            midnights = [datetime(date.year, date.month, date.day, tzinfo=z) for z in self.zones]
            starts = np.asarray([self.tick_of(m.astimezone(UTC)) for m in midnights], np.int64)
            day = (date - self._first_date).days
            self._day = day
            self._weekday = date.weekday()
            first_midnight = min(m.astimezone(UTC) for m in midnights)
            if self._history_days is not None:
                self.realism.forget_before(day - self._history_days)
            if self._inbox_days is not None:
                self.devices.inboxes.forget_before(to_micros(first_midnight - timedelta(days=self._inbox_days)))
            plan = self.movement.plan_day(day, date.weekday(), starts)
            self._next_day_tick = min(self.tick_of((m + timedelta(days=1, hours=2)).replace(hour=0).astimezone(UTC))
                                      for m in midnights)
            if self._next_day_tick <= k and date == max(dates):
                self._next_day_tick = k + 1
            if initial:
                self.movement.place_at_start(plan, k)
                self.movement.set_abroad(self.roaming.start(starts))
            self.roaming.plan_day(day, starts, k)

    def _attach_changes(self, subs: NDArray[np.int32], cells: NDArray[np.int32], arriving: NDArray[np.int32],
                        detaching: NDArray[np.int32]) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
        """The tick's movers' changes plus roamers attaching where they land and detaching (cell ``-1``)."""
        landed = self.network.cell_of(self.mobility.x[arriving], self.mobility.y[arriving]).astype(np.int32)
        gone = detaching[self.cell[detaching] >= 0]
        kept = ~np.isin(subs, detaching)
        subs = np.concatenate([subs[kept], arriving, gone]).astype(np.int32)
        cells = np.concatenate([cells[kept], landed, np.full(len(gone), -1, np.int32)]).astype(np.int32)
        keep = cells != self.cell[subs]
        return subs[keep], cells[keep]

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

    def on_roamer_arrival(self, fn: RoamerListener) -> None:
        """Call ``fn(now, subscribers)`` when inbound roamers land and attach to the network.

        Heard after the tick's cell changes (see :mod:`simulator.roaming`); a roaming test subscriber when it is
        added.
        """
        self._roamer_listeners.append(fn)

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

    # -- gatherings (see simulator.gatherings) ---------------------------------------------------------
    def add_gathering(self, name: str, start: datetime, end: datetime, *, place: str | None = None,
                      latitude: float | None = None, longitude: float | None = None, share: float | None = None,
                      count: int | None = None, arrive_before: timedelta = timedelta(minutes=60)) -> GatheringInfo:
        """Make a share (or a count) of people attend a place between ``start`` and ``end``.

        Attendees travel so as to arrive during the ``arrive_before`` lead-up, stay, and leave within half an
        hour of the end, then resume their routine.
        """
        return self.gatherings.add(name, start, end, now=self.clock.now, tick_index=self.tick_index, place=place,
                                   latitude=latitude, longitude=longitude, share=share, count=count,
                                   arrive_before=arrive_before)

    def gathering_venue(self, gathering: GatheringInfo) -> GatheringVenue:
        """WGS84 position of a gathering's venue, its name (a named place) and its time zone.

        :meth:`GatheringVenue.local` shows the gathering's times on the venue's clocks.
        """
        return self.gatherings.venue_of(gathering)

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

    @property
    def subscriber_count(self) -> int:
        """Number of subscribers (row indices are ``0 .. subscriber_count - 1``; test subscribers come last)."""
        return self.population.size

    def index_of(self, msisdn: str) -> int:
        """Row index of the subscriber with this E.164 number (with '+'); see :meth:`find_subscriber`."""
        return self.population.index_of(msisdn)

    def msisdn_of(self, i: int) -> str:
        """E.164 number (with '+') of subscriber ``i``."""
        return self.population.msisdn_str(self._check(i))

    def subscriber_profile(self, i: int) -> Subscriber:
        """Operator-side profile of subscriber ``i``."""
        return self.population.view(self._check(i))

    def position_latlon(self, i: int) -> tuple[float, float]:
        """True position of a subscriber in WGS84 (operator-side truth; partners never see it)."""
        self._check(i)
        return self.city.projection.point_latlon(float(self.mobility.x[i]), float(self.mobility.y[i]))

    def last_seen(self, i: int) -> datetime:
        """Last network contact of a subscriber's device (not attached: when it detached, else the start)."""
        t = int(self.last_change_tick[i])
        if self.cell[i] < 0:  # an inbound roamer abroad: heard no more since it detached
            return self.time_of(max(t, 0))
        last_change = self.time_of(t) if t >= 0 else None
        return self.devices.last_contact(i, self.clock.now, last_change)

    def next_periodic_contacts(self, subs: NDArray[np.int64] | NDArray[np.int32], after: datetime
                               ) -> NDArray[np.int64]:
        """Each device's first periodic update strictly after ``after`` (microseconds since the epoch).

        With cell changes (heard through :meth:`on_cell_change`), these are the moments the network hears a device.
        """
        return self.devices.next_periodic_update_us(np.asarray(subs, dtype=np.int64), after)

    def is_reachable(self, subs: NDArray[np.int64] | int) -> NDArray[np.bool_]:
        """Whether devices can be reached now (a device whose serving cell is down is not)."""
        idx = np.atleast_1d(np.asarray(subs, dtype=np.int64))
        now = self.clock.now
        hour: int | NDArray[np.int16]
        if len(self.zones) == 1:
            hour = self.local_time().hour
        else:  # night-off by each device's own local hour, computed once per zone
            hour = self.zone_clock(now).hour[self.population.timezone[idx]]
        cells = self.cell[idx]  # not attached (an inbound roamer abroad): not reachable
        return self.devices.reachable(idx, now, hour, cells) & (cells >= 0)

    def is_reachable_one(self, sub: int) -> bool:
        """:meth:`is_reachable` of one device (same answer, without arrays: the path of a single send)."""
        cell = int(self.cell[sub])
        if cell < 0:
            return False
        # The local hour matters only to a device that goes off at night (-1: never in the night-off hours).
        hour = self.local_time(sub=sub).hour if self.devices.night_off[sub] else -1
        return self.devices.reachable_one(sub, self.clock.now, hour, cell)

    def sms_delay_s(self) -> float:
        """Extra delay of an SMS sent now, from injected network faults (0 without any)."""
        return self.devices.sms_delay_s(self.clock.now)

    def locate(self, i: int) -> SubscriberLocation:
        """Where the network sees a subscriber: serving cell, plus the true position (operator side)."""
        self._check(i)
        c = int(self.cell[i])
        lat, lon = self.position_latlon(i)
        if c < 0:  # not attached (an inbound roamer abroad): no cell, the last known position
            clat, clon, cell_id, radius = lat, lon, "", 0.0
        else:
            clat, clon = self.city.projection.point_latlon(float(self.network.cell_x[c]),
                                                           float(self.network.cell_y[c]))
            cell_id, radius = self.network.cell_ids[c], float(self.network.cell_radius[c])
        return SubscriberLocation(
            cell_id=cell_id, latitude=round(lat, 6), longitude=round(lon, 6),
            cell_latitude=round(clat, 6), cell_longitude=round(clon, 6), cell_radius=round(radius, 1),
            last_seen=self.last_seen(i), reachable=bool(self.is_reachable(i)[0]),
            pinned=bool(self.mobility.pinned[i]), moving=bool(self.mobility.moving[i]))

    def consent_state(self, i: int) -> ConsentState:
        """Current consent of a subscriber by purpose and channel."""
        return ConsentState(self.consent.state(self._check(i)))

    def consent_history(self, i: int) -> list[ConsentChange]:
        """Every consent change of a subscriber, oldest first."""
        return self.consent.history(self._check(i))

    def set_consent(self, i: int, purpose: str, channel: str | None, granted: bool, source: str = "ADMIN") -> None:
        """Grant or withdraw consent now; listeners hear of actual changes."""
        self._check(i)
        changes = self.consent.set(i, purpose, channel, granted, self.clock.now, source)
        if len(changes):
            for fn in self._consent_listeners:
                fn(self.clock.now, i, purpose, channel, granted, source)

    def pin(self, i: int, latitude: float, longitude: float) -> None:
        """Hold a subscriber at a place until released (the cell updates at once).

        An inbound roamer abroad is refused (:class:`NotAttachedError`): landing them here would skip their stay
        schedule (:mod:`simulator.roaming`); pin them once they have landed.
        """
        self._check(i)
        if self.cell[i] < 0 and bool(self.population.roaming[i]):
            raise NotAttachedError(f"{self.msisdn_of(i)} is an inbound roamer abroad, not attached to the network; "
                                   "it can be pinned once it has landed.")
        x, y = self.city.projection.point_xy(latitude, longitude)
        if not bool(self.city.contains(x, y)):
            raise InvalidAreaError(f"({latitude}, {longitude}) is outside {self.city.display_name}")
        self.movement.pin(i, x, y)
        self._relocate(np.asarray([i], np.int32))

    def release(self, i: int) -> None:
        """Let a pinned subscriber return to their routine (they head to where it says they should be)."""
        self.movement.release(self._check(i), self.tick_index + 1)

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
        self.movement.add_pinned(x, y)
        cell = self.network.cell_of(np.asarray([x]), np.asarray([y]))
        self.cell = np.append(self.cell, np.int32(cell[0]))
        self.last_change_tick = np.append(self.last_change_tick, np.int32(self.tick_index))
        self.presence.extend(self.cell)
        self.realism.in_sample = np.append(self.realism.in_sample, False)
        self.sims.extend(self.clock.now)
        self._activated(self.clock.now, np.asarray([i], np.int32), self.sims.activated_us[[i]])
        if self.population.roaming[i]:  # a foreign SIM switched on here: it has just arrived
            for fn in self._roamer_listeners:
                fn(self.clock.now, np.asarray([i], np.int32))
        return i

    def inbox(self, i: int) -> list[dict[str, Any]]:
        """Messages the device received, oldest first."""
        return [m.to_dict() for m in self.devices.inbox(self._check(i))]

    def deliver(self, i: int, channel: str, sender: str, text: str, kind: str, **extra: Any) -> None:
        """Put a message on a device now."""
        self.devices.deliver(self._check(i), self.clock.now, channel, sender, text, kind, **extra)

    def deliver_forgotten(self, n: int) -> None:
        """Count ``n`` messages of :meth:`deliver` from before the inbox retention's cutoff, holding nothing.

        A restart skips what retention would drop at once; later messages keep their numbers.
        """
        self.devices.inboxes.add_forgotten(n)

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

    def sim_swaps(self, i: int) -> int:
        """How many times subscriber ``i``'s SIM was swapped since the simulation started."""
        return int(self.sims.swap_count[self._check(i)])

    def sim_swapped_since(self, subs: NDArray[np.int64] | NDArray[np.int32], since: datetime) -> NDArray[np.bool_]:
        """Whether each subscriber's SIM changed (a swap, or activation of the line) after ``since``."""
        return self.sims.swapped_since(subs, since)

    def cell_track(self, i: int, since: datetime) -> list[tuple[datetime, int]]:
        """A subscriber's serving cell at ``since`` and each change after it, oldest first.

        Pairs of (instant, cell index; -1 out of coverage), operator side, bounded by the presence history kept.
        """
        self._check(i)
        ticks, cells = self.presence.track(i, self.tick_of(since), self.population.size)
        return [(self.time_of(int(k)), int(c)) for k, c in zip(ticks.tolist(), cells.tolist(), strict=True)]

    def test_subscribers(self) -> NDArray[np.int32]:
        """Row indices of the test subscribers (QA phones added through the admin API), ascending."""
        return np.flatnonzero(self.population.is_test).astype(np.int32)

    # -- randomness ----------------------------------------------------------------------------------
    def random_stream(self, name: str, *keys: int) -> np.random.Generator:
        """The named random stream ``(name, *keys)`` of this world's seed (the same numbers on every run)."""
        return self.streams.stream(name, *keys)

    # -- cells and coverage (see simulator.network) ----------------------------------------------------
    @property
    def cell_count(self) -> int:
        """Number of cells (cell indices are ``0 .. cell_count - 1``)."""
        return self.network.n_cells

    @property
    def grid_resolution(self) -> float:
        """Side in metres of the raster pixels that make up the cells' footprints."""
        return self.network.resolution

    def cells_at(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.int32]:
        """Serving cell of each point in local metres (-1 outside coverage)."""
        return self.network.cell_of(x, y)

    def cell_centre(self, cell: int) -> tuple[float, float]:
        """Centre of cell ``cell`` in local metres."""
        return float(self.network.cell_x[cell]), float(self.network.cell_y[cell])

    def cell_centres(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Centres of every cell in local metres (x, y columns, in cell order)."""
        return self.network.cell_x.astype(np.float64), self.network.cell_y.astype(np.float64)

    def cell_id(self, cell: int) -> str:
        """The network's id (ECGI) of cell ``cell``."""
        return self.network.cell_ids[cell]

    def cell_radius(self, cell: int) -> float:
        """Radius in metres of the circle around :meth:`cell_centre` that holds the cell's whole footprint."""
        return float(self.network.cell_radius[cell])

    def cell_footprint(self, cell: int) -> BaseGeometry:
        """The region (local metres) whose points cell ``cell`` serves."""
        return self.network.cell_polygon(cell)

    def cell_coverage_fraction(self, cell: int, area: Area) -> float:
        """Share of cell ``cell``'s footprint inside ``area``."""
        return self.network.cell_coverage_fraction(cell, area)

    def covers(self, area: Area) -> bool:
        """Whether ``area`` overlaps the network's coverage at all (bounding boxes first)."""
        return self.network.covers(area)

    def reaches(self, area: Area) -> bool:
        """Whether ``area``'s bounding box meets the coverage's (four comparisons: a cheap first test)."""
        return self.network.reaches(area)

    def covered_surface(self, area: Area) -> float:
        """Surface in m² of the part of ``area`` inside the network's coverage."""
        return float(shapely.intersection(self.network.coverage, area.geometry).area)

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

    def whereabouts(self, subs: NDArray[np.int64] | NDArray[np.int32]) -> Whereabouts:
        """Whether each subscriber is at home, at work, or travelling now (see :class:`Whereabouts`)."""
        idx = np.asarray(subs, dtype=np.int64)
        state = self.mobility
        moving = state.moving[idx]
        place = state.place[idx]
        return Whereabouts(~moving & (place == HOME), ~moving & (place == WORK), moving.copy())

    def local_clock(self, subs: NDArray[np.int64] | NDArray[np.int32], at: datetime | None = None) -> LocalClock:
        """Each subscriber's local hour, minute of day, weekday and calendar day at ``at`` (default now).

        Computed once per time zone of the territory (a handful), never per subscriber.
        """
        zone = self.zone_clock(at)
        codes = self.population.timezone[np.asarray(subs, dtype=np.int64)]
        return LocalClock(zone.hour[codes], zone.minute[codes], zone.weekday[codes], zone.day[codes])

    def zone_clock(self, at: datetime | None = None) -> LocalClock:
        """The local clock of each of the territory's time zones at ``at`` (default now), as :attr:`timezones`."""
        instant = as_utc(at or self.clock.now)
        local = [instant.astimezone(z) for z in self.zones]
        return LocalClock(np.asarray([t.hour for t in local], np.int16),
                          np.asarray([t.hour * 60 + t.minute for t in local], np.int16),
                          np.asarray([t.weekday() for t in local], np.int8),
                          np.asarray([t.toordinal() for t in local], np.int32))

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
        return self.network.pixel_counts().astype(np.float64) * self.network.resolution ** 2

    def device_kinds(self, subs: NDArray[np.int64] | NDArray[np.int32]
                     ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """(roaming, smartphone) of each subscriber: inbound roamers; phones running Android or iOS."""
        idx = np.asarray(subs, dtype=np.int64)
        return self.population.roaming[idx], self.population.os[idx] != OS_NAMES.index("OTHER")

    def home_countries(self, subs: NDArray[np.int64] | NDArray[np.int32]) -> list[str]:
        """ISO code of each subscriber's home country (a foreign one for inbound roamers: their SIM's)."""
        codes = self.population.countries
        return [codes[c] for c in self.population.home_country[np.asarray(subs, dtype=np.int64)].tolist()]

    # -- reporting -----------------------------------------------------------------------------------
    def summary(self) -> WorldSummary:
        """City, size, cells, simulated time and tick cost."""
        return WorldSummary(
            city=self.city.name, country=self.city.country.code, timezone=self.city.timezone,
            subscribers=int(self.population.size), cells=int(self.network.n_cells),
            seed=self.config.seed, now=self.clock.now, start=self.start,
            tick_seconds=self.config.tick_seconds, ticks=self.ticks_run,
            last_tick_ms=round(self.tick_ms_last, 3),
            mean_tick_ms=round(self.tick_ms_total / self.ticks_run, 3) if self.ticks_run else 0.0,
            clock_mode=self.clock.mode, moving=len(self.mobility.movers),
            cell_changes=int(self.presence.n_events), gatherings=len(self.gatherings))
