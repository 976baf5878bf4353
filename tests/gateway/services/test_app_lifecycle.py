"""App install lifecycle over simulated days: deterministic, realistic daily rates, rebuilt exactly after a restart."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.services.apps.installs import (
    LINKED_SHARE,
    InstallTable,
    PermissionChange,
    TokenCodec,
    draw_app,
    install_propensity,
)
from gateway.services.apps.lifecycle import (
    LINK_PER_DAY,
    LOCATION_GRANT_PER_DAY,
    LOCATION_REVOKE_PER_DAY,
    MARKETING_GRANT_PER_DAY,
    MARKETING_WITHDRAW_PER_DAY,
    REFRESH_PER_DAY,
    UNINSTALL_PER_DAY,
    UNLINK_PER_DAY,
    Lifecycle,
)
from gateway.services.apps.model import AppSpec
from simulator.clock import to_micros
from simulator.world import World

SPEC = AppSpec("Shoply", ("ANDROID", "IOS"), ("SHOPPING",), 0.6, 6000)


def lifecycle(world: World, created_us: int | None = None) -> Lifecycle:
    table, shares = draw_app(world, 1, SPEC)
    created = to_micros(world.start) if created_us is None else created_us
    return Lifecycle(world, table, install_propensity(world, SPEC, world.base_size), shares, created)


def columns(table: InstallTable) -> list[list[int]]:
    return [c.astype(np.int64).tolist() for c in (table.subscriber, table.platform, table.notifications,
                                                   table.marketing, table.location, table.installed,
                                                   table.generation, table.linked)]


def test_same_seed_same_days(base_world: World) -> None:
    """Two lifecycles of the same app and seed go through the same installs, uninstalls, refreshes, permissions."""
    a, b = lifecycle(base_world), lifecycle(base_world)
    for k in range(1, 4 * a.ticks_per_day + 1):
        ca, cb = a.step(k), b.step(k)
        assert ca.installed_rows.tolist() == cb.installed_rows.tolist()
        assert ca.uninstalled_rows.tolist() == cb.uninstalled_rows.tolist()
    assert columns(a.table) == columns(b.table)


def test_daily_rates_are_small_and_realistic(base_world: World) -> None:
    """Over 20 days roughly the documented shares uninstall and refresh, and new installs arrive as new rows."""
    lc = lifecycle(base_world)
    start = lc.table.size
    for k in range(1, 20 * lc.ticks_per_day + 1):
        lc.step(k)
    table = lc.table
    first = np.arange(start)
    gone = 1 - table.installed[first].mean()
    refreshed = (table.generation[first] > 0).mean()
    assert 0.3 * 20 * UNINSTALL_PER_DAY < gone < 2.5 * 20 * UNINSTALL_PER_DAY
    assert 0.2 * 20 * REFRESH_PER_DAY < refreshed < 3 * 20 * REFRESH_PER_DAY
    assert table.size > start  # new installs are new rows
    installed = table.subscriber[table.installed]
    assert len(np.unique(installed)) == len(installed)  # never two live installs on one phone
    assert 0.8 < table.installed.sum() / start < 1.25  # installs roughly balance uninstalls


def test_restart_rebuilds_the_same_table(base_world: World) -> None:
    """catch_up to a tick equals having stepped to it, operator uninstalls included where they happened."""
    created = to_micros(base_world.start) + 3_600_000_000 + 17  # registered mid-day, between ticks
    live = lifecycle(base_world, created)
    tpd = live.ticks_per_day
    admin: list[tuple[int, int]] = []
    end = 3 * tpd + 37
    for k in range(61, end + 1):
        live.step(k)
        if k % 700 == 0:  # the operator removes an installed row between two ticks
            row = int(np.flatnonzero(live.table.installed)[k % 50])
            live.table.installed[row] = False
            admin.append((live.tick_us(k) + 5_000_000, row))
    rebuilt = lifecycle(base_world, created)
    rebuilt.catch_up(end, admin)
    assert columns(rebuilt.table) == columns(live.table)
    # ... and both go on identically.
    for k in range(end + 1, end + tpd + 1):
        a, b = live.step(k), rebuilt.step(k)
        assert a.installed_rows.tolist() == b.installed_rows.tolist()
    assert columns(rebuilt.table) == columns(live.table)


def test_consent_location_and_link_change_at_the_documented_rates(base_world: World) -> None:
    """Over 40 days roughly the documented shares of installs withdraw and give marketing consent, lose and get
    location permission, unlink and link their line; new installs are linked at the install share."""
    lc = lifecycle(base_world)
    start = lc.table.size
    before = lc.table.marketing.copy(), lc.table.location > 0, lc.table.linked.copy()
    assert 0.8 * LINKED_SHARE < before[2].mean() < 1.2 * LINKED_SHARE
    days = 40
    for k in range(1, days * lc.ticks_per_day + 1):
        lc.step(k)
    table = lc.table
    kept = np.flatnonzero(table.installed[:start])
    after = table.marketing[kept], table.location[kept] > 0, table.linked[kept]
    for (was, now), (off, on) in zip(zip([b[kept] for b in before], after, strict=True),
                                     [(MARKETING_WITHDRAW_PER_DAY, MARKETING_GRANT_PER_DAY),
                                      (LOCATION_REVOKE_PER_DAY, LOCATION_GRANT_PER_DAY),
                                      (UNLINK_PER_DAY, LINK_PER_DAY)], strict=True):
        assert 0.4 * days * off < (was & ~now).sum() / was.sum() < 2 * days * off
        assert 0.4 * days * on < (~was & now).sum() / (~was).sum() < 2 * days * on
    assert 0.5 * LINKED_SHARE < table.linked[start:].mean() < 1.5 * LINKED_SHARE


def test_restart_applies_the_operators_permission_changes_where_they_were(base_world: World) -> None:
    """catch_up with recorded permission changes (two at one instant, applied in their order) equals the live
    table they were made on, and both go on identically (later days draw from the changed table)."""
    live = lifecycle(base_world)
    tpd = live.ticks_per_day
    changes: list[tuple[int, int, int, PermissionChange]] = []
    end = 2 * tpd + 11
    seq = 0
    for k in range(1, end + 1):
        live.step(k)
        if k % 300 == 0:
            row = int(np.flatnonzero(live.table.installed)[k % 40])
            at = live.tick_us(k) + 1_000_000
            for change in (PermissionChange(marketing=False, location="NEVER"),
                           PermissionChange(location="ALWAYS", linked=not live.table.linked[row],
                                            notifications=False)):
                seq += 1
                live.table.set_permissions(row, change)
                changes.append((at, seq, row, change))
    rebuilt = lifecycle(base_world)
    rebuilt.catch_up(end, [], changes)
    assert columns(rebuilt.table) == columns(live.table)
    bare = lifecycle(base_world)
    bare.catch_up(end, [])
    assert columns(bare.table) != columns(live.table)  # the changes matter
    for k in range(end + 1, end + tpd + 1):
        live.step(k)
        rebuilt.step(k)
    assert columns(rebuilt.table) == columns(live.table)


@pytest.mark.parametrize("generation", [1, 2, 5])
def test_refreshed_token_replaces_the_old_one(base_world: World, generation: int) -> None:
    """A refreshed row has a new token: it parses to its generation, older ones to theirs (callers refuse them)."""
    codec = TokenCodec(base_world)
    new, old = codec.token(1, 3, generation), codec.token(1, 3, generation - 1)
    assert new != old and new.partition(":")[0] == old.partition(":")[0]  # same installation, new token
    assert codec.parse(new, generation) == (1, 3, generation)
    assert codec.parse(old, generation) == (1, 3, generation - 1)
    assert codec.parse(new, generation - 1) is None  # a generation not reached yet is not a token


def test_rows_of_many_subscribers_are_each_ones_rows_in_order() -> None:
    """The rows of many subscribers at once: each one's drawn row then its later installs, subscribers in order."""
    drawn = np.array([1, 3, 3, 8], np.int64)  # sorted by subscriber (two drawn rows for 3)
    n = len(drawn)
    table = InstallTable(0, drawn, np.zeros(n, np.uint8), np.ones(n, bool), np.ones(n, bool), np.zeros(n, np.uint8),
                         np.ones(n, bool))
    table.append(np.array([8, 5, 1, 8], np.int64), np.zeros(4, np.uint8), np.ones(4, bool), np.ones(4, bool),
                 np.zeros(4, np.uint8))
    subs = np.array([8, 2, 1, 3, 5], np.int32)
    assert table.rows_of_many(subs).tolist() == [3, 4, 7, 0, 6, 1, 2, 5]
    assert table.rows_of_many(subs).tolist() == [r for s in subs.tolist() for r in table.rows_of(s).tolist()]
    assert table.rows_of(2).tolist() == [] and table.rows_of_many(np.zeros(0, np.int32)).tolist() == []
