"""The presence history and the realism tracker keep a window of simulated days, so long runs stay flat."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from simulator.errors import InvalidConfigError
from simulator.geo import Area
from simulator.world import World
from tests.simulator.conftest import small_config


def test_history_holds_at_most_the_window() -> None:
    """After five days with a two-day window, history holds two days plus one hourly chunk, and the rest works."""
    world = World.build(small_config(n=500))
    world.keep_history(2)
    world.advance(timedelta(days=5))
    hours = 2 * 24 + 1
    assert world.presence.n_chunks <= hours
    # The whole window is kept; a chunk starts with a change, so a quiet night may keep a few hours more.
    assert world.clock.now - timedelta(days=3) <= world.history_start <= world.clock.now - timedelta(days=2)
    assert world.presence.n_retained < world.presence.n_events
    assert max(world.realism.days) - min(world.realism.days) <= 2
    # Questions inside the window are answered; one before it reads the earliest state kept.
    area = Area.circle(0.0, 0.0, 3_000.0)
    now = world.clock.now
    assert len(world.visitors(area, now - timedelta(days=1), now)) > 0
    # Everyone but the inbound roamers abroad then (not attached) is counted.
    abroad = world.population.roaming & (world.presence.cells_at(world.presence.start_tick, 500) < 0)
    assert world.cell_counts_at(now - timedelta(days=4)).sum() == world.population.size - abroad.sum()


def test_window_answers_match_an_unbounded_history() -> None:
    """Within the window, a trimmed history answers exactly as a full one."""
    full, kept = World.build(small_config(n=500)), World.build(small_config(n=500))
    kept.keep_history(1)
    full.advance(timedelta(days=3))
    kept.advance(timedelta(days=3))
    now = full.clock.now
    area = Area.circle(0.0, 0.0, 4_000.0)
    for hours in (1, 6, 23):
        t = now - timedelta(hours=hours)
        assert np.array_equal(full.visitors(area, t, now), kept.visitors(area, t, now))
        assert np.array_equal(full.cell_counts_at(t), kept.cell_counts_at(t))


def test_history_window_must_be_a_day_or_more() -> None:
    """A window under a day is refused; None keeps everything (the simulator's default)."""
    world = World.build(small_config(n=200))
    with pytest.raises(InvalidConfigError):
        world.keep_history(0)
    world.keep_history(None)
    world.advance(timedelta(days=2))
    assert world.presence.start_tick == 0
