"""The partner's CDP ``/cdp/v1``: sources (write keys), profiles, audiences and their members.
Scopes: ``cdp:write`` (create sources and audiences), ``cdp:read`` (read them and profiles).

A partner sees only the profiles its own sources and apps fed; an audience's size is rounded and withheld under the
privacy threshold, while its members are listed by the partner's own user ids. Rules in :mod:`gateway.services.cdp`.
"""

from __future__ import annotations

from aiohttp import web

from gateway.core.ids import format_id
from gateway.http.auth import auth_of
from gateway.http.keys import CDP
from gateway.http.routing import Access, RouteTable, json_response, no_content, read_json, read_query
from gateway.services.cdp.model import Audience as AudienceRecord
from gateway.services.cdp.model import Source as SourceRecord
from gateway.services.cdp.service import CdpService
from gateway.wire.cdp import (
    Audience,
    AudienceList,
    AudienceMembers,
    AudienceRequest,
    MembersQuery,
    Profile,
    ProfileQuery,
    Source,
    SourceList,
    SourceRequest,
)
from simulator.clock import from_micros

SCOPE_WRITE = "cdp:write"
SCOPE_READ = "cdp:read"

routes = RouteTable("cdp")


def source_view(source: SourceRecord, write_key: str | None = None) -> Source:
    """Wire form of a source."""
    app_id = None if source.app_seq is None else format_id("app_", source.app_seq)
    return Source(id=source.id, name=source.name, app_id=app_id, write_key=write_key, created_at=source.created_at)


def audience_view(service: CdpService, audience: AudienceRecord) -> Audience:
    """Wire form of an audience with its disclosed size."""
    size = service.estimate(audience)
    return Audience(id=audience.id, name=audience.name, definition=audience.definition, size=size,
                    size_suppressed=size is None, created_at=audience.created_at)


@routes.post("/cdp/v1/sources", summary="Create a source (write key)", access=Access.PARTNER, scopes=(SCOPE_WRITE,),
             request=SourceRequest, response=Source, status=201, errors=(400, 401, 403, 404),
             example={"name": "Backend"})
async def create_source(request: web.Request) -> web.Response:
    """A new source; its ``writeKey`` authenticates tracking calls and is shown only in this answer. With
    ``appId`` (one of the partner's apps) the app's simulated installs report their events through it."""
    body = await read_json(request, SourceRequest)
    source, key = request.app[CDP].create_source(auth_of(request).partner_id, body.name, body.app_id)
    return json_response(source_view(source, key), status=201)


@routes.get("/cdp/v1/sources", summary="The partner's sources", access=Access.PARTNER, scopes=(SCOPE_READ,),
            response=SourceList, errors=(401, 403))
async def list_sources(request: web.Request) -> web.Response:
    """Every source of the partner, oldest first (write keys are not shown again)."""
    sources = request.app[CDP].sources(auth_of(request).partner_id)
    return json_response(SourceList(sources=[source_view(s) for s in sources]))


@routes.get("/cdp/v1/profiles/{identity}", summary="One profile", access=Access.PARTNER, scopes=(SCOPE_READ,),
            query=ProfileQuery, response=Profile, errors=(400, 401, 403, 404))
async def get_profile(request: web.Request) -> web.Response:
    """A profile by any of its user ids or anonymous ids: identities, traits, audiences and the latest calls."""
    query = read_query(request, ProfileQuery)
    view = request.app[CDP].profile(auth_of(request).partner_id, request.match_info["identity"], query.limit)
    return json_response(Profile.model_validate({
        "userId": view.user_id, "userIds": view.user_ids, "anonymousIds": view.anonymous_ids,
        "traits": view.traits, "groups": view.groups, "audiences": view.audiences,
        "firstSeenAt": from_micros(view.first_seen_us), "lastSeenAt": from_micros(view.last_seen_us),
        "events": [{"messageId": e.message_id, "type": e.type, "event": e.event, "properties": e.properties,
                    "sourceId": e.source_id, "timestamp": from_micros(e.timestamp_us),
                    "receivedAt": from_micros(e.received_us)} for e in view.events]}))


@routes.post("/cdp/v1/audiences", summary="Define an audience", access=Access.PARTNER, scopes=(SCOPE_WRITE,),
             request=AudienceRequest, response=Audience, status=201, errors=(400, 401, 403),
             example={"name": "Recent buyers", "definition": {"event": "Order Completed", "withinDays": 30}})
async def create_audience(request: web.Request) -> web.Response:
    """Validated (400 lists each fault with its path), computed from the events so far, then kept up to date."""
    body = await read_json(request, AudienceRequest)
    service = request.app[CDP]
    audience = service.create_audience(auth_of(request).partner_id, body.name, body.definition)
    return json_response(audience_view(service, audience), status=201)


@routes.get("/cdp/v1/audiences", summary="The partner's audiences", access=Access.PARTNER, scopes=(SCOPE_READ,),
            response=AudienceList, errors=(401, 403))
async def list_audiences(request: web.Request) -> web.Response:
    """Every audience of the partner with its disclosed size, oldest first."""
    service = request.app[CDP]
    return json_response(AudienceList(audiences=[audience_view(service, a)
                                                 for a in service.audiences(auth_of(request).partner_id)]))


@routes.get("/cdp/v1/audiences/{audienceId}", summary="One audience", access=Access.PARTNER, scopes=(SCOPE_READ,),
            response=Audience, errors=(401, 403, 404))
async def get_audience(request: web.Request) -> web.Response:
    """One audience with its size now (rounded; withheld under the privacy threshold)."""
    service = request.app[CDP]
    audience = service.audience(auth_of(request).partner_id, request.match_info["audienceId"])
    return json_response(audience_view(service, audience))


@routes.delete("/cdp/v1/audiences/{audienceId}", summary="Delete an audience", access=Access.PARTNER,
               scopes=(SCOPE_WRITE,), status=204, errors=(401, 403, 404))
async def delete_audience(request: web.Request) -> web.Response:
    """The audience stops being computed."""
    request.app[CDP].delete_audience(auth_of(request).partner_id, request.match_info["audienceId"])
    return no_content()


@routes.get("/cdp/v1/audiences/{audienceId}/members", summary="Export an audience's members",
            access=Access.PARTNER, scopes=(SCOPE_READ,), query=MembersQuery, response=AudienceMembers,
            errors=(400, 401, 403, 404))
async def members(request: web.Request) -> web.Response:
    """A page of the members' user ids (the partner's own ids; members known only anonymously are left out)."""
    query = read_query(request, MembersQuery)
    service = request.app[CDP]
    audience = service.audience(auth_of(request).partner_id, request.match_info["audienceId"])
    users = service.member_user_ids(audience)
    page = users[query.offset:query.offset + query.limit]
    end = query.offset + len(page)
    return json_response(AudienceMembers(audience_id=audience.id, user_ids=page, total=len(users),
                                         next_offset=end if end < len(users) else None))
