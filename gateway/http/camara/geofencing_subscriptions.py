"""``geofencing-subscriptions`` v0.5 (current), v0.4 and v0.3: create, list, get and delete subscriptions.

Handlers parse and check the request (protocol, sink, sink credential not yet expired in simulated time, one event
type, scope per event type, expiry in the future, device or three-legged token; the parts every CAMARA
subscription API shares are :mod:`gateway.services.camara.subscriptions`) and call
:class:`~gateway.services.camara.geofencing.GeofencingService`. The versions differ only by their
:class:`~gateway.services.camara.geofencing.GeofencingVersion`: v0.3 sends no ``subscription-started`` event, ignores
``initialEvent`` and takes two-legged tokens only.
"""

from __future__ import annotations

from aiohttp import web

from gateway.core.errors import PermissionDenied, Unprocessable
from gateway.http.auth import auth_of
from gateway.http.composition import camara
from gateway.http.keys import SETTINGS, WORLD
from gateway.http.routing import Access, RouteTable, json_response, no_content, read_json
from gateway.services.camara import subscriptions
from gateway.services.camara.geofencing import SUBSCRIPTION_TYPES, VERSIONS, Geofence, GeofenceSpec, GeofencingVersion
from gateway.services.camara.subject import device_echo, resolve_locatable
from gateway.wire.camara.areas import Circle
from gateway.wire.camara.geofencing_subscriptions import (
    ConfigResponse,
    Subscription,
    SubscriptionDetail,
    SubscriptionList,
    SubscriptionRequest,
)
from gateway.wire.camara.subject import DeviceResponse

routes = RouteTable("CAMARA: geofencing-subscriptions")
SCOPE_READ = "geofencing-subscriptions:read"
SCOPE_DELETE = "geofencing-subscriptions:delete"



def create_scope(event_type: str) -> str:
    """The scope creating a subscription to ``event_type`` needs."""
    return f"geofencing-subscriptions:{event_type}:create"
















def subscription_view(g: Geofence) -> Subscription:
    """Wire form of a subscription."""
    spec = g.spec
    detail = SubscriptionDetail(device=None if spec.device is None else DeviceResponse.model_validate(spec.device),
                                area=Circle.model_validate(spec.area))
    config = ConfigResponse(subscription_detail=detail, subscription_expire_time=spec.expire_time,
                            subscription_max_events=spec.max_events,
                            initial_event=spec.initial_event if g.version.initial_event else None)
    return Subscription(sink=spec.sink, types=[spec.event_type], config=config, id=g.id, starts_at=g.created_at,
                        expires_at=spec.expire_time, status=g.status)


def _spec(request: web.Request, body: SubscriptionRequest, version: GeofencingVersion) -> GeofenceSpec:
    auth = auth_of(request)
    world = request.app[WORLD]
    sink, token = subscriptions.delivery(body, request.app[SETTINGS].allow_http_loopback_sinks, world.clock.now)
    token_expires = None if body.sink_credential is None else body.sink_credential.access_token_expires_utc
    if len(body.types) > 1:
        raise Unprocessable("Only one event type per subscription is supported.",
                            code="MULTIEVENT_SUBSCRIPTION_NOT_SUPPORTED")
    event_type = body.types[0]
    if create_scope(event_type) not in auth.scopes:
        raise PermissionDenied(f"Missing scope: {create_scope(event_type)}.")
    config = body.config
    subscriptions.check_expire_time(config.subscription_expire_time, world.clock.now)
    if not version.three_legged and auth.subscriber is not None:
        raise PermissionDenied(f"geofencing-subscriptions {version.version} takes two-legged tokens only.")
    detail = config.subscription_detail
    subject = resolve_locatable(world, auth, detail.device)
    camara(request).geofencing.check_area(detail.area)
    return GeofenceSpec(event_type=event_type, subscriber=subject.index, device=device_echo(detail.device),
                        area=detail.area.model_dump(mode="json", by_alias=True), sink=sink, sink_token=token,
                        expire_time=config.subscription_expire_time, max_events=config.subscription_max_events,
                        initial_event=bool(config.initial_event), sink_token_expires=token_expires)


def _serve(version: GeofencingVersion) -> None:
    base = f"/geofencing-subscriptions/{version.version}/subscriptions"
    tag = f"({version.version})"

    @routes.post(base, summary=f"Create a geofencing subscription {tag}", access=Access.PARTNER,
                 request=SubscriptionRequest, response=Subscription, status=201, errors=(400, 401, 403, 404, 422),
                 description="Needs the scope ``geofencing-subscriptions:<event type>:create`` of the requested type.",
                 changes_world=True, any_scopes=tuple(create_scope(t) for t in SUBSCRIPTION_TYPES),
                 example={"protocol": "HTTP", "sink": "https://partner.example.com/geofence-events",
                          "types": [SUBSCRIPTION_TYPES[0]], "config": {
                              "subscriptionDetail": {"device": {"phoneNumber": "+491701000001"}, "area": {
                                  "areaType": "CIRCLE", "center": {"latitude": 52.52, "longitude": 13.405},
                                  "radius": 2000}},
                              "subscriptionExpireTime": "2026-06-02T06:00:00Z", "subscriptionMaxEvents": 10}})
    async def create(request: web.Request) -> web.Response:
        body = await read_json(request, SubscriptionRequest)
        spec = _spec(request, body, version)
        g = camara(request).geofencing.create(auth_of(request).partner_id, version, spec)
        return json_response(subscription_view(g), status=201)

    @routes.get(base, summary=f"List geofencing subscriptions {tag}", access=Access.PARTNER, scopes=(SCOPE_READ,),
                response=SubscriptionList, errors=(400, 401, 403))
    async def list_subscriptions(request: web.Request) -> web.Response:
        """The calling partner's subscriptions (a JSON array)."""
        subs = camara(request).geofencing.list(auth_of(request).partner_id, version)
        return json_response(SubscriptionList([subscription_view(g) for g in subs]))

    @routes.get(base + "/{subscriptionId}", summary=f"Get a geofencing subscription {tag}", access=Access.PARTNER,
                scopes=(SCOPE_READ,), response=Subscription, errors=(400, 401, 403, 404))
    async def get(request: web.Request) -> web.Response:
        """One of the calling partner's subscriptions."""
        g = camara(request).geofencing.get(auth_of(request).partner_id, version, request.match_info["subscriptionId"])
        return json_response(subscription_view(g))

    @routes.delete(base + "/{subscriptionId}", summary=f"Delete a geofencing subscription {tag}",
                   access=Access.PARTNER, scopes=(SCOPE_DELETE,), status=204, errors=(400, 401, 403, 404),
                   changes_world=True)
    async def delete(request: web.Request) -> web.Response:
        """End the subscription (a ``subscription-ended`` event with ``SUBSCRIPTION_DELETED`` follows)."""
        camara(request).geofencing.delete(auth_of(request).partner_id, version,
                                          request.match_info["subscriptionId"])
        return no_content()


for _version in VERSIONS.values():
    _serve(_version)

__all__ = ["SUBSCRIPTION_TYPES", "Subscription", "SubscriptionRequest", "create_scope", "routes"]
