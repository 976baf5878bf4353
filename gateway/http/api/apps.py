"""Partner apps ``/apps/v1``: register an app, list and read them. Scopes: ``apps:write``, ``apps:read``.

Registering an app makes the simulated subscribers install it (see :mod:`gateway.services.apps.installs`); its id
is also the FCM project id of :mod:`gateway.http.api.fcm`. Rules in :mod:`gateway.services.apps`.
"""

from __future__ import annotations

from aiohttp import web

from gateway.http.auth import auth_of
from gateway.http.keys import APPS
from gateway.http.routing import Access, RouteTable, json_response, read_json
from gateway.services.apps.model import AppRecord, AppSpec
from gateway.services.apps.service import AppService
from gateway.wire.apps import App, AppList, AppRequest

SCOPE_WRITE = "apps:write"
SCOPE_READ = "apps:read"

routes = RouteTable("apps")


def app_view(service: AppService, app: AppRecord) -> App:
    """Wire form of an app."""
    s = app.spec
    return App.model_validate({"id": app.id, "name": s.name, "platforms": list(s.platforms),
                               "categories": list(s.categories), "popularity": s.popularity,
                               "pushQuotaPerMinute": s.push_quota_per_minute,
                               "installs": service.installed_count(app), "createdAt": app.created_at})


@routes.post("/apps/v1/apps", summary="Register an app", access=Access.PARTNER, scopes=(SCOPE_WRITE,),
             request=AppRequest, response=App, status=201, errors=(400, 401, 403), changes_world=True)
async def register(request: web.Request) -> web.Response:
    """Registered at once; the simulated subscribers who fit it have installed it by the answer."""
    body = await read_json(request, AppRequest)
    spec = AppSpec(body.name, tuple(dict.fromkeys(body.platforms)), tuple(dict.fromkeys(body.categories)),
                   float(body.popularity), body.push_quota_per_minute)
    service = request.app[APPS]
    return json_response(app_view(service, service.register(auth_of(request).partner_id, spec)), status=201)


@routes.get("/apps/v1/apps", summary="The partner's apps", access=Access.PARTNER, scopes=(SCOPE_READ,),
            response=AppList, errors=(401, 403))
async def list_apps(request: web.Request) -> web.Response:
    """Every app of the partner, oldest first."""
    service = request.app[APPS]
    return json_response(AppList(apps=[app_view(service, a) for a in service.list(auth_of(request).partner_id)]))


@routes.get("/apps/v1/apps/{appId}", summary="One app", access=Access.PARTNER, scopes=(SCOPE_READ,),
            response=App, errors=(401, 403, 404))
async def get(request: web.Request) -> web.Response:
    """One of the partner's apps (404 for another partner's)."""
    service = request.app[APPS]
    return json_response(app_view(service, service.get(auth_of(request).partner_id, request.match_info["appId"])))
