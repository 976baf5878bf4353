"""Mobility: daily routines in a running world, day plans per block, travel times and venues."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from simulator import mobility, profiles
from simulator.city import City, city_from_preset
from simulator.mobility import HOME, WORK, DayPlan, MobilityState, PlanBuilder, Venues, travel_seconds
from simulator.population import Population
from simulator.rng import BLOCK_SIZE, RngStreams
from simulator.world import World
from tests.simulator.conftest import small_config

Events = tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int32]]


@dataclass(frozen=True)
class Snapshot:
    """Where everyone was at one instant of a running world."""

    place: NDArray[np.int32]
    moving: NDArray[np.bool_]
    x: NDArray[np.float32]
    y: NDArray[np.float32]


# Local instants in Berlin of the world started by small_config (Monday 1 June 2026, 06:00 local).
INSTANTS = {
    "monday 10:30": (1, 10, 30),
    "tuesday 03:00": (2, 3, 0),
    "tuesday 10:30": (2, 10, 30),
    "saturday 10:30": (6, 10, 30),
}


@pytest.fixture(scope="module")
def day_world() -> tuple[World, dict[str, Snapshot]]:
    """A small Berlin world and everyone's whereabouts at a few instants of its first week."""
    world = World.build(small_config())
    shots = {}
    for label, (day, hour, minute) in INSTANTS.items():
        world.run_until(datetime(2026, 6, day, hour, minute, tzinfo=world.tz).astimezone(UTC))
        m = world.mobility
        shots[label] = Snapshot(m.place.copy(), m.moving.copy(), m.x.copy(), m.y.copy())
    return world, shots


def _stands_at(s: Snapshot, x: NDArray[np.float32], y: NDArray[np.float32], who: NDArray[np.bool_]) -> bool:
    """Whether everyone in ``who`` stands within a metre of their point (x, y)."""
    return bool(np.allclose(s.x[who], x[who], atol=1.0) and np.allclose(s.y[who], y[who], atol=1.0))


def _commuters(pop: Population) -> NDArray[np.bool_]:
    employed: NDArray[np.bool_] = pop.status == profiles.EMPLOYED
    away: NDArray[np.bool_] = (pop.work_x != pop.home_x) | (pop.work_y != pop.home_y)
    return employed & away


def test_almost_everyone_is_at_home_at_night(day_world: tuple[World, dict[str, Snapshot]]) -> None:
    """At 03:00 on a weekday about 95% are at home, at their home point; night-shift workers are at work."""
    world, shots = day_world
    s = shots["tuesday 03:00"]
    home = (s.place == HOME) & ~s.moving
    assert 0.93 <= home.mean() < 0.99
    assert (s.place == WORK).mean() > 0.01
    pop = world.population
    assert _stands_at(s, pop.home_x, pop.home_y, home)


def test_people_move_at_night_without_a_midnight_spike() -> None:
    """Cell changes by local hour over two days: some every night hour (shift work, nights out), and the hour after
    midnight is quieter than the hour before it (plans are not cut off at the day's end)."""
    world = World.build(small_config())
    hist = np.zeros(24, np.int64)

    def count(now: datetime, subs: NDArray[np.int32], old: NDArray[np.int32], new: NDArray[np.int32]) -> None:
        hist[world.local_time(now).hour] += len(subs)

    world.on_cell_change(count)
    world.run_until(datetime(2026, 6, 3, 6, 0, tzinfo=world.tz).astimezone(UTC))
    assert (hist[1:5] > 0).all(), hist
    assert hist[0] < hist[23] and hist[0] < 2.5 * hist[1], hist
    assert hist[1:5].sum() < 0.05 * hist.sum()  # night movement stays low


@pytest.mark.parametrize("label", [
    "monday 10:30",  # the first morning (the world started at 06:00 and placed people by their routine)
    "tuesday 10:30",  # a morning reached by simulated travel only
])
def test_most_commuters_are_at_work_mid_morning_on_a_weekday(day_world: tuple[World, dict[str, Snapshot]],
                                                             label: str) -> None:
    """Mid-morning on a weekday at least four in five employed commuters are at their workplace."""
    world, shots = day_world
    s, pop = shots[label], world.population
    commuters = _commuters(pop)
    at_work = (s.place == WORK) & ~s.moving
    assert at_work[commuters].mean() >= 0.8
    assert _stands_at(s, pop.work_x, pop.work_y, at_work)


