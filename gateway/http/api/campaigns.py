"""Targeted campaigns API (``/campaigns/v1``) and the operator-side truth (``/admin/v1/campaigns``).

Thin handlers: parse (pydantic wire models, camelCase, unknown fields refused), call one
:class:`~gateway.services.campaigns.service.CampaignService` method, serialise. Areas use CAMARA shapes (``CIRCLE`` with
``center`` and ``radius`` in metres, ``POLYGON`` with a ``boundary`` of 3 to 15 points). Partner responses are
aggregates only; another partner's campaign is ``404``.
"""

from __future__ import annotations

from aiohttp import web

from gateway.http.auth import auth_of
from gateway.http.keys import CAMPAIGNS, SETTINGS
from gateway.http.routing import Access, RouteTable, idempotency_key, json_response, read_json, read_query
from gateway.services.campaigns.model import (
    DAYS,
    CampaignRequest,
    CampaignView,
    Estimate,
    Record,
    Report,
    TargetingSpec,
)
from gateway.services.targeting import AreaSpec, CircleSpec, PolygonSpec
from gateway.wire.base import WireModel
from gateway.wire.campaigns import (
    AdminListQuery,
    AudienceEstimate,
    Campaign,
    CampaignCreate,
    CampaignList,
    CampaignReport,
    CircleArea,
    DeliveryList,
    DeliveryRecord,
    EstimateRequest,
    HourlyCounts,
    ListQuery,
    MessageModel,
    PolygonArea,
    ScheduleModel,
    SegmentModel,
    SmsSummary,
    TargetingModel,
)
from gateway.wire.geo import Point
from gateway.wire.vocabulary import Day
from simulator.segments import Segment

routes = RouteTable("campaigns")

SCOPE_READ = "campaigns:read"
SCOPE_WRITE = "campaigns:write"













































# -- conversions ------------------------------------------------------------------------------------------

def _area(a: CircleArea | PolygonArea) -> AreaSpec:
    if isinstance(a, CircleArea):
        return CircleSpec(a.center.latitude, a.center.longitude, a.radius)
    return PolygonSpec(tuple((p.latitude, p.longitude) for p in a.boundary))


def _targeting(t: TargetingModel) -> TargetingSpec:
    s = t.segment or SegmentModel()
    segment = Segment(s.age_min, s.age_max, tuple(s.genders), tuple(s.interests_any), tuple(s.interests_all),
                      tuple(s.os), tuple(s.languages), tuple(s.tariffs), s.roaming, s.app_installed)
    return TargetingSpec(tuple(_area(a) for a in t.areas), t.location_mode, t.dwell_minutes or 0, t.visited_from,
                         t.visited_to, segment)


def _request(body: CampaignCreate) -> CampaignRequest:
    sch, msg = body.schedule, body.message
    hours = None if sch.daily_hours is None else (sch.daily_hours.from_, sch.daily_hours.to)
    return CampaignRequest(body.name, _targeting(body.targeting), sch.start_time, sch.end_time, msg.kind,
                           msg.channel, msg.sender_name, msg.text, msg.title, hours, tuple(sch.days_of_week or ()),
                           body.max_recipients)


def _targeting_model(t: TargetingSpec) -> TargetingModel:
    areas: list[CircleArea | PolygonArea] = [
        CircleArea(area_type="CIRCLE", center=Point(latitude=a.latitude, longitude=a.longitude), radius=a.radius)
        if isinstance(a, CircleSpec) else
        PolygonArea(area_type="POLYGON", boundary=[Point(latitude=p[0], longitude=p[1]) for p in a.boundary])
        for a in t.areas]
    s = t.segment
    segment = None if s.is_empty else SegmentModel.model_validate({
        "ageMin": s.age_min, "ageMax": s.age_max, "genders": list(s.genders), "interestsAny": list(s.interests_any),
        "interestsAll": list(s.interests_all), "os": list(s.os), "languages": list(s.languages),
        "tariffs": list(s.tariffs), "roaming": s.roaming, "appInstalled": s.app_installed})
    return TargetingModel.model_validate({
        "areas": areas, "locationMode": t.location_mode, "dwellMinutes": t.dwell_minutes or None,
        "visitedFrom": t.visited_from, "visitedTo": t.visited_to, "segment": segment})


