"""The Python clients against a real server: typed answers, ApiError, token refresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from gateway.client import AdminClient, ApiError, PartnerClient
from gateway.core.settings import Settings
from gateway.http.app import create_app
from gateway.wire.partners import Me
from simulator.world import World
from tests.gateway.conftest import ADMIN_TOKEN, Wall, a_msisdn


@pytest.fixture
async def server(aiohttp_server: AiohttpServer, world: World, settings: Settings) -> TestServer:
    return await aiohttp_server(create_app(world, settings))


def _url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


async def test_partner_client_round_trip(server: TestServer) -> None:
    """Admin creates a partner; the partner client gets a token and typed answers."""
    async with AdminClient(_url(server), ADMIN_TOKEN) as admin:
        created = await admin.create_partner("acme", ["api-keys:read"])
        key = await admin.issue_api_key(created.id)
        assert [p.id for p in await admin.partners()] == [created.id]
    async with PartnerClient(_url(server), created.client_id, created.client_secret) as partner:
        me = await partner.me()
        assert me == Me(id=created.id, name="acme", scopes=["api-keys:read"], credential="token")
        assert [k.id for k in await partner.api_keys()] == [key.id]
        with pytest.raises(ApiError) as raised:
            await partner.api_key("key_999999")
        assert (raised.value.status, raised.value.code) == (404, "NOT_FOUND")
        assert raised.value.correlator
        with pytest.raises(ApiError) as forbidden:
            await partner.revoke_api_key(key.id)
        assert forbidden.value.code == "PERMISSION_DENIED"


async def test_partner_client_refreshes_expired_token(server: TestServer, wall: Wall) -> None:
    """A token expired on the server side is replaced transparently (one retry after 401)."""
    async with AdminClient(_url(server), ADMIN_TOKEN) as admin:
        created = await admin.create_partner("acme")
    async with PartnerClient(_url(server), created.client_id, created.client_secret) as partner:
        await partner.me()
        wall.now += 7200
        assert (await partner.me()).id == created.id


async def test_partner_client_bad_secret_is_api_error(server: TestServer) -> None:
    """OAuth errors surface as ApiError with the RFC error code."""
    async with PartnerClient(_url(server), "cid_000001", "wrong") as partner:
        with pytest.raises(ApiError) as raised:
            await partner.me()
    assert (raised.value.status, raised.value.code) == (401, "invalid_client")


async def test_admin_client_clock_and_subscribers(server: TestServer, world: World) -> None:
    """Clock control and subscriber administration through the admin client."""
    msisdn = a_msisdn(world, 11)
    async with AdminClient(_url(server), ADMIN_TOKEN) as admin:
        state = await admin.advance(timedelta(minutes=90))
        assert state.now == datetime(2026, 6, 1, 7, 30, tzinfo=UTC)
        state = await admin.advance(to=datetime(2026, 6, 1, 8, 0, tzinfo=UTC))
        assert state.now == datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
        with pytest.raises(ApiError) as past:
            await admin.advance(to=datetime(2026, 6, 1, 7, 0, tzinfo=UTC))
        assert past.value.status == 409
        paced = await admin.set_clock_mode("paced", 10)
        assert (paced.mode, paced.factor) == ("paced", 10)
        assert (await admin.pause()).paused
        assert not (await admin.resume()).paused
        await admin.set_clock_mode("manual")
        view = await admin.subscriber(msisdn)
        assert view.profile.msisdn == msisdn
        withdrawn = await admin.set_consent(msisdn, "ANALYTICS", not view.consent["ANALYTICS"]["ANY"])
        assert withdrawn.consent_history[-1].source == "ADMIN"
        lat, lon = world.city.projection.lat0, world.city.projection.lon0
        assert (await admin.pin(msisdn, lat, lon)).location.pinned
        assert not (await admin.release(msisdn)).location.pinned
        assert await admin.inbox(msisdn) == []
        summary = await admin.world()
        assert (summary.city, summary.subscribers) == ("berlin", 2000)
        assert "opsim_subscribers 2000.0" in await admin.metrics()
        assert (await admin.health()).status == "UP"
