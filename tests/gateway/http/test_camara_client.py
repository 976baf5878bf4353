"""The typed client methods of the CAMARA APIs, CIBA and webhooks, against a real server."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from gateway.client import AdminClient, ApiError, PartnerClient
from gateway.core.settings import Settings
from gateway.http.app import create_app
from gateway.wire.camara.device_reachability_status import DeviceStatusRequest
from gateway.wire.camara.location_verification import VerifyLocationRequest
from simulator.world import World
from tests.gateway.camara_helpers import ALL_SCOPES, cell_centre, circle, located, msisdn
from tests.gateway.conftest import ADMIN_TOKEN


@pytest.fixture
async def server(aiohttp_server: AiohttpServer, world: World, settings: Settings) -> TestServer:
    return await aiohttp_server(create_app(world, settings))


async def test_three_legged_flow_and_webhook_admin(server: TestServer, world: World) -> None:
    """CIBA through the client: pending, approved, then calls without naming the device."""
    url = str(server.make_url("")).rstrip("/")
    i = located(world)[0]
    number = msisdn(world, i)
    async with AdminClient(url, ADMIN_TOKEN) as admin:
        created = await admin.create_partner("acme", list(ALL_SCOPES))
        assert (await admin.set_ciba_policy(number, "pending")).mode == "pending"
        secret = await admin.partner_webhook_secret(created.id)
        assert await admin.dead_letters() == []
    async with PartnerClient(url, created.client_id, created.client_secret) as partner:
        assert (await partner.webhook_secret()).secret == secret.secret
        ack = await partner.ciba_authorize(number, "openid dpv:FraudPreventionAndDetection "
                                                   "location-verification:verify device-reachability-status:read")
        with pytest.raises(ApiError) as raised:
            await partner.ciba_token(ack.auth_req_id)
        assert raised.value.code == "authorization_pending"
        async with AdminClient(url, ADMIN_TOKEN) as admin:
            await admin.set_ciba_policy(number, "approve")
        partner.use_token(await partner.ciba_token(ack.auth_req_id))
        lat, lon, r = cell_centre(world, i)
        answer = await partner.verify_location(VerifyLocationRequest.model_validate(
            {"area": circle(lat, lon, r + 500)}))
        assert answer.verification_result == "TRUE"
        status = await partner.reachability(DeviceStatusRequest())
        assert status.reachable
