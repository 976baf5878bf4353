"""CAMARA sim-swap v2: check and retrieve-date against the line lifecycle, identifier rules, conformance."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from simulator.clock import to_micros
from simulator.world import World
from tests.gateway.camara_helpers import ciba_token
from tests.gateway.camara_spec import assert_conforms, spec
from tests.gateway.conftest import ADMIN, Client, MakePartner, Wall, a_msisdn, bearer, fetch_token

SCOPES = ("sim-swap:check", "sim-swap:retrieve-date")
SPEC = "SimSwap_sim-swap.yaml"


@pytest.fixture
async def token(client: Client, make_partner: MakePartner) -> str:
    return await fetch_token(client, await make_partner("bank", scopes=SCOPES))


def never_swapped_since_start(world: World) -> int:
    """A line whose latest SIM change is more than 2400 hours before the start."""
    old = world.last_sim_changes(range(200)) < to_micros(world.clock.now - timedelta(hours=2401))  # type: ignore[arg-type]
    return int(old.argmax())


async def post(client: Client, path: str, body: dict[str, Any], token: str) -> tuple[int, Any]:
    resp = await client.post(f"/sim-swap/v2/{path}", json=body, headers={**bearer(token), "x-correlator": "c-1"})
    assert resp.headers["x-correlator"] == "c-1"
    return resp.status, await resp.json()


def swap_hours_ago(world: World, i: int, hours: float) -> None:
    """A swap ``hours`` before now, written into the line history (no need to simulate the days in between)."""
    world.sims.swap(i, world.clock.now - timedelta(hours=hours))


@pytest.mark.parametrize("hours", [260, 120, 24, 12])
async def test_check_after_a_swap(client: Client, world: World, token: str, hours: int) -> None:
    """@check_sim_swap_3: swapped some hours ago and maxAge at least that: true; one hour less: false."""
    i = never_swapped_since_start(world)
    msisdn = a_msisdn(world, i)
    swap_hours_ago(world, i, hours - 0.5)
    status, body = await post(client, "check", {"phoneNumber": msisdn, "maxAge": hours}, token)
    assert (status, body) == (200, {"swapped": True})
    status, body = await post(client, "check", {"phoneNumber": msisdn, "maxAge": hours - 1}, token)
    assert (status, body) == (200, {"swapped": False})


async def test_check_default_max_age_and_never_swapped(client: Client, world: World, token: str) -> None:
    """@check_sim_swap_2/4/6: default maxAge is 240 hours; a line unchanged for longer is not swapped."""
    old, recent = never_swapped_since_start(world), 150
    assert (await post(client, "check", {"phoneNumber": a_msisdn(world, old)}, token))[1] == {"swapped": False}
    swap_hours_ago(world, recent, 239)
    assert (await post(client, "check", {"phoneNumber": a_msisdn(world, recent)}, token))[1] == {"swapped": True}
    swap_hours_ago(world, old, 241)
    assert (await post(client, "check", {"phoneNumber": a_msisdn(world, old)}, token))[1] == {"swapped": False}


async def test_admin_swap_then_time_passes(client: Client, world: World, token: str) -> None:
    """An admin swap counts at once and stops counting once maxAge hours have passed on the clock."""
    msisdn = a_msisdn(world, never_swapped_since_start(world))
    resp = await client.post(f"/admin/v1/subscribers/{msisdn.replace('+', '%2B')}/sim-swap", headers=ADMIN)
    assert resp.status == 200
    assert (await post(client, "check", {"phoneNumber": msisdn, "maxAge": 1}, token))[1] == {"swapped": True}
    await client.post("/admin/v1/clock/advance", json={"seconds": 3600}, headers=ADMIN)
    assert (await post(client, "check", {"phoneNumber": msisdn, "maxAge": 1}, token))[1] == {"swapped": False}


async def test_retrieve_date_is_swap_or_activation(client: Client, world: World, token: str) -> None:
    """@retrieve_sim_swap_date_2/3: the latest swap, else the activation instant; both conform to the spec."""
    api = spec(SPEC)
    i = never_swapped_since_start(world)
    msisdn = a_msisdn(world, i)
    status, body = await post(client, "retrieve-date", {"phoneNumber": msisdn}, token)
    assert status == 200
    assert body == {"latestSimChange": world.last_sim_change(i).isoformat().replace("+00:00", "Z")}
    assert_conforms(api, "POST", "/sim-swap/v2/retrieve-date", 200, body)
    await client.post("/admin/v1/clock/advance", json={"seconds": 90}, headers=ADMIN)
    line = await (await client.post(f"/admin/v1/subscribers/{msisdn}/sim-swap", headers=ADMIN)).json()
    assert line["latestSimChange"] == "2026-06-01T06:01:30Z"
    assert line["swapsSinceStart"] == 1
    status, body = await post(client, "retrieve-date", {"phoneNumber": msisdn}, token)
    assert body == {"latestSimChange": "2026-06-01T06:01:30Z"}
    status, check = await post(client, "check", {"phoneNumber": msisdn, "maxAge": 1}, token)
    assert_conforms(api, "POST", "/sim-swap/v2/check", 200, check)


async def test_monitored_period_hides_old_changes(aiohttp_client: Any, world: World, tmp_path: Any,
                                                  wall: Wall) -> None:
    """@retrieve_sim_swap_date_5 and @check_sim_swap_400.3: a 30-day regulation window."""
    from gateway.core.settings import Settings, SimSwapSettings
    from gateway.http.app import create_app

    settings = Settings(db_path=tmp_path / "m.db", admin_token="test-admin-token", wall_clock=wall,
                        sim_swap=SimSwapSettings(monitored_days=30))
    client = await aiohttp_client(create_app(world, settings))
    resp = await client.post("/admin/v1/partners", json={"name": "b", "scopes": list(SCOPES)}, headers=ADMIN)
    creds = await resp.json()
    form = {"grant_type": "client_credentials", "client_id": creds["clientId"], "client_secret": creds["clientSecret"]}
    token = (await (await client.post("/oauth2/token", data=form)).json())["access_token"]
    msisdn = a_msisdn(world, never_swapped_since_start(world))
    status, body = await post(client, "retrieve-date", {"phoneNumber": msisdn}, token)
    assert (status, body) == (200, {"latestSimChange": None, "monitoredPeriod": 30})
    assert_conforms(spec(SPEC), "POST", "/sim-swap/v2/retrieve-date", 200, body)
    status, body = await post(client, "check", {"phoneNumber": msisdn, "maxAge": 30 * 24 + 1}, token)
    assert (status, body["code"]) == (400, "OUT_OF_RANGE")
    assert "30 days" in body["message"]


async def test_three_legged_token_identifies_the_line(client: Client, world: World,
                                                      make_partner: MakePartner) -> None:
    """A CIBA token bound to a subscriber answers for it; naming a number as well is UNNECESSARY_IDENTIFIER."""
    i = never_swapped_since_start(world)
    creds = await make_partner("bank3", scopes=SCOPES)
    token = await ciba_token(client, creds, a_msisdn(world, i),
                             scope="openid dpv:FraudPreventionAndDetection " + " ".join(SCOPES))
    status, body = await post(client, "retrieve-date", {}, token)
    assert status == 200
    assert body["latestSimChange"] == world.last_sim_change(i).isoformat().replace("+00:00", "Z")
    status, body = await post(client, "check", {"phoneNumber": a_msisdn(world, i)}, token)
    assert (status, body["code"]) == (422, "UNNECESSARY_IDENTIFIER")


@pytest.mark.parametrize(("path", "body", "status", "code"), [
    ("check", {"phoneNumber": "+49301234567", "maxAge": 100000}, 400, "OUT_OF_RANGE"),  # @400.2 above the limit
    ("check", {"phoneNumber": "+49301234567", "maxAge": 0}, 400, "INVALID_ARGUMENT"),  # @400.1 below the schema
    ("check", {"phoneNumber": "+49301234567", "maxAge": "24"}, 400, "INVALID_ARGUMENT"),  # @400.1 not an integer
    ("check", {"phoneNumber": "+49301234567", "maxAge": 2.5}, 400, "INVALID_ARGUMENT"),  # @400.1 not an integer
    ("check", {"phoneNumber": "49301234567"}, 400, "INVALID_ARGUMENT"),  # @C02.01 no '+'
    ("retrieve-date", {"phoneNumber": "+0123"}, 400, "INVALID_ARGUMENT"),  # @C02.01 not E.164
    ("retrieve-date", {"phoneNumber": "+999999999999"}, 404, "IDENTIFIER_NOT_FOUND"),  # @C02.02 not ours
    ("check", {"phoneNumber": "+999999999999", "maxAge": 5}, 404, "IDENTIFIER_NOT_FOUND"),  # @C02.02 not ours
    ("check", {"maxAge": 24}, 422, "MISSING_IDENTIFIER"),  # @C02.04 two-legged without a number
    ("retrieve-date", {}, 422, "MISSING_IDENTIFIER"),  # @C02.04 two-legged without a number
    ("retrieve-date", {"phoneNumber": "+49301234567", "extra": 1}, 400, "INVALID_ARGUMENT"),  # unknown field
])
async def test_bad_inputs(client: Client, token: str, path: str, body: dict[str, Any], status: int,
                          code: str) -> None:
    """Errors follow the spec's codes and shape."""
    got_status, got = await post(client, path, body, token)
    assert (got_status, got["code"], got["status"]) == (status, code, status)
    assert got["message"]
    assert_conforms(spec(SPEC), "POST", f"/sim-swap/v2/{path}", status, got)


