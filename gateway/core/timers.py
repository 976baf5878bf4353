"""Durable wake-ups on the simulated clock: the calls a service schedules for later that must survive a restart.

A service registers its actions by name and schedules them with JSON arguments; :meth:`Timers.schedule` stores
the call (a ``timers`` row: owner, due instant, action, arguments) and puts it on the world's clock. The row is
deleted when the call runs. After a restart has replayed the world (:mod:`gateway.core.journal`), :meth:`Timers.resume`
puts every stored call back on the clock at its instant (at once when a crash lost the checkpoint past it), in
the order they were scheduled, so that a message or a code in flight when the gateway stopped goes on exactly as
it would have. Rows are bookkeeping, not records: the records are the services' own tables. This module must not
know HTTP nor what the actions do.

Calls due at the same instant share one store transaction (one commit per owner and instant, not one per call) when
that changes nothing but the commits: a call joins the batch of its instant only while the batch's clock entry is
the last one scheduled at that instant (:meth:`SimClock.is_latest`), so the calls run in exactly the order separate
clock entries would have. Each call runs in its own savepoint and its row is deleted in it, so a call that raises
undoes only its own writes, its row stays (it runs again after a restart, as before) and the calls before it commit;
the calls after it, and those after a callback that would have run between two of them (a lower priority scheduled
by a call at this instant), go back on the clock in the batch's place (:meth:`SimClock.schedule_again`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from gateway.core.store import Store
from simulator.clock import ScheduledCall, SimClock, from_micros, to_micros

Action = Callable[..., None]
Call = tuple[int, Action, dict[str, Any]]
"""One stored call on the clock: its timer row id, the action and its arguments."""


class _Batch:
    """Calls of one owner due at one instant, run by one clock entry in one transaction."""

    __slots__ = ("at", "calls", "entry")

    def __init__(self, at: datetime, calls: list[Call]) -> None:
        self.at = at
        self.calls = calls
        self.entry: ScheduledCall | None = None


class Timers:
    """One service's scheduled calls, kept in SQLite until they run."""

    def __init__(self, store: Store, clock: SimClock, owner: str, actions: Mapping[str, Action]) -> None:
        self.store = store
        self.clock = clock
        self.owner = owner
        self._actions = dict(actions)
        self._open: dict[datetime, _Batch] = {}  # the batch a call due at an instant may still join

    def schedule(self, at: datetime, action: str, **args: Any) -> None:
        """Call ``action(**args)`` when the clock reaches ``at`` (arguments must be JSON values)."""
        if action not in self._actions:
            raise KeyError(f"{self.owner} has no timer action {action!r}")
        cur = self.store.conn.execute("INSERT INTO timers(owner, due_us, action, args) VALUES (?, ?, ?, ?)",
                                      (self.owner, to_micros(at), action, json.dumps(args, sort_keys=True)))
        self._put(int(cur.lastrowid or 0), at, action, args)

    def resume(self) -> list[tuple[str, dict[str, Any]]]:
        """Put every stored call of this owner back on the clock (once, after a restore); returns them in order."""
        rows = self.store.conn.execute("SELECT id, due_us, action, args FROM timers WHERE owner = ? "
                                       "ORDER BY due_us, id", (self.owner,)).fetchall()
        resumed = []
        for row in rows:
            args = json.loads(row["args"])
            self._put(int(row["id"]), from_micros(int(row["due_us"])), str(row["action"]), args)
            resumed.append((str(row["action"]), args))
        return resumed

    def _put(self, timer_id: int, at: datetime, action: str, args: dict[str, Any]) -> None:
        call = (timer_id, self._actions[action], args)
        at = max(at, self.clock.now)
        batch = self._open.get(at)
        if batch is not None and batch.entry is not None and self.clock.is_latest(batch.entry):
            batch.calls.append(call)  # where an entry of its own would have run: right after the batch's last call
            return
        batch = _Batch(at, [call])
        batch.entry = self.clock.schedule(at, lambda: self._fire(batch))
        self._open[at] = batch

    def _fire(self, batch: _Batch) -> None:
        if self._open.get(batch.at) is batch:
            del self._open[batch.at]
        done = 0
        failed: BaseException | None = None
        with self.store.transaction() as conn:  # each row goes with what its call did, or not at all
            for timer_id, fn, args in batch.calls:
                if done and self.clock.runs_before(batch.at):
                    break  # a call scheduled something due before the next one: it runs first, as it would have
                done += 1
                try:
                    with self.store.transaction():  # a savepoint: a failing call undoes only its own writes
                        conn.execute("DELETE FROM timers WHERE id = ?", (timer_id,))
                        fn(**args)
                except BaseException as exc:  # raised below, once the calls before it commit
                    failed = exc
                    break
        if done < len(batch.calls):
            rest = _Batch(batch.at, batch.calls[done:])
            assert batch.entry is not None
            rest.entry = self.clock.schedule_again(batch.entry, lambda: self._fire(rest))
        if failed is not None:
            raise failed
