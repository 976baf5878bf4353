"""A world split by subscriber block into shards that step on their own, and the facade that merges their answers.

Subscribers are synthesised and routed in blocks of :data:`~simulator.rng.BLOCK_SIZE`, each block from its own
named streams (``("population", b)``, ``("consent", b)``, ``("sim-activation", b)``, ``("plan", day, b)``,
``("roaming-start", b)``, ``("roaming-day", day, b)``), so a
run of consecutive blocks can be built and stepped without the others and gives exactly the rows, plans and cell
changes the whole world gives them. A shard (:class:`Shard`) is a :class:`~simulator.world.World` over one such
run of blocks; its row ``i`` is the global subscriber ``first_row + i``:

* its streams (:class:`ShardStreams`) shift the block key of the block-keyed streams (:data:`BLOCK_KEYED`) by the
  shard's first block; streams without a block key (network, venues, numbering) are the whole world's;
* the per-device columns drawn from the one ``"devices"`` stream are the shard's slice of the whole world's draw
  (the generator jumps ahead, it does not draw the others' numbers);
* random SIM swaps and line activations are drawn per hour over the whole population, as the world does, and the
  shard keeps its own lines;
* the realism tracker follows the shard's part of the world's sample; :func:`merge_realism` rebuilds the whole.

What a shard answers about subscribers uses global ids; within one tick its cell changes are in subscriber order.
:class:`ShardedWorld` fans a query out to every shard through a :class:`ShardPool` (in-process here,
:mod:`simulator.ray_shards` for Ray actors) and merges: id sets are concatenated in shard order (hence sorted),
counts added. Only ids and counts cross between shards and the caller. What a served world needs beyond these
queries (listeners, point lookups and writes, gatherings, test subscribers, inboxes) is
:mod:`simulator.served_shards`'s.
"""

from __future__ import annotations

import math
import resource
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from simulator.city import with_locale
from simulator.clock import as_utc, to_micros
from simulator.consent import ConsentLedger
from simulator.devices import NIGHT_OFF_SHARE, PERIODIC_UPDATE_S, Devices
from simulator.errors import InvalidConfigError
from simulator.geo import Area
from simulator.lifecycle import SimCards
from simulator.mobility import Venues
from simulator.network import Network
from simulator.population import Population
from simulator.realism import RealismTracker
from simulator.rng import BLOCK_SIZE, RngStreams
from simulator.segments import Segment
from simulator.world import World, WorldConfig, WorldSummary

BLOCK_KEYED: dict[str, int] = {"population": 0, "consent": 0, "sim-activation": 0, "plan": 1, "roaming-start": 0,
                             "roaming-day": 1}
"""Streams keyed by a block index, and the position of that key (a new block-keyed stream must be listed here)."""

WHOLE_WORLD_STREAMS = frozenset({"network", "venues", "devices", "devices-salt", "sim-swap", "line-activation",
                                 "gathering"})
"""Streams a shard draws exactly as the whole world does (no block key; any per-row draw is handled apart)."""

Events = tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int32]]
"""Cell changes as (tick, global subscriber, new cell) columns, in tick then subscriber order."""


def shard_blocks(subscribers: int, workers: int) -> list[tuple[int, int]]:
    """(first block, block count) of each shard: the blocks split as evenly as possible, none empty.

    Fewer shards than ``workers`` when there are fewer blocks.
    """
    if workers < 1:
        raise InvalidConfigError("workers must be at least 1")
    blocks = math.ceil(subscribers / BLOCK_SIZE)
    k = min(workers, blocks)
    cuts = [round(j * blocks / k) for j in range(k + 1)]
    return [(cuts[j], cuts[j + 1] - cuts[j]) for j in range(k)]


