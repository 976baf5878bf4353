"""The consent ledger: who allows what, through which channel, since when, and why.

This module owns each subscriber's current consent as one bit per (purpose, channel) in a uint8 column, the
baseline state stamped at the world's start (source ``INITIAL``), and an append-only columnar log of every
later change (time, subscriber, bit, granted, source). Past instants are answered by replaying the log over
the baseline with numpy; history is never rewritten and time never runs backwards in the log. It must not
know about campaigns, HTTP, the clock object or subscribers' profiles, and never loops over subscribers.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from simulator.clock import format_instant, from_micros, to_micros
from simulator.errors import ConsentError, InvalidConfigError, UnknownSubscriberError
from simulator.rng import BLOCK_SIZE, RngStreams

PURPOSES: tuple[str, ...] = ("ADVERTISING", "LOCATION_SHARING", "ANALYTICS")
CHANNELS: tuple[str, ...] = ("PUSH", "SMS")
ANY_CHANNEL = "ANY"
"""How channel-independent purposes are keyed in :meth:`ConsentLedger.state`; accepted as an alias of None."""

BITS: tuple[tuple[str, str | None], ...] = (
    ("ADVERTISING", "PUSH"),
    ("ADVERTISING", "SMS"),
    ("LOCATION_SHARING", None),
    ("ANALYTICS", None),
)
"""Bit ``j`` of a subscriber's consent byte is the (purpose, channel) pair ``BITS[j]``."""

SOURCES: tuple[str, ...] = ("INITIAL", "APP", "SMS", "WEB", "CARE", "API", "SCENARIO", "TEST")
"""Well-known sources of consent changes; other names of the same shape are added to a ledger on use."""

_SOURCE_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]{0,31}$")


def _micros(at: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact, unlike float timestamps)."""
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise ConsentError(f"consent instants must be timezone-aware datetimes, got {at!r}")
    return to_micros(at)


def bit_of(purpose: str, channel: str | None) -> int:
    """The bit of (purpose, channel); raises :class:`ConsentError` naming the valid choices."""
    if purpose not in PURPOSES:
        raise ConsentError(f"unknown consent purpose {purpose!r}; expected one of {', '.join(PURPOSES)}")
    ch = None if channel == ANY_CHANNEL else channel
    for j, (p, c) in enumerate(BITS):
        if p == purpose and c == ch:
            return j
    valid = [c for p, c in BITS if p == purpose]
    if valid == [None]:
        raise ConsentError(f"consent purpose {purpose} is channel-independent: pass channel None, not {channel!r}")
    raise ConsentError(f"consent purpose {purpose} needs a channel, one of {', '.join(str(c) for c in valid)}; "
                       f"got {channel!r}")


@dataclass(frozen=True)
class ConsentRates:
    """Initial opt-in shares per (purpose, channel).

    Defaults follow published opt-in figures: push notification opt-in on mobile is roughly 45–60%
    (Airship, Business of Apps 2023), marketing SMS opt-in lower (~35%); most users accept location features
    (~60%) and analytics (~70%) when asked once. Advertising by push and by SMS are correlated (people who
    accept marketing tend to accept it everywhere): ``advertising_correlation`` is the Pearson correlation of
    the two bits, clipped to what the marginals allow.
    """

    advertising_push: float = 0.45
    advertising_sms: float = 0.35
    location_sharing: float = 0.6
    analytics: float = 0.7
    advertising_correlation: float = 0.6

    def __post_init__(self) -> None:
        for name in ("advertising_push", "advertising_sms", "location_sharing", "analytics"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and 0.0 <= value <= 1.0):
                raise InvalidConfigError(f"consent rate {name} must be within [0, 1], got {value!r}")
        c = self.advertising_correlation
        if not (isinstance(c, int | float) and math.isfinite(c) and -1.0 <= c <= 1.0):
            raise InvalidConfigError(f"advertising_correlation must be within [-1, 1], got {c!r}")

    @classmethod
    def uniform(cls, rate: float) -> ConsentRates:
        """Every purpose and channel opted in at ``rate`` (the CLI's ``--consent-rate``)."""
        return cls(rate, rate, rate, rate)

    @classmethod
    def with_advertising(cls, rate: float) -> ConsentRates:
        """Advertising opted in at ``rate`` on both channels, other purposes at their defaults."""
        return cls(advertising_push=rate, advertising_sms=rate)

    def rate(self, purpose: str, channel: str | None) -> float:
        """The configured initial share of (purpose, channel)."""
        return (self.advertising_push, self.advertising_sms, self.location_sharing,
                self.analytics)[bit_of(purpose, channel)]


@dataclass(frozen=True, slots=True)
class ConsentChange:
    """One recorded change of one subscriber's consent."""

    at: datetime
    purpose: str
    channel: str | None
    granted: bool
    source: str

    def to_dict(self) -> dict[str, Any]:
        """The change as camelCase JSON-ready data; the instant as RFC 3339 UTC."""
        return {"at": format_instant(self.at), "purpose": self.purpose,
                "channel": self.channel, "granted": self.granted, "source": self.source}


@dataclass(frozen=True)
class ConsentChanges:
    """The state flips made by one :meth:`ConsentLedger.set` call (subscribers whose bit actually changed)."""

    at: datetime
    purpose: str
    channel: str | None
    granted: bool
    source: str
    subscribers: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.subscribers)


