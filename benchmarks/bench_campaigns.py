"""Campaign figures in a 1,000,000-subscriber world (service calls timed server-side, no HTTP).

* ``estimate_present_1km_ms``: audience estimate of a 1 km circle, PRESENT (target 20 ms); baseline: the bare
  ``world.occupants`` query for the same circle.
* ``campaign_100k_end_to_end_s``: the tick in which a campaign to 100,000 recipients starts — targeting, policy,
  delivery, inbox and every record in SQLite (WAL file) — (target 5 s); baseline: a plain tick.
* ``enters_100_campaigns_tick_overhead_ms``: what 100 running ENTERS campaigns add to a tick (target 20 ms),
  measured as the mean tick with them minus the mean tick of a twin world (same seed, no campaigns) over the
  same 30 simulated ticks; baseline: the twin's plain tick. The twin matters:
  the number of people on the move changes from one half hour to the next, so ticks at other instants (say,
  after cancelling the campaigns) are no baseline.

Usage: python -m benchmarks.bench_campaigns [--subscribers N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

from benchmarks._report import emit
from gateway.core.settings import CampaignSettings
from gateway.core.store import Store
from gateway.services.campaigns.model import CampaignRequest, TargetingSpec
from gateway.services.campaigns.service import CampaignService
from gateway.services.targeting import CircleSpec
from simulator.geo import Area
from simulator.world import World, WorldConfig


def _tick_ms(world: World, ticks: int) -> list[float]:
    out = []
    for _ in range(ticks):
        t = time.perf_counter()
        world.step()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=1_000_000)
    args = ap.parse_args()
    config = WorldConfig(city="moscow", subscribers=args.subscribers, seed=1)
    world = World.build(config)
    world.advance(timedelta(minutes=30))  # 09:30 in Moscow: daytime, no quiet hours
    proj = world.city.projection
    lat0, lon0 = proj.lat0, proj.lon0
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        store.open()
        partner, _, _ = store.create_partner("bench", (), {}, "2026-06-01T06:00:00Z")
        service = CampaignService(world, store, CampaignSettings(min_audience=0))

        # 1. estimate
        spec = TargetingSpec((CircleSpec(lat0, lon0, 1000.0),), "PRESENT")
        area = Area.circle_wgs84(proj, lat0, lon0, 1000.0)
        service.estimate(spec)  # warm-up
        est = []
        base = []
        for _ in range(30):
            t = time.perf_counter()
            result = service.estimate(spec)
            est.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            world.occupants(area)
            base.append((time.perf_counter() - t) * 1000)
        emit("estimate_present_1km_ms", statistics.median(est), statistics.median(base), 20.0, "ms",
             subscribers=args.subscribers, audience=result.audience, matched=result.matched)

        # 2. a campaign to 100,000 recipients: INFORMATIONAL needs no consent; the radius is chosen to match
        lo, hi = 1000.0, 30000.0
        for _ in range(20):
            mid = (lo + hi) / 2
            n = len(world.occupants(Area.circle_wgs84(proj, lat0, lon0, mid)))
            lo, hi = (mid, hi) if n < 115_000 else (lo, mid)
        now = world.clock.now
        plain = _tick_ms(world, 5)
        req = CampaignRequest("big", TargetingSpec((CircleSpec(lat0, lon0, hi),), "PRESENT"), now,
                              now + timedelta(hours=2), "INFORMATIONAL", "PUSH_THEN_SMS", "Bench", "City notice",
                              max_recipients=100_000)
        view, _ = service.create(partner.id, req)
        t = time.perf_counter()
        world.step()
        store.drain()  # end to end: the records are in SQLite, not just handed to the background writer
        big_s = time.perf_counter() - t
        rep = service.report(None, view.id)
        emit("campaign_100k_end_to_end_s", big_s, statistics.mean(plain) / 1000, 5.0, "s", sent=rep.sent,
             delivered=rep.delivered, matched=rep.matched, suppressed={k: v for k, v in rep.suppressed.items() if v})
        service.cancel(partner.id, view.id)

        # 3. 100 ENTERS campaigns around random places
        rng = np.random.default_rng(7)
        now = world.clock.now
        xs, ys = rng.uniform(-12000, 12000, 100), rng.uniform(-12000, 12000, 100)
        ids = []
        for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
            lat, lon = proj.point_latlon(x, y)
            r = CampaignRequest("enters", TargetingSpec((CircleSpec(lat, lon, 1000.0),), "ENTERS"), now,
                                now + timedelta(hours=6), "PROMO", "PUSH_THEN_SMS", "Bench", "Welcome!")
            ids.append(service.create(partner.id, r)[0].id)
        _tick_ms(world, 2)  # activation and start
        twin = World.build(config)  # same people making the same moves, without campaigns
        twin.advance(world.clock.now - twin.clock.now)
        count = "SELECT COUNT(*) FROM campaign_records"
        store.drain()
        rows_before = store.conn.execute(count).fetchone()[0]
        plain = _tick_ms(twin, 30)  # one world after the other: interleaved, each would evict the other's cache
        with_campaigns = _tick_ms(world, 30)
        if not np.array_equal(world.cell, twin.cell):
            raise SystemExit("the twin world diverged: campaigns must not change how people move")
        store.drain()
        rows_per_tick = (store.conn.execute(count).fetchone()[0] - rows_before) / 30
        overhead = statistics.mean(with_campaigns) - statistics.mean(plain)
        emit("enters_100_campaigns_tick_overhead_ms", overhead, statistics.mean(plain), 20.0, "ms",
             tick_with_ms=round(statistics.mean(with_campaigns), 2), campaigns=len(ids),
             records_per_tick=round(rows_per_tick))
        store.close()


if __name__ == "__main__":
    main()