class ShardStreams(RngStreams):
    """The world's streams as a shard sees them: block keys count from the shard's first block."""

    def __init__(self, seed: int, first_block: int) -> None:
        super().__init__(seed)
        self.first_block = first_block

    def seed_sequence(self, name: str, *keys: int) -> np.random.SeedSequence:
        """The whole world's SeedSequence of ``name`` for the shard-local block key in ``keys``.

        A stream listed in neither :data:`BLOCK_KEYED` nor :data:`WHOLE_WORLD_STREAMS` is refused: a shard
        cannot tell whether its draws would be the whole world's, and a silent difference breaks the guarantee.
        """
        if name not in BLOCK_KEYED and name not in WHOLE_WORLD_STREAMS:
            raise InvalidConfigError(f"stream {name!r} is not known to the shards: list it in simulator.shards "
                                     "(BLOCK_KEYED or WHOLE_WORLD_STREAMS) once its draws are the same per shard")
        pos = BLOCK_KEYED.get(name)
        if pos is not None and len(keys) > pos:
            keys = (*keys[:pos], keys[pos] + self.first_block, *keys[pos + 1:])
        return super().seed_sequence(name, *keys)


class ShardSimCards(SimCards):
    """SIM cards of a shard: hourly swaps and activations drawn over the whole population, kept for its lines.

    The draw of an hour is one Poisson count over every line, so a shard cannot draw its share alone.
    """

    def __init__(self, n: int, start: datetime, streams: RngStreams, first_row: int, total: int) -> None:
        super().__init__(n, start, streams)
        self.first_row = first_row
        self.total = total

    def _own(self, subs: NDArray[np.int32], at: NDArray[np.int64]) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
        keep = (subs >= self.first_row) & (subs < self.first_row + self.base_size)
        return (subs[keep] - self.first_row).astype(np.int32), at[keep]

    def advance(self, until: datetime) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
        """The shard's random swaps after the last call and up to ``until`` (local rows), applied."""
        subs, at = self._own(*self._swaps.advance(to_micros(until), self.total, self.rate_per_hour))
        if len(subs):
            self._record(subs, at)
        return subs, at

    def draw_activations(self, until: datetime) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
        """The shard's lines drawn for new activations after the last call and up to ``until`` (local rows)."""
        return self._own(*self._activations.advance(to_micros(until), self.total, self.activation_rate_per_hour))


def _device_columns(streams: RngStreams, total: int, lo: int, hi: int
                    ) -> tuple[NDArray[np.bool_], NDArray[np.float32]]:
    """Rows ``lo:hi`` of :class:`~simulator.devices.Devices`' night-off and phase columns of ``total`` devices.

    The whole world draws ``random(total)`` then ``uniform(total)`` from the ``"devices"`` stream, one 64-bit
    output per number; the generator jumps over the other rows instead of drawing them.
    """
    bits = np.random.PCG64(streams.seed_sequence("devices"))
    bits.advance(lo)
    rng = np.random.Generator(bits)
    night_off = rng.random(hi - lo) < NIGHT_OFF_SHARE
    bits.advance(total - hi + lo)
    phase = rng.uniform(0, PERIODIC_UPDATE_S, hi - lo).astype(np.float32)
    return night_off, phase


def build_shard_world(config: WorldConfig, first_block: int, blocks: int) -> World:
    """The world of blocks ``first_block .. first_block + blocks - 1`` of the world ``config`` builds."""
    config.validate()
    total = config.subscribers
    if not (first_block >= 0 and blocks >= 1 and first_block + blocks <= math.ceil(total / BLOCK_SIZE)):
        raise InvalidConfigError(f"blocks {first_block}..{first_block + blocks - 1} are not blocks of the world")
    base = RngStreams(config.seed)
    streams = ShardStreams(config.seed, first_block)
    city = config.territory()  # as World.build: a country preset or a custom city, else the city preset
    if config.locale is not None:
        city = with_locale(city, config.locale)
    network = Network.build(city, base)
    population = Population.build_blocks(city, total, base, first_block, blocks,
                                         fictional_numbers=config.fictional_numbers,
                                         roaming_share=config.roaming_share)
    lo, n = population.first_row, population.size
    consent = ConsentLedger.build(n, as_utc(config.start), streams, config.consent)
    devices = Devices(n, streams)
    devices.night_off, devices.update_phase_s = _device_columns(base, total, lo, lo + n)
    devices.first_row = lo
    venues = Venues.build(city, base)
    world = World(config, city, network, population, consent, devices, venues, streams)
    world.sims = ShardSimCards(n, world.start, streams, lo, total)
    sample = np.unique(np.linspace(0, total - 1, min(config.realism_sample, total)).astype(np.int32))
    own = sample[(sample >= lo) & (sample < lo + n)] - lo
    world.realism = RealismTracker(own.astype(np.int32), n)
    return world


