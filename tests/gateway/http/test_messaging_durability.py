"""Direct messages and authentication codes across a restart: a restarted operator is the same operator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from pytest_aiohttp import AiohttpClient

from gateway.core.settings import Settings
from gateway.http.app import create_app
from gateway.http.keys import STORE, WORLD
from simulator.world import World
from tests.gateway.conftest import ADMIN, Client, PartnerCreds, bearer, fetch_token
from tests.gateway.http.test_messages import advance, approve, inbox, phone, read, send, statuses

A, B = "+491701000101", "+491701000102"
VERIFY = "/verify/v1/verifications"


@dataclass
class Run:
    """One operator run: a client on an app over a fresh world and the settings' database."""

    aiohttp_client: AiohttpClient
    fresh_world: Callable[[], World]
    settings: Settings
    client: Client | None = None

    async def start(self) -> Client:
        self.client = await self.aiohttp_client(create_app(self.fresh_world(), self.settings))
        return self.client

    async def with_phone(self) -> tuple[Client, str]:
        """Start with the partner set up and phone A added; returns the client and the partner's token."""
        client = await self.start()
        token = await setup_partner(client)
        await phone(client, A)
        return client, token

    async def restart(self) -> Client:
        assert self.client is not None
        await self.client.close()
        return await self.start()


async def setup_partner(client: Client) -> str:
    """A partner allowed to send messages and codes, with its sender approved; returns its token."""
    resp = await client.post("/admin/v1/partners", json={"name": "shop", "scopes": [
        "messages:send", "messages:read", "verify"]}, headers=ADMIN)
    body = await resp.json()
    token = await fetch_token(client, PartnerCreds(body["id"], body["clientId"], body["clientSecret"]))
    sender = await (await client.post("/messages/v1/senders", json={"name": "Acme"}, headers=bearer(token))).json()
    await approve(client, "senders", sender["id"])
    return token


async def verify(client: Client, token: str, msisdn: str, channel: str = "SMS") -> Any:
    resp = await client.post(VERIFY, json={"phoneNumber": msisdn, "channel": channel}, headers=bearer(token))
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def verification(client: Client, token: str, vid: str) -> Any:
    return await (await client.get(f"{VERIFY}/{vid}", headers=bearer(token))).json()


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def clock(client: Client) -> str:
    return str((await (await client.get("/admin/v1/clock", headers=ADMIN)).json())["now"])


async def snapshot(client: Client, token: str, ids: list[str]) -> dict[str, Any]:
    """Everything a partner and the operator can read of the messages, codes and inboxes."""
    return {"clock": await clock(client), "inboxes": {m: await inbox(client, m) for m in (A, B)},
            "items": {i: await (read(client, token, i) if i.startswith("msg_") else verification(client, token, i))
                      for i in ids}}