def test_saturday_morning_is_mostly_free(day_world: tuple[World, dict[str, Snapshot]]) -> None:
    """On Saturday mid-morning few commuters are at work: far fewer than on a weekday."""
    world, shots = day_world
    commuters = _commuters(world.population)
    saturday = (shots["saturday 10:30"].place == WORK)[commuters].mean()
    tuesday = (shots["tuesday 10:30"].place == WORK)[commuters].mean()
    assert saturday <= 0.25 and tuesday >= 3 * saturday


def test_people_without_a_workplace_never_go_to_work(day_world: tuple[World, dict[str, Snapshot]]) -> None:
    """Retirees, the unemployed and visitors are never at WORK."""
    world, shots = day_world
    st_ = world.population.status
    idle = (st_ == profiles.RETIRED) | (st_ == profiles.UNEMPLOYED) | (st_ == profiles.VISITOR)
    assert idle.any()
    for s in shots.values():
        assert not (s.place[idle] == WORK).any()


# -- day plans, directly ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def city() -> City:
    """Berlin, the city of the plan tests."""
    return city_from_preset("berlin")


@pytest.fixture(scope="module")
def two_blocks(city: City) -> Population:
    """A population of two blocks (the second one short)."""
    return Population.build(city, BLOCK_SIZE + 300, RngStreams(5))


def _plan(city: City, pop: Population, seed: int, block: int, state: MobilityState, *, day: int = 1,
          weekday: int = 1, status: NDArray[np.uint8] | None = None) -> Events:
    """Departures of ``block`` of ``pop`` on ``day`` (start tick = 1440 * day, one tick a minute)."""
    streams = RngStreams(seed)
    lo, hi = block * BLOCK_SIZE, min((block + 1) * BLOCK_SIZE, pop.size)
    st_ = pop.status[lo:hi] if status is None else status
    builder = PlanBuilder(city, Venues.build(city, streams), streams)
    return builder.block(day, weekday, block, 1440 * day, 1.0, st_, pop.age[lo:hi],
                         (pop.home_x[lo:hi], pop.home_y[lo:hi]), (pop.work_x[lo:hi], pop.work_y[lo:hi]), state)


def _fresh(pop: Population) -> MobilityState:
    return MobilityState.at_home(pop.home_x, pop.home_y)


def _same(a: Events, b: Events) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_mobility_status_codes_are_the_profile_codes() -> None:
    """The status codes mobility plans with are those the population stores."""
    assert (mobility.STATUS_EMPLOYED, mobility.STATUS_STUDENT, mobility.STATUS_RETIRED, mobility.STATUS_UNEMPLOYED,
            mobility.STATUS_VISITOR) == (profiles.EMPLOYED, profiles.STUDENT, profiles.RETIRED, profiles.UNEMPLOYED,
                                         profiles.VISITOR)


def test_schedules_are_deterministic_for_a_seed(city: City, two_blocks: Population) -> None:
    """The same seed, day and block give the same departures and memories; another seed or day does not."""
    a_state, b_state = _fresh(two_blocks), _fresh(two_blocks)
    a = _plan(city, two_blocks, 3, 1, a_state)
    b = _plan(city, two_blocks, 3, 1, b_state)
    assert len(a[0]) > 0 and _same(a, b)
    assert np.array_equal(a_state.known, b_state.known) and np.array_equal(a_state.visits, b_state.visits)
    assert not _same(a, _plan(city, two_blocks, 4, 1, _fresh(two_blocks)))
    assert not _same(a, _plan(city, two_blocks, 3, 1, _fresh(two_blocks), day=2))


def test_a_blocks_movement_does_not_depend_on_other_blocks(city: City, two_blocks: Population) -> None:
    """Block 1's plan and memories are the same alone, after block 0, or after a very different block 0."""
    rows = slice(BLOCK_SIZE, two_blocks.size)
    alone_state = _fresh(two_blocks)
    alone = _plan(city, two_blocks, 3, 1, alone_state)
    after_state = _fresh(two_blocks)
    _plan(city, two_blocks, 3, 0, after_state)
    after = _plan(city, two_blocks, 3, 1, after_state)
    other_state = _fresh(two_blocks)
    _plan(city, two_blocks, 3, 0, other_state, status=np.full(BLOCK_SIZE, profiles.VISITOR, np.uint8))
    other = _plan(city, two_blocks, 3, 1, other_state)
    assert _same(alone, after) and _same(alone, other)
    assert np.all((alone[1] >= BLOCK_SIZE) & (alone[1] < two_blocks.size))
    for state in (after_state, other_state):
        assert np.array_equal(state.known[rows], alone_state.known[rows])
        assert np.array_equal(state.visits[rows], alone_state.visits[rows])


