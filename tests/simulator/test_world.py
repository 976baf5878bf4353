"""The World: stepping, determinism, listeners, pins, test subscribers, gatherings and area queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from simulator.errors import ClockError, InvalidAreaError, InvalidConfigError
from simulator.geo import Area
from simulator.world import World, WorldConfig
from tests.simulator.conftest import START, small_config


def _digest(world: World) -> tuple[bytes, bytes, int]:
    t, s, c = world.presence.events()
    return (np.concatenate([t, s, c]).tobytes(), world.cell.tobytes(), int(world.tick_index))


def test_same_seed_same_day() -> None:
    """Two worlds from the same config move identically."""
    a, b = World.build(small_config(n=1_500)), World.build(small_config(n=1_500))
    a.advance(timedelta(hours=18))
    b.advance(timedelta(hours=18))
    assert _digest(a) == _digest(b)


def test_other_seed_other_day() -> None:
    """Another seed gives other movement."""
    a, b = World.build(small_config(n=1_500)), World.build(small_config(seed=8, n=1_500))
    a.advance(timedelta(hours=6))
    b.advance(timedelta(hours=6))
    assert _digest(a) != _digest(b)


def test_stepping_in_pieces_equals_one_run() -> None:
    """run_until in small pieces gives the same result as one long run."""
    a, b = World.build(small_config(n=1_500)), World.build(small_config(n=1_500))
    a.advance(timedelta(hours=10))
    for _ in range(20):
        b.advance(timedelta(minutes=30))
    assert _digest(a) == _digest(b)


def test_block_order_does_not_change_the_day() -> None:
    """Building a day's plan block by block in reverse order gives the same plan and the same memories."""
    from simulator.rng import BLOCK_SIZE

    config = small_config(n=BLOCK_SIZE + 700)
    a, b = World.build(config), World.build(config)
    n_blocks = 2
    pa = a.movement.build_plan(1, 1, 1440)
    pb = b.movement.build_plan(1, 1, 1440, block_order=list(reversed(range(n_blocks))))
    assert np.array_equal(pa.tick, pb.tick) and np.array_equal(pa.sub, pb.sub)
    assert np.array_equal(pa.place, pb.place)
    assert np.array_equal(a.mobility.known, b.mobility.known)


def test_clock_refuses_the_past() -> None:
    """The world never runs backwards."""
    world = World.build(small_config(n=500))
    world.advance(timedelta(hours=1))
    with pytest.raises(ClockError):
        world.run_until(START)


def test_cell_listeners_hear_every_change() -> None:
    """Listeners receive exactly the changes recorded in the presence history."""
    world = World.build(small_config(n=1_000))
    heard: list[int] = []
    world.on_cell_change(lambda now, subs, old, new: heard.append(len(subs)))
    world.advance(timedelta(hours=4))
    assert sum(heard) == world.presence.n_events > 0


def test_cells_follow_positions() -> None:
    """Each attached subscriber's cell is the cell of their current position; only roamers abroad have none."""
    world = World.build(small_config(n=1_000))
    world.advance(timedelta(hours=3, minutes=17))
    attached = world.cell >= 0
    assert (world.population.roaming | attached).all() and not attached.all()
    assert np.array_equal(world.cell[attached],
                          world.network.cell_of(world.mobility.x, world.mobility.y)[attached])


def test_pin_moves_at_once_and_release_resumes() -> None:
    """A pinned subscriber jumps to the place and stays there; released, they go back to their routine."""
    world = World.build(small_config(n=1_000))
    lat, lon = 52.5147, 13.2395  # Olympiastadion
    world.pin(5, lat, lon)
    here = world.locate(5)
    assert abs(here.latitude - lat) < 1e-4 and here.pinned
    world.advance(timedelta(hours=6))
    assert abs(world.locate(5).latitude - lat) < 1e-4
    world.release(5)
    world.advance(timedelta(hours=3))
    assert not world.locate(5).pinned
    assert abs(world.locate(5).latitude - lat) > 1e-4


def test_pin_outside_city_is_refused() -> None:
    """Pinning outside the city is an error and changes nothing."""
    world = World.build(small_config(n=500))
    before = world.locate(3)
    with pytest.raises(InvalidAreaError):
        world.pin(3, 10.0, 10.0)
    assert world.locate(3) == before


