"""A restarted gateway with the same database and world options is the same operator."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from pytest_aiohttp import AiohttpClient

from gateway.core.settings import Settings
from gateway.core.store import MIGRATIONS, Store, StoreError
from gateway.http.app import create_app
from gateway.services.control import ControlPlane
from simulator.world import World, WorldConfig
from tests.gateway.conftest import ADMIN, TINY, a_msisdn, bearer

START = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)


async def test_restart_restores_partners_clock_consent_and_pin(
        aiohttp_client: AiohttpClient, fresh_world: Callable[[], World], settings: Settings) -> None:
    """Partners, tokens, consent, pins and the clock instant survive a stop and a rebuild from the same db."""
    world = fresh_world()
    msisdn, other = a_msisdn(world, 3), a_msisdn(world, 4)
    client = await aiohttp_client(create_app(world, settings))
    created = await (await client.post("/admin/v1/partners", json={"name": "acme", "scopes": ["a:b"]},
                                       headers=ADMIN)).json()
    token_resp = await client.post("/oauth2/token", data={"grant_type": "client_credentials",
                                                          "client_id": created["clientId"],
                                                          "client_secret": created["clientSecret"]})
    token = (await token_resp.json())["access_token"]
    await client.post("/admin/v1/clock/advance", json={"duration": "PT1H"}, headers=ADMIN)
    flipped = not world.consent_state(3).granted("ADVERTISING", "SMS")
    consent = await client.put(f"/admin/v1/subscribers/{quote(msisdn)}/consent",
                               json={"purpose": "ADVERTISING", "channel": "SMS", "granted": flipped}, headers=ADMIN)
    assert consent.status == 200
    lat, lon = world.city.projection.lat0, world.city.projection.lon0
    pin = await client.post(f"/admin/v1/subscribers/{quote(msisdn)}/pin", json={"latitude": lat, "longitude": lon},
                            headers=ADMIN)
    assert pin.status == 200
    await client.post("/admin/v1/clock/advance", json={"duration": "PT30M"}, headers=ADMIN)
    await client.post(f"/admin/v1/subscribers/{quote(other)}/pin", json={"latitude": lat, "longitude": lon},
                      headers=ADMIN)
    await client.delete(f"/admin/v1/subscribers/{quote(other)}/pin", headers=ADMIN)
    await client.post("/admin/v1/clock/advance", json={"seconds": 1234.5}, headers=ADMIN)
    before = {m: await (await client.get(f"/admin/v1/subscribers/{quote(m)}", headers=ADMIN)).json()
              for m in (msisdn, other)}
    clock_before = await (await client.get("/admin/v1/clock", headers=ADMIN)).json()
    await client.close()

    world2 = fresh_world()
    client2 = await aiohttp_client(create_app(world2, settings))
    clock_after = await (await client2.get("/admin/v1/clock", headers=ADMIN)).json()
    assert clock_after == clock_before
    assert clock_after["now"] == "2026-06-01T07:50:34.500000Z"
    for m in (msisdn, other):
        after = await (await client2.get(f"/admin/v1/subscribers/{quote(m)}", headers=ADMIN)).json()
        assert after == before[m]
    assert before[msisdn]["location"]["pinned"] is True
    assert before[msisdn]["consent"]["ADVERTISING"]["SMS"] is flipped
    assert before[msisdn]["consentHistory"][-1]["source"] == "ADMIN"
    partners = await (await client2.get("/admin/v1/partners", headers=ADMIN)).json()
    assert [p["id"] for p in partners["partners"]] == [created["id"]]
    me = await client2.get("/partner/v1/me", headers=bearer(token))
    assert me.status == 200
    assert world2.summary().ticks == world.summary().ticks


async def test_restart_keeps_a_paced_clock_where_it_was(aiohttp_client: AiohttpClient,
                                                        fresh_world: Callable[[], World],
                                                        settings: Settings) -> None:
    """Time moved by the pacer (not journaled) is checkpointed on shutdown and restored."""
    world = fresh_world()
    client = await aiohttp_client(create_app(world, settings))
    await client.post("/admin/v1/clock/mode", json={"mode": "paced", "factor": 36000}, headers=ADMIN)
    for _ in range(100):
        await asyncio.sleep(0.02)
        if world.clock.now >= START + timedelta(minutes=5):
            break
    await client.post("/admin/v1/clock/pause", headers=ADMIN)
    stopped_at = world.clock.now
    assert stopped_at > START
    await client.close()
    world2 = fresh_world()
    client2 = await aiohttp_client(create_app(world2, settings))
    assert world2.clock.now == stopped_at
    assert world2.clock.mode == "manual"  # mode and pace are start options, not restored
    await client2.close()


async def test_other_world_options_are_refused(fresh_world: Callable[[], World], settings: Settings) -> None:
    """A database made for one world cannot be restored into another: the error names the difference."""
    ControlPlane(fresh_world(), Store(settings.db_path), settings).start()
    other = World.build(replace(TINY, subscribers=1500))
    with pytest.raises(StoreError, match=r"subscribers=2000 \(now 1500\)"):
        ControlPlane(other, Store(settings.db_path), settings).start()


async def test_start_clock_mode_from_settings(fresh_world: Callable[[], World], settings: Settings) -> None:
    """``opsim serve --clock paced --pace F`` applies at start, after the restore."""
    world = fresh_world()
    control = ControlPlane(world, Store(settings.db_path), replace(settings, clock_mode="paced", pace_factor=120))
    control.start()
    assert (world.clock.mode, world.clock.factor) == ("paced", 120)
    control.stop()


def test_store_schema_is_versioned(tmp_path: Path) -> None:
    """Migrations apply once; a database from a newer opsim is refused."""
    store = Store(tmp_path / "a.db")
    store.open()
    assert store.schema_version == len(MIGRATIONS)
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    store.close()
    with pytest.raises(StoreError, match="newer than this opsim"):
        Store(tmp_path / "a.db").open()


def test_secrets_are_not_stored_in_clear(tmp_path: Path) -> None:
    """Client secrets, tokens and API keys appear nowhere in the database file."""
    store = Store(tmp_path / "b.db")
    store.open()
    partner, _client_id, secret = store.create_partner("p", ("a",), {}, "2026-06-01T06:00:00Z")
    _row, key = store.create_api_key(partner.id, "2026-06-01T06:00:00Z")
    token = store.create_token(partner.id, ("a",), 2e9)
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    raw = (tmp_path / "b.db").read_bytes()
    for value in (secret, key, token):
        assert value.encode() not in raw


def test_restore_refuses_a_world_already_past_the_journal(tmp_path: Path, base_world: World) -> None:
    """Restoring needs a fresh world: one already run past the first saved instant is refused."""
    settings = Settings(db_path=tmp_path / "c.db", admin_token="x")
    world = copy.deepcopy(base_world)
    control = ControlPlane(world, Store(settings.db_path), settings)
    control.start()
    world.advance(timedelta(minutes=1))
    control.stop()
    ahead = copy.deepcopy(base_world)
    ahead.advance(timedelta(minutes=5))
    with pytest.raises(StoreError, match="already at"):
        ControlPlane(ahead, Store(settings.db_path), settings).start()


def test_world_config_is_what_is_compared() -> None:
    """Sanity: the tiny world used here is what the fixtures build."""
    assert WorldConfig(city="berlin", subscribers=2000, seed=1) == TINY
