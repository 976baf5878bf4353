"""Line lifecycle: when each line's SIM was activated and when its SIM was last swapped.

The model, documented because partners' fraud checks depend on it:

* **Activation.** Every line of the built population was activated in the past: its tenure (time since the
  activation of the current subscription) is exponential with a mean of :data:`MEAN_TENURE_DAYS` (four years,
  about 22 % churn a year), at least one day and at most :data:`MAX_TENURE_DAYS`. Test subscribers added later
  are activated at the instant they are added.
* **SIM swaps** (a new SIM for the same number: lost or broken phone, eSIM upgrade, or fraud) follow a Poisson
  process of :data:`SWAP_RATE_PER_YEAR` (4 %) per line and year. Before the start, the latest swap of each line
  is drawn from the same process (memoryless: time since the last swap is exponential; none if that is longer
  than the tenure). During the simulation, the swaps of simulated hour ``h`` (hours since the Unix epoch) are
  drawn from the named stream ``("sim-swap", h)``: a Poisson count over the built population, then the lines and
  the instants within the hour. The draw depends only on the seed and the hour, never on the tick size or on how
  the population is split into blocks. A swap takes effect at the first tick at or after its instant.
* The operator (admin API) may swap a line's SIM at any time (:meth:`SimCards.swap`).
* **New activations** (``SUBSCRIBER_JOINED`` of ``/journeys/v1``). Exponential tenures with a mean of
  :data:`MEAN_TENURE_DAYS` are the steady state of a Poisson process of subscription starts at
  :data:`ACTIVATION_RATE_PER_YEAR` (one over the mean tenure, 25 %) per line and year, so the simulation keeps
  producing them: the activations of simulated hour ``h`` are drawn from the named stream
  ``("line-activation", h)`` exactly as swaps are (a Poisson count over the built population, then lines and
  instants). An activation is a new subscription on an existing number (the previous subscriber churned, or
  the number was ported in): the row keeps its person and routine (the synthetic population has a fixed
  size), and the line's activation instant, hence its latest SIM change, moves to the join. The world drops
  the draws that fall on inbound roamers (foreign SIMs are not this operator's lines) before applying them
  (:meth:`SimCards.activate`). Test subscribers are activated when they are added.

The latest SIM change of a line (what CAMARA ``sim-swap/retrieve-date`` answers) is the later of its activation
and its latest swap. This module owns these columns only; the world calls it once per tick and tells listeners.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from simulator.clock import to_micros
from simulator.rng import BLOCK_SIZE, RngStreams

MEAN_TENURE_DAYS = 4 * 365.0
"""Mean time since a line's activation at the start of the simulation."""
MAX_TENURE_DAYS = 15 * 365.0
"""No line is older than this."""
SWAP_RATE_PER_YEAR = 0.04
"""Expected SIM swaps per line and year."""
ACTIVATION_RATE_PER_YEAR = 365.0 / MEAN_TENURE_DAYS
"""Expected new subscriptions per line and year during the simulation (the rate behind the tenures)."""
NEVER = np.iinfo(np.int64).min
"""Marker of "never swapped" in the microsecond columns."""

_US_PER_DAY = 86_400 * 1_000_000
_US_PER_HOUR = 3_600 * 1_000_000


