"""A world split into shards by subscriber block (in this process) answers exactly as the single world does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from numpy.typing import NDArray

from simulator.devices import Devices
from simulator.errors import InvalidConfigError
from simulator.geo import Area
from simulator.rng import BLOCK_SIZE, RngStreams
from simulator.segments import Segment
from simulator.shards import (
    AudienceCounts,
    LocalPool,
    ShardedWorld,
    ShardStreams,
    _device_columns,
    audience_counts,
    shard_blocks,
)
from simulator.world import World, WorldConfig

# Three blocks (the last one short) on two shards: the first shard holds two blocks, the second one. From 21:00
# to 07:00 in Seoul: night shifts and nights out start, the next local day's plans are drawn at midnight and its
# morning trips start.
CONFIG = WorldConfig(city="seoul", subscribers=2 * BLOCK_SIZE + 3_000, seed=11,
                     start=datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
# A country of several cities on two shards of one block each (the second short), over the same local night:
# roamers land at airports and head on by train, and the first intercity trips leave through stations and airports.
COUNTRY = WorldConfig(country="south-korea", subscribers=BLOCK_SIZE + 2_000, seed=11,
                      start=datetime(2026, 6, 1, 12, 0, tzinfo=UTC), realism_sample=500)
# A country of several time zones: from 13:00 UTC (16:00 in Moscow, 23:00 in Vladivostok) the next day is planned at
# Vladivostok's midnight, and each city's night and morning run on its own clock.
ZONES = WorldConfig(country="russia", subscribers=BLOCK_SIZE + 2_000, seed=11,
                    start=datetime(2026, 6, 1, 13, 0, tzinfo=UTC), realism_sample=500)
CONFIGS = {"city": CONFIG, "country": COUNTRY, "zones": ZONES}
HOURS = 10


@dataclass
class Pair:
    single: World
    sharded: ShardedWorld
    single_events: tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int32]]
    sharded_events: tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int32]]


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def pair(request: pytest.FixtureRequest) -> Pair:
    """The same config (a city, a country) as one world and as two in-process shards, both run for a few hours."""
    config = CONFIGS[request.param]
    single = World.build(config)
    seen: list[tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int32]]] = []

    def on_cells(now: object, subs: NDArray[np.int32], old: NDArray[np.int32], new: NDArray[np.int32]) -> None:
        order = np.argsort(subs, kind="stable")
        seen.append((np.full(len(subs), single.tick_index, np.int32), subs[order], new[order]))

    single.on_cell_change(on_cells)
    end = single.clock.now + timedelta(hours=HOURS)
    single.run_until(end)
    sharded = ShardedWorld(config, LocalPool(config, 2))
    first = sharded.submit_step_to(sharded.tick_of(end) - 60)()
    rest = sharded.run_until(end)
    merged = tuple(np.concatenate([a, b]) for a, b in zip(first, rest, strict=True))
    single_events = tuple(np.concatenate([s[i] for s in seen]) for i in range(3))
    return Pair(single, sharded, (single_events[0], single_events[1], single_events[2]),
                (merged[0], merged[1], merged[2]))


@pytest.mark.parametrize(("subscribers", "workers", "expected"), [
    (10, 2, [(0, 1)]),  # one block: one shard whatever the workers
    (2 * BLOCK_SIZE, 2, [(0, 1), (1, 1)]),  # one block each
    (2 * BLOCK_SIZE + 1, 2, [(0, 2), (2, 1)]),  # three blocks: the first shard takes the extra one
    (10 * BLOCK_SIZE, 3, [(0, 3), (3, 4), (7, 3)]),  # as even as whole blocks allow
])
def test_shard_blocks_split_whole_blocks_evenly(subscribers: int, workers: int,
                                                expected: list[tuple[int, int]]) -> None:
    """Shards are runs of whole blocks covering the population once, none empty."""
    assert shard_blocks(subscribers, workers) == expected


def test_shard_blocks_need_a_worker() -> None:
    """Zero workers is a configuration error, not an empty world."""
    with pytest.raises(InvalidConfigError):
        shard_blocks(10, 0)


def test_shard_streams_shift_only_block_keys() -> None:
    """A shard's block-keyed streams are the world's of the global block; other streams are untouched."""
    world, shard = RngStreams(3), ShardStreams(3, 5)
    assert shard.stream("plan", 2, 1).random() == world.stream("plan", 2, 6).random()
    assert shard.stream("consent", 0).random() == world.stream("consent", 5).random()
    assert shard.stream("network").random() == world.stream("network").random()
    assert shard.stream("sim-swap", 7).random() == world.stream("sim-swap", 7).random()


def test_shard_streams_refuse_streams_they_do_not_know() -> None:
    """A stream the shards were not told about fails loudly instead of drawing other numbers than the world."""
    with pytest.raises(InvalidConfigError, match="not known to the shards"):
        ShardStreams(3, 1).stream("telepathy", 1)  # ("gathering" is known now: drawn alike by every shard)


def test_device_columns_are_the_slice_of_the_whole_draw() -> None:
    """Jumping the generator gives exactly the shard's rows of the world's device columns."""
    whole = Devices(5_000, RngStreams(4))
    night_off, phase = _device_columns(RngStreams(4), 5_000, 1_200, 3_100)
    assert np.array_equal(night_off, whole.night_off[1_200:3_100])
    assert np.array_equal(phase, whole.update_phase_s[1_200:3_100])


def test_cell_changes_are_the_single_worlds(pair: Pair) -> None:
    """Merged per tick in subscriber order, the shards' cell changes are the single world's."""
    assert len(pair.single_events[0]) > 10_000
    for mine, theirs in zip(pair.sharded_events, pair.single_events, strict=True):
        assert np.array_equal(mine, theirs)


def test_every_shard_moves_roamers_and_travellers(pair: Pair) -> None:
    """Each shard covers the new movement: roamers abroad (not attached) and in the country, some landing and some
    leaving over the night, and, in a country, residents in another city than their own (nobody in a one-city
    world)."""
    for shard in pair.sharded.pool.shards:  # type: ignore[attr-defined]
        w = shard.world
        pop, m = w.population, w.mobility
        assert (w.cell[pop.roaming] < 0).any() and (w.cell[pop.roaming] >= 0).any()
        assert (w.cell[~pop.roaming] >= 0).all()
        rows = np.arange(pop.size, dtype=np.int32)
        home = w.city.metro_of(pop.home_x, pop.home_y)
        now = w.city.metro_of(*w.movement.place_xy(rows, m.place))
        assert bool((~pop.roaming & (now != home)).any()) == (len(w.city.metros) > 1)


def test_roamer_arrivals_are_the_single_worlds(pair: Pair) -> None:
    """Roamers land, leave and detach at the same ticks in the shards as in the single world (attach and detach
    are cell changes, to a cell and to -1)."""
    shards = pair.sharded.pool.shards  # type: ignore[attr-defined]
    single = pair.single
    for column in ("hold_until", "place"):
        mine = np.concatenate([getattr(s.world.mobility, column) for s in shards])
        assert np.array_equal(mine, getattr(single.mobility, column))
    assert np.array_equal(np.concatenate([s.world.roaming.state for s in shards]), single.roaming.state)
    assert np.array_equal(np.concatenate([s.world.cell for s in shards]), single.cell)
    subs, cells = pair.single_events[1], pair.single_events[2]
    roaming = single.population.roaming[subs]
    assert (roaming & (cells < 0)).any()  # detached during the run
    assert (cells[~roaming] >= 0).all()


def test_subscriber_rows_decode_as_in_the_single_world(pair: Pair) -> None:
    """Batches from the shards are the single population's export columns, e-mails with global numbers."""
    batches = list(pair.sharded.subscriber_tables(BLOCK_SIZE))
    total = pair.single.population.size
    assert [len(b["id"]) for b in batches] == [min(BLOCK_SIZE, total - lo) for lo in range(0, total, BLOCK_SIZE)]
    seam = pair.sharded.rows[-1][0]  # the last shard's first row
    edge = np.arange(seam - 3, seam + 3)
    expected = pair.single.population.table(edge)
    got = {k: np.concatenate([np.asarray(b[k], dtype=object) for b in batches])[edge] for k in expected}
    for key, column in expected.items():
        assert list(got[key]) == list(column), key


