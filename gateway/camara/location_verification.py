"""``location-verification`` v3 (current), v2 and v1: is the device inside this circle?

v3 answers ``TRUE``/``FALSE``/``PARTIAL`` (with ``matchRate``) or ``422 LOCATION_VERIFICATION.UNABLE_TO_LOCATE``;
v1 and v2 answer ``UNKNOWN`` instead of that error, and v1 needs the ``device`` (two-legged tokens only). All three
are the same handler over :class:`~gateway.camara.location.LocationService` with per-version models and rules.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field

from gateway.auth import auth_of
from gateway.camara.areas import Circle
from gateway.camara.location import LocationRules
from gateway.camara.services import camara
from gateway.camara.subject import Device, DeviceResponse, resolve_locatable
from gateway.keys import WORLD
from gateway.routing import Access, RouteTable, json_response, read_json
from gateway.wire import Instant, WireModel

routes = RouteTable("CAMARA: location-verification")
SCOPE = "location-verification:verify"
ERRORS = (400, 401, 403, 404, 422)


class VerifyLocationRequest(WireModel):
    """v2/v3: the device (two-legged tokens only), a circle and an optional ``maxAge`` in seconds."""

    device: Device | None = None
    area: Circle
    max_age: int | None = Field(default=None, ge=0)


class VerifyLocationRequestV1(VerifyLocationRequest):
    """v1: the device is required."""

    device: Device


class VerifyLocationResponse(WireModel):
    """v3 answer."""

    verification_result: Literal["TRUE", "FALSE", "PARTIAL"]
    last_location_time: Instant
    match_rate: int | None = Field(default=None, ge=1, le=99)
    device: DeviceResponse | None = None


class VerifyLocationResponseV2(WireModel):
    """v1/v2 answer: ``UNKNOWN`` when the network cannot locate the device (then without a time)."""

    verification_result: Literal["TRUE", "FALSE", "PARTIAL", "UNKNOWN"]
    last_location_time: Instant | None = None
    match_rate: int | None = Field(default=None, ge=1, le=99)
    device: DeviceResponse | None = None


def _serve(version: str, request_model: type[VerifyLocationRequest],
           response_model: type[VerifyLocationResponse] | type[VerifyLocationResponseV2], rules: LocationRules) -> None:
    @routes.post(f"/location-verification/{version}/verify", summary=f"Verify a device's location ({version})",
                 access=Access.PARTNER, scopes=(SCOPE,), request=request_model, response=response_model,
                 errors=ERRORS)
    async def verify(request: web.Request) -> web.Response:
        """Whether the network locates the device within the circle (serving cell against the area)."""
        body = await read_json(request, request_model)
        subject = resolve_locatable(request.app[WORLD], auth_of(request), body.device)
        answer = camara(request).location.verify(subject, body.area, body.max_age, rules)
        return json_response(response_model.model_validate({
            "verification_result": answer.result, "last_location_time": answer.last_location_time,
            "match_rate": answer.match_rate, "device": subject.echo}))


_serve("v3", VerifyLocationRequest, VerifyLocationResponse, LocationRules("LOCATION_VERIFICATION"))
_serve("v2", VerifyLocationRequest, VerifyLocationResponseV2,
       LocationRules("LOCATION_VERIFICATION", unknown_result=True))
_serve("v1", VerifyLocationRequestV1, VerifyLocationResponseV2,
       LocationRules("LOCATION_VERIFICATION", unknown_result=True))
