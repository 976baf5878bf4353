"""Campaigns in a country of several time zones: quiet hours, holds and daily windows follow each subscriber's zone."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from gateway.core.settings import CampaignSettings
from gateway.core.store import Store
from gateway.services.campaigns.model import CampaignRequest, Record, TargetingSpec
from gateway.services.campaigns.service import CampaignService
from gateway.services.targeting import CircleSpec
from simulator.world import World, WorldConfig

# 14:00 in Moscow, 21:00 in Vladivostok: quiet hours (21:00-08:00) have begun in Vladivostok only.
START = datetime(2026, 6, 1, 11, 0, tzinfo=UTC)
MOSCOW, VLADIVOSTOK = 0, 3  # indexes into the world's time zones (the capital's first)


@pytest.fixture(scope="module")
def russia() -> World:
    """A small Russia, built once and copied per test."""
    world = World.build(WorldConfig(country="russia", subscribers=6_000, seed=7, start=START, realism_sample=200))
    assert world.timezones[MOSCOW] == "Europe/Moscow" and world.timezones[VLADIVOSTOK] == "Asia/Vladivostok"
    return world


@pytest.fixture
def world(russia: World) -> World:
    return copy.deepcopy(russia)


@pytest.fixture
def service(world: World, tmp_path: Path) -> Iterator[CampaignService]:
    store = Store(tmp_path / "campaigns.db")
    store.open()
    store.create_partner("acme", (), {}, "2026-06-01T06:00:00Z")
    yield CampaignService(world, store, CampaignSettings(min_audience=0, privacy_threshold=1))
    store.close()


def request(world: World, start: datetime, end: datetime, *, kind: str = "PROMO",
            daily_hours: tuple[str, str] | None = None) -> CampaignRequest:
    """Everyone present in central Moscow and central Vladivostok."""
    centres = [world.city.projection.point_latlon(m.x, m.y) for m in world.city.metros
               if m.name in ("moscow", "vladivostok")]
    areas = tuple(CircleSpec(lat, lon, 8_000.0) for lat, lon in centres)
    return CampaignRequest("zones", TargetingSpec(areas, "PRESENT"), start, end, kind, "PUSH_THEN_SMS", "Acme",
                           "Hello", daily_hours=daily_hours)


def by_zone(world: World, service: CampaignService, campaign: str) -> dict[int, list[Record]]:
    """The campaign's records by the subscriber's time zone."""
    records = service.records(campaign, 1_000_000)[0]
    zones = world.timezone_codes(np.asarray([r.subscriber for r in records], np.int64)).tolist()
    out: dict[int, list[Record]] = {MOSCOW: [], VLADIVOSTOK: []}
    for r, z in zip(records, zones, strict=True):
        out.setdefault(z, []).append(r)
    return out


def sent(records: list[Record]) -> list[Record]:
    return [r for r in records if r.outcome != "SUPPRESSED"]


def test_quiet_hours_suppress_vladivostok_while_moscow_is_reached(world: World, service: CampaignService) -> None:
    """At 11:05 UTC a promotion reaches Moscow (14:05) and is suppressed for quiet hours in Vladivostok (21:05):
    it ends before Vladivostok's morning, so nobody there can be held."""
    now = world.clock.now
    view, _ = service.create(1, request(world, now + timedelta(minutes=5), now + timedelta(hours=1)))
    world.advance(timedelta(hours=1, minutes=30))
    zones = by_zone(world, service, view.id)
    moscow, far = zones[MOSCOW], zones[VLADIVOSTOK]
    assert len(sent(moscow)) > 50 and not any(r.reason == "QUIET_HOURS" for r in moscow)
    assert not sent(far) and sum(r.reason == "QUIET_HOURS" for r in far) > 10


def test_quiet_hours_hold_until_the_morning_of_each_zone(world: World, service: CampaignService) -> None:
    """A promotion running until 23:30 UTC holds Vladivostok's candidates and sends them when quiet hours end
    there (08:00 local, 22:00 UTC), though Moscow's quiet hours would last until 05:00 UTC."""
    now = world.clock.now
    end = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)
    view, _ = service.create(1, request(world, now + timedelta(minutes=5), end))
    world.advance(timedelta(hours=2))
    assert service.engine.held(1) > 10  # Vladivostok's candidates wait for their morning
    world.run_until(end + timedelta(minutes=5))
    far = by_zone(world, service, view.id)[VLADIVOSTOK]
    assert len(sent(far)) > 10 and not any(r.reason == "QUIET_HOURS" for r in far)
    first = datetime(2026, 6, 1, 22, 0, tzinfo=UTC)
    assert all(first <= r.at < first + timedelta(minutes=5) for r in sent(far))


def test_daily_hours_open_in_each_zones_own_hours(world: World, service: CampaignService) -> None:
    """A daily window of 10:00-11:00 opens at 00:00 UTC in Vladivostok and at 07:00 UTC in Moscow: each city's
    snapshot is taken when its own window opens."""
    world.run_until(datetime(2026, 6, 1, 23, 0, tzinfo=UTC))
    start, end = world.clock.now + timedelta(minutes=1), datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
    view, _ = service.create(1, request(world, start, end, kind="INFORMATIONAL", daily_hours=("10:00", "11:00")))
    world.run_until(end)
    zones = by_zone(world, service, view.id)
    for zone, utc_hour in ((VLADIVOSTOK, 0), (MOSCOW, 7)):
        records = zones[zone]
        assert len(records) > 10
        assert {r.at.astimezone(UTC).hour for r in records} == {utc_hour}, zone


def test_the_daily_cap_resets_at_each_zones_midnight(world: World, tmp_path: Path) -> None:
    """With a cap of one message a day (quiet hours off): a subscriber reached at 12:00 UTC is reached again at
    14:35 UTC in Vladivostok (00:35, a new day there) and capped in Moscow (17:35, the same day)."""
    store = Store(tmp_path / "caps.db")
    store.open()
    store.create_partner("acme", (), {}, "2026-06-01T06:00:00Z")
    service = CampaignService(world, store, CampaignSettings(min_audience=0, privacy_threshold=1, quiet_start_hour=0,
                                                             quiet_end_hour=0, daily_cap=1))
    first, _ = service.create(1, request(world, datetime(2026, 6, 1, 12, 0, tzinfo=UTC),
                                         datetime(2026, 6, 1, 12, 30, tzinfo=UTC), kind="INFORMATIONAL"))
    world.run_until(datetime(2026, 6, 1, 14, 30, tzinfo=UTC))
    second, _ = service.create(1, request(world, datetime(2026, 6, 1, 14, 35, tzinfo=UTC),
                                          datetime(2026, 6, 1, 15, 0, tzinfo=UTC), kind="INFORMATIONAL"))
    world.run_until(datetime(2026, 6, 1, 15, 5, tzinfo=UTC))
    reached = {r.subscriber for z in by_zone(world, service, first.id).values() for r in sent(z)}
    again = by_zone(world, service, second.id)
    moscow = [r for r in again[MOSCOW] if r.subscriber in reached]
    far = [r for r in again[VLADIVOSTOK] if r.subscriber in reached]
    assert len(moscow) > 50 and len(far) > 10
    assert not sent(moscow) and sum(r.reason == "FREQUENCY_CAP" for r in moscow) > 0.8 * len(moscow)
    assert not any(r.reason == "FREQUENCY_CAP" for r in far) and len(sent(far)) > 0.8 * len(far)
    store.close()
