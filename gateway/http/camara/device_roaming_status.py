"""``device-roaming-status`` v1: is the device roaming, and in which country?"""

from __future__ import annotations

from aiohttp import web

from gateway.http.auth import auth_of
from gateway.http.composition import camara
from gateway.http.keys import WORLD
from gateway.http.routing import Access, RouteTable, json_response, read_json
from gateway.services.camara.subject import resolve
from gateway.wire.camara.device_reachability_status import DeviceStatusRequest
from gateway.wire.camara.device_roaming_status import RoamingStatusResponse

routes = RouteTable("CAMARA: device-roaming-status")
SCOPE = "device-roaming-status:read"




@routes.post("/device-roaming-status/v1/retrieve", summary="Device roaming status", access=Access.PARTNER,
             scopes=(SCOPE,), request=DeviceStatusRequest, response=RoamingStatusResponse,
             errors=(400, 401, 403, 404, 422))
async def retrieve(request: web.Request) -> web.Response:
    """Whether the device is roaming (an inbound roamer on this network)."""
    body = await read_json(request, DeviceStatusRequest)
    subject = resolve(request.app[WORLD], auth_of(request), body.device)
    status = camara(request).status.roaming(subject)
    return json_response(RoamingStatusResponse(
        device=subject.echo, last_status_time=status.last_status_time, roaming=status.roaming,
        country_code=status.country_code, country_name=list(status.country_name) if status.roaming else None))
