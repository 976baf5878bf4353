"""The campaign domain: what a partner submits, what the operator stores and what a partner may see of it.

Owns the request and result dataclasses (:class:`CampaignRequest` and its :class:`TargetingSpec`,
:class:`Estimate`, :class:`CampaignView`, :class:`Report` with :class:`HourlyPoint`, the operator-side
:class:`Record`), the vocabularies of the campaigns API (statuses, kinds, channels, days, event types), the
campaign-specific errors and the wire ids of campaigns and of their records. Every count a partner sees goes
through :mod:`gateway.core.disclosure`. Plain data: no SQL, no world, no HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.core.errors import Unprocessable
from gateway.core.ids import CAMPAIGN_PREFIX, format_id, parse_public_id
from gateway.services.targeting import AreaSpec, CircleSpec, PolygonSpec
from gateway.wire.base import format_instant
from simulator.segments import Segment

API = "CAMPAIGNS"
"""The API name in the codes of campaign errors (``CAMPAIGNS.INVALID_MESSAGE``)."""
STATUSES: tuple[str, ...] = ("SCHEDULED", "RUNNING", "COMPLETED", "CANCELLED", "REJECTED")
KINDS: tuple[str, ...] = ("PROMO", "INFORMATIONAL")
CHANNELS: tuple[str, ...] = ("PUSH", "SMS", "PUSH_THEN_SMS")
DAYS: tuple[str, ...] = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
EVENT_TYPES: tuple[str, ...] = ("campaign.started", "campaign.completed", "campaign.cancelled", "campaign.rejected",
                                "campaign.report.hourly")


class AudienceTooSmall(Unprocessable):
    code = "CAMPAIGNS.AUDIENCE_TOO_SMALL"
    default_message = "The estimated audience is under the operator's minimum."


# -- requests ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TargetingSpec:
    """Where and whom, as the partner described it."""

    areas: tuple[AreaSpec, ...]
    location_mode: str = "PRESENT"
    dwell_minutes: int = 0
    visited_from: datetime | None = None
    visited_to: datetime | None = None
    segment: Segment = field(default_factory=Segment)


@dataclass(frozen=True)
class CampaignRequest:
    """A campaign as submitted (the service's input; the wire model is converted to this by the handler)."""

    name: str
    targeting: TargetingSpec
    start: datetime
    end: datetime
    kind: str
    channel: str
    sender_name: str
    text: str
    title: str | None = None
    daily_hours: tuple[str, str] | None = None  # local "HH:MM" from (inclusive), to (exclusive)
    days_of_week: tuple[str, ...] = ()
    max_recipients: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (stored; hashed for idempotency)."""
        t = self.targeting
        areas = [{"kind": "CIRCLE", "latitude": a.latitude, "longitude": a.longitude, "radius": a.radius}
                 if isinstance(a, CircleSpec) else {"kind": "POLYGON", "boundary": [list(p) for p in a.boundary]}
                 for a in t.areas]
        seg = t.segment
        return {
            "name": self.name, "areas": areas, "locationMode": t.location_mode, "dwellMinutes": t.dwell_minutes,
            "visitedFrom": None if t.visited_from is None else format_instant(t.visited_from),
            "visitedTo": None if t.visited_to is None else format_instant(t.visited_to),
            "segment": {"ageMin": seg.age_min, "ageMax": seg.age_max, "genders": list(seg.genders),
                        "interestsAny": list(seg.interests_any), "interestsAll": list(seg.interests_all),
                        "os": list(seg.os), "languages": list(seg.languages), "tariffs": list(seg.tariffs),
                        "roaming": seg.roaming, "appInstalled": seg.app_installed},
            "start": format_instant(self.start), "end": format_instant(self.end),
            "dailyHours": None if self.daily_hours is None else list(self.daily_hours),
            "daysOfWeek": list(self.days_of_week), "kind": self.kind, "channel": self.channel,
            "senderName": self.sender_name, "text": self.text, "title": self.title,
            "maxRecipients": self.max_recipients,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CampaignRequest:
        """Inverse of :meth:`to_json`."""
        def instant(v: str | None) -> datetime | None:
            return None if v is None else datetime.fromisoformat(v)

        areas: list[AreaSpec] = [
            CircleSpec(a["latitude"], a["longitude"], a["radius"]) if a["kind"] == "CIRCLE"
            else PolygonSpec(tuple((float(p[0]), float(p[1])) for p in a["boundary"])) for a in d["areas"]]
        s = d["segment"]
        segment = Segment(s["ageMin"], s["ageMax"], tuple(s["genders"]), tuple(s["interestsAny"]),
                          tuple(s["interestsAll"]), tuple(s["os"]), tuple(s["languages"]), tuple(s["tariffs"]),
                          s["roaming"], s["appInstalled"])
        spec = TargetingSpec(tuple(areas), d["locationMode"], d["dwellMinutes"], instant(d["visitedFrom"]),
                             instant(d["visitedTo"]), segment)
        start, end = instant(d["start"]), instant(d["end"])
        assert start is not None and end is not None
        hours = d["dailyHours"]
        return cls(d["name"], spec, start, end, d["kind"], d["channel"], d["senderName"], d["text"], d["title"],
                   None if hours is None else (hours[0], hours[1]), tuple(d["daysOfWeek"]), d["maxRecipients"])


# -- results ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Estimate:
    """An audience estimate as a partner may see it: rounded, small counts withheld (None)."""

    audience: int | None
    matched: int | None
    excluded: dict[str, int | None]
    withheld: list[str]


@dataclass(frozen=True)
class CampaignView:
    """A stored campaign."""

    id: str
    seq: int
    partner_id: int
    request: CampaignRequest
    status: str
    rejection_reason: str | None
    estimate: int | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    sms_encoding: str
    sms_segments: int


@dataclass(frozen=True)
class HourlyPoint:
    """One hour of a report."""

    hour: datetime
    sent: int | None
    delivered: int | None
    failed: int | None
    opened: int | None
    clicked: int | None
    suppressed: int | None


@dataclass(frozen=True)
class Report:
    """Aggregates of one campaign; counts from 1 to the privacy threshold minus one are None (listed)."""

    campaign_id: str
    status: str
    generated_at: datetime
    matched: int | None
    held: int | None
    suppressed: dict[str, int | None]
    sent: int | None
    delivered: int | None
    failed: int | None
    opened: int | None
    clicked: int | None
    hourly: list[HourlyPoint]
    withheld: list[str]


@dataclass(frozen=True)
class Record:
    """One subscriber outcome, operator side."""

    id: str
    subscriber: int
    msisdn: str
    at: datetime
    outcome: str
    reason: str | None
    channel: str | None
    delivered_at: datetime | None
    opened_at: datetime | None
    clicked_at: datetime | None


RECORD_ID_DIGITS = 7


def record_id_prefix(campaign_seq: int, outcome: str) -> str:
    """What the wire ids of a campaign's records of ``outcome`` start with (the record number follows)."""
    return f"{'sup' if outcome == 'SUPPRESSED' else 'msg'}_{campaign_seq:06d}_"


def record_id(campaign_seq: int, seq: int, outcome: str) -> str:
    """Wire id of a record: ``msg_…`` for a send (delivered or failed), ``sup_…`` for a suppression."""
    return f"{record_id_prefix(campaign_seq, outcome)}{seq:0{RECORD_ID_DIGITS}d}"


def public_id(seq: int) -> str:
    """Wire id of a campaign."""
    return format_id(CAMPAIGN_PREFIX, seq)


def parse_id(value: str) -> int | None:
    """The counter behind a campaign id, or None."""
    return parse_public_id(value, CAMPAIGN_PREFIX)
