"""Inbound roamers come and go: stays of realistic length and daily shares, arrivals in flight banks, and a device
abroad is not attached (no cell, no occupancy, not reachable, not locatable)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from simulator.errors import NotAttachedError
from simulator.geo import Area
from simulator.rng import BLOCK_SIZE, RngStreams
from simulator.roaming import ABROAD, ARRIVAL_HOUR_WEIGHTS, RoamingStays
from simulator.shards import ShardStreams
from simulator.world import World
from tests.simulator.conftest import small_config

DAYS = 30
TICK_S = 600  # ten-minute ticks: 144 a day


def run_stays(n: int = 40_000, days: int = DAYS, seed: int = 3) -> tuple[RoamingStays, dict[str, list[int]]]:
    """Step a schedule of ``n`` visitors (all rows roam) over ``days`` local days starting at midnight; each leaving
    visitor detaches two ticks later. Returns the schedule and per-event lists of ticks."""
    stays = RoamingStays(np.ones(n, bool), RngStreams(seed), TICK_S)
    per_day = 144
    seen: dict[str, list[int]] = {"arrive": [], "leave": [], "detach": [], "present": []}
    stays.start(0)
    stays.plan_day(0, 0, 0)
    for k in range(1, days * per_day):
        if k % per_day == 0:
            stays.plan_day(k // per_day, k, k - 1)
        arriving, leaving, detaching = stays.due(k)
        stays.detach_at(np.full(len(leaving), k + 2, np.int64), leaving)
        seen["arrive"] += [k] * len(arriving)
        seen["leave"] += [k] * len(leaving)
        seen["detach"] += [k] * len(detaching)
        if k % per_day == 72:  # noon
            seen["present"].append(len(stays.present()))
    return stays, seen


@pytest.fixture(scope="module")
def month() -> tuple[RoamingStays, dict[str, list[int]]]:
    return run_stays()


def test_about_half_the_visitors_are_in_the_country_every_day(month: tuple[RoamingStays, dict[str, list[int]]]
                                                              ) -> None:
    """The share present at noon stays near its start (no drift, no emptying) and the daily arrivals are a steady
    share of the visitors."""
    stays, seen = month
    n = len(stays.visitors)
    present = np.asarray(seen["present"]) / n
    assert present.min() > 0.42 and present.max() < 0.52, present
    assert abs(present[-7:].mean() - present[:7].mean()) < 0.03
    per_day = np.bincount(np.asarray(seen["arrive"]) // 144, minlength=DAYS)[1:] / n
    assert 0.08 < per_day.mean() < 0.14 and per_day.min() > 0.06, per_day


def test_stays_last_one_to_fourteen_nights_around_four(month: tuple[RoamingStays, dict[str, list[int]]]) -> None:
    """Measured from arrival to leaving, stays last about 1 to 14 days, with a median around four nights."""
    stays, _ = month
    # Replay one visitor cohort: the arrivals of day 1 and when each leaves.
    again = RoamingStays(np.ones(len(stays.visitors), bool), RngStreams(3), TICK_S)
    again.start(0)
    again.plan_day(1, 144, 143)
    arrive_at: dict[int, int] = {}
    length = []
    for k in range(144, 20 * 144):
        arriving, leaving, _ = again.due(k)
        for v in arriving.tolist():
            arrive_at[v] = k
        length += [(k - arrive_at.pop(v)) / 144 for v in leaving.tolist() if v in arrive_at]
    days = np.asarray(length)
    assert len(days) > 1_000 and not arrive_at
    assert days.min() >= 0.5 and days.max() <= 15.0
    assert 3.0 <= float(np.median(days)) <= 5.0


def test_arrivals_follow_flight_banks(month: tuple[RoamingStays, dict[str, list[int]]]) -> None:
    """Arrivals by local hour follow the flight banks: busy mornings and evenings, (almost) nobody 02:00-05:00."""
    _, seen = month
    hours = np.bincount((np.asarray(seen["arrive"]) % 144) // 6, minlength=24)
    share = hours / hours.sum()
    expected = np.asarray(ARRIVAL_HOUR_WEIGHTS) / sum(ARRIVAL_HOUR_WEIGHTS)
    assert np.abs(share - expected).max() < 0.01
    assert hours[2:5].sum() == 0


def test_every_departure_detaches_and_comes_back_later(month: tuple[RoamingStays, dict[str, list[int]]]) -> None:
    """Every departure detaches; a visitor abroad may come back for another stay."""
    stays, seen = month
    last = DAYS * 144 - 1
    assert len(seen["detach"]) == sum(1 for k in seen["leave"] if k + 2 <= last)
    assert (stays.state == ABROAD).any()


def test_a_shard_draws_its_blocks_as_the_whole() -> None:
    """Per-block streams: a shard holding the second block draws its visitors' stays as the whole world does."""
    n = BLOCK_SIZE + 500
    roaming = np.zeros(n, bool)
    roaming[::7] = True
    whole = RoamingStays(roaming, RngStreams(5), TICK_S)
    shard = RoamingStays(roaming[BLOCK_SIZE:], ShardStreams(5, 1), TICK_S)
    abroad_whole, abroad_shard = whole.start(0), shard.start(0)
    assert np.array_equal(abroad_whole[abroad_whole >= BLOCK_SIZE] - BLOCK_SIZE, abroad_shard)
    whole.plan_day(1, 144, 143)
    shard.plan_day(1, 144, 143)
    assert np.array_equal(whole.state[whole.visitors >= BLOCK_SIZE], shard.state)
    for k in range(144, 3 * 144):
        mine, theirs = shard.due(k), whole.due(k)
        for a, b in zip(mine, theirs, strict=True):
            assert np.array_equal(a, b[b >= BLOCK_SIZE] - BLOCK_SIZE)


