"""``region-device-count`` v0.2: how many devices are in an area, now or during a past interval (two-legged only).

Answers come from :class:`~gateway.services.camara.insights.InsightsService`; counts under the privacy threshold are
``DENSITY_BELOW_PRIVACY_THRESHOLD`` without a count. A request naming a ``sink`` is answered asynchronously
(:mod:`gateway.services.camara.callbacks`): ``202`` with an empty JSON object at once (v0.2 defines no
accepted-response body;
the test plan's ``count_07`` expects 202 and JSON), then the ``RegionDeviceCountResponse`` of the request's
simulated instant POSTed to the sink with the ``sinkCredential`` bearer token and the request's ``x-correlator``
(v0.2 correlates a callback with its request by that header only).
"""

from __future__ import annotations

from aiohttp import web

from gateway.core.errors import InvalidArgument, PermissionDenied
from gateway.core.webhooks import InvalidSink, check_sink, sink_access_token
from gateway.http.auth import auth_of
from gateway.http.composition import camara
from gateway.http.keys import CORRELATOR, SETTINGS, WORLD
from gateway.http.routing import Access, RouteTable, json_response, read_json
from gateway.services.camara.insights import DeviceFilter
from gateway.wire.camara.areas import MAX_POLYGON_POINTS
from gateway.wire.camara.region_device_count import (
    AcceptedResponse,
    CountArea,
    RegionDeviceCountRequest,
    RegionDeviceCountResponse,
)
from gateway.wire.geo import Latitude, Longitude
from simulator.errors import InvalidAreaError
from simulator.geo import Area

routes = RouteTable("CAMARA: region-device-count")
SCOPE = "region-device-count:count"
PREFIX = "REGION_DEVICE_COUNT"












def _area(request: web.Request, area: CountArea) -> Area:
    proj = request.app[WORLD].city.projection
    if area.area_type == "CIRCLE":
        if area.center is None or area.radius is None or area.boundary is not None:
            raise InvalidArgument("Missing circle center or radius.", code=f"{PREFIX}.INVALID_CIRCLE_AREA")
        try:
            return Area.circle_wgs84(proj, area.center.latitude, area.center.longitude, area.radius)
        except InvalidAreaError as exc:
            raise InvalidArgument(f"The circle is not supported: {exc}.",
                                  code=f"{PREFIX}.INVALID_CIRCLE_AREA") from None
    points = area.boundary or []
    if area.center is not None or area.radius is not None or not 3 <= len(points) <= MAX_POLYGON_POINTS:
        raise InvalidArgument(f"A polygon needs a boundary of 3 to {MAX_POLYGON_POINTS} points.",
                              code=f"{PREFIX}.INVALID_POLYGON_AREA")
    try:
        return Area.polygon_wgs84(proj, [(p.latitude, p.longitude) for p in points])
    except InvalidAreaError as exc:
        raise InvalidArgument(f"The area is not a polygon shape or has an arbitrary complexity: {exc}.",
                              code=f"{PREFIX}.INVALID_POLYGON_AREA") from None


@routes.post("/region-device-count/v0.2/count", summary="Count devices in an area", access=Access.PARTNER,
             scopes=(SCOPE,), request=RegionDeviceCountRequest, response=RegionDeviceCountResponse,
             errors=(400, 401, 403), also=((202, AcceptedResponse),))
async def count(request: web.Request) -> web.Response:
    """Devices served in the area now, or at least once during [starttime, endtime].

    With a ``sink``: ``202 {}`` at once, then the same answer POSTed to the sink (``application/json``, bearer
    ``sinkCredential.accessToken``, the request's ``x-correlator``).
    """
    if auth_of(request).subscriber is not None:
        raise PermissionDenied("region-device-count takes two-legged tokens only.")
    body = await read_json(request, RegionDeviceCountRequest)
    if (body.starttime is None) != (body.endtime is None):
        raise InvalidArgument("starttime and endtime cannot be passed separately. Either both are passed or neither "
                              "is passed.", code=f"{PREFIX}.TIME_INVALID_ARGUMENT")
    if body.starttime is not None and body.endtime is not None and body.endtime < body.starttime:
        raise InvalidArgument("Indicated endtime is earlier than the starttime.", code=f"{PREFIX}.INVALID_END_DATE")
    area = _area(request, body.area)
    sink: str | None = None
    token: str | None = None
    if body.sink is not None:
        try:
            sink = check_sink(body.sink, request.app[SETTINGS].allow_http_loopback_sinks)
        except InvalidSink as exc:  # v0.2 has no INVALID_SINK code: a bad sink breaks the schema's format: uri
            raise InvalidArgument(exc.message) from None
        token = sink_access_token(body.sink_credential, request.app[WORLD].clock.now)
    flt = body.filter
    if flt is not None and flt.roaming_status is None and flt.device_type is None:
        raise InvalidArgument("filter needs roamingStatus or deviceType.")
    device_filter = DeviceFilter(
        roaming_status=None if flt is None or flt.roaming_status is None else frozenset(flt.roaming_status),
        device_type=None if flt is None or flt.device_type is None else frozenset(flt.device_type))
    insights = camara(request).insights

    def answer() -> RegionDeviceCountResponse:
        result = insights.count(area, body.starttime, body.endtime, device_filter)
        return RegionDeviceCountResponse(count=result.count, status=result.status)

    if sink is None:
        return json_response(answer())
    camara(request).answers.submit(auth_of(request).partner_id, "region-device-count", sink, token, request[CORRELATOR],
                                   lambda _operation: answer().model_dump(mode="json", by_alias=True,
                                                                          exclude_none=True))
    return json_response(AcceptedResponse(), status=202)


__all__ = ["Latitude", "Longitude", "routes"]
