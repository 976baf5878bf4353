"""Properties of direct messages over random sends, consent changes and blocks: every kind obeys its rules.

PROMO: sent only with advertising consent for the channel at the send instant, never in quiet hours, at most the
daily cap per subscriber and local day. Service kinds: never sent to a subscriber blocking the sender.
AUTHENTICATION: HIGH priority and short TTL. All: nothing after a final status, delivered only before expiry and
exactly once into the inbox.
"""

from __future__ import annotations

import copy
from collections import Counter
from datetime import timedelta
from functools import cache
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core.errors import GatewayError
from gateway.core.settings import CampaignSettings, MessageSettings
from gateway.core.store import Store
from gateway.services import policy
from gateway.services.caps import FrequencyCaps
from gateway.services.messages.model import FINAL, MessageRequest
from gateway.services.messages.service import MessageService
from simulator.world import World, WorldConfig

RULES = CampaignSettings()
PROMO_RULES = policy.Rules(RULES.quiet_start_hour, RULES.quiet_end_hour, RULES.daily_cap)
SUBS = 40

MESSAGE = st.fixed_dictionaries({
    "minute": st.integers(0, 30 * 60), "sub": st.integers(0, SUBS - 1),
    "kind": st.sampled_from(["TRANSACTIONAL", "INFORMATIONAL", "AUTHENTICATION", "PROMO"]),
    "channel": st.sampled_from(["PUSH", "SMS", "PUSH_THEN_SMS"]),
    "ttl": st.none() | st.integers(1, 12 * 3600), "priority": st.none() | st.sampled_from(["NORMAL", "HIGH"]),
})
CONSENT = st.tuples(st.integers(0, 30 * 60), st.integers(0, SUBS - 1), st.sampled_from(["PUSH", "SMS"]),
                    st.booleans())


@cache
def small_world() -> World:
    """Built once: 300 subscribers keep 30 simulated hours per example cheap."""
    return World.build(WorldConfig(city="berlin", subscribers=300, seed=3))


def service(world: World) -> MessageService:
    store = Store(":memory:")
    store.open()
    store.create_partner("p", (), {}, "2026-06-01T06:00:00Z")
    svc = MessageService(world, store, MessageSettings(), PROMO_RULES, FrequencyCaps(world.population.size, False),
                         RULES.moderation_terms)
    store.conn.execute("INSERT INTO message_senders(seq, partner_id, name, status, created_us) "
                       "VALUES (1, 1, 'Acme', 'APPROVED', 0)")
    store.conn.execute("INSERT INTO message_templates(seq, partner_id, kind, text, status, created_us) "
                       "VALUES (1, 1, 'AUTHENTICATION', 'Code {code}', 'APPROVED', 0)")
    return svc


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=st.lists(MESSAGE, min_size=1, max_size=25), changes=st.lists(CONSENT, max_size=30),
       blocked=st.sets(st.integers(0, SUBS - 1), max_size=8))
def test_every_kind_obeys_its_rules(messages: list[dict[str, Any]],
                                    changes: list[tuple[int, int, str, bool]], blocked: set[int]) -> None:
    world = copy.deepcopy(small_world())
    svc = service(world)
    t0 = world.clock.now
    numbers = world.msisdns(np.arange(SUBS))
    for sub in blocked:
        svc.block(numbers[sub], 1, "Acme")
    actions: list[tuple[int, int, Any]] = [(m["minute"], 1, m) for m in messages]
    actions += [(c[0], 0, c) for c in changes]
    sent: list[str] = []
    for minute, what, item in sorted(actions, key=lambda a: (a[0], a[1])):
        world.run_until(t0 + timedelta(minutes=minute, seconds=30))
        if what == 0:
            _, sub, channel, granted = item
            world.set_consent(sub, "ADVERTISING", channel, granted, source="TEST")
            continue
        auth = item["kind"] == "AUTHENTICATION"
        req = MessageRequest(numbers[item["sub"]], item["kind"], item["channel"], "Acme",
                             None if auth else "Hello from Acme", None, "tpl_00000001" if auth else None,
                             {"code": "123456"} if auth else {}, item["priority"], item["ttl"])
        try:
            view, _ = svc.send(1, req)
        except GatewayError:
            assert (auth and item["priority"] == "NORMAL") or (item["ttl"] or 0) > (900 if auth else 7 * 86400)
            continue
        sent.append(view.id)
    world.run_until(t0 + timedelta(hours=31))

    per_day: Counter[tuple[int, int]] = Counter()
    for mid in sent:
        m = svc.get(1, mid)
        sub = world.find_subscriber(m.phone_number)
        history = m.history
        assert history[0].status == "ACCEPTED"
        finals = [i for i, h in enumerate(history) if h.status in FINAL]
        if finals:
            assert finals == [len(history) - 1], "exactly one final status, last"
        else:  # still waiting (a device off, out of coverage or abroad for long): only until it expires
            assert m.expires_at > world.clock.now, "open past its expiry"
        assert m.status == history[-1].status
        sends = [h for h in history if h.status == "SENT"]
        if m.kind == "AUTHENTICATION":
            assert m.priority == "HIGH" and m.expires_at - m.created_at <= timedelta(seconds=900)
        elif sub in blocked:
            assert (m.status, m.reason, sends) == ("SUPPRESSED", "SENDER_BLOCKED", [])
        if m.kind == "PROMO" and sends:
            first = sends[0]
            local = world.local_time(first.at)
            assert not (local.hour >= RULES.quiet_start_hour or local.hour < RULES.quiet_end_hour), "quiet hours"
            per_day[(sub, local.toordinal())] += 1
            for s in sends:
                assert world.consent.is_permitted(sub, "ADVERTISING", s.channel, s.at), "no consent"
        if m.status == "DELIVERED":
            assert history[-1].at <= m.expires_at
            assert [x["id"] for x in world.inbox(sub)].count(mid) == 1
        else:
            assert mid not in [x["id"] for x in world.inbox(sub)]
        if m.status == "EXPIRED":
            assert history[-1].at == m.expires_at
    assert all(n <= RULES.daily_cap for n in per_day.values()), "frequency cap"
