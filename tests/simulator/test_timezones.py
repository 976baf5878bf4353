"""A country spanning several time zones: each metro keeps its own zone, and local time follows the home metro."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from numpy.typing import NDArray

from simulator.city import city_from_preset, country_from_preset
from simulator.devices import NIGHT_OFF_HOURS
from simulator.mobility import WORK, MobilityState, PlanBuilder, Venues
from simulator.population import Population
from simulator.rng import RngStreams
from simulator.world import World, WorldConfig

# Monday 18:00 in Moscow, 22:00 in Novosibirsk, 01:00 (Tuesday) in Vladivostok.
START = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)
ZONES = {"moscow": "Europe/Moscow", "saint-petersburg": "Europe/Moscow", "yekaterinburg": "Asia/Yekaterinburg",
         "novosibirsk": "Asia/Novosibirsk", "vladivostok": "Asia/Vladivostok"}


@pytest.fixture(scope="module")
def russia() -> World:
    """A small Russia, built once (read-mostly: tests that step it step it forward only)."""
    return World.build(WorldConfig(country="russia", subscribers=6_000, seed=3, start=START, realism_sample=200))


def residents_of(world: World, metro: str) -> NDArray[np.int64]:
    """Rows of the residents (not roamers) who live in ``metro``."""
    names = [m.name for m in world.city.metros]
    pop = world.population
    home = world.city.metro_of(pop.home_x, pop.home_y)
    return np.flatnonzero((home == names.index(metro)) & ~pop.roaming).astype(np.int64)


def test_russia_cities_keep_their_own_zones() -> None:
    """The Russia preset's cities carry their real IANA zones; the capital's zone comes first."""
    city = country_from_preset("russia")
    assert {m.name: city.timezones[z] for m, z in zip(city.metros, city.metro_zone, strict=True)} == ZONES
    assert city.timezone == city.timezones[0] == "Europe/Moscow"


@pytest.mark.parametrize("name", ["moscow", "seoul", "berlin", "new-york"])
def test_a_city_preset_has_one_zone(name: str) -> None:
    """A city preset stays a one-zone territory: its own zone, code 0 for everyone."""
    city = city_from_preset(name)
    assert city.timezones == [city.timezone]
    assert city.timezone_of(np.zeros(3), np.zeros(3)).tolist() == [0, 0, 0]


def test_the_timezone_column_is_the_home_metros(russia: World) -> None:
    """Residents and roamers alike are on the time of the metro they live or stay in."""
    pop = russia.population
    assert pop.timezones == russia.city.timezones
    expected = russia.city.metro_zone[russia.city.metro_of(pop.home_x, pop.home_y)]
    assert np.array_equal(pop.timezone, expected)
    assert len(np.unique(pop.timezone[pop.roaming])) > 1  # roamers stay in several cities too


@pytest.mark.parametrize(("metro", "offset"), [
    ("moscow", 3),  # UTC+3
    ("saint-petersburg", 3),  # Moscow time
    ("yekaterinburg", 5),  # UTC+5
    ("novosibirsk", 7),  # UTC+7
    ("vladivostok", 10),  # UTC+10
])
def test_local_clock_is_the_home_metros(russia: World, metro: str, offset: int) -> None:
    """Each subscriber's local hour, minute, weekday and day are their own metro's."""
    subs = residents_of(russia, metro)
    at = datetime(2026, 6, 1, 20, 30, tzinfo=UTC)
    clock = russia.local_clock(subs, at)
    local = at + timedelta(hours=offset)
    assert set(clock.hour.tolist()) == {local.hour}
    assert set(clock.minute.tolist()) == {local.hour * 60 + local.minute}
    assert set(clock.weekday.tolist()) == {local.weekday()}
    assert set(clock.day.tolist()) == {local.toordinal()}
    one = russia.local_time(at, sub=int(subs[0]))
    assert one.utcoffset() == timedelta(hours=offset) and one.hour == local.hour
    assert russia.local_time(at).tzinfo == ZoneInfo("Europe/Moscow")  # the territory's own clock: the capital's


def test_night_off_follows_each_devices_zone(russia: World) -> None:
    """At 19:00 UTC (22:00 in Moscow, 05:00 in Vladivostok) phones switched off at night are off in Vladivostok
    only; one device at a time answers the same."""
    at = datetime(2026, 6, 1, 19, 0, tzinfo=UTC)
    assert NIGHT_OFF_HOURS[0] <= (at + timedelta(hours=10)).hour < NIGHT_OFF_HOURS[1]
    assert not NIGHT_OFF_HOURS[0] <= (at + timedelta(hours=3)).hour < NIGHT_OFF_HOURS[1]
    russia.run_until(at)
    off = russia.devices.night_off
    far = residents_of(russia, "vladivostok")
    near = residents_of(russia, "moscow")
    far_off, near_off = far[off[far]], near[off[near]]
    assert len(far_off) and len(near_off)
    assert not russia.is_reachable(far_off).any()
    assert russia.is_reachable(near_off).mean() > 0.9  # only coverage gaps and faults
    both = np.concatenate([far_off, near_off])
    assert russia.is_reachable(both).tolist() == [russia.is_reachable_one(int(i)) for i in both]


def test_novosibirsk_leaves_home_four_hours_before_moscow_in_utc() -> None:
    """Commuters leave for work by their local clock: in UTC, Novosibirsk's morning departures come about four
    hours before Moscow's (distribution of the first departures to work by UTC hour)."""
    world = World.build(WorldConfig(country="russia", subscribers=6_000, seed=5, start=START, realism_sample=200))
    # From 21:00 UTC (Moscow's midnight, Novosibirsk's 04:00) to 09:00 UTC: both cities' morning commutes.
    world.run_until(datetime(2026, 6, 1, 21, 0, tzinfo=UTC))
    n = world.population.size
    first = np.full(n, -1, np.int64)
    was = world.mobility.place == WORK

    def on_step(now: datetime) -> None:
        nonlocal was
        at_work = world.mobility.place == WORK
        left = at_work & ~was & (first < 0)
        first[left] = now.hour * 60 + now.minute
        was = at_work

    world.on_step(on_step)
    world.run_until(datetime(2026, 6, 2, 9, 0, tzinfo=UTC))

    def utc_hours(metro: str) -> NDArray[np.float64]:
        """UTC hour of each resident's first departure to work (before midnight: negative, -1 for 23:00)."""
        minutes = first[residents_of(world, metro)]
        minutes = minutes[minutes >= 0]
        return np.where(minutes >= 21 * 60, minutes - 24 * 60, minutes) / 60.0

    moscow, novosibirsk = utc_hours("moscow"), utc_hours("novosibirsk")
    assert len(moscow) > 500 and len(novosibirsk) > 50
    gap = np.median(moscow) - np.median(novosibirsk)
    histogram = (np.histogram(moscow, bins=range(-3, 13))[0], np.histogram(novosibirsk, bins=range(-3, 13))[0])
    assert 3.5 <= gap <= 4.5, histogram
    # Hardly anyone in Moscow leaves for work before 02:00 UTC (05:00 local); most of Novosibirsk has by then.
    assert (moscow < 2).mean() < 0.15 < 0.5 < (novosibirsk < 2).mean(), histogram