def test_test_subscriber_is_found_and_stays() -> None:
    """An added QA phone has its number, profile and consent, and stays where it was put."""
    world = World.build(small_config(n=500))
    i = world.add_test_subscriber("+491511234567", profile={"age": 33, "os": "IOS"},
                                  consent={"ADVERTISING": {"PUSH": True, "SMS": False}},
                                  latitude=52.52, longitude=13.405)
    assert world.find_subscriber("+491511234567") == i
    assert world.subscriber_profile(i).age == 33
    assert world.consent_state(i).granted("ADVERTISING", "PUSH") is True
    world.advance(timedelta(hours=2))
    assert abs(world.locate(i).latitude - 52.52) < 1e-4
    attached = world.cell >= 0  # all but the roamers abroad
    assert np.array_equal(world.cell[attached], world.network.cell_of(world.mobility.x, world.mobility.y)[attached])


def test_consent_change_notifies_and_is_history() -> None:
    """Setting consent notifies listeners and shows in the history."""
    world = World.build(small_config(n=500))
    heard: list[tuple[int, str, bool]] = []
    world.on_consent_change(lambda now, i, purpose, channel, granted, source: heard.append((i, purpose, granted)))
    world.advance(timedelta(minutes=5))
    was = world.consent_state(9).granted("ADVERTISING", "SMS")
    world.set_consent(9, "ADVERTISING", "SMS", not was)
    assert heard == [(9, "ADVERTISING", not was)]
    assert world.consent_history(9)[-1].granted is (not was)


def test_gathering_fills_the_stadium_and_empties_after() -> None:
    """Attendees are in the stadium's cells during the match and mostly gone two hours after it."""
    world = World.build(small_config(n=3_000))
    start, end = START + timedelta(hours=12), START + timedelta(hours=14)
    g = world.add_gathering("match", start, end, place="Olympiastadion", share=0.05)
    area = Area.circle(float(world.venues.x[g.venue]), float(world.venues.y[g.venue]), 300)
    before = len(np.intersect1d(world.occupants(area), g.attendees))
    world.run_until(start + timedelta(minutes=30))
    during = len(np.intersect1d(world.occupants(area), g.attendees))
    world.run_until(end + timedelta(hours=2))
    after = len(np.intersect1d(world.occupants(area), g.attendees))
    assert during >= 0.9 * len(g.attendees)
    assert before < 0.2 * len(g.attendees) and after < 0.2 * len(g.attendees)


def test_gathering_bad_input() -> None:
    """Gatherings with a bad window, place or share are refused."""
    world = World.build(small_config(n=500))
    with pytest.raises(InvalidConfigError):
        world.add_gathering("x", START + timedelta(hours=2), START + timedelta(hours=1), place="Olympiastadion",
                            share=0.1)
    with pytest.raises(InvalidConfigError):
        world.add_gathering("x", START + timedelta(hours=1), START + timedelta(hours=2), share=0.1)
    with pytest.raises(InvalidConfigError):
        world.add_gathering("x", START + timedelta(hours=1), START + timedelta(hours=2), place="Olympiastadion",
                            share=1.5)
    with pytest.raises(InvalidConfigError):  # the attendees' hold (an int32 tick) cannot hold its end
        world.add_gathering("x", START + timedelta(hours=1), START + timedelta(days=366 * 5000),
                            place="Olympiastadion", share=0.1)
    assert list(world.gatherings) == []


def test_visitors_include_everyone_present_at_any_moment(week_world: World) -> None:
    """Visitors of an area in a window = union of its occupants at every tick of the window."""
    w = week_world
    area = Area.circle(0.0, 0.0, 1_500)
    cells = w.area_cells(area)
    k1, k2 = w.tick_index - 180, w.tick_index - 60
    expect = np.zeros(w.population.size, bool)
    for k in range(k1, k2 + 1):
        expect |= np.isin(w.presence.cells_at(k, w.population.size), cells)
    got = w.visitors(area, w.time_of(k1), w.time_of(k2))
    assert np.array_equal(np.flatnonzero(expect), got)


def test_occupants_precise_is_a_subset(week_world: World) -> None:
    """Precise occupancy (inside the shape) is a subset of cell-level occupancy."""
    area = Area.circle(1_000.0, -500.0, 1_000)
    cell_level = week_world.occupants(area)
    precise = week_world.occupants(area, precise=True)
    assert set(precise.tolist()) <= set(cell_level.tolist())
    assert len(cell_level) > 0


