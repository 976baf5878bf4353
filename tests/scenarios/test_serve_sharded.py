"""A gateway serving a world split into two shards answers every request and sends every event as it does serving
the single world: the same scenario (CAMARA location, device count, density, geofencing, an audience estimate, a
campaign with ENTERS and its truth, a test phone pinned and moved, inboxes, a gathering, the clock advanced) gives
the same transcript. The shards are in-process (:class:`~simulator.shards.LocalPool`); one smaller run on Ray."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from scenarios.loader import load_text
from scenarios.results import RunResult
from scenarios.runner import Runner, build_world, world_config
from scenarios.schema import Scenario
from simulator.rng import BLOCK_SIZE
from simulator.served_shards import ServedShard, ServedShardedWorld
from simulator.shards import LocalPool, ShardPool
from simulator.world import World, WorldConfig

# Saturday in Berlin, two blocks (one per shard). Everything the gateway asks of its world is on the way.
SCENARIO = f"""
name: served-shards
seed: 9
start: 2026-06-06T12:00:00Z
world:
  city: berlin
  subscribers: {BLOCK_SIZE + 3_000}
events:
  - gathering: {{name: Hertha vs Union, place: Olympiastadion, start: 2026-06-06T15:00:00Z,
                end: 2026-06-06T16:30:00Z, share: 0.03}}
partners:
  - name: Everything
    scopes: [campaigns:read, campaigns:write, location-verification:verify, location-retrieval:read,
             region-device-count:count, population-density-data:read, geofencing-subscriptions:read,
             "geofencing-subscriptions:org.camaraproject.geofencing-subscriptions.v0.area-entered:create",
             "geofencing-subscriptions:org.camaraproject.geofencing-subscriptions.v0.area-left:create"]
    sinks: {{geo: /hooks/geo}}
steps:
  - id: phone
    add_test_subscriber:
      msisdn: "+4915100000001"
      place: Alexanderplatz Station
      profile: {{first_name: Test, last_name: Phone, age: 34, interests: [FOOTBALL], app_installed: true}}
      consent: {{ADVERTISING: {{PUSH: true, SMS: true}}, LOCATION_SHARING: {{ANY: true}}}}
  - id: watch-enter
    subscribe_geofence:
      msisdn: "+4915100000001"
      area: {{place: Olympiastadion, radius: 1000}}
      event: area-entered
      sink: geo
      expire_at: PT5H
  - id: watch-leave
    subscribe_geofence:
      msisdn: "+4915100000001"
      area: {{place: Olympiastadion, radius: 1000}}
      event: area-left
      expire_at: PT5H
      initial_event: true
  - id: verify-away
    verify_location: {{msisdn: "+4915100000001", area: {{place: Alexanderplatz Station, radius: 1000}}}}
  - id: where
    request:
      method: POST
      path: /location-retrieval/v0.5/retrieve
      body: {{device: {{phoneNumber: "+4915100000001"}}, maxAge: 120}}
  - id: entering
    create_campaign:
      name: Arrivals
      areas: [{{place: Olympiastadion, radius: 800}}]
      location_mode: ENTERS
      start: PT30M
      end: PT4H
      message: {{kind: PROMO, channel: PUSH_THEN_SMS, sender_name: Sportswear, text: "Welcome to the stadium"}}
  - at: 2026-06-06T13:00:00Z
    id: before
    count_devices: {{area: {{place: Olympiastadion, radius: 800}}}}
  - id: audience
    estimate:
      areas: [{{place: Alexanderplatz Station, radius: 1500}}]
  - at: 2026-06-06T14:00:00Z
    pin_subscriber: {{msisdn: "+4915100000001", place: Olympiastadion}}
  - at: 2026-06-06T15:30:00Z
    id: during
    count_devices: {{area: {{place: Olympiastadion, radius: 800}}}}
  - id: present
    create_campaign:
      name: Half time
      areas: [{{place: Olympiastadion, radius: 800}}]
      start: 2026-06-06T15:45:00Z
      end: 2026-06-06T16:00:00Z
      message: {{kind: INFORMATIONAL, channel: SMS, sender_name: Stadium, text: "Exits B and C are open"}}
  - at: 2026-06-06T16:10:00Z
    id: withdraw
    set_consent: {{msisdn: "+4915100000001", purpose: ADVERTISING, granted: false}}
  - pin_subscriber: {{msisdn: "+4915100000001", place: Alexanderplatz Station}}
  - at: 2026-06-06T17:00:00Z
    id: density
    density: {{area: {{place: Olympiastadion, radius: 1000}}, start: 2026-06-06T12:00:00Z,
              end: 2026-06-06T17:00:00Z, precision: 6}}
  - id: verify-back
    verify_location: {{msisdn: "+4915100000001", area: {{place: Alexanderplatz Station, radius: 1000}}}}
  - advance: PT1H
  - expect:
      - {{name: the crowd came, of: step, step: during, path: count, at_least: 500}}
      - {{name: arrivals entered, of: truth, campaign: entering, path: delivered, at_least: 100}}
      - {{name: the phone got a message, of: inbox, msisdn: "+4915100000001", at_least: 1}}
      - {{name: entered and left, of: webhooks, sink: geo, at_least: 4}}
"""


def _run(scenario: Scenario, world: World) -> RunResult:
    return asyncio.run(Runner(scenario).run_async(world))


def _served(scenario: Scenario, make_pool: Callable[[WorldConfig], ShardPool]) -> ServedShardedWorld:
    config = world_config(scenario, scenario.seed, Path("."))
    world = ServedShardedWorld(config, make_pool(config))
    for event in scenario.events:
        g = event.gathering
        world.add_gathering(g.name, scenario.instant(g.start), scenario.instant(g.end), place=g.place,
                            latitude=g.latitude, longitude=g.longitude, share=g.share, count=g.count,
                            arrive_before=g.arrive_before)
    return world


def _same(single: RunResult, sharded: RunResult) -> None:
    assert not single.failed, [s.to_dict() for s in single.steps if not s.ok]
    assert sharded.transcript.lines() == single.transcript.lines()
    assert sharded.digest == single.digest


def test_two_local_shards_serve_what_the_single_world_serves() -> None:
    """Every answer, webhook, report and truth of the scenario is the single world's, line for line."""
    scenario = load_text(SCENARIO)
    single = _run(scenario, build_world(scenario, scenario.seed, Path(".")))
    sharded = _served(scenario, lambda c: LocalPool(c, 2, shard_class=ServedShard))
    result = _run(scenario, sharded)
    assert [n for _, n in sharded.rows] == [BLOCK_SIZE, 3_001]  # the test phone joined the last shard
    _same(single, result)

