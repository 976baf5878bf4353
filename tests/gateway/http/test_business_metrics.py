"""/metrics business series: campaign sends by outcome, outbox states and webhook latency, verify checks and
verifications, direct messages; read back with Prometheus' own parser."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families
from pytest_aiohttp import AiohttpServer

from gateway.services.policy import REASONS
from tests.gateway.camara_helpers import start_sink
from tests.gateway.campaign_helpers import advance, campaign_body, campaign_partner, create, now_of, tally, truth
from tests.gateway.conftest import ADMIN, Client, MakePartner, bearer, fetch_token

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: Client) -> Samples:
    """Every sample of /metrics by (name, labels)."""
    resp = await client.get("/metrics")
    assert resp.status == 200
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(await resp.text()) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


async def test_business_series_are_there_before_anything_happened(client: Client) -> None:
    """A fresh gateway exposes every business series at zero (dashboards need no special case)."""
    samples = await scrape(client)
    assert value(samples, "opsim_campaign_sends_total", outcome="delivered", reason="") == 0
    for reason in REASONS:
        assert value(samples, "opsim_campaign_sends_total", outcome="suppressed", reason=reason) == 0
    for state in ("pending", "retrying", "delivered", "dead", "cancelled"):
        assert value(samples, "opsim_webhook_events", state=state) == 0
    for outcome in ("approved", "denied", "expired", "max_attempts"):
        assert value(samples, "opsim_verify_checks_total", outcome=outcome) == 0
    assert value(samples, "opsim_verifications", status="pending") == 0


async def test_campaign_sends_match_the_operator_side_truth(client: Client, make_partner: MakePartner) -> None:
    """Sends by outcome and suppressions by reason add up to the campaign's records."""
    caller = await campaign_partner(client, make_partner)
    created = await create(client, caller, campaign_body(await now_of(client), hours=1))
    await advance(client, 30)
    counts = tally(await truth(client, created["id"]))
    samples = await scrape(client)
    assert counts.get("DELIVERED", 0) > 0 and counts.get("NO_CONSENT", 0) > 0  # the test means something
    assert value(samples, "opsim_campaign_sends_total", outcome="delivered", reason="") == counts["DELIVERED"]
    assert value(samples, "opsim_campaign_sends_total", outcome="failed", reason="") == counts.get("FAILED", 0)
    for reason in REASONS:
        assert value(samples, "opsim_campaign_sends_total", outcome="suppressed", reason=reason) == \
            counts.get(reason, 0), reason


async def _phone(client: Client, msisdn: str) -> None:
    resp = await client.post("/admin/v1/subscribers", json={"msisdn": msisdn, "profile": {}}, headers=ADMIN)
    assert resp.status == 201, await resp.text()


async def test_verify_checks_by_outcome_and_verifications_by_status(client: Client,
                                                                    make_partner: MakePartner) -> None:
    """Approved, denied, max attempts and expired checks are counted; verifications are gauged by status."""
    headers = bearer(await fetch_token(client, await make_partner("shop", scopes=("verify",))))
    path = "/verify/v1/verifications"
    ids = []
    for i in range(4):
        await _phone(client, f"+49170100000{i}")
        resp = await client.post(path, json={"phoneNumber": f"+49170100000{i}", "channel": "SMS"}, headers=headers)
        assert resp.status == 201, await resp.text()
        ids.append((await resp.json())["id"])
    await advance(client, 1)
    inbox = await (await client.get("/admin/v1/subscribers/+491701000000/inbox", headers=ADMIN)).json()
    [code] = [m["code"] for m in inbox["messages"] if m["kind"] == "AUTHENTICATION"]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    async def check(vid: str, guess: str) -> str:
        resp = await client.post(f"{path}/{vid}/check", json={"code": guess}, headers=headers)
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["status"])

    assert await check(ids[0], wrong) == "PENDING"  # denied
    assert await check(ids[0], code) == "APPROVED"
    for _ in range(5):
        last = await check(ids[1], "000000" if code != "000000" else "111111")
    assert last == "MAX_ATTEMPTS"  # four denied, then max attempts
    await advance(client, 11)  # past the codes' 10 minutes
    assert await check(ids[2], code) == "EXPIRED"
    samples = await scrape(client)
    assert {o: value(samples, "opsim_verify_checks_total", outcome=o)
            for o in ("approved", "denied", "expired", "max_attempts")} == {
        "approved": 1, "denied": 5, "expired": 1, "max_attempts": 1}
    # ids[3] was never checked: it counts as expired all the same
    assert {s: value(samples, "opsim_verifications", status=s)
            for s in ("pending", "approved", "expired", "max_attempts")} == {
        "pending": 0, "approved": 1, "expired": 2, "max_attempts": 1}


async def test_direct_messages_outbox_states_and_webhook_latency(client: Client, make_partner: MakePartner,
                                                                 aiohttp_server: AiohttpServer) -> None:
    """A message with a callback: its outcome is gauged, its three status events are delivered and timed."""
    creds = await make_partner("shop", scopes=("messages:send", "messages:read"))
    headers = bearer(await fetch_token(client, creds))
    resp = await client.post("/messages/v1/senders", json={"name": "Acme"}, headers=headers)
    sender = (await resp.json())["id"]
    resp = await client.post(f"/admin/v1/message-senders/{sender}/decision", json={"decision": "APPROVED"},
                             headers=ADMIN)
    assert resp.status == 200, await resp.text()
    sink = await start_sink(aiohttp_server)
    await _phone(client, "+491701000009")
    body = {"phoneNumber": "+491701000009", "kind": "TRANSACTIONAL", "channel": "SMS", "senderName": "Acme",
            "text": "Your parcel is on its way", "callback": {"sink": sink.url}}
    resp = await client.post("/messages/v1/messages", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    await advance(client, 1)
    await sink.wait_for(3)
    samples = await scrape(client)
    for _ in range(250):  # the sender records an attempt just after the sink answered it
        if value(samples, "opsim_webhook_events", state="delivered") == 3:
            break
        await asyncio.sleep(0.02)
        samples = await scrape(client)
    assert value(samples, "opsim_messages", status="delivered", reason="") == 1
    assert value(samples, "opsim_webhook_events", state="delivered") == 3
    assert value(samples, "opsim_webhook_events", state="pending") == 0
    assert value(samples, "opsim_webhook_delivery_duration_seconds_count", result="delivered") == 3
    total = value(samples, "opsim_webhook_delivery_duration_seconds_sum", result="delivered")
    assert 0 < total < 15  # wall seconds, not milliseconds
    assert value(samples, "opsim_webhook_delivery_duration_seconds_bucket", result="delivered", le="+Inf") == 3
