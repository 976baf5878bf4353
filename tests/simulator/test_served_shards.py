"""A served world split into two shards (in this process) tells its listeners and answers exactly what the single
world does: per-tick cell changes in the same order, SIM swaps, activations, consent changes, pins, gatherings,
test subscribers, inboxes and every point, column and area query the gateway makes; errors are the same."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from simulator.errors import (
    ConsentError,
    DuplicateSubscriberError,
    InvalidAreaError,
    SimulatorError,
    UnknownSubscriberError,
)
from simulator.geo import Area
from simulator.inbox import MessageTemplate
from simulator.rng import BLOCK_SIZE
from simulator.segments import Segment
from simulator.served_shards import ServedShard, ServedShardedWorld
from simulator.shards import LocalPool
from simulator.world import World, WorldConfig

# Two blocks on two shards, from 08:00 in Berlin (the morning's trips) for a few hours.
CONFIG = WorldConfig(city="berlin", subscribers=BLOCK_SIZE + 2_000, seed=5,
                     start=datetime(2026, 6, 1, 6, 0, tzinfo=UTC))
FIRST, SECOND = 17, BLOCK_SIZE + 23  # a subscriber of each shard
QA = "+4915799999999"


@dataclass
class Run:
    """A world driven through the script, and what its listeners heard."""

    world: World
    heard: list[tuple[Any, ...]] = field(default_factory=list)
    steps: int = 0
    test_phone: int = -1


def _drive(world: World) -> Run:
    run = Run(world)
    heard = run.heard
    world.on_cell_change(lambda now, s, o, n: heard.append(("cell", now, s.tolist(), o.tolist(), n.tolist())))
    world.on_sim_swap(lambda now, s, at: heard.append(("sim", now, s.tolist(), at.tolist())))
    world.on_line_activation(lambda now, s, at: heard.append(("act", now, s.tolist(), at.tolist())))
    world.on_consent_change(lambda *a: heard.append(("consent", *a)))
    world.on_roamer_arrival(lambda now, s: heard.append(("roam", now, s.tolist())))

    def count_step(now: datetime) -> None:
        run.steps += 1

    world.on_step(count_step)
    world.keep_inbox(2)
    start = world.clock.now
    world.run_until(start + timedelta(hours=1, minutes=30))
    world.pin(SECOND, 52.52, 13.40)
    world.set_consent(FIRST, "ADVERTISING", "SMS", False)
    world.set_consent(SECOND, "LOCATION_SHARING", None, True, "PARTNER")
    world.add_gathering("fest", start + timedelta(hours=3), start + timedelta(hours=4), place="Olympiastadion",
                        share=0.04)
    world.add_gathering("fair", start + timedelta(hours=2), start + timedelta(hours=3), latitude=52.50,
                        longitude=13.35, count=500)
    world.run_until(start + timedelta(hours=2, seconds=30))  # between ticks
    world.release(SECOND)
    world.release(FIRST)  # not pinned: nothing happens
    run.test_phone = world.add_test_subscriber(QA, profile={"age": 30}, consent={"ADVERTISING": {"PUSH": True}},
                                               latitude=52.51, longitude=13.39)
    world.sim_swap(FIRST)
    world.deliver(SECOND, "SMS", "Bank", "Your code is 1234", "INFORMATIONAL")
    world.deliver(FIRST, "PUSH", "Shop", "Sale", "PROMO", title="Today")
    world.deliver_forgotten(3)
    template = world.message_template(MessageTemplate("Coffee", "On us", "PROMO"))
    subs = np.asarray([SECOND, FIRST, run.test_phone, 3], np.int64)
    world.deliver_batch(subs, np.full(4, 1_780_000_000_000_000, np.int64), np.asarray([0, 1, 0, 1], np.uint8),
                        ["PUSH", "SMS"], template)
    world.run_until(start + timedelta(hours=5))
    return run


@dataclass
class Pair:
    single: Run
    served: Run


@pytest.fixture(scope="module")
def pair() -> Pair:
    """The same script on the single world and on two in-process shards."""
    served = ServedShardedWorld(CONFIG, LocalPool(CONFIG, 2, shard_class=ServedShard))
    assert len(served.rows) == 2
    return Pair(_drive(World.build(CONFIG)), _drive(served))


def test_listeners_hear_the_same_in_the_same_order(pair: Pair) -> None:
    """Cell changes (per tick, in the single world's order: trips, roamers landing, roamers detaching), swaps,
    activations, consent changes and roamer arrivals are equal."""
    a, b = pair.single.heard, pair.served.heard
    kinds = {e[0] for e in a}
    assert kinds == {"cell", "sim", "act", "consent", "roam"}
    cells = [e for e in a if e[0] == "cell"]
    assert any(-1 in e[3] for e in cells) and any(-1 in e[4] for e in cells), "roamers land and detach meanwhile"
    assert len(b) == len(a)
    assert b == a
    assert pair.served.steps == pair.single.steps == 300


def test_the_test_phone_joins_the_last_shard(pair: Pair) -> None:
    """Its row is the single world's (after every other); it is found, located and listed alike."""
    single, served = pair.single.world, pair.served.world
    assert pair.served.test_phone == pair.single.test_phone == CONFIG.subscribers
    assert served.subscriber_count == single.subscriber_count
    assert served.find_subscriber(QA) == single.find_subscriber(QA)
    assert served.test_subscribers().tolist() == single.test_subscribers().tolist()


SAMPLE = [0, FIRST, 999, BLOCK_SIZE - 1, BLOCK_SIZE, SECOND, CONFIG.subscribers - 1, CONFIG.subscribers]
AREA = Area.circle(0.0, 0.0, 3000.0)


@pytest.mark.parametrize("ask", [
    lambda w: [w.locate(i) for i in SAMPLE],  # where the network sees each (and the truth)
    lambda w: [w.subscriber_profile(i) for i in SAMPLE],  # profiles with their global index
    lambda w: [w.msisdn_of(i) for i in SAMPLE],  # numbers
    lambda w: [w.consent_state(i) for i in SAMPLE],  # consent now
    lambda w: [w.consent_history(i) for i in SAMPLE],  # and its changes
    lambda w: [w.inbox(i) for i in SAMPLE],  # inboxes: ids numbered over every device
    lambda w: [(w.sim_swaps(i), w.last_sim_change(i), w.sim_activated(i)) for i in SAMPLE],  # SIM cards
    lambda w: [w.last_seen(i) for i in SAMPLE],  # last network contact
    lambda w: [w.is_reachable_one(i) for i in SAMPLE],  # one device reachable
    lambda w: [w.cell_track(i, CONFIG.start) for i in SAMPLE],  # cell tracks
    lambda w: [w.position_latlon(i) for i in SAMPLE],  # true positions
])
def test_point_lookups(pair: Pair, ask: Callable[[World], list[Any]]) -> None:
    """Lookups about one subscriber go to the owning shard and answer as the single world does."""
    assert ask(pair.served.world) == ask(pair.single.world)


MIXED = np.asarray([SECOND, 3, CONFIG.subscribers, BLOCK_SIZE, FIRST, BLOCK_SIZE - 1, 40_000], np.int64)


def _plain(value: Any) -> Any:
    """Arrays (also inside tuples and dataclasses) as lists, to compare with ``==``."""
    if isinstance(value, np.ndarray):
        return (str(value.dtype), value.tolist())
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__}
    return value


