"""A gateway serving a world whose two shards are Ray actors answers as the single world's gateway does (a smaller
scenario than the in-process shards': a test phone, geofencing, location verification, a device count, an
estimate, a campaign and its truth). One local Ray serves the module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scenarios.loader import load_text
from scenarios.runner import build_world
from simulator.rng import BLOCK_SIZE
from tests.scenarios.test_serve_sharded import _run, _same, _served

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'opsim[ray]'): the sharded serve is "
                                        "not tested on Ray")

from simulator.ray_shards import RayPool, start_local_ray  # noqa: E402 - after the skip: it needs Ray
from simulator.served_shards import ServedShard  # noqa: E402

SCENARIO = f"""
name: served-shards-on-ray
seed: 4
start: 2026-06-08T06:00:00Z
world:
  city: berlin
  subscribers: {BLOCK_SIZE + 1_000}
partners:
  - name: Courier
    scopes: [campaigns:read, campaigns:write, location-verification:verify, region-device-count:count,
             geofencing-subscriptions:read,
             "geofencing-subscriptions:org.camaraproject.geofencing-subscriptions.v0.area-entered:create"]
    sinks: {{geo: /hooks/geo}}
steps:
  - add_test_subscriber: {{msisdn: "+4915100000042", place: Tiergarten,
                          consent: {{LOCATION_SHARING: {{ANY: true}}, ADVERTISING: {{PUSH: true, SMS: true}}}}}}
  - subscribe_geofence:
      msisdn: "+4915100000042"
      area: {{place: Alexanderplatz Station, radius: 1000}}
      event: area-entered
      sink: geo
      expire_at: PT2H
  - id: commuters
    create_campaign:
      name: Morning
      areas: [{{place: Alexanderplatz Station, radius: 1000}}]
      start: PT30M
      end: PT1H
      message: {{kind: PROMO, channel: PUSH_THEN_SMS, sender_name: Coffee, text: "Coffee on us"}}
  - at: PT30M
    pin_subscriber: {{msisdn: "+4915100000042", place: Alexanderplatz Station}}
  - verify_location: {{msisdn: "+4915100000042", area: {{place: Alexanderplatz Station, radius: 1000}}}}
  - count_devices: {{area: {{place: Alexanderplatz Station, radius: 800}}}}
  - estimate: {{areas: [{{place: Alexanderplatz Station, radius: 800}}]}}
  - advance: PT1H
  - expect:
      - {{name: the phone entered, of: webhooks, sink: geo, at_least: 2}}
      - {{name: commuters reached, of: truth, campaign: commuters, path: delivered, at_least: 20}}
"""


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    """One local Ray (two CPUs, 127.0.0.1, no dashboard) for the module."""
    start_local_ray(2)
    yield
    ray.shutdown()


def test_two_ray_shards_serve_what_the_single_world_serves() -> None:
    """The transcript of the scenario on two Ray actors is the single world's, line for line."""
    scenario = load_text(SCENARIO)
    single = _run(scenario, build_world(scenario, scenario.seed, Path(".")))
    sharded = _served(scenario, lambda c: RayPool(c, 2, shard_class=ServedShard))
    try:
        _same(single, _run(scenario, sharded))
    finally:
        sharded.close()


def test_serve_builds_the_world_on_ray() -> None:
    """``opsim serve --engine ray --workers 2`` builds a served world of two Ray shards (the module's Ray)."""
    from gateway.http.serve import build_world as serve_world
    from simulator.served_shards import ServedShardedWorld
    from simulator.world import WorldConfig

    config = WorldConfig(city="berlin", subscribers=BLOCK_SIZE + 10, seed=2)
    world = serve_world(config, "ray", 2)
    assert isinstance(world, ServedShardedWorld)
    try:
        assert world.rows == [(0, BLOCK_SIZE), (BLOCK_SIZE, 10)]
        assert world.summary().subscribers == BLOCK_SIZE + 10
    finally:
        world.close()
