"""The Python clients' methods per area against a real app: messages and approvals, verify, SIM swap, number
verification, journeys and event subscriptions, admin lines, CIBA policy and the OpenAPI document."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from gateway.client import AdminClient, ApiError, PartnerClient
from gateway.core.settings import Settings
from gateway.http.app import create_app
from gateway.wire.admin_subscribers import ProfileFields
from gateway.wire.camara.number_verification import NumberVerificationRequest
from gateway.wire.camara.sim_swap import CreateCheckSimSwap, CreateSimSwapDate
from gateway.wire.camara.sim_swap_subscriptions import SubscriptionRequest as SimSwapSubscriptionRequest
from gateway.wire.campaigns import CampaignSubscriptionRequest
from gateway.wire.journeys import JourneyCreate, JourneySubscriptionRequest
from gateway.wire.messages import SendMessage, TemplateRequest
from gateway.wire.verify import StartVerification
from simulator.world import World
from tests.gateway.conftest import ADMIN_TOKEN

LINE = "+491701000100"
SINK = "http://127.0.0.1:9/sink"  # loopback http sinks are accepted; nothing is delivered in these tests


@pytest.fixture
async def server(aiohttp_server: AiohttpServer, world: World, settings: Settings) -> TestServer:
    return await aiohttp_server(create_app(world, settings))


def _url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


async def _partner(admin: AdminClient, *scopes: str) -> tuple[str, str, str]:
    created = await admin.create_partner("acme", list(scopes))
    return created.id, created.client_id, created.client_secret


async def test_messages_senders_templates_and_blocks(server: TestServer) -> None:
    """A partner registers a sender and a template, the operator approves both, a message is sent and read."""
    async with AdminClient(_url(server), ADMIN_TOKEN) as admin:
        await admin.add_test_subscriber(LINE, profile=ProfileFields(app_installed=False))
        partner_id, cid, secret = await _partner(admin, "messages:send", "messages:read")
        async with PartnerClient(_url(server), cid, secret) as partner:
            sender = await partner.register_sender("Acme")
            template = await partner.register_template(
                TemplateRequest(kind="AUTHENTICATION", text="Your Acme code is {code}"))
            assert (sender.status, template.status) == ("PENDING", "PENDING")
            assert [s.id for s in await admin.message_senders("PENDING")] == [sender.id]
            assert [t.id for t in await admin.message_templates("PENDING")] == [template.id]
            assert (await admin.decide_sender(sender.id, "APPROVED")).status == "APPROVED"
            rejected = await admin.decide_template(template.id, "REJECTED", "wording")
            assert (rejected.status, rejected.reason, rejected.partner_id) == ("REJECTED", "wording", partner_id)
            assert [s.status for s in await partner.senders()] == ["APPROVED"]
            assert [t.status for t in await partner.templates()] == ["REJECTED"]
            body = SendMessage(phone_number=LINE, kind="TRANSACTIONAL", channel="SMS", sender_name="Acme",
                               text="Your parcel is on its way")
            sent = await partner.send_message(body, idempotency_key="k1")
            assert (await partner.send_message(body, idempotency_key="k1")).id == sent.id  # replay
            await admin.advance(timedelta(minutes=1))
            assert (await partner.message(sent.id)).status == "DELIVERED"
        blocks = await admin.block_sender(LINE, partner_id, "Acme")
        assert [(b.partner_id, b.sender) for b in blocks.blocks] == [(partner_id, "Acme")]
        assert len((await admin.sender_blocks(LINE)).blocks) == 1
        await admin.unblock_sender(LINE, partner_id, "Acme")
        assert (await admin.sender_blocks(LINE)).blocks == []


async def test_verify_code_from_the_inbox(server: TestServer) -> None:
    """start_verification → the code lands in the inbox → check_verification approves it."""
    async with AdminClient(_url(server), ADMIN_TOKEN) as admin:
        await admin.add_test_subscriber(LINE)
        _, cid, secret = await _partner(admin, "verify")
        async with PartnerClient(_url(server), cid, secret) as partner:
            started = await partner.start_verification(StartVerification(phone_number=LINE, channel="SMS"))
            await admin.advance(timedelta(seconds=30))
            codes = [m["code"] for m in await admin.inbox(LINE) if m["kind"] == "AUTHENTICATION"]
            assert len(codes) == 1
            wrong = "0" * len(codes[0]) if codes[0] != "0" * len(codes[0]) else "1" * len(codes[0])
            assert (await partner.check_verification(started.id, wrong)).status == "PENDING"
            assert (await partner.check_verification(started.id, codes[0])).status == "APPROVED"
            read = await partner.verification(started.id)
            assert (read.status, read.check_count, read.send_count) == ("APPROVED", 2, 1)


async def test_sim_swap_admin_and_partner(server: TestServer) -> None:
    """An operator SIM swap shows on the line and in the partner's check, date and subscription answers."""
    async with AdminClient(_url(server), ADMIN_TOKEN) as admin:
        await admin.add_test_subscriber(LINE)
        _, cid, secret = await _partner(admin, "sim-swap:check", "sim-swap:retrieve-date",
                                        "sim-swap-subscriptions:org.camaraproject.sim-swap-subscriptions.v0.swapped"
                                        ":create", "sim-swap-subscriptions:read", "sim-swap-subscriptions:delete")
        before = await admin.line(LINE)
        await admin.advance(timedelta(hours=1))
        swapped = await admin.sim_swap(LINE)
        assert swapped.swaps_since_start == before.swaps_since_start + 1
        assert swapped.latest_sim_change > before.latest_sim_change
        async with PartnerClient(_url(server), cid, secret) as partner:
            assert (await partner.check_sim_swap(CreateCheckSimSwap(phone_number=LINE, max_age=24))).swapped
            date = await partner.sim_swap_date(CreateSimSwapDate(phone_number=LINE))
            assert date.latest_sim_change == swapped.latest_sim_change
            request = SimSwapSubscriptionRequest.model_validate({
                "protocol": "HTTP", "sink": SINK, "types": ["org.camaraproject.sim-swap-subscriptions.v0.swapped"],
                "config": {"subscriptionDetail": {"phoneNumber": LINE}}})
            sub = await partner.create_sim_swap_subscription(request)
            assert [s.id for s in await partner.sim_swap_subscriptions()] == [sub.id]
            assert (await partner.sim_swap_subscription(sub.id)).id == sub.id
            await partner.delete_sim_swap_subscription(sub.id)
            with pytest.raises(ApiError) as gone:
                await partner.sim_swap_subscription(sub.id)
            assert gone.value.status == 404