def test_a_start_across_two_local_dates_places_everyone_by_their_own_day() -> None:
    """At 20:50 UTC Moscow is on Monday 23:50 and Vladivostok on Tuesday 06:50: both days are planned at the
    start, Vladivostok's early commuters are already at work, and the first tick brings no burst of overdue
    departures."""
    world = World.build(WorldConfig(country="russia", subscribers=30_000, seed=5,
                                    start=datetime(2026, 6, 1, 20, 50, tzinfo=UTC), realism_sample=200))
    far = residents_of(world, "vladivostok")
    before = world.mobility.place[far].copy()
    assert (before == WORK).mean() > 0.03
    world.step()
    assert (world.mobility.place[far] != before).mean() < 0.01


@pytest.mark.parametrize(("place", "zone", "hour"), [
    ("Vladivostok Station", "Asia/Vladivostok", 19),  # 09:00 UTC is 19:00 in Vladivostok
    ("Koltsovo Airport", "Asia/Yekaterinburg", 14),  # and 14:00 in Yekaterinburg
    ("Gorky Park", "Europe/Moscow", 12),  # and noon in Moscow
])
def test_a_gathering_keeps_the_time_of_its_venue(russia: World, place: str, zone: str, hour: int) -> None:
    """A gathering's venue carries the zone of the metro it lies in; its times read on the venue's clocks."""
    start = datetime(2026, 6, 3, 9, 0, tzinfo=UTC)
    g = russia.add_gathering(f"at {place}", start, start + timedelta(hours=2), place=place, count=5)
    venue = russia.gathering_venue(g)
    assert venue.place == place and venue.timezone == zone
    assert venue.local(g.start).hour == hour


