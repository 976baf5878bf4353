"""Small worlds shared by the simulator tests (built once per session: they are read-mostly)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simulator.world import World, WorldConfig

START = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)  # a Monday, 06:00 in Berlin


def small_config(seed: int = 7, n: int = 3_000, city: str = "berlin") -> WorldConfig:
    """A small world config (fast to build and run)."""
    return WorldConfig(city=city, subscribers=n, seed=seed, start=START, realism_sample=600)


@pytest.fixture(scope="session")
def week_world() -> World:
    """A small world run for seven days (read-only for tests)."""
    world = World.build(small_config())
    from datetime import timedelta

    world.advance(timedelta(days=7))
    return world