def merge_realism(parts: Sequence[tuple[int, RealismTracker]], total: int, sample_size: int) -> RealismTracker:
    """The realism tracker of the whole world from its shards' trackers (``(first_row, tracker)`` each)."""
    sample = np.unique(np.linspace(0, total - 1, min(sample_size, total)).astype(np.int32))
    out = RealismTracker(sample, total)
    head = parts[0][1]
    out.days = set(head.days)  # every shard steps the same ticks: day facts are the same in each
    out.ticks_per_day = Counter(head.ticks_per_day)
    out.weekday_of = dict(head.weekday_of)
    out.full_day_ticks = head.full_day_ticks
    for lo, t in parts:
        for d, v in t.home_ticks.items():
            out.home_ticks[d] += v
        for (d, s), v in t.trips.items():
            out.trips[(d, s + lo)] += v
        for (d, s), v in t.cell_changes.items():
            out.cell_changes[(d, s + lo)] += v
        for (d, s), places in t.places_by_day.items():
            out.places_by_day[(d, s + lo)] |= places
        for s, visits in t.visits.items():
            out.visits[s + lo] = Counter(visits)
    return out


@dataclass(frozen=True)
class AudienceCounts:
    """What an audience estimate needs from a set of candidates, as counts only.

    ``matched``: candidates by location; ``segment_excluded``: those the segment leaves out; ``by_facts[j]``:
    kept candidates with app installed ``j & 1``, advertising push consent ``j & 2`` and SMS consent ``j & 4``
    (the operator's policy decides each such combination the same way for everyone in it).
    """

    matched: int
    segment_excluded: int
    by_facts: tuple[int, ...]

    def __add__(self, other: AudienceCounts) -> AudienceCounts:
        return AudienceCounts(self.matched + other.matched, self.segment_excluded + other.segment_excluded,
                              tuple(a + b for a, b in zip(self.by_facts, other.by_facts, strict=True)))


def audience_counts(world: World, candidates: NDArray[np.int32], segment: Segment) -> AudienceCounts:
    """:class:`AudienceCounts` of ``candidates`` (rows of ``world``) under ``segment``."""
    keep = world.segment_mask(candidates, segment) if not segment.is_empty and len(candidates) else \
        np.ones(len(candidates), bool)
    kept = candidates[keep]
    app = world.app_installed(kept)
    push = np.asarray(world.consent.is_permitted(kept, "ADVERTISING", "PUSH"), bool)
    sms = np.asarray(world.consent.is_permitted(kept, "ADVERTISING", "SMS"), bool)
    code = app.astype(np.int64) | (push.astype(np.int64) << 1) | (sms.astype(np.int64) << 2)
    by = np.bincount(code, minlength=8)
    return AudienceCounts(len(candidates), int(len(candidates) - len(kept)), tuple(int(v) for v in by))


