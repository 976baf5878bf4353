"""Soak: a real ``opsim serve`` process under ~3 minutes of mixed partner traffic while its clock runs 2 simulated
days; the server's resident memory over time (slope per simulated day and per wall minute, growth after warm-up)
and the request latency (p99 early against late).

Run as ``python -m benchmarks.bench_soak [--minutes 3] [--days 2] [--subscribers 100000]``; prints one JSON line per
figure (``benchmarks._report.emit``). The server runs in its own process (manual clock, temporary database), so
its RSS is the gateway's alone; this process drives the load (``--rate`` requests per second), moves the clock
so that simulated time keeps pace with wall time, receives the webhooks on a local sink and samples the server's
``VmRSS`` every ``SAMPLE_S`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from aiohttp import web

from benchmarks._load import ADMIN, serve
from benchmarks._report import emit

RATE = 100
"""Requests per second, sent at even spacing (open loop: a slow answer does not slow the load down)."""
MAX_IN_FLIGHT = 64
SAMPLE_S = 2.0
WARM_UP = 0.25
"""Share of the run (wall time) left out of the memory slope and the latency figures: caches, pools and the
SQLite page cache fill up first. At least the retention window (:data:`RETENTION_DAYS`) is left out too."""
RETENTION_DAYS = 1
"""``history_days`` and ``inbox_days`` of the soak's server: the presence history and the inboxes fill their window
in the first simulated day, then stay flat (the defaults, 8 days, would still be filling at the end of the run)."""
PHONES = 60
CENTRE = (52.52, 13.405)  # Berlin
SCOPES = ["campaigns:read", "campaigns:write", "location-verification:verify", "geofencing-subscriptions:read",
          "geofencing-subscriptions:delete",
          "geofencing-subscriptions:org.camaraproject.geofencing-subscriptions.v0.area-entered:create",
          "messages:send", "messages:read", "verify"]
CONFIG = ("verify: {number_limit: 100000, partner_limit: null, sequential_burst: 1000000000,"
          " roaming_burst: 1000000000}\n"
          f"history_days: {RETENTION_DAYS}\ninbox_days: {RETENTION_DAYS}\n")
"""Operator settings of the soak: the fraud guards of authentication codes would refuse a steady load of them;
retention short enough to be reached within the run."""
# Weights of the operations in the mix (each request draws one).
MIX = {"token": 2, "estimate": 3, "campaign_create": 1, "campaign_list": 3, "location_verify": 6,
       "geofence": 2, "message": 3, "verify": 3, "verify_check": 3}


def rss_mb(pid: int) -> float:
    """Resident set size of process ``pid`` in MB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def instant(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


class Soak:
    """The load side: one partner, test phones, the operation mix and the clock driver."""

    def __init__(self, url: str, session: aiohttp.ClientSession, sink: str, days: float, seconds: float) -> None:
        self.url, self.session, self.sink = url, session, sink
        self.days, self.seconds = days, seconds
        self.rng = random.Random(7)
        self.auth: dict[str, str] = {}
        self.creds: dict[str, str] = {}
        self.phones: list[str] = []
        self.pending: list[tuple[str, str]] = []  # verifications waiting for their code: (msisdn, id)
        self.latency: list[tuple[float, str, float]] = []  # (wall offset s, operation, ms)
        self.statuses: dict[str, Counter[int]] = defaultdict(Counter)
        self.sim_now = self.sim_start = datetime.min.replace(tzinfo=UTC)  # set from the server's clock
        self.started = 0.0
        self.stop = False
        self.skipped = 0  # requests not started: MAX_IN_FLIGHT were waiting (the server was busy ticking)

    async def call(self, op: str, method: str, path: str, *, json: Any = None, data: Any = None,
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        t0 = time.perf_counter()
        async with self.session.request(method, self.url + path, json=json, data=data,
                                        headers=self.auth if headers is None else headers) as resp:
            body = await resp.json() if resp.content_type == "application/json" else await resp.read()
        self.latency.append((t0 - self.started, op, (time.perf_counter() - t0) * 1000))
        self.statuses[op][resp.status] += 1
        return resp.status, body

    async def admin(self, method: str, path: str, json: Any = None) -> Any:
        async with self.session.request(method, self.url + path, json=json, headers=ADMIN) as resp:
            if resp.status >= 300:
                raise RuntimeError(f"{method} {path}: {resp.status} {await resp.text()}")
            return await resp.json() if resp.content_type == "application/json" else None

    async def set_up(self) -> None:
        partner = await self.admin("POST", "/admin/v1/partners", {"name": "soak", "scopes": SCOPES})
        self.creds = {"grant_type": "client_credentials", "client_id": partner["clientId"],
                      "client_secret": partner["clientSecret"]}
        await self.token()
        _, sender = await self.call("setup", "POST", "/messages/v1/senders", json={"name": "Soak"})
        await self.admin("POST", f"/admin/v1/message-senders/{sender['id']}/decision", {"decision": "APPROVED"})
        for k in range(PHONES):
            msisdn = f"+4915{self.rng.randrange(10**8, 10**9)}"
            lat, lon = CENTRE[0] + self.rng.uniform(-0.03, 0.03), CENTRE[1] + self.rng.uniform(-0.05, 0.05)
            await self.admin("POST", "/admin/v1/subscribers", {
                "msisdn": msisdn, "profile": {"appInstalled": k % 2 == 0}, "latitude": lat, "longitude": lon,
                "consent": {"ADVERTISING": {"PUSH": True, "SMS": True}, "LOCATION_SHARING": {"ANY": True}}})
            self.phones.append(msisdn)
        self.sim_start = self.sim_now = datetime.fromisoformat((await self.admin("GET", "/admin/v1/clock"))["now"])

    async def token(self) -> None:
        status, body = await self.call("token", "POST", "/oauth2/token", data=self.creds, headers={})
        if status == 200:
            self.auth = {"Authorization": f"Bearer {body['access_token']}"}

    def area(self, radius: float = 2000.0) -> dict[str, Any]:
        lat, lon = CENTRE[0] + self.rng.uniform(-0.05, 0.05), CENTRE[1] + self.rng.uniform(-0.08, 0.08)
        return {"areaType": "CIRCLE", "center": {"latitude": lat, "longitude": lon}, "radius": radius}

    async def one(self, op: str) -> None:
        phone = self.rng.choice(self.phones)
        if op == "token":
            await self.token()
        elif op == "estimate":
            await self.call(op, "POST", "/campaigns/v1/audience-estimates",
                            json={"targeting": {"areas": [self.area()], "locationMode": "PRESENT"}})
        elif op == "campaign_create":
            start = self.sim_now + timedelta(minutes=self.rng.randrange(5, 120))
            await self.call(op, "POST", "/campaigns/v1/campaigns", json={
                "name": "Soak", "targeting": {"areas": [self.area(1500.0)], "locationMode": "PRESENT"},
                "schedule": {"startTime": instant(start), "endTime": instant(start + timedelta(hours=1))},
                "message": {"kind": "PROMO", "channel": "PUSH_THEN_SMS", "senderName": "Soak",
                            "text": "10% off at Soak"}})
        elif op == "campaign_list":
            await self.call(op, "GET", "/campaigns/v1/campaigns?limit=20")
        elif op == "location_verify":
            await self.call(op, "POST", "/location-verification/v3/verify",
                            json={"device": {"phoneNumber": phone}, "area": self.area()})
        elif op == "geofence":
            status, body = await self.call("geofence_create", "POST",
                                           "/geofencing-subscriptions/v0.5/subscriptions", json={
                "protocol": "HTTP", "sink": self.sink,
                "types": ["org.camaraproject.geofencing-subscriptions.v0.area-entered"],
                "config": {"subscriptionDetail": {"device": {"phoneNumber": phone}, "area": self.area()},
                           "initialEvent": True}})
            if status == 201:
                await self.call("geofence_delete", "DELETE",
                                f"/geofencing-subscriptions/v0.5/subscriptions/{body['id']}")
        elif op == "message":
            await self.call(op, "POST", "/messages/v1/messages", json={
                "phoneNumber": phone, "kind": "TRANSACTIONAL", "channel": "SMS", "senderName": "Soak",
                "text": "Your parcel is on its way"})
        elif op == "verify":
            status, body = await self.call(op, "POST", "/verify/v1/verifications",
                                           json={"phoneNumber": phone, "channel": "SMS"})
            if status in (200, 201):
                self.pending.append((phone, body["id"]))
        elif op == "verify_check" and self.pending:
            msisdn, vid = self.pending.pop(0)
            inbox = (await self.admin("GET", f"/admin/v1/subscribers/{msisdn}/inbox"))["messages"]
            code = next((m.get("code") for m in reversed(inbox) if m.get("verificationId") == vid), None)
            if code is not None:
                await self.call(op, "POST", f"/verify/v1/verifications/{vid}/check", json={"code": code})

    async def guarded(self, op: str) -> None:
        try:
            await self.one(op)
        except (aiohttp.ClientError, TimeoutError, KeyError):
            self.statuses[op][0] += 1  # no answer (or not the expected one): counted as a failure

    async def traffic(self, rate: float) -> None:
        """Start ``rate`` operations a second at even spacing, at most ``MAX_IN_FLIGHT`` at once."""
        ops, weights = list(MIX), list(MIX.values())
        tasks: set[asyncio.Task[None]] = set()
        k = 0
        while not self.stop:
            delay = self.started + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            op = self.rng.choices(ops, weights)[0]
            if len(tasks) < MAX_IN_FLIGHT:
                task = asyncio.create_task(self.guarded(op))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            else:
                self.skipped += 1
            k += 1
        await asyncio.gather(*tasks)

    async def clock(self) -> None:
        """Advance the simulated clock so that it keeps pace with wall time (``days`` over ``seconds``)."""
        while not self.stop:
            elapsed = time.perf_counter() - self.started
            target = self.sim_start + timedelta(days=self.days * min(elapsed / self.seconds, 1.0))
            step = min(target - self.sim_now, timedelta(minutes=10))
            if step >= timedelta(minutes=1):
                state = await self.admin("POST", "/admin/v1/clock/advance", {"seconds": step.total_seconds()})
                self.sim_now = datetime.fromisoformat(state["now"])
            else:
                await asyncio.sleep(0.05)
            if elapsed >= self.seconds:
                self.stop = True


async def start_sink() -> tuple[web.AppRunner, str, list[int]]:
    received = [0]

    async def events(request: web.Request) -> web.Response:
        await request.read()
        received[0] += 1
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/events", events)
    runner, url = await serve(app)
    return runner, f"{url}/events", received


def slope(x: list[float], y: list[float]) -> float:
    return float(np.polyfit(np.asarray(x), np.asarray(y), 1)[0]) if len(x) >= 2 else float("nan")


async def soak(minutes: float, days: float, subscribers: int, rate: float, tmp: Path) -> None:
    (tmp / "soak.yaml").write_text(CONFIG)
    proc = subprocess.Popen(
        [sys.executable, "-m", "scenarios.cli", "serve", "--city", "berlin", "--subscribers", str(subscribers),
         "--seed", "1", "--port", "0", "--db", str(tmp / "soak.db"), "--clock", "manual", "--admin-token", "adm",
         "--config", str(tmp / "soak.yaml")], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        url = ""
        while not url:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("opsim serve ended before listening")
            if line.strip().startswith("url:"):
                url = line.split()[-1]
        sink_runner, sink_url, received = await start_sink()
        connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
        async with aiohttp.ClientSession(connector=connector) as session:
            load = Soak(url, session, sink_url, days, minutes * 60)
            await load.set_up()
            samples: list[tuple[float, float, float]] = []  # (wall s, simulated days, RSS MB)
            load.started = time.perf_counter()

            async def sampler() -> None:
                while not load.stop:
                    samples.append((time.perf_counter() - load.started,
                                    (load.sim_now - load.sim_start) / timedelta(days=1), rss_mb(proc.pid)))
                    await asyncio.sleep(SAMPLE_S)

            await asyncio.gather(load.clock(), sampler(), load.traffic(rate))
            samples.append((time.perf_counter() - load.started, (load.sim_now - load.sim_start) / timedelta(days=1),
                            rss_mb(proc.pid)))
        await sink_runner.cleanup()
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(30)
        if proc.poll() is None:
            proc.kill()

    seconds = minutes * 60
    warm_up_s = seconds * min(0.75, max(WARM_UP, RETENTION_DAYS / days))  # the retention window fills first
    warm = [s for s in samples if s[0] >= warm_up_s]
    wall_min = [s[0] / 60 for s in warm]
    sim_days = [s[1] for s in warm]
    rss = [s[2] for s in warm]
    per_day, per_min = slope(sim_days, rss), slope(wall_min, rss)
    fit_start = rss[0] if len(rss) < 2 else float(np.polyval(np.polyfit(sim_days, rss, 1), sim_days[0]))
    growth = per_day * (sim_days[-1] - sim_days[0]) / fit_start * 100
    emit("soak_rss_mb_per_sim_day", per_day, fit_start, None, "MB/simulated day",
         mb_per_wall_minute=round(per_min, 3), growth_after_warm_up_pct=round(growth, 2), growth_target_pct=5.0,
         growth_met=abs(growth) <= 5.0, rss_start_mb=round(samples[0][2], 1), rss_warm_mb=round(rss[0], 1),
         rss_end_mb=round(rss[-1], 1), rss_peak_mb=round(max(s[2] for s in samples), 1),
         simulated_days=round(samples[-1][1], 3), wall_minutes=round(samples[-1][0] / 60, 2),
         samples=len(samples), subscribers=subscribers,
         note="baseline = fitted RSS at the end of warm-up (MB); ratio = growth per simulated day")

    after = [(t, op, ms) for t, op, ms in load.latency if t >= warm_up_s]
    third = (seconds - warm_up_s) / 3
    early = [ms for t, _, ms in after if t < warm_up_s + third]
    late = [ms for t, _, ms in after if t >= seconds - third]
    by_op: dict[str, list[float]] = defaultdict(list)
    for _, op, ms in after:
        by_op[op].append(ms)
    errors = {op: sum(n for code, n in c.items() if code >= 500 or code == 0) for op, c in load.statuses.items()}
    refused = {op: sum(n for code, n in c.items() if 400 <= code < 500) for op, c in load.statuses.items()}
    emit("soak_p99_ms", float(np.percentile(late, 99)), float(np.percentile(early, 99)), None, "ms",
         p99_all_ms=round(float(np.percentile([ms for _, _, ms in after], 99)), 2),
         p50_all_ms=round(float(np.percentile([ms for _, _, ms in after], 50)), 2),
         p99_by_operation_ms={op: round(float(np.percentile(v, 99)), 2) for op, v in sorted(by_op.items())},
         requests=len(load.latency), requests_per_s=round(len(load.latency) / seconds, 1),
         skipped_in_flight_cap=load.skipped, failures_5xx_or_none=sum(errors.values()),
         failures_by_operation={op: dict(c) for op, c in load.statuses.items() if errors.get(op)},
         refused_4xx={op: n for op, n in refused.items() if n},
         webhooks_received=received[0], rate_per_s=rate,
         note="value = p99 over the last third of the run, baseline = p99 over the first third after warm-up")


def main() -> None:
    parser = argparse.ArgumentParser(description="Soak the gateway: memory and latency under mixed traffic.")
    parser.add_argument("--minutes", type=float, default=3.0, help="wall minutes of traffic (default 3)")
    parser.add_argument("--days", type=float, default=2.0, help="simulated days over that time (default 2)")
    parser.add_argument("--subscribers", type=int, default=100_000, help="world size (default 100000)")
    parser.add_argument("--rate", type=float, default=RATE, help=f"requests per second (default {RATE})")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(soak(args.minutes, args.days, args.subscribers, args.rate, Path(tmp)))


if __name__ == "__main__":
    main()
