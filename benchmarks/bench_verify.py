"""Authentication codes under load: 500 verifications per second started and 500 per second checked.

Open loop: every second of wall time, 500 ``POST /verify/v1/verifications`` (SMS) go out at even 2 ms spacing,
alongside the 500 ``/check`` calls (right code) of the previous second's verifications; between seconds the
simulated clock advances one minute through the admin API so that the codes arrive, and the benchmark reads them
from the device inboxes in-process (the integrator's admin inbox read is not part of the measured flow).
Server-side latency is measured by a first middleware around everything (auth, store, world); the baseline is a
trivial aiohttp JSON handler taking the same load, with the same middleware, in the same run.

Run as ``python -m benchmarks.bench_verify``; prints one JSON line (``benchmarks._report.emit``).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from aiohttp import web

from benchmarks._load import ADMIN, baseline_app, partner_auth, serve
from benchmarks._report import emit
from gateway.core.settings import Settings, VerifySettings
from gateway.http.app import create_app
from simulator.world import World, WorldConfig

RATE = 500
SECONDS = 6
SUBSCRIBERS = 20_000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def timing(samples: list[float]) -> Any:
    @web.middleware
    async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            if not request.path.startswith("/admin"):
                samples.append((time.perf_counter() - started) * 1000.0)

    return measure


async def _paced(calls: list[Callable[[], Coroutine[Any, Any, None]]], per_second: int) -> None:
    """Start ``calls`` at ``per_second`` (open loop: every call due by now is started, late ones at once)."""
    started = time.perf_counter()
    tasks: list[asyncio.Task[None]] = []
    while len(tasks) < len(calls):
        due = min(len(calls), int((time.perf_counter() - started) * per_second) + 1)
        tasks.extend(asyncio.create_task(call()) for call in calls[len(tasks):due])
        await asyncio.sleep(0.001)
    await asyncio.gather(*tasks)


async def run(tmp: Path) -> dict[str, Any]:
    world = World.build(WorldConfig(city="berlin", subscribers=SUBSCRIBERS, seed=3))
    rules = VerifySettings(number_limit=1000, partner_limit=None, sequential_burst=10**9, roaming_burst=10**9)
    settings = Settings(db_path=tmp / "verify.db", admin_token="adm", port=0, access_log=False, verify=rules)
    gw_samples: list[float] = []
    app = create_app(world, settings)
    app.middlewares.insert(0, timing(gw_samples))
    base_samples: list[float] = []

    bare_app = baseline_app("POST", "/verify", {"id": "vrf_00000001", "status": "PENDING"},
                            middlewares=(timing(base_samples),))
    gateway, url = await serve(app)
    bare, bare_url = await serve(bare_app)
    rng = np.random.default_rng(0)
    numbers = world.msisdns(rng.permutation(SUBSCRIBERS)[: RATE * SECONDS])
    failures = undelivered = 0
    try:
        connector = aiohttp.TCPConnector(limit=256)
        async with aiohttp.ClientSession(connector=connector) as session:
            auth = await partner_auth(session, url, ["verify"])

            async def start(msisdn: str, out: dict[str, str]) -> None:
                nonlocal failures
                async with session.post(f"{url}/verify/v1/verifications", json={"phoneNumber": msisdn,
                                        "channel": "SMS"}, headers=auth) as r:
                    body = await r.json()
                    if r.status not in (200, 201):
                        failures += 1
                        return
                    out[msisdn] = body["id"]

            async def check(vid: str, code: str) -> None:
                nonlocal failures
                async with session.post(f"{url}/verify/v1/verifications/{vid}/check", json={"code": code},
                                        headers=auth) as r:
                    body = await r.json()
                    if r.status != 200 or body["status"] != "APPROVED":
                        failures += 1

            async def baseline() -> None:
                async with session.post(f"{bare_url}/verify", json={"phoneNumber": "+4930", "channel": "SMS"}) as r:
                    await r.read()

            pending: dict[str, str] = {}
            paced = 0.0
            for second in range(SECONDS + 1):
                batch = numbers[second * RATE:(second + 1) * RATE]
                fresh: dict[str, str] = {}
                calls: list[Callable[[], Coroutine[Any, Any, None]]] = []
                codes = {}
                for msisdn, vid in pending.items():
                    inbox = world.inbox(world.find_subscriber(msisdn))
                    code = next((m["code"] for m in reversed(inbox) if m.get("verificationId") == vid), None)
                    if code is None:  # SMS lost (1 %) or phone out of coverage: the user never gets it
                        undelivered += 1
                    else:
                        codes[vid] = code
                for k in range(max(len(batch), len(codes))):
                    if k < len(batch):
                        calls.append(partial(start, batch[k], fresh))
                    if k < len(codes):
                        vid = list(codes)[k]
                        calls.append(partial(check, vid, codes[vid]))
                t0 = time.perf_counter()
                await _paced(calls, 2 * RATE)
                paced += time.perf_counter() - t0
                async with session.post(f"{url}/admin/v1/clock/advance", json={"seconds": 60}, headers=ADMIN) as r:
                    assert r.status == 200
                pending = fresh
            await _paced([baseline for _ in range(2 * RATE * SECONDS)], 2 * RATE)
    finally:
        await gateway.cleanup()
        await bare.cleanup()
    p99 = float(np.percentile(gw_samples, 99))
    base_p99 = float(np.percentile(base_samples, 99))
    return emit("verify_p99_ms", p99, base_p99, 20.0, "ms", requests=len(gw_samples), offered_per_s=RATE,
                achieved_per_s=round(len(gw_samples) / 2 / paced, 1), failures=failures,
                undelivered=undelivered,
                p50_ms=round(float(np.percentile(gw_samples, 50)), 3),
                baseline_p50_ms=round(float(np.percentile(base_samples, 50)), 3))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp)))


if __name__ == "__main__":
    main()
