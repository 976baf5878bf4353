"""CDP trigger ARRIVED_FROM_ROAMING: visitors landing on the network who linked their line in the partner's travel
app fire (restricted by ``fromCountries``), with the user id and home country only, under consent at send, the
daily cap and exactly once per arrival across a tick rerun and a restart."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from gateway.core.errors import InvalidArgument
from gateway.services.apps.installs import install_propensity
from gateway.services.apps.model import AppRecord, AppSpec
from gateway.services.cdp.triggers import TriggerRecord
from gateway.wire.cdp_triggers import TriggerRequest
from simulator.world import World
from tests.gateway.services.test_cdp_triggers import HOOK, Stack, open_stack

TRIPS = AppSpec("Trips", ("ANDROID", "IOS"), ("TRAVEL",), 0.9, 6000)


@pytest.fixture
def stack(world: World, tmp_path: Path) -> Iterator[Stack]:
    s = open_stack(tmp_path / "t.db", world)
    yield s
    s.store.close()


def travel_app(s: Stack) -> AppRecord:
    return s.apps.register(s.partner, TRIPS)


def linked_visitors(s: Stack, app: AppRecord, location: int = 1) -> dict[int, int]:
    """Visitor → their install row of ``app``, each with in-app location set to ``location`` and the line linked."""
    table = s.apps.installs(app)
    roaming = s.world.population.roaming
    out: dict[int, int] = {}
    for row in np.flatnonzero(table.installed).tolist():
        sub = int(table.subscriber[row])
        if roaming[sub] and sub not in out:
            out[sub] = row
            table.location[row] = location
            table.linked[row] = True
    return out


def arrival_rule(app: AppRecord, **extra: Any) -> dict[str, Any]:
    return {"kind": "ARRIVED_FROM_ROAMING", "appId": app.id, **extra}


def test_landing_visitors_with_the_link_fire_as_the_world_steps(stack: Stack) -> None:
    """Stepping the world, each visitor who lands with the travel app and location allowed fires once, at the tick
    they attach; visitors without the permission and residents never fire."""
    app = travel_app(stack)
    linked = linked_visitors(stack, app)
    table = stack.apps.installs(app)
    unlinked = list(linked)[::2]
    for sub in unlinked:
        table.location[linked[sub]] = 0
    record = stack.trigger(arrival_rule(app))
    landed: list[tuple[datetime, NDArray[np.int32]]] = []
    stack.world.on_roamer_arrival(lambda now, subs: landed.append((now, subs.copy())))
    stack.advance(timedelta(days=2))
    arrived = [(at, int(sub)) for at, subs in landed for sub in subs.tolist()]
    fired = [(at, sub) for at, sub in arrived if sub in linked and sub not in unlinked]
    assert fired and len(fired) < len(arrived), "within two days, linked and other visitors land"
    fires = stack.triggers.fires(stack.partner, record.id)
    assert sorted((f.user_id or "", f.at) for f in fires) == sorted(
        (stack.apps.install(app, linked[sub]).user_id, at) for at, sub in fired)
    assert all(f.status == "SENT" for f in fires)


def test_from_countries_restricts_and_the_webhook_names_the_home_country_only(stack: Stack) -> None:
    """Only visitors from ``fromCountries`` fire; the CloudEvent carries the user id and home country code, never
    an MSISDN or a place."""
    app = travel_app(stack)
    linked = linked_visitors(stack, app)
    subs = np.array(sorted(linked), np.int32)
    countries = stack.world.home_countries(subs)
    wanted = countries[0]
    record = stack.trigger(arrival_rule(app, fromCountries=[wanted]))
    now = stack.world.clock.now
    stack.triggers.on_roamer_arrival(now, subs)
    stack.world.clock.run_until(now)
    fires = stack.triggers.fires(stack.partner, record.id)
    from_there = [int(s) for s, c in zip(subs.tolist(), countries, strict=True) if c == wanted]
    assert sorted(f.user_id or "" for f in fires) == sorted(stack.apps.install(app, linked[s]).user_id
                                                           for s in from_there)
    event = stack.outbox.events()[0]
    data = json.loads(event.body)["data"]
    assert data.keys() == {"triggerId", "triggerName", "rule", "step", "userId", "homeCountry"}
    assert data["rule"] == "ARRIVED_FROM_ROAMING" and data["homeCountry"] == wanted
    for sub in from_there:
        assert stack.world.msisdn_of(sub).lstrip("+") not in event.body
    assert not re.search(r"\+?\d{9,}", event.body)
    assert "latitude" not in event.body and "cell" not in event.body.lower()


def test_withdrawn_location_cap_and_rerun(stack: Stack) -> None:
    """Location withdrawn before a later step suppresses it (NO_CONSENT); a second arrival the same local day is
    capped; the same arrival heard twice at one instant (a tick rerun) starts one run."""
    app = travel_app(stack)
    linked = linked_visitors(stack, app)
    sub, row = next(iter(linked.items()))
    record = stack.trigger(arrival_rule(app), steps=[{"action": HOOK}, {"delaySeconds": 600, "action": HOOK}],
                           dailyCap=2)
    now = stack.world.clock.now
    for _ in range(2):
        stack.triggers.on_roamer_arrival(now, np.array([sub], np.int32))
    stack.world.clock.run_until(now + timedelta(seconds=60))
    stack.triggers.on_roamer_arrival(stack.world.clock.now, np.array([sub], np.int32))
    stack.world.clock.run_until(now + timedelta(seconds=120))
    stack.apps.installs(app).location[row] = 0  # withdrawn before the second steps
    stack.world.clock.run_until(now + timedelta(seconds=900))
    got = [(f[2], f[3], f[4]) for f in stack.fires(record)]
    assert got == [(0, "SENT", None), (0, "SENT", None), (1, "SUPPRESSED", "NO_CONSENT"),
                   (1, "SUPPRESSED", "NO_CONSENT")]
    stack.apps.installs(app).location[row] = 2
    stack.triggers.on_roamer_arrival(stack.world.clock.now, np.array([sub], np.int32))
    stack.world.clock.run_until(stack.world.clock.now)
    assert stack.fires(record)[-1][3:] == ("SUPPRESSED", "FREQUENCY_CAP")


def test_restart_fires_the_same_arrival_steps(fresh_world: Any, tmp_path: Path) -> None:
    """A restart between an arrival's first and second step fires exactly what an uninterrupted run fires, and the
    arrivals of the span replayed while catching up start nothing twice."""
    def begin(s: Stack) -> TriggerRecord:
        app = travel_app(s)  # the drawn permissions only: what a restart redraws
        record = s.trigger(arrival_rule(app), steps=[{"action": HOOK}, {"delaySeconds": 3 * 3600, "action": HOOK}])
        s.advance(timedelta(hours=30))
        return record

    def result(s: Stack, record: TriggerRecord) -> tuple[Any, ...]:
        fires = [(f.fire_id, f.user_id, f.step, f.status, f.at) for f in s.triggers.fires(s.partner, record.id)]
        return tuple(fires), tuple((e.event_id, e.body) for e in s.outbox.events())

    whole = open_stack(tmp_path / "a.db", fresh_world())
    record = begin(whole)
    whole.advance(timedelta(hours=6))
    expected = result(whole, record)
    whole.store.close()
    assert expected[0], "an arrival fired within the run"

    first = open_stack(tmp_path / "b.db", fresh_world())
    record = begin(first)
    stopped_at = first.world.clock.now
    first.store.close()
    world = fresh_world()
    world.run_until(stopped_at)  # the catch-up: its arrivals were heard before the stop
    again = open_stack(tmp_path / "b.db", world, first=False)
    again.advance(timedelta(hours=6))
    assert result(again, record) == expected
    again.store.close()


@pytest.mark.parametrize(("rule", "field"), [
    # an app the partner does not have
    ({"kind": "ARRIVED_FROM_ROAMING", "appId": "app_999999"}, "body.rule.appId"),
])
def test_bad_arrival_rules_name_the_field(stack: Stack, rule: dict[str, Any], field: str) -> None:
    """A rule naming no app of the partner is refused on ``body.rule.appId``, nothing stored."""
    spec = TriggerRequest.model_validate({"name": "t", "rule": rule, "steps": [{"action": HOOK}]})
    with pytest.raises(InvalidArgument) as err:
        stack.triggers.create(stack.partner, spec)
    assert [d.field for d in err.value.details or []] == [field]
    assert stack.triggers.of_partner(stack.partner) == []


@pytest.mark.parametrize("countries", [
    [],  # an empty restriction: omit the field instead
    ["de"],  # lower case
    ["DEU"],  # alpha-3
])
def test_from_countries_must_be_iso_codes(countries: list[str]) -> None:
    """``fromCountries`` holds one or more ISO 3166-1 alpha-2 codes."""
    with pytest.raises(ValueError, match="fromCountries"):
        TriggerRequest.model_validate({"name": "t", "rule": {"kind": "ARRIVED_FROM_ROAMING", "appId": "app_000001",
                                                             "fromCountries": countries},
                                       "steps": [{"action": HOOK}]})


def test_visitors_favour_travel_apps(world: World) -> None:
    """Inbound roamers count as interested in TRAVEL: a travel app's install chance is higher for them than for
    residents of the same age and phone, and an app of other categories does not single them out."""
    roaming = world.population.roaming
    travel = install_propensity(world, TRIPS).p
    other = install_propensity(world, AppSpec("Shop", ("ANDROID", "IOS"), ("SHOPPING",), 0.9, 6000)).p
    assert travel[roaming].mean() > 1.5 * travel[~roaming].mean()
    assert other[roaming].mean() < 1.5 * other[~roaming].mean()
