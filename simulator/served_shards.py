"""A served world split into shards: the :class:`~simulator.world.World` the gateway holds under ``--engine ray``.

Owns the driver side of a sharded world that a gateway serves (:class:`ServedShardedWorld`) and the shard side
that records what its world tells listeners (:class:`ServedShard`). The driver holds what is the same in every
shard — config, city, network, the one clock (and the gateway's callbacks on it), the random streams the gateway
draws from, the gatherings' list, the running message count of the inboxes — and routes the rest:

* stepping: every tick the driver runs its clock's callbacks, then every shard steps the tick; the shards' cell
  changes, SIM swaps and line activations (global ids) are merged into the order the single world hears them
  (cell changes in the order trips started, then subscriber; swaps and activations by instant) and handed to the
  gateway's listeners, then the step listeners run;
* point lookups and writes about one subscriber go to the shard owning its row (``first_row`` ranges); what the
  shard's world tells its listeners meanwhile (a pin's cell change, a consent change, a swap, an activation) is
  handed to the gateway's listeners when the call returns; test subscribers are appended to the last shard;
* column queries are split by owner and reassembled in the caller's order; area queries fan out and merge;
* gatherings are drawn once over the whole population (every shard draws the same attendees from the gathering's
  own stream) and each shard schedules its own attendees.

Every answer equals the single world's for the same config (``tests/simulator/test_served_shards.py``; with the
gateway on top, a whole scenario's transcript: ``tests/scenarios/test_serve_sharded.py`` and, on Ray,
``test_serve_ray.py``). Two orders are reproduced with care: the cell changes of a tick (the single world lists
movers in the order their trips started — a shard keys each trip by tick and kind of departure) and inbox message
numbers (a running count over all devices, kept by the driver). Within one tick the gateway's cell listeners run
after the shards applied the tick's SIM changes too (the single world applies them just after): a cell listener
reading a SIM change of the same tick would see it (the gateway's only buffer cell changes for the step).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import fields, is_dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from simulator.city import with_locale
from simulator.clock import SimClock, as_utc
from simulator.consent import ConsentChange
from simulator.errors import DuplicateSubscriberError, InvalidAreaError, SimulatorError, UnknownSubscriberError
from simulator.gatherings import GatheringInfo, GatheringVenue
from simulator.geo import Area
from simulator.inbox import MessageTemplate
from simulator.network import Network
from simulator.population import Subscriber
from simulator.rng import RngStreams
from simulator.segments import Segment
from simulator.shards import Shard, ShardPool
from simulator.world import (
    CellListener,
    ConsentState,
    LocalClock,
    SubscriberLocation,
    Whereabouts,
    World,
    WorldConfig,
    WorldSummary,
)

__all__ = ["ServedShard", "ServedShardedWorld"]

PHASE_RELEASE, PHASE_LEAVE, PHASE_ROUTINE, PHASE_EXTRA, PHASE_LAND, PHASE_DETACH = 0, 1, 2, 3, 4, 5
"""Kinds of change in the order the single world makes them in one tick: trips of releases (between ticks), of
roamers leaving for the airport, routine departures, scheduled ones (gatherings, arrivals); then the cell changes
that are no trip: roamers landing (attaching), then roamers detaching."""

Event = tuple[Any, ...]
"""What a shard's world told a listener: ``("cell", now, subs, old, new, keys)``, ``("consent", now, i, purpose,
channel, granted, source)``, ``("sim", now, subs, at)``, ``("act", now, subs, at)`` or ``("roam", now, subs)``
(roamers arrived), with global ids."""


class ServedShard(Shard):
    """A shard of a served world: records what its world tells listeners (global ids) for the driver.

    Every call the driver makes goes through :meth:`call` (or a method below), which first brings the shard's
    clock and inbox message count up to the driver's, and returns the result with the events recorded meanwhile.
    """

    def __init__(self, config: WorldConfig, first_block: int, blocks: int, history_ticks: int | None = None) -> None:
        super().__init__(config, first_block, blocks, history_ticks)
        w = self.world
        self._events: list[Event] = []
        self._mover_key = np.zeros(w.population.size, np.int64)
        self._release_seq = 0
        self._phase = PHASE_RELEASE
        self._extra_due = False
        # Bound methods, not closures: a deep copy of the shard (tests copy worlds) then records into the copy.
        w.on_consent_change(self._on_consent)
        w.on_sim_swap(self._on_sims)
        w.on_line_activation(self._on_activations)
        w.on_roamer_arrival(self._on_roamers)
        w.gatherings.first_row, w.gatherings.total = self.first_row, config.subscribers
        mv = w.movement
        self._depart, self._depart_due = mv.depart, mv.depart_due
        mv.depart = self._keyed_depart  # type: ignore[method-assign]
        mv.depart_due = self._keyed_depart_due  # type: ignore[method-assign]
        self._leave, self._due = mv.leave, w.roaming.due
        mv.leave = self._keyed_leave  # type: ignore[method-assign]
        w.roaming.due = self._keyed_roaming_due  # type: ignore[method-assign]

    # -- what the world tells its listeners ----------------------------------------------------------------
    def _on_consent(self, now: datetime, i: int, purpose: str, channel: str | None, granted: bool,
                    source: str) -> None:
        self._events.append(("consent", now, i + self.first_row, purpose, channel, granted, source))

    def _on_sims(self, now: datetime, subs: NDArray[np.int32], at: NDArray[np.int64]) -> None:
        self._events.append(("sim", now, subs + np.int32(self.first_row), at.copy()))

    def _on_activations(self, now: datetime, subs: NDArray[np.int32], at: NDArray[np.int64]) -> None:
        self._events.append(("act", now, subs + np.int32(self.first_row), at.copy()))

    def _on_roamers(self, now: datetime, subs: NDArray[np.int32]) -> None:
        self._events.append(("roam", now, subs + np.int32(self.first_row)))

    # -- the order of movers ---------------------------------------------------------------------------------
    # The single world lists movers in the order their trips started (a batch per departure call, each in
    # subscriber order); each trip that makes a subscriber a mover is keyed by (tick, kind of departure, release
    # number) so that the driver can put the shards' cell changes of a tick in that order.
    def _keys(self) -> NDArray[np.int64]:
        n = self.world.population.size
        if len(self._mover_key) < n:  # test subscribers added
            self._mover_key = np.concatenate([self._mover_key, np.zeros(n - len(self._mover_key), np.int64)])
        return self._mover_key

    def _keyed_depart(self, k: int, subs: NDArray[np.int32], places: NDArray[np.int32]) -> None:
        mv = self.world.movement
        phase = self._phase
        # Within depart_due the scheduled departures come second; they are popped from the schedule before.
        if phase == PHASE_ROUTINE and self._extra_due and k not in mv._extra:
            phase = PHASE_EXTRA
        new = subs[~mv.state.moving[subs]]
        seq = self._release_seq if phase == PHASE_RELEASE else 0
        self._keys()[new] = (np.int64(k) << 24) | (phase << 20) | seq
        self._depart(k, subs, places)

    def _keyed_leave(self, k: int, rows: NDArray[np.int32]) -> NDArray[np.int64]:
        self._phase = PHASE_LEAVE
        try:
            return self._leave(k, rows)
        finally:
            self._phase = PHASE_RELEASE

    def _keyed_roaming_due(self, k: int) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int32]]:
        # Landing and detaching are no trips: the single world lists them after every mover, each in row order.
        arriving, leaving, detaching = self._due(k)
        keys = self._keys()
        keys[arriving] = (np.int64(k) << 24) | (PHASE_LAND << 20)
        keys[detaching] = (np.int64(k) << 24) | (PHASE_DETACH << 20)
        return arriving, leaving, detaching

    def _keyed_depart_due(self, k: int) -> None:
        self._phase, self._extra_due = PHASE_ROUTINE, k in self.world.movement._extra
        self._release_seq = 0
        try:
            self._depart_due(k)
        finally:
            self._phase, self._extra_due = PHASE_RELEASE, False

    def _on_cells(self, now: datetime, subs: NDArray[np.int32], old: NDArray[np.int32],
                  new: NDArray[np.int32]) -> None:
        self._events.append(("cell", now, subs + np.int32(self.first_row), old.copy(), new.copy(), self._keys()[subs]))

    def _sync(self, now: datetime, inbox_count: int) -> None:
        w = self.world
        if now > w.clock.now:
            w.clock.run_until(now)
        behind = inbox_count - len(w.devices.inboxes)
        if behind > 0:  # messages delivered to other shards' devices: the running numbers continue after them
            w.devices.inboxes.add_forgotten(behind)

    def _drain(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    def call(self, now: datetime, inbox_count: int, path: str, args: tuple[Any, ...] = (),
             kwargs: dict[str, Any] | None = None) -> tuple[Any, list[Event], int]:
        """``world.<path>(*args, **kwargs)`` at ``now`` (an attribute: its value).

        Returns (the result, or the simulator error raised; the events recorded meanwhile; the inbox count).
        """
        self._sync(now, inbox_count)
        target: Any = self.world
        try:
            for name in path.split("."):
                target = getattr(target, name)
            result = target(*args, **(kwargs or {})) if callable(target) else target
        except SimulatorError as exc:  # handed back as a value: it crosses Ray as itself, not wrapped
            result = exc
        return result, self._drain(), len(self.world.devices.inboxes)

    def step_one(self, tick: int) -> list[Event]:
        """Step tick ``tick`` (the next one); returns the events of the tick."""
        self.world.step()
        assert self.world.tick_index == tick, "the driver steps every shard one tick at a time"
        return self._drain()

    def release(self, now: datetime, inbox_count: int, i: int, seq: int) -> tuple[Any, list[Event], int]:
        """Release local row ``i`` (the ``seq``-th release since the last tick, over all shards)."""
        self._release_seq = seq
        return self.call(now, inbox_count, "release", (i,))

    def find(self, msisdn: str) -> int | SimulatorError:
        """Global row of the subscriber with ``msisdn`` here, else the error the world raises."""
        try:
            return self.world.find_subscriber(msisdn) + self.first_row
        except SimulatorError as exc:
            return exc


def _merge(parts: Sequence[Any], positions: Sequence[NDArray[np.intp]], n: int) -> Any:
    """Results of a column query on parts of the subscribers, put back in the caller's order."""
    head = parts[0]
    if head is None:  # a write (devices taken down): nothing to put back
        return None
    if isinstance(head, np.ndarray):
        out = np.empty((n, *head.shape[1:]), head.dtype)
        for part, pos in zip(parts, positions, strict=True):
            out[pos] = part
        return out
    if isinstance(head, list):
        items: list[Any] = [None] * n
        for part, pos in zip(parts, positions, strict=True):
            for p, v in zip(pos.tolist(), part, strict=True):
                items[p] = v
        return items
    if isinstance(head, tuple):
        return tuple(_merge([p[j] for p in parts], positions, n) for j in range(len(head)))
    if is_dataclass(head) and not isinstance(head, type):
        return type(head)(**{f.name: _merge([getattr(p, f.name) for p in parts], positions, n)
                             for f in fields(head)})
    raise TypeError(f"cannot merge column results of type {type(head).__name__}")


