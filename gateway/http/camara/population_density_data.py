"""``population-density-data`` v0.3: hourly people/km² on a geohash grid over a polygon (two-legged only).

Answers come from :class:`~gateway.services.camara.insights.InsightsService`: the past from the presence history, the
future from the same weekday and hour of past weeks; cells under the privacy threshold are ``LOW_DENSITY``.
A request naming a ``sink`` is answered asynchronously (:mod:`gateway.services.camara.callbacks`): ``202
{"operationId"}``
at once, then the ``PopulationDensityAsyncResponse`` (the answer of the request's simulated instant plus the
``operationId``; ``OPERATION_NOT_COMPLETED`` with ``statusInfo`` if computing it failed) POSTed to the sink with the
``sinkCredential`` bearer token. Asynchronous answers may be larger than synchronous ones (up to
:data:`~gateway.services.camara.insights.DENSITY_LIMIT` cells × slots instead of ``DENSITY_SYNC_LIMIT``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.core.errors import InvalidArgument, PermissionDenied
from gateway.core.webhooks import check_sink, sink_access_token
from gateway.http.auth import auth_of
from gateway.http.composition import camara
from gateway.http.keys import CORRELATOR, SETTINGS, WORLD
from gateway.http.routing import Access, RouteTable, json_response, read_json
from gateway.wire.camara.areas import MAX_POLYGON_POINTS
from gateway.wire.camara.population_density_data import (
    AcceptedAsyncResponse,
    PopulationDensityRequest,
    PopulationDensityResponse,
)

routes = RouteTable("CAMARA: population-density-data")
SCOPE = "population-density-data:read"
PREFIX = "POPULATION_DENSITY_DATA"










@routes.post("/population-density-data/v0.3/retrieve", summary="Population density over an area",
             access=Access.PARTNER, scopes=(SCOPE,), request=PopulationDensityRequest,
             response=PopulationDensityResponse, errors=(400, 401, 403, 422), also=((202, AcceptedAsyncResponse),))
async def retrieve(request: web.Request) -> web.Response:
    """Hourly density estimations per geohash cell of the polygon.

    With a ``sink``: ``202 {"operationId"}`` at once, then the answer with that ``operationId`` POSTed to the sink
    (``application/json``, bearer ``sinkCredential.accessToken``); it may be larger than a synchronous answer.
    """
    if auth_of(request).subscriber is not None:
        raise PermissionDenied("population-density-data takes two-legged tokens only.")
    body = await read_json(request, PopulationDensityRequest)
    area = body.area
    if area.area_type != "POLYGON" or area.boundary is None or area.center is not None or area.radius is not None \
            or not 3 <= len(area.boundary) <= MAX_POLYGON_POINTS:
        raise InvalidArgument("The area is not a polygon shape or exceeds supported complexity.",
                              code=f"{PREFIX}.INVALID_AREA")
    points = [(p.latitude, p.longitude) for p in area.boundary]
    insights = camara(request).insights
    if body.sink is None:
        status, slots = insights.density(points, body.start_time, body.end_time, body.precision)
        return json_response(PopulationDensityResponse(timed_population_density_data=slots, status=status))
    sink = check_sink(body.sink, request.app[SETTINGS].allow_http_loopback_sinks)
    token = sink_access_token(body.sink_credential, request.app[WORLD].clock.now)

    def answer(operation_id: str) -> dict[str, Any]:
        status, slots = insights.density(points, body.start_time, body.end_time, body.precision, asynchronous=True)
        return {"timedPopulationDensityData": slots, "status": status, "operationId": operation_id}

    def failed(operation_id: str, description: str) -> dict[str, Any]:
        return {"timedPopulationDensityData": [], "status": "OPERATION_NOT_COMPLETED", "statusInfo": description,
                "operationId": operation_id}

    operation_id = camara(request).answers.submit(auth_of(request).partner_id, "population-density-data", sink,
                                                  token, request[CORRELATOR], answer, failed)
    return json_response(AcceptedAsyncResponse(operation_id=operation_id), status=202)
