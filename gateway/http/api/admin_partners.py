"""Admin API for partners: create (secret shown once), list, get, disable/enable, issue and revoke API keys, issue
service-account key files (shown once)."""

from __future__ import annotations

from aiohttp import web

from gateway.core.errors import InvalidArgument
from gateway.core.ids import partner_public_id
from gateway.core.store import PartnerRow
from gateway.http.api.partners import key_info
from gateway.http.keys import APPS, PARTNERS
from gateway.http.routing import Access, RouteTable, json_response, no_content, read_json
from gateway.services.partners import PartnerService
from gateway.wire.admin_partners import (
    ApiKeyCreated,
    Partner,
    PartnerCreate,
    PartnerCreated,
    PartnerLimits,
    PartnerList,
)
from gateway.wire.oauth import ServiceAccountCreate, ServiceAccountFile

routes = RouteTable("admin: partners")















def partner_view(service: PartnerService, row: PartnerRow) -> Partner:
    """Wire form of a stored partner."""
    return Partner(id=partner_public_id(row.id), name=row.name, scopes=list(row.scopes),
                   limits=PartnerLimits.model_validate(row.limits), disabled=row.disabled, created_at=row.created_at,
                   client_id=service.client_id(row), api_keys=[key_info(k) for k in service.keys(row.id)])


@routes.post("/admin/v1/partners", summary="Create a partner", access=Access.ADMIN, request=PartnerCreate,
             response=PartnerCreated, status=201)
async def create_partner(request: web.Request) -> web.Response:
    """Create a partner with scopes and limits; the response carries its client secret, once."""
    body = await read_json(request, PartnerCreate)
    service = request.app[PARTNERS]
    row, _client_id, secret = service.create(body.name, tuple(body.scopes),
                                             body.limits.model_dump(exclude_none=True))
    view = partner_view(service, row)
    return json_response(PartnerCreated(**view.model_dump(), client_secret=secret), status=201)


@routes.get("/admin/v1/partners", summary="List partners", access=Access.ADMIN, response=PartnerList)
async def list_partners(request: web.Request) -> web.Response:
    """Every partner, oldest first."""
    service = request.app[PARTNERS]
    return json_response(PartnerList(partners=[partner_view(service, row) for row in service.all()]))


@routes.get("/admin/v1/partners/{partnerId}", summary="Get a partner", access=Access.ADMIN, response=Partner,
            errors=(404,))
async def get_partner(request: web.Request) -> web.Response:
    """One partner with its API keys (never secrets)."""
    service = request.app[PARTNERS]
    return json_response(partner_view(service, service.get(request.match_info["partnerId"])))


@routes.post("/admin/v1/partners/{partnerId}/disable", summary="Disable a partner", access=Access.ADMIN,
             response=Partner, errors=(404,))
async def disable_partner(request: web.Request) -> web.Response:
    """Its tokens are revoked and its keys stop working at once (idempotent)."""
    service = request.app[PARTNERS]
    return json_response(partner_view(service, service.set_disabled(request.match_info["partnerId"], True)))


@routes.post("/admin/v1/partners/{partnerId}/enable", summary="Re-enable a partner", access=Access.ADMIN,
             response=Partner, errors=(404,))
async def enable_partner(request: web.Request) -> web.Response:
    """Its API keys work again; it must fetch new tokens (idempotent)."""
    service = request.app[PARTNERS]
    return json_response(partner_view(service, service.set_disabled(request.match_info["partnerId"], False)))


@routes.post("/admin/v1/partners/{partnerId}/api-keys", summary="Issue an API key", access=Access.ADMIN,
             response=ApiKeyCreated, status=201, errors=(404,))
async def issue_key(request: web.Request) -> web.Response:
    """A new key with all of the partner's scopes; the key is shown once."""
    row, key = request.app[PARTNERS].issue_key(request.match_info["partnerId"])
    return json_response(ApiKeyCreated(**key_info(row).model_dump(), key=key), status=201)


@routes.delete("/admin/v1/partners/{partnerId}/api-keys/{keyId}", summary="Revoke an API key", access=Access.ADMIN,
               status=204, errors=(404,))
async def revoke_key(request: web.Request) -> web.Response:
    """Revoke one of the partner's keys."""
    service = request.app[PARTNERS]
    partner = service.get(request.match_info["partnerId"])
    service.revoke_key(partner.id, request.match_info["keyId"])
    return no_content()


@routes.post("/admin/v1/partners/{partnerId}/service-accounts", summary="Issue a service-account key file",
             access=Access.ADMIN, request=ServiceAccountCreate, response=ServiceAccountFile, status=201,
             errors=(400, 404))
async def issue_service_account(request: web.Request) -> web.Response:
    """A new key file in Google's service-account format, shown once: FCM and other Google client libraries load
    it unchanged and get tokens from this gateway's ``/oauth2/token`` (JWT bearer grant) with the partner's scopes.
    ``project_id`` (optional) must be one of the partner's apps: the FCM project those libraries send to."""
    body = await read_json(request, ServiceAccountCreate) if request.body_exists else ServiceAccountCreate()
    service = request.app[PARTNERS]
    partner = service.get(request.match_info["partnerId"])
    if body.project_id is not None:
        app = request.app[APPS].find(body.project_id)
        if app is None or app.partner_id != partner.id:
            raise InvalidArgument(f"project_id {body.project_id} is not an app of partner "
                                  f"{partner_public_id(partner.id)}.")
    created = service.create_service_account(partner_public_id(partner.id),
                                             str(request.url.origin().with_path("/oauth2/token")))
    return json_response(ServiceAccountFile(
        project_id=body.project_id, private_key_id=created.key.key_id, private_key=created.private_key,
        client_email=created.key.client_email, client_id=created.client_id, token_uri=created.key.token_uri),
        status=201)
