"""A served operator on loopback: gateway, partner webhook receiver and admin client, started together.

The gateway for a world listens on 127.0.0.1 (port 0). This module owns the start/stop sequence of what a
scenario or the demo talks to. The gateway is served by a real aiohttp
``AppRunner``/``TCPSite`` and reached over HTTP only; the clock is manual, so only the caller moves time. The
SQLite database lives in a temporary directory unless a path is given. It must not drive the scenario itself.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from gateway.client import AdminClient, PartnerClient
from gateway.core.settings import CampaignSettings, Settings
from gateway.http.app import GatewayRunner, create_app
from scenarios.inbox import WebhookInbox
from simulator.world import World


@dataclass
class Stack:
    """What a running scenario holds: the world (operator-side truth), the gateway URL, clients and the inbox."""

    world: World
    base_url: str
    admin: AdminClient
    inbox: WebhookInbox

    def partner_client(self, client_id: str, client_secret: str, scopes: list[str] | None = None) -> PartnerClient:
        """A partner's client for this gateway (use it as an async context manager)."""
        return PartnerClient(self.base_url, client_id, client_secret, scopes)


@asynccontextmanager
async def serve(world: World, db_path: Path | None = None,
                campaigns: CampaignSettings | None = None) -> AsyncIterator[Stack]:
    """Serve ``world`` on 127.0.0.1 with a manual clock, start the webhook receiver, yield the :class:`Stack`."""
    with tempfile.TemporaryDirectory(prefix="opsim-scenario-") as tmp:
        settings = Settings(host="127.0.0.1", port=0, db_path=db_path or Path(tmp) / "opsim.db",
                            admin_token="adm_" + secrets.token_urlsafe(18), clock_mode="manual", access_log=False,
                            campaigns=campaigns or CampaignSettings())
        runner = GatewayRunner(create_app(world, settings), access_log=None)
        await runner.setup()
        inbox = WebhookInbox()
        try:
            site = web.TCPSite(runner, settings.host, 0)
            await site.start()
            base_url = f"http://{settings.host}:{runner.addresses[0][1]}"
            await inbox.start()
            async with AdminClient(base_url, settings.admin_token) as admin:
                yield Stack(world, base_url, admin, inbox)
        finally:
            await inbox.stop()
            await runner.cleanup()