@pytest.mark.parametrize("ask", [
    lambda w: w.serving_cells(MIXED),  # columns, reassembled in the caller's order
    lambda w: w.msisdns(MIXED),
    lambda w: w.segment_mask(MIXED, Segment(age_min=30)),
    lambda w: w.app_installed(MIXED),
    lambda w: w.ages(MIXED),
    lambda w: w.whereabouts(MIXED),
    lambda w: w.local_clock(MIXED),
    lambda w: w.device_kinds(MIXED),
    lambda w: w.is_reachable(MIXED),
    lambda w: w.last_sim_changes(MIXED),
    lambda w: w.sim_swapped_since(MIXED, CONFIG.start),
    lambda w: w.next_periodic_contacts(MIXED, CONFIG.start + timedelta(hours=5)),
    lambda w: w.consent.is_permitted(MIXED, "ADVERTISING", "SMS"),
    lambda w: w.consent.is_permitted(FIRST, "ADVERTISING", "SMS"),  # one subscriber: a bool
    lambda w: w.serving_cells(np.zeros(0, np.int64)),  # nobody
    lambda w: w.occupants(AREA),  # areas: fanned out, merged
    lambda w: w.occupants(AREA, precise=True),
    lambda w: w.visitors(AREA, CONFIG.start, CONFIG.start + timedelta(hours=2)),
    lambda w: w.residents_of_cells(w.area_cells(AREA), "WORK"),
    lambda w: w.cell_counts_at(),
    lambda w: w.cell_counts_at(CONFIG.start + timedelta(hours=1)),
    lambda w: [w.history_start, w.inbox_days, w.tick_index, w.clock.now, w.sms_delay_s()],
    lambda w: [(g.id, g.venue, g.attendees.tolist(), w.gathering_venue(g)) for g in w.gatherings],
])
def test_column_and_area_queries(pair: Pair, ask: Callable[[World], Any]) -> None:
    """Columns are split by owner and put back in order; area queries merge; the answers are the single world's."""
    assert _plain(ask(pair.served.world)) == _plain(ask(pair.single.world))


