"""Installs, uninstalls, token refreshes and permission changes of one app over simulated time.

Owns :class:`Lifecycle`: the events of each simulated day (blocks of ``86400 / tick_seconds`` ticks from the world's
start) are drawn at the day's first tick from the world's named stream ``("apps-lifecycle", app_seq, day)``, as
columns over the install table and the population, given the table as it is then; each event carries an instant
within the day and is applied on the first tick at or after it. Daily rates (documented in the README): an install
is uninstalled with probability 0.3% a day, refreshes its token 0.2% a day, has its notifications switched off
0.1% a day (on again 0.05% a day when off), withdraws in-app marketing consent 0.1% a day (gives it 0.1% a day),
sets in-app location to ``NEVER`` 0.1% a day (allows ``WHILE_USING`` again 0.1% a day), unlinks the line from the
app account 0.2% a day (links it 0.1% a day); a subscriber without the app installs it with probability 0.4% a day
times their install chance (:func:`~gateway.services.apps.installs.install_propensity`), as a new row (a reinstall
gets a new installation id and token). The consent, location and link events are drawn after all the others of the
day's stream, so they leave the earlier draws as they were.

Nothing is stored: the state at a tick is a function of the seed, the app's registration instant and the recorded
admin uninstalls and permission changes, so :meth:`Lifecycle.catch_up` rebuilds it exactly after a restart
(replaying day draws, not ticks).
It must not know about HTTP, SQL or push.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gateway.services.apps.installs import (
    LINKED_SHARE,
    InstallTable,
    PermissionChange,
    Propensity,
    Shares,
    draw_permissions,
)
from simulator.clock import to_micros
from simulator.world import World

DAY_S = 86_400
UNINSTALL_PER_DAY = 0.003
"""Chance an install is removed on a given day."""
REFRESH_PER_DAY = 0.002
"""Chance an install's registration token is refreshed on a given day (restore, data cleared, rotation)."""
REVOKE_PER_DAY = 0.001
"""Chance notifications are switched off in the OS settings on a given day (when on)."""
GRANT_PER_DAY = 0.0005
"""Chance notifications are switched on again on a given day (when off)."""
INSTALL_PER_DAY = 0.004
"""Daily install chance of a subscriber without the app, times their install chance at registration."""
MARKETING_WITHDRAW_PER_DAY = 0.001
"""Chance in-app marketing consent is withdrawn on a given day (when given)."""
MARKETING_GRANT_PER_DAY = 0.001
"""Chance in-app marketing consent is given on a given day (when not given)."""
LOCATION_REVOKE_PER_DAY = 0.001
"""Chance in-app location permission is set to ``NEVER`` on a given day (when ``WHILE_USING`` or ``ALWAYS``)."""
LOCATION_GRANT_PER_DAY = 0.001
"""Chance in-app location permission is set to ``WHILE_USING`` on a given day (when ``NEVER``)."""
UNLINK_PER_DAY = 0.002
"""Chance the user unlinks their line from the app account on a given day (when linked)."""
LINK_PER_DAY = 0.001
"""Chance the user links their line to the app account on a given day (when not linked): with the unlinks, about a
third of installs stay linked, as at install."""

UNINSTALL, REFRESH, PERMISSION, MARKETING, LOCATION, LINK = 0, 1, 2, 3, 4, 5
"""Kinds of row events (``PERMISSION`` is the OS notification permission)."""


@dataclass(frozen=True)
class Changes:
    """Installs and uninstalls applied by one tick (rows of the install table, with their instants in µs)."""

    installed_rows: NDArray[np.int64]
    installed_us: NDArray[np.int64]
    uninstalled_rows: NDArray[np.int64]
    uninstalled_us: NDArray[np.int64]

    @classmethod
    def none(cls) -> Changes:
        """No change."""
        e = np.empty(0, np.int64)
        return cls(e, e, e, e)


@dataclass
class _Day:
    """One day's drawn events, each kind sorted by instant, with how many of each are applied."""

    ev_us: NDArray[np.int64]
    ev_kind: NDArray[np.uint8]
    ev_row: NDArray[np.int64]
    ev_value: NDArray[np.uint8]
    in_us: NDArray[np.int64]
    in_sub: NDArray[np.int64]
    in_perms: tuple[NDArray[np.uint8], NDArray[np.bool_], NDArray[np.bool_], NDArray[np.uint8]]
    in_linked: NDArray[np.bool_]
    ev_done: int = 0
    in_done: int = 0


