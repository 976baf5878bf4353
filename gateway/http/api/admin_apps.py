"""Operator side of partner apps: the simulated installs of an app (with numbers), uninstalls, permissions, push truth.

``GET /admin/v1/apps/{appId}/installations`` pages an app's install table (or the installs of one number),
``DELETE .../installations/{installationId}`` removes the app from that device (its token is ``UNREGISTERED`` from
then on), ``PATCH .../installations/{installationId}`` sets its permissions now (OS notifications, in-app marketing
consent and location, the line link), ``GET /admin/v1/push/messages/{id}`` is the truth of one push,
``GET /admin/v1/push/fanouts/{id}`` that of one topic or condition send. Rules in :mod:`gateway.services.apps`.
"""

from __future__ import annotations

from aiohttp import web

from gateway.core.errors import Conflict, NotFound
from gateway.http.keys import APPS, PUSH, WORLD
from gateway.http.routing import Access, RouteTable, json_response, no_content, read_json, read_query
from gateway.services.apps.installs import PermissionChange
from gateway.services.apps.model import AppRecord, InstallInfo
from gateway.services.control import normalise_msisdn
from gateway.wire.apps import (
    Installation,
    InstallationChange,
    InstallationList,
    InstallationQuery,
    PushFanout,
    PushMessage,
)

routes = RouteTable("admin: apps")


def _app(request: web.Request) -> AppRecord:
    app_id = request.match_info["appId"]
    app = request.app[APPS].find(app_id)
    if app is None:
        raise NotFound(f"No app {app_id}.")
    return app


def _view(request: web.Request, info: InstallInfo) -> Installation:
    return Installation.model_validate({
        "installationId": info.installation_id, "phoneNumber": request.app[WORLD].msisdn_of(info.subscriber),
        "userId": info.user_id, "registrationToken": info.token, "platform": info.platform,
        "notificationsPermitted": info.notifications_permitted, "marketingConsent": info.marketing_consent,
        "locationPermission": info.location_permission, "installed": info.installed, "lineLinked": info.line_linked})


@routes.get("/admin/v1/apps/{appId}/installations", summary="An app's simulated installs", access=Access.ADMIN,
            query=InstallationQuery, response=InstallationList, errors=(400, 401, 404))
async def installations(request: web.Request) -> web.Response:
    """A page of the install table, or the installs of ``phoneNumber`` (with tokens: operator side only)."""
    query = read_query(request, InstallationQuery)
    app = _app(request)
    service = request.app[APPS]
    table = service.installs(app)
    if query.phone_number is not None:
        sub = request.app[WORLD].find_subscriber(normalise_msisdn(query.phone_number))
        rows = table.rows_of(sub).tolist()
    else:
        rows = list(range(query.offset, min(table.size, query.offset + query.limit)))
    return json_response(InstallationList(installations=[_view(request, service.install(app, r)) for r in rows],
                                          total=table.size))


@routes.delete("/admin/v1/apps/{appId}/installations/{installationId}", summary="Uninstall an app from a device",
               access=Access.ADMIN, status=204, errors=(401, 404), changes_world=True)
async def uninstall(request: web.Request) -> web.Response:
    """The device no longer has the app: its registration token answers ``UNREGISTERED`` from now on."""
    app = _app(request)
    service = request.app[APPS]
    info = service.install_by_id(app, request.match_info["installationId"])
    service.uninstall(app, info.row)
    return no_content()


@routes.patch("/admin/v1/apps/{appId}/installations/{installationId}", summary="Set an install's permissions",
              access=Access.ADMIN, request=InstallationChange, response=Installation, errors=(400, 401, 404, 409),
              changes_world=True)
async def set_permissions(request: web.Request) -> web.Response:
    """As if the user changed them on the device now (recorded; survives a restart): the next push send and trigger
    step see them (a marketing push without consent is ``SUPPRESSED``; operator signals need location permission
    and the line link). 409 for an install that was uninstalled: nothing on the device has permissions any more."""
    app = _app(request)
    service = request.app[APPS]
    info = service.install_by_id(app, request.match_info["installationId"])
    body = await read_json(request, InstallationChange)
    if not info.installed:
        raise Conflict(f"Installation {info.installation_id} was uninstalled; a reinstall is a new installation.")
    service.set_permissions(app, info.row, PermissionChange(body.notifications, body.marketing_consent,
                                                            body.location_permission, body.line_linked))
    return json_response(_view(request, service.install(app, info.row)))


@routes.get("/admin/v1/push/messages/{messageId}", summary="Operator-side truth of one push", access=Access.ADMIN,
            response=PushMessage, errors=(401, 404))
async def push_message(request: web.Request) -> web.Response:
    """Where the push went, whether it was delivered (when) and displayed."""
    message_id = request.match_info["messageId"]
    truth = request.app[PUSH].truth(message_id)
    if truth is None:
        raise NotFound(f"No push message {message_id}.")
    return json_response(PushMessage(
        id=truth.id, app_id=truth.app_id, installation_id=truth.installation_id,
        phone_number=request.app[WORLD].msisdn_of(truth.subscriber), status=truth.status,
        displayed=truth.displayed, created_at=truth.created_at, expires_at=truth.expires_at,
        delivered_at=truth.delivered_at, opened_at=truth.opened_at, fanout_id=truth.fanout_id))


@routes.get("/admin/v1/push/fanouts/{fanoutId}", summary="Operator-side truth of one topic or condition send",
            access=Access.ADMIN, response=PushFanout, errors=(401, 404))
async def push_fanout(request: web.Request) -> web.Response:
    """How many installs a topic or condition send went to, and what became of their pushes."""
    fanout_id = request.match_info["fanoutId"]
    truth = request.app[PUSH].fanout_truth(fanout_id)
    if truth is None:
        raise NotFound(f"No push fan-out {fanout_id}.")
    s = truth.statuses
    return json_response(PushFanout(
        id=truth.id, app_id=truth.app_id, target=truth.target, created_at=truth.created_at,
        recipients=truth.recipients, delivered=s["DELIVERED"], held=s["HELD"], expired=s["EXPIRED"],
        suppressed=s["SUPPRESSED"], displayed=truth.displayed, opened=truth.opened))
