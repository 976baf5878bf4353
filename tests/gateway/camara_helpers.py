"""Helpers of the CAMARA tests: scopes, partners and tokens (two- and three-legged), subjects, areas, a sink."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from gateway.wire.oauth import CIBA_GRANT_TYPE
from simulator.world import World
from tests.gateway.conftest import Client, MakePartner, PartnerCreds, fetch_token

ENTERED = "org.camaraproject.geofencing-subscriptions.v0.area-entered"
LEFT = "org.camaraproject.geofencing-subscriptions.v0.area-left"
ALL_SCOPES = ("location-verification:verify", "location-retrieval:read", "geofencing-subscriptions:read",
              "geofencing-subscriptions:delete", f"geofencing-subscriptions:{ENTERED}:create",
              f"geofencing-subscriptions:{LEFT}:create", "region-device-count:count",
              "population-density-data:read", "device-reachability-status:read", "device-roaming-status:read")


async def camara_partner(client: Client, make_partner: MakePartner, scopes: tuple[str, ...] = ALL_SCOPES,
                         name: str = "acme") -> tuple[PartnerCreds, str]:
    """A partner with the CAMARA scopes and a two-legged token."""
    creds = await make_partner(name, scopes=scopes)
    return creds, await fetch_token(client, creds)


async def ciba_token(client: Client, creds: PartnerCreds, msisdn: str,
                     scope: str = "openid dpv:FraudPreventionAndDetection location-verification:verify") -> str:
    """A three-legged token through the real CIBA flow (the subscriber must approve at once)."""
    auth = {"client_id": creds.client_id, "client_secret": creds.client_secret}
    resp = await client.post("/bc-authorize", data={**auth, "scope": scope, "login_hint": f"tel:{msisdn}"})
    assert resp.status == 200, await resp.text()
    auth_req_id = (await resp.json())["auth_req_id"]
    resp = await client.post("/oauth2/token", data={**auth, "grant_type": CIBA_GRANT_TYPE, "auth_req_id": auth_req_id})
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["access_token"])


def located(world: World, n: int = 1, consent: bool = True, skip: int = 0) -> list[int]:
    """Subscribers the network can locate now (reachable, in a cell), with or without location consent."""
    idx = np.arange(min(world.population.size, 2000))
    ok = world.is_reachable(idx) & (world.serving_cells(idx) >= 0)
    ok &= world.consent.is_permitted(idx, "LOCATION_SHARING", None) == consent
    found = [int(i) for i in np.flatnonzero(ok)[skip: skip + n]]
    assert len(found) == n
    return found


def msisdn(world: World, i: int) -> str:
    return world.msisdn_of(i)


def cell_centre(world: World, i: int) -> tuple[float, float, float]:
    """(latitude, longitude, radius) of subscriber ``i``'s serving cell circle."""
    loc = world.locate(i)
    return loc.cell_latitude, loc.cell_longitude, loc.cell_radius


def circle(lat: float, lon: float, radius: float) -> dict[str, Any]:
    return {"areaType": "CIRCLE", "center": {"latitude": lat, "longitude": lon}, "radius": radius}


def far_cell_circle(world: World, i: int, radius: float = 500.0) -> dict[str, Any]:
    """A circle around a cell far (> 5 km) from subscriber ``i``'s cell."""
    net = world.network
    c = int(world.serving_cells(np.asarray([i]))[0])
    d = np.hypot(net.cell_x - net.cell_x[c], net.cell_y - net.cell_y[c])
    far = int(np.flatnonzero((d > 5000) & (d < 9000))[0])
    lat, lon = world.city.projection.point_latlon(float(net.cell_x[far]), float(net.cell_y[far]))
    return circle(lat, lon, radius)


@dataclass
class Sink:
    """A real webhook receiver on 127.0.0.1: records requests; answers what ``answer`` says."""

    received: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    answer: Callable[[dict[str, Any]], Awaitable[int]] | None = None
    server: TestServer | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/events"))

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        record = {"headers": dict(request.headers), "raw": raw, "body": json.loads(raw)}
        status = 204 if self.answer is None else await self.answer(record)
        self.statuses.append(status)
        if 200 <= status < 300:
            self.received.append(record)
            self.arrived.set()
        return web.Response(status=status)

    def events(self, type_suffix: str = "") -> list[dict[str, Any]]:
        return [r["body"] for r in self.received if str(r["body"]["type"]).endswith(type_suffix)]

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until ``count`` events were accepted."""
        async def until() -> None:
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()
        await asyncio.wait_for(until(), timeout)
        return [r["body"] for r in self.received]


async def start_sink(aiohttp_server: AiohttpServer) -> Sink:
    """A :class:`Sink` listening on 127.0.0.1 (port 0), path ``/events``."""
    sink = Sink()
    app = web.Application()
    app.router.add_post("/events", sink.handle)
    sink.server = await aiohttp_server(app)
    return sink
