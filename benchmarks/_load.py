"""Load side of the HTTP benchmarks: local servers, the trivial aiohttp baseline, partner tokens, request drivers."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import aiohttp
from aiohttp import web

from gateway.http.serve import freeze_startup_heap

ADMIN = {"Authorization": "Bearer adm"}
CONCURRENCY = 32


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """Run ``app`` on 127.0.0.1 at a free port, its start-up heap frozen as ``opsim serve`` does; the runner (to
    clean up) and the base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    freeze_startup_heap()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


def baseline_app(method: str, path: str, answer: dict[str, Any], *, parse_json: bool = False,
                 middlewares: tuple[Any, ...] = ()) -> web.Application:
    """The baseline: one trivial handler that reads the body (as JSON if ``parse_json``) and answers ``answer``."""

    async def trivial(request: web.Request) -> web.Response:
        if parse_json:
            await request.json()
        else:
            await request.read()
        return web.json_response(answer)

    app = web.Application(middlewares=list(middlewares))
    app.router.add_route(method, path, trivial)
    return app


async def partner_auth(session: aiohttp.ClientSession, url: str, scopes: list[str] | None = None) -> dict[str, str]:
    """Create partner ``bench`` through the admin API and return its bearer header (client-credentials token)."""
    spec: dict[str, Any] = {"name": "bench"} if scopes is None else {"name": "bench", "scopes": scopes}
    async with session.post(f"{url}/admin/v1/partners", json=spec, headers=ADMIN) as resp:
        partner = await resp.json()
    async with session.post(f"{url}/oauth2/token", data={
            "grant_type": "client_credentials", "client_id": partner["clientId"],
            "client_secret": partner["clientSecret"]}) as resp:
        token = (await resp.json())["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def hammer(url: str, headers: dict[str, str], requests: int, body: dict[str, Any] | None = None) -> float:
    """Requests per second of ``requests`` calls (GET, or POST of ``body``) with ``CONCURRENCY`` in flight."""
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        remaining = requests

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                call = session.get(url, headers=headers) if body is None else session.post(url, json=body,
                                                                                           headers=headers)
                async with call as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"{url} answered {resp.status}: {await resp.text()}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return requests / (time.perf_counter() - started)


def _hammer_here(url: str, headers: dict[str, str], requests: int, body: dict[str, Any] | None) -> float:
    """:func:`hammer` on an event loop of its own (the body of a client process)."""
    return asyncio.run(hammer(url, headers, requests, body))


async def best_rates(target: tuple[str, dict[str, str]], baseline: tuple[str, dict[str, str]], requests: int,
                     rounds: int, body: dict[str, Any] | None = None, warm_up: int = 300,
                     client_process: bool = False) -> tuple[float, float]:
    """Best request rate of ``target`` and of ``baseline`` (url, headers) after a warm-up of each.

    The two alternate for ``rounds`` rounds and the best of each is kept, so a noisy moment does not pick the winner.
    With ``client_process`` the requests come from a separate process (as a real client's would), so the servers
    in this process have its core to themselves instead of sharing one event loop with the load; else from this
    event loop.
    """
    if not client_process:
        async def measure(url: str, headers: dict[str, str], n: int) -> float:
            return await hammer(url, headers, n, body)
        return await _alternate(measure, target, baseline, requests, rounds, warm_up)
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        async def measure_apart(url: str, headers: dict[str, str], n: int) -> float:
            return await loop.run_in_executor(pool, _hammer_here, url, headers, n, body)
        return await _alternate(measure_apart, target, baseline, requests, rounds, warm_up)


async def _alternate(measure: Callable[[str, dict[str, str], int], Awaitable[float]],
                     target: tuple[str, dict[str, str]], baseline: tuple[str, dict[str, str]],
                     requests: int, rounds: int, warm_up: int) -> tuple[float, float]:
    for url, headers in (target, baseline):
        await measure(url, headers, warm_up)
    target_best = baseline_best = 0.0
    for _ in range(rounds):
        target_best = max(target_best, await measure(*target, requests))
        baseline_best = max(baseline_best, await measure(*baseline, requests))
    return target_best, baseline_best
