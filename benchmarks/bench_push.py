"""Push server figures: FCM v1 sends per second over HTTP (against a trivial aiohttp handler in the same run), the
push service's own send rate in-process, and the messages per second a topic send fans out to.

Every send is accepted and recorded (one ``push_messages`` row each, delivered to a reachable device's inbox or held).
The world has 20,000 subscribers and one app installed on about a third of them; the quota is raised so that it
never answers 429. Target (issue 13): push sends ≥ 5,000 messages/s.

Run as ``python -m benchmarks.bench_push``; prints one JSON line per figure (``benchmarks._report.emit``).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np

from benchmarks._load import ADMIN, CONCURRENCY, baseline_app, best_rates, serve
from benchmarks._report import emit
from gateway.core.settings import Settings
from gateway.http.app import create_app
from gateway.http.keys import APPS, PUSH
from gateway.wire.fcm import Message
from simulator.world import World, WorldConfig

SUBSCRIBERS = 20_000
REQUESTS = 5000
ROUNDS = 3
IN_PROCESS = 20_000
TOPIC_SENDS = 20
TICKS = 240
TARGET = 5000.0
BODY = {"notification": {"title": "Sale", "body": "20% off today"}}


async def run(tmp: Path) -> None:
    world = World.build(WorldConfig(city="berlin", subscribers=SUBSCRIBERS, seed=3))
    app = create_app(world, Settings(db_path=tmp / "push.db", admin_token="adm", port=0, access_log=False))
    gateway, url = await serve(app)
    bare, bare_url = await serve(baseline_app("POST", "/v1/projects/app_000001/messages:send",
                                              {"name": "projects/app_000001/messages/psh_00000001"}))
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{url}/admin/v1/partners", headers=ADMIN, json={
                    "name": "bench", "scopes": ["apps:write", "push:send"]}) as resp:
                partner = await resp.json()
            async with session.post(f"{url}/oauth2/token", data={
                    "grant_type": "client_credentials", "client_id": partner["clientId"],
                    "client_secret": partner["clientSecret"]}) as resp:
                auth = {"Authorization": f"Bearer {(await resp.json())['access_token']}"}
            async with session.post(f"{url}/apps/v1/apps", headers=auth, json={
                    "name": "Shoply", "platforms": ["ANDROID", "IOS"], "categories": ["SHOPPING"],
                    "popularity": 0.5, "pushQuotaPerMinute": 600_000}) as resp:
                app_id = (await resp.json())["id"]
        apps, push = app[APPS], app[PUSH]
        record = apps.find(app_id)
        assert record is not None
        table = apps.installs(record)

        # 1. What the app's installs cost a tick (lifecycle, usage events, receipts and opens) against a twin world
        # without the gateway, over the same simulated ticks (before any push: no receipts or opens to report).
        events: list[int] = []
        apps.add_event_listener(lambda batch: events.append(batch.size))
        twin = World.build(WorldConfig(city="berlin", subscribers=SUBSCRIBERS, seed=3))
        twin.run_until(world.clock.now)
        with_app, bare_ms = tick_ms(world), tick_ms(twin)
        emit("push_app_tick_ms", with_app, bare_ms, None, "ms", installs=int(table.installed.sum()), ticks=TICKS,
             events_per_tick=round(sum(events) / TICKS, 1))
        rows = np.flatnonzero(table.installed)  # as they are now (some left or refreshed their token meanwhile)
        tokens = [apps.install(record, int(r)).token for r in rows]

        # 2. Over HTTP: the same token, as an FCM client sending one message after another, from a process of its
        # own (the servers here get this process's core; the client the other one).
        send_url = f"{url}/v1/projects/{app_id}/messages:send"
        gw_best, base_best = await best_rates((send_url, auth), (f"{bare_url}/v1/projects/app_000001/messages:send",
                                                                 {}), REQUESTS, ROUNDS,
                                              body={"message": {**BODY, "token": tokens[0]}},
                                              client_process=True)
        emit("push_http_sends_per_s", gw_best, base_best, TARGET, "messages/s", better="higher",
             requests=REQUESTS, concurrency=CONCURRENCY)

        # 3. In process: the push service alone (token check, quota, record, inbox), tokens in turn.
        messages = [Message.model_validate({**BODY, "token": tokens[i % len(tokens)]}) for i in range(IN_PROCESS)]
        started = time.perf_counter()
        for message in messages:
            push.send(record, message, False)
        rate = IN_PROCESS / (time.perf_counter() - started)
        emit("push_service_sends_per_s", rate, None, TARGET, "messages/s", better="higher", sends=IN_PROCESS)

        # 4. Topic fan-out: every install subscribed, one send reaches them all.
        push.topics.change(record, "all", rows.tolist(), True)
        topic = Message.model_validate({**BODY, "topic": "all"})
        started = time.perf_counter()
        for _ in range(TOPIC_SENDS):
            push.send(record, topic, False)
        fanned = TOPIC_SENDS * len(rows) / (time.perf_counter() - started)
        emit("push_topic_fanout_messages_per_s", fanned, None, TARGET, "messages/s", better="higher",
             recipients_per_send=len(rows), sends=TOPIC_SENDS)

    finally:
        await gateway.cleanup()
        await bare.cleanup()


def tick_ms(world: World) -> float:
    """Mean wall time of the next ``TICKS`` ticks of ``world``, in milliseconds."""
    started = time.perf_counter()
    for _ in range(TICKS):
        world.step()
    return (time.perf_counter() - started) * 1000.0 / TICKS


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp)))


if __name__ == "__main__":
    main()
