"""Fault decisions: deterministic for a seed, independent of other partners' traffic; profiles from the config file;
SMS delays added to SMS latencies only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from gateway.core.config import ConfigError, load_settings
from gateway.core.settings import Settings
from gateway.services.delivery import simulate
from gateway.services.faults import FaultService
from gateway.services.policy import PUSH, SMS
from gateway.wire.faults import FaultProfileCreate, NetworkFaultCreate
from simulator.world import World

MIXED = FaultProfileCreate.model_validate({
    "name": "mixed", "seed": 3,
    "http": {"errors": [{"status": 503, "probability": 0.2}, {"status": 429, "probability": 0.1}],
             "dropProbability": 0.05, "latency": {"distribution": "exponential", "meanMs": 80, "probability": 0.5}}})


def decisions(service: FaultService, partner: str, n: int) -> list[tuple[float, bool, int | None]]:
    return [(d.delay_s, d.drop, d.status) for d in
            (service.http(partner, "/partner/v1/me", "/partner/v1/me") for _ in range(n))]


def test_same_seed_same_requests_same_faults(world: World) -> None:
    """Two services with the same profile decide the same faults for the same sequence of requests."""
    assert decisions(FaultService(world, (MIXED,)), "ptn_000001", 200) == \
        decisions(FaultService(world, (MIXED,)), "ptn_000001", 200)


def test_another_seed_other_faults(world: World) -> None:
    """Another seed draws another sequence."""
    other = MIXED.model_copy(update={"seed": 4})
    assert decisions(FaultService(world, (MIXED,)), "ptn_000001", 200) != \
        decisions(FaultService(world, (other,)), "ptn_000001", 200)


def test_other_partners_do_not_shift_a_partners_faults(world: World) -> None:
    """A partner's n-th request gets the same faults however many requests other partners make in between."""
    alone = decisions(FaultService(world, (MIXED,)), "ptn_000001", 50)
    busy = FaultService(world, (MIXED,))
    mixed = []
    for _ in range(50):
        decisions(busy, "ptn_000002", 3)
        mixed += decisions(busy, "ptn_000001", 1)
    assert mixed == alone


def test_shares_follow_the_probabilities(world: World) -> None:
    """Over many requests, each fault shows up about as often as its probability says."""
    got = decisions(FaultService(world, (MIXED,)), "ptn_000001", 4000)
    share = {s: sum(d[2] == s for d in got) / len(got) for s in (503, 429)}
    assert abs(share[503] - 0.2) < 0.03 and abs(share[429] - 0.1) < 0.03
    assert abs(sum(d[1] for d in got) / len(got) - 0.05) < 0.015
    assert abs(sum(d[0] > 0 for d in got) / len(got) - 0.5) < 0.03


def test_config_file_activates_profiles(tmp_path: Path) -> None:
    """The ``faults`` section of ``--config`` holds profiles as the admin API takes them; bad ones are refused."""
    path = tmp_path / "operator.yaml"
    path.write_text("faults:\n  - name: slow\n    http: {latency: {distribution: fixed, ms: 100}}\n")
    settings = load_settings(path, Settings(admin_token="t"))
    assert [p.name for p in settings.faults] == ["slow"]
    path.write_text("faults:\n  - name: slow\n    http: {dropProbability: 2}\n")
    with pytest.raises(ConfigError, match="faults"):
        load_settings(path, Settings(admin_token="t"))


def test_sms_delay_window(world: World) -> None:
    """An SMS_DELAY fault delays SMS sent while it lasts, by exactly its delay, and never pushes."""
    service = FaultService(world)
    service.add_network(NetworkFaultCreate(kind="SMS_DELAY", duration_s=600, delay_s=90))
    assert world.sms_delay_s() == 90.0
    channel = np.asarray([PUSH, SMS], np.uint8)
    hour, age = np.asarray([12, 12], np.int16), np.asarray([30, 30], np.uint8)
    plain = simulate(np.random.default_rng(1), channel, "PROMO", hour, age)
    delayed = simulate(np.random.default_rng(1), channel, "PROMO", hour, age, world.sms_delay_s())
    assert np.allclose(delayed.latency_s - plain.latency_s, [0.0, 90.0])
    world.run_until(world.clock.now + timedelta(minutes=11))
    assert world.sms_delay_s() == 0.0
