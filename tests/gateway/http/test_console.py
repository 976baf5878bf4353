"""The operator console: its page (public, self-contained) and the admin routes and live stream it reads."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import signal
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import numpy as np
import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from gateway.client import AdminClient
from gateway.core.settings import Settings
from gateway.http.app import create_app
from simulator.world import World
from tests.gateway.camara_helpers import ENTERED, Sink, camara_partner, start_sink
from tests.gateway.campaign_helpers import (
    CENTRE,
    advance,
    campaign_body,
    campaign_partner,
    create,
    now_of,
    tally,
    truth,
)
from tests.gateway.conftest import ADMIN, Client, MakePartner, Wall

PHONE = "+4915100000077"
EXTERNAL_URL = re.compile(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}")
"""An absolute or scheme-relative URL to another host (the page must load nothing from elsewhere)."""


@pytest.fixture
def settings(tmp_path: Path, wall: Wall) -> Settings:
    return Settings(db_path=tmp_path / "opsim.db", admin_token="test-admin-token", wall_clock=wall, port=0,
                    webhook_backoff_base_s=0.02, webhook_backoff_max_s=0.1, webhook_poll_s=0.01,
                    webhook_timeout_s=0.5)


async def add_phone(client: Client, world: World, lat_offset: float = 0.0) -> dict[str, Any]:
    body = {"msisdn": PHONE, "latitude": world.city.projection.lat0 + lat_offset,
            "longitude": world.city.projection.lon0, "consent": {"LOCATION_SHARING": {"ANY": True}}}
    resp = await client.post("/admin/v1/subscribers", json=body, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def get(client: Client, path: str) -> Any:
    resp = await client.get(path, headers=ADMIN)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def next_event(stream: aiohttp.ClientResponse) -> dict[str, Any]:
    """The next ``state`` event of a console stream (comment lines skipped)."""
    while True:
        chunk = (await stream.content.readuntil(b"\n\n")).decode()
        lines = chunk.strip().split("\n")
        if lines[0] == "event: state":
            return dict(json.loads(lines[1].removeprefix("data: ")))


@pytest.mark.parametrize("path", [
    "/admin/v1/console/map",  # the map
    "/admin/v1/console/occupancy",  # counts per cell
    "/admin/v1/console/state",  # what the stream sends
    "/admin/v1/console/stream",  # the stream itself
    f"/admin/v1/console/subscribers/{quote(PHONE)}/track",  # a track
])
async def test_console_data_needs_the_admin_token(client: Client, path: str) -> None:
    """Every data route of the console is 401 without the admin token, in the one error shape."""
    resp = await client.get(path)
    assert resp.status == 401
    assert {"status", "code", "message"} <= set(await resp.json())


async def test_console_page_is_public_and_self_contained(client: Client) -> None:
    """The page is served without a token, holds no data and names no other host (no CDN, no tile server)."""
    resp = await client.get("/console")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    page = await resp.text()
    assert "/admin/v1/console/stream" in page and "sessionStorage" in page
    assert EXTERNAL_URL.findall(page) == []
    assert "http:" not in page and "https:" not in page
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]


async def test_map_has_every_cell_as_a_hexagon(client: Client, world: World) -> None:
    """One hexagon per cell, in cell order, inside the map's bounds; the outline, zones and places come along."""
    body = await get(client, "/admin/v1/console/map")
    assert len(body["cells"]) == world.cell_count
    assert [c["index"] for c in body["cells"]] == list(range(world.cell_count))
    assert body["cells"][3]["id"] == world.cell_id(3)
    south, west, north, east = body["bounds"]
    for cell in body["cells"]:
        assert len(cell["hexagon"]) == 6
        assert all(south <= lat <= north and west <= lon <= east for lat, lon in cell["hexagon"])
    assert {z["name"] for z in body["zones"]} == {"CENTRE", "RESIDENTIAL"}
    assert {p["name"] for p in body["places"]} == {p.name for p in world.city.places}
    assert len(body["boundary"]) >= 3


async def test_occupancy_counts_everyone_served(client: Client, world: World) -> None:
    """Counts per cell sum to the subscribers served now and change as the clock moves."""
    before = await get(client, "/admin/v1/console/occupancy")
    assert len(before["counts"]) == world.cell_count
    assert before["total"] == sum(before["counts"]) == int((world.serving_cells(
        np.arange(world.subscriber_count)) >= 0).sum())
    assert before["max"] == max(before["counts"])
    await client.post("/admin/v1/clock/advance", json={"duration": "PT3H"}, headers=ADMIN)
    after = await get(client, "/admin/v1/console/occupancy")
    assert after["now"] > before["now"] and after["counts"] != before["counts"]


