"""Triggered chains ``/journeys/v1``: create, list, read and cancel journeys, enrol numbers, read reports; and the
operator-side truth ``/admin/v1/journeys/{id}/recipients`` (every recipient with its number and step outcomes).

Scopes: ``journeys:write`` (create, cancel, enrol), ``journeys:read`` (read, report). Thin handlers over
:class:`gateway.services.journeys.JourneyService`, where the triggers, steps and stop conditions are documented.
Every step
is a direct message and obeys its kind's rules (:mod:`gateway.services.messages`); reports are per-step aggregates with
counts under the privacy threshold withheld (``null``, named in ``withheld``). Another partner's journey is 404.
"""

from __future__ import annotations

from aiohttp import web

from gateway.http.auth import auth_of
from gateway.http.keys import JOURNEYS, SETTINGS
from gateway.http.routing import Access, RouteTable, idempotency_key, json_response, read_json, read_query
from gateway.services.journeys.model import (
    EnrolmentView,
    JourneyReport,
    JourneyRequest,
    JourneyView,
    RecipientRecord,
    StepSpec,
)
from gateway.services.targeting import AreaSpec, CircleSpec, PolygonSpec
from gateway.wire.campaigns import AdminListQuery, CircleArea, ListQuery, PolygonArea
from gateway.wire.geo import Point
from gateway.wire.journeys import (
    Enrolment,
    EnrolmentRequest,
    Journey,
    JourneyCreate,
    JourneyList,
    JourneyReportModel,
    PlannedStepInfo,
    RecipientList,
    RecipientModel,
    StepCounts,
)

routes = RouteTable("journeys")

SCOPE_READ = "journeys:read"
SCOPE_WRITE = "journeys:write"































# -- conversions ------------------------------------------------------------------------------------------

def _area(a: CircleArea | PolygonArea | None) -> AreaSpec | None:
    if a is None:
        return None
    if isinstance(a, CircleArea):
        return CircleSpec(a.center.latitude, a.center.longitude, a.radius)
    return PolygonSpec(tuple((p.latitude, p.longitude) for p in a.boundary))


def _request(body: JourneyCreate) -> JourneyRequest:
    steps = tuple(StepSpec(s.kind, s.channel, s.text, s.title, s.template_id, dict(s.template_parameters),
                           s.delay_seconds, s.after, s.ttl_seconds) for s in body.steps)
    return JourneyRequest(body.name, body.trigger.type, body.sender_name, steps, _area(body.trigger.area),
                          body.start_time, body.stop.end_time, body.stop.max_recipients, body.stop.on_area_exit,
                          body.stop.on_consent_withdrawn)


def journey_model(v: JourneyView) -> Journey:
    """Wire form of a stored journey."""
    r = v.request
    area: CircleArea | PolygonArea | None = None
    if isinstance(r.area, CircleSpec):
        area = CircleArea(area_type="CIRCLE", center=Point(latitude=r.area.latitude, longitude=r.area.longitude),
                          radius=r.area.radius)
    elif isinstance(r.area, PolygonSpec):
        area = PolygonArea(area_type="POLYGON", boundary=[Point(latitude=p[0], longitude=p[1])
                                                          for p in r.area.boundary])
    return Journey.model_validate({
        "id": v.id, "name": r.name, "status": v.status, "trigger": {"type": r.trigger, "area": area},
        "senderName": r.sender_name, "startTime": r.start, "createdAt": v.created_at, "cancelledAt": v.cancelled_at,
        "steps": [{"kind": s.kind, "channel": s.channel, "text": s.text, "title": s.title, "templateId": s.template_id,
                   "templateParameters": s.template_parameters, "delaySeconds": s.delay_seconds, "after": s.after,
                   "ttlSeconds": s.ttl_seconds} for s in r.steps],
        "stop": {"maxRecipients": r.max_recipients, "endTime": r.end, "onAreaExit": r.stop_on_area_exit,
                 "onConsentWithdrawn": r.stop_on_consent_withdrawn}})


def _enrolment_model(e: EnrolmentView) -> Enrolment:
    return Enrolment(id=e.id, journey_id=e.journey_id, phone_number=e.phone_number, event_time=e.event_time,
                     created_at=e.created_at, steps=[PlannedStepInfo(step=s.step, due_at=s.due_at, status=s.status)
                                                     for s in e.steps])


def _report_model(r: JourneyReport, threshold: int) -> JourneyReportModel:
    steps = [StepCounts(step=s.step, pending=s.pending, in_flight=s.in_flight, sent=s.sent, delivered=s.delivered,
                        failed=s.failed, expired=s.expired, opened=s.opened, suppressed=s.suppressed,
                        stopped=s.stopped) for s in r.steps]
    return JourneyReportModel(journey_id=r.journey_id, status=r.status, generated_at=r.generated_at,
                              recipients=r.recipients, steps=steps, withheld=r.withheld, privacy_threshold=threshold)


