"""A real ``opsim serve`` killed (``kill -9``, SIGTERM) during clock advances and restarted on its database issues
exactly the events, ids and recipients of an uninterrupted run (webhooks are at-least-once: a repeated POST of
the same event id is allowed)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from pytest_aiohttp import AiohttpServer

from simulator.world import World
from tests.gateway.camara_helpers import Sink, start_sink
from tests.gateway.conftest import TINY, a_msisdn

TOKEN = "crash-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
START = datetime.fromisoformat("2026-06-01T06:00:00+00:00")
STEPS = [START + timedelta(minutes=30 * k) for k in range(1, 8)]  # 06:30 ... 09:30
CENTRE = {"latitude": 52.52, "longitude": 13.405}
ENTERED = "org.camaraproject.geofencing-subscriptions.v0.area-entered"
LEFT = "org.camaraproject.geofencing-subscriptions.v0.area-left"
SCOPES = [f"geofencing-subscriptions:{ENTERED}:create", f"geofencing-subscriptions:{LEFT}:create",
          "geofencing-subscriptions:read", "campaigns:read", "campaigns:write", "journeys:read", "journeys:write",
          "messages:send", "messages:read"]
CONFIG = "webhook_poll_s: 0.01\nwebhook_backoff_base_s: 0.05\nwebhook_backoff_max_s: 0.2\n"
SINK_CREDENTIAL = {"credentialType": "ACCESSTOKEN", "accessToken": "sink-token",
                   "accessTokenExpiresUtc": "2030-01-01T00:00:00Z", "accessTokenType": "bearer"}


def instant(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@dataclass
class Server:
    """One ``opsim serve`` process on a database (started again on the same one after a crash)."""

    db: Path
    config: Path
    proc: asyncio.subprocess.Process | None = None
    url: str = ""
    session: aiohttp.ClientSession = field(default_factory=aiohttp.ClientSession)

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.http.serve", "--city", TINY.city, "--subscribers", str(TINY.subscribers),
            "--seed", str(TINY.seed), "--port", "0", "--db", str(self.db), "--clock", "manual",
            "--admin-token", TOKEN, "--config", str(self.config),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        assert self.proc.stdout is not None
        lines = [(await asyncio.wait_for(self.proc.stdout.readline(), 60)).decode() for _ in range(2)]
        self.url = lines[1].split()[-1]

    async def stop(self, sig: int) -> None:
        """Send ``sig`` and wait for the process to end."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        await asyncio.wait_for(self.proc.wait(), 60)

    async def call(self, method: str, path: str, headers: dict[str, str] | None = None, status: int = 200,
                   **kwargs: Any) -> Any:
        async with self.session.request(method, self.url + path, headers=headers or ADMIN, **kwargs) as resp:
            assert resp.status == status, await resp.text()
            return None if resp.status == 204 else await resp.json()

    async def advance_to(self, t: datetime) -> None:
        await self.call("POST", "/admin/v1/clock/advance", json={"to": instant(t)})


async def setup(server: Server, sink: Sink, world: World) -> dict[str, str]:
    """A partner with geofences on 40 devices, an ENTERS campaign and an AREA_ENTERED journey at the centre, and
    event subscriptions of both to the sink; returns the campaign and journey ids."""
    partner = await server.call("POST", "/admin/v1/partners", json={"name": "acme", "scopes": SCOPES}, status=201)
    async with server.session.post(server.url + "/oauth2/token", data={
            "grant_type": "client_credentials", "client_id": partner["clientId"],
            "client_secret": partner["clientSecret"]}) as resp:
        bearer = {"Authorization": f"Bearer {(await resp.json())['access_token']}"}
    sender = await server.call("POST", "/messages/v1/senders", bearer, 201, json={"name": "Acme"})
    await server.call("POST", f"/admin/v1/message-senders/{sender['id']}/decision", json={"decision": "APPROVED"})
    watched = [i for i in range(TINY.subscribers) if world.consent.is_permitted(i, "LOCATION_SHARING", None)][:40]
    for i in watched:
        # Half watch their own neighbourhood (left on the way to work), half the centre (entered by commuters).
        home = world.locate(i)
        centre = {"latitude": home.latitude, "longitude": home.longitude} if i % 2 else CENTRE
        area = {"areaType": "CIRCLE", "center": centre, "radius": 800 if i % 2 else 2500}
        await server.call("POST", "/geofencing-subscriptions/v0.5/subscriptions", bearer, 201, json={
            "protocol": "HTTP", "sink": sink.url, "types": [LEFT if i % 2 else ENTERED],
            "sinkCredential": SINK_CREDENTIAL, "config": {
                "subscriptionDetail": {"device": {"phoneNumber": a_msisdn(world, i)}, "area": area},
                "initialEvent": True}})
    for feed in ("campaigns", "journeys"):
        await server.call("POST", f"/{feed}/v1/subscriptions", bearer, 201,
                          json={"sink": sink.url, "sinkCredential": SINK_CREDENTIAL})
    area = {"areaType": "CIRCLE", "center": CENTRE, "radius": 3000}
    campaign = await server.call("POST", "/campaigns/v1/campaigns", bearer, 201, json={
        "name": "Commute", "targeting": {"areas": [area], "locationMode": "ENTERS"},
        "schedule": {"startTime": instant(START), "endTime": instant(STEPS[-1] - timedelta(minutes=45))},
        "message": {"kind": "INFORMATIONAL", "channel": "SMS", "senderName": "Acme", "text": "Road works ahead"}})
    journey = await server.call("POST", "/journeys/v1/journeys", bearer, 201, json={
        "name": "Welcome", "senderName": "Acme", "stop": {"onAreaExit": True},
        "trigger": {"type": "AREA_ENTERED", "area": {"areaType": "CIRCLE", "center": CENTRE, "radius": 2000}},
        "steps": [{"kind": "INFORMATIONAL", "channel": "SMS", "text": "Hi"},
                  {"kind": "INFORMATIONAL", "channel": "SMS", "text": "Still here?", "delaySeconds": 1800}]})
    return {"campaign": campaign["id"], "journey": journey["id"]}