class Shard:
    """One shard of a world: builds it, steps it, answers for it with global subscriber ids.

    ``history_ticks`` bounds the presence history kept (``None``: all, as a world keeps by default).
    """

    def __init__(self, config: WorldConfig, first_block: int, blocks: int, history_ticks: int | None = None) -> None:
        self._rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.world = build_shard_world(config, first_block, blocks)
        self.first_row = self.world.population.first_row
        if history_ticks is not None:
            self.world.presence.retention_ticks = history_ticks
        self._ticks: list[NDArray[np.int32]] = []
        self._subs: list[NDArray[np.int32]] = []
        self._cells: list[NDArray[np.int32]] = []
        self.world.on_cell_change(self._on_cells)

    def _on_cells(self, now: datetime, subs: NDArray[np.int32], old: NDArray[np.int32],
                  new: NDArray[np.int32]) -> None:
        order = np.argsort(subs, kind="stable")
        self._ticks.append(np.full(len(subs), self.world.tick_index, np.int32))
        self._subs.append((subs[order] + self.first_row).astype(np.int32))
        self._cells.append(new[order].astype(np.int32))

    # -- stepping -------------------------------------------------------------------------------------
    def rows(self) -> tuple[int, int]:
        """(first global row, rows) of this shard."""
        return self.first_row, self.world.population.size

    def tick_index(self) -> int:
        """The last tick stepped."""
        return self.world.tick_index

    def step_to(self, tick: int) -> Events:
        """Step up to tick ``tick``; returns the cell changes of those ticks (global ids)."""
        while self.world.tick_index < tick:
            self.world.step()
        parts = (self._ticks, self._subs, self._cells)
        out = tuple(np.concatenate(p) if p else np.zeros(0, np.int32) for p in parts)
        self._ticks, self._subs, self._cells = [], [], []
        return out[0], out[1], out[2]

    def run_until(self, until: datetime) -> Events:
        """Step up to ``until`` and run the clock to it; returns the cell changes on the way."""
        events = self.step_to(self.world.tick_of(until))
        self.world.run_until(until)
        return events

    # -- queries (global ids) ---------------------------------------------------------------------------
    def area_cells(self, area: Area) -> NDArray[np.int32]:
        """Cells that serve some point of ``area``."""
        return self.world.area_cells(area)

    def occupants_of_cells(self, cells: NDArray[np.int32]) -> NDArray[np.int32]:
        """Subscribers of this shard served by one of ``cells`` now."""
        return self.world.occupants_of_cells(cells) + np.int32(self.first_row)

    def occupants(self, area: Area, precise: bool) -> NDArray[np.int32]:
        """Subscribers of this shard in ``area`` now (see :meth:`World.occupants`)."""
        return self.world.occupants(area, precise) + np.int32(self.first_row)

    def visitors_of_cells(self, cells: NDArray[np.int32], t1: datetime, t2: datetime) -> NDArray[np.int32]:
        """Subscribers of this shard served by one of ``cells`` at some moment of [t1, t2]."""
        return self.world.visitors_of_cells(cells, t1, t2) + np.int32(self.first_row)

    def residents_of_cells(self, cells: NDArray[np.int32], place: str) -> NDArray[np.int32]:
        """Subscribers of this shard whose home or work is served by ``cells``."""
        return self.world.residents_of_cells(cells, place) + np.int32(self.first_row)

    def cell_counts_at(self, at: datetime | None) -> NDArray[np.int64]:
        """Subscribers of this shard served by each cell at ``at``."""
        return self.world.cell_counts_at(at)

    def audience_counts(self, cells: NDArray[np.int32], mode: str, segment: Segment,
                        t1: datetime | None, t2: datetime | None) -> AudienceCounts:
        """:class:`AudienceCounts` of this shard's candidates (``mode`` PRESENT, VISITED, HOME or WORK)."""
        w = self.world
        if mode == "PRESENT":
            cands = w.occupants_of_cells(cells)
        elif mode == "VISITED":
            if t1 is None or t2 is None:
                raise InvalidConfigError("VISITED needs t1 and t2")
            cands = w.visitors_of_cells(cells, t1, t2)
        elif mode in ("HOME", "WORK"):
            cands = w.residents_of_cells(cells, mode)
        else:
            raise InvalidConfigError(f"mode must be PRESENT, VISITED, HOME or WORK, got {mode!r}")
        return audience_counts(w, cands, segment)

    # -- tables and summary -------------------------------------------------------------------------------
    def subscriber_table(self, lo: int, hi: int) -> dict[str, Any]:
        """``id`` (global row) then the export columns of local rows ``lo:hi``."""
        rows = np.arange(lo, hi, dtype=np.int32)
        columns: dict[str, Any] = {"id": rows + np.int32(self.first_row)}
        columns.update(self.world.population.table(rows))
        return columns

    def summary(self) -> WorldSummary:
        """The shard's world summary (its own subscribers, movers and cell changes)."""
        return self.world.summary()

    def realism(self) -> tuple[int, RealismTracker]:
        """(first global row, realism tracker over this shard's part of the sample)."""
        return self.first_row, self.world.realism

    def peak_rss_bytes(self) -> tuple[int, int]:
        """Peak resident memory of the process holding the shard before it was built, and since (bytes, Linux)."""
        return self._rss_before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def nbytes(self) -> int:
        """Bytes held by the shard's population, movement and cell columns (its memory floor)."""
        m = self.world.mobility
        cols = [m.x, m.y, m.place, m.moving, m.ox, m.oy, m.dx, m.dy, m.t0, m.t1, m.hold_until, m.pinned, m.known,
                m.visits, self.world.cell, self.world.last_change_tick, self.world.movement.routine_place]
        return int(self.world.population.nbytes + sum(a.nbytes for a in cols))


