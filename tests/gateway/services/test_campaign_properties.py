"""Property: over random small worlds, campaigns and consent changes, no campaign message ever lands without
consent at its send instant, in quiet hours or beyond the daily cap, and reports equal the operator-side truth."""

from __future__ import annotations

import copy
from collections import Counter
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core.settings import CampaignSettings
from gateway.core.store import Store
from gateway.services.campaigns.model import CampaignRequest, TargetingSpec
from gateway.services.campaigns.service import CampaignService
from gateway.services.policy import REASONS
from gateway.services.targeting import CircleSpec
from simulator.clock import from_micros
from simulator.world import World

CAMPAIGN = st.fixed_dictionaries({
    "mode": st.sampled_from(["PRESENT", "ENTERS", "HOME", "WORK"]),
    "dlat": st.floats(-0.03, 0.03), "dlon": st.floats(-0.05, 0.05), "radius": st.floats(800, 6000),
    "kind": st.sampled_from(["PROMO", "INFORMATIONAL"]),
    "channel": st.sampled_from(["PUSH", "SMS", "PUSH_THEN_SMS"]),
    "start_min": st.integers(0, 12 * 60), "hours": st.floats(0.5, 14),
    "partner": st.integers(1, 2), "max": st.none() | st.integers(1, 200),
    "window": st.none() | st.tuples(st.integers(0, 23), st.integers(1, 6)),
})
CONSENT = st.tuples(st.integers(0, 16 * 60), st.integers(0, 1999), st.sampled_from(["PUSH", "SMS"]), st.booleans())


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(campaigns=st.lists(CAMPAIGN, min_size=1, max_size=4), changes=st.lists(CONSENT, max_size=40),
       partner_cap=st.none() | st.just(1))
def test_no_message_breaks_the_rules(base_world: World, campaigns: list[dict[str, Any]],
                                     changes: list[tuple[int, int, str, bool]], partner_cap: int | None) -> None:
    world = copy.deepcopy(base_world)
    store = Store(":memory:")
    store.open()
    for name in ("p1", "p2"):
        store.create_partner(name, (), {}, "2026-06-01T06:00:00Z")
    rules = CampaignSettings(min_audience=0, partner_daily_cap=partner_cap)  # tiny worlds: audiences may be 0
    service = CampaignService(world, store, rules)
    t0 = world.clock.now
    lat0, lon0 = world.city.projection.lat0, world.city.projection.lon0
    ids = []
    for c in campaigns:
        start = t0 + timedelta(minutes=int(c["start_min"]))
        window = c["window"]
        hours = None if window is None else (f"{window[0]:02d}:00",
                                             f"{(window[0] + window[1]) % 24:02d}:00")
        req = CampaignRequest(
            "p", TargetingSpec((CircleSpec(lat0 + c["dlat"], lon0 + c["dlon"], c["radius"]),),
                               str(c["mode"])),
            start, start + timedelta(hours=float(c["hours"])), str(c["kind"]), str(c["channel"]),
            "Acme", "Hello from Acme", daily_hours=hours, max_recipients=c["max"])
        view, _ = service.create(int(c["partner"]), req)
        ids.append(view.id)
    for minute, sub, channel, granted in sorted(changes):
        world.run_until(t0 + timedelta(minutes=minute, seconds=30))  # between ticks: no tie with a send
        world.set_consent(sub, "ADVERTISING", channel, granted, source="TEST")
    world.run_until(t0 + timedelta(hours=27))

    per_day: Counter[tuple[int, int]] = Counter()
    for cid in ids:
        view = service.get(None, cid)
        records = service.records(cid, 1_000_000)[0]
        sent = [r for r in records if r.outcome != "SUPPRESSED"]
        assert len({r.subscriber for r in records}) == len(records)
        for r in sent:
            local = world.local_time(r.at)
            assert 8 <= local.hour < 21, "sent in quiet hours"
            per_day[(r.subscriber, local.toordinal())] += 1
            if view.request.kind == "PROMO":
                assert world.consent.is_permitted(r.subscriber, "ADVERTISING", r.channel, r.at), "no consent"
            if r.outcome == "DELIVERED":
                assert r.id in {m["id"] for m in world.inbox(r.subscriber)}
            if view.request.channel != "PUSH_THEN_SMS":
                assert r.channel == view.request.channel
        if view.request.max_recipients is not None:
            assert len(sent) <= view.request.max_recipients
        rep = service.report(None, cid)
        reasons = Counter(r.reason for r in records if r.outcome == "SUPPRESSED")
        expected = {"sent": len(sent), "delivered": sum(r.outcome == "DELIVERED" for r in sent),
                    "failed": sum(r.outcome == "FAILED" for r in sent)}
        for key, count in expected.items():
            assert getattr(rep, key) == (count if count == 0 or count >= 10 else None)
        for reason in REASONS:
            n = reasons.get(reason, 0)
            assert rep.suppressed[reason] == (n if n == 0 or n >= 10 else None)
        assert all(from_micros(0) < r.at for r in records)
    assert max(per_day.values(), default=0) <= 1, "beyond the daily cap"