class Lifecycle:
    """The install table of one app moving through simulated days (see the module docstring)."""

    def __init__(self, world: World, table: InstallTable, propensity: Propensity, shares: Shares,
                 created_us: int) -> None:
        self.world = world
        self.table = table
        self.propensity = propensity
        self.shares = shares
        self.created_us = created_us
        self._start_us = to_micros(world.start)
        self._tick_us = world.config.tick_seconds * 1_000_000
        self.ticks_per_day = max(1, DAY_S // world.config.tick_seconds)
        self._day: _Day | None = None

    def tick_us(self, k: int) -> int:
        """Instant of tick ``k`` in µs since the epoch."""
        return self._start_us + k * self._tick_us

    def step(self, k: int) -> Changes:
        """Tick ``k`` of the world: draw the day at its first tick, then apply what is due by the tick's instant."""
        if (k - 1) % self.ticks_per_day == 0 and self.created_us < self.tick_us(k):
            self._draw((k - 1) // self.ticks_per_day)
        return self._apply_until(self.tick_us(k))

    def catch_up(self, k: int, admin_uninstalls: Sequence[tuple[int, int]],
                 admin_changes: Sequence[tuple[int, int, int, PermissionChange]] = ()) -> None:
        """Rebuild the table as it was after tick ``k`` (after a restart), with the recorded admin uninstalls
        ``(at_us, row)`` and permission changes ``(at_us, seq, row, change)`` applied where they were: after the
        ticks before them, before the ticks after them (changes of one instant in the order of their ``seq``)."""
        pending: list[tuple[int, int, int, PermissionChange | None]] = sorted(
            [(at_us, 0, row, None) for at_us, row in admin_uninstalls]
            + [(at_us, seq, row, change) for at_us, seq, row, change in admin_changes], key=lambda a: a[:3])
        tpd = self.ticks_per_day
        day = 0
        while self.tick_us(day * tpd + 1) <= self.created_us:
            day += 1
        while day * tpd + 1 <= k:
            first = day * tpd + 1
            pending = self._admin_before(pending, self.tick_us(first))
            self._apply_until(self.tick_us(first - 1))
            self._draw(day)
            day += 1
        self._admin_before(pending, self.tick_us(k) + 1)
        self._apply_until(self.tick_us(k))

    def _admin_before(self, pending: list[tuple[int, int, int, PermissionChange | None]], until_us: int
                      ) -> list[tuple[int, int, int, PermissionChange | None]]:
        done = 0
        for at_us, _, row, change in pending:
            if at_us >= until_us:
                break
            tick = (at_us - self._start_us) // self._tick_us  # the admin call came after this tick's step
            self._apply_until(self.tick_us(tick))
            if row < self.table.size:
                if change is None:
                    self.table.installed[row] = False
                else:
                    self.table.set_permissions(row, change)
            done += 1
        return pending[done:]

    def _draw(self, day: int) -> None:
        table = self.table
        rng = self.world.random_stream("apps-lifecycle", table.app_seq, day)
        lo = self.tick_us(day * self.ticks_per_day)
        span = self.tick_us((day + 1) * self.ticks_per_day) - lo
        rows = np.flatnonzero(table.installed).astype(np.int64)
        on = table.notifications[rows]
        u = rng.random((3, len(rows)))
        kinds = [(rows[u[0] < UNINSTALL_PER_DAY], UNINSTALL, False),
                 (rows[u[1] < REFRESH_PER_DAY], REFRESH, False),
                 (rows[on & (u[2] < REVOKE_PER_DAY)], PERMISSION, False),
                 (rows[~on & (u[2] < GRANT_PER_DAY)], PERMISSION, True)]
        ev_row = np.concatenate([r for r, _, _ in kinds])
        ev_kind = np.concatenate([np.full(len(r), kind, np.uint8) for r, kind, _ in kinds])
        ev_value = np.concatenate([np.full(len(r), value, np.uint8) for r, _, value in kinds])
        ev_us = lo + 1 + rng.integers(0, span, size=len(ev_row))
        n = len(self.propensity.p)
        has = table.installed_mask(n)
        chance = np.where(has, 0.0, self.propensity.p * INSTALL_PER_DAY)
        in_sub = np.flatnonzero(rng.random(n) < chance).astype(np.int64)
        in_us = lo + 1 + rng.integers(0, span, size=len(in_sub))
        perms = draw_permissions(rng, self.propensity.ios[in_sub], self.shares)
        in_order = np.lexsort((in_sub, in_us))
        # Drawn last, so every draw above is what it was before these columns changed over time.
        linked = rng.random(len(in_sub)) < LINKED_SHARE
        v = rng.random((3, len(rows)))
        consent, located, link = table.marketing[rows], table.location[rows] > 0, table.linked[rows]
        more = [(rows[consent & (v[0] < MARKETING_WITHDRAW_PER_DAY)], MARKETING, 0),
                (rows[~consent & (v[0] < MARKETING_GRANT_PER_DAY)], MARKETING, 1),
                (rows[located & (v[1] < LOCATION_REVOKE_PER_DAY)], LOCATION, 0),
                (rows[~located & (v[1] < LOCATION_GRANT_PER_DAY)], LOCATION, 1),
                (rows[link & (v[2] < UNLINK_PER_DAY)], LINK, 0),
                (rows[~link & (v[2] < LINK_PER_DAY)], LINK, 1)]
        more_row = np.concatenate([r for r, _, _ in more])
        ev_row = np.concatenate([ev_row, more_row])
        ev_kind = np.concatenate([ev_kind] + [np.full(len(r), kind, np.uint8) for r, kind, _ in more])
        ev_value = np.concatenate([ev_value] + [np.full(len(r), value, np.uint8) for r, _, value in more])
        ev_us = np.concatenate([ev_us, lo + 1 + rng.integers(0, span, size=len(more_row))])
        order = np.lexsort((ev_kind, ev_row, ev_us))
        self._day = _Day(ev_us[order], ev_kind[order], ev_row[order], ev_value[order], in_us[in_order],
                         in_sub[in_order], (perms[0][in_order], perms[1][in_order], perms[2][in_order],
                                            perms[3][in_order]), linked[in_order])

    def _apply_until(self, until_us: int) -> Changes:
        d = self._day
        if d is None:
            return Changes.none()
        table = self.table
        ev_end = int(np.searchsorted(d.ev_us, until_us, side="right"))
        in_end = int(np.searchsorted(d.in_us, until_us, side="right"))
        if ev_end == d.ev_done and in_end == d.in_done:
            return Changes.none()
        s = slice(d.in_done, in_end)
        new_rows = table.append(d.in_sub[s], d.in_perms[0][s], d.in_perms[1][s], d.in_perms[2][s], d.in_perms[3][s],
                                d.in_linked[s])
        gone_rows: list[int] = []
        gone_us: list[int] = []
        for at_us, kind, row, value in zip(d.ev_us[d.ev_done:ev_end].tolist(), d.ev_kind[d.ev_done:ev_end].tolist(),
                                           d.ev_row[d.ev_done:ev_end].tolist(),
                                           d.ev_value[d.ev_done:ev_end].tolist(), strict=True):
            if not table.installed[row]:
                continue  # removed earlier the same day: nothing left to refresh or change
            if kind == UNINSTALL:
                table.installed[row] = False
                gone_rows.append(row)
                gone_us.append(at_us)
            elif kind == REFRESH:
                table.generation[row] += 1
            elif kind == PERMISSION:
                table.notifications[row] = bool(value)
            elif kind == MARKETING:
                table.marketing[row] = bool(value)
            elif kind == LOCATION:
                table.location[row] = value  # 0 NEVER, 1 WHILE_USING (an index of LOCATION_PERMISSIONS)
            else:
                table.linked[row] = bool(value)
        changes = Changes(new_rows, d.in_us[s].copy(), np.asarray(gone_rows, np.int64), np.asarray(gone_us, np.int64))
        d.ev_done, d.in_done = ev_end, in_end
        return changes