def campaign_model(v: CampaignView) -> Campaign:
    """Wire form of a stored campaign."""
    r = v.request
    days: list[Day] | None = [d for d in DAYS if d in r.days_of_week] or None  # type: ignore[misc]
    schedule = ScheduleModel.model_validate({
        "startTime": r.start, "endTime": r.end, "daysOfWeek": days,
        "dailyHours": None if r.daily_hours is None else {"from": r.daily_hours[0], "to": r.daily_hours[1]}})
    message = MessageModel.model_validate({"kind": r.kind, "channel": r.channel, "senderName": r.sender_name,
                                           "text": r.text, "title": r.title})
    return Campaign.model_validate({
        "id": v.id, "name": r.name, "status": v.status, "rejectionReason": v.rejection_reason,
        "targeting": _targeting_model(r.targeting), "schedule": schedule, "message": message,
        "maxRecipients": r.max_recipients, "estimatedAudience": v.estimate,
        "sms": SmsSummary(encoding=v.sms_encoding, segments=v.sms_segments), "createdAt": v.created_at,
        "startedAt": v.started_at, "completedAt": v.completed_at, "cancelledAt": v.cancelled_at})


def _estimate_model(e: Estimate, threshold: int) -> AudienceEstimate:
    return AudienceEstimate(estimated_audience=e.audience, matched=e.matched, excluded=e.excluded,
                            withheld=e.withheld, privacy_threshold=threshold)


def _report_model(r: Report, threshold: int) -> CampaignReport:
    hourly = [HourlyCounts(hour=h.hour, sent=h.sent, delivered=h.delivered, failed=h.failed, opened=h.opened,
                           clicked=h.clicked, suppressed=h.suppressed) for h in r.hourly]
    return CampaignReport(campaign_id=r.campaign_id, status=r.status, generated_at=r.generated_at, matched=r.matched,
                          held=r.held, suppressed=r.suppressed, sent=r.sent, delivered=r.delivered, failed=r.failed,
                          opened=r.opened, clicked=r.clicked, hourly=hourly, withheld=r.withheld,
                          privacy_threshold=threshold)


def _record_model(r: Record) -> DeliveryRecord:
    return DeliveryRecord.model_validate({
        "id": r.id, "msisdn": r.msisdn, "at": r.at, "outcome": r.outcome, "reason": r.reason, "channel": r.channel,
        "deliveredAt": r.delivered_at, "openedAt": r.opened_at, "clickedAt": r.clicked_at})


def _with_nulls(model: WireModel, status: int = 200) -> web.Response:
    """Withheld counts stay visible as ``null`` (``json_response`` drops None fields)."""
    return web.Response(status=status, text=model.model_dump_json(by_alias=True), content_type="application/json")


# -- partner routes ---------------------------------------------------------------------------------------

_TARGETING_EXAMPLE = {"areas": [{"areaType": "CIRCLE", "center": {"latitude": 52.52, "longitude": 13.405},
                                 "radius": 3000}], "locationMode": "PRESENT", "segment": {"ageMin": 18}}


@routes.post("/campaigns/v1/audience-estimates", summary="Estimate an audience", access=Access.PARTNER,
             scopes=(SCOPE_READ,), request=EstimateRequest, response=AudienceEstimate, errors=(400, 403, 422),
             example={"targeting": _TARGETING_EXAMPLE, "kind": "PROMO", "channel": "PUSH_THEN_SMS"})
async def estimate(request: web.Request) -> web.Response:
    """Reachable audience now for a targeting (after segment and consent), rounded; small counts withheld."""
    body = await read_json(request, EstimateRequest)
    result = request.app[CAMPAIGNS].estimate(_targeting(body.targeting), body.kind, body.channel,
                                             body.max_recipients)
    return _with_nulls(_estimate_model(result, request.app[SETTINGS].campaigns.privacy_threshold))


