"""``device-reachability-status`` v1: is the device reachable now, by data and/or SMS?"""

from __future__ import annotations

from typing import Literal

from aiohttp import web

from gateway.auth import auth_of
from gateway.camara.services import camara
from gateway.camara.subject import Device, DeviceResponse, resolve
from gateway.keys import WORLD
from gateway.routing import Access, RouteTable, json_response, read_json
from gateway.wire import Instant, WireModel

routes = RouteTable("CAMARA: device-reachability-status")
SCOPE = "device-reachability-status:read"


class DeviceStatusRequest(WireModel):
    """The device (two-legged tokens only)."""

    device: Device | None = None


class ReachabilityStatusResponse(WireModel):
    """Reachability now."""

    device: DeviceResponse | None = None
    last_status_time: Instant
    reachable: bool
    connectivity: list[Literal["DATA", "SMS"]] | None = None


@routes.post("/device-reachability-status/v1/retrieve", summary="Device reachability status",
             access=Access.PARTNER, scopes=(SCOPE,), request=DeviceStatusRequest,
             response=ReachabilityStatusResponse, errors=(400, 401, 403, 404, 422))
async def retrieve(request: web.Request) -> web.Response:
    """Whether the network can reach the device now, and over what."""
    body = await read_json(request, DeviceStatusRequest)
    subject = resolve(request.app[WORLD], auth_of(request), body.device)
    status = camara(request).status.reachability(subject)
    return json_response(ReachabilityStatusResponse(
        device=subject.echo, last_status_time=status.last_status_time, reachable=status.reachable,
        connectivity=list(status.connectivity) if status.reachable else None))