async def test_number_verification_with_network_authentication(server: TestServer) -> None:
    """The admin's network authentication gives an auth_req_id the partner redeems for a line-bound token."""
    scopes = ("number-verification:verify", "number-verification:device-phone-number:read")
    async with AdminClient(_url(server), ADMIN_TOKEN) as admin:
        await admin.add_test_subscriber(LINE)
        _, cid, secret = await _partner(admin, *scopes)
        auth = await admin.network_authentication(LINE, cid, "openid dpv:FraudPreventionAndDetection "
                                                  + " ".join(scopes))
        assert auth.amr == ["nba"]
        async with PartnerClient(_url(server), cid, secret) as partner:
            partner.use_token(await partner.ciba_token(auth.auth_req_id))
            match = await partner.verify_number(NumberVerificationRequest(phone_number=LINE))
            assert match.device_phone_number_verified
            assert (await partner.device_phone_number()).device_phone_number == LINE


async def test_event_subscriptions_journeys_ciba_and_openapi(server: TestServer) -> None:
    """Journey and campaign event subscriptions, a journey's operator-side recipients, CIBA policy, OpenAPI."""
    async with AdminClient(_url(server), ADMIN_TOKEN) as admin:
        await admin.add_test_subscriber(LINE)
        _, cid, secret = await _partner(admin, "journeys:read", "journeys:write", "campaigns:read", "messages:send")
        async with PartnerClient(_url(server), cid, secret) as partner:
            sub = await partner.subscribe_journey_events(JourneySubscriptionRequest.model_validate({"sink": SINK}))
            assert [s.id for s in await partner.journey_event_subscriptions()] == [sub.id]
            assert (await partner.journey_event_subscription(sub.id)).id == sub.id
            await partner.delete_journey_event_subscription(sub.id)
            with pytest.raises(ApiError) as gone:
                await partner.journey_event_subscription(sub.id)
            assert gone.value.status == 404
            campaign_sub = await partner.subscribe_campaign_events(
                CampaignSubscriptionRequest.model_validate({"sink": SINK}))
            assert (await partner.campaign_event_subscription(campaign_sub.id)).id == campaign_sub.id
            sender = await partner.register_sender("Acme")
            await admin.decide_sender(sender.id, "APPROVED")
            journey = await partner.create_journey(JourneyCreate.model_validate({
                "name": "welcome", "trigger": {"type": "SUBSCRIBER_JOINED"}, "senderName": "Acme",
                "steps": [{"kind": "INFORMATIONAL", "channel": "SMS", "text": "Welcome"}]}))
            page = await admin.journey_recipients(journey.id)
            assert page.recipients == [] and page.next_cursor is None
            document = await partner.openapi()
            assert "/sim-swap/v2/check" in document["paths"]
        assert (await admin.ciba_policy(LINE)).mode == "consent"
        assert (await admin.set_ciba_policy(LINE, "deny")).mode == "deny"
        assert (await admin.ciba_policy(LINE)).mode == "deny"