class SimCards:
    """Activation and latest-swap instants of every line (int64 microseconds since the epoch)."""

    def __init__(self, n: int, start: datetime, streams: RngStreams, rate_per_year: float = SWAP_RATE_PER_YEAR) -> None:
        self._streams = streams
        self.base_size = n
        self.rate_per_hour = rate_per_year / (365.0 * 24.0)
        start_us = to_micros(start)
        self.activated_us = np.empty(n, np.int64)
        self.swapped_us = np.full(n, NEVER, np.int64)
        self.swap_count = np.zeros(n, np.int32)
        for b in range(math.ceil(n / BLOCK_SIZE)):
            lo, hi = b * BLOCK_SIZE, min((b + 1) * BLOCK_SIZE, n)
            rng = streams.stream("sim-activation", b)
            tenure_days = np.clip(rng.exponential(MEAN_TENURE_DAYS, hi - lo), 1.0, MAX_TENURE_DAYS)
            since_swap_days = rng.exponential(365.0 / rate_per_year, hi - lo) if rate_per_year > 0 else \
                np.full(hi - lo, np.inf)
            self.activated_us[lo:hi] = start_us - (tenure_days * _US_PER_DAY).astype(np.int64)
            swapped = since_swap_days < tenure_days
            self.swapped_us[lo:hi][swapped] = start_us - (since_swap_days[swapped] * _US_PER_DAY).astype(np.int64)
        self.activation_rate_per_hour = ACTIVATION_RATE_PER_YEAR / (365.0 * 24.0)
        self._swaps = _HourlyDraws(streams, "sim-swap", start_us)
        self._activations = _HourlyDraws(streams, "line-activation", start_us)

    @property
    def size(self) -> int:
        """Lines known (built population plus test subscribers)."""
        return len(self.activated_us)

    def extend(self, at: datetime, k: int = 1) -> None:
        """Add ``k`` lines activated at ``at`` (test subscribers); they are never swapped at random."""
        self.activated_us = np.concatenate([self.activated_us, np.full(k, to_micros(at), np.int64)])
        self.swapped_us = np.concatenate([self.swapped_us, np.full(k, NEVER, np.int64)])
        self.swap_count = np.concatenate([self.swap_count, np.zeros(k, np.int32)])

    def advance(self, until: datetime) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
        """Apply the random swaps after the last call and up to ``until``; returns the lines and instants."""
        subs, at = self._swaps.advance(to_micros(until), self.base_size, self.rate_per_hour)
        if len(subs):
            self._record(subs, at)
        return subs, at

    def draw_activations(self, until: datetime) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
        """Lines drawn for new activations after the last call and up to ``until``, with the instants.

        Not applied: the world keeps the operator's own lines and calls :meth:`activate`.
        """
        return self._activations.advance(to_micros(until), self.base_size, self.activation_rate_per_hour)

    def activate(self, subs: NDArray[np.int32], at: NDArray[np.int64]) -> None:
        """Start a new subscription on each line of ``subs`` at the aligned instants (microseconds)."""
        np.maximum.at(self.activated_us, subs, at)

    def _record(self, subs: NDArray[np.int32], at: NDArray[np.int64]) -> None:
        np.maximum.at(self.swapped_us, subs, at)
        np.add.at(self.swap_count, subs, 1)

    def swap(self, i: int, at: datetime) -> None:
        """Give line ``i`` a new SIM at ``at`` (operator action)."""
        self._record(np.asarray([i], np.int32), np.asarray([to_micros(at)], np.int64))

    def latest_change_us(self, subs: NDArray[np.int64] | NDArray[np.int32]) -> NDArray[np.int64]:
        """Latest SIM change of each line: the later of activation and latest swap (microseconds)."""
        idx = np.asarray(subs, dtype=np.int64)
        return np.maximum(self.activated_us[idx], self.swapped_us[idx])

    def swapped_since(self, subs: NDArray[np.int64] | NDArray[np.int32], since: datetime) -> NDArray[np.bool_]:
        """Whether each line's SIM changed (activation included) strictly after ``since``."""
        return np.asarray(self.latest_change_us(subs) > to_micros(since))


class _HourlyDraws:
    """Events of a Poisson process per line, drawn per simulated hour from the named stream ``(name, hour)``.

    The draw of an hour depends only on the seed, the name and the hour (never on how time is stepped); one
    hour is cached, since ticks are shorter than an hour.
    """

    def __init__(self, streams: RngStreams, name: str, start_us: int) -> None:
        self._streams = streams
        self._name = name
        self._done_us = start_us  # events up to and including this instant are returned
        self._hour: int | None = None
        self._hour_subs: NDArray[np.int32] = np.empty(0, np.int32)
        self._hour_at: NDArray[np.int64] = np.empty(0, np.int64)

    def _draw_hour(self, hour: int, lines: int, rate_per_hour: float) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
        """Lines hit during simulated hour ``hour`` and the instants, sorted by instant."""
        if self._hour != hour:
            rng = self._streams.stream(self._name, hour)
            count = int(rng.poisson(lines * rate_per_hour))
            subs = rng.integers(0, lines, count).astype(np.int32)
            at = hour * _US_PER_HOUR + rng.integers(0, _US_PER_HOUR, count).astype(np.int64)
            order = np.argsort(at, kind="stable")
            self._hour, self._hour_subs, self._hour_at = hour, subs[order], at[order]
        return self._hour_subs, self._hour_at

    def advance(self, end: int, lines: int, rate_per_hour: float) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
        """The events after the last call and up to ``end`` (microseconds), in instant order per hour."""
        if end <= self._done_us or lines == 0 or rate_per_hour <= 0:
            self._done_us = max(self._done_us, end)
            return np.empty(0, np.int32), np.empty(0, np.int64)
        subs_parts, at_parts = [], []
        for hour in range(self._done_us // _US_PER_HOUR, end // _US_PER_HOUR + 1):
            subs, at = self._draw_hour(hour, lines, rate_per_hour)
            due = (at > self._done_us) & (at <= end)
            if due.any():
                subs_parts.append(subs[due])
                at_parts.append(at[due])
        self._done_us = end
        if not subs_parts:
            return np.empty(0, np.int32), np.empty(0, np.int64)
        return np.concatenate(subs_parts), np.concatenate(at_parts)
