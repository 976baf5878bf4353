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

from benchmarks._load import CONCURRENCY, baseline_app, best_rates, partner_auth, serve
from gateway.core.settings import Settings
from gateway.http.app import create_app
from simulator.world import World, WorldConfig

REQUESTS = 2000
ROUNDS = 3


async def auth_rps(tmp: Path) -> dict[str, Any]:
    """GET /partner/v1/me with a bearer token vs a trivial JSON handler."""
    world = World.build(WorldConfig(city="berlin", subscribers=2000, seed=1))
    gateway, gw_url = await serve(create_app(world, Settings(db_path=tmp / "bench.db", admin_token="adm", port=0)))
    bare, bare_url = await serve(baseline_app("GET", "/partner/v1/me", {
        "id": "ptn_000001", "name": "bench", "scopes": [], "credential": "token"}))
    try:
        async with aiohttp.ClientSession() as session:
            auth = await partner_auth(session, gw_url)
        gateway_best, baseline_best = await best_rates((f"{gw_url}/partner/v1/me", auth),
                                                       (f"{bare_url}/partner/v1/me", {}), REQUESTS, ROUNDS)
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
    runner, url = await serve(create_app(world, Settings(db_path=tmp / "startup.db", admin_token="adm", port=0)))
    try:
        async with aiohttp.ClientSession() as session, session.get(f"{url}/health") as resp:
            assert resp.status == 200
        ready = time.perf_counter() - started
    finally:
        await runner.cleanup()
    return {"figure": "startup_seconds", "value": round(ready, 2), "baseline": None, "ratio": None, "target": 10.0,
            "world_build_seconds": round(built, 2), "subscribers": world.summary().subscribers}


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(await auth_rps(Path(tmp))), flush=True)
        print(json.dumps(await startup_seconds(Path(tmp))), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