class ShardPool(Protocol):
    """Runs a method of every shard (in shard order) wherever the shards live."""

    def submit(self, method: str, *args: Any) -> Callable[[], list[Any]]:
        """Start ``method(*args)`` on every shard; the returned function waits for the results, in shard order."""
        ...

    def submit_to(self, shard: int, method: str, *args: Any) -> Callable[[], Any]:
        """Start ``method(*args)`` on shard number ``shard`` only; the returned function waits for the result."""
        ...

    def close(self) -> None:
        """Release the shards."""
        ...


class LocalPool:
    """Shards in this process, called one after another (for tests and as the reference of the Ray pool)."""

    def __init__(self, config: WorldConfig, workers: int, history_ticks: int | None = None,
                 shard_class: type[Shard] = Shard) -> None:
        self.shards = [shard_class(config, first, count, history_ticks)
                       for first, count in shard_blocks(config.subscribers, workers)]

    def submit(self, method: str, *args: Any) -> Callable[[], list[Any]]:
        """Run ``method(*args)`` on every shard now; the returned function hands the results over."""
        results = [getattr(s, method)(*args) for s in self.shards]
        return lambda: results

    def submit_to(self, shard: int, method: str, *args: Any) -> Callable[[], Any]:
        """Run ``method(*args)`` on shard number ``shard`` now; the returned function hands the result over."""
        result = getattr(self.shards[shard], method)(*args)
        return lambda: result

    def close(self) -> None:
        """Drop the shards."""
        self.shards = []


def merge_events(parts: Sequence[Events]) -> Events:
    """Cell changes of every shard in tick then subscriber order (shards hold ascending ranges of ids)."""
    ticks = np.concatenate([p[0] for p in parts])
    order = np.argsort(ticks, kind="stable")  # stable: shard order, hence subscriber order, within a tick
    return (ticks[order], np.concatenate([p[1] for p in parts])[order],
            np.concatenate([p[2] for p in parts])[order])


