"""Segments and the world's audience queries used by campaigns (vectorised, consistent with the columns)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest

from simulator.errors import InvalidConfigError
from simulator.geo import Area
from simulator.segments import Segment
from simulator.world import World


@pytest.fixture(scope="module")
def world() -> World:
    from tests.simulator.conftest import small_config

    return World.build(small_config(n=2_000))


def test_empty_segment_matches_everyone(world: World) -> None:
    """No criteria: every subscriber matches."""
    subs = np.arange(world.population.size)
    assert world.segment_mask(subs, Segment()).all()


@pytest.mark.parametrize("segment", [
    Segment(age_min=25, age_max=40),
    Segment(genders=("FEMALE",)),
    Segment(interests_any=("SPORTS", "MUSIC")),
    Segment(interests_all=("SPORTS", "MUSIC")),
    Segment(os=("IOS",), tariffs=("HIGH", "PREMIUM")),
    Segment(languages=("de",)),  # primary subtag matches de-DE
    Segment(roaming="EXCLUDE", app_installed=True),
    Segment(roaming="ONLY"),
])
def test_segment_agrees_with_decoded_profiles(world: World, segment: Segment) -> None:
    """The vectorised mask equals a plain check of each decoded profile (on a sample)."""
    subs = np.arange(0, world.population.size, 7)
    mask = world.segment_mask(subs, segment)
    for i, hit in zip(subs.tolist(), mask.tolist(), strict=True):
        p = world.subscriber_profile(i)
        expected = (
            (segment.age_min is None or p.age >= segment.age_min)
            and (segment.age_max is None or p.age <= segment.age_max)
            and (not segment.genders or p.gender in segment.genders)
            and (not segment.interests_any or bool(set(segment.interests_any) & set(p.interests)))
            and set(segment.interests_all) <= set(p.interests)
            and (not segment.os or p.os in segment.os)
            and (not segment.tariffs or p.tariff in segment.tariffs)
            and (not segment.languages or any(p.language == w or p.language.split("-")[0] == w
                                              for w in segment.languages))
            and (segment.roaming != "EXCLUDE" or not p.roaming) and (segment.roaming != "ONLY" or p.roaming)
            and (segment.app_installed is None or p.app_installed == segment.app_installed)
        )
        assert hit == expected


@pytest.mark.parametrize("segment", [
    Segment(age_min=50, age_max=20), Segment(genders=("OTHER",)), Segment(interests_any=("KNITTING",)),
    Segment(languages=("not a tag",)),
])
def test_invalid_segments_are_refused(segment: Segment) -> None:
    """Unknown values and empty ranges raise InvalidConfigError naming the problem."""
    with pytest.raises(InvalidConfigError):
        segment.validate()


def test_occupants_and_residents_of_cells(world: World) -> None:
    """Cell-based queries agree with the serving-cell column and the home cells."""
    area = Area.circle_wgs84(world.city.projection, world.city.projection.lat0, world.city.projection.lon0, 3000)
    cells = world.area_cells(area)
    assert np.array_equal(world.occupants_of_cells(cells), world.occupants(area))
    home = world.residents_of_cells(cells, "HOME")
    home_cells = world.network.cell_of(world.population.home_x[home], world.population.home_y[home])
    assert np.isin(home_cells, cells).all()
    assert np.isin(world.serving_cells(world.occupants(area)), cells).all()
    with pytest.raises(InvalidConfigError):
        world.residents_of_cells(cells, "SCHOOL")


def test_residents_include_test_subscribers_added_later() -> None:
    """Home cells are extended when test subscribers join."""
    from tests.simulator.conftest import small_config

    w = World.build(small_config(n=500))
    lat, lon = w.city.projection.lat0, w.city.projection.lon0
    cells = w.area_cells(Area.circle_wgs84(w.city.projection, lat, lon, 500))
    before = w.residents_of_cells(cells)
    i = w.add_test_subscriber("+4915550009999", latitude=lat, longitude=lon)
    after = w.residents_of_cells(cells)
    assert i in after and len(after) == len(before) + 1


def test_local_clock(world: World) -> None:
    """Local hour, minute, weekday and day follow the subscriber's zone."""
    at = datetime(2026, 6, 1, 20, 30, tzinfo=UTC)  # 22:30 in Berlin, a Monday
    clock = world.local_clock(np.arange(5), at)
    assert clock.hour.tolist() == [22] * 5 and clock.minute.tolist() == [22 * 60 + 30] * 5
    assert clock.weekday.tolist() == [0] * 5
    assert clock.day.tolist() == [date(2026, 6, 1).toordinal()] * 5