class _ConsentColumns:
    """``world.consent`` as the gateway reads it: whether subscribers permit a purpose on a channel."""

    def __init__(self, world: ServedShardedWorld) -> None:
        self._world = world

    def is_permitted(self, subscribers: Any, purpose: str, channel: str | None,
                     at: datetime | None = None) -> Any:
        """Whether each subscriber permits (purpose, channel) at ``at`` (a single int gives a bool)."""
        if isinstance(subscribers, int | np.integer):
            return self._world._at(int(subscribers), "consent.is_permitted", purpose, channel, at, check=False)
        return self._world._columns("consent.is_permitted", subscribers, purpose, channel, at)


class _DeviceFaults:
    """``world.devices`` as the fault injection uses it: devices or cells down, SMS delays (every shard)."""

    def __init__(self, world: ServedShardedWorld) -> None:
        self._world = world

    def take_down(self, subs: Any, until: datetime) -> None:
        """Make devices unreachable until ``until``."""
        self._world._columns("devices.take_down", np.atleast_1d(np.asarray(subs, np.int64)), until)

    def cell_outage(self, cells: Any, start: datetime, end: datetime) -> None:
        """Take cells down during [start, end) in every shard."""
        self._world._every("devices.cell_outage", cells, start, end)

    def add_sms_delay(self, start: datetime, end: datetime, seconds: float) -> None:
        """Delay every SMS sent during [start, end) in every shard."""
        self._world._every("devices.add_sms_delay", start, end, seconds)