class ShardedWorld:
    """The answers of a world split into shards: fanned out through ``pool`` and merged.

    Every answer equals the single world's for the same config (ids sorted, counts added).
    """

    def __init__(self, config: WorldConfig, pool: ShardPool) -> None:
        self.config = config
        self.pool = pool
        self.start = as_utc(config.start)
        self.tick = timedelta(seconds=config.tick_seconds)
        self.rows: list[tuple[int, int]] = self._call("rows")
        """(first global row, rows) of each shard, in shard order."""

    def _call(self, method: str, *args: Any) -> list[Any]:
        return self.pool.submit(method, *args)()

    # -- time -----------------------------------------------------------------------------------------
    def time_of(self, tick: int) -> datetime:
        """Instant of tick ``tick``."""
        return self.start + tick * self.tick

    def tick_of(self, at: datetime) -> int:
        """Last tick at or before ``at``."""
        return math.floor((as_utc(at) - self.start) / self.tick)

    def submit_step_to(self, tick: int) -> Callable[[], Events]:
        """Start stepping every shard to ``tick``; the returned function waits and merges their cell changes."""
        wait = self.pool.submit("step_to", tick)
        return lambda: merge_events(wait())

    def run_until(self, until: datetime) -> Events:
        """Step every shard up to ``until``; returns the merged cell changes."""
        return merge_events(self._call("run_until", until))

    # -- queries --------------------------------------------------------------------------------------
    def area_cells(self, area: Area) -> NDArray[np.int32]:
        """Cells that serve some point of ``area`` (every shard has the whole network: the first answers)."""
        result: NDArray[np.int32] = self.pool.submit_to(0, "area_cells", area)()
        return result

    def subscriber_tables(self, batch: int) -> Iterator[dict[str, Any]]:
        """The subscribers' export columns (``id`` first) in global row order, ``batch`` rows at a time.

        Shards start on block boundaries, so with ``batch`` a divisor of :data:`~simulator.rng.BLOCK_SIZE` the
        batches are the single world's. The next batch is asked for while one is consumed.
        """
        if BLOCK_SIZE % batch:
            raise InvalidConfigError(f"batch must divide {BLOCK_SIZE}")
        pending: Callable[[], Any] | None = None
        for j, (_, n) in enumerate(self.rows):
            for lo in range(0, n, batch):
                ask = self.pool.submit_to(j, "subscriber_table", lo, min(lo + batch, n))
                if pending is not None:
                    yield pending()
                pending = ask
        if pending is not None:
            yield pending()

    def occupants_of_cells(self, cells: NDArray[np.int32]) -> NDArray[np.int32]:
        """Subscribers served by one of ``cells`` now (sorted)."""
        return np.concatenate(self._call("occupants_of_cells", cells)).astype(np.int32)

    def occupants(self, area: Area, precise: bool = False) -> NDArray[np.int32]:
        """Subscribers whose serving cell covers part of ``area`` now (or, ``precise``, who are inside it)."""
        return np.concatenate(self._call("occupants", area, precise)).astype(np.int32)

    def visitors_of_cells(self, cells: NDArray[np.int32], t1: datetime, t2: datetime) -> NDArray[np.int32]:
        """Subscribers served by one of ``cells`` at some moment between ``t1`` and ``t2`` (sorted)."""
        return np.concatenate(self._call("visitors_of_cells", cells, t1, t2)).astype(np.int32)

    def visitors(self, area: Area, t1: datetime, t2: datetime) -> NDArray[np.int32]:
        """Subscribers who were in a cell of ``area`` at some moment between ``t1`` and ``t2``."""
        return self.visitors_of_cells(self.area_cells(area), t1, t2)

    def residents_of_cells(self, cells: NDArray[np.int32], place: str = "HOME") -> NDArray[np.int32]:
        """Subscribers whose home (or place of work or study) is served by ``cells`` (sorted)."""
        return np.concatenate(self._call("residents_of_cells", cells, place)).astype(np.int32)

    def cell_counts_at(self, at: datetime | None = None) -> NDArray[np.int64]:
        """Subscribers served by each cell at ``at`` (default now)."""
        counts: NDArray[np.int64] = np.sum(self._call("cell_counts_at", at), axis=0).astype(np.int64)
        return counts

    def audience_counts(self, cells: NDArray[np.int32], mode: str, segment: Segment | None = None,
                        t1: datetime | None = None, t2: datetime | None = None) -> AudienceCounts:
        """:class:`AudienceCounts` of the candidates of ``mode`` in ``cells``, added over the shards."""
        parts: list[AudienceCounts] = self._call("audience_counts", cells, mode, segment or Segment(), t1, t2)
        total = parts[0]
        for p in parts[1:]:
            total = total + p
        return total

    # -- reporting ------------------------------------------------------------------------------------
    def summary(self) -> WorldSummary:
        """The whole world's summary (tick costs: the slowest shard's)."""
        parts: list[WorldSummary] = self._call("summary")
        head = parts[0]
        return replace(head, subscribers=sum(p.subscribers for p in parts), moving=sum(p.moving for p in parts),
                       cell_changes=sum(p.cell_changes for p in parts),
                       last_tick_ms=max(p.last_tick_ms for p in parts),
                       mean_tick_ms=max(p.mean_tick_ms for p in parts))

    def realism(self) -> RealismTracker:
        """The realism tracker of the whole world's sample."""
        return merge_realism(self._call("realism"), self.config.subscribers, self.config.realism_sample)

    def close(self) -> None:
        """Release the shards."""
        self.pool.close()
