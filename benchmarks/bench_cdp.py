"""CDP figures: tracking ingest over HTTP (``/v1/batch``) against a trivial JSON handler, app events through
``CdpService.ingest_app_events``, and the audience update per simulated tick at 1M profiles (against
re-evaluating every profile's memberships, as an update that did not track what each tick touched would).

Prints one JSON line per figure (see :mod:`benchmarks._report`). ``--profiles`` sets the size of the audience
figure (default 1,000,000). The HTTP figure runs both servers on 127.0.0.1:0 in this process with the same client
load; every request carries 100 calls with fresh message ids (de-duplication is on the path, as for a real library).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from benchmarks._load import CONCURRENCY, baseline_app, partner_auth, serve
from benchmarks._report import emit
from gateway.core.settings import Settings
from gateway.core.store import Store
from gateway.http.app import create_app
from gateway.services.apps.events import APP_EVENT_CODE, AppEventBatch
from gateway.services.apps.model import AppSpec
from gateway.services.apps.repository import AppRepository
from gateway.services.apps.service import AppService
from gateway.services.cdp.repository import CdpRepository
from gateway.services.cdp.service import CdpService
from simulator.clock import to_micros
from simulator.world import World, WorldConfig

PER_REQUEST = 100
REQUESTS = 400
AUDIENCES: list[dict[str, Any]] = [
    {"event": "Order Completed", "withinDays": 30},
    {"and": [{"event": "Product Viewed", "where": [{"property": "category", "op": "eq", "value": "FASHION"}],
              "withinDays": 7, "atLeast": 2}, {"not": {"event": "Order Completed", "withinDays": 7}}]},
    {"or": [{"trait": "plan", "op": "eq", "value": "gold"},
            {"event": "Order Completed", "where": [{"property": "revenue", "op": "gte", "value": 50}],
             "withinDays": 14}]},
]
TRACK_NAMES = ("Product Viewed", "Product Added", "Order Completed")


def _batches(requests: int, tag: str) -> list[bytes]:
    rng = np.random.default_rng(7)
    out = []
    for r in range(requests):
        users = rng.integers(0, 50_000, PER_REQUEST)
        names = rng.integers(0, len(TRACK_NAMES), PER_REQUEST)
        out.append(json.dumps({"batch": [
            {"type": "track", "userId": f"user-{int(u)}", "event": TRACK_NAMES[int(n)], "messageId": f"{tag}-{r}-{i}",
             "properties": {"category": "FASHION", "revenue": 30}}
            for i, (u, n) in enumerate(zip(users, names, strict=True))]}).encode())
    return out


async def _post_all(url: str, headers: dict[str, str], bodies: list[bytes]) -> float:
    """Events per second of posting every (encoded) body with ``CONCURRENCY`` requests in flight."""
    headers = {**headers, "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        queue = list(reversed(bodies))

        async def worker() -> None:
            while queue:
                body = queue.pop()
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"{url} answered {resp.status}: {await resp.text()}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return len(bodies) * PER_REQUEST / (time.perf_counter() - started)


async def http_ingest(tmp: Path) -> None:
    """Events/s through ``POST /v1/batch`` (three audiences defined) vs a handler that only parses the JSON."""
    world = World.build(WorldConfig(city="berlin", subscribers=2000, seed=1))
    gateway, gw_url = await serve(create_app(world, Settings(db_path=tmp / "bench.db", admin_token="adm", port=0)))
    bare, bare_url = await serve(baseline_app("POST", "/v1/batch", {"success": True}, parse_json=True))
    try:
        async with aiohttp.ClientSession() as session:
            auth = await partner_auth(session, gw_url, ["cdp:read", "cdp:write"])
            async with session.post(f"{gw_url}/cdp/v1/sources", json={"name": "bench"}, headers=auth) as resp:
                key = (await resp.json())["writeKey"]
            for i, definition in enumerate(AUDIENCES):
                async with session.post(f"{gw_url}/cdp/v1/audiences", json={"name": f"a{i}",
                                                                             "definition": definition},
                                        headers=auth) as resp:
                    assert resp.status == 201, await resp.text()
        basic = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
        await _post_all(f"{gw_url}/v1/batch", basic, _batches(50, "warm"))
        await _post_all(f"{bare_url}/v1/batch", {}, _batches(50, "warm"))
        best = base = 0.0
        for rnd in range(3):
            best = max(best, await _post_all(f"{gw_url}/v1/batch", basic, _batches(REQUESTS, f"r{rnd}")))
            base = max(base, await _post_all(f"{bare_url}/v1/batch", {}, _batches(REQUESTS, f"r{rnd}")))
    finally:
        await gateway.cleanup()
        await bare.cleanup()
    emit("tracking_batch_events_per_s", best, base, 10_000, "events/s", better="higher",
         per_request=PER_REQUEST, concurrency=CONCURRENCY)


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def app_events(tmp: Path, profiles: int) -> None:
    """``ingest_app_events`` throughput, then the per-tick audience update over ``profiles`` profiles."""
    world = World.build(WorldConfig(city="berlin", subscribers=2000, seed=1))
    clock = [datetime(2025, 6, 2, 8, tzinfo=UTC)]
    now: Callable[[], datetime] = lambda: clock[0]  # noqa: E731
    store = Store(tmp / "apps.db")
    app_repo, cdp_repo = AppRepository(store), CdpRepository(store)
    store.open()
    apps = AppService(world, app_repo, now)
    cdp = CdpService(cdp_repo, apps, now, 10)
    partner, _, _ = store.create_partner("bench", (), {}, "2025-06-02T08:00:00Z")
    app = apps.register(partner.id, AppSpec("Shoply", ("ANDROID", "IOS"), ("SHOPPING", "FASHION"), 0.5, 6000))
    audiences = [cdp.create_audience(partner.id, f"a{i}", d) for i, d in enumerate(AUDIENCES)]
    rng = np.random.default_rng(3)
    seq = [0]
    codes = np.array([APP_EVENT_CODE[n] for n in ("Application Opened", "Product Viewed", "Product Added",
                                                  "Order Completed")], np.uint8)

    def batch(rows: np.ndarray, times: np.ndarray) -> AppEventBatch:
        n = len(rows)
        ev = codes[rng.choice(len(codes), n, p=[0.4, 0.4, 0.12, 0.08])]
        out = AppEventBatch(app.seq, np.arange(seq[0], seq[0] + n, dtype=np.int64), times.astype(np.int64),
                            rows.astype(np.int64), ev, rng.integers(-1, 2, n).astype(np.int16),
                            np.where(ev == APP_EVENT_CODE["Order Completed"], rng.integers(500, 9000, n), 0))
        seq[0] += n
        return out

    now_us = to_micros(clock[0])
    # First sight of every install: each row's user id and installation id resolve to a new profile.
    first = _timed(lambda: cdp.ingest_app_events(batch(np.arange(profiles), np.full(profiles, now_us))))
    # A month of history (events spread over the last 30 days), so every tick has events leaving windows.
    history = 3 * profiles
    spread = now_us - rng.integers(0, 30 * 86_400_000_000, history)
    hist_s = 0.0
    for chunk in range(0, history, 200_000):
        times = np.sort(spread[chunk:chunk + 200_000])
        rows = rng.integers(0, profiles, len(times))
        started = time.perf_counter()
        cdp.ingest_app_events(batch(rows, times))
        hist_s += time.perf_counter() - started
    drain_s = _timed(store.drain)  # the log's writer catches up (it runs beside ingestion, off the tick)
    emit("app_events_per_s", history / hist_s, None, 10_000, "events/s", better="higher", events=history,
         profiles=profiles, first_sight_s=round(first, 2), log_catch_up_s=round(drain_s, 2))
    # Ticks of one simulated minute, each with a minute of app events (2,000) arriving.
    cdp.on_step(clock[0])  # sorts the history into the window queues once
    ingest_ms, step_ms = [], []
    for _ in range(60):
        clock[0] += timedelta(minutes=1)
        t_us = to_micros(clock[0])
        tick = batch(rng.integers(0, profiles, 2000), np.sort(t_us - rng.integers(0, 60_000_000, 2000)))
        ingest_ms.append(1000 * _timed(lambda: cdp.ingest_app_events(tick)))  # noqa: B023 - called at once
        step_ms.append(1000 * _timed(lambda: cdp.on_step(clock[0])))
        store.drain()  # each tick's log rows written before the next (a steady state, not a backlog)
    store.close()
    sizes = [cdp.size(a) for a in audiences]
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # Baseline: every profile re-evaluated from the same window counts, as an update without the set of profiles
    # the tick's events touched would have to (a lower bound for a CDP that recounts; the memberships stay equal).
    full_ms = 1000 * _timed(cdp.recompute_memberships)
    assert [cdp.size(a) for a in audiences] == sizes
    emit("audience_tick_ms", float(np.mean(step_ms)), full_ms, 50, "ms", profiles=profiles,
         worst_ms=round(max(step_ms), 2), ingest_2000_events_ms=round(float(np.mean(ingest_ms)), 2),
         audiences=len(audiences), members=sizes, peak_rss_mb=round(rss_mb))
    # A restart: the same store opened again, profiles and memberships rebuilt by replaying the whole log.
    del cdp, apps
    gc.collect()
    store = Store(tmp / "apps.db")
    app_repo, cdp_repo = AppRepository(store), CdpRepository(store)
    store.open()
    apps = AppService(world, app_repo, now)
    cdp = CdpService(cdp_repo, apps, now, 10)
    apps.resume()
    replay_s = _timed(cdp.resume)
    assert [cdp.size(a) for a in audiences] == sizes  # the replay rebuilds the same memberships
    store.close()
    emit("cdp_restart_replay_s", replay_s, None, None, "s", events=seq[0], profiles=profiles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(http_ingest(Path(tmp)))
        app_events(Path(tmp), args.profiles)


if __name__ == "__main__":
    main()
