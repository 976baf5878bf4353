"""Presence: the cell dwell history against brute-force recomputations, in a running world and alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from simulator.presence import PresenceHistory
from simulator.world import World
from tests.simulator.conftest import small_config

TICKS = 300  # five hours of one-minute ticks: five hourly chunks


@dataclass(frozen=True)
class Recording:
    """A world stepped tick by tick with every subscriber's cell copied after each tick (index = tick)."""

    world: World
    cells: NDArray[np.int32]  # (TICKS + 1, n)


@pytest.fixture(scope="module")
def recording() -> Recording:
    """A small Berlin world over its first five hours (from 06:00, the morning rush), recorded tick by tick."""
    world = World.build(small_config(n=1_500))
    cells = [world.cell.copy()]
    for _ in range(TICKS):
        world.step()
        cells.append(world.cell.copy())
    return Recording(world, np.stack(cells))


def test_history_records_every_cell_change_at_its_tick(recording: Recording) -> None:
    """The events are exactly the tick-to-tick differences of the cell column, stamped with their tick."""
    w, cells = recording.world, recording.cells
    t, s, c = w.presence.events()
    assert len(t) == w.presence.n_events > 0
    assert np.all(np.diff(t) >= 0)
    for k in range(1, TICKS + 1):
        changed = np.flatnonzero(cells[k] != cells[k - 1])
        at = t == k
        assert np.array_equal(np.sort(s[at]), changed), k
        assert np.array_equal(c[at], cells[k][s[at]]), k


def test_changes_are_heard_at_the_instant_of_their_tick() -> None:
    """Cell listeners hear each tick's changes at that tick's instant, and the history stamps the same tick."""
    world = World.build(small_config(n=800))
    heard: list[tuple[int, int]] = []
    instants: list[tuple[datetime, datetime]] = []
    world.on_cell_change(lambda now, subs, old, new: heard.extend((world.tick_of(now), int(s)) for s in subs))
    world.on_cell_change(lambda now, subs, old, new: instants.append((now, world.time_of(world.tick_of(now)))))
    world.advance(timedelta(hours=2))
    t, s, _ = world.presence.events()
    assert heard == list(zip(t.tolist(), s.tolist(), strict=True))
    assert instants and all(now == clock for now, clock in instants)


def test_cells_at_any_past_tick_match_the_recording(recording: Recording) -> None:
    """The history rebuilds everyone's cell at the end of every past tick, across chunk boundaries."""
    w, cells = recording.world, recording.cells
    n = w.population.size
    for k in range(TICKS + 1):
        assert np.array_equal(w.presence.cells_at(k, n), cells[k]), k


@pytest.mark.parametrize("since", [
    0,  # from the start: the initial snapshot
    75,  # inside the second hourly chunk
    TICKS,  # now: one point, the current cell
])
def test_track_is_one_subscribers_column_of_the_recording(recording: Recording, since: int) -> None:
    """A subscriber's track is their cell at ``since`` then each change of the recorded column, across chunks."""
    w, cells = recording.world, recording.cells
    movers = np.flatnonzero((cells[since:] != cells[since]).any(axis=0))
    for sub in [int(movers[0]), int(movers[-1]), 0] if len(movers) else [0]:
        column = cells[since:, sub]
        changed = np.flatnonzero(column[1:] != column[:-1]) + 1
        expected = [(w.time_of(since), int(column[0]))] + [(w.time_of(since + int(k)), int(column[k]))
                                                            for k in changed]
        assert w.cell_track(sub, w.time_of(since)) == expected


def _brute_visitors(cells: NDArray[np.int32], mask: NDArray[np.bool_], t1: int, t2: int) -> NDArray[np.bool_]:
    """Who was in a masked cell at the end of some tick of [t1, t2] (each moves at most once a tick)."""
    lo, hi = sorted((t1, t2))
    lo = max(lo, 0)
    seen = np.zeros(cells.shape[1], bool)
    for k in range(lo, hi + 1):
        seen |= mask[cells[k]]
    return seen


def _mask_of(n_cells: int, cells: list[int]) -> NDArray[np.bool_]:
    mask = np.zeros(n_cells + 1, bool)  # the extra slot absorbs -1 (no cell), as in the world
    mask[cells] = True
    return mask