async def outcome(server: Server, sink: Sink, ids: dict[str, str]) -> dict[str, Any]:
    """Once the outbox is empty: the events received (by id, each id's copies identical), the outbox, the
    campaign's deliveries and the journey's recipients."""
    deadline = time.monotonic() + 30
    while True:
        counts = await server.call("GET", "/admin/v1/webhooks/counts")
        if counts["pending"] == counts["retrying"] == 0:
            break
        assert time.monotonic() < deadline, counts
        await asyncio.sleep(0.05)
    events: dict[str, dict[str, Any]] = {}
    for record in sink.received:
        body = record["body"]
        assert events.setdefault(body["id"], body) == body  # a repeated delivery is the same event
    with sqlite3.connect(server.db) as conn:
        outbox = {r[0]: json.loads(r[1]) for r in conn.execute("SELECT event_id, body FROM outbox")}
    assert events == outbox
    deliveries = await server.call("GET", f"/admin/v1/campaigns/{ids['campaign']}/deliveries?limit=1000")
    recipients = await server.call("GET", f"/admin/v1/journeys/{ids['journey']}/recipients?limit=1000")
    return {"events": events, "deliveries": deliveries, "recipients": recipients}


Run = Callable[[Server, datetime], Awaitable[None]]


async def scenario(tmp_path: Path, name: str, sink: Sink, world: World,
                   interrupt: Callable[[int, Server, datetime], Awaitable[bool]]) -> dict[str, Any]:
    """Set up, then advance step by step; ``interrupt(step, server, target)`` may stop the server during the
    advance (returns True), which is then restarted on its database and asked for the same advance again."""
    config = tmp_path / "operator.yaml"
    config.write_text(CONFIG)
    server = Server(tmp_path / f"{name}.db", config)
    try:
        await server.start()
        ids = await setup(server, sink, world)
        for k, target in enumerate(STEPS):
            if await interrupt(k, server, target):
                await server.start()
                await server.advance_to(target)
        result = await outcome(server, sink, ids)
        await server.stop(signal.SIGTERM)
        return result
    finally:
        if server.proc is not None and server.proc.returncode is None:
            server.proc.kill()
            await server.proc.wait()
        await server.session.close()


async def test_kill_and_sigterm_during_advances_change_nothing(tmp_path: Path, aiohttp_server: AiohttpServer,
                                                              base_world: World) -> None:
    """Two ``kill -9`` and one SIGTERM at seeded moments of seeded advances: the same events (ids and contents),
    campaign deliveries and journey recipients as an uninterrupted run."""
    durations: list[float] = []

    async def straight(k: int, server: Server, target: datetime) -> bool:
        started = time.monotonic()
        await server.advance_to(target)
        durations.append(time.monotonic() - started)
        return False

    whole = await scenario(tmp_path, "whole", await start_sink(aiohttp_server), base_world, straight)
    assert sum(e["type"] in (ENTERED, LEFT) for e in whole["events"].values()) >= 10
    assert len(whole["recipients"]["recipients"]) >= 5 and whole["deliveries"]["records"]

    rng = random.Random(12)
    stops = dict(zip(sorted(rng.sample(range(len(STEPS)), 3)), [signal.SIGKILL, signal.SIGTERM, signal.SIGKILL],
                     strict=True))

    async def crashing(k: int, server: Server, target: datetime) -> bool:
        if k not in stops:
            await server.advance_to(target)
            return False
        request = asyncio.ensure_future(server.advance_to(target))
        await asyncio.sleep(rng.uniform(0.1, 0.9) * durations[k])
        await server.stop(stops[k])
        with contextlib.suppress(aiohttp.ClientError):  # the answer may never come
            await request
        return True

    restarted = await scenario(tmp_path, "restarted", await start_sink(aiohttp_server), base_world, crashing)
    diffs = differences(restarted, whole)
    assert not diffs, "\n".join(diffs)


def differences(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """What differs, one short line each (events by id, deliveries and recipients by position)."""
    out = [f"event {i}: {got['events'].get(i)} != {want['events'].get(i)}"
           for i in sorted(set(got["events"]) | set(want["events"])) if got["events"].get(i) != want["events"].get(i)]
    for key, rows in (("deliveries", "records"), ("recipients", "recipients")):
        a, b = got[key][rows], want[key][rows]
        out += [f"{key}[{n}]: {x} != {y}" for n, (x, y) in enumerate(zip(a, b, strict=False)) if x != y]
        if len(a) != len(b):
            out.append(f"{key}: {len(a)} != {len(b)}")
    return out
