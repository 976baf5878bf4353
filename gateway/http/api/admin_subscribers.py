"""Admin API for subscribers (operator side): look up, set consent, pin/release, add test phones, read inboxes.

MSISDNs in paths are E.164, with the ``+`` URL-encoded (``%2B``) or left out.
"""

from __future__ import annotations

from aiohttp import web

from gateway.http.keys import CONTROL
from gateway.http.routing import Access, RouteTable, json_response, read_json
from gateway.services.control import SubscriberFacts
from gateway.wire.admin_subscribers import (
    ConsentChange,
    ConsentRecord,
    Inbox,
    Location,
    NewTestSubscriber,
    PinRequest,
    SubscriberProfile,
    SubscriberView,
)

routes = RouteTable("admin: subscribers")

















def subscriber_view(facts: SubscriberFacts) -> SubscriberView:
    """Wire form of what the operator knows of a subscriber."""
    p, loc = facts.profile, facts.location
    return SubscriberView(
        profile=SubscriberProfile(
            msisdn=p.msisdn, imsi=p.imsi, name=p.name, first_name=p.first_name, last_name=p.last_name,
            email=p.email, age=p.age, gender=p.gender, language=p.language, status=p.status,
            interests=list(p.interests), os=p.os, app_installed=p.app_installed, tariff=p.tariff,
            roaming=p.roaming, home_country=p.home_country, timezone=p.timezone, is_test=p.is_test),
        location=Location(
            cell_id=loc.cell_id, latitude=loc.latitude, longitude=loc.longitude, cell_latitude=loc.cell_latitude,
            cell_longitude=loc.cell_longitude, cell_radius=loc.cell_radius, last_seen=loc.last_seen,
            reachable=loc.reachable, pinned=loc.pinned, moving=loc.moving),
        consent={purpose: dict(channels) for purpose, channels in facts.consent.purposes.items()},
        consent_history=[ConsentRecord(at=c.at, purpose=c.purpose, channel=c.channel, granted=c.granted,
                                       source=c.source) for c in facts.consent_history])


def _view(request: web.Request, msisdn: str) -> web.Response:
    return json_response(subscriber_view(request.app[CONTROL].subscriber(msisdn)))


@routes.get("/admin/v1/subscribers/{msisdn}", summary="Look up a subscriber", access=Access.ADMIN,
            response=SubscriberView, errors=(404,))
async def get_subscriber(request: web.Request) -> web.Response:
    """Profile, current cell and position, consent state and history."""
    return _view(request, request.match_info["msisdn"])


@routes.put("/admin/v1/subscribers/{msisdn}/consent", summary="Set consent", access=Access.ADMIN,
            request=ConsentChange, response=SubscriberView, errors=(400, 404), changes_world=True)
async def set_consent(request: web.Request) -> web.Response:
    """Grant or withdraw now (journaled; survives a restart)."""
    msisdn = request.match_info["msisdn"]
    body = await read_json(request, ConsentChange)
    await request.app[CONTROL].set_consent(msisdn, body.purpose, body.channel, body.granted)
    return _view(request, msisdn)


@routes.post("/admin/v1/subscribers/{msisdn}/pin", summary="Pin to a place", access=Access.ADMIN,
             request=PinRequest, response=SubscriberView, errors=(400, 404, 409), changes_world=True)
async def pin(request: web.Request) -> web.Response:
    """Hold the subscriber at a place inside the city until released (journaled); an inbound roamer abroad (not
    attached) is ``409 CONFLICT``."""
    msisdn = request.match_info["msisdn"]
    body = await read_json(request, PinRequest)
    await request.app[CONTROL].pin(msisdn, body.latitude, body.longitude)
    return _view(request, msisdn)


@routes.delete("/admin/v1/subscribers/{msisdn}/pin", summary="Release to the routine", access=Access.ADMIN,
               response=SubscriberView, errors=(404,), changes_world=True)
async def release(request: web.Request) -> web.Response:
    """The subscriber heads back to where their routine says they should be (journaled)."""
    msisdn = request.match_info["msisdn"]
    await request.app[CONTROL].release(msisdn)
    return _view(request, msisdn)


@routes.post("/admin/v1/subscribers", summary="Add a test subscriber", access=Access.ADMIN,
             request=NewTestSubscriber, response=SubscriberView, status=201, errors=(400, 409), changes_world=True)
async def add_test_subscriber(request: web.Request) -> web.Response:
    """A QA phone that stays where it is put (journaled). An MSISDN already in use is 409."""
    body = await read_json(request, NewTestSubscriber)
    profile = body.profile.model_dump(exclude_none=True, by_alias=False)  # the simulator takes snake_case
    await request.app[CONTROL].add_test_subscriber(body.msisdn, profile, body.consent, body.latitude,
                                                   body.longitude)
    return json_response(subscriber_view(request.app[CONTROL].subscriber(body.msisdn)), status=201)


@routes.get("/admin/v1/subscribers/{msisdn}/inbox", summary="Device inbox", access=Access.ADMIN, response=Inbox,
            errors=(404,))
async def inbox(request: web.Request) -> web.Response:
    """What the device received, with times."""
    return json_response(Inbox(messages=request.app[CONTROL].inbox(request.match_info["msisdn"])))
