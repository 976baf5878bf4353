"""The campaign service and its tick engine without HTTP: a tiny world, a store on tmp_path, campaigns stepped by
the world's clock; records, reports and events checked directly."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.core.disclosure import disclose
from gateway.core.errors import Conflict, InvalidMessage, NotFound
from gateway.core.settings import CampaignSettings
from gateway.core.store import Store
from gateway.services.campaigns.engine import _hours_due
from gateway.services.campaigns.model import AudienceTooSmall, CampaignRequest, TargetingSpec
from gateway.services.campaigns.service import CampaignService
from gateway.services.policy import REASONS
from gateway.services.targeting import CircleSpec
from simulator.world import World

Event = tuple[str, dict[str, Any], datetime]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "campaigns.db")
    store.open()
    store.create_partner("acme", (), {}, "2026-06-01T06:00:00Z")
    yield store
    store.close()


@pytest.fixture
def world(base_world: World) -> World:
    return copy.deepcopy(base_world)


@pytest.fixture
def service(world: World, store: Store) -> CampaignService:
    return CampaignService(world, store, CampaignSettings(min_audience=0, privacy_threshold=1))


def request(world: World, start_in: timedelta, length: timedelta, *, mode: str = "PRESENT", text: str = "Hello",
            channel: str = "PUSH_THEN_SMS", kind: str = "INFORMATIONAL") -> CampaignRequest:
    p = world.city.projection
    start = world.clock.now + start_in
    return CampaignRequest("c", TargetingSpec((CircleSpec(p.lat0, p.lon0, 5000.0),), mode), start, start + length,
                           kind, channel, "Acme", text)


def test_a_campaign_runs_in_ticks_and_its_report_is_its_records(world: World, service: CampaignService) -> None:
    """SCHEDULED until its start, RUNNING while stepped, COMPLETED at its end; the report counts the records."""
    view, created = service.create(1, request(world, timedelta(minutes=5), timedelta(hours=2)))
    assert created and view.status == "SCHEDULED" and view.id == "cmp_000001"
    world.advance(timedelta(minutes=30))
    assert service.get(1, view.id).status == "RUNNING"
    world.advance(timedelta(hours=2))
    done = service.get(1, view.id)
    assert done.status == "COMPLETED" and done.started_at is not None and done.completed_at is not None

    records, cursor = service.records(view.id, 1_000_000)
    assert records and cursor is None
    assert len({r.subscriber for r in records}) == len(records)  # each subscriber is decided once
    report = service.report(1, view.id)
    sent = [r for r in records if r.outcome != "SUPPRESSED"]
    assert report.matched == len(records) and report.sent == len(sent)
    assert report.delivered == sum(r.outcome == "DELIVERED" for r in records)
    assert sum(v or 0 for v in report.suppressed.values()) == len(records) - len(sent)
    assert set(report.suppressed) == set(REASONS)
    assert sum(h.sent or 0 for h in report.hourly) == len(sent)
    assert all(r.id.startswith("msg_000001_" if r.outcome != "SUPPRESSED" else "sup_000001_") for r in records)


def test_events_follow_the_lifecycle(world: World, service: CampaignService) -> None:
    """started, one hourly report per hour of the window (the last before completed), then completed."""
    events: list[Event] = []
    service.add_listener(lambda kind, data, at: events.append((kind, data, at)))
    view, _ = service.create(1, request(world, timedelta(minutes=1), timedelta(hours=2)))
    world.advance(timedelta(hours=3))
    kinds = [k for k, _, _ in events]
    assert kinds[0] == "campaign.started" and kinds[-1] == "campaign.completed"
    hours = [datetime.fromisoformat(d["hour"]) for k, d, _ in events if k == "campaign.report.hourly"]
    assert kinds[1:-1] == ["campaign.report.hourly"] * len(hours)
    start, end = view.request.start, view.request.end
    # one report per clock hour the window touches: 06:01-08:01 is 06:00, 07:00 and 08:00
    assert hours[0] <= start < hours[0] + timedelta(hours=1) and hours[-1] < end <= hours[-1] + timedelta(hours=1)
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(hours))
    assert all(d["campaignId"] == view.id and d["partnerId"] == "ptn_000001" for _, d, _ in events)
    assert [at for _, _, at in events] == sorted(at for _, _, at in events)
    assert "msisdn" not in str(events)


def test_cancel_stops_sending(world: World, service: CampaignService) -> None:
    """A cancelled campaign writes no record after the cancellation and cannot be cancelled twice."""
    events: list[Event] = []
    service.add_listener(lambda kind, data, at: events.append((kind, data, at)))
    view, _ = service.create(1, request(world, timedelta(minutes=1), timedelta(hours=4), mode="ENTERS"))
    world.advance(timedelta(minutes=20))
    cancelled = service.cancel(1, view.id)
    assert cancelled.status == "CANCELLED" and cancelled.cancelled_at == world.clock.now
    before = len(service.records(view.id, 1_000_000)[0])
    world.advance(timedelta(hours=1))
    assert len(service.records(view.id, 1_000_000)[0]) == before
    assert events[-1][0] == "campaign.cancelled"
    with pytest.raises(Conflict):
        service.cancel(1, view.id)


def test_a_restarted_service_takes_the_stored_campaigns_in(world: World, store: Store, base_world: World) -> None:
    """A second service on the same store (a restart replaying the same world) sees the campaigns and their
    records; the replayed records are ignored, not doubled."""
    first = CampaignService(world, store, CampaignSettings(min_audience=0, privacy_threshold=1))
    view, _ = first.create(1, request(world, timedelta(minutes=1), timedelta(hours=1)))
    world.advance(timedelta(hours=2))
    truth = [(r.id, r.outcome) for r in first.records(view.id, 1_000_000)[0]]

    replay = copy.deepcopy(base_world)
    second = CampaignService(replay, store, CampaignSettings(min_audience=0, privacy_threshold=1))
    replay.advance(timedelta(hours=2))
    assert [(r.id, r.outcome) for r in second.records(view.id, 1_000_000)[0]] == truth
    assert second.get(1, view.id).status == "COMPLETED"


@pytest.mark.parametrize(("change", "status"), [
    ({"text": "x" * 1000, "channel": "SMS"}, None),  # more SMS segments than allowed: refused
    ({"text": "Win at the casino tonight"}, "REJECTED"),  # moderation: stored as REJECTED, not an error
    ({"kind": "PROMO"}, "SCHEDULED"),  # accepted with a minimum audience of 0
])
def test_create_refuses_or_rejects(world: World, service: CampaignService, change: dict[str, Any],
                                   status: str | None) -> None:
    """Message limits are 400 CAMPAIGNS.INVALID_MESSAGE; moderation stores a REJECTED campaign."""
    req = request(world, timedelta(minutes=1), timedelta(hours=1), **change)
    if status is None:
        with pytest.raises(InvalidMessage) as raised:
            service.create(1, req)
        assert raised.value.info().code == "CAMPAIGNS.INVALID_MESSAGE"
        return
    view, _ = service.create(1, req)
    assert view.status == status


def test_audience_minimum_and_foreign_campaigns(world: World, store: Store, base_world: World) -> None:
    """Under the minimum audience a campaign is refused; another partner's campaign is not found."""
    strict = CampaignService(world, store, CampaignSettings(min_audience=10**9))
    with pytest.raises(AudienceTooSmall):
        strict.create(1, request(world, timedelta(minutes=1), timedelta(hours=1)))
    open_ = CampaignService(copy.deepcopy(base_world), store, CampaignSettings(min_audience=0))
    view, _ = open_.create(1, request(world, timedelta(minutes=1), timedelta(hours=1)))
    with pytest.raises(NotFound):
        open_.get(2, view.id)


