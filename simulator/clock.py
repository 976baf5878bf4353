"""The one simulated clock.

Owns domain time (`now`, timezone-aware UTC) and a heap of callbacks keyed by (time, priority, seq), in the
manner of SimPy's `Environment`. Two modes: ``manual`` (time moves only when asked) and ``paced`` (a driver
calls :meth:`SimClock.paced_target` with the wall clock to learn where simulated time should be). The clock
never reads wall time itself and refuses to go back in time.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from simulator.errors import ClockError, InstantRangeError

ClockMode = Literal["manual", "paced"]


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

MIN_INSTANT = EPOCH
"""Earliest instant accepted anywhere (inclusive): microsecond stamps are never negative."""
MAX_INSTANT = datetime(9000, 1, 1, tzinfo=UTC)
"""First instant refused anywhere: ~1000 years short of ``datetime``'s year 9999, so adding any bounded duration
(a window, a clock advance, a retry, a time zone) to an accepted instant cannot overflow."""


def format_instant(instant: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix: how every instant is written in answers, summaries and exports."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def check_instant(instant: datetime) -> datetime:
    """``instant`` in UTC when it lies in [:data:`MIN_INSTANT`, :data:`MAX_INSTANT`), else :class:`InstantRangeError`.

    Every instant that comes from outside (API, CLI, scenario files) goes through here before it is stored or
    scheduled. Compared before converting, because converting an instant near year 1 or 9999 to UTC may itself
    overflow.
    """
    if not MIN_INSTANT <= instant < MAX_INSTANT:
        raise InstantRangeError(f"instant {instant.isoformat()} is outside the accepted range "
                                f"[{format_instant(MIN_INSTANT)}, {format_instant(MAX_INSTANT)}) in UTC")
    return instant.astimezone(UTC)


def to_micros(instant: datetime) -> int:
    """Microseconds since the Unix epoch of an aware instant (exact, unlike float timestamps)."""
    # From the difference's fields: the same integer as ``// timedelta(microseconds=1)``, at a third of the cost
    # (this runs several times in every single send).
    d = instant - EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


_FIRST, _LAST = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)


def from_micros(micros: int) -> datetime:
    """Inverse of :func:`to_micros` (UTC).

    Stamps beyond what ``datetime`` holds (written by versions that did not range-check instants) read as its
    first or last instant, so one bad stored value cannot make every read of a table fail.
    """
    try:
        return EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        return _FIRST if micros < 0 else _LAST


def as_utc(instant: datetime) -> datetime:
    """Return ``instant`` in UTC; naive datetimes are refused because their zone is a guess."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ClockError(f"instant {instant.isoformat()} has no time zone")
    return instant.astimezone(UTC)


@dataclass(order=True)
class _Entry:
    at: datetime
    priority: int
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class ScheduledCall:
    """Handle of a scheduled callback; :meth:`cancel` keeps it from running."""

    def __init__(self, entry: _Entry) -> None:
        self._entry = entry

    @property
    def at(self) -> datetime:
        """Instant at which the callback runs."""
        return self._entry.at

    def cancel(self) -> None:
        """Keep the callback from running (no effect once it ran)."""
        self._entry.cancelled = True