async def flow(run: Run, restart: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """Deliver a message and a code, put another of each in flight, (restart,) let them arrive.

    Returns the snapshots right after the (re)start and at the end.
    """
    client = await run.start()
    token = await setup_partner(client)
    await phone(client, A)
    await phone(client, B)
    _, m1 = await send(client, token, A)
    v1 = await verify(client, token, A)
    await advance(client, 60)
    _, m2 = await send(client, token, B, channel="PUSH_THEN_SMS")
    v2 = await verify(client, token, B, channel="AUTO")
    ids = [m1["id"], v1["id"], m2["id"], v2["id"]]
    if restart:
        client = await run.restart()
    middle = await snapshot(client, token, ids)
    await advance(client, 120)
    return middle, await snapshot(client, token, ids)


async def test_messages_and_codes_delivered_and_in_flight_survive_a_restart(
        aiohttp_client: AiohttpClient, fresh_world: Callable[[], World], settings: Settings, tmp_path: Path) -> None:
    """Delivered ones stay in the inboxes; those in flight arrive after the restart when they would have."""
    reference = Run(aiohttp_client, fresh_world, replace(settings, db_path=tmp_path / "reference.db"))
    ref_middle, ref_end = await flow(reference, restart=False)
    middle, end = await flow(Run(aiohttp_client, fresh_world, settings), restart=True)
    assert middle == ref_middle and end == ref_end  # the restarted operator is the uninterrupted one

    m1, v1, m2, v2 = middle["items"].values()
    assert statuses(m1) == ["ACCEPTED", "SENT", "DELIVERED"] and v1["status"] == "PENDING"
    assert v1["sends"][0]["status"] == "DELIVERED"
    assert sorted(m.get("verificationId", m["id"]) for m in middle["inboxes"][A]) == [m1["id"], v1["id"]]
    assert middle["inboxes"][B] == []  # still in flight when the gateway stopped
    assert m2["status"] == "SENT" and {s["status"] for s in v2["sends"]} <= {"SENT", "SCHEDULED", "FAILED"}
    m2_end, v2_end = end["items"][m2["id"]], end["items"][v2["id"]]
    assert m2_end["status"] == "DELIVERED"
    assert instant(middle["clock"]) < instant(m2_end["history"][-1]["at"]) < instant(end["clock"])
    assert any(s["status"] == "DELIVERED" for s in v2_end["sends"])
    received = {m["id"] for m in end["inboxes"][B]}
    assert m2["id"] in received and any(m.get("verificationId") == v2["id"] for m in end["inboxes"][B])


async def test_a_code_delivered_before_the_restart_still_approves(
        aiohttp_client: AiohttpClient, fresh_world: Callable[[], World], settings: Settings) -> None:
    """Integrators read the code from the inbox after a restart and complete their flow with it."""
    run = Run(aiohttp_client, fresh_world, settings)
    client, token = await run.with_phone()
    v = await verify(client, token, A)
    await advance(client, 60)
    client = await run.restart()
    [code] = [m["code"] for m in await inbox(client, A) if m.get("verificationId") == v["id"]]
    resp = await client.post(f"{VERIFY}/{v['id']}/check", json={"code": code}, headers=bearer(token))
    assert (await resp.json())["status"] == "APPROVED"


async def test_held_promo_is_sent_at_the_end_of_quiet_hours_after_a_restart(
        aiohttp_client: AiohttpClient, fresh_world: Callable[[], World], settings: Settings) -> None:
    """A PROMO held by quiet hours when the gateway stops goes out at 08:00 local after the restart."""
    run = Run(aiohttp_client, fresh_world, settings)
    client, token = await run.with_phone()
    await advance(client, 14.5 * 3600)  # 22:30 Berlin
    _, held = await send(client, token, A, kind="PROMO", text="Breakfast deal")
    assert held["status"] == "HELD"
    client = await run.restart()
    await advance(client, 9.5 * 3600 + 60)
    got = await read(client, token, held["id"])
    assert statuses(got) == ["ACCEPTED", "HELD", "SENT", "DELIVERED"]
    assert got["history"][2]["at"] == "2026-06-02T06:00:00Z"  # 08:00 Berlin
    assert [m["id"] for m in await inbox(client, A)] == [held["id"]]


async def test_retries_and_expiry_of_a_message_in_flight_go_on_after_a_restart(
        aiohttp_client: AiohttpClient, fresh_world: Callable[[], World], settings: Settings) -> None:
    """A phone switched off for the night is retried after the restart and the message expires when it was due."""
    run = Run(aiohttp_client, fresh_world, settings)
    client = await run.start()
    token = await setup_partner(client)
    await advance(client, 17 * 3600)  # 01:00 Berlin: phones that are off at night are off
    assert client.app is not None
    world = client.app[WORLD]
    off = [int(i) for i in np.flatnonzero(world.devices.night_off) if not world.is_reachable(int(i))[0]]
    msisdn = world.msisdn_of(off[0])
    _, body = await send(client, token, msisdn, ttlSeconds=600)
    assert statuses(body) == ["ACCEPTED"]
    await advance(client, 100)
    client = await run.restart()
    await advance(client, 499)
    assert (await read(client, token, body["id"]))["status"] == "ACCEPTED"
    await advance(client, 1)
    got = await read(client, token, body["id"])
    assert (statuses(got), got["reason"]) == (["ACCEPTED", "EXPIRED"], "UNREACHABLE")
    assert got["history"][-1]["at"] == "2026-06-01T23:10:00Z"
    assert client.app is not None
    assert client.app[STORE].conn.execute("SELECT COUNT(*) FROM timers").fetchone()[0] == 0  # nothing left over


async def test_promo_daily_cap_holds_across_a_restart(
        aiohttp_client: AiohttpClient, fresh_world: Callable[[], World], settings: Settings) -> None:
    """A direct PROMO counted today still counts after a restart: the next one is FREQUENCY_CAP."""
    run = Run(aiohttp_client, fresh_world, settings)
    client, token = await run.with_phone()
    _, first = await send(client, token, A, kind="PROMO", text="Summer sale")
    assert first["status"] == "SENT"
    client = await run.restart()
    _, second = await send(client, token, A, kind="PROMO", text="Summer sale, again")
    assert (second["status"], second["reason"]) == ("SUPPRESSED", "FREQUENCY_CAP")
    await advance(client, 600)
    client = await run.restart()  # counted by the replay at its instant, not only at the restored one
    _, third = await send(client, token, A, kind="PROMO", text="Summer sale, third")
    assert (third["status"], third["reason"]) == ("SUPPRESSED", "FREQUENCY_CAP")
    await advance(client, 86_400)
    _, tomorrow = await send(client, token, A, kind="PROMO", text="Summer sale, tomorrow")
    assert tomorrow["status"] == "SENT"