def test_idempotent_create(world: World, service: CampaignService) -> None:
    """The same key and body give back the first campaign; the same key with another body is a conflict."""
    req = request(world, timedelta(minutes=1), timedelta(hours=1))
    first, new = service.create(1, req, "k1")
    again, new_again = service.create(1, req, "k1")
    assert new and not new_again and again.id == first.id
    with pytest.raises(Conflict):
        service.create(1, request(world, timedelta(minutes=1), timedelta(hours=1), text="Other"), "k1")


H = 3_600_000_000


@pytest.mark.parametrize(("start", "end", "after", "until", "due"), [
    (0, 2 * H, 0, H, [(0, H)]),  # the first hour's report at its end
    (0, 2 * H, H, 2 * H, [(H, 2 * H)]),  # the last full hour at the campaign's end
    (0, 90 * 60_000_000, H, 2 * H, [(H, 90 * 60_000_000)]),  # ending mid-hour: a last, partial report
    (30 * 60_000_000, 2 * H, 0, H, [(0, H)]),  # starting mid-hour: its first hour ends at the clock hour
    (0, 2 * H, 10, 20, []),  # a tick inside an hour: nothing due
    (0, 3 * H, 0, 3 * H, [(0, H), (H, 2 * H), (2 * H, 3 * H)]),  # a long tick: every hour it covers
])
def test_hours_due(start: int, end: int, after: int, until: int, due: list[tuple[int, int]]) -> None:
    """Hourly reports due in a tick (after, until]: (hour start, instant due)."""
    base = datetime(2026, 6, 1, tzinfo=UTC)
    req = request_at(base, start, end)
    offset = int(base.timestamp()) * 1_000_000
    got = _hours_due(req, after + offset, until + offset)
    assert [(h - offset, at - offset) for h, at in got] == due


def request_at(base: datetime, start_us: int, end_us: int) -> CampaignRequest:
    return CampaignRequest("c", TargetingSpec((CircleSpec(52.52, 13.405, 1000.0),)),
                           base + timedelta(microseconds=start_us), base + timedelta(microseconds=end_us),
                           "INFORMATIONAL", "PUSH", "Acme", "Hello")


@pytest.mark.parametrize(("n", "threshold", "shown"), [
    (0, 10, 0),  # nothing is no one: shown
    (1, 10, None),  # from 1 ...
    (9, 10, None),  # ... to the threshold minus one: withheld
    (10, 10, 10),  # the threshold itself: shown
    (1, 1, 1),  # threshold 1: everything shown
])
def test_disclose(n: int, threshold: int, shown: int | None) -> None:
    """The privacy rule of every count a partner sees."""
    assert disclose(n, threshold) == shown
