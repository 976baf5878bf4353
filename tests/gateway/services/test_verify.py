"""Authentication codes without HTTP: the verify service on a tiny world and a store on disk; starting, checking
right and wrong codes, the attempts limit, expiry and the SIM-swap refusal."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.core.settings import VerifySettings
from gateway.core.store import Store
from gateway.services.verify import SimSwapped, VerifyService
from simulator.world import World

NUMBER = "+491701300001"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "opsim.db")
    store.open()
    store.create_partner("shop", (), {}, "2026-06-01T06:00:00Z")
    yield store
    store.close()


@pytest.fixture
def verify(world: World, store: Store) -> VerifyService:
    return VerifyService(world, store, VerifySettings())


def test_code_arrives_by_sms_and_approves(world: World, verify: VerifyService) -> None:
    """A new verification is PENDING; its code reaches the phone by SMS and the right code approves it."""
    i = world.add_test_subscriber(NUMBER)
    view, new = verify.start(1, NUMBER, "SMS")
    assert new and view.status == "PENDING" and view.id.startswith("vrf_") and view.send_count == 1
    assert view.expires_at == world.clock.now + timedelta(seconds=VerifySettings().code_ttl_s)
    world.advance(timedelta(minutes=1))
    [code] = [m["code"] for m in world.inbox(i) if m["kind"] == "AUTHENTICATION"]
    assert len(code) == VerifySettings().code_length and code.isdigit()
    got = verify.check(1, view.id, code)
    assert (got.status, got.check_count) == ("APPROVED", 1)
    assert [(s.channel, s.status) for s in got.sends] == [("SMS", "DELIVERED")]


@pytest.mark.parametrize(("tries", "statuses", "checks"), [
    # the right code at once
    (["right"], ["APPROVED"], 1),
    # a wrong code leaves tries; the right one then approves
    (["wrong", "right"], ["PENDING", "APPROVED"], 2),
    # the fifth wrong code uses the last try; the right code comes too late and is not counted
    (["wrong"] * 5 + ["right"], ["PENDING"] * 4 + ["MAX_ATTEMPTS", "MAX_ATTEMPTS"], 5),
    # final states are sticky: a wrong code after approval changes nothing
    (["right", "wrong"], ["APPROVED", "APPROVED"], 1),
])
def test_checks_right_and_wrong_codes(world: World, verify: VerifyService, tries: list[str],
                                      statuses: list[str], checks: int) -> None:
    """Each check answers the verification's status; at most max_checks tries count."""
    world.add_test_subscriber(NUMBER)
    view, _ = verify.start(1, NUMBER, "SMS")
    seq = int(view.id.removeprefix("vrf_"))
    right = verify.code_of(seq)
    wrong = str((int(right) + 1) % 10 ** len(right)).zfill(len(right))
    got = [verify.check(1, view.id, right if t == "right" else wrong) for t in tries]
    assert [g.status for g in got] == statuses
    assert (got[-1].check_count, got[-1].checks_left) == (checks, VerifySettings().max_checks - checks)


def test_code_expires_on_the_simulated_clock(world: World, verify: VerifyService) -> None:
    """After code_ttl_s the verification is EXPIRED and even the right code is refused."""
    world.add_test_subscriber(NUMBER)
    view, _ = verify.start(1, NUMBER, "SMS")
    world.advance(timedelta(seconds=VerifySettings().code_ttl_s))
    assert verify.get(1, view.id).status == "EXPIRED"
    got = verify.check(1, view.id, verify.code_of(int(view.id.removeprefix("vrf_"))))
    assert (got.status, got.check_count) == ("EXPIRED", 0)


@pytest.mark.parametrize(("setting", "asked", "refused"), [
    # the request asks for the guard: a swap within 24 hours refuses the code
    (None, 24, True),
    # the operator's setting guards every request
    (24, None, True),
    # no guard asked for or set: the code is sent
    (None, None, False),
])
def test_sim_swap_refusal(world: World, store: Store, setting: int | None, asked: int | None,
                          refused: bool) -> None:
    """A line whose SIM changed recently gets no code when a guard applies (422 VERIFY.SIM_SWAPPED)."""
    verify = VerifyService(world, store, dataclasses.replace(VerifySettings(), sim_swap_block_hours=setting))
    msisdn = world.subscriber_profile(3).msisdn
    world.sim_swap(world.find_subscriber(msisdn))
    if refused:
        with pytest.raises(SimSwapped):
            verify.start(1, msisdn, "SMS", sim_swap_max_age_hours=asked)
    else:
        assert verify.start(1, msisdn, "SMS", sim_swap_max_age_hours=asked)[1]


def test_sim_swap_guard_lets_an_unswapped_line_through(world: World, verify: VerifyService) -> None:
    """The guard refuses only lines whose SIM changed within the hours asked for."""
    msisdn = world.subscriber_profile(3).msisdn
    view, new = verify.start(1, msisdn, "SMS", sim_swap_max_age_hours=24)
    assert new and view.status == "PENDING"
