"""The console feed: streams wake on world moves, share one rendering per move, and end on close."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from gateway.services.console import ConsoleFeed
from simulator.world import World


async def test_moves_wake_on_steps_and_end_on_close(world: World) -> None:
    """At once, after the world steps, and never again once closed (the iteration ends)."""
    feed = ConsoleFeed(world)
    seen: list[bool] = []

    async def follow() -> None:
        async for moved in feed.moves(0.0, 3600.0):
            seen.append(moved)

    task = asyncio.create_task(follow())
    await asyncio.sleep(0)
    assert seen == [True]
    world.advance(timedelta(minutes=2))
    for _ in range(5):
        await asyncio.sleep(0)
    assert seen == [True, True]  # two steps before the stream looked: one event, not two
    feed.close()
    async with asyncio.timeout(5):  # a guard against hanging, not a timing goal
        await task
    assert seen == [True, True]


async def test_render_computes_once_per_move(world: World) -> None:
    """However many streams ask, the state is computed once per move."""
    feed = ConsoleFeed(world)
    calls: list[int] = []

    def compute() -> str:
        calls.append(feed.version)
        return f"v{feed.version}"

    assert [feed.render(compute) for _ in range(3)] == ["v0"] * 3
    feed.poke()
    assert feed.render(compute) == feed.render(compute) == "v1"
    assert calls == [0, 1]


async def test_a_closed_feed_ends_new_streams_at_once(world: World) -> None:
    """A stream opened during shutdown ends without waiting."""
    feed = ConsoleFeed(world)
    feed.close()
    assert [moved async for moved in feed.moves(0.0, 3600.0)] == []


async def test_admin_changes_wake_the_streams(world: World) -> None:
    """A test phone added and a consent change count as moves (the console shows both), with no clock move."""
    feed = ConsoleFeed(world)
    before = feed.version
    world.add_test_subscriber("+4915100000099", latitude=world.city.projection.lat0,
                              longitude=world.city.projection.lon0)
    added = feed.version
    assert added > before
    world.set_consent(0, "LOCATION_SHARING", None, not world.consent_state(0).granted("LOCATION_SHARING"))
    assert feed.version > added
