"""Wire models of the targeted campaigns API (``/campaigns/v1``) and its operator side (``/admin/v1/campaigns``):
targeting (areas, location modes, segments), schedules and quiet hours, audience estimates, campaigns, reports,
deliveries and the campaign event subscriptions.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from gateway.wire.base import MAX_ID, Instant, WireModel
from gateway.wire.event_subscriptions import EventSubscriptionRequest
from gateway.wire.geo import Point
from gateway.wire.vocabulary import CampaignKind as Kind
from gateway.wire.vocabulary import Channel, Day, LocationMode

HourMinute = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


Word = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class CircleArea(WireModel):
    """CAMARA circle: centre and radius in metres (operator minimum applies)."""

    area_type: Literal["CIRCLE"]
    center: Point
    radius: float = Field(gt=0)


class PolygonArea(WireModel):
    """CAMARA polygon: 3 to 15 boundary points, not self-intersecting."""

    area_type: Literal["POLYGON"]
    boundary: list[Point] = Field(min_length=3, max_length=15)


AreaModel = Annotated[CircleArea | PolygonArea, Field(discriminator="area_type")]


class SegmentModel(WireModel):
    """Profile criteria; each list is alternatives, criteria combine with AND (``interestsAll``: every one)."""

    age_min: int | None = Field(default=None, ge=0, le=120)
    age_max: int | None = Field(default=None, ge=0, le=120)
    genders: list[Literal["FEMALE", "MALE"]] = Field(default_factory=list, max_length=2)
    interests_any: list[Word] = Field(default_factory=list, max_length=24)
    interests_all: list[Word] = Field(default_factory=list, max_length=24)
    os: list[Literal["ANDROID", "IOS", "OTHER"]] = Field(default_factory=list, max_length=3)
    languages: list[Word] = Field(default_factory=list, max_length=20)
    tariffs: list[Literal["LOW", "MID", "HIGH", "PREMIUM"]] = Field(default_factory=list, max_length=4)
    roaming: Literal["INCLUDE", "EXCLUDE", "ONLY"] = "INCLUDE"
    app_installed: bool | None = None


class TargetingModel(WireModel):
    """Where (areas and location mode) and whom (segment)."""

    areas: list[AreaModel] = Field(min_length=1, max_length=10)
    location_mode: LocationMode = "PRESENT"
    dwell_minutes: int | None = Field(default=None, ge=1, le=1440)
    visited_from: Instant | None = None
    visited_to: Instant | None = None
    segment: SegmentModel | None = None


class DailyHours(WireModel):
    """A daily window in the subscriber's local time, ``from`` inclusive, ``to`` exclusive (may wrap midnight)."""

    from_: HourMinute = Field(alias="from")
    to: HourMinute


class ScheduleModel(WireModel):
    """When the campaign runs."""

    start_time: Instant
    end_time: Instant
    daily_hours: DailyHours | None = None
    days_of_week: list[Day] | None = Field(default=None, min_length=1, max_length=7)


class MessageModel(WireModel):
    """What is sent: SMS text up to 6 segments, push title ≤ 50 and body ≤ 240 characters."""

    kind: Kind
    channel: Channel
    sender_name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None


class CampaignCreate(WireModel):
    """A new campaign."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    targeting: TargetingModel
    schedule: ScheduleModel
    message: MessageModel
    max_recipients: int | None = Field(default=None, ge=1, le=10_000_000)


class SmsSummary(WireModel):
    """How the text travels as SMS."""

    encoding: str
    segments: int


class Campaign(WireModel):
    """A campaign as its partner sees it."""

    id: str
    name: str
    status: Literal["SCHEDULED", "RUNNING", "COMPLETED", "CANCELLED", "REJECTED"]
    rejection_reason: str | None = None
    targeting: TargetingModel
    schedule: ScheduleModel
    message: MessageModel
    max_recipients: int | None = None
    estimated_audience: int | None = None
    sms: SmsSummary
    created_at: Instant
    started_at: Instant | None = None
    completed_at: Instant | None = None
    cancelled_at: Instant | None = None


class CampaignList(WireModel):
    """A page of the caller's campaigns, oldest first."""

    campaigns: list[Campaign]
    next_cursor: str | None = None


class ListQuery(WireModel):
    """Paging: ``limit`` items after ``cursor`` (the ``nextCursor`` of the previous page)."""

    limit: int = Field(default=20, ge=1, le=100)
    cursor: Annotated[str, StringConstraints(max_length=64)] | None = None


class EstimateRequest(WireModel):
    """The targeting of a campaign, and optionally how it would be sent."""

    targeting: TargetingModel
    kind: Kind = "PROMO"
    channel: Channel = "PUSH_THEN_SMS"
    max_recipients: int | None = Field(default=None, ge=1, le=10_000_000)


class AudienceEstimate(WireModel):
    """Reachable audience now (after segment and consent), two significant figures; small counts withheld."""

    estimated_audience: int | None
    matched: int | None
    excluded: dict[str, int | None]
    withheld: list[str]
    privacy_threshold: int
    rounding: Literal["TWO_SIGNIFICANT_FIGURES"] = "TWO_SIGNIFICANT_FIGURES"


class HourlyCounts(WireModel):
    """One hour of a campaign (by decision time); counts under the privacy threshold are null."""

    hour: Instant
    sent: int | None
    delivered: int | None
    failed: int | None
    opened: int | None
    clicked: int | None
    suppressed: int | None


class CampaignReport(WireModel):
    """Aggregates only: never an identity. Counts from 1 to ``privacyThreshold - 1`` are null and listed in
    ``withheld``."""

    campaign_id: str
    status: str
    generated_at: Instant
    matched: int | None
    held: int | None
    suppressed: dict[str, int | None]
    sent: int | None
    delivered: int | None
    failed: int | None
    opened: int | None
    clicked: int | None
    hourly: list[HourlyCounts]
    withheld: list[str]
    privacy_threshold: int


class DeliveryRecord(WireModel):
    """One subscriber outcome (operator side)."""

    id: str
    msisdn: str
    at: Instant
    outcome: Literal["DELIVERED", "FAILED", "SUPPRESSED"]
    reason: str | None = None
    channel: str | None = None
    delivered_at: Instant | None = None
    opened_at: Instant | None = None
    clicked_at: Instant | None = None


class DeliveryList(WireModel):
    """A page of a campaign's outcomes, in decision order."""

    records: list[DeliveryRecord]
    next_cursor: str | None = None


class AdminListQuery(WireModel):
    """Paging of the operator-side truth."""

    limit: int = Field(default=100, ge=1, le=1000)
    cursor: int = Field(default=0, ge=0, le=MAX_ID)  # SQLite integers are 64-bit


EventType = Literal["campaign.started", "campaign.completed", "campaign.cancelled", "campaign.rejected",
                    "campaign.report.hourly"]


class CampaignSubscriptionRequest(EventSubscriptionRequest[EventType]):
    """A sink for some campaign event types (all of them when ``types`` is left out)."""
