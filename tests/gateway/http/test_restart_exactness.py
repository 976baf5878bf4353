"""What makes a restarted gateway exact: subscription states never ahead of the saved clock, journeys see the
first tick's moves of a replay, and a message (with its journey step) is stored whole or not at all."""

from __future__ import annotations

import copy
import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pytest_aiohttp import AiohttpClient

from gateway.core.settings import CampaignSettings, Settings
from gateway.core.store import Store
from gateway.http.app import create_app
from gateway.http.keys import MESSAGES, STORE, WORLD
from gateway.services.messages.model import MessageRequest
from simulator.clock import to_micros
from simulator.world import World
from tests.gateway.camara_helpers import ENTERED, LEFT, camara_partner, cell_centre, circle, located, msisdn
from tests.gateway.conftest import ADMIN, MakePartner, bearer
from tests.gateway.http.test_journeys import advance, create, journey, new_partner, outside_phone, pin, step, truth

GEOFENCES = "/geofencing-subscriptions/v0.5/subscriptions"


async def test_geofence_events_are_never_stored_ahead_of_the_saved_clock(
        client: Any, world: World, make_partner: MakePartner) -> None:
    """During an advance, every stored area event is at or before the clock instant a restart would come back
    to (a state stored mid-advance with an older clock made a restart issue events again under new ids)."""
    _, token = await camara_partner(client, make_partner)
    for k, i in enumerate(located(world, 30)):
        lat, lon, _ = cell_centre(world, i)
        body = {"protocol": "HTTP", "sink": "https://127.0.0.1:9/hook", "types": [LEFT if k % 2 else ENTERED],
                "config": {"subscriptionDetail": {"device": {"phoneNumber": msisdn(world, i)},
                                                  "area": circle(lat, lon, 500)}}}
        resp = await client.post(GEOFENCES, json=body, headers=bearer(token))
        assert resp.status == 201, await resp.text()
    store: Store = client.app[STORE]
    checked: list[int] = []

    def check(now: datetime, *_: Any) -> None:  # runs after the gateway's own listeners, mid-tick and at its end
        saved = store.saved_clock()
        assert saved is not None
        latest = store.conn.execute("SELECT MAX(sim_time_us) FROM outbox WHERE event_type LIKE '%area-%'"
                                    ).fetchone()[0]
        if latest is not None:
            assert latest <= to_micros(saved)
            checked.append(latest)

    world.on_cell_change(check)
    world.on_step(check)
    resp = await client.post("/admin/v1/clock/advance", json={"duration": "PT3H"}, headers=ADMIN)
    assert resp.status == 200
    assert checked and max(checked) > to_micros(world.start)  # area events were issued during the advance


def first_tick_mover(world: World) -> tuple[float, float]:
    """The centre of a cell someone moves into during the world's first tick."""
    probe = copy.deepcopy(world)
    moves: list[np.ndarray[Any, Any]] = []
    probe.on_cell_change(lambda now, subs, old, new: moves.append(subs.copy()))
    probe.step()
    assert moves and len(moves[0])
    lat, lon, _ = cell_centre(probe, int(moves[0][0]))
    return lat, lon


async def test_journey_keeps_the_first_ticks_entrants_across_a_restart(
        aiohttp_client: AiohttpClient, fresh_world: Any, settings: Settings, tmp_path: Path) -> None:
    """An AREA_ENTERED journey created at the start: the replay after a restart counts the first tick's entrants
    again, so a later entrant is the next recipient, as in an uninterrupted run (it used to be dropped)."""
    def app_settings(name: str) -> Settings:
        return dataclasses.replace(settings, db_path=tmp_path / name, campaigns=CampaignSettings(privacy_threshold=1))

    async def run(name: str, restart: bool) -> list[dict[str, Any]]:
        world = fresh_world()
        lat, lon = first_tick_mover(world)
        client = await aiohttp_client(create_app(world, app_settings(name)))
        p = await new_partner(client)
        area = {"type": "AREA_ENTERED", "area": {"areaType": "CIRCLE", "center": {"latitude": lat, "longitude": lon},
                                                 "radius": 150}}
        jid = (await create(client, p.token, journey(area, [step("Hi")])))["id"]
        walker = await outside_phone(client, world, "+491701100090")
        await advance(client, 60)
        if restart:
            await client.close()
            client = await aiohttp_client(create_app(fresh_world(), app_settings(name)))
        await pin(client, walker, lat, lon)
        await advance(client, 60)
        records = await truth(client, jid)
        await client.close()
        return records

    whole = await run("whole.db", restart=False)
    assert whole[0]["triggeredAt"] == "2026-06-01T06:01:00Z" and whole[-1]["msisdn"] == "+491701100090"
    assert await run("restarted.db", restart=True) == whole


def test_nested_transactions_are_savepoints(tmp_path: Path) -> None:
    """An inner failure undoes only the inner writes; everything commits with the outer transaction."""
    store = Store(tmp_path / "s.db")
    store.open()
    store.conn.execute("CREATE TABLE t (v INTEGER)")
    with store.transaction() as conn:
        conn.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(RuntimeError), store.transaction() as inner:
            inner.execute("INSERT INTO t VALUES (2)")
            raise RuntimeError("inner")
        with store.transaction() as inner:
            inner.execute("INSERT INTO t VALUES (3)")
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute("INSERT INTO t VALUES (4)")
        raise RuntimeError("outer")
    assert [r[0] for r in store.conn.execute("SELECT v FROM t ORDER BY v")] == [1, 3]
    store.close()


async def test_a_message_is_stored_whole_or_not_at_all(client: Any, make_partner: MakePartner,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A send that fails after its row was written leaves no message, status or wake-up behind (a crash there
    left a message its journey's replay found by key and never sent)."""
    p = await new_partner(client)
    await outside_phone(client, client.app[WORLD], "+491701100091")
    service = client.app[MESSAGES]

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("crash")

    monkeypatch.setattr(service.engine, "_attempt", crash)
    partner_id = int(p.id.rsplit("_", 1)[-1])
    with pytest.raises(RuntimeError):
        service.send(partner_id, MessageRequest("+491701100091", "TRANSACTIONAL", "SMS", "Acme", "Hi", None, None,
                                                {}, None, None), "key-1")
    conn = client.app[STORE].conn
    assert [conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("messages", "message_events",
                                                                              "timers")] == [0, 0, 0]
