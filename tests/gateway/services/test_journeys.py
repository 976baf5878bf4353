"""Journeys without HTTP: a tiny world, a store on disk, the service and its tick engine; triggers, chains,
stop conditions, the operator-side records and the hourly reports."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.core.settings import MIN_RADIUS_M, CampaignSettings, MessageSettings
from gateway.core.store import Store
from gateway.services import policy
from gateway.services.caps import FrequencyCaps
from gateway.services.journeys.model import JourneyRequest, RecipientRecord, StepSpec
from gateway.services.journeys.service import JourneyService
from gateway.services.messages.service import MessageService
from gateway.services.targeting import CircleSpec
from simulator.world import World

RULES = CampaignSettings()
T0 = datetime.fromisoformat("2026-06-01T06:00:00+00:00")
Event = tuple[str, dict[str, Any], datetime]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "opsim.db")
    store.open()
    store.create_partner("shop", (), {}, "2026-06-01T06:00:00Z")
    yield store
    store.close()


@pytest.fixture
def journeys(world: World, store: Store) -> JourneyService:
    """The journeys of partner 1, whose sender name ``Acme`` is approved; privacy threshold 1 (exact counts)."""
    messages = MessageService(world, store, MessageSettings(),
                              policy.Rules(RULES.quiet_start_hour, RULES.quiet_end_hour, RULES.daily_cap),
                              FrequencyCaps(world.population.size, False), RULES.moderation_terms)
    messages.decide_sender(messages.register_sender(1, "Acme").id, approve=True)
    return JourneyService(world, store, messages, 1, MIN_RADIUS_M, RULES.max_radius_m)


def centre(world: World) -> tuple[float, float]:
    return world.city.projection.lat0, world.city.projection.lon0


def phone(world: World, msisdn: str, north: float = 0.03) -> int:
    """A test phone with advertising consent, ``north`` degrees north of the centre (another cell)."""
    lat, lon = centre(world)
    return world.add_test_subscriber(msisdn, profile={"app_installed": True},
                                     consent={"ADVERTISING": {"PUSH": True, "SMS": True}},
                                     latitude=lat + north, longitude=lon)


def request(trigger: str, steps: tuple[StepSpec, ...], **extra: Any) -> JourneyRequest:
    return JourneyRequest("chain", trigger, "Acme", steps, **extra)


def info(text: str, delay_s: int = 0) -> StepSpec:
    return StepSpec("INFORMATIONAL", "SMS", text, delay_seconds=delay_s)


def minutes(world: World, n: float) -> None:
    world.advance(timedelta(minutes=n))


def record(journeys: JourneyService, jid: str, msisdn: str) -> RecipientRecord:
    """The operator-side record of the recipient with that number."""
    records, _ = journeys.recipients(jid, 1000)
    [mine] = [r for r in records if r.msisdn == msisdn]
    return mine


def outcomes(r: RecipientRecord) -> list[tuple[str, str | None]]:
    return [(s.outcome, s.reason) for s in r.steps]


def test_area_entered_walks_the_chain(world: World, journeys: JourneyService) -> None:
    """An entry into the area makes a recipient at the tick that sees it; its second step goes 10 minutes later."""
    i = phone(world, "+491701200001")
    area = CircleSpec(*centre(world), 300)
    view, new = journeys.create(1, request("AREA_ENTERED", (info("Welcome"), info("Coffee", 600)), area=area))
    assert new and view.status == "ACTIVE"
    minutes(world, 1)  # the journey is visible to the engine from 06:01
    world.pin(i, *centre(world))
    minutes(world, 1)
    mine = record(journeys, view.id, "+491701200001")
    assert mine.triggered_at == T0 + timedelta(minutes=2)
    assert [s.outcome for s in mine.steps] == ["MESSAGE", "PENDING"] and mine.steps[0].sent
    minutes(world, 10.5)  # 06:12:30: the SMS has arrived
    mine = record(journeys, view.id, "+491701200001")
    assert [s.outcome for s in mine.steps] == ["MESSAGE", "MESSAGE"]
    assert mine.steps[1].decided_at == T0 + timedelta(minutes=12)
    assert [m["text"] for m in world.inbox(i)] == ["Welcome", "Coffee"]
    report = journeys.report(1, view.id)
    assert report.recipients is not None and report.recipients >= 1


def test_leaving_the_area_stops_the_rest(world: World, journeys: JourneyService) -> None:
    """onAreaExit: a recipient that leaves before its next step gets it recorded STOPPED LEFT_AREA."""
    i = phone(world, "+491701200002")
    area = CircleSpec(*centre(world), 300)
    view, _ = journeys.create(1, request("AREA_ENTERED", (info("Welcome"), info("Coffee", 600)), area=area,
                                         stop_on_area_exit=True))
    minutes(world, 1)
    world.pin(i, *centre(world))
    minutes(world, 2)
    world.pin(i, centre(world)[0] + 0.03, centre(world)[1])
    minutes(world, 1)
    assert outcomes(record(journeys, view.id, "+491701200002")) == [("MESSAGE", None), ("STOPPED", "LEFT_AREA")]
    assert [m["text"] for m in world.inbox(i)] == ["Welcome"]


def test_subscriber_joined_enrols_a_new_line_once(world: World, journeys: JourneyService) -> None:
    """A line activated after the journey starts is a recipient; the steps are sent and counted in the report."""
    view, _ = journeys.create(1, request("SUBSCRIBER_JOINED", (info("Hello"), info("Tips", 1800))))
    minutes(world, 1)
    i = phone(world, "+491701200003")
    minutes(world, 1)
    mine = record(journeys, view.id, "+491701200003")
    assert [s.outcome for s in mine.steps] == ["MESSAGE", "PENDING"]
    minutes(world, 30.5)
    assert outcomes(record(journeys, view.id, "+491701200003")) == [("MESSAGE", None), ("MESSAGE", None)]
    assert [m["text"] for m in world.inbox(i)] == ["Hello", "Tips"]
    steps = journeys.report(1, view.id).steps
    assert steps[0].sent is not None and steps[0].sent >= 1 and steps[1].pending == 0


def test_cancel_stops_pending_steps(world: World, journeys: JourneyService) -> None:
    """A cancellation records every step not yet sent as STOPPED CANCELLED."""
    view, _ = journeys.create(1, request("SUBSCRIBER_JOINED", (info("Hello"), info("Tips", 1800))))
    minutes(world, 1)
    phone(world, "+491701200004")
    minutes(world, 1)
    assert journeys.cancel(1, view.id).status == "CANCELLED"
    assert outcomes(record(journeys, view.id, "+491701200004")) == [("MESSAGE", None), ("STOPPED", "CANCELLED")]


@pytest.mark.parametrize(("start_min", "end_min", "cancel_min", "expected", "last"), [
    # 06:00–08:00: hours 06 and 07, each reported at its end, then completed
    (None, 120, None, [(0, 60), (60, 120)], "journey.completed"),
    # ends at 07:30: the last hour is partial, reported at the end (issue #12 item 9 for journeys)
    (None, 90, None, [(0, 60), (60, 90)], "journey.completed"),
    # starts at 06:30, ends at 08:15: first and last hours partial, no report before the start
    (30, 135, None, [(0, 60), (60, 120), (120, 135)], "journey.completed"),
    # no end, cancelled at 07:20: the hour cut short is reported before journey.cancelled
    (None, None, 80, [(0, 60), (60, 80)], "journey.cancelled"),
    # cancelled exactly on the hour: that hour was reported by its tick, nothing partial
    (None, None, 120, [(0, 60), (60, 120)], "journey.cancelled"),
])
def test_hourly_reports_cover_each_hour_of_the_window_at_its_end(
        world: World, journeys: JourneyService, start_min: int | None, end_min: int | None,
        cancel_min: int | None, expected: list[tuple[int, int]], last: str) -> None:
    """journey.report.hourly: one per clock hour of [start, end), at min(hour + 1 h, end); a last partial hour on
    end or cancel, before journey.completed or journey.cancelled."""
    events: list[Event] = []
    journeys.add_listener(lambda kind, data, at: events.append((kind, data, at)))
    at = {k: None if m is None else T0 + timedelta(minutes=m) for k, m in (("start", start_min), ("end", end_min))}
    view, _ = journeys.create(1, request("SUBSCRIBER_JOINED", (info("Hello"),), **at))
    if cancel_min is not None:
        minutes(world, cancel_min)
        journeys.cancel(1, view.id)
    minutes(world, 200 - (cancel_min or 0))
    hourly = [(datetime.fromisoformat(d["hour"]), t) for kind, d, t in events if kind == "journey.report.hourly"]
    assert hourly == [(T0 + timedelta(minutes=h), T0 + timedelta(minutes=t)) for h, t in expected]
    assert [kind for kind, _, _ in events][-2:] == ["journey.report.hourly", last]
    assert all(d["journeyId"] == view.id for _, d, _ in events)