@pytest.mark.parametrize(("t1", "t2"), [
    (0, 0),  # the start alone
    (10, 10),  # a single tick
    (50, 70),  # across the first chunk boundary (tick 60)
    (0, TICKS),  # the whole recording
    (121, 179),  # inside one chunk
    (200, 130),  # reversed bounds mean the same window
    (-30, 5),  # starting before the history: clamped to its start
])
def test_visitors_match_a_brute_force_recomputation(recording: Recording, t1: int, t2: int) -> None:
    """Visitors of the busiest cells in a window are everyone who was in one of them at some tick of it."""
    w, cells = recording.world, recording.cells
    n_cells = w.network.n_cells
    flat = cells.ravel()
    busiest = np.argsort(np.bincount(flat[flat >= 0], minlength=n_cells))[-5:].tolist()
    mask = _mask_of(n_cells, busiest)
    got = w.presence.visitors(mask, t1, t2, w.population.size)
    assert got.any()
    assert np.array_equal(got, _brute_visitors(cells, mask, t1, t2))


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_visitors_of_random_cells_and_windows_match_brute_force(recording: Recording, data: st.DataObject) -> None:
    """For random cell sets and windows the history agrees with the tick-by-tick recording."""
    w, cells = recording.world, recording.cells
    n_cells = w.network.n_cells
    chosen = data.draw(st.lists(st.integers(0, n_cells - 1), min_size=1, max_size=12, unique=True))
    t1 = data.draw(st.integers(0, TICKS))
    t2 = data.draw(st.integers(0, TICKS))
    mask = _mask_of(n_cells, chosen)
    assert np.array_equal(w.presence.visitors(mask, t1, t2, w.population.size),
                          _brute_visitors(cells, mask, t1, t2))


# -- the history alone, against a model -------------------------------------------------------------------------

N_SUBS, N_CELLS = 6, 4

STEP = st.tuples(
    st.integers(1, 3),  # ticks since the previous recorded tick (quiet ticks are never recorded)
    st.dictionaries(st.integers(0, N_SUBS - 1), st.integers(0, N_CELLS - 1), max_size=N_SUBS),  # moves
)


@settings(max_examples=60, deadline=None)
@given(initial=st.lists(st.integers(0, N_CELLS - 1), min_size=N_SUBS, max_size=N_SUBS),
       steps=st.lists(STEP, max_size=25), per_chunk=st.integers(1, 5), data=st.data())
def test_history_agrees_with_a_model_of_full_snapshots(initial: list[int], steps: list[tuple[int, dict[int, int]]],
                                                       per_chunk: int, data: st.DataObject) -> None:
    """cells_at, visitors and events agree with a model that keeps every tick's full cell column."""
    current = np.array(initial, np.int32)
    history = PresenceHistory(current, 0, per_chunk)
    states = {0: current.copy()}  # tick -> cells at its end (ticks without changes keep the previous)
    tick, recorded = 0, []
    for gap, moves in steps:
        tick += gap
        subs = np.array(sorted(moves), np.int32)
        new = np.array([moves[s] for s in sorted(moves)], np.int32)
        history.record(tick, subs, new, current)
        current = current.copy()
        current[subs] = new
        states[tick] = current.copy()
        recorded += [(tick, int(s), int(c)) for s, c in zip(subs, new, strict=True)]
    last = tick

    def state_at(k: int) -> NDArray[np.int32]:
        return states[max(t for t in states if t <= k)]

    for k in range(last + 2):
        assert np.array_equal(history.cells_at(k, N_SUBS), state_at(k)), k
    t, s, c = history.events()
    assert list(zip(t.tolist(), s.tolist(), c.tolist(), strict=True)) == recorded
    assert history.n_events == len(recorded)
    chosen = data.draw(st.lists(st.integers(0, N_CELLS - 1), min_size=1, max_size=N_CELLS, unique=True))
    t1, t2 = data.draw(st.integers(0, last + 1)), data.draw(st.integers(0, last + 1))
    mask = np.zeros(N_CELLS, bool)
    mask[chosen] = True
    expect = np.zeros(N_SUBS, bool)
    for k in range(min(t1, t2), max(t1, t2) + 1):
        expect |= mask[state_at(k)]
    assert np.array_equal(history.visitors(mask, t1, t2, N_SUBS), expect)


def test_added_subscribers_join_from_the_current_chunk() -> None:
    """A subscriber added later has a cell in the current chunk's snapshot on, and none (-1) in sealed chunks."""
    history = PresenceHistory(np.array([0, 1], np.int32), 0, 2)
    history.record(1, np.array([0], np.int32), np.array([1], np.int32), np.array([0, 1], np.int32))
    history.record(2, np.array([1], np.int32), np.array([2], np.int32), np.array([1, 1], np.int32))
    history.extend(np.array([1, 2, 3], np.int32))
    history.record(3, np.array([2], np.int32), np.array([0], np.int32), np.array([1, 2, 3], np.int32))
    assert history.cells_at(1, 3).tolist() == [1, 1, -1]
    assert history.cells_at(2, 3).tolist() == [1, 2, 3]
    assert history.cells_at(3, 3).tolist() == [1, 2, 0]
    seen = history.visitors(np.array([True, False, False, False]), 0, 3, 3)
    assert seen.tolist() == [True, False, True]
