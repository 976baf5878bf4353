"""Verifications over many simulated days hold bounded memory, and a restart replays the inboxes it kept."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np

from gateway.core.settings import VerifySettings
from gateway.core.store import Store
from gateway.services.verify import VerifyService
from simulator.world import World

DAYS = 6
RETENTION = 1
PER_HOUR = 8
RULES = VerifySettings(number_limit=10_000, partner_limit=None, sequential_burst=10**9, roaming_burst=10**9)


def _service(world: World, path: Path) -> tuple[VerifyService, Store, int]:
    store = Store(path)
    store.open()
    partner = store.conn.execute("SELECT id FROM partners").fetchone()
    pid = int(partner["id"]) if partner else store.create_partner("p", (), {}, "2026-06-01T00:00:00Z")[0].id
    world.keep_history(RETENTION)
    world.keep_inbox(RETENTION)
    return VerifyService(world, store, RULES), store, pid


def test_days_of_verifications_keep_inboxes_templates_and_state_bounded(
        fresh_world: Callable[[], World], tmp_path: Path) -> None:
    """After six simulated days of codes with one day of inbox retention, only the last two days are held."""
    world = fresh_world()
    service, store, pid = _service(world, tmp_path / "v.db")
    rng = np.random.default_rng(0)
    held: list[int] = []
    for _hour in range(DAYS * 24):
        for msisdn in world.msisdns(rng.integers(0, 2000, PER_HOUR)):
            service.start(pid, msisdn, "SMS")
        world.advance(timedelta(hours=1))
        held.append(world.devices.inboxes.rows)
    inboxes = world.devices.inboxes
    sent = DAYS * 24 * PER_HOUR
    assert len(inboxes) > 0.9 * sent  # nearly every code arrived (SMS to unreachable phones may expire)
    # Between RETENTION and RETENTION + 1 days of codes (and a little slack for the SMSC's late deliveries).
    assert max(held[(RETENTION + 1) * 24:]) <= (RETENTION + 1) * 24 * PER_HOUR * 1.1
    assert inboxes.rows >= RETENTION * 24 * PER_HOUR * 0.9
    assert inboxes.templates == 1 and inboxes.payloads == inboxes.rows  # one shared template, one payload per row
    # Nothing of expired verifications waits in memory or on the clock: no timers left, no callbacks piling up.
    assert store.conn.execute("SELECT COUNT(*) FROM timers").fetchone()[0] <= PER_HOUR
    assert len(world.clock._heap) <= 4 * PER_HOUR
    cutoff = inboxes.cutoff
    assert cutoff is not None and cutoff >= world.clock.now - timedelta(days=RETENTION + 1)
    store.close()


def test_a_restart_replays_the_inboxes_the_retention_kept(fresh_world: Callable[[], World], tmp_path: Path) -> None:
    """A second world replaying the delivered codes holds exactly the inboxes the first one held."""
    world = fresh_world()
    service, store, pid = _service(world, tmp_path / "v.db")
    rng = np.random.default_rng(1)
    for _hour in range(3 * 24):
        for msisdn in world.msisdns(rng.integers(0, 50, 2)):
            service.start(pid, msisdn, "SMS")
        world.advance(timedelta(hours=1))
    end = world.clock.now
    store.close()
    again = fresh_world()
    replayed, store2, _ = _service(again, tmp_path / "v.db")
    replayed.replay()
    again.run_until(end)
    assert again.devices.inboxes.rows == world.devices.inboxes.rows
    for sub in range(50):
        assert again.inbox(sub) == world.inbox(sub)
    assert any(world.inbox(sub) for sub in range(50))
    store2.close()


def test_a_restart_replays_only_the_codes_the_inboxes_still_keep(
        fresh_world: Callable[[], World], tmp_path: Path) -> None:
    """After six days with one day of inboxes, a restart schedules the last days' codes, not all six days'."""
    world = fresh_world()
    service, store, pid = _service(world, tmp_path / "v.db")
    rng = np.random.default_rng(2)
    for _hour in range(DAYS * 24):
        for msisdn in world.msisdns(rng.integers(0, 50, PER_HOUR)):
            service.start(pid, msisdn, "SMS")
        world.advance(timedelta(hours=1))
    end = world.clock.now
    store.save_clock(end)
    delivered = store.conn.execute("SELECT COUNT(*) FROM verification_sends WHERE status = 'DELIVERED'").fetchone()[0]
    store.close()
    again = fresh_world()
    replayed, store2, _ = _service(again, tmp_path / "v.db")
    before = len(again.clock._heap)
    replayed.replay()
    scheduled = len(again.clock._heap) - before
    assert delivered > 0.9 * DAYS * 24 * PER_HOUR
    assert scheduled <= (RETENTION + 2) * 24 * PER_HOUR * 1.1  # all six days' codes would be `delivered`
    again.run_until(end)
    assert again.devices.inboxes.rows == world.devices.inboxes.rows
    for sub in range(50):
        assert again.inbox(sub) == world.inbox(sub)
    store2.close()
