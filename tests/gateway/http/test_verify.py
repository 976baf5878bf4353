"""Authentication codes /verify/v1: success, wrong codes, expiry, resends, limits, fallback, fraud guards."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.world import World
from tests.gateway.conftest import ADMIN, Client, MakePartner, bearer, fetch_token

PATH = "/verify/v1/verifications"


@pytest.fixture
async def token(client: Client, make_partner: MakePartner) -> str:
    return await fetch_token(client, await make_partner("shop", scopes=("verify",)))


async def phone(client: Client, msisdn: str, **profile: Any) -> str:
    """A test phone (always on unless told, app installed unless told)."""
    resp = await client.post("/admin/v1/subscribers", json={"msisdn": msisdn, "profile": profile}, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    return msisdn


async def advance(client: Client, seconds: float) -> None:
    resp = await client.post("/admin/v1/clock/advance", json={"seconds": seconds}, headers=ADMIN)
    assert resp.status == 200


async def start(client: Client, token: str, msisdn: str, channel: str = "SMS", **extra: Any) -> tuple[int, Any]:
    resp = await client.post(PATH, json={"phoneNumber": msisdn, "channel": channel, **extra}, headers=bearer(token))
    return resp.status, await resp.json()


async def check(client: Client, token: str, vid: str, code: str) -> Any:
    resp = await client.post(f"{PATH}/{vid}/check", json={"code": code}, headers=bearer(token))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def codes(client: Client, msisdn: str) -> list[str]:
    inbox = await (await client.get(f"/admin/v1/subscribers/{msisdn}/inbox", headers=ADMIN)).json()
    return [m["code"] for m in inbox["messages"] if m["kind"] == "AUTHENTICATION"]


async def test_sms_code_reaches_the_inbox_and_approves(client: Client, token: str) -> None:
    """The code is never answered; it arrives by SMS after the clock moves and approves the verification."""
    msisdn = await phone(client, "+491701000001")
    status, body = await start(client, token, msisdn)
    assert status == 201
    assert body["status"] == "PENDING" and body["id"].startswith("vrf_")
    assert body["expiresAt"] == "2026-06-01T06:10:00Z"
    assert "code" not in str(body).lower().replace("checkcount", "")
    assert await codes(client, msisdn) == []  # in flight: SMS latency is a few seconds
    await advance(client, 60)
    [code] = await codes(client, msisdn)
    assert len(code) == 6 and code.isdigit()
    got = await check(client, token, body["id"], code)
    assert (got["status"], got["checkCount"]) == ("APPROVED", 1)
    assert got["sends"][0]["channel"] == "SMS" and got["sends"][0]["status"] == "DELIVERED"
    again = await check(client, token, body["id"], "000000")
    assert (again["status"], again["checkCount"]) == ("APPROVED", 1)  # final states are sticky


async def test_wrong_codes_then_max_attempts(client: Client, token: str) -> None:
    """Wrong codes answer PENDING with the tries left; the fifth wrong one is MAX_ATTEMPTS, for good."""
    msisdn = await phone(client, "+491701000002")
    _, body = await start(client, token, msisdn)
    await advance(client, 60)
    [code] = await codes(client, msisdn)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for left in (4, 3, 2, 1):
        got = await check(client, token, body["id"], wrong)
        assert (got["status"], got["checksLeft"]) == ("PENDING", left)
    assert (await check(client, token, body["id"], wrong))["status"] == "MAX_ATTEMPTS"
    assert (await check(client, token, body["id"], code))["status"] == "MAX_ATTEMPTS"


async def test_code_expires_on_the_simulated_clock(client: Client, token: str) -> None:
    """Ten simulated minutes later the right code is EXPIRED."""
    msisdn = await phone(client, "+491701000003")
    _, body = await start(client, token, msisdn)
    await advance(client, 599)
    [code] = await codes(client, msisdn)
    got = await (await client.get(f"{PATH}/{body['id']}", headers=bearer(token))).json()
    assert got["status"] == "PENDING"
    await advance(client, 1)
    assert (await check(client, token, body["id"], code))["status"] == "EXPIRED"


async def test_resend_same_code_then_max_sends(client: Client, token: str) -> None:
    """Starting again for a pending number resends the same code; the sixth send is refused."""
    msisdn = await phone(client, "+491701000004")
    status, first = await start(client, token, msisdn)
    for n in (2, 3, 4, 5):
        await advance(client, 20)
        status, body = await start(client, token, msisdn, channel="AUTO")
        assert (status, body["id"], body["sendCount"]) == (200, first["id"], n)
    resp = await client.post(PATH, json={"phoneNumber": msisdn}, headers=bearer(token))
    assert resp.status == 429
    assert (await resp.json())["code"] == "VERIFY.MAX_SEND_ATTEMPTS"
    assert int(resp.headers["Retry-After"]) == 600 - 80
    await advance(client, 60)
    received = await codes(client, msisdn)
    assert len(received) == 5 and len(set(received)) == 1


async def test_number_limit_with_retry_after(client: Client, token: str) -> None:
    """Five new verifications per number per hour; the sixth is 429 with Retry-After in simulated seconds."""
    msisdn = await phone(client, "+491701000005")
    for _ in range(5):
        assert (await start(client, token, msisdn))[0] == 201
        await advance(client, 600)  # let it expire, so the next start is a new verification
    resp = await client.post(PATH, json={"phoneNumber": msisdn, "channel": "SMS"}, headers=bearer(token))
    assert resp.status == 429
    assert (await resp.json())["code"] == "TOO_MANY_REQUESTS"
    assert resp.headers["Retry-After"] == "600"  # the first one leaves the hour window in 10 minutes
    await advance(client, 600)
    assert (await start(client, token, msisdn))[0] == 201


async def test_auto_pushes_when_the_app_is_there(client: Client, token: str) -> None:
    """AUTO with the app on a reachable phone: a push, no SMS."""
    msisdn = await phone(client, "+491701000006", appInstalled=True)
    _, body = await start(client, token, msisdn, channel="AUTO")
    await advance(client, 60)
    got = await (await client.get(f"{PATH}/{body['id']}", headers=bearer(token))).json()
    assert [(s["channel"], s["status"]) for s in got["sends"]] == [("PUSH", "DELIVERED")]


async def test_auto_without_app_goes_straight_to_sms(client: Client, token: str) -> None:
    """AUTO without the app: the push cannot go, the SMS goes at once."""
    msisdn = await phone(client, "+491701000007", appInstalled=False)
    _, body = await start(client, token, msisdn, channel="AUTO")
    assert [(s["channel"], s["status"], s.get("reason")) for s in body["sends"]] == [
        ("PUSH", "FAILED", "NO_APP"), ("SMS", "SENT", None)]
    _, push_only = await start(client, token, await phone(client, "+491701009999", appInstalled=False),
                                    channel="PUSH")
    assert push_only["sends"] == [{"attempt": 1, "channel": "PUSH", "at": "2026-06-01T06:00:00Z",
                                   "status": "FAILED", "reason": "NO_APP"}]


async def test_auto_falls_back_to_sms_after_the_wait(client: Client, world: World, token: str) -> None:
    """An unreachable phone with the app: push fails, SMS waits 30 s, then the SMSC retries until it is back."""
    msisdn = await phone(client, "+491701000008", appInstalled=True)
    i = world.find_subscriber(msisdn)
    world.devices.forced_off[i] = True
    _, body = await start(client, token, msisdn, channel="AUTO")
    assert [(s["channel"], s["status"]) for s in body["sends"]] == [("PUSH", "FAILED"), ("SMS", "SCHEDULED")]
    await advance(client, 90)
    got = await (await client.get(f"{PATH}/{body['id']}", headers=bearer(token))).json()
    assert (got["sends"][1]["status"], got["sends"][1]["reason"]) == ("SCHEDULED", "UNREACHABLE")
    world.devices.forced_off[i] = False
    await advance(client, 120)
    [code] = await codes(client, msisdn)
    got = await check(client, token, body["id"], code)
    assert got["status"] == "APPROVED"
    assert got["sends"][1]["channel"] == "SMS" and got["sends"][1]["status"] == "DELIVERED"


async def test_fraud_guard_sequential_numbers(client: Client, token: str) -> None:
    """Five verifications to neighbouring numbers within minutes: the fifth is refused."""
    numbers = [await phone(client, f"+4917020000{k:02d}") for k in range(5)]
    for msisdn in numbers[:4]:
        assert (await start(client, token, msisdn))[0] == 201
    status, body = await start(client, token, numbers[4])
    assert (status, body["code"]) == (403, "VERIFY.FRAUD_SUSPECTED")
    await advance(client, 301)  # outside the window the guard lets go
    assert (await start(client, token, numbers[4]))[0] == 201


async def test_fraud_guard_foreign_roamers(client: Client, token: str) -> None:
    """Five verifications to foreign roaming numbers within minutes: the fifth is refused."""
    numbers = [await phone(client, f"+3361{k}000{k}00{k}", roaming=True) for k in range(5)]
    for msisdn in numbers[:4]:
        assert (await start(client, token, msisdn))[0] == 201
    status, body = await start(client, token, numbers[4])
    assert (status, body["code"]) == (403, "VERIFY.FRAUD_SUSPECTED")


async def test_sim_swap_guard(client: Client, world: World, token: str) -> None:
    """Asked to, no code goes to a line whose SIM changed recently."""
    msisdn = world.msisdn_of(3)
    assert (await start(client, token, msisdn, simSwapMaxAgeHours=24))[0] == 201
    await client.post(f"/admin/v1/subscribers/{msisdn}/sim-swap", headers=ADMIN)
    other = world.msisdn_of(4)
    await client.post(f"/admin/v1/subscribers/{other}/sim-swap", headers=ADMIN)
    status, body = await start(client, token, other, simSwapMaxAgeHours=24)
    assert (status, body["code"]) == (422, "VERIFY.SIM_SWAPPED")


async def test_other_partner_sees_nothing(client: Client, token: str, make_partner: MakePartner) -> None:
    """Another partner's verification id is 404, for reading and for checking."""
    msisdn = await phone(client, "+491701000010")
    _, body = await start(client, token, msisdn)
    other = await fetch_token(client, await make_partner("other", scopes=("verify",)))
    assert (await client.get(f"{PATH}/{body['id']}", headers=bearer(other))).status == 404
    resp = await client.post(f"{PATH}/{body['id']}/check", json={"code": "123456"}, headers=bearer(other))
    assert resp.status == 404


