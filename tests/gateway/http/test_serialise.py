"""World-changing routes run one at a time under the control plane's lock, taken by one middleware."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal, cast

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from gateway.core.store import GroupCommit, Store
from gateway.http.keys import CONTROL, GROUP_COMMIT, ROUTES, STORE
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
    app[GROUP_COMMIT] = GroupCommit(linger_ms=1.0, siblings=8)
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
    ("PATCH", "/admin/v1/apps/{appId}/installations/{installationId}"),
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


def _recording_app(tmp_path: Path, linger_ms: float, siblings: int, commits: list[int]) -> web.Application:
    """A world-changing route that queues one record for the group commit, as a push send does."""
    table = RouteTable("test")
    store = Store(tmp_path / "s.db")
    store.open()
    store.conn.execute("CREATE TABLE r (k INTEGER PRIMARY KEY)")
    store.conn.set_trace_callback(lambda sql: commits.append(1) if sql == "COMMIT" else None)

    @table.post("/record/{k}", summary="Record", access=Access.PUBLIC, changes_world=True)
    async def record(request: web.Request) -> web.Response:
        await asyncio.sleep(0.005)  # the others meanwhile queue for the lock: in flight
        if request.match_info["k"] == "boom":
            raise RuntimeError("handler failed")
        store.queue_row("INSERT INTO r(k) VALUES (?)", (int(request.match_info["k"]),))
        return no_content()

    app = web.Application(middlewares=[serialise_middleware])
    registry = RouteRegistry()
    registry.install(app, table)
    app[ROUTES] = registry
    app[CONTROL] = cast(ControlPlane, SimpleNamespace(lock=asyncio.Lock()))
    app[GROUP_COMMIT] = GroupCommit(linger_ms=linger_ms, siblings=siblings)
    app[STORE] = store

    async def close(_: web.Application) -> None:
        store.close()

    app.on_cleanup.append(close)
    return app


async def test_a_lone_request_never_lingers(aiohttp_client: AiohttpClient, tmp_path: Path) -> None:
    """One request at a time (fewer in flight than ``siblings``): committed at the end of its turn, not after the
    linger, even a long one."""
    commits: list[int] = []
    client = await aiohttp_client(_recording_app(tmp_path, linger_ms=5000, siblings=2, commits=commits))
    loop = asyncio.get_running_loop()
    started = loop.time()
    for k in range(3):
        assert (await client.post(f"/record/{k}")).status == 204
    assert loop.time() - started < 2.0 and len(commits) == 3  # one commit each, none waited 5 s
    assert client.app[GROUP_COMMIT].in_flight == 0
    assert (await client.post("/record/boom")).status == 500  # a failing handler is counted out too
    assert client.app[GROUP_COMMIT].in_flight == 0


async def test_requests_in_flight_together_share_a_lingering_commit(aiohttp_client: AiohttpClient,
                                                                    tmp_path: Path) -> None:
    """With ``siblings`` in flight, the group commit waits ``linger_ms`` for more: requests arriving during it
    share its commit, and all are answered with their records committed."""
    commits: list[int] = []
    client = await aiohttp_client(_recording_app(tmp_path, linger_ms=300, siblings=2, commits=commits))
    gate = client.app[GROUP_COMMIT]
    loop = asyncio.get_running_loop()
    started = loop.time()
    answers = await asyncio.gather(*(client.post(f"/record/{k}") for k in range(6)))
    assert [a.status for a in answers] == [204] * 6
    assert loop.time() - started >= 0.27  # a commit waited out the linger before answering
    assert len(commits) == 1
    with sqlite3.connect(tmp_path / "s.db") as other:
        assert other.execute("SELECT COUNT(*) FROM r").fetchone()[0] == 6
    assert gate.in_flight == 0


@pytest.mark.parametrize(("in_flight", "linger"), [(1, 0.0), (7, 0.0), (8, 0.001), (32, 0.001)])
def test_group_commit_lingers_from_siblings_in_flight(in_flight: int, linger: float) -> None:
    gate = GroupCommit(linger_ms=1.0, siblings=8)
    gate.in_flight = in_flight
    assert gate.linger() == linger