@pytest.mark.parametrize("field, value", [
    ("subscribers", 0),      # empty world
    ("subscribers", -5),     # negative size
    ("seed", -1),            # negative seed
    ("tick_seconds", 0),     # zero tick
    ("roaming_share", 0.9),  # implausible share of visitors
    ("start", datetime(1969, 12, 31, 23, 59, tzinfo=UTC)),  # before the accepted instants
    ("start", datetime(9999, 12, 31, 23, 59, tzinfo=UTC)),  # past them: no room for the days it will run
])
def test_bad_config_is_refused(field: str, value: int | float | datetime) -> None:
    """Bad world options raise InvalidConfigError."""
    config = small_config(n=100)
    setattr(config, field, value)
    with pytest.raises(InvalidConfigError):
        World.build(config)


def test_summary_reports_size_and_tick_cost() -> None:
    """The summary names city, size, cells and tick cost."""
    world = World.build(WorldConfig(city="seoul", subscribers=400, seed=1, start=START))
    world.advance(timedelta(minutes=10))
    s = world.summary()
    assert s.city == "seoul" and s.subscribers == 400 and s.cells > 100 and s.ticks == 10


def test_answers_about_cells_and_coverage_come_from_the_network() -> None:
    """The world's cell and coverage answers are the network's, so callers need not reach into it."""
    world = World.build(small_config(n=500))
    net = world.network
    cell = int(world.cell[0])
    assert world.cell_count == net.n_cells and world.grid_resolution == net.resolution
    assert world.cell_centre(cell) == (float(net.cell_x[cell]), float(net.cell_y[cell]))
    assert world.cell_radius(cell) == float(net.cell_radius[cell])
    assert world.cell_footprint(cell).equals(net.cell_polygon(cell))
    x, y = world.mobility.x.astype(np.float64), world.mobility.y.astype(np.float64)
    assert np.array_equal(world.cells_at(x, y), net.cell_of(x, y))
    near = Area.circle(*world.cell_centre(cell), 500)
    far = Area.circle(1e7, 1e7, 500)
    assert world.covers(near) and world.reaches(near) and not world.covers(far) and not world.reaches(far)
    assert world.cell_coverage_fraction(cell, near) == net.cell_coverage_fraction(cell, near)
    assert world.covered_surface(near) == pytest.approx(near.surface, rel=1e-3)


def test_answers_about_subscribers_and_randomness() -> None:
    """Numbers and indices round-trip, SIM swaps are counted and named streams repeat."""
    world = World.build(small_config(n=300))
    assert world.subscriber_count == 300
    number = world.msisdn_of(7)
    assert number == world.subscriber_profile(7).msisdn and world.index_of(number) == 7
    assert world.find_subscriber(number.lstrip("+")) == 7
    assert world.sim_swaps(7) == 0
    world.sim_swap(7)
    assert world.sim_swaps(7) == 1
    assert world.random_stream("x", 1).integers(0, 10**9) == world.random_stream("x", 1).integers(0, 10**9)
    assert world.random_stream("x", 1).integers(0, 10**9) != world.random_stream("x", 2).integers(0, 10**9)


def test_gatherings_are_a_read_only_sequence_oldest_first() -> None:
    """Gatherings are listed in the order added; each venue answers with its position (and no name off-list)."""
    world = World.build(small_config(n=800))
    start = world.clock.now + timedelta(hours=2)
    lat, lon = world.city.projection.lat0, world.city.projection.lon0
    first = world.add_gathering("a", start, start + timedelta(hours=1), latitude=lat, longitude=lon, count=10)
    second = world.add_gathering("b", start, start + timedelta(hours=1), latitude=lat, longitude=lon, share=0.1)
    assert list(world.gatherings) == [first, second] and world.gatherings[-1] is second
    assert len(world.gatherings) == 2 and world.summary().gatherings == 2
    venue = world.gathering_venue(first)
    assert venue.place is None and abs(venue.latitude - lat) < 1e-4 and abs(venue.longitude - lon) < 1e-4


def test_whereabouts_at_home_at_work_or_travelling() -> None:
    """Whereabouts: most people start the day at home; on a weekday morning some travel and some are at work; the
    three are exclusive and agree with the movement columns."""
    world = World.build(small_config(n=1_000))
    subs = np.arange(world.subscriber_count)
    start = world.whereabouts(subs)
    assert start.at_home.mean() > 0.8
    world.advance(timedelta(hours=2, minutes=30))  # 08:30 in Berlin on a Monday
    now = world.whereabouts(subs)
    assert now.travelling.any() and now.at_work.any() and now.at_home.any()
    assert not (now.at_home & now.travelling).any() and not (now.at_work & now.travelling).any()
    assert not (now.at_home & now.at_work).any()
    assert now.travelling.tolist() == world.mobility.moving.tolist()