def test_sim_cards_match_the_single_world(pair: Pair) -> None:
    """Activations and random swaps drawn over the whole population land on the same lines."""
    shards = pair.sharded.pool.shards  # type: ignore[attr-defined]
    single = pair.single.sims
    for column in ("activated_us", "swapped_us", "swap_count"):
        assert np.array_equal(np.concatenate([getattr(s.world.sims, column) for s in shards]), getattr(single, column))


@pytest.mark.parametrize("cells", [
    np.arange(0, 60, dtype=np.int32),  # a block of cells in the centre
    np.asarray([5, 900, 1500, 2700], np.int32),  # scattered cells
    np.zeros(0, np.int32),  # no cell at all
])
def test_occupants_visitors_and_residents_are_the_single_worlds(pair: Pair, cells: NDArray[np.int32]) -> None:
    """Id sets merged from the shards are the single world's, sorted."""
    s, w = pair.single, pair.sharded
    now = s.clock.now
    assert np.array_equal(w.occupants_of_cells(cells), s.occupants_of_cells(cells))
    for t1, t2 in ((s.start, now), (now - timedelta(hours=2), now - timedelta(hours=1))):
        assert np.array_equal(w.visitors_of_cells(cells, t1, t2), s.visitors_of_cells(cells, t1, t2))
    for place in ("HOME", "WORK"):
        assert np.array_equal(w.residents_of_cells(cells, place), s.residents_of_cells(cells, place))


