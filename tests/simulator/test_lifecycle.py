"""Line lifecycle: activation dates, random SIM swaps over time, admin swaps and their listeners."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from simulator.clock import from_micros, to_micros
from simulator.lifecycle import SimCards
from simulator.rng import RngStreams
from simulator.world import World, WorldConfig
from tests.simulator.conftest import START, small_config


def test_every_line_is_activated_in_the_past() -> None:
    """Activation instants lie before the start, within the tenure bounds; swaps never precede activation."""
    cards = SimCards(20_000, START, RngStreams(3))
    start = to_micros(START)
    assert (cards.activated_us < start).all()
    assert (cards.activated_us >= start - int(15 * 365 * 86_400e6) - 1).all()
    ever = cards.swapped_us > np.iinfo(np.int64).min
    assert (cards.swapped_us[ever] > cards.activated_us[ever]).all()
    assert (cards.swapped_us[ever] < start).all()
    # about 4 %/year over a mean tenure of ~4 years: roughly one line in seven has had a swap
    assert 0.08 < ever.mean() < 0.2


def test_swap_rate_matches_the_documented_poisson_rate() -> None:
    """A year of hours gives about 4 % of lines a swap."""
    cards = SimCards(50_000, START, RngStreams(5))
    subs, at = cards.advance(START + timedelta(days=365))
    assert 0.035 * 50_000 < len(subs) < 0.045 * 50_000
    assert (at > to_micros(START)).all()
    assert (np.diff(at[np.argsort(at)]) >= 0).all()


def test_swaps_do_not_depend_on_the_step_size() -> None:
    """Advancing in one go or in odd steps applies the same swaps at the same instants."""
    one = SimCards(30_000, START, RngStreams(9))
    many = SimCards(30_000, START, RngStreams(9))
    end = START + timedelta(days=20)
    subs1, at1 = one.advance(end)
    parts: list[tuple[NDArray[np.int32], NDArray[np.int64]]] = []
    t = START
    while t < end:
        t = min(end, t + timedelta(minutes=37))
        parts.append(many.advance(t))
    subs2 = np.concatenate([p[0] for p in parts])
    at2 = np.concatenate([p[1] for p in parts])
    assert len(subs1) > 0
    assert subs1.tolist() == subs2.tolist()
    assert at1.tolist() == at2.tolist()
    assert (one.swapped_us == many.swapped_us).all()


def test_world_swaps_over_time_and_tells_listeners() -> None:
    """Random swaps reach ``on_sim_swap`` listeners and show in ``last_sim_change``."""
    world = World.build(WorldConfig(city="berlin", subscribers=3_000, seed=4, start=START, realism_sample=100))
    world.sims.rate_per_hour = 50 / (3_000 * 24)  # fifty swaps a day, to see some in a short run
    heard: list[tuple[datetime, list[int], list[int]]] = []
    world.on_sim_swap(lambda now, subs, at: heard.append((now, subs.tolist(), at.tolist())))
    world.advance(timedelta(hours=6))
    assert heard
    for now, subs, instants in heard:
        for i, at in zip(subs, instants, strict=True):
            assert from_micros(at) <= now
            assert world.last_sim_change(i) >= from_micros(at)
    since = START
    changed = world.sim_swapped_since(np.arange(3_000), since)
    assert set(np.flatnonzero(changed).tolist()) == {i for _, subs, _ in heard for i in subs}


def test_admin_swap_and_test_subscriber_activation() -> None:
    """An admin swap is immediate; a test phone is activated when added and never swapped at random."""
    world = World.build(small_config(n=500))
    heard: list[list[int]] = []
    world.on_sim_swap(lambda now, subs, at: heard.append(subs.tolist()))
    world.advance(timedelta(minutes=30))
    assert world.last_sim_change(7) < START
    at = world.sim_swap(7)
    assert at == world.clock.now
    assert world.last_sim_change(7) == at
    assert heard[-1] == [7]
    i = world.add_test_subscriber("+491700000001")
    assert world.sim_activated(i) == world.clock.now == world.last_sim_change(i)
    assert world.last_sim_changes(np.asarray([i, 7])).tolist() == [to_micros(world.clock.now)] * 2


def test_same_seed_same_lifecycle() -> None:
    """Two builds of one config agree on every activation and swap."""
    a = SimCards(5_000, datetime(2026, 1, 1, tzinfo=UTC), RngStreams(11))
    b = SimCards(5_000, datetime(2026, 1, 1, tzinfo=UTC), RngStreams(11))
    assert (a.activated_us == b.activated_us).all()
    assert (a.swapped_us == b.swapped_us).all()


def test_new_activations_over_time_skip_inbound_roamers() -> None:
    """Random activations (stream "line-activation") reach ``on_line_activation`` listeners, move the line's
    activation to the join, never fall on an inbound roamer, and a test phone joins when it is added."""
    world = World.build(WorldConfig(city="berlin", subscribers=3_000, seed=4, start=START, realism_sample=100))
    world.sims.activation_rate_per_hour = 50 / (3_000 * 24)  # fifty a day, to see some in a short run
    heard: list[tuple[datetime, list[int], list[int]]] = []
    world.on_line_activation(lambda now, subs, at: heard.append((now, subs.tolist(), at.tolist())))
    world.advance(timedelta(hours=12))
    joined = [i for _, subs, _ in heard for i in subs]
    assert 5 < len(joined) < 60
    assert not world.population.roaming[joined].any()
    for now, subs, instants in heard:
        for i, at in zip(subs, instants, strict=True):
            assert START < from_micros(at) <= now and world.sim_activated(i) >= from_micros(at)
    i = world.add_test_subscriber("+491700000002")
    assert heard[-1] == (world.clock.now, [i], [to_micros(world.clock.now)])