def _recipient_model(r: RecipientRecord) -> RecipientModel:
    return RecipientModel.model_validate({
        "n": r.n, "msisdn": r.msisdn, "triggeredAt": r.triggered_at,
        "steps": [{"step": s.step, "dueAt": s.due_at, "outcome": s.outcome, "reason": s.reason,
                   "messageId": s.message_id, "status": s.status, "sent": s.sent, "decidedAt": s.decided_at,
                   "openedAt": s.opened_at} for s in r.steps]})


# -- routes -----------------------------------------------------------------------------------------------

@routes.post("/journeys/v1/journeys", summary="Create a journey", access=Access.PARTNER, scopes=(SCOPE_WRITE,),
             request=JourneyCreate, response=Journey, status=201, errors=(400, 401, 403, 409, 422),
             also=((200, Journey),), changes_world=True,
             idempotent=True)
async def create(request: web.Request) -> web.Response:
    """Every step is checked as a message would be (approved sender and templates, channel limits, moderation).
    ``Idempotency-Key``: the same key and body give the same journey (200), another body 409."""
    key = idempotency_key(request)  # headers before the body
    body = await read_json(request, JourneyCreate)
    view, new = request.app[JOURNEYS].create(auth_of(request).partner_id, _request(body), key)
    return json_response(journey_model(view), status=201 if new else 200)


@routes.get("/journeys/v1/journeys", summary="List my journeys", access=Access.PARTNER, scopes=(SCOPE_READ,),
            query=ListQuery, response=JourneyList, errors=(400, 401, 403))
async def list_journeys(request: web.Request) -> web.Response:
    """The caller's journeys, oldest first, ``limit`` per page."""
    q = read_query(request, ListQuery)
    views, cursor = request.app[JOURNEYS].list_own(auth_of(request).partner_id, q.limit, q.cursor)
    return json_response(JourneyList(journeys=[journey_model(v) for v in views], next_cursor=cursor))


@routes.get("/journeys/v1/journeys/{journeyId}", summary="One of my journeys", access=Access.PARTNER,
            scopes=(SCOPE_READ,), response=Journey, errors=(401, 403, 404))
async def get_journey(request: web.Request) -> web.Response:
    """A journey of the caller; any other id is 404."""
    return json_response(journey_model(request.app[JOURNEYS].get(auth_of(request).partner_id,
                                                                 request.match_info["journeyId"])))


@routes.delete("/journeys/v1/journeys/{journeyId}", summary="Cancel a journey", access=Access.PARTNER,
               scopes=(SCOPE_WRITE,), response=Journey, errors=(401, 403, 404, 409), changes_world=True)
async def cancel(request: web.Request) -> web.Response:
    """No new recipients; the rest of every chain is stopped (``CANCELLED``). Completed or cancelled: 409."""
    view = request.app[JOURNEYS].cancel(auth_of(request).partner_id, request.match_info["journeyId"])
    return json_response(journey_model(view))


@routes.post("/journeys/v1/journeys/{journeyId}/enrolments", summary="Enrol a number in an EVENT_REMINDER journey",
             access=Access.PARTNER, scopes=(SCOPE_WRITE,), request=EnrolmentRequest, response=Enrolment, status=201,
             errors=(400, 401, 403, 404, 409), changes_world=True)
async def enrol(request: web.Request) -> web.Response:
    """One of the partner's customers, for one event instant; steps already past are ``TOO_LATE``."""
    body = await read_json(request, EnrolmentRequest)
    view = request.app[JOURNEYS].enrol(auth_of(request).partner_id, request.match_info["journeyId"],
                                       body.phone_number, body.event_time)
    return json_response(_enrolment_model(view), status=201)


@routes.get("/journeys/v1/journeys/{journeyId}/report", summary="Journey report", access=Access.PARTNER,
            scopes=(SCOPE_READ,), response=JourneyReportModel, errors=(401, 403, 404))
async def report(request: web.Request) -> web.Response:
    """Per-step aggregates as of now; counts under the privacy threshold are null."""
    result = request.app[JOURNEYS].report(auth_of(request).partner_id, request.match_info["journeyId"])
    model = _report_model(result, request.app[SETTINGS].campaigns.privacy_threshold)
    return web.Response(text=model.model_dump_json(by_alias=True), content_type="application/json")


# -- operator side ------------------------------------------------------------------------------------------

@routes.get("/admin/v1/journeys/{journeyId}/recipients", summary="Journey truth (every recipient and step)",
            access=Access.ADMIN, query=AdminListQuery, response=RecipientList, errors=(400, 404))
async def recipients(request: web.Request) -> web.Response:
    """Every recipient of a journey with the subscriber's MSISDN, its trigger instant and each step's outcome,
    reason and message id (paginated): what the partner's report aggregates."""
    q = read_query(request, AdminListQuery)
    records, cursor = request.app[JOURNEYS].recipients(request.match_info["journeyId"], q.limit, q.cursor)
    return json_response(RecipientList(recipients=[_recipient_model(r) for r in records],
                                       next_cursor=None if cursor is None else str(cursor)))
