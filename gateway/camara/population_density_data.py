"""``population-density-data`` v0.3: hourly people/km² on a geohash grid over a polygon (two-legged only).

Answers come from :class:`~gateway.camara.insights.InsightsService`: the past from the presence history, the
future from the same weekday and hour of past weeks; cells under the privacy threshold are ``LOW_DENSITY``.
Asynchronous answers (``sink``) are not offered (``POPULATION_DENSITY_DATA.UNSUPPORTED_REQUEST`` once the sink and
its credential have been checked).
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from gateway.auth import auth_of
from gateway.camara.areas import MAX_POLYGON_POINTS, Point
from gateway.camara.insights import DensityStatus
from gateway.camara.services import camara
from gateway.errors import InvalidArgument, PermissionDenied, Unprocessable
from gateway.keys import SETTINGS
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


@routes.post("/population-density-data/v0.3/retrieve", summary="Population density over an area",
             access=Access.PARTNER, scopes=(SCOPE,), request=PopulationDensityRequest,
             response=PopulationDensityResponse, errors=(400, 401, 403, 422))
async def retrieve(request: web.Request) -> web.Response:
    """Hourly density estimations per geohash cell of the polygon."""
    if auth_of(request).subscriber is not None:
        raise PermissionDenied("population-density-data takes two-legged tokens only.")
    body = await read_json(request, PopulationDensityRequest)
    area = body.area
    if area.area_type != "POLYGON" or area.boundary is None or area.center is not None or area.radius is not None \
            or not 3 <= len(area.boundary) <= MAX_POLYGON_POINTS:
        raise InvalidArgument("The area is not a polygon shape or exceeds supported complexity.",
                              code=f"{PREFIX}.INVALID_AREA")
    if body.sink is not None:
        check_sink(body.sink, request.app[SETTINGS].allow_http_loopback_sinks)
        sink_access_token(body.sink_credential)
        raise Unprocessable("Asynchronous answers are not supported: leave out sink.",
                            code=f"{PREFIX}.UNSUPPORTED_REQUEST")
    status, slots = camara(request).insights.density([(p.latitude, p.longitude) for p in area.boundary],
                                                     body.start_time, body.end_time, body.precision)
    return json_response(PopulationDensityResponse(timed_population_density_data=slots, status=status))
