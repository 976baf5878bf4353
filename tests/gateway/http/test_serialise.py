"""World-changing routes run one at a time under the control plane's lock, taken by one middleware."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal, cast

from aiohttp import web
from pytest_aiohttp import AiohttpClient

from gateway.core.store import Store
from gateway.http.keys import CONTROL, ROUTES, STORE
from gateway.http.routing import Access, RouteRegistry, RouteTable, no_content
from gateway.http.serialise import serialise_middleware
from gateway.services.control import ControlPlane
from tests.gateway.conftest import ADMIN, Client

GATEWAY_HTTP = Path(__file__).resolve().parents[3] / "gateway" / "http"


class WatchedLock(asyncio.Lock):
    """A lock that says when someone starts waiting for it."""

    def __init__(self) -> None:
        super().__init__()
        self.queued = 0
        self.queued_changed = asyncio.Event()

    async def acquire(self) -> Literal[True]:
        if self.locked():
            self.queued += 1
            self.queued_changed.set()
        return await super().acquire()


def _app(lock: WatchedLock, release: asyncio.Event, entered: list[str]) -> web.Application:
    table = RouteTable("test")

    @table.post("/change/{name}", summary="Change the world", access=Access.PUBLIC, changes_world=True)
    async def change(request: web.Request) -> web.Response:
        assert lock.locked()
        entered.append(request.match_info["name"])
        await release.wait()
        return no_content()

    @table.get("/read", summary="Read the world", access=Access.PUBLIC)
    async def read(request: web.Request) -> web.Response:
        return no_content()

    app = web.Application(middlewares=[serialise_middleware])
    registry = RouteRegistry()
    registry.install(app, table)
    app[ROUTES] = registry
    app[CONTROL] = cast(ControlPlane, SimpleNamespace(lock=lock))
    app[STORE] = Store(":memory:")  # nothing is queued for a group commit here: answers leave at once
    return app


async def test_world_changing_route_waits_for_the_lock_and_reads_do_not(aiohttp_client: AiohttpClient) -> None:
    """A second world-changing request queues behind the first; a read answers meanwhile."""
    lock, release, entered = WatchedLock(), asyncio.Event(), list[str]()
    client = await aiohttp_client(_app(lock, release, entered))
    first = asyncio.create_task(client.post("/change/first"))
    while entered != ["first"]:  # the first handler runs, holding the lock
        await asyncio.sleep(0)
    second = asyncio.create_task(client.post("/change/second"))
    await lock.queued_changed.wait()  # the second request is waiting for the lock, its handler not entered
    assert entered == ["first"] and lock.queued == 1
    read = await client.get("/read")  # answered although the lock is held
    assert read.status == 204
    assert entered == ["first"]
    release.set()
    assert (await first).status == 204
    assert (await second).status == 204
    assert entered == ["first", "second"] and not lock.locked()


async def test_the_pacer_waits_for_a_world_changing_request(client: Client) -> None:
    """A pacer wake-up due while a world-changing request runs waits for it to finish."""
    control = client.app[CONTROL]
    await control.set_mode("paced", 60)
    control.world.clock.resume(wall=0.0)
    start = control.world.clock.now
    async with control.lock:  # what the middleware holds around a world-changing handler
        wake = asyncio.create_task(control.pace_once(1.0))
        for _ in range(10):
            await asyncio.sleep(0)
        assert not wake.done() and control.world.clock.now == start
    assert await wake > 0
    assert control.world.clock.now > start


# Every route served under the lock (the ones that change the world or what is scheduled on its clock).
WORLD_CHANGING = {
    # partner requests that handlers used to lock by hand
    ("POST", "/messages/v1/messages"),
    ("POST", "/journeys/v1/journeys"),
    ("DELETE", "/journeys/v1/journeys/{journeyId}"),
    ("POST", "/journeys/v1/journeys/{journeyId}/enrolments"),
    ("POST", "/campaigns/v1/campaigns"),
    ("DELETE", "/campaigns/v1/campaigns/{campaignId}"),
    # the control plane's changes, which took the lock inside the service
    ("POST", "/admin/v1/clock/advance"),
    ("POST", "/admin/v1/clock/mode"),
    ("POST", "/admin/v1/clock/pause"),
    ("POST", "/admin/v1/clock/resume"),
    ("PUT", "/admin/v1/subscribers/{msisdn}/consent"),
    ("POST", "/admin/v1/subscribers/{msisdn}/pin"),
    ("DELETE", "/admin/v1/subscribers/{msisdn}/pin"),
    ("POST", "/admin/v1/subscribers"),
    ("POST", "/admin/v1/gatherings"),
    ("POST", "/admin/v1/subscribers/{msisdn}/sim-swap"),
    # requests that schedule on the world's clock
    ("POST", "/verify/v1/verifications"),
    ("POST", "/sim-swap-subscriptions/v0.3/subscriptions"),
    ("DELETE", "/sim-swap-subscriptions/v0.3/subscriptions/{subscriptionId}"),
    # partner apps: registering draws installs, a push lands in an inbox or waits for the tick, uninstalls
    ("POST", "/apps/v1/apps"),
    ("POST", "/v1/projects/{projectId}/messages:send"),
    ("DELETE", "/admin/v1/apps/{appId}/installations/{installationId}"),
}


async def test_registry_lists_the_world_changing_routes(client: Client) -> None:
    """Exactly the world-changing routes are declared so (geofencing: create and delete in every version)."""
    flagged = {(r.method, r.path) for r in client.app[ROUTES].world_changing()}
    geofencing = {route for route in flagged if route[1].startswith("/geofencing-subscriptions/")}
    assert flagged - geofencing == WORLD_CHANGING
    assert geofencing and {method for method, _ in geofencing} == {"POST", "DELETE"}


def test_no_handler_takes_the_lock_by_hand() -> None:
    """Only the serialising middleware takes the control plane's lock in the HTTP layer."""
    takers = [path.relative_to(GATEWAY_HTTP).as_posix() for path in GATEWAY_HTTP.rglob("*.py")
              if ".lock" in path.read_text(encoding="utf-8")]
    assert takers == ["serialise.py"]


async def test_world_changing_request_answers_as_before(client: Client) -> None:
    """A flagged admin route still answers (no lock taken twice) and leaves the lock free."""
    resp = await client.post("/admin/v1/clock/advance", json={"seconds": 60}, headers=ADMIN)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    assert "now" in body
    assert not client.app[CONTROL].lock.locked()