@pytest.fixture(scope="module")
def one_block(city: City) -> Population:
    """A few hundred people: one short block."""
    return Population.build(city, 300, RngStreams(6))


@settings(max_examples=20, deadline=None)
@given(who=st.integers(0, 299), status=st.sampled_from(range(len(profiles.STATUSES))), weekday=st.integers(0, 6))
def test_one_persons_status_changes_no_one_elses_day(city: City, one_block: Population, who: int, status: int,
                                                     weekday: int) -> None:
    """Everyone draws the same random columns, so changing one person's status leaves others' plans alone."""
    changed = one_block.status.copy()
    changed[who] = status
    base = _plan(city, one_block, 9, 0, _fresh(one_block), weekday=weekday)
    other = _plan(city, one_block, 9, 0, _fresh(one_block), weekday=weekday, status=changed)
    keep_a, keep_b = base[1] != who, other[1] != who
    assert _same(tuple(a[keep_a] for a in base), tuple(b[keep_b] for b in other))


def test_commuters_plan_work_then_home_within_the_day(city: City, one_block: Population) -> None:
    """Departures start within the local day and end by the next morning (night shifts, nights out, no clipping
    at midnight); whoever goes to work on a weekday later heads home."""
    tick, sub, place = _plan(city, one_block, 2, 0, _fresh(one_block), day=3, weekday=2)
    assert tick.min() >= 3 * 1440 and tick.max() < 4 * 1440 + 12 * 60
    assert (tick >= 4 * 1440).any()  # some come home after midnight
    assert not (tick == 4 * 1440 - 1).sum() > 3  # no pile-up on the last minute of the day
    for s in np.unique(sub[place == WORK]).tolist():
        mine = sub == s
        first_work = tick[mine & (place == WORK)].min()
        assert (tick[mine & (place == HOME)] > first_work).any()


# -- day plan bookkeeping, travel and venues -------------------------------------------------------------------

def test_day_plan_merges_sorted_and_hands_out_each_event_once() -> None:
    """A merged plan is sorted by (tick, subscriber); take_until hands every event out exactly once."""
    a = (np.array([5, 1, 9], np.int32), np.array([2, 7, 0], np.int32), np.array([HOME, WORK, 3], np.int32))
    b = (np.array([5, 1], np.int32), np.array([1, 3], np.int32), np.array([4, HOME], np.int32))
    plan = DayPlan.concat([a, b])
    assert plan.tick.tolist() == [1, 1, 5, 5, 9] and plan.sub.tolist() == [3, 7, 1, 2, 0]
    assert plan.place.tolist() == [HOME, WORK, 4, HOME, 3]
    taken = [plan.take_until(t) for t in (0, 1, 1, 6, 4, 100)]
    assert [s.tolist() for s, _ in taken] == [[], [3, 7], [], [1, 2], [], [0]]
    assert len(DayPlan.concat([]).tick) == 0


@pytest.mark.parametrize(("metres", "seconds"), [
    (0.0, 0.0),  # already there
    (130.0, 100.0),  # a short walk at 1.3 m/s
    (1_200.0, 1_200.0 / 1.3),  # the longest walk
    (1_275.0, 300.0 + 170.0),  # just over: a ride at 7.5 m/s plus five minutes to the stop
    (15_000.0, 300.0 + 2_000.0),  # across the city
])
def test_travel_time_walks_short_and_rides_long(metres: float, seconds: float) -> None:
    """Short trips are walked, longer ones ridden with an access time."""
    assert travel_seconds(np.array([metres]))[0] == pytest.approx(seconds)


def test_venues_snap_to_their_own_grid_square(city: City) -> None:
    """Each grid venue snaps to itself, named places follow the grid venues, and points outside snap to -1."""
    venues = Venues.build(city, RngStreams(1))
    grid = np.arange(venues.named_offset)
    assert np.array_equal(venues.snap(venues.x[grid], venues.y[grid]), grid)
    assert len(venues.x) == venues.named_offset + len(city.places)
    far = venues.snap(np.array([1e7, -1e7]), np.array([0.0, 0.0]))
    assert far.tolist() == [-1, -1]
    k = venues.add(10.0, 20.0)
    assert k == len(venues.x) - 1 and (venues.x[k], venues.y[k]) == (10.0, 20.0)