async def test_state_shows_phones_geofences_and_their_events(client: Client, world: World,
                                                             make_partner: MakePartner,
                                                             aiohttp_server: AiohttpServer) -> None:
    """A test phone pinned into a geofence: the state shows the phone, the geofence inside and its event."""
    sink: Sink = await start_sink(aiohttp_server)
    await add_phone(client, world)
    place = world.city.places[0]
    _, token = await camara_partner(client, make_partner)
    area = {"areaType": "CIRCLE", "center": {"latitude": place.latitude, "longitude": place.longitude},
            "radius": 2000}
    sub = {"protocol": "HTTP", "sink": sink.url, "types": [ENTERED],
           "config": {"subscriptionDetail": {"device": {"phoneNumber": PHONE}, "area": area}}}
    resp = await client.post("/geofencing-subscriptions/v0.5/subscriptions", json=sub,
                             headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 201, await resp.text()
    state = await get(client, "/admin/v1/console/state")
    assert [p["msisdn"] for p in state["phones"]] == [PHONE]
    [fence] = state["geofences"]
    assert (fence["msisdn"], fence["inside"], fence["area"]["radius"]) == (PHONE, False, 2000)
    resp = await client.post(f"/admin/v1/subscribers/{quote(PHONE)}/pin", headers=ADMIN,
                             json={"latitude": place.latitude, "longitude": place.longitude})
    assert resp.status == 200
    state = await get(client, "/admin/v1/console/state")
    assert state["geofences"][0]["inside"] is True
    kinds = [e["type"].rsplit(".", 1)[-1] for e in state["geofenceEvents"]]
    assert kinds == ["area-entered", "subscription-started"]  # newest first
    assert state["phones"][0]["cellIndex"] == int(world.serving_cells(
        np.asarray([world.find_subscriber(PHONE)]))[0])
    assert ENTERED in [e["type"] for e in await sink.wait_for(2)]


async def test_state_shows_campaign_areas_and_deliveries(client: Client, make_partner: MakePartner) -> None:
    """A campaign's circle and its deliveries as the operator's truth counts them."""
    caller = await campaign_partner(client, make_partner)
    created = await create(client, caller, campaign_body(await now_of(client), hours=1))
    await advance(client, 30)
    records = tally(await truth(client, created["id"]))  # reading the truth waits for queued records
    [shown] = (await get(client, "/admin/v1/console/state"))["campaigns"]
    assert (shown["id"], shown["partnerId"], shown["name"], shown["status"]) == (
        created["id"], caller.id, "Summer sale", "RUNNING")
    assert shown["areas"] == [{"kind": "CIRCLE", "latitude": CENTRE[0], "longitude": CENTRE[1], "radius": 3000.0}]
    assert shown["delivered"] == records.get("DELIVERED", 0) > 0
    assert shown["sent"] == records.get("DELIVERED", 0) + records.get("FAILED", 0)
    assert shown["suppressed"] == sum(n for k, n in records.items() if k not in ("DELIVERED", "FAILED"))


async def test_track_lists_recent_cells(client: Client, world: World) -> None:
    """A moving subscriber's track holds the cell at its start and each change after it, oldest first."""
    await client.post("/admin/v1/clock/advance", json={"duration": "PT4H"}, headers=ADMIN)
    number = next(world.msisdn_of(i) for i in range(world.subscriber_count)
                  if len(world.cell_track(i, world.clock.now.replace(hour=0))) > 2)
    track = await get(client, f"/admin/v1/console/subscribers/{quote(number)}/track?hours=6")
    assert track["msisdn"] == number and track["isTest"] is False
    assert len(track["points"]) > 2
    times = [p["at"] for p in track["points"]]
    assert times == sorted(times) and times[0] == track["since"]
    cells = [p["cellIndex"] for p in track["points"]]
    assert all(a != b for a, b in itertools.pairwise(cells))


@pytest.mark.parametrize(("path", "status"), [
    ("/admin/v1/console/subscribers/%2B4915199999999/track", 404),  # nobody has that number
    (f"/admin/v1/console/subscribers/{quote(PHONE)}/track?hours=0", 400),  # no history to show
    (f"/admin/v1/console/subscribers/{quote(PHONE)}/track?hours=1000", 400),  # more than a week
    (f"/admin/v1/console/subscribers/{quote(PHONE)}/track?days=1", 400),  # unknown parameter
])
async def test_track_bad_input(client: Client, world: World, path: str, status: int) -> None:
    """Bad numbers and parameters are answered in the error shape, never 500."""
    await add_phone(client, world)
    resp = await client.get(path, headers=ADMIN)
    assert resp.status == status, await resp.text()
    assert (await resp.json())["status"] == status


async def test_stream_sends_state_after_a_clock_advance(client: Client) -> None:
    """The stream sends the state at once, then again after the clock moved."""
    async with client.get("/admin/v1/console/stream", headers=ADMIN) as stream:
        assert stream.status == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        first = await next_event(stream)
        resp = await client.post("/admin/v1/clock/advance", json={"duration": "PT1H"}, headers=ADMIN)
        assert resp.status == 200
        moved = (await resp.json())["now"]
        event = await next_event(stream)
        while event["clock"]["now"] != moved:  # an advance may be seen part-way (the world yields per tick)
            event = await next_event(stream)
        assert event["clock"]["now"] > first["clock"]["now"]
        assert len(event["occupancy"]["counts"]) == len(first["occupancy"]["counts"])


async def test_stream_follows_webhook_deliveries(client: Client, world: World, make_partner: MakePartner,
                                                 aiohttp_server: AiohttpServer) -> None:
    """A webhook attempt wakes the stream without a clock move: the event is shown delivered."""
    sink = await start_sink(aiohttp_server)
    await add_phone(client, world)
    _, token = await camara_partner(client, make_partner)
    place = world.city.places[0]
    area = {"areaType": "CIRCLE", "center": {"latitude": place.latitude, "longitude": place.longitude},
            "radius": 2000}
    async with client.get("/admin/v1/console/stream", headers=ADMIN) as stream:
        assert (await next_event(stream))["geofenceEvents"] == []
        resp = await client.post("/geofencing-subscriptions/v0.5/subscriptions", headers={
            "Authorization": f"Bearer {token}"}, json={
            "protocol": "HTTP", "sink": sink.url, "types": [ENTERED],
            "config": {"subscriptionDetail": {"device": {"phoneNumber": PHONE}, "area": area}}})
        assert resp.status == 201
        await sink.wait_for(1)
        async with asyncio.timeout(10):  # a guard: without the wake-up the stream would stay silent
            event = await next_event(stream)
            while [e["state"] for e in event["geofenceEvents"]] != ["delivered"]:
                event = await next_event(stream)
        assert event["clock"]["now"] == "2026-06-01T06:00:00Z"


async def test_stream_ends_when_the_gateway_stops(world: World, settings: Settings) -> None:
    """Shutting the gateway down ends open streams (the server stops without waiting for them)."""
    server = TestServer(create_app(world, settings), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session, \
                session.get(server.make_url("/admin/v1/console/stream"), headers=ADMIN) as stream:
            await next_event(stream)
            closing = asyncio.create_task(server.close())
            async with asyncio.timeout(10):  # a guard against hanging, not a timing goal
                rest = await stream.content.read()
                await closing
            assert b"event: state" not in rest
    finally:
        await server.close()


async def test_opsim_serve_stops_promptly_with_a_console_open(tmp_path: Path) -> None:
    """A real ``opsim serve`` prints the console's URL and exits 0 on SIGTERM while a console stream is open."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.http.serve", "--city", "berlin", "--subscribers", "1000", "--port", "0",
        "--db", str(tmp_path / "serve.db"), "--clock", "paced", "--admin-token", "tok",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        lines = [(await asyncio.wait_for(proc.stdout.readline(), 60)).decode() for _ in range(6)]
        url = lines[1].split()[-1]
        assert lines[5].split()[1] == f"{url}/console"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/console") as page:
                assert page.status == 200
            async with session.get(f"{url}/admin/v1/console/stream",
                                   headers={"Authorization": "Bearer tok"}) as stream:
                await next_event(stream)
                proc.send_signal(signal.SIGTERM)
                async with asyncio.timeout(30):  # a guard against hanging, not a timing goal
                    await stream.content.read()  # the stream ends with the server
                    assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_admin_client_reads_the_console(aiohttp_server: AiohttpServer, world: World,
                                              settings: Settings) -> None:
    """The admin client's console methods give typed answers that agree with each other."""
    server = await aiohttp_server(create_app(world, settings))
    async with AdminClient(str(server.make_url("")).rstrip("/"), "test-admin-token") as admin:
        drawn = await admin.console_map()
        occupancy = await admin.occupancy()
        assert len(drawn.cells) == len(occupancy.counts) == world.cell_count
        state = await admin.console_state()
        assert state.occupancy.counts == occupancy.counts and state.phones == []
        track = await admin.track(world.msisdn_of(0), hours=1)
        assert track.msisdn == world.msisdn_of(0) and track.points
