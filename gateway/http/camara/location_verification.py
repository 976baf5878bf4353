"""``location-verification`` v3 (current), v2 and v1: is the device inside this circle?

v3 answers ``TRUE``/``FALSE``/``PARTIAL`` (with ``matchRate``) or ``422 LOCATION_VERIFICATION.UNABLE_TO_LOCATE``;
v1 and v2 answer ``UNKNOWN`` instead of that error, and v1 needs the ``device`` (two-legged tokens only). All three
are the same handler over :class:`~gateway.services.camara.location.LocationService` with per-version models and rules.
"""

from __future__ import annotations

from aiohttp import web

from gateway.http.auth import auth_of
from gateway.http.composition import camara
from gateway.http.keys import WORLD
from gateway.http.routing import Access, RouteTable, json_response, read_json
from gateway.services.camara.location import LocationRules
from gateway.services.camara.subject import resolve_locatable
from gateway.wire.camara.location_verification import (
    VerifyLocationRequest,
    VerifyLocationRequestV1,
    VerifyLocationResponse,
    VerifyLocationResponseV2,
)

routes = RouteTable("CAMARA: location-verification")
SCOPE = "location-verification:verify"
ERRORS = (400, 401, 403, 404, 422)










def _serve(version: str, request_model: type[VerifyLocationRequest],
           response_model: type[VerifyLocationResponse] | type[VerifyLocationResponseV2], rules: LocationRules) -> None:
    @routes.post(f"/location-verification/{version}/verify", summary=f"Verify a device's location ({version})",
                 access=Access.PARTNER, scopes=(SCOPE,), request=request_model, response=response_model,
                 errors=ERRORS, example={"device": {"phoneNumber": "+491701000001"}, "maxAge": 600, "area": {
                     "areaType": "CIRCLE", "center": {"latitude": 52.52, "longitude": 13.405}, "radius": 2000}})
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