@routes.post("/campaigns/v1/campaigns", summary="Create a campaign", access=Access.PARTNER, scopes=(SCOPE_WRITE,),
             request=CampaignCreate, response=Campaign, status=201, errors=(400, 403, 409, 422),
             also=((200, Campaign),), changes_world=True,
             idempotent=True,
             example={"name": "Summer sale", "targeting": _TARGETING_EXAMPLE,
                      "schedule": {"startTime": "2026-06-01T09:00:00Z", "endTime": "2026-06-01T12:00:00Z"},
                      "message": {"kind": "PROMO", "channel": "PUSH_THEN_SMS", "senderName": "Acme",
                                  "text": "20% off today at Acme!"}, "maxRecipients": 500})
async def create(request: web.Request) -> web.Response:
    """Validate, moderate (``REJECTED`` with a reason) and schedule. ``Idempotency-Key``: same key and body give
    the same campaign (200), same key and another body 409. Under the minimum audience: 422."""
    key = idempotency_key(request)  # headers before the body
    body = await read_json(request, CampaignCreate)
    view, new = request.app[CAMPAIGNS].create(auth_of(request).partner_id, _request(body), key)
    return json_response(campaign_model(view), status=201 if new else 200)


@routes.get("/campaigns/v1/campaigns", summary="List my campaigns", access=Access.PARTNER, scopes=(SCOPE_READ,),
            query=ListQuery, response=CampaignList, errors=(400, 403))
async def list_campaigns(request: web.Request) -> web.Response:
    """The caller's campaigns, oldest first, ``limit`` per page."""
    q = read_query(request, ListQuery)
    views, cursor = request.app[CAMPAIGNS].list_own(auth_of(request).partner_id, q.limit, q.cursor)
    return json_response(CampaignList(campaigns=[campaign_model(v) for v in views], next_cursor=cursor))


@routes.get("/campaigns/v1/campaigns/{campaignId}", summary="One of my campaigns", access=Access.PARTNER,
            scopes=(SCOPE_READ,), response=Campaign, errors=(403, 404))
async def get_campaign(request: web.Request) -> web.Response:
    """A campaign of the caller; any other id is 404."""
    view = request.app[CAMPAIGNS].get(auth_of(request).partner_id, request.match_info["campaignId"])
    return json_response(campaign_model(view))


@routes.delete("/campaigns/v1/campaigns/{campaignId}", summary="Cancel a campaign", access=Access.PARTNER,
               scopes=(SCOPE_WRITE,), response=Campaign, errors=(403, 404, 409), changes_world=True)
async def cancel(request: web.Request) -> web.Response:
    """Stop further sends now; candidates held by quiet hours are suppressed as CANCELLED. Finished: 409."""
    view = request.app[CAMPAIGNS].cancel(auth_of(request).partner_id, request.match_info["campaignId"])
    return json_response(campaign_model(view))


@routes.get("/campaigns/v1/campaigns/{campaignId}/report", summary="Campaign report", access=Access.PARTNER,
            scopes=(SCOPE_READ,), response=CampaignReport, errors=(403, 404))
async def report(request: web.Request) -> web.Response:
    """Aggregates as of now: matched, suppressed by reason, sent, delivered, failed, opened, clicked, hourly."""
    result = request.app[CAMPAIGNS].report(auth_of(request).partner_id, request.match_info["campaignId"])
    return _with_nulls(_report_model(result, request.app[SETTINGS].campaigns.privacy_threshold))


# -- operator side ------------------------------------------------------------------------------------------

@routes.get("/admin/v1/campaigns/{campaignId}/deliveries", summary="Campaign truth (every outcome)",
            access=Access.ADMIN, query=AdminListQuery, response=DeliveryList, errors=(400, 404))
async def deliveries(request: web.Request) -> web.Response:
    """Every delivery and suppression of a campaign with the subscriber's MSISDN and the reason (paginated)."""
    q = read_query(request, AdminListQuery)
    records, cursor = request.app[CAMPAIGNS].records(request.match_info["campaignId"], q.limit, q.cursor)
    return json_response(DeliveryList(records=[_record_model(r) for r in records],
                                      next_cursor=None if cursor is None else str(cursor)))
