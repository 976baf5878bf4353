"""Stays of inbound roamers: when each foreign SIM arrives in the country, when it leaves, when it detaches.

Owns the stay schedule of the base population's visitors (``population.roaming``): each visitor is abroad (not
attached to the network), expected (an arrival is scheduled), in the country (attached, a departure scheduled) or
on the way out (heading to the airport, detaching when the flight leaves), and back abroad after that; a visitor
comes back for another stay later (a row is a foreign SIM that visits, not one trip). The draws are per subscriber
block, so a shard of whole blocks draws exactly what the whole world draws for its rows:

* at the start, ``("roaming-start", b)``: about :data:`START_PRESENT` of the visitors are already in the country,
  each with the rest of a stay ahead of them; the others are abroad;
* at each local day's start, ``("roaming-day", day, b)``: an absent visitor flies in that day with probability
  :data:`ARRIVAL_PER_DAY`, at a minute drawn from :data:`ARRIVAL_HOUR_WEIGHTS` (flight banks), for a stay of
  :func:`stay_nights` (log-normal around :data:`STAY_MEDIAN_NIGHTS`, 1 to 14 nights), leaving their
  accommodation on the last day at a minute drawn from :data:`DEPARTURE_HOUR_WEIGHTS`.

This module only keeps the schedule: :class:`~simulator.movement.Movement` moves the visitors and the world attaches
and detaches them (serving cell ``-1`` while abroad). It knows nothing of cells.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from simulator.rng import BLOCK_SIZE, RngStreams

STAY_MEDIAN_NIGHTS = 4.0
"""Median nights of a stay (tourism statistics put the mean stay of foreign visitors at 3-6 nights)."""
STAY_SIGMA = 0.6
"""Log-normal shape of the nights of a stay (a long right tail, cut at :data:`STAY_MAX_NIGHTS`)."""
STAY_MIN_NIGHTS, STAY_MAX_NIGHTS = 1, 14
ARRIVAL_PER_DAY = 0.2
"""Chance that a visitor abroad flies in on a given day: with stays of about 4.5 nights, about half the visitors
are in the country at any moment."""
START_PRESENT = 0.47
"""Share of the visitors already in the country when the world starts (the stationary share of the above)."""
ARRIVAL_HOUR_WEIGHTS = (1, 1, 0, 0, 0, 1, 3, 6, 7, 5, 4, 5, 7, 7, 5, 4, 5, 6, 7, 6, 5, 5, 4, 2)
"""Relative arrivals per local hour (landing plus immigration): morning, midday and evening banks, quiet nights."""
DEPARTURE_HOUR_WEIGHTS = (0, 0, 0, 0, 2, 5, 6, 5, 5, 6, 6, 5, 4, 4, 5, 5, 5, 4, 3, 2, 1, 1, 0, 0)
"""Relative departures from the accommodation per local hour (some hours before the flight)."""
ARRIVAL_WAIT_MIN = 40
"""Minutes at the arrival point after attaching (immigration, baggage, a taxi) before heading to the accommodation."""
DEPARTURE_WAIT_MIN = 100
"""Minutes at the airport before the device detaches (check-in, security, boarding, take-off)."""
MIN_STAY_HOURS = 12
"""A stay lasts at least this long from arrival to leaving the accommodation."""

ABROAD, EXPECTED, PRESENT, LEAVING = 0, 1, 2, 3


def stay_nights(rng: np.random.Generator, n: int, length_biased: bool = False) -> NDArray[np.int32]:
    """Nights of ``n`` stays: log-normal around :data:`STAY_MEDIAN_NIGHTS`, rounded, within 1..14.

    ``length_biased``: the stays of the visitors found in the country at some instant, where a long stay is met
    in proportion to its length (the log-normal's median times ``exp(sigma²)``).
    """
    median = STAY_MEDIAN_NIGHTS * (math.exp(STAY_SIGMA ** 2) if length_biased else 1.0)
    raw = rng.lognormal(math.log(median), STAY_SIGMA, n)
    return np.clip(np.rint(raw), STAY_MIN_NIGHTS, STAY_MAX_NIGHTS).astype(np.int32)


def _minutes(rng: np.random.Generator, weights: tuple[int, ...], n: int) -> NDArray[np.float64]:
    """Minutes of the local day drawn from hourly ``weights`` (uniform within the hour)."""
    w = np.asarray(weights, np.float64)
    hour = np.minimum(np.searchsorted(np.cumsum(w) / w.sum(), rng.random(n), side="right"), 23)
    return hour * 60.0 + rng.random(n) * 60.0


class RoamingStays:
    """The stay schedule of the visitors among the first ``base_size`` rows (see the module docstring).

    ``visitors`` are local rows; ``first_row`` is the global row of local row 0 (a shard's), a multiple of
    :data:`~simulator.rng.BLOCK_SIZE`, so local block ``b`` is global block ``first_row // BLOCK_SIZE + b`` and the
    streams (shifted by a shard's :class:`~simulator.shards.ShardStreams`) are the whole world's.
    """

    def __init__(self, roaming: NDArray[np.bool_], streams: RngStreams, tick_seconds: int,
                 zone: NDArray[np.uint8] | None = None) -> None:
        self.visitors = np.flatnonzero(roaming).astype(np.int32)
        self.zone = (np.zeros(len(self.visitors), np.intp) if zone is None
                     else np.asarray(zone, np.intp)[self.visitors])
        """Each visitor's time zone (index into the territory's zones): their days start at its midnight."""
        self.state = np.full(len(self.visitors), ABROAD, np.uint8)
        self.streams = streams
        self.ticks_per_min = 60.0 / tick_seconds
        self._arrive: dict[int, list[NDArray[np.int32]]] = {}
        self._leave: dict[int, list[NDArray[np.int32]]] = {}
        self._detach: dict[int, list[NDArray[np.int32]]] = {}
        blocks = self.visitors // BLOCK_SIZE
        self._blocks = [(int(b), np.flatnonzero(blocks == b)) for b in np.unique(blocks).tolist()]

    def _ticks(self, day_start: NDArray[np.int64], minute: NDArray[np.float64]) -> NDArray[np.int64]:
        return (day_start + np.floor(minute * self.ticks_per_min)).astype(np.int64)

    def _day_start(self, day_starts: int | NDArray[np.int64], sel: NDArray[np.intp]) -> NDArray[np.int64]:
        """The tick the day starts at for visitors ``sel``: one tick for all, or their zone's of one per zone."""
        starts = np.asarray(day_starts, np.int64)
        return np.full(len(sel), starts, np.int64) if starts.ndim == 0 else starts[self.zone[sel]]

    def _add(self, table: dict[int, list[NDArray[np.int32]]], ticks: NDArray[np.int64],
             rows: NDArray[np.int32]) -> None:
        order = np.argsort(ticks, kind="stable")
        bounds = np.flatnonzero(np.diff(ticks[order])) + 1
        for grp in np.split(order, bounds):
            if len(grp):
                table.setdefault(int(ticks[grp[0]]), []).append(rows[grp])

    def start(self, day_starts: int | NDArray[np.int64]) -> NDArray[np.int32]:
        """Draw who is in the country at tick 0 and when they leave; returns the rows abroad (not attached).

        ``day_starts``: the tick of the first day's local midnight per time zone.
        """
        tpd = 24 * 60 * self.ticks_per_min
        for b, sel in self._blocks:
            rng = self.streams.stream("roaming-start", b)
            n = len(sel)
            here = rng.random(n) < START_PRESENT
            rest = np.floor(rng.random(n) * stay_nights(rng, n, length_biased=True)).astype(np.int64)
            start = self._day_start(day_starts, sel)
            leave = self._ticks(start, rest * 1440.0 + _minutes(rng, DEPARTURE_HOUR_WEIGHTS, n))
            leave = np.where(leave <= 0, leave + round(tpd), leave)  # that hour has passed: the next day's
            self.state[sel[here]] = PRESENT
            self._add(self._leave, leave[here], self.visitors[sel[here]])
        abroad: NDArray[np.int32] = self.visitors[self.state == ABROAD]
        return abroad

    def plan_day(self, day: int, day_starts: int | NDArray[np.int64], now_tick: int) -> None:
        """Draw the arrivals of local day ``day`` among the visitors abroad.

        ``day_starts`` is the tick of that day's midnight per time zone (a visitor's day is their zone's).

        Arrivals at or before ``now_tick`` (the part of the first day before the world started) do not happen.
        """
        min_stay = math.ceil(MIN_STAY_HOURS * 60 * self.ticks_per_min)
        for b, sel in self._blocks:
            rng = self.streams.stream("roaming-day", day, b)
            n = len(sel)
            go = rng.random(n) < ARRIVAL_PER_DAY
            start = self._day_start(day_starts, sel)
            arrive = self._ticks(start, _minutes(rng, ARRIVAL_HOUR_WEIGHTS, n))
            nights = stay_nights(rng, n)
            leave = self._ticks(start, nights * 1440.0 + _minutes(rng, DEPARTURE_HOUR_WEIGHTS, n))
            leave = np.maximum(leave, arrive + min_stay)
            go &= (self.state[sel] == ABROAD) & (arrive > now_tick)
            chosen = sel[go]
            self.state[chosen] = EXPECTED
            self._add(self._arrive, arrive[go], self.visitors[chosen])
            self._add(self._leave, leave[go], self.visitors[chosen])

    def _take(self, table: dict[int, list[NDArray[np.int32]]], k: int) -> NDArray[np.int32]:
        parts = table.pop(k, None)
        if not parts:
            return np.zeros(0, np.int32)
        return np.sort(np.concatenate(parts)).astype(np.int32)

    def _mark(self, rows: NDArray[np.int32], state: int) -> None:
        if len(rows):  # most ticks have no arrival, departure or detach
            self.state[np.searchsorted(self.visitors, rows)] = state

    def due(self, k: int) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int32]]:
        """(arriving, leaving, detaching) rows at tick ``k`` (each ascending), their states advanced."""
        arriving, leaving, detaching = self._take(self._arrive, k), self._take(self._leave, k), \
            self._take(self._detach, k)
        self._mark(arriving, PRESENT)
        self._mark(leaving, LEAVING)
        self._mark(detaching, ABROAD)
        return arriving, leaving, detaching

    def detach_at(self, ticks: NDArray[np.int64], rows: NDArray[np.int32]) -> None:
        """Detach ``rows[j]`` at ``ticks[j]`` (when their flight leaves)."""
        self._add(self._detach, ticks.astype(np.int64), rows)

    def present(self) -> NDArray[np.int32]:
        """Rows of the visitors attached now (in the country, or on their way out), ascending."""
        attached: NDArray[np.int32] = self.visitors[(self.state == PRESENT) | (self.state == LEAVING)]
        return attached
