"""A real gateway served on 127.0.0.1 from a background event loop, for tests that call it synchronously.

The fuzz and hostile-input tests send requests with ``requests`` (schemathesis' transport, and raw header bytes
that aiohttp's client refuses to send), so the server must run on another thread's loop.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
from aiohttp import web

from gateway.core.settings import Settings
from gateway.http.app import create_app
from gateway.http.camara.geofencing_subscriptions import create_scope
from gateway.services.camara.geofencing import SUBSCRIPTION_TYPES
from simulator.world import World
from tests.gateway.conftest import ADMIN, ADMIN_TOKEN, Wall

T = TypeVar("T")


@dataclass(frozen=True)
class Live:
    """A served gateway and the credentials to call it."""

    url: str
    partner_token: str

    @property
    def partner(self) -> dict[str, str]:
        """Bearer headers of the partner holding every scope."""
        return {"Authorization": f"Bearer {self.partner_token}"}


class BackgroundLoop:
    """One event loop in a daemon thread: servers start and stop on it while tests call them synchronously."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="live-gateway", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def close(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def all_scopes(document: dict[str, Any]) -> list[str]:
    """Every scope a route of ``document`` declares, plus the per-event-type geofencing creation scopes."""
    flows = document["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["scopes"]
    return sorted(set(flows) | {create_scope(kind) for kind in SUBSCRIPTION_TYPES})


@contextmanager
def serve(loop: BackgroundLoop, base_world: World, db: Path, scopes: list[str]) -> Iterator[Live]:
    """A fresh gateway (a copy of ``base_world``, a new store at ``db``) and a token of a partner with ``scopes``."""
    settings = Settings(db_path=db, admin_token=ADMIN_TOKEN, wall_clock=Wall(), port=0, body_limit_bytes=64 * 1024)
    world = copy.deepcopy(base_world)

    async def start() -> web.AppRunner:
        runner = web.AppRunner(create_app(world, settings), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner

    runner = loop.run(start())
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        created = requests.post(f"{url}/admin/v1/partners", json={"name": "fuzz", "scopes": scopes}, headers=ADMIN,
                                timeout=30)
        assert created.status_code == 201, created.text
        creds = created.json()
        token = requests.post(f"{url}/oauth2/token", timeout=30, data={
            "grant_type": "client_credentials", "client_id": creds["clientId"], "client_secret": creds["clientSecret"]})
        assert token.status_code == 200, token.text
        yield Live(url, token.json()["access_token"])
    finally:
        loop.run(runner.cleanup())