def test_a_city_world_is_one_zone_throughout() -> None:
    """A city preset's world: one zone in the population, the summary and every subscriber's clock."""
    world = World.build(WorldConfig(city="seoul", subscribers=3_000, seed=2, realism_sample=100))
    assert world.timezones == ["Asia/Seoul"] and world.summary().timezone == "Asia/Seoul"
    assert not world.population.timezone.any()
    clock = world.local_clock(np.arange(world.subscriber_count))
    assert set(clock.hour.tolist()) == {world.local_time().hour}
    i = world.add_test_subscriber("+821099990000")
    assert world.local_time(sub=i) == world.local_time()


def test_a_test_subscriber_takes_the_zone_of_where_it_is_put(russia: World) -> None:
    """A QA phone put in Vladivostok runs on Vladivostok time."""
    i = russia.add_test_subscriber("+79990000001", latitude=43.1155, longitude=131.8855)
    assert russia.timezones[int(russia.timezone_codes(np.asarray([i]))[0])] == "Asia/Vladivostok"
    assert russia.local_time(sub=i).utcoffset() == timedelta(hours=10)


def test_intercity_trips_keep_the_hours_of_their_origin() -> None:
    """A trip to another city leaves in the morning of its origin's clock: the first leg of travellers from each
    zone leaves between 05:00 and 13:00 their local time, hours apart in UTC."""
    city = country_from_preset("russia")
    streams = RngStreams(5)
    pop = Population.build(city, 40_000, streams, roaming_share=0.0)
    venues = Venues.build(city, streams)
    builder = PlanBuilder(city, venues, streams)
    state = MobilityState.at_home(pop.home_x, pop.home_y)
    # Ticks are minutes since 2026-06-01 00:00 UTC; the day planned is Tuesday 2 June in every zone.
    epoch = datetime(2026, 6, 1, tzinfo=UTC)
    starts = np.asarray([(datetime(2026, 6, 2, tzinfo=ZoneInfo(z)) - epoch) // timedelta(minutes=1)
                         for z in city.timezones], np.int64)
    tick, sub, place = builder.block(1, 1, 0, starts, 1.0, pop.status, pop.age, (pop.home_x, pop.home_y),
                                     (pop.work_x, pop.work_y), state, zone=pop.timezone)
    home_metro = city.metro_of(pop.home_x, pop.home_y)
    venue_metro = city.metro_of(venues.x, venues.y)
    away = (place >= 0) & (venue_metro[np.clip(place, 0, None)] != home_metro[sub])
    travellers = np.unique(sub[away])
    first = np.full(pop.size, np.iinfo(np.int64).max)
    np.minimum.at(first, sub, tick.astype(np.int64))
    zone = pop.timezone[travellers]
    local = first[travellers] - starts[zone]
    assert len(travellers) > 100 and len(np.unique(zone)) > 2
    assert ((local >= 5 * 60) & (local <= 13 * 60)).all()
    moscow, far = first[travellers][zone == 0], first[travellers][zone != 0]
    assert np.median(moscow) - np.median(far) > 120  # the eastern cities' mornings come hours earlier in UTC
