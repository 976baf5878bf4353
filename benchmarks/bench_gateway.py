"""Gateway figures: authenticated request rate against a bare aiohttp handler, and default-world start-up time.

Prints one JSON line per figure: {"figure", "value", "baseline", "ratio", "target", ...}.
Both servers run on 127.0.0.1:0 in this process and take the same concurrent aiohttp client load.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from gateway.app import create_app
from gateway.settings import Settings
from simulator.world import World, WorldConfig

REQUESTS = 2000
CONCURRENCY = 32
ROUNDS = 3


async def _hammer(url: str, headers: dict[str, str], requests: int = REQUESTS) -> float:
    """Requests per second of ``requests`` GETs with ``CONCURRENCY`` in flight."""
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        remaining = requests

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                async with session.get(url, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"{url} answered {resp.status}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return requests / (time.perf_counter() - started)


async def _start(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def auth_rps(tmp: Path) -> dict[str, Any]:
    """GET /partner/v1/me with a bearer token vs a trivial JSON handler."""
    world = World.build(WorldConfig(city="berlin", subscribers=2000, seed=1))
    gateway, gw_url = await _start(create_app(world, Settings(db_path=tmp / "bench.db", admin_token="adm", port=0)))

    async def trivial(request: web.Request) -> web.Response:
        return web.json_response({"id": "ptn_000001", "name": "bench", "scopes": [], "credential": "token"})

    bare_app = web.Application()
    bare_app.router.add_get("/partner/v1/me", trivial)
    bare, bare_url = await _start(bare_app)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{gw_url}/admin/v1/partners", json={"name": "bench"},
                                    headers={"Authorization": "Bearer adm"}) as resp:
                partner = await resp.json()
            async with session.post(f"{gw_url}/oauth2/token", data={
                    "grant_type": "client_credentials", "client_id": partner["clientId"],
                    "client_secret": partner["clientSecret"]}) as resp:
                token = (await resp.json())["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        await _hammer(f"{gw_url}/partner/v1/me", auth, 300)  # warm-up
        await _hammer(f"{bare_url}/partner/v1/me", {}, 300)
        gateway_best = baseline_best = 0.0
        for _ in range(ROUNDS):  # alternate, keep the best of each, so a noisy moment does not pick the winner
            gateway_best = max(gateway_best, await _hammer(f"{gw_url}/partner/v1/me", auth))
            baseline_best = max(baseline_best, await _hammer(f"{bare_url}/partner/v1/me", {}))
    finally:
        await gateway.cleanup()
        await bare.cleanup()
    return {"figure": "auth_rps", "value": round(gateway_best, 1), "baseline": round(baseline_best, 1),
            "ratio": round(gateway_best / baseline_best, 3), "target": 0.5, "requests": REQUESTS,
            "concurrency": CONCURRENCY}


async def startup_seconds(tmp: Path) -> dict[str, Any]:
    """Default world (100,000 subscribers) built, store opened, first /health answered."""
    started = time.perf_counter()
    world = World.build(WorldConfig())
    built = time.perf_counter() - started
    runner, url = await _start(create_app(world, Settings(db_path=tmp / "startup.db", admin_token="adm", port=0)))
    try:
        async with aiohttp.ClientSession() as session, session.get(f"{url}/health") as resp:
            assert resp.status == 200
        ready = time.perf_counter() - started
    finally:
        await runner.cleanup()
    return {"figure": "startup_seconds", "value": round(ready, 2), "baseline": None, "ratio": None, "target": 10.0,
            "world_build_seconds": round(built, 2), "subscribers": world.summary()["subscribers"]}


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(await auth_rps(Path(tmp))), flush=True)
        print(json.dumps(await startup_seconds(Path(tmp))), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
