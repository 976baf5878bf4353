"""Realism statistics of the mobility model stay within the ranges the README cites."""

from __future__ import annotations

import itertools

from simulator.world import World


def test_trips_per_weekday(week_world: World) -> None:
    """About 3-4 trips per person on weekdays (counting everyone, including people who stay in)."""
    r = week_world.realism.report()
    assert 2.6 <= r["tripsPerPersonWeekday"] <= 4.2


def test_home_share_of_time(week_world: World) -> None:
    """Home holds roughly 50-65% of time (we accept up to 70%)."""
    assert 0.50 <= week_world.realism.report()["homeTimeShare"] <= 0.70


def test_most_days_visit_few_places(week_world: World) -> None:
    """Nearly all person-days visit at most 6 distinct places."""
    assert week_world.realism.report()["shareDaysAtMost6Places"] >= 0.95


def test_distinct_places_grow_sublinearly(week_world: World) -> None:
    """Distinct places grow over the week, but each day adds fewer than the first."""
    g = week_world.realism.report()["distinctPlacesCumulative"]
    assert len(g) >= 6  # whole days of the week run
    assert g[-1] > g[0]
    increments = [b - a for a, b in itertools.pairwise(g)]
    assert max(increments) < g[0]  # each new day adds fewer places than the first day had
    assert g[-1] < len(g) * g[0] * 0.6  # far below linear growth


def test_visits_by_rank_are_zipf_like_with_home_first(week_world: World) -> None:
    """Home is the most visited place for most people and shares fall with rank like a power law."""
    r = week_world.realism.report()
    shares = r["visitShareByRank"]
    assert r["homeMostVisitedShare"] >= 0.9
    assert all(a >= b for a, b in itertools.pairwise(shares))
    assert 0.8 <= r["zipfExponent"] <= 2.5


def test_cell_changes_in_the_tens(week_world: World) -> None:
    """A mobile person-day has tens of cell changes."""
    assert 8 <= week_world.realism.report()["cellChangesPerMobilePersonDay"] <= 80
