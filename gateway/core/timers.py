"""Durable wake-ups on the simulated clock: the calls a service schedules for later that must survive a restart.

A service registers its actions by name and schedules them with JSON arguments; :meth:`Timers.schedule` stores
the call (a ``timers`` row: owner, due instant, action, arguments) and puts it on the world's clock. The row is
deleted when the call runs. After a restart has replayed the world (:mod:`gateway.core.journal`), :meth:`Timers.resume`
puts every stored call back on the clock at its instant (at once when a crash lost the checkpoint past it), in
the order they were scheduled, so that a message or a code in flight when the gateway stopped goes on exactly as
it would have. Rows are bookkeeping, not records: the records are the services' own tables. This module must not
know HTTP nor what the actions do.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from gateway.core.store import Store
from simulator.clock import SimClock, from_micros, to_micros

Action = Callable[..., None]


class Timers:
    """One service's scheduled calls, kept in SQLite until they run."""

    def __init__(self, store: Store, clock: SimClock, owner: str, actions: Mapping[str, Action]) -> None:
        self.store = store
        self.clock = clock
        self.owner = owner
        self._actions = dict(actions)

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
        fn = self._actions[action]

        def fire() -> None:
            with self.store.transaction() as conn:  # the row goes with what the call did, or not at all
                conn.execute("DELETE FROM timers WHERE id = ?", (timer_id,))
                fn(**args)

        self.clock.schedule(max(at, self.clock.now), fire)