class _Growable:
    """A 1-D array with amortised O(1) appends of many values (capacity doubling)."""

    def __init__(self, dtype: type[np.generic], capacity: int = 0) -> None:
        self._data: NDArray[Any] = np.zeros(capacity, dtype=dtype)
        self.size = 0

    @property
    def values(self) -> NDArray[Any]:
        return self._data[: self.size]

    def extend(self, values: ArrayLike) -> None:
        v = np.asarray(values, dtype=self._data.dtype).reshape(-1)
        need = self.size + len(v)
        if need > len(self._data):
            grown = np.zeros(max(16, 2 * len(self._data), need), dtype=self._data.dtype)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size: need] = v
        self.size = need


class ConsentLedger:
    """Per subscriber, per purpose and channel: current consent bits, baseline and append-only change log.

    Subscribers are row indices of the population. Instants are aware datetimes, stored as int64 microseconds.
    Before the ledger's ``start`` nothing is permitted; at ``start`` the baseline (``INITIAL`` grants) holds.
    """

    def __init__(self, start: datetime, baseline: NDArray[np.uint8]) -> None:
        self.start = start.astimezone(UTC)
        self._start_us = _micros(start)
        self._baseline = _Growable(np.uint8)
        self._baseline.extend(baseline)
        self._state = _Growable(np.uint8)
        self._state.extend(baseline)
        self._t = _Growable(np.int64)
        self._sub = _Growable(np.int64)
        self._bit = _Growable(np.uint8)
        self._granted = _Growable(np.bool_)
        self._source = _Growable(np.uint8)
        self.sources: list[str] = list(SOURCES)
        self._last_us = self._start_us

    @classmethod
    def build(cls, n: int, start: datetime, streams: RngStreams, rates: ConsentRates | None = None) -> ConsentLedger:
        """Initial consent of ``n`` subscribers at ``start``, drawn per block from ``streams.stream("consent", b)``."""
        if n < 0:
            raise InvalidConfigError(f"ledger size must be non-negative, got {n}")
        _micros(start)
        r = rates or ConsentRates()
        p1, p2 = r.advertising_push, r.advertising_sms
        # Joint Bernoulli with the given marginals and correlation: P(both) from the covariance, clipped.
        both = p1 * p2 + r.advertising_correlation * math.sqrt(p1 * (1 - p1) * p2 * (1 - p2))
        both = min(max(both, max(0.0, p1 + p2 - 1.0)), min(p1, p2))
        sms_if_push = both / p1 if p1 > 0 else 0.0
        sms_if_not = (p2 - both) / (1 - p1) if p1 < 1 else 0.0
        baseline = np.empty(n, dtype=np.uint8)
        for b in range(math.ceil(n / BLOCK_SIZE)):
            lo, hi = b * BLOCK_SIZE, min(n, (b + 1) * BLOCK_SIZE)
            u = streams.stream("consent", b).random((4, hi - lo))
            push = u[0] < p1
            sms = u[1] < np.where(push, sms_if_push, sms_if_not)
            bits = (push.astype(np.uint8) | (sms.astype(np.uint8) << 1) | ((u[2] < r.location_sharing) << 2)
                    | ((u[3] < r.analytics) << 3))
            baseline[lo:hi] = bits
        return cls(start, baseline)

    # -- size -------------------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Number of subscribers in the ledger."""
        return self._state.size

    @property
    def changes(self) -> int:
        """Number of changes in the log (the baseline is not counted)."""
        return self._t.size

    @property
    def last_change(self) -> datetime:
        """Instant of the latest change (the start if none); new changes may not be earlier."""
        return from_micros(self._last_us)

    @staticmethod
    def validate_grants(granted: dict[tuple[str, str | None], bool] | None) -> None:
        """Check a grants mapping for :meth:`extend` without changing anything (raises :class:`ConsentError`)."""
        for key, value in (granted or {}).items():
            if not (isinstance(key, tuple) and len(key) == 2):
                raise ConsentError(f"consent grants are keyed by (purpose, channel), got {key!r}")
            bit_of(*key)
            if not isinstance(value, bool | np.bool_):
                raise ConsentError(f"consent grant for {key[0]}/{key[1] or ANY_CHANNEL} must be a boolean")

    def extend(self, k: int, granted: dict[tuple[str, str | None], bool] | None = None,
               at: datetime | None = None) -> None:
        """Add ``k`` subscribers (rows after the current ones), e.g. test subscribers appended to the population.

        They start with nothing permitted; each (purpose, channel) in ``granted`` mapped to True is granted at
        ``at`` (default: the latest change, or the start) with source ``INITIAL``.
        """
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise InvalidConfigError(f"number of subscribers to add must be a non-negative integer, got {k!r}")
        self.validate_grants(granted)
        bits = [bit_of(p, c) for (p, c), g in (granted or {}).items() if g]
        at_us = self._check_time(at) if at is not None else self._last_us
        first = self.size
        self._baseline.extend(np.zeros(k, dtype=np.uint8))
        self._state.extend(np.zeros(k, dtype=np.uint8))
        rows = np.arange(first, first + k, dtype=np.int64)
        for bit in bits:
            self._apply(rows, bit, True, at_us, 0)

    # -- changes ----------------------------------------------------------------------------------------
    def _check_time(self, at: datetime) -> int:
        us = _micros(at)
        if us < self._last_us:
            raise ConsentError(f"consent change at {format_instant(at)} is before the last recorded change "
                               f"({format_instant(self.last_change)}); history is append-only")
        return us

    def _rows(self, subscribers: int | ArrayLike) -> NDArray[np.int64]:
        arr = np.asarray(subscribers)
        if arr.dtype == np.bool_ or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
            raise UnknownSubscriberError("subscribers must be integer row indices")
        rows = arr.astype(np.int64).reshape(-1)
        if rows.size and (rows.min() < 0 or rows.max() >= self.size):
            bad = rows[(rows < 0) | (rows >= self.size)][0]
            raise UnknownSubscriberError(f"no subscriber at row {int(bad)} (ledger has {self.size})")
        return rows

    def _source_code(self, source: str) -> int:
        if not isinstance(source, str) or not _SOURCE_PATTERN.match(source):
            raise ConsentError(f"consent source {source!r} must be an upper-case name like 'APP' or 'CARE'")
        if source not in self.sources:
            if len(self.sources) >= 255:
                raise ConsentError("too many distinct consent sources")
            self.sources.append(source)
        return self.sources.index(source)

    def _apply(self, rows: NDArray[np.int64], bit: int, granted: bool, at_us: int, source: int) -> NDArray[np.int64]:
        state = self._state.values
        current = (state[rows] >> bit) & 1
        flip: NDArray[np.int64] = rows[current != int(granted)]
        state[flip] ^= np.uint8(1 << bit)
        if len(flip):
            self._t.extend(np.full(len(flip), at_us, dtype=np.int64))
            self._sub.extend(flip)
            self._bit.extend(np.full(len(flip), bit, dtype=np.uint8))
            self._granted.extend(np.full(len(flip), granted))
            self._source.extend(np.full(len(flip), source, dtype=np.uint8))
        self._last_us = max(self._last_us, at_us)
        return flip

    def set(self, subscribers: int | ArrayLike, purpose: str, channel: str | None, granted: bool,
            at: datetime, source: str) -> ConsentChanges:
        """Grant or withdraw (purpose, channel) for ``subscribers`` at ``at`` and return the actual flips.

        ``at`` may not be before the last recorded change. Subscribers already in the requested state are not
        logged again; duplicates count once.
        """
        bit = bit_of(purpose, channel)
        if not isinstance(granted, bool | np.bool_):
            raise ConsentError(f"granted must be a boolean, got {granted!r}")
        code = self._source_code(source)
        at_us = self._check_time(at)
        rows = np.unique(self._rows(subscribers))
        flip = self._apply(rows, bit, bool(granted), at_us, code)
        return ConsentChanges(from_micros(at_us), purpose, BITS[bit][1], bool(granted), source, flip)

    def grant(self, subscribers: int | ArrayLike, purpose: str, channel: str | None, at: datetime,
              source: str) -> ConsentChanges:
        """Shorthand for :meth:`set` with ``granted=True``."""
        return self.set(subscribers, purpose, channel, True, at, source)

    def withdraw(self, subscribers: int | ArrayLike, purpose: str, channel: str | None, at: datetime,
                 source: str) -> ConsentChanges:
        """Shorthand for :meth:`set` with ``granted=False``."""
        return self.set(subscribers, purpose, channel, False, at, source)

    # -- queries ----------------------------------------------------------------------------------------
    def _bits_at(self, rows: NDArray[np.int64], bit: int, at: datetime | None) -> NDArray[np.bool_]:
        if at is None:
            return ((self._state.values[rows] >> bit) & 1).astype(np.bool_)
        us = _micros(at)
        if us < self._start_us:
            return np.zeros(len(rows), dtype=np.bool_)
        if us >= self._last_us:
            return ((self._state.values[rows] >> bit) & 1).astype(np.bool_)
        value = ((self._baseline.values[rows] >> bit) & 1).astype(np.bool_)
        # The log is in time order: its prefix up to `at` holds every change effective at `at`.
        end = int(np.searchsorted(self._t.values, us, side="right"))
        sel = np.flatnonzero(self._bit.values[:end] == bit)
        if not len(sel):
            return value
        subs = self._sub.values[sel]
        # The last change of each subscriber wins: unique over the reversed log gives last occurrences.
        uniq, first_rev = np.unique(subs[::-1], return_index=True)
        last = self._granted.values[sel][::-1][first_rev]
        pos = np.searchsorted(uniq, rows)
        pos_c = np.minimum(pos, len(uniq) - 1)
        hit = uniq[pos_c] == rows
        value[hit] = last[pos_c[hit]]
        return value

    @overload
    def is_permitted(self, subscribers: int, purpose: str, channel: str | None,
                     at: datetime | None = None) -> bool: ...

    @overload
    def is_permitted(self, subscribers: ArrayLike, purpose: str, channel: str | None,
                     at: datetime | None = None) -> NDArray[np.bool_]: ...

    def is_permitted(self, subscribers: int | ArrayLike, purpose: str, channel: str | None,
                     at: datetime | None = None) -> bool | NDArray[np.bool_]:
        """Whether each subscriber permits (purpose, channel) at ``at`` (None: now, the current state).

        Past instants replay the log over the baseline, vectorised; before the start nothing is permitted.
        A single int gives a bool, anything else an array aligned with ``subscribers``.
        """
        bit = bit_of(purpose, channel)
        rows = self._rows(subscribers)
        out = self._bits_at(rows, bit, at)
        if isinstance(subscribers, int | np.integer) and not isinstance(subscribers, bool):
            return bool(out[0])
        return out.reshape(np.shape(subscribers))

    def state(self, i: int, at: datetime | None = None) -> dict[str, dict[str, bool]]:
        """One subscriber's consent, e.g. ``{"ADVERTISING": {"PUSH": True, "SMS": False}, "ANALYTICS": {"ANY": …}}``."""
        rows = self._rows(i)
        if len(rows) != 1:
            raise UnknownSubscriberError("state() takes one subscriber row")
        out: dict[str, dict[str, bool]] = {}
        for bit, (purpose, channel) in enumerate(BITS):
            out.setdefault(purpose, {})[channel or ANY_CHANNEL] = bool(self._bits_at(rows, bit, at)[0])
        return out

    def history(self, i: int) -> list[ConsentChange]:
        """Every change of subscriber ``i`` in order, starting with its ``INITIAL`` grants at the start."""
        row = int(self._rows(i)[0])
        out = []
        base = int(self._baseline.values[row])
        for bit, (purpose, channel) in enumerate(BITS):
            if base >> bit & 1:
                out.append(ConsentChange(self.start, purpose, channel, True, "INITIAL"))
        for j in np.flatnonzero(self._sub.values == row).tolist():
            purpose, channel = BITS[int(self._bit.values[j])]
            out.append(ConsentChange(from_micros(int(self._t.values[j])), purpose, channel,
                                     bool(self._granted.values[j]), self.sources[int(self._source.values[j])]))
        return out

    def rate(self, purpose: str, channel: str | None) -> float:
        """Current share of subscribers who permit (purpose, channel)."""
        bit = bit_of(purpose, channel)
        if self.size == 0:
            return 0.0
        return float(np.count_nonzero((self._state.values >> bit) & 1)) / self.size

    def log(self) -> dict[str, NDArray[Any]]:
        """The change log as columns (copies: history cannot be rewritten through them).

        ``at_us`` (int64 µs since the epoch), ``subscriber``, ``bit``, ``granted``, ``source`` (index into
        :attr:`sources`).
        """
        return {"at_us": self._t.values.copy(), "subscriber": self._sub.values.copy(),
                "bit": self._bit.values.copy(), "granted": self._granted.values.copy(),
                "source": self._source.values.copy()}
