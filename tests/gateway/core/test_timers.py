"""Durable timers: calls due at one instant share one commit, run in the order separate clock entries would, and a
failing call undoes only its own writes (its row stays) while the others commit or wait on the clock in place."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.core.store import FeatureSchema, Store
from gateway.core.timers import Timers
from simulator.clock import SimClock

T0 = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
AT = T0 + timedelta(minutes=1)
SCHEMA = FeatureSchema("timer_test", ("CREATE TABLE done (seq INTEGER PRIMARY KEY, owner TEXT, n INTEGER);",))


class Boom(Exception):
    """What a failing call raises."""


class Owner:
    """A service with one timer action that records its call (and what another connection sees then)."""

    def __init__(self, store: Store, clock: SimClock, name: str, seen: list[str], fail: int | None = None) -> None:
        self.store, self.name, self.seen, self.fail = store, name, seen, fail
        self.visible: list[int] = []  # rows another connection saw committed when each call ran
        self.timers = Timers(store, clock, name, {"note": self.note})

    def note(self, n: int) -> None:
        self.store.conn.execute("INSERT INTO done(owner, n) VALUES (?, ?)", (self.name, n))
        with sqlite3.connect(self.store.path) as other:
            self.visible.append(other.execute("SELECT COUNT(*) FROM done").fetchone()[0])
        if n == self.fail:
            raise Boom(n)
        self.seen.append(f"{self.name}{n}")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "t.db")
    s.add_schema(SCHEMA)
    s.open()
    yield s
    s.close()


def _done(store: Store) -> list[tuple[str, int]]:
    return [(r["owner"], r["n"]) for r in store.conn.execute("SELECT owner, n FROM done ORDER BY seq")]


def _rows(store: Store) -> int:
    return int(store.conn.execute("SELECT COUNT(*) FROM timers").fetchone()[0])


def test_calls_due_at_one_instant_share_one_commit(store: Store) -> None:
    """Three calls of one owner at one instant commit together: none sees the others' writes committed."""
    clock, seen = SimClock(T0), list[str]()
    a = Owner(store, clock, "a", seen)
    for n in range(3):
        a.timers.schedule(AT, "note", n=n)
    clock.schedule(AT + timedelta(seconds=1), lambda: None)  # another instant does not split the batch
    a.timers.schedule(AT, "note", n=3)
    clock.run_until(AT)
    assert seen == ["a0", "a1", "a2", "a3"]
    assert a.visible == [0, 0, 0, 0]  # one transaction (one commit per call made these 0, 1, 2, 3)
    assert _rows(store) == 0 and len(_done(store)) == 4


@pytest.mark.parametrize(("plan", "order"), [
    # one owner's calls back to back, then the other's: two batches
    ("a0 a1 b0 b1", ["a0", "a1", "b0", "b1"]),
    # interleaved owners: nobody may join its earlier batch across the other's call
    ("a0 b0 a1 b1", ["a0", "b0", "a1", "b1"]),
    # a plain clock callback between two calls of one owner keeps its turn
    ("a0 x a1", ["a0", "x", "a1"]),
])
def test_calls_run_in_the_order_they_were_scheduled(store: Store, plan: str, order: list[str]) -> None:
    """Batching never moves a call past another callback of the same instant."""
    clock, seen = SimClock(T0), list[str]()
    owners = {"a": Owner(store, clock, "a", seen), "b": Owner(store, clock, "b", seen)}
    for item in plan.split():
        if item == "x":
            clock.schedule(AT, lambda: seen.append("x"))
        else:
            owners[item[0]].timers.schedule(AT, "note", n=int(item[1]))
    clock.run_until(AT)
    assert seen == order
    assert _done(store) == [(i[0], int(i[1])) for i in order if i != "x"]


def test_a_failing_call_undoes_only_its_own_writes(store: Store) -> None:
    """The calls before a failing one commit, its own writes are undone and its row stays; the calls after it wait
    on the clock in their place and run at the next advance, before what was scheduled later at that instant."""
    clock, seen = SimClock(T0), list[str]()
    a = Owner(store, clock, "a", seen, fail=1)
    for n in range(3):
        a.timers.schedule(AT, "note", n=n)
    clock.schedule(AT, lambda: seen.append("x"))
    with pytest.raises(Boom):
        clock.run_until(AT)
    assert _done(store) == [("a", 0)] and _rows(store) == 2  # the failed call's row and the one not run yet
    clock.run_until(AT)
    assert seen == ["a0", "a2", "x"]
    assert _done(store) == [("a", 0), ("a", 2)]
    assert [r["args"] for r in store.conn.execute("SELECT args FROM timers")] == ['{"n": 1}']  # runs after a restart


def test_a_lower_priority_callback_a_call_schedules_runs_before_the_next_call(store: Store) -> None:
    """A call scheduling a callback at its instant with a lower priority sees it run before the batch's next call,
    as with one clock entry per call."""
    clock, seen = SimClock(T0), list[str]()

    def first(n: int) -> None:
        seen.append(f"t{n}")
        if n == 0:
            clock.schedule(clock.now, lambda: seen.append("urgent"), priority=-1)

    timers = Timers(store, clock, "p", {"first": first})
    for n in range(3):
        timers.schedule(AT, "first", n=n)
    clock.run_until(AT)
    assert seen == ["t0", "urgent", "t1", "t2"] and _rows(store) == 0


def test_resumed_calls_run_once_in_their_order(store: Store) -> None:
    """Stored calls put back after a restart run once each, in the order they were scheduled, in one commit."""
    clock, seen = SimClock(T0), list[str]()
    a = Owner(store, clock, "a", seen)
    for n in range(3):
        a.timers.schedule(AT, "note", n=n)
    again, seen2 = SimClock(T0), list[str]()
    b = Owner(store, again, "a", seen2)
    assert [args["n"] for _, args in b.timers.resume()] == [0, 1, 2]
    again.run_until(AT)
    assert seen2 == ["a0", "a1", "a2"] and b.visible == [0, 0, 0] and _rows(store) == 0
