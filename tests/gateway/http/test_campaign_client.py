"""The typed campaign methods of PartnerClient and AdminClient against a real server on 127.0.0.1."""

from __future__ import annotations

from datetime import timedelta

from pytest_aiohttp import AiohttpServer

from gateway.client import AdminClient, PartnerClient
from gateway.core.settings import Settings
from gateway.http.app import create_app
from gateway.wire.campaigns import CampaignCreate, EstimateRequest
from simulator.world import World
from tests.gateway.campaign_helpers import SCOPES, campaign_body, circle
from tests.gateway.conftest import ADMIN_TOKEN


async def test_campaign_round_trip_with_clients(aiohttp_server: AiohttpServer, world: World,
                                                settings: Settings) -> None:
    """Estimate, create (idempotent), list, read, report, cancel; the admin reads the truth."""
    server = await aiohttp_server(create_app(world, settings))
    url = str(server.make_url("")).rstrip("/")
    async with AdminClient(url, ADMIN_TOKEN) as admin:
        created = await admin.create_partner("acme", list(SCOPES))
        async with PartnerClient(url, created.client_id, created.client_secret) as partner:
            estimate = await partner.estimate(EstimateRequest.model_validate(
                {"targeting": {"areas": [circle()]}}))
            assert estimate.estimated_audience and estimate.estimated_audience > 50
            body = CampaignCreate.model_validate(campaign_body(world.clock.now))
            campaign = await partner.create_campaign(body, idempotency_key="once")
            again = await partner.create_campaign(body, idempotency_key="once")
            assert again.id == campaign.id and campaign.status == "SCHEDULED"
            assert [c.id for c in (await partner.campaigns()).campaigns] == [campaign.id]
            await admin.advance(timedelta(minutes=10))
            assert (await partner.campaign(campaign.id)).status == "RUNNING"
            report = await partner.campaign_report(campaign.id)
            truth = await admin.campaign_deliveries(campaign.id, limit=1000)
            assert report.sent == sum(r.outcome != "SUPPRESSED" for r in truth.records)
            assert (await partner.cancel_campaign(campaign.id)).status == "CANCELLED"