class SimClock:
    """Simulated time with scheduled callbacks, in manual or paced mode."""

    def __init__(self, start: datetime, mode: ClockMode = "manual", factor: float = 60.0) -> None:
        self._now = as_utc(start)
        self._heap: list[_Entry] = []
        self._seq = 0
        self._latest: dict[tuple[datetime, int], int] = {}  # (instant, priority) -> seq of its last pending entry
        self.mode: ClockMode = mode
        self.factor = factor
        self.paused = False
        self._anchor_wall: float | None = None
        self._anchor_sim = self._now

    @property
    def now(self) -> datetime:
        """Current simulated instant (UTC)."""
        return self._now

    def schedule(self, at: datetime, callback: Callable[[], None], priority: int = 0) -> ScheduledCall:
        """Run ``callback`` when the clock reaches ``at``; lower ``priority`` runs first at the same instant."""
        at = as_utc(at)
        if at < self._now:
            raise ClockError(f"cannot schedule at {format_instant(at)}: it is before now ({format_instant(self._now)})")
        self._seq += 1
        entry = _Entry(at, priority, self._seq, callback)
        heapq.heappush(self._heap, entry)
        self._latest[(at, priority)] = self._seq
        return ScheduledCall(entry)

    def is_latest(self, call: ScheduledCall) -> bool:
        """Whether ``call`` is pending and nothing was scheduled at its instant and priority after it.

        Work added to its callback now then runs exactly where a callback scheduled now at that instant would.
        """
        entry = call._entry
        return not entry.cancelled and self._latest.get((entry.at, entry.priority)) == entry.seq

    def schedule_again(self, call: ScheduledCall, callback: Callable[[], None]) -> ScheduledCall:
        """Run ``callback`` in the place ``call`` had (its instant, priority and turn), once ``call`` has run.

        For the part of a callback's work it left for later (it stopped early), which then still runs before
        everything scheduled after ``call``.
        """
        entry = _Entry(call.at, call._entry.priority, call._entry.seq, callback)
        heapq.heappush(self._heap, entry)
        return ScheduledCall(entry)

    def runs_before(self, at: datetime, priority: int = 0) -> bool:
        """Whether a pending callback is due before ``at``, or at ``at`` with a lower priority than ``priority``."""
        head = self._head()
        return head is not None and (head.at, head.priority) < (at, priority)

    def _head(self) -> _Entry | None:
        while self._heap and self._heap[0].cancelled:
            self._pop()
        return self._heap[0] if self._heap else None

    def _pop(self) -> _Entry:
        entry = heapq.heappop(self._heap)
        key = (entry.at, entry.priority)
        if self._latest.get(key) == entry.seq:
            del self._latest[key]
        return entry

    def next_due(self) -> datetime | None:
        """Instant of the earliest pending callback, if any."""
        head = self._head()
        return head.at if head is not None else None

    def run_until(self, until: datetime) -> int:
        """Run every callback due up to and including ``until``, then set now to ``until``.

        Returns the number of callbacks run. Refuses an instant in the past or past :data:`MAX_INSTANT`.
        """
        until = check_instant(as_utc(until))
        if until < self._now:
            raise ClockError(f"cannot go back in time from {format_instant(self._now)} to {format_instant(until)}")
        ran = 0
        while self._heap and self._heap[0].at <= until:
            entry = self._pop()
            if entry.cancelled:
                continue
            self._now = entry.at
            entry.callback()
            ran += 1
        self._now = until
        return ran

    # -- paced mode ---------------------------------------------------------------------------------------
    def set_mode(self, mode: ClockMode, factor: float | None = None, wall: float | None = None) -> None:
        """Switch mode; in paced mode ``wall`` (a monotonic reading) anchors the pacing."""
        if mode not in ("manual", "paced"):
            raise ClockError(f"unknown clock mode {mode!r}")
        if factor is not None:
            if factor <= 0:
                raise ClockError("pace factor must be positive")
            self.factor = factor
        self.mode = mode
        self._anchor_wall = wall
        self._anchor_sim = self._now

    def pause(self) -> None:
        """Stop paced time from advancing until :meth:`resume`."""
        self.paused = True
        self._anchor_wall = None

    def resume(self, wall: float | None = None) -> None:
        """Resume paced time from the current instant."""
        self.paused = False
        self._anchor_wall = wall
        self._anchor_sim = self._now

    def paced_target(self, wall: float) -> datetime:
        """Where simulated time should be at monotonic wall reading ``wall`` (paced mode, not paused)."""
        if self.mode != "paced" or self.paused:
            return self._now
        if self._anchor_wall is None:
            self._anchor_wall = wall
            self._anchor_sim = self._now
        target = self._anchor_sim + timedelta(seconds=(wall - self._anchor_wall) * self.factor)
        return max(target, self._now)