class ServedShardedWorld(World):
    """A world whose subscribers live in shards (``pool``), answering the gateway as the single world does.

    A :class:`~simulator.world.World` for the gateway's sake: every method the gateway calls is answered here
    (the network's from the driver's copy, the subscribers' by the shards); the parts the gateway never reaches
    (population, movement, presence, SIM cards) are not held by the driver. ``pool`` must hold
    :class:`ServedShard` shards.
    """

    def __init__(self, config: WorldConfig, pool: ShardPool) -> None:
        # World.__init__ builds a whole population: the driver holds only what every shard has in common.
        config.validate()
        self.config = config
        self.pool = pool
        self.streams = RngStreams(config.seed)
        city = config.territory()
        if config.locale is not None:
            city = with_locale(city, config.locale)
        self.city = city
        self.network = Network.build(city, self.streams)
        self.tz = ZoneInfo(city.timezone)
        self.zones = [ZoneInfo(z) for z in city.timezones]
        self.start = as_utc(config.start)
        self.tick = timedelta(seconds=config.tick_seconds)
        self.clock = SimClock(self.start)
        self.tick_index = 0
        self.in_tick = False
        self.base_size = config.subscribers
        self._cell_listeners: list[CellListener] = []
        self._consent_listeners = []
        self._step_listeners = []
        self._sim_listeners = []
        self._activation_listeners = []
        self._roamer_listeners = []
        self._history_days: int | None = None
        self._inbox_days: int | None = None
        self.tick_ms_last = 0.0
        self.tick_ms_total = 0.0
        self.ticks_run = 0
        self.rows: list[tuple[int, int]] = pool.submit("rows")()
        """(first global row, rows) of each shard, in shard order (the last grows with test subscribers)."""
        self._firsts = np.asarray([lo for lo, _ in self.rows], np.int64)
        self._inbox_count = 0
        self._templates: list[list[int]] = []
        self._releases = 0
        self._gatherings: list[GatheringInfo] = []
        self.gatherings = self._gatherings  # type: ignore[assignment]  # read as a sequence; shards schedule them
        self.consent = _ConsentColumns(self)  # type: ignore[assignment]  # the reads the gateway makes
        self.devices = _DeviceFaults(self)  # type: ignore[assignment]  # the fault injection's writes

    # -- routing ---------------------------------------------------------------------------------------
    def _owner(self, i: int, check: bool = True) -> tuple[int, int]:
        if check and not 0 <= i < self.subscriber_count:
            raise UnknownSubscriberError(f"no subscriber with index {i}")
        j = int(np.searchsorted(self._firsts, i, side="right")) - 1
        return max(j, 0), i - int(self._firsts[max(j, 0)])

    def _finish(self, answer: tuple[Any, list[Event], int]) -> Any:
        result, events, count = answer
        self._inbox_count = max(self._inbox_count, count)
        self._dispatch(events)
        if isinstance(result, SimulatorError):
            raise result
        return result

    def _at(self, i: int, path: str, *args: Any, check: bool = True, **kwargs: Any) -> Any:
        j, local = self._owner(i, check)
        return self._on_shard(j, path, local, *args, **kwargs)

    def _on_shard(self, j: int, path: str, *args: Any, **kwargs: Any) -> Any:
        return self._finish(self.pool.submit_to(j, "call", self.clock.now, self._inbox_count, path, args, kwargs)())

    def _every(self, path: str, *args: Any, **kwargs: Any) -> list[Any]:
        answers = self.pool.submit("call", self.clock.now, self._inbox_count, path, args, kwargs)()
        return [self._finish(a) for a in answers]

    def _split(self, subs: Any) -> tuple[list[int], list[NDArray[np.intp]], list[NDArray[np.int64]], int]:
        idx = np.asarray(subs, dtype=np.int64).reshape(-1)
        owner = np.searchsorted(self._firsts, idx, side="right") - 1
        shards: list[int] = []
        positions: list[NDArray[np.intp]] = []
        local: list[NDArray[np.int64]] = []
        for j in np.unique(owner).tolist() or [len(self.rows) - 1]:
            pos = np.flatnonzero(owner == j)
            shards.append(max(int(j), 0))
            positions.append(pos)
            local.append(idx[pos] - self._firsts[max(int(j), 0)])
        return shards, positions, local, len(idx)

    def _columns(self, path: str, subs: Any, *args: Any) -> Any:
        shards, positions, local, n = self._split(subs)
        waits = [self.pool.submit_to(j, "call", self.clock.now, self._inbox_count, path, (loc, *args), {})
                 for j, loc in zip(shards, local, strict=True)]
        return _merge([self._finish(w()) for w in waits], positions, n)

    def _fan_ids(self, path: str, *args: Any) -> NDArray[np.int32]:
        parts = self._every(path, *args)
        return np.concatenate([p + np.int32(lo) for p, (lo, _) in zip(parts, self.rows, strict=True)]).astype(np.int32)

    def _dispatch(self, events: Sequence[Event]) -> None:
        for e in events:
            kind, now = e[0], e[1]
            if kind == "cell":
                for cell_fn in self._cell_listeners:
                    cell_fn(now, e[2], e[3], e[4])
            elif kind == "consent":
                for consent_fn in self._consent_listeners:
                    consent_fn(now, *e[2:])
            elif kind == "sim":
                for sim_fn in self._sim_listeners:
                    sim_fn(now, e[2], e[3])
            elif kind == "roam":
                for roamer_fn in self._roamer_listeners:
                    roamer_fn(now, e[2])
            else:
                for act_fn in self._activation_listeners:
                    act_fn(now, e[2], e[3])

    def _dispatch_tick(self, now: datetime, parts: Sequence[list[Event]]) -> None:
        """The events of one tick from every shard, merged into the single world's order and handed on."""
        by_kind: dict[str, list[Event]] = {"cell": [], "roam": [], "sim": [], "act": []}
        for events in parts:
            for e in events:
                by_kind[e[0]].append(e)
        cells = by_kind["cell"]
        if cells:
            subs = np.concatenate([e[2] for e in cells])
            keys = np.concatenate([e[5] for e in cells])
            order = np.lexsort((subs, keys))
            old, new = np.concatenate([e[3] for e in cells]), np.concatenate([e[4] for e in cells])
            for cell_fn in self._cell_listeners:
                cell_fn(now, subs[order], old[order], new[order])
        if by_kind["roam"]:  # each shard's in row order, the shards in row order: the single world's order
            arrived = np.concatenate([e[2] for e in by_kind["roam"]])
            for roamer_fn in self._roamer_listeners:
                roamer_fn(now, arrived)
        for kind, listeners in (("sim", self._sim_listeners), ("act", self._activation_listeners)):
            got = by_kind[kind]
            if got:
                subs = np.concatenate([e[2] for e in got])
                at = np.concatenate([e[3] for e in got])
                order = np.argsort(at, kind="stable")
                for fn in listeners:
                    fn(now, subs[order], at[order])

    # -- time ------------------------------------------------------------------------------------------
    def step(self) -> None:
        """Advance one tick: the clock's callbacks up to it, every shard's tick, then the listeners."""
        t_wall = time.perf_counter()
        k = self.tick_index + 1
        now = self.time_of(k)
        self.in_tick = True
        try:
            self.clock.run_until(now)
            self.tick_index = k
            self._releases = 0
            self._dispatch_tick(now, self.pool.submit("step_one", k)())
            for fn in self._step_listeners:
                fn(now)
        finally:
            self.in_tick = False
        self.tick_ms_last = (time.perf_counter() - t_wall) * 1000.0
        self.tick_ms_total += self.tick_ms_last
        self.ticks_run += 1

    def keep_history(self, days: int | None) -> None:
        """Keep ``days`` simulated days of presence history in every shard (``None`` keeps all)."""
        self._every("keep_history", days)
        self._history_days = days

    def keep_inbox(self, days: int | None) -> None:
        """Keep ``days`` simulated days of device inboxes in every shard (``None`` keeps all)."""
        self._every("keep_inbox", days)
        self._inbox_days = days

    @property
    def history_start(self) -> datetime:
        """Earliest instant the presence history answers for (the same in every shard)."""
        start: datetime = self._on_shard(0, "history_start")
        return start

    # -- gatherings ------------------------------------------------------------------------------------
    def add_gathering(self, name: str, start: datetime, end: datetime, *, place: str | None = None,
                      latitude: float | None = None, longitude: float | None = None, share: float | None = None,
                      count: int | None = None, arrive_before: timedelta = timedelta(minutes=60)) -> GatheringInfo:
        """Make a share (or a count) of people attend a place: drawn once, scheduled by each shard for its own."""
        infos = self._every("add_gathering", name, start, end, place=place, latitude=latitude, longitude=longitude,
                            share=share, count=count, arrive_before=arrive_before)
        info: GatheringInfo = infos[0]
        self._gatherings.append(info)
        return info

    def gathering_venue(self, gathering: GatheringInfo) -> GatheringVenue:
        """WGS84 position of a gathering's venue (every shard has the same venues)."""
        venue: GatheringVenue = self._on_shard(0, "gathering_venue", gathering)
        return venue

    # -- subscribers -----------------------------------------------------------------------------------
    @property
    def subscriber_count(self) -> int:
        """Number of subscribers over every shard (test subscribers come last)."""
        lo, n = self.rows[-1]
        return lo + n

    def find_subscriber(self, msisdn: str) -> int:
        """Index of the subscriber with this E.164 number (asked of every shard)."""
        found = self.pool.submit("find", msisdn)()
        for f in found:
            if not isinstance(f, SimulatorError):
                return int(f)
        raise found[0]

    def index_of(self, msisdn: str) -> int:
        """Row index of the subscriber with this E.164 number (with '+')."""
        return self.find_subscriber(msisdn)

    def msisdn_of(self, i: int) -> str:
        """E.164 number (with '+') of subscriber ``i``."""
        msisdn: str = self._at(i, "msisdn_of")
        return msisdn

    def subscriber_profile(self, i: int) -> Subscriber:
        """Operator-side profile of subscriber ``i``."""
        profile: Subscriber = self._at(i, "subscriber_profile")
        return replace(profile, index=i)

    def position_latlon(self, i: int) -> tuple[float, float]:
        """True position of a subscriber in WGS84."""
        pos: tuple[float, float] = self._at(i, "position_latlon")
        return pos

    def last_seen(self, i: int) -> datetime:
        """Last network contact of a subscriber's device."""
        seen: datetime = self._at(i, "last_seen", check=False)
        return seen

    def next_periodic_contacts(self, subs: NDArray[np.int64] | NDArray[np.int32], after: datetime
                               ) -> NDArray[np.int64]:
        """Each device's first periodic update strictly after ``after`` (microseconds since the epoch)."""
        out: NDArray[np.int64] = self._columns("next_periodic_contacts", subs, after)
        return out

    def is_reachable(self, subs: NDArray[np.int64] | int) -> NDArray[np.bool_]:
        """Whether devices can be reached now."""
        out: NDArray[np.bool_] = self._columns("is_reachable", np.atleast_1d(np.asarray(subs, np.int64)))
        return out

    def is_reachable_one(self, sub: int) -> bool:
        """:meth:`is_reachable` of one device."""
        return bool(self._at(sub, "is_reachable_one", check=False))

    def sms_delay_s(self) -> float:
        """Extra delay of an SMS sent now (the injected faults are in every shard)."""
        return float(self._on_shard(0, "sms_delay_s"))

    def locate(self, i: int) -> SubscriberLocation:
        """Where the network sees a subscriber, and where they truly are."""
        loc: SubscriberLocation = self._at(i, "locate")
        return loc

    def consent_state(self, i: int) -> ConsentState:
        """Current consent of a subscriber by purpose and channel."""
        state: ConsentState = self._at(i, "consent_state")
        return state

    def consent_history(self, i: int) -> list[ConsentChange]:
        """Every consent change of a subscriber, oldest first."""
        history: list[ConsentChange] = self._at(i, "consent_history")
        return history

    def set_consent(self, i: int, purpose: str, channel: str | None, granted: bool, source: str = "ADMIN") -> None:
        """Grant or withdraw consent now; listeners hear of actual changes."""
        self._at(i, "set_consent", purpose, channel, granted, source)

    def pin(self, i: int, latitude: float, longitude: float) -> None:
        """Hold a subscriber at a place until released (the cell updates at once)."""
        self._at(i, "pin", latitude, longitude)

    def release(self, i: int) -> None:
        """Let a pinned subscriber return to their routine."""
        j, local = self._owner(i)
        self._finish(self.pool.submit_to(j, "release", self.clock.now, self._inbox_count, local, self._releases)())
        self._releases += 1

    def add_test_subscriber(self, msisdn: str, *, profile: dict[str, Any] | None = None,
                            consent: dict[str, dict[str, bool]] | None = None, latitude: float | None = None,
                            longitude: float | None = None) -> int:
        """Add a QA phone to the last shard (its row comes after every other, as in the single world)."""
        lat = self.city.projection.lat0 if latitude is None else latitude
        lon = self.city.projection.lon0 if longitude is None else longitude
        x, y = self.city.projection.point_xy(lat, lon)
        if not bool(self.city.contains(x, y)):
            raise InvalidAreaError(f"({lat}, {lon}) is outside {self.city.display_name}")
        last = len(self.rows) - 1
        for j, found in enumerate(self.pool.submit("find", msisdn)()):
            if j != last and not isinstance(found, SimulatorError):  # the last shard checks its own rows
                raise DuplicateSubscriberError(f"msisdn {self.msisdn_of(int(found))} is already a subscriber")
        result, events, count = self.pool.submit_to(
            last, "call", self.clock.now, self._inbox_count, "add_test_subscriber", (msisdn,),
            {"profile": profile, "consent": consent, "latitude": latitude, "longitude": longitude})()
        lo, n = self.rows[last]
        if not isinstance(result, SimulatorError):
            self.rows[last] = (lo, n + 1)  # before the listeners hear of the activation: the row exists
        self._finish((result, events, count))
        return lo + int(result)

    def test_subscribers(self) -> NDArray[np.int32]:
        """Row indices of the test subscribers, ascending."""
        return self._fan_ids("test_subscribers")

    # -- inboxes ---------------------------------------------------------------------------------------
    def inbox(self, i: int) -> list[dict[str, Any]]:
        """Messages the device received, oldest first."""
        messages: list[dict[str, Any]] = self._at(i, "inbox")
        return messages

    def deliver(self, i: int, channel: str, sender: str, text: str, kind: str, **extra: Any) -> None:
        """Put a message on a device now (numbered after every message of every shard)."""
        self._at(i, "deliver", channel, sender, text, kind, **extra)

    def deliver_forgotten(self, n: int) -> None:
        """Count ``n`` messages from before the inbox retention's cutoff (the running number moves on)."""
        self._inbox_count += n

    def message_template(self, template: MessageTemplate) -> int:
        """Register what a batch of deliveries share, in every shard; returns the driver's number for it."""
        self._templates.append([int(t) for t in self._every("message_template", template)])
        return len(self._templates) - 1

    def deliver_batch(self, subs: NDArray[np.int64] | NDArray[np.int32], received_us: NDArray[np.int64],
                      channel: NDArray[np.uint8], channel_names: Sequence[str], template: NDArray[np.int32] | int,
                      number: NDArray[np.int64] | None = None) -> None:
        """Put one message on each device of ``subs`` (each in its shard), numbered as the single world does."""
        n = len(subs)
        if n == 0:
            return
        numbers = np.arange(self._inbox_count + 1, self._inbox_count + n + 1, dtype=np.int64) if number is None \
            else np.asarray(number, np.int64)
        templates = np.broadcast_to(np.asarray(template, np.int64), (n,))
        shards, positions, local, _ = self._split(subs)
        table = [np.asarray(t, np.int64) for t in zip(*self._templates, strict=True)] if self._templates else []
        waits = [self.pool.submit_to(j, "call", self.clock.now, self._inbox_count, "deliver_batch",
                                     (loc, np.asarray(received_us)[pos], np.asarray(channel)[pos], list(channel_names),
                                      table[j][templates[pos]].astype(np.int32), numbers[pos]), {})
                 for j, pos, loc in zip(shards, positions, local, strict=True)]
        for w in waits:
            self._finish(w())
        if number is None:
            self._inbox_count += n

    # -- SIM cards -------------------------------------------------------------------------------------
    def sim_swap(self, i: int) -> datetime:
        """Give subscriber ``i`` a new SIM now; listeners hear of it at once."""
        at: datetime = self._at(i, "sim_swap")
        return at

    def sim_activated(self, i: int) -> datetime:
        """When subscriber ``i``'s line was activated."""
        at: datetime = self._at(i, "sim_activated")
        return at

    def last_sim_change(self, i: int) -> datetime:
        """Latest SIM change of subscriber ``i``."""
        at: datetime = self._at(i, "last_sim_change")
        return at

    def last_sim_changes(self, subs: NDArray[np.int64] | NDArray[np.int32]) -> NDArray[np.int64]:
        """Latest SIM change of each subscriber, in microseconds since the epoch."""
        out: NDArray[np.int64] = self._columns("last_sim_changes", subs)
        return out

    def sim_swaps(self, i: int) -> int:
        """How many times subscriber ``i``'s SIM was swapped."""
        return int(self._at(i, "sim_swaps"))

    def sim_swapped_since(self, subs: NDArray[np.int64] | NDArray[np.int32], since: datetime) -> NDArray[np.bool_]:
        """Whether each subscriber's SIM changed after ``since``."""
        out: NDArray[np.bool_] = self._columns("sim_swapped_since", subs, since)
        return out

    def cell_track(self, i: int, since: datetime) -> list[tuple[datetime, int]]:
        """A subscriber's serving cell at ``since`` and each change after it."""
        track: list[tuple[datetime, int]] = self._at(i, "cell_track", since)
        return track

    # -- areas and audiences ---------------------------------------------------------------------------
    def occupants(self, area: Area, precise: bool = False) -> NDArray[np.int32]:
        """Subscribers whose serving cell covers part of ``area`` now (or, ``precise``, who are inside it)."""
        return self._fan_ids("occupants", area, precise)

    def occupants_of_cells(self, cells: NDArray[np.int32]) -> NDArray[np.int32]:
        """Subscribers whose serving cell is one of ``cells`` now (sorted)."""
        return self._fan_ids("occupants_of_cells", cells)

    def visitors_of_cells(self, cells: NDArray[np.int32], t1: datetime, t2: datetime) -> NDArray[np.int32]:
        """Subscribers served by one of ``cells`` at some moment between ``t1`` and ``t2`` (sorted)."""
        return self._fan_ids("visitors_of_cells", cells, t1, t2)

    def residents_of_cells(self, cells: NDArray[np.int32], place: str = "HOME") -> NDArray[np.int32]:
        """Subscribers whose home (or work) is served by ``cells`` (sorted)."""
        return self._fan_ids("residents_of_cells", cells, place)

    def serving_cells(self, subs: NDArray[np.int64] | NDArray[np.int32]) -> NDArray[np.int32]:
        """Current serving cell of each subscriber."""
        out: NDArray[np.int32] = self._columns("serving_cells", subs)
        return out

    def msisdns(self, subs: NDArray[np.int64] | NDArray[np.int32]) -> list[str]:
        """E.164 numbers of subscribers."""
        out: list[str] = self._columns("msisdns", subs)
        return out

    def segment_mask(self, subs: NDArray[np.int64] | NDArray[np.int32], segment: Segment) -> NDArray[np.bool_]:
        """Whether each subscriber matches ``segment``."""
        out: NDArray[np.bool_] = self._columns("segment_mask", subs, segment)
        return out

    def app_installed(self, subs: NDArray[np.int64] | NDArray[np.int32]) -> NDArray[np.bool_]:
        """Whether each subscriber has the operator's app."""
        out: NDArray[np.bool_] = self._columns("app_installed", subs)
        return out

    def ages(self, subs: NDArray[np.int64] | NDArray[np.int32]) -> NDArray[np.uint8]:
        """Age of each subscriber."""
        out: NDArray[np.uint8] = self._columns("ages", subs)
        return out

    def whereabouts(self, subs: NDArray[np.int64] | NDArray[np.int32]) -> Whereabouts:
        """Whether each subscriber is at home, at work, or travelling now."""
        out: Whereabouts = self._columns("whereabouts", subs)
        return out

    @property
    def timezones(self) -> list[str]:
        """IANA names of the territory's time zones (the capital's first), as every shard has them."""
        return list(self.city.timezones)

    def timezone_codes(self, subs: NDArray[np.int64] | NDArray[np.int32]) -> NDArray[np.uint8]:
        """Each subscriber's time zone, as an index into :attr:`timezones`."""
        out: NDArray[np.uint8] = self._columns("timezone_codes", subs)
        return out

    def local_time(self, at: datetime | None = None, sub: int | None = None) -> datetime:
        """``at`` (default now) in the capital's time zone, or in subscriber ``sub``'s."""
        if sub is None:
            return (at or self.clock.now).astimezone(self.tz)
        self._owner(sub)  # an unknown subscriber: the single world's error
        code = int(self.timezone_codes(np.asarray([sub], np.int64))[0])
        return (at or self.clock.now).astimezone(self.zones[code])

    def local_clock(self, subs: NDArray[np.int64] | NDArray[np.int32], at: datetime | None = None) -> LocalClock:
        """Each subscriber's local hour, minute of day, weekday and calendar day at ``at`` (default now)."""
        out: LocalClock = self._columns("local_clock", subs, at or self.clock.now)
        return out

    def device_kinds(self, subs: NDArray[np.int64] | NDArray[np.int32]
                     ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """(roaming, smartphone) of each subscriber."""
        out: tuple[NDArray[np.bool_], NDArray[np.bool_]] = self._columns("device_kinds", subs)
        return out

    def cell_counts_at(self, at: datetime | None = None) -> NDArray[np.int64]:
        """Subscribers served by each cell at ``at`` (default now), added over the shards."""
        counts: NDArray[np.int64] = np.sum(self._every("cell_counts_at", at), axis=0).astype(np.int64)
        return counts

    # -- reporting -------------------------------------------------------------------------------------
    def summary(self) -> WorldSummary:
        """The whole world's summary (the driver's clock and tick costs, the shards' counts added)."""
        parts: list[WorldSummary] = self._every("summary")
        return replace(parts[0], subscribers=sum(p.subscribers for p in parts), now=self.clock.now,
                       ticks=self.ticks_run, last_tick_ms=round(self.tick_ms_last, 3),
                       mean_tick_ms=round(self.tick_ms_total / self.ticks_run, 3) if self.ticks_run else 0.0,
                       clock_mode=self.clock.mode, moving=sum(p.moving for p in parts),
                       cell_changes=sum(p.cell_changes for p in parts), gatherings=len(self._gatherings))

    def close(self) -> None:
        """Release the shards."""
        self.pool.close()

