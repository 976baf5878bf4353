"""Country presets: several real cities of their real sizes, intercity trips, airports, national numbering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from numpy.typing import NDArray
from shapely.geometry import Point

from simulator.city import COUNTRY_PRESETS, country_from_preset
from simulator.errors import InvalidConfigError, UnknownCityError
from simulator.mobility import HOME, HUB_AIRPORT, HUB_STATION, MobilityState, PlanBuilder, Venues
from simulator.population import Population
from simulator.rng import RngStreams
from simulator.world import World, WorldConfig

START = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)  # a Monday, 09:00 in Seoul


@pytest.fixture(scope="module")
def korea() -> World:
    """A small South Korea, built once (read-mostly)."""
    return World.build(WorldConfig(country="south-korea", subscribers=4_000, seed=11, start=START,
                                   realism_sample=200))


@pytest.mark.parametrize("name", sorted(COUNTRY_PRESETS))
def test_residents_live_in_the_cities_by_their_shares(name: str) -> None:
    """Each city's share of residents matches the preset's population share (within two points)."""
    city = country_from_preset(name)
    assert len(city.metros) >= 5 and city.country.code == COUNTRY_PRESETS[name].country
    pop = Population.build(city, 8_000, RngStreams(2), roaming_share=0.0)
    metro = city.metro_of(pop.home_x, pop.home_y)
    measured = np.bincount(metro, minlength=len(city.metros)) / pop.size
    assert np.allclose(measured, city.metro_shares, atol=0.02), (measured, city.metro_shares)
    # Work and study places are in the home city (a school may lie across the seam where two cities touch).
    assert (city.metro_of(pop.work_x, pop.work_y) == metro).mean() > 0.995


@pytest.mark.parametrize(("name", "code", "dial", "mcc"), [
    ("south-korea", "KR", "8210", "450"),  # +82 10 XXXX XXXX
    ("KR", "KR", "8210", "450"),  # the ISO code names the same preset
    ("russia", "RU", "79", "250"),  # +7 9XX XXX XX XX
    ("germany", "DE", "491", "262"),  # +49 15x/16x/17x
])
def test_numbering_is_the_countrys(name: str, code: str, dial: str, mcc: str) -> None:
    """Residents of a country preset carry the country's mobile numbers and its network's IMSIs."""
    pop = Population.build(country_from_preset(name), 500, RngStreams(3), roaming_share=0.0)
    assert pop.countries[0] == code
    assert all(str(d).startswith(dial) for d in pop.msisdn.tolist())
    assert all(str(d).startswith(mcc) for d in pop.imsi.tolist())


def test_an_unknown_country_names_the_presets() -> None:
    """An unknown country is refused with the list of presets."""
    with pytest.raises(UnknownCityError, match="south-korea"):
        country_from_preset("atlantis")


@pytest.mark.parametrize("name", sorted(COUNTRY_PRESETS))
def test_intercity_trips_happen_at_the_daily_share(name: str) -> None:
    """Over four weekdays the share of residents leaving for another city per day is the preset's (±25%); trips
    by rail or air pass through stations and airports and some travellers stay the night."""
    city = country_from_preset(name)
    streams = RngStreams(5)
    n = 20_000
    pop = Population.build(city, n, streams, roaming_share=0.0)
    venues = Venues.build(city, streams)
    builder = PlanBuilder(city, venues, streams)
    state = MobilityState.at_home(pop.home_x, pop.home_y)
    home_metro = city.metro_of(pop.home_x, pop.home_y)
    # Cities that touch (Seoul and Incheon) share one coverage region, and everyday outings cross between them:
    # only trips to another region are told apart from outings, so the expected share counts those.
    regions = list(getattr(city.boundary, "geoms", [city.boundary]))
    region_of = np.asarray([next(k for k, r in enumerate(regions) if r.contains(Point(m.x, m.y)))
                            for m in city.metros])
    shares = city.metro_shares
    other = np.asarray([shares[region_of != region_of[m]].sum() / (1 - shares[m]) for m in range(len(shares))])
    expected = city.intercity.daily_share * other[home_metro].mean()
    venue_region = region_of[city.metro_of(venues.x, venues.y)]
    trips, hubs, overnight = 0, 0, 0
    for day in range(1, 5):
        tick, sub, place = builder.block(day, day - 1, 0, 1440 * day, 1.0, pop.status, pop.age,
                                         (pop.home_x, pop.home_y), (pop.work_x, pop.work_y), state)
        away = (place >= 0) & (venue_region[np.clip(place, 0, None)] != region_of[home_metro[sub]])
        travellers = np.unique(sub[away])
        trips += len(travellers)
        hubs += int(np.isin(venues.hub[place[place >= 0]], (HUB_STATION, HUB_AIRPORT)).sum())
        home_next_day = sub[(place == HOME) & (tick >= 1440 * (day + 1))]
        overnight += len(np.intersect1d(travellers, home_next_day))
    share = trips / (4 * n)
    assert abs(share - expected) <= 0.25 * expected, (share, expected)
    assert hubs > 0 and overnight > 0


def test_roamers_arrive_at_airports(korea: World) -> None:
    """A landing roamer attaches at an airport of their city (Daejeon has none: its station) and has left it a few
    hours later; roamers abroad are not attached (no cell) and stand where they will land."""
    fresh = copy_of(korea)
    roamers = np.flatnonzero(fresh.population.roaming)
    assert len(roamers) > 20
    abroad = roamers[fresh.cell[roamers] < 0]
    assert 0 < len(abroad) < len(roamers)
    landed: list[tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int32]]] = []

    def on_arrival(now: datetime, subs: NDArray[np.int32]) -> None:
        landed.append((subs.copy(), fresh.mobility.place[subs].copy(), fresh.cell[subs].copy()))

    fresh.on_roamer_arrival(on_arrival)
    fresh.advance(timedelta(hours=40))
    subs, places, cells = (np.concatenate([a[i] for a in landed]) for i in range(3))
    assert len(subs) >= 8 and np.isin(subs, abroad).all()
    assert (places >= 0).all()
    hub = fresh.venues.hub[places]
    city = fresh.city
    daejeon = [m.name for m in city.metros].index("daejeon")
    metro = city.metro_of(fresh.population.home_x[subs], fresh.population.home_y[subs])
    assert (hub[metro != daejeon] == HUB_AIRPORT).all() and (hub[metro == daejeon] == HUB_STATION).all()
    assert (city.place_metro[places - fresh.venues.named_offset] == metro).all()
    assert np.array_equal(cells, fresh.network.cell_of(fresh.venues.x[places], fresh.venues.y[places]))
    early = subs[: len(landed[0][0])]  # the first to land, many hours ago: gone from the airport
    still = fresh.venues.hub[np.clip(fresh.mobility.place[early], 0, None)] == HUB_AIRPORT
    assert (still & (fresh.mobility.place[early] >= 0)).mean() < 0.5


def test_same_seed_same_country(korea: World) -> None:
    """Two countries from the same config move identically (the cities, trips and arrivals included)."""
    a, b = copy_of(korea), World.build(korea.config)
    a.advance(timedelta(hours=6))
    b.advance(timedelta(hours=6))
    ta, sa, ca = a.presence.events()
    tb, sb, cb = b.presence.events()
    assert len(ta) > 0
    assert np.array_equal(ta, tb) and np.array_equal(sa, sb) and np.array_equal(ca, cb)
    assert np.array_equal(a.cell, b.cell)


def copy_of(world: World) -> World:
    import copy

    return copy.deepcopy(world)


@pytest.mark.parametrize(("config", "refused"), [
    # above the old 5,000,000 cap: accepted (Germany's plan holds 1.7 billion numbers)
    (WorldConfig(city="berlin", subscribers=6_000_000), None),
    (WorldConfig(country="south-korea", subscribers=40_000_000), None),
    # beyond South Korea's +82 10 plan (100 million numbers): the error names the country and the limit
    (WorldConfig(country="south-korea", subscribers=120_000_000, roaming_share=0.0),
     "South Korea (KR, +82): at most 100,000,000"),
    # visitors' numbers come from their own plans: New York's visitors from the US have 56 million
    (WorldConfig(city="berlin", subscribers=60_000_000), "visitors from US (+1): at most 56,000,000"),
])
def test_population_limit_is_the_numbering_plan(config: WorldConfig, refused: str | None) -> None:
    """The only cap on size is a numbering plan's, named in the error; 6 million people are accepted."""
    if refused is None:
        config.validate()
    else:
        with pytest.raises(InvalidConfigError, match=refused.replace("(", r"\(").replace(")", r"\)")
                           .replace("+", r"\+")):
            config.validate()
