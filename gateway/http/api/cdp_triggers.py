"""The partner's CDP triggers ``/cdp/v1/triggers``: create, list, read, delete, and what each step did.
Scopes: ``cdp:write`` (create, delete), ``cdp:read`` (read triggers and their fires).

A bad rule is a 400 naming its field; another partner's trigger is a 404. Rules in
:mod:`gateway.services.cdp.triggers`.
"""

from __future__ import annotations

from aiohttp import web

from gateway.http.api.cdp import SCOPE_READ, SCOPE_WRITE
from gateway.http.auth import auth_of
from gateway.http.keys import TRIGGERS
from gateway.http.routing import Access, RouteTable, json_response, no_content, read_json, read_query
from gateway.services.cdp.triggers import TriggerRecord
from gateway.wire.cdp_triggers import (
    FireListQuery,
    Trigger,
    TriggerFire,
    TriggerFireList,
    TriggerList,
    TriggerRequest,
)

routes = RouteTable("cdp_triggers")


def trigger_view(record: TriggerRecord) -> Trigger:
    """Wire form of a trigger."""
    return Trigger(id=record.id, created_at=record.created_at, status=record.status,
                   ignored_events=record.ignored, **dict(record.spec))


@routes.post("/cdp/v1/triggers", summary="Create a trigger", access=Access.PARTNER, scopes=(SCOPE_WRITE,),
             request=TriggerRequest, response=Trigger, status=201, errors=(400, 401, 403),
             example={"name": "Cart abandoned",
                      "rule": {"kind": "EVENT_NOT_FOLLOWED", "event": "Product Added",
                               "notFollowedBy": "Order Completed", "withinSeconds": 3600},
                      "steps": [{"delaySeconds": 0, "action": {"type": "WEBHOOK",
                                                               "sink": "https://partner.example/cdp"}}],
                      "dailyCap": 1, "quietHours": {"startHour": 21, "endHour": 8}})
async def create_trigger(request: web.Request) -> web.Response:
    """A rule and its chain of delayed steps; it acts on what happens from now on (400 names each bad field)."""
    body = await read_json(request, TriggerRequest)
    record = request.app[TRIGGERS].create(auth_of(request).partner_id, body)
    return json_response(trigger_view(record), status=201)


@routes.get("/cdp/v1/triggers", summary="The partner's triggers", access=Access.PARTNER, scopes=(SCOPE_READ,),
            response=TriggerList, errors=(401, 403))
async def list_triggers(request: web.Request) -> web.Response:
    """Every trigger of the partner, oldest first."""
    records = request.app[TRIGGERS].of_partner(auth_of(request).partner_id)
    return json_response(TriggerList(triggers=[trigger_view(r) for r in records]))


@routes.get("/cdp/v1/triggers/{triggerId}", summary="One trigger", access=Access.PARTNER, scopes=(SCOPE_READ,),
            response=Trigger, errors=(401, 403, 404))
async def get_trigger(request: web.Request) -> web.Response:
    """One of the partner's triggers."""
    record = request.app[TRIGGERS].get(auth_of(request).partner_id, request.match_info["triggerId"])
    return json_response(trigger_view(record))


@routes.delete("/cdp/v1/triggers/{triggerId}", summary="Delete a trigger", access=Access.PARTNER,
               scopes=(SCOPE_WRITE,), status=204, errors=(401, 403, 404))
async def delete_trigger(request: web.Request) -> web.Response:
    """The trigger stops: waiting users and pending steps do nothing more."""
    request.app[TRIGGERS].delete(auth_of(request).partner_id, request.match_info["triggerId"])
    return no_content()


@routes.get("/cdp/v1/triggers/{triggerId}/fires", summary="What a trigger did", access=Access.PARTNER,
            scopes=(SCOPE_READ,), query=FireListQuery, response=TriggerFireList, errors=(400, 401, 403, 404))
async def trigger_fires(request: web.Request) -> web.Response:
    """Each step done for each user, oldest first, ``limit`` per page (follow ``nextCursor``): sent (push ids or
    the CloudEvent id) or suppressed (why)."""
    q = read_query(request, FireListQuery)
    fires, cursor = request.app[TRIGGERS].fire_page(auth_of(request).partner_id, request.match_info["triggerId"],
                                                   q.limit, q.cursor)
    return json_response(TriggerFireList(fires=[
        TriggerFire(id=f.fire_id, trigger_id=f.trigger_id, user_id=f.user_id, step=f.step,
                    action=f.action, status=f.status, reason=f.reason, refs=f.refs, at=f.at)
        for f in fires], next_cursor=cursor))
