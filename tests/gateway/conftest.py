"""Fixtures of the gateway tests: one tiny world built per session and copied per test, a real app on 127.0.0.1."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pytest_aiohttp import AiohttpClient

from gateway.client import AdminClient, PartnerClient, TrackingClient
from gateway.core.settings import Settings
from gateway.http.app import create_app
from gateway.http.keys import FAULT_SLEEP
from simulator.world import World, WorldConfig

ADMIN_TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TINY = WorldConfig(city="berlin", subscribers=2000, seed=1)

Client = TestClient[Any, Any]


class Wall:
    """A wall clock the test moves by hand (token expiry)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class PartnerCreds:
    id: str
    client_id: str
    client_secret: str


@pytest.fixture(scope="session")
def base_world() -> World:
    """Built once: building is the slow part, copying is milliseconds."""
    return World.build(TINY)


@pytest.fixture
def world(base_world: World) -> World:
    return copy.deepcopy(base_world)


@pytest.fixture
def fresh_world(base_world: World) -> Callable[[], World]:
    """A factory of identical fresh worlds (restart tests need two)."""
    return lambda: copy.deepcopy(base_world)


@pytest.fixture
def wall() -> Wall:
    return Wall()


@pytest.fixture
def settings(tmp_path: Path, wall: Wall) -> Settings:
    return Settings(db_path=tmp_path / "opsim.db", admin_token=ADMIN_TOKEN, wall_clock=wall, port=0,
                    body_limit_bytes=64 * 1024)


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, world: World, settings: Settings) -> Client:
    return await aiohttp_client(create_app(world, settings))


@pytest.fixture
def slept() -> list[float]:
    """Every wait the fault middleware injected into :func:`fault_client`, in seconds."""
    return []


@pytest.fixture
async def fault_client(aiohttp_client: AiohttpClient, world: World, settings: Settings, slept: list[float]) -> Client:
    """A gateway whose fault middleware records its injected latency in ``slept`` instead of sleeping: no wall
    time passes. Fault tests use it as their ``client``."""
    app = create_app(world, settings)

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    app[FAULT_SLEEP] = fake_sleep
    return await aiohttp_client(app)


MakePartner = Callable[..., Awaitable[PartnerCreds]]


@pytest.fixture
def make_partner(client: Client) -> MakePartner:
    async def make(name: str = "acme", scopes: tuple[str, ...] = ("api-keys:read", "api-keys:write")) -> PartnerCreds:
        resp = await client.post("/admin/v1/partners", json={"name": name, "scopes": list(scopes)}, headers=ADMIN)
        assert resp.status == 201, await resp.text()
        body = await resp.json()
        return PartnerCreds(body["id"], body["clientId"], body["clientSecret"])

    return make


async def fetch_token(client: Client, creds: PartnerCreds, scope: str | None = None) -> str:
    form = {"grant_type": "client_credentials", "client_id": creds.client_id, "client_secret": creds.client_secret}
    if scope is not None:
        form["scope"] = scope
    resp = await client.post("/oauth2/token", data=form)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    return str(body["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def a_msisdn(world: World, i: int = 0) -> str:
    return world.msisdn_of(i)


@dataclass
class CdpSession:
    """The Python clients of a CDP test: the admin, partner ``acme`` and the tracking client of its source."""

    admin: AdminClient
    partner: PartnerClient
    tracking: TrackingClient


@asynccontextmanager
async def cdp_session(server: TestServer, scopes: Sequence[str]) -> AsyncIterator[CdpSession]:
    """Partner ``acme`` with ``scopes`` and a source ``Backend`` on ``server``, each through its client."""
    url = str(server.make_url("")).rstrip("/")
    async with AdminClient(url, ADMIN_TOKEN) as admin:
        created = await admin.create_partner("acme", list(scopes))
        async with PartnerClient(url, created.client_id, created.client_secret) as partner:
            source = await partner.create_source("Backend")
            assert source.write_key is not None
            async with TrackingClient(url, source.write_key) as tracking:
                yield CdpSession(admin, partner, tracking)