@pytest.fixture(scope="module")
def world() -> World:
    world = World.build(small_config(n=3_000))
    world.advance(timedelta(days=2))
    return world


def test_a_visitor_abroad_is_not_attached(world: World) -> None:
    """A visitor abroad has no cell: counted in no cell, occupant of no area, not reachable, located nowhere."""
    abroad = np.flatnonzero(world.population.roaming & (world.cell < 0)).astype(np.int32)
    assert len(abroad) > 0 and (world.cell[~world.population.roaming] >= 0).all()
    assert world.cell_counts_at().sum() == world.population.size - len(abroad)
    everywhere = Area.circle(0.0, 0.0, 60_000.0)
    assert not np.isin(abroad, world.occupants(everywhere)).any()
    assert not world.is_reachable(abroad.astype(np.int64)).any() and not world.is_reachable_one(int(abroad[0]))
    loc = world.locate(int(abroad[0]))
    assert loc.cell_id == "" and loc.reachable is False
    # Heard last when it detached (or never since the start), not at periodic updates.
    detached = world.time_of(max(int(world.last_change_tick[abroad[0]]), 0))
    assert loc.last_seen == detached < world.clock.now - timedelta(hours=1)


def test_pinning_a_visitor_abroad_is_refused_before_anything_changes(world: World) -> None:
    """Pinning a visitor abroad raises NotAttachedError: no cell, no pin, no cell change logged."""
    i = int(np.flatnonzero(world.population.roaming & (world.cell < 0))[0])
    changes = len(world.presence.events()[0])
    with pytest.raises(NotAttachedError, match="abroad"):
        world.pin(i, world.city.projection.lat0, world.city.projection.lon0)
    assert int(world.cell[i]) == -1 and not world.mobility.pinned[i]
    assert len(world.presence.events()[0]) == changes


def test_arrivals_and_departures_are_cell_changes_from_and_to_minus_one(world: World) -> None:
    """The cell log shows each stay: attach (a change from -1 to the airport's cell) then detach (to -1)."""
    _, subs, cells = world.presence.events()
    roaming = world.population.roaming[subs]
    detach = roaming & (cells < 0)
    assert detach.any() and (cells[~roaming] >= 0).all()
    visitor = int(subs[detach][0])
    track = world.cell_track(visitor, world.start)
    assert any(c < 0 for _, c in track)


def test_each_visitor_keeps_the_flight_banks_of_their_own_time_zone() -> None:
    """In a territory of two zones, a visitor's day starts at their own zone's midnight: the same draws land
    exactly the zones' offset apart (the visitors of zone 1 arrive 42 ticks, seven hours, earlier)."""
    n = 4_000
    zone = np.tile(np.array([0, 1], np.uint8), n // 2)
    one = RoamingStays(np.ones(n, bool), RngStreams(5), TICK_S)
    two = RoamingStays(np.ones(n, bool), RngStreams(5), TICK_S, zone)
    one.start(1_000)
    two.start(np.array([1_000, 1_000 - 42], np.int64))
    one.plan_day(1, 1_144, 1_143)
    two.plan_day(1, np.array([1_144, 1_144 - 42], np.int64), 1_143 - 42)

    def arrivals(stays: RoamingStays) -> dict[int, int]:
        got: dict[int, int] = {}
        for k in range(1_000, 1_400):
            for row in stays.due(k)[0].tolist():
                got[row] = k
        return got

    single, multi = arrivals(one), arrivals(two)
    assert single and set(single) == set(multi)
    shift = {row: single[row] - multi[row] for row in single}
    assert {shift[r] for r in shift if zone[r] == 0} == {0}
    assert {shift[r] for r in shift if zone[r] == 1} == {42}
