"""Cell dwell history: who was in which cell when.

Owns a compact, append-only record of cell changes (tick, subscriber, new cell) kept in hourly chunks, plus a
snapshot of every subscriber's cell at the start of each chunk. "Who was in these cells between t1 and t2"
is then: the occupants at t1 (snapshot + the changes since) plus everyone who entered one of the cells in
(t1, t2]. "Who is there now" is the world's current cell column and needs nothing from here.

Retention: with ``retention_ticks`` set, whole chunks older than that window are dropped as new chunks start, so
the history holds at most the window plus one chunk and memory stays flat however long the world runs. The
first retained chunk's snapshot then stands for everything before it (questions about earlier ticks are
answered from the earliest state known).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray


@dataclass
class _Chunk:
    start_tick: int
    snapshot: NDArray[np.int32]  # cell of every subscriber at start_tick (before the tick's changes)
    ticks: list[NDArray[np.int32]] = field(default_factory=list)
    subs: list[NDArray[np.int32]] = field(default_factory=list)
    cells: list[NDArray[np.int32]] = field(default_factory=list)
    sealed: tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int32]] | None = None

    def arrays(self) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int32]]:
        if self.sealed is not None:
            return self.sealed
        if not self.ticks:
            empty = np.zeros(0, np.int32)
            return empty, empty, empty
        return np.concatenate(self.ticks), np.concatenate(self.subs), np.concatenate(self.cells)

    def seal(self) -> None:
        self.sealed = self.arrays()
        self.ticks, self.subs, self.cells = [], [], []


class PresenceHistory:
    """Append-only cell-change log with hourly snapshots, answering occupancy questions about the past."""

    def __init__(self, initial_cells: NDArray[np.int32], start_tick: int, ticks_per_chunk: int,
                 retention_ticks: int | None = None) -> None:
        self.ticks_per_chunk = max(1, ticks_per_chunk)
        self._chunks: list[_Chunk] = [_Chunk(start_tick, initial_cells.astype(np.int32).copy())]
        self.n_events = 0
        self.retention_ticks = retention_ticks
        """Ticks of history kept behind the latest tick (``None``: everything)."""

    @property
    def n_chunks(self) -> int:
        """Chunks held (each one snapshot plus its changes): bounded by the retention window."""
        return len(self._chunks)

    @property
    def n_retained(self) -> int:
        """Changes held (``n_events`` counts every change ever recorded)."""
        return sum(len(c.arrays()[0]) for c in self._chunks)

    def forget_before(self, tick: int) -> None:
        """Drop the chunks that end before ``tick`` (the chunk holding ``tick`` stays, with its snapshot)."""
        drop = 0
        while drop + 1 < len(self._chunks) and self._chunks[drop + 1].start_tick <= tick:
            drop += 1
        if drop:
            del self._chunks[:drop]

    @property
    def start_tick(self) -> int:
        """First tick the history knows about."""
        return self._chunks[0].start_tick

    def record(self, tick: int, subs: NDArray[np.int32], cells: NDArray[np.int32],
               current: NDArray[np.int32]) -> None:
        """Append the changes of ``tick``; ``current`` is the cell column before they apply (for snapshots)."""
        last = self._chunks[-1]
        if tick >= last.start_tick + self.ticks_per_chunk:
            last.seal()
            last = _Chunk(tick, current.astype(np.int32).copy())
            self._chunks.append(last)
            if self.retention_ticks is not None:
                self.forget_before(tick - self.retention_ticks)
        if len(subs):
            last.ticks.append(np.full(len(subs), tick, np.int32))
            last.subs.append(subs.astype(np.int32, copy=False))
            last.cells.append(cells.astype(np.int32, copy=False))
            self.n_events += len(subs)

    def extend(self, cells: NDArray[np.int32]) -> None:
        """Account for newly added subscribers (their cells join every snapshot from now on)."""
        last = self._chunks[-1]
        n_old = len(last.snapshot)
        if len(cells) > n_old:
            last.snapshot = np.concatenate([last.snapshot, cells[n_old:].astype(np.int32)])

    def _chunk_index(self, tick: int) -> int:
        starts = [c.start_tick for c in self._chunks]
        return max(0, int(np.searchsorted(starts, tick, side="right")) - 1)

    def cells_at(self, tick: int, n: int) -> NDArray[np.int32]:
        """Every subscriber's cell at the end of ``tick`` (-1 for subscribers that did not exist yet)."""
        ci = self._chunk_index(tick)
        chunk = self._chunks[ci]
        cells = np.full(n, -1, np.int32)
        snap = chunk.snapshot
        cells[: len(snap)] = snap
        t, s, c = chunk.arrays()
        upto = int(np.searchsorted(t, t.dtype.type(tick), side="right"))  # same dtype: no copy of t
        # Changes are in time order, so the last assignment per subscriber must win: keep last occurrences.
        s_up, c_up = s[:upto], c[:upto]
        if len(s_up):
            rev_unique, rev_idx = np.unique(s_up[::-1], return_index=True)
            cells[rev_unique] = c_up[::-1][rev_idx]
        return cells

    def visitors(self, cell_mask: NDArray[np.bool_], t1: int, t2: int, n: int) -> NDArray[np.bool_]:
        """Boolean column: who was in one of the masked cells at some tick in [t1, t2]."""
        if t2 < t1:
            t1, t2 = t2, t1
        t1 = max(t1, self.start_tick)
        at_start = self.cells_at(t1, n)
        seen = np.zeros(n, bool)
        valid = at_start >= 0
        seen[valid] = cell_mask[at_start[valid]]
        first = self._chunk_index(t1)
        last = self._chunk_index(t2)
        for chunk in self._chunks[first: last + 1]:
            t, s, c = chunk.arrays()
            lo = int(np.searchsorted(t, t.dtype.type(t1), side="right"))
            hi = int(np.searchsorted(t, t.dtype.type(t2), side="right"))
            if hi > lo:
                hit = cell_mask[c[lo:hi]]
                seen[s[lo:hi][hit]] = True
        return seen

    def track(self, sub: int, t1: int, n: int) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
        """One subscriber's cell at ``t1`` and every change after it, as (ticks, cells) in time order.

        Only the chunks from ``t1`` on are scanned (one vectorised comparison per chunk); ``n`` is the population
        size for the starting snapshot.
        """
        t1 = max(t1, self.start_tick)
        ticks = [np.asarray([t1], np.int32)]
        cells = [self.cells_at(t1, n)[sub: sub + 1]]
        for chunk in self._chunks[self._chunk_index(t1):]:
            t, s, c = chunk.arrays()
            hit = (s == sub) & (t > t1)
            ticks.append(t[hit])
            cells.append(c[hit])
        return np.concatenate(ticks).astype(np.int32), np.concatenate(cells).astype(np.int32)

    def events(self) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int32]]:
        """Every recorded change as (tick, subscriber, cell) arrays in time order."""
        parts = [c.arrays() for c in self._chunks]
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                np.concatenate([p[2] for p in parts]))
