"""``location-retrieval`` v0.5 (current) and v0.4: where is the device?

Both answer the serving cell's circle, or its sector polygon when only that fits ``maxSurface``. v0.5 reports an
unlocatable device as ``422 LOCATION_RETRIEVAL.UNABLE_TO_LOCATE``; v0.4 as ``404 LOCATION_RETRIEVAL.DEVICE_NOT_FOUND``
and only ever answers circles.
"""

from __future__ import annotations

from aiohttp import web

from gateway.http.auth import auth_of
from gateway.http.composition import camara
from gateway.http.keys import WORLD
from gateway.http.routing import Access, RouteTable, json_response, read_json
from gateway.services.camara.location import LocationRules
from gateway.services.camara.subject import resolve_locatable
from gateway.wire.camara.location_retrieval import Location, RetrievalLocationRequest

routes = RouteTable("CAMARA: location-retrieval")
SCOPE = "location-retrieval:read"






def _serve(version: str, rules: LocationRules, errors: tuple[int, ...]) -> None:
    @routes.post(f"/location-retrieval/{version}/retrieve", summary=f"Retrieve a device's location ({version})",
                 access=Access.PARTNER, scopes=(SCOPE,), request=RetrievalLocationRequest, response=Location,
                 errors=errors)
    async def retrieve(request: web.Request) -> web.Response:
        """The area where the network locates the device (its serving cell)."""
        body = await read_json(request, RetrievalLocationRequest)
        subject = resolve_locatable(request.app[WORLD], auth_of(request), body.device)
        area, at = camara(request).location.retrieve(subject, body.max_age, body.max_surface, rules)
        return json_response(Location(last_location_time=at, area=area, device=subject.echo))


_serve("v0.5", LocationRules("LOCATION_RETRIEVAL"), (400, 401, 403, 404, 422))
_serve("v0.4", LocationRules("LOCATION_RETRIEVAL", polygons=False, not_located_404=True), (400, 401, 403, 404, 422))