@pytest.mark.parametrize("headers", [
    {},  # @401.1 no Authorization header
    {"Authorization": "Bearer not-a-token"},  # @401.3 invalid token
])
async def test_unauthenticated(client: Client, world: World, headers: dict[str, str]) -> None:
    """401 UNAUTHENTICATED without a valid credential."""
    resp = await client.post("/sim-swap/v2/check", json={"phoneNumber": a_msisdn(world)}, headers=headers)
    body = await resp.json()
    assert (resp.status, body["code"]) == (401, "UNAUTHENTICATED")


async def test_expired_token(client: Client, world: World, token: str, wall: Wall) -> None:
    """@401.2: an expired token is 401."""
    wall.now += 7200
    status, body = await post(client, "check", {"phoneNumber": a_msisdn(world)}, token)
    assert (status, body["code"]) == (401, "UNAUTHENTICATED")


async def test_scope_is_required(client: Client, world: World, make_partner: MakePartner) -> None:
    """A token without sim-swap:check is 403 on check."""
    token = await fetch_token(client, await make_partner("x", scopes=("sim-swap:retrieve-date",)))
    status, body = await post(client, "check", {"phoneNumber": a_msisdn(world)}, token)
    assert (status, body["code"]) == (403, "PERMISSION_DENIED")


async def test_admin_swap_unknown_number(client: Client) -> None:
    """Swapping a number the operator does not have is 404."""
    resp = await client.post("/admin/v1/subscribers/+999999999999/sim-swap", headers=ADMIN)
    assert resp.status == 404
