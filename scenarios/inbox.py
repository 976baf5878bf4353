"""A fake partner webhook receiver: a real aiohttp server on 127.0.0.1 (port 0) that records every POST.

Owns what a partner's endpoint would see: path, the headers that matter (content type, CloudEvents ``ce-*``,
signatures) and the body, in arrival order. It answers ``2xx`` by default; a status per path can be set to
exercise the gateway's retries. It must not know about the gateway's internals: it only receives HTTP.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

KEPT_HEADERS = ("content-type", "authorization", "x-correlator")
"""Headers recorded besides every ``ce-*`` and ``*-signature`` header."""


@dataclass(frozen=True)
class ReceivedWebhook:
    """One POST as the partner's server saw it."""

    seq: int
    path: str
    headers: dict[str, str]
    body: Any
    status: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form (no arrival sequence: arrival order is network timing, not simulation)."""
        return {"path": self.path, "headers": self.headers, "body": self.body, "status": self.status}


@dataclass
class WebhookInbox:
    """Start with :meth:`start`, point webhook sinks at :meth:`url`, read :attr:`received`, :meth:`stop` at the end."""

    host: str = "127.0.0.1"
    received: list[ReceivedWebhook] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _base: str = ""
    _last_arrival: float = 0.0

    async def start(self) -> str:
        """Listen on a free port; returns the base URL."""
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self._base = f"http://{self.host}:{port}"
        return self._base

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def url(self, path: str = "/hooks") -> str:
        """Full URL of a sink path on this receiver."""
        if not self._base:
            raise RuntimeError("the inbox is not started")
        return self._base + (path if path.startswith("/") else "/" + path)

    def respond_with(self, path: str, status: int) -> None:
        """Answer POSTs to ``path`` with ``status`` from now on (e.g. 503 to make the gateway retry)."""
        self.statuses[path] = status

    def on(self, path: str) -> list[ReceivedWebhook]:
        """What arrived at one path."""
        return [r for r in self.received if r.path == path]

    async def settle(self, busy: Callable[[], Awaitable[bool]] | None = None, *, quiet_s: float = 0.05,
                     timeout_s: float = 5.0, poll_s: float = 0.005) -> bool:
        """Wait (wall time: network I/O) until what was sent has arrived, at most ``timeout_s``; False on timeout.

        With ``busy``, a probe of the sender's outbox that is true while some stored event has not been attempted
        yet, wait until it says no: every event stored by then has been POSTed here, and this receiver records a
        POST before answering it, so it is in :attr:`received`. Events in retry back-off are not waited for.
        Without a probe (a sender one cannot ask), wait until nothing has arrived for ``quiet_s``.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if busy is not None:
                if not await busy():
                    return True
                await asyncio.sleep(poll_s)
                continue
            idle = time.monotonic() - self._last_arrival
            if idle >= quiet_s:
                return True
            await asyncio.sleep(quiet_s - idle)
        return False

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in request.headers.items()
                   if k.lower() in KEPT_HEADERS or k.lower().startswith("ce-") or k.lower().endswith("signature")}
        status = self.statuses.get(request.path, 204)
        self.received.append(ReceivedWebhook(len(self.received), request.path, headers, body, status))
        self._last_arrival = time.monotonic()
        return web.Response(status=status)
