"""The subscribers' phones: reachability, last network contact and the inbox of received messages.

Owns per-device columns (whether the phone is switched off at night, whether it is switched off for good
(``forced_off``), until when it is unreachable by an injected fault (``down_until_us``), its periodic-update
phase), the injected network faults over cells (cell outages) and SMS delivery (extra delays), and the inboxes
(columns too, see :mod:`simulator.inbox`). Reachability is a pure function of those columns, the instant, the
serving cell, the local hour and the seed (coverage gaps are a hash of device and hour), so it answers for any
instant without storing a timeline. This module does not
decide who gets a message; it records what a device received.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from simulator.clock import to_micros
from simulator.inbox import Inboxes, InboxMessage
from simulator.rng import RngStreams

NIGHT_OFF_SHARE = 0.08
"""Share of phones switched off at night (00:00-07:00 local)."""
NIGHT_OFF_HOURS = (0, 7)
NO_COVERAGE_SHARE = 0.01
"""Chance that a phone is out of coverage during any given simulated hour (lifts, basements, tunnels)."""
PERIODIC_UPDATE_S = 54 * 60
"""Periodic tracking-area update timer (3GPP T3412 default, 54 minutes): the network hears an idle phone."""


def _mix(a: NDArray[np.uint64], b: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """SplitMix64-style hash of two integer columns: stateless per-(device, hour) randomness."""
    with np.errstate(over="ignore"):
        z = a * np.uint64(0x9E3779B97F4A7C15) + b * np.uint64(0xBF58476D1CE4E5B9) + np.uint64(0x94D049BB133111EB)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


_U64 = (1 << 64) - 1


def _mix_one(a: int, b: int) -> int:
    """:func:`_mix` of one pair, in Python integers (the same bits)."""
    z = (a * 0x9E3779B97F4A7C15 + b * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & _U64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _U64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _U64
    return z ^ (z >> 31)


class Devices:
    """Reachability columns and inboxes of every subscriber's device."""

    def __init__(self, n: int, streams: RngStreams) -> None:
        rng = streams.stream("devices")
        self._salt = np.uint64(streams.int_seed("devices-salt"))
        self.first_row = 0
        """Global row of device 0 (a shard's first subscriber): coverage gaps are keyed by the global row."""
        self.night_off = rng.random(n) < NIGHT_OFF_SHARE
        self.update_phase_s = rng.uniform(0, PERIODIC_UPDATE_S, n).astype(np.float32)
        self.forced_off = np.zeros(n, bool)
        self.down_until_us = np.zeros(n, np.int64)
        """Injected fault: the device is unreachable before this instant (µs since the epoch; 0: never)."""
        self.cell_outages: dict[int, tuple[int, int]] = {}
        """Injected fault: cell index → [start, end) in µs while the cell is down (its devices are unreachable)."""
        self.sms_delays: list[tuple[int, int, float]] = []
        """Injected fault: ([start, end) in µs, extra seconds) added to every SMS sent in that window."""
        self.inboxes = Inboxes()

    def extend(self, k: int = 1) -> None:
        """Add ``k`` devices (test subscribers): always on, phase 0."""
        self.night_off = np.concatenate([self.night_off, np.zeros(k, bool)])
        self.update_phase_s = np.concatenate([self.update_phase_s, np.zeros(k, np.float32)])
        self.forced_off = np.concatenate([self.forced_off, np.zeros(k, bool)])
        self.down_until_us = np.concatenate([self.down_until_us, np.zeros(k, np.int64)])

    def take_down(self, subs: ArrayLike, until: datetime) -> None:
        """Make devices unreachable until ``until`` (an injected fault; an earlier end than one set is ignored)."""
        idx = np.atleast_1d(np.asarray(subs, dtype=np.int64))
        self.down_until_us[idx] = np.maximum(self.down_until_us[idx], to_micros(until))

    def cell_outage(self, cells: ArrayLike, start: datetime, end: datetime) -> None:
        """Take cells down during [``start``, ``end``): devices they serve are unreachable meanwhile."""
        for c in np.atleast_1d(np.asarray(cells, dtype=np.int64)).tolist():
            self.cell_outages[int(c)] = (to_micros(start), to_micros(end))

    def cells_down(self, at: datetime) -> NDArray[np.int64]:
        """Indices of the cells down at ``at``, sorted."""
        t = to_micros(at)
        return np.asarray(sorted(c for c, (s, e) in self.cell_outages.items() if s <= t < e), dtype=np.int64)

    def add_sms_delay(self, start: datetime, end: datetime, seconds: float) -> None:
        """Every SMS sent during [``start``, ``end``) arrives ``seconds`` later than it would."""
        self.sms_delays.append((to_micros(start), to_micros(end), float(seconds)))

    def sms_delay_s(self, at: datetime) -> float:
        """Extra delivery delay of an SMS sent at ``at`` (the injected delays in force then, added up)."""
        if not self.sms_delays:
            return 0.0
        t = to_micros(at)
        return sum(d for s, e, d in self.sms_delays if s <= t < e)

    def reachable(self, subs: ArrayLike, at: datetime, local_hour: int | NDArray[np.int16],
                  cells: ArrayLike | None = None) -> NDArray[np.bool_]:
        """Whether each device can be reached at ``at`` (phone on, in coverage, not taken down by a fault).

        ``local_hour`` is the hour at the devices (one for all, or each device's own in a territory of several
        time zones). Given the devices' serving ``cells``, a device served by a cell that is down is not
        reachable either.
        """
        idx = np.atleast_1d(np.asarray(subs, dtype=np.int64))
        off = self.forced_off[idx] | (self.down_until_us[idx] > to_micros(at))
        if cells is not None and self.cell_outages:
            down = self.cells_down(at)
            if len(down):
                off |= np.isin(np.atleast_1d(np.asarray(cells, dtype=np.int64)), down)
        if np.ndim(local_hour) > 0:
            hours = np.asarray(local_hour)
            off |= (hours >= NIGHT_OFF_HOURS[0]) & (hours < NIGHT_OFF_HOURS[1]) & self.night_off[idx]
        elif NIGHT_OFF_HOURS[0] <= int(local_hour) < NIGHT_OFF_HOURS[1]:
            off |= self.night_off[idx]
        hour = np.uint64(int(at.timestamp()) // 3600)
        h = _mix((idx + self.first_row).astype(np.uint64) ^ self._salt, np.full(len(idx), hour, np.uint64))
        no_cov = (h >> np.uint64(11)).astype(np.float64) / float(1 << 53) < NO_COVERAGE_SHARE
        return np.asarray(~off & ~no_cov)

    def reachable_one(self, sub: int, at: datetime, local_hour: int, cell: int | None = None) -> bool:
        """:meth:`reachable` of one device, in plain integers (a single send would spend more on arrays).

        ``local_hour`` is the device's local hour; -1 when it does not go off at night (no need to know it).
        """
        at_us = to_micros(at)
        if self.forced_off[sub] or self.down_until_us[sub] > at_us:
            return False
        if cell is not None and self.cell_outages:
            window = self.cell_outages.get(cell)
            if window is not None and window[0] <= at_us < window[1]:
                return False
        if NIGHT_OFF_HOURS[0] <= local_hour < NIGHT_OFF_HOURS[1] and self.night_off[sub]:
            return False
        h = _mix_one((sub + self.first_row) ^ int(self._salt), int(at.timestamp()) // 3600)
        return not (h >> 11) / float(1 << 53) < NO_COVERAGE_SHARE

    def last_contact(self, sub: int, at: datetime, last_change: datetime | None) -> datetime:
        """Last time the network heard the device: its last cell change or periodic update, whichever is later."""
        phase = float(self.update_phase_s[sub])
        since = (at.timestamp() - phase) % PERIODIC_UPDATE_S
        periodic = at - timedelta(seconds=since)
        if last_change is not None and last_change > periodic:
            return last_change
        return periodic

    def next_periodic_update_us(self, subs: NDArray[np.int64], after: datetime) -> NDArray[np.int64]:
        """First periodic update of each device strictly after ``after``, in microseconds since the epoch."""
        period = PERIODIC_UPDATE_S * 1_000_000
        phase = np.round(self.update_phase_s[subs].astype(np.float64) * 1e6).astype(np.int64)
        after_us = int(after.timestamp()) * 1_000_000 + after.microsecond  # exact for whole-second epochs
        return phase + ((after_us - phase) // period + 1) * period

    def deliver(self, sub: int, at: datetime, channel: str, sender: str, text: str, kind: str,
                title: str | None = None, message_id: str | None = None, **meta: Any) -> None:
        """Put one message in a device's inbox (its own id, or the next ``inb_…`` number)."""
        self.inboxes.add_one(sub, to_micros(at), channel, sender, text, kind, title, message_id, meta)

    def inbox(self, sub: int) -> list[InboxMessage]:
        """Messages the device received, oldest first."""
        return self.inboxes.read(sub)
