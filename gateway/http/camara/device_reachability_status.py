"""``device-reachability-status`` v1: is the device reachable now, by data and/or SMS?"""

from __future__ import annotations

from aiohttp import web

from gateway.http.auth import auth_of
from gateway.http.composition import camara
from gateway.http.keys import WORLD
from gateway.http.routing import Access, RouteTable, json_response, read_json
from gateway.services.camara.subject import resolve
from gateway.wire.camara.device_reachability_status import DeviceStatusRequest, ReachabilityStatusResponse

routes = RouteTable("CAMARA: device-reachability-status")
SCOPE = "device-reachability-status:read"






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
