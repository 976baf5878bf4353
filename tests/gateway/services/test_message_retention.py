"""Direct messages over many simulated hours hold bounded engine state once they are delivered."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import numpy as np

from gateway.core.settings import CampaignSettings, MessageSettings
from gateway.core.store import Store
from gateway.services import policy
from gateway.services.caps import FrequencyCaps
from gateway.services.messages.model import MessageRequest
from gateway.services.messages.service import MessageService
from simulator.world import World

RULES = CampaignSettings()


def test_delivered_messages_leave_no_in_flight_entries(fresh_world: Callable[[], World]) -> None:
    """After a day of SMS and push messages, the engine's in-flight map holds only messages still on their way."""
    world = fresh_world()
    store = Store(":memory:")
    store.open()
    store.create_partner("p", (), {}, "2026-06-01T06:00:00Z")
    store.conn.execute("INSERT INTO message_senders(seq, partner_id, name, status, created_us) "
                       "VALUES (1, 1, 'Acme', 'APPROVED', 0)")
    svc = MessageService(world, store, MessageSettings(),
                         policy.Rules(RULES.quiet_start_hour, RULES.quiet_end_hour, RULES.daily_cap),
                         FrequencyCaps(world.population.size, False), RULES.moderation_terms)
    numbers = world.msisdns(np.arange(200))
    rng = np.random.default_rng(0)
    sent = 0
    for _hour in range(24):
        for k in rng.integers(0, 200, 10):
            channel = ("SMS", "PUSH_THEN_SMS")[int(k) % 2]
            svc.send(1, MessageRequest(numbers[int(k)], "TRANSACTIONAL", channel, "Acme", "Your parcel", None,
                                       None, {}, None, None))
            sent += 1
        world.advance(timedelta(hours=1))
    world.advance(timedelta(hours=2))  # every arrival of the last hour has happened
    delivered = store.conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    assert delivered == sent
    assert svc.engine._in_flight == {}  # an entry per delivered message would be `sent` entries here
    store.close()
