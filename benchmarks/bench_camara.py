"""CAMARA figures: location-verification requests/s against a trivial aiohttp JSON handler (1,000,000-subscriber
world), per-tick cost of 10,000 active geofencing subscriptions, and webhook throughput to a local receiver.

Run as ``python -m benchmarks.bench_camara``; prints one JSON line per figure (``benchmarks._report.emit``).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from aiohttp import web

from benchmarks._load import CONCURRENCY, baseline_app, best_rates, partner_auth, serve
from benchmarks._report import emit
from gateway.core.settings import MIN_RADIUS_M, Settings
from gateway.core.store import Store
from gateway.core.webhooks import Outbox, OutboxEvent, WebhookSecrets, WebhookSender, cloud_event
from gateway.http.app import create_app
from gateway.services.camara.geofencing import AREA_ENTERED, VERSIONS, GeofenceSpec, GeofencingService
from gateway.wire.camara.areas import Circle
from simulator.world import World, WorldConfig

REQUESTS = 3000
ROUNDS = 3
SUBSCRIPTIONS = 10_000
TICKS = 30
EVENTS = 5000


def _located(world: World) -> int:
    idx = np.arange(100_000)
    ok = world.is_reachable(idx) & world.consent.is_permitted(idx, "LOCATION_SHARING", None)
    return int(np.flatnonzero(ok & (world.serving_cells(idx) >= 0))[0])


async def verification_rps(world: World, tmp: Path) -> None:
    """POST /location-verification/v3/verify (token, device, consent, cell geometry) vs a bare JSON handler."""
    gateway, url = await serve(create_app(world, Settings(db_path=tmp / "bench.db", admin_token="adm", port=0,
                                                          access_log=False)))
    bare, bare_url = await serve(baseline_app("POST", "/verify", {
        "verificationResult": "TRUE", "lastLocationTime": "2026-06-01T06:00:00Z"}, parse_json=True))
    i = _located(world)
    loc = world.locate(i)
    body = {"device": {"phoneNumber": world.msisdn_of(i)},
            "area": {"areaType": "CIRCLE", "center": {"latitude": loc.cell_latitude,
                                                      "longitude": loc.cell_longitude}, "radius": 2000}}
    try:
        async with aiohttp.ClientSession() as session:
            auth = await partner_auth(session, url, ["location-verification:verify"])
        best, baseline = await best_rates((f"{url}/location-verification/v3/verify", auth), (f"{bare_url}/verify", {}),
                                          REQUESTS, ROUNDS, body)
    finally:
        await gateway.cleanup()
        await bare.cleanup()
    emit("location_verification_rps", best, baseline, None, "requests/s", better="higher",
         ratio_target=0.4, ratio_met=best / baseline >= 0.4, subscribers=world.population.size,
         requests=REQUESTS, concurrency=CONCURRENCY)


def geofencing_tick_ms(world: World, tmp: Path) -> None:
    """Time spent evaluating 10,000 geofences per tick (the cell-change listener), over busy morning ticks."""
    # The app of the previous figure left its listeners on the world; this figure measures geofencing alone.
    world._step_listeners.clear()
    world._cell_listeners.clear()
    world._consent_listeners.clear()
    store = Store(tmp / "geo.db")
    store.open()
    store.conn.execute("INSERT INTO partners(id, name, scopes, limits, created_at) VALUES (1, 'b', '[]', '{}', 'x')")
    outbox = Outbox(store)
    service = GeofencingService(world, store, outbox, MIN_RADIUS_M)
    rng = np.random.default_rng(7)
    subs = rng.choice(world.population.size, SUBSCRIPTIONS, replace=False)
    cells = rng.choice(world.network.n_cells, 200, replace=False)
    lat, lon = world.city.projection.to_latlon(world.network.cell_x[cells], world.network.cell_y[cells])
    areas = [Circle(area_type="CIRCLE", center={"latitude": float(a), "longitude": float(b)}, radius=1500.0)
             for a, b in zip(lat, lon, strict=True)]
    version = VERSIONS["v0.5"]
    for k, sub in enumerate(subs.tolist()):
        area = areas[k % len(areas)]
        service.create(1, version, GeofenceSpec(
            event_type=AREA_ENTERED, subscriber=sub, device=None, area=area.model_dump(mode="json", by_alias=True),
            sink="https://127.0.0.1:9/x", sink_token=None, expire_time=None, max_events=None, initial_event=False))
    spent = [0.0]
    inner = service.on_cell_change

    def timed(now: Any, s: Any, old: Any, new: Any) -> None:
        t0 = time.perf_counter()
        inner(now, s, old, new)
        spent[0] += time.perf_counter() - t0

    world._cell_listeners = [timed if fn == inner else fn for fn in world._cell_listeners]
    world.run_until(world.clock.now + (world.tick * 60))  # into the morning rush
    spent[0] = 0.0
    t_world = time.perf_counter()
    for _ in range(TICKS):
        world.step()
    total = (time.perf_counter() - t_world) / TICKS * 1000
    issued = len(outbox.events(limit=1_000_000))
    store.close()
    emit("geofencing_tick_ms", spent[0] / TICKS * 1000, total, 5.0, "ms/tick", subscriptions=service.active_count(),
         events_issued=issued, note="baseline = whole world tick, listener included")


async def webhook_throughput(tmp: Path) -> None:
    """Events per second from the outbox to a local receiver (100 subscriptions, in order within each)."""
    received = [0]
    done = asyncio.Event()

    async def sink(request: web.Request) -> web.Response:
        await request.read()
        received[0] += 1
        if received[0] >= EVENTS:
            done.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/events", sink)
    runner, url = await serve(app)
    store = Store(tmp / "hooks.db")
    store.open()
    store.conn.execute("INSERT INTO partners(id, name, scopes, limits, created_at) VALUES (1, 'b', '[]', '{}', 'x')")
    settings = Settings(db_path=tmp / "hooks.db", webhook_concurrency=64, webhook_poll_s=0.01)
    outbox = Outbox(store)
    secrets_ = WebhookSecrets(store, lambda: world_now)
    sender = WebhookSender(outbox, secrets_, settings)
    from datetime import UTC, datetime
    world_now = datetime(2026, 6, 1, tzinfo=UTC)
    events = [OutboxEvent(f"e{k}", f"s{k % 100}", 1, "t", f"{url}/events", "tok",
                          cloud_event(f"e{k}", "/bench", "t", world_now, {"k": k}), world_now) for k in range(EVENTS)]
    outbox.add(events)
    started = time.perf_counter()
    task = asyncio.create_task(sender.run())
    await asyncio.wait_for(done.wait(), 120)
    elapsed = time.perf_counter() - started
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await runner.cleanup()
    store.close()
    emit("webhook_events_per_s", EVENTS / elapsed, None, 1000.0, "events/s", better="higher", events=EVENTS,
         subscriptions=100)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        world = World.build(WorldConfig(subscribers=1_000_000))
        print(f"# 1,000,000-subscriber world built in {time.perf_counter() - started:.1f} s", flush=True)
        await verification_rps(world, Path(tmp))
        geofencing_tick_ms(world, Path(tmp))
        await webhook_throughput(Path(tmp))


if __name__ == "__main__":
    asyncio.run(main())
