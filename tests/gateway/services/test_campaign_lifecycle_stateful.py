"""Campaign lifecycle against a dict model (Hypothesis stateful): status follows the simulated clock and cancels.

The model knows only each campaign's start, end and whether it was cancelled (and when); the service must agree
after every step, and cancelling anything no longer SCHEDULED or RUNNING must be refused with 409.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from gateway.core.errors import Conflict
from gateway.core.settings import CampaignSettings
from gateway.core.store import Store
from gateway.services.campaigns.model import CampaignRequest, TargetingSpec
from gateway.services.campaigns.service import CampaignService
from gateway.services.targeting import CircleSpec
from simulator.world import World, WorldConfig

_BASE = World.build(WorldConfig(city="berlin", subscribers=600, seed=4))


@dataclass
class Expected:
    """What the model knows of one campaign."""

    created: datetime
    start: datetime
    end: datetime
    cancelled_at: datetime | None = None

    def status(self, now: datetime) -> str:
        """Status at tick instant ``now``: transitions happen at the first tick after creation and start."""
        if self.cancelled_at is not None:
            return "CANCELLED"
        if now <= self.created or now < self.start:
            return "SCHEDULED"
        return "RUNNING" if now < self.end else "COMPLETED"


class CampaignLifecycle(RuleBasedStateMachine):
    """Random creates, cancels and clock advances, checked against :class:`Expected`."""

    def __init__(self) -> None:
        super().__init__()
        self._tmp = TemporaryDirectory()
        self.world = copy.deepcopy(_BASE)
        self.store = Store(Path(self._tmp.name) / "c.db")
        self.store.open()
        partner, _, _ = self.store.create_partner("p", (), {}, "2026-06-01T06:00:00Z")
        self.partner = partner.id
        self.service = CampaignService(self.world, self.store, CampaignSettings(min_audience=0))
        self.model: dict[str, Expected] = {}

    @initialize()
    def settle(self) -> None:
        self.world.advance(timedelta(minutes=1))

    @rule(start_in=st.integers(0, 180), length=st.integers(1, 240))
    def create(self, start_in: int, length: int) -> None:
        now = self.world.clock.now
        start = now + timedelta(minutes=start_in)
        end = start + timedelta(minutes=length)
        req = CampaignRequest("c", TargetingSpec((CircleSpec(52.52, 13.405, 5000.0),), "PRESENT"), start, end,
                              "INFORMATIONAL", "SMS", "Acme", "Hello from Acme")
        view, created = self.service.create(self.partner, req)
        assert created and view.status == "SCHEDULED"
        self.model[view.id] = Expected(now, start, end)

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        if not self.model:
            return
        cid = data.draw(st.sampled_from(sorted(self.model)))
        expected = self.model[cid]
        now = self.world.clock.now
        if expected.status(self.world.time_of(self.world.tick_index)) in ("SCHEDULED", "RUNNING"):
            assert self.service.cancel(self.partner, cid).status == "CANCELLED"
            expected.cancelled_at = now
        else:
            try:
                self.service.cancel(self.partner, cid)
            except Conflict:
                pass
            else:
                raise AssertionError(f"cancelling a {expected.status(now)} campaign must be refused")

    @rule(minutes=st.integers(1, 150))
    def advance(self, minutes: int) -> None:
        self.world.advance(timedelta(minutes=minutes))

    @invariant()
    def statuses_match(self) -> None:
        # The engine moves campaigns at tick boundaries: compare at the last tick instant.
        now = self.world.time_of(self.world.tick_index)
        for cid, expected in self.model.items():
            view = self.service.get(self.partner, cid)
            assert view.status == expected.status(now), (cid, view.status, expected, now)

    def teardown(self) -> None:
        self.store.close()
        self._tmp.cleanup()


CampaignLifecycle.TestCase.settings = settings(max_examples=15, stateful_step_count=12, deadline=None,
                                               suppress_health_check=[HealthCheck.too_slow])
TestCampaignLifecycle = CampaignLifecycle.TestCase