def test_summary(pair: Pair) -> None:
    """The summary adds the shards' counts; only the tick costs differ."""
    a, b = pair.single.world.summary(), pair.served.world.summary()
    assert replace(b, last_tick_ms=0.0, mean_tick_ms=0.0) == replace(a, last_tick_ms=0.0, mean_tick_ms=0.0)
    assert a.gatherings == 2 and a.subscribers == CONFIG.subscribers + 1


@pytest.mark.parametrize(("call", "error"), [
    (lambda w: w.find_subscriber("+4915000000000"), UnknownSubscriberError),  # nobody has it
    (lambda w: w.msisdn_of(10**7), UnknownSubscriberError),  # no such row
    (lambda w: w.locate(-1), UnknownSubscriberError),
    (lambda w: w.pin(SECOND, 10.0, 10.0), InvalidAreaError),  # outside the city
    (lambda w: w.set_consent(SECOND, "TELEPATHY", None, True), ConsentError),  # no such purpose
    (lambda w: w.add_test_subscriber(w.msisdn_of(FIRST)), DuplicateSubscriberError),  # taken in another shard
    (lambda w: w.add_test_subscriber(w.msisdn_of(SECOND)), DuplicateSubscriberError),  # taken in its own shard
    (lambda w: w.add_test_subscriber(QA), DuplicateSubscriberError),  # the test phone
])
def test_errors_are_the_single_worlds(pair: Pair, call: Callable[[World], Any], error: type[SimulatorError]) -> None:
    """A refused call raises the same error with the same message, and changes nothing."""
    messages = []
    for run in (pair.single, pair.served):
        before = run.world.subscriber_count
        with pytest.raises(error) as caught:
            call(run.world)
        messages.append(str(caught.value))
        assert run.world.subscriber_count == before
    assert messages[1] == messages[0]


def test_a_deep_copy_steps_on_its_own(pair: Pair) -> None:
    """A copy of the served world (its in-process shards copied along) steps as a copy of the single world does,
    and the original is left as it was (the shards' departure keys and listeners belong to each copy)."""
    heard: dict[str, list[Any]] = {"single": [], "served": []}
    before = pair.served.world.summary()
    for name, run in (("single", pair.single), ("served", pair.served)):
        probe = copy.deepcopy(run.world)
        log = heard[name]

        def on_cells(now: datetime, s: NDArray[np.int32], o: NDArray[np.int32], n: NDArray[np.int32],
                     log: list[Any] = log) -> None:
            log.append((now, s.tolist(), n.tolist()))

        probe.on_cell_change(on_cells)
        probe.run_until(probe.clock.now + timedelta(minutes=20))
    assert heard["served"] == heard["single"] and heard["single"]
    after = pair.served.world.summary()
    assert (after.now, after.cell_changes, after.moving) == (before.now, before.cell_changes, before.moving)


def test_faults_reach_every_shard(pair: Pair) -> None:
    """Devices taken down (split by owner), a cell outage and an SMS delay (every shard) act as in one world."""
    answers = []
    for run in (pair.single, pair.served):
        w = run.world
        now = w.clock.now
        w.devices.take_down(MIXED[:3], now + timedelta(hours=1))
        w.devices.cell_outage(w.serving_cells(MIXED[-2:]), now, now + timedelta(hours=1))
        w.devices.add_sms_delay(now, now + timedelta(hours=1), 30.0)
        answers.append((w.is_reachable(MIXED).tolist(), [w.is_reachable_one(int(i)) for i in MIXED],
                        w.sms_delay_s()))
    assert answers[1] == answers[0]
    assert answers[0][0].count(False) >= 5


def test_time_zones_are_answered_as_by_the_single_world(pair: Pair) -> None:
    """The territory's zones, each subscriber's zone code and local time (both shards and a test phone) match."""
    a, b = pair.single.world, pair.served.world
    subs = np.asarray([FIRST, SECOND, pair.single.test_phone, 3], np.int64)
    assert b.timezones == a.timezones and [str(z) for z in b.zones] == [str(z) for z in a.zones]
    assert b.timezone_codes(subs).tolist() == a.timezone_codes(subs).tolist()
    for i in subs.tolist():
        assert b.local_time(sub=i) == a.local_time(sub=i)
        assert b.local_time(sub=i).tzinfo == a.local_time(sub=i).tzinfo
    with pytest.raises(UnknownSubscriberError):
        b.local_time(sub=10**9)