@pytest.mark.parametrize(("path", "body", "status", "code"), [
    (PATH, {"phoneNumber": "491701"}, 400, "INVALID_ARGUMENT"),  # not E.164
    (PATH, {"phoneNumber": "+491701000011", "channel": "FAX"}, 400, "INVALID_ARGUMENT"),  # unknown channel
    (PATH, {"phoneNumber": "+491701000011", "simSwapMaxAgeHours": 0}, 400, "INVALID_ARGUMENT"),  # below 1
    (PATH, {"phoneNumber": "+491701000011", "code": "1"}, 400, "INVALID_ARGUMENT"),  # unknown field
    (PATH, {}, 400, "INVALID_ARGUMENT"),  # no number
    (PATH, {"phoneNumber": "+999999999999"}, 404, "IDENTIFIER_NOT_FOUND"),  # not a subscriber
    (f"{PATH}/vrf_00000001/check", {"code": "12ab56"}, 400, "INVALID_ARGUMENT"),  # not digits
    (f"{PATH}/vrf_00000001/check", {"code": 123456}, 400, "INVALID_ARGUMENT"),  # a number, not a string
    (f"{PATH}/vrf_99999999/check", {"code": "123456"}, 404, "NOT_FOUND"),  # no such verification
    (f"{PATH}/nonsense/check", {"code": "123456"}, 404, "NOT_FOUND"),  # not an id of ours
])
async def test_bad_inputs(client: Client, token: str, path: str, body: dict[str, Any], status: int,
                          code: str) -> None:
    """Bad input is a 4xx in the one error shape, never a 500."""
    resp = await client.post(path, json=body, headers=bearer(token))
    got = await resp.json()
    assert (resp.status, got["code"]) == (status, code)


async def test_scope_required(client: Client, make_partner: MakePartner) -> None:
    """Without the verify scope: 403."""
    token = await fetch_token(client, await make_partner("x", scopes=("sim-swap:check",)))
    resp = await client.post(PATH, json={"phoneNumber": "+491701000012"}, headers=bearer(token))
    assert resp.status == 403