def test_area_queries_are_the_single_worlds(pair: Pair) -> None:
    """Occupants (by cell and precise) and visitors of an area match; the area resolves to the same cells."""
    s, w = pair.single, pair.sharded
    area = Area.circle(500.0, -300.0, 2_500.0)
    assert np.array_equal(w.area_cells(area), s.area_cells(area))
    for precise in (False, True):
        assert np.array_equal(w.occupants(area, precise), s.occupants(area, precise))
    now = s.clock.now
    assert np.array_equal(w.visitors(area, now - timedelta(hours=3), now), s.visitors(area, now - timedelta(hours=3),
                                                                                       now))


def test_cell_counts_now_and_in_the_past_add_up(pair: Pair) -> None:
    """Per-cell counts added over the shards are the single world's, now and hours ago."""
    s, w = pair.single, pair.sharded
    for at in (None, s.start + timedelta(hours=1), s.clock.now - timedelta(minutes=30)):
        assert np.array_equal(w.cell_counts_at(at), s.cell_counts_at(at))


@pytest.mark.parametrize(("mode", "segment"), [
    ("PRESENT", Segment()),  # everyone there now
    ("PRESENT", Segment(age_min=25, age_max=40)),  # a segment leaves some out
    ("VISITED", Segment(os=("IOS",))),  # the past window
    ("HOME", Segment()),  # residents
])
def test_audience_counts_add_up_to_the_single_worlds(pair: Pair, mode: str, segment: Segment) -> None:
    """The counts an audience estimate needs (matched, segment, app x consent) are the single world's."""
    s, w = pair.single, pair.sharded
    cells = np.arange(0, 200, dtype=np.int32)
    t1, t2 = s.clock.now - timedelta(hours=2), s.clock.now
    if mode == "PRESENT":
        cands = s.occupants_of_cells(cells)
    elif mode == "VISITED":
        cands = s.visitors_of_cells(cells, t1, t2)
    else:
        cands = s.residents_of_cells(cells, mode)
    expected = audience_counts(s, cands, segment)
    got = w.audience_counts(cells, mode, segment, t1, t2)
    assert got == expected
    assert got.matched == len(cands) > 0 and sum(got.by_facts) == got.matched - got.segment_excluded


def test_audience_counts_add() -> None:
    """Counts of two shards add field by field."""
    a = AudienceCounts(3, 1, (1, 0, 0, 0, 0, 0, 0, 1))
    assert a + a == AudienceCounts(6, 2, (2, 0, 0, 0, 0, 0, 0, 2))


def test_summary_and_realism_are_the_single_worlds(pair: Pair) -> None:
    """The merged summary (tick costs aside) and realism figures are the single world's."""
    s, w = pair.single.summary(), pair.sharded.summary()
    assert (s.subscribers, s.moving, s.cell_changes, s.ticks, s.now) == (w.subscribers, w.moving, w.cell_changes,
                                                                         w.ticks, w.now)
    assert pair.sharded.realism().report() == pair.single.realism.report()


def _estimate(facts_app: NDArray[np.bool_], push: NDArray[np.bool_], sms: NDArray[np.bool_], channel: str,
              weights: NDArray[np.int64] | None = None) -> tuple[int, int, int]:
    """(reachable, NO_CONSENT, NO_APP) as the campaigns service decides an estimate, rows weighted."""
    from gateway.services import policy

    n = len(facts_app)
    facts = policy.Facts(np.arange(n, dtype=np.int32), facts_app, push, sms, np.full(n, 12, np.int16),
                         np.ones(n, bool), np.zeros(n, np.int32), np.zeros(n, np.int32))
    d = policy.decide(facts, kind="PROMO", channel=channel, rules=policy.Rules(), can_hold=False, remaining=None)
    w = np.ones(n, np.int64) if weights is None else weights
    reasons = np.bincount(d.reason, weights=w[d.suppressed], minlength=len(policy.REASONS)).astype(np.int64)
    return int(w[d.send].sum()), int(reasons[policy.NO_CONSENT]), int(reasons[policy.NO_APP])


@pytest.mark.parametrize("channel", ["PUSH", "SMS", "PUSH_THEN_SMS"])
def test_estimate_from_merged_counts_is_the_single_worlds(pair: Pair, channel: str) -> None:
    """The campaigns policy over the 8 fact combinations, weighted by the merged counts, gives the single world's
    estimate (reachable audience and exclusions) of the same candidates."""
    s = pair.single
    cands = s.occupants_of_cells(np.arange(0, 300, dtype=np.int32))
    app = s.app_installed(cands)
    push = np.asarray(s.consent.is_permitted(cands, "ADVERTISING", "PUSH"), bool)
    sms = np.asarray(s.consent.is_permitted(cands, "ADVERTISING", "SMS"), bool)
    expected = _estimate(app, push, sms, channel)
    counts = pair.sharded.audience_counts(np.arange(0, 300, dtype=np.int32), "PRESENT")
    code = np.arange(8)
    got = _estimate((code & 1) > 0, (code & 2) > 0, (code & 4) > 0, channel, np.asarray(counts.by_facts, np.int64))
    assert got == expected and expected[0] > 0
