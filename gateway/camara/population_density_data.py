"""``population-density-data`` v0.3: hourly people/km² on a geohash grid over a polygon (two-legged only).

Answers come from :class:`~gateway.camara.insights.InsightsService`: the past from the presence history, the
future from the same weekday and hour of past weeks; cells under the privacy threshold are ``LOW_DENSITY``.
A request naming a ``sink`` is answered asynchronously (:mod:`gateway.camara.callbacks`): ``202 {"operationId"}``
at once, then the ``PopulationDensityAsyncResponse`` (the answer of the request's simulated instant plus the
``operationId``; ``OPERATION_NOT_COMPLETED`` with ``statusInfo`` if computing it failed) POSTed to the sink with the
``sinkCredential`` bearer token. Asynchronous answers may be larger than synchronous ones (up to
:data:`~gateway.camara.insights.DENSITY_LIMIT` cells × slots instead of ``DENSITY_SYNC_LIMIT``).
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from gateway.auth import auth_of
from gateway.camara.areas import MAX_POLYGON_POINTS, Point
from gateway.camara.insights import DensityStatus
from gateway.camara.services import camara
from gateway.errors import InvalidArgument, PermissionDenied
from gateway.keys import CORRELATOR, SETTINGS, WORLD
from gateway.routing import Access, RouteTable, json_response, read_json
from gateway.webhooks import SinkCredential, check_sink, sink_access_token
from gateway.wire import Instant, WireModel

routes = RouteTable("CAMARA: population-density-data")
SCOPE = "population-density-data:read"
PREFIX = "POPULATION_DENSITY_DATA"


class DensityArea(WireModel):
    """The area: a polygon (other shapes are refused with the API's own code)."""

    area_type: Literal["POLYGON", "CIRCLE"]
    boundary: list[Point] | None = None
    center: Point | None = None
    radius: float | None = None


class PopulationDensityRequest(WireModel):
    """Polygon, interval (past or future, at most 7 days) and geohash precision."""

    area: DensityArea
    start_time: Instant
    end_time: Instant
    precision: int = Field(default=7, ge=1, le=12)
    sink: str | None = None
    sink_credential: SinkCredential | None = None


class PopulationDensityResponse(WireModel):
    """Hourly slots of per-geohash densities."""

    timed_population_density_data: list[dict[str, Any]]
    status: DensityStatus


class AcceptedAsyncResponse(WireModel):
    """``202``: the answer will be POSTed to the sink with this ``operationId``."""

    operation_id: str


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
