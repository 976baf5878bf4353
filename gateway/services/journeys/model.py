"""Values of journeys: triggers, step kinds, stop reasons, event types, the errors a partner sees, the request
(a chain of step specs with its JSON form) and the views and reports the service hands out. No SQL, no clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from gateway.core.errors import Conflict
from gateway.core.ids import JOURNEY_PREFIX, format_id
from gateway.services.targeting import AreaSpec, CircleSpec, PolygonSpec
from gateway.wire.base import format_instant

TRIGGERS: tuple[str, ...] = ("SUBSCRIBER_JOINED", "ROAMING_ARRIVAL", "AREA_ENTERED", "EVENT_REMINDER")
STEP_KINDS: tuple[str, ...] = ("TRANSACTIONAL", "INFORMATIONAL", "PROMO")
ANCHORS: tuple[str, ...] = ("TRIGGER", "PREVIOUS_STEP")
STOP_REASONS: tuple[str, ...] = ("LEFT_AREA", "CONSENT_WITHDRAWN", "JOURNEY_ENDED", "CANCELLED", "TOO_LATE")
MESSAGE_REASONS: tuple[str, ...] = ("NO_CONSENT", "QUIET_HOURS", "FREQUENCY_CAP", "NO_APP", "SENDER_BLOCKED")
"""Suppression reasons a report always lists (others appear when they occur)."""
OVER: tuple[str, ...] = ("CANCELLED", "COMPLETED")
"""Statuses of a journey that is over (no cancellation, no enrolment)."""
EVENT_TYPES: tuple[str, ...] = ("journey.started", "journey.completed", "journey.cancelled", "journey.report.hourly")

Listener = Callable[[str, dict[str, Any], datetime], None]


class JourneyFull(Conflict):
    code = "JOURNEYS.MAX_RECIPIENTS_REACHED"
    default_message = "The journey has reached its maxRecipients."


class JourneyClosed(Conflict):
    code = "JOURNEYS.NOT_ACTIVE"
    default_message = "The journey is cancelled or completed."


def public_id(seq: int) -> str:
    """Wire id of a journey."""
    return format_id(JOURNEY_PREFIX, seq)


def _instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


# -- requests -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StepSpec:
    """One step of a chain: what is sent, and when (``delay_seconds`` after the trigger or the previous step)."""

    kind: str
    channel: str
    text: str | None = None
    title: str | None = None
    template_id: str | None = None
    template_parameters: dict[str, str] = field(default_factory=dict)
    delay_seconds: int = 0
    after: str = "PREVIOUS_STEP"
    ttl_seconds: int | None = None


@dataclass(frozen=True)
class JourneyRequest:
    """A journey as submitted (the handler converts the wire model to this)."""

    name: str
    trigger: str
    sender_name: str
    steps: tuple[StepSpec, ...]
    area: AreaSpec | None = None
    start: datetime | None = None
    end: datetime | None = None
    max_recipients: int | None = None
    stop_on_area_exit: bool = False
    stop_on_consent_withdrawn: bool = False

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (stored; hashed for idempotency)."""
        area: dict[str, Any] | None = None
        if isinstance(self.area, CircleSpec):
            area = {"kind": "CIRCLE", **asdict(self.area)}
        elif isinstance(self.area, PolygonSpec):
            area = {"kind": "POLYGON", "boundary": [list(p) for p in self.area.boundary]}
        return {"name": self.name, "trigger": self.trigger, "senderName": self.sender_name,
                "steps": [asdict(s) for s in self.steps], "area": area,
                "start": None if self.start is None else format_instant(self.start),
                "end": None if self.end is None else format_instant(self.end), "maxRecipients": self.max_recipients,
                "stopOnAreaExit": self.stop_on_area_exit, "stopOnConsentWithdrawn": self.stop_on_consent_withdrawn}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> JourneyRequest:
        """Inverse of :meth:`to_json`."""
        a = d["area"]
        area: AreaSpec | None = None
        if a is not None:
            area = (CircleSpec(a["latitude"], a["longitude"], a["radius"]) if a["kind"] == "CIRCLE"
                    else PolygonSpec(tuple((float(p[0]), float(p[1])) for p in a["boundary"])))
        return cls(d["name"], d["trigger"], d["senderName"], tuple(StepSpec(**s) for s in d["steps"]), area,
                   _instant(d["start"]), _instant(d["end"]), d["maxRecipients"], d["stopOnAreaExit"],
                   d["stopOnConsentWithdrawn"])

    def offsets(self) -> list[int]:
        """Each step's instant relative to the trigger, in seconds."""
        out: list[int] = []
        for s in self.steps:
            out.append(s.delay_seconds if s.after == "TRIGGER" or not out else out[-1] + s.delay_seconds)
        return out


# -- results ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class JourneyView:
    """A stored journey."""

    id: str
    partner_id: int
    request: JourneyRequest
    status: str
    created_at: datetime
    cancelled_at: datetime | None


@dataclass(frozen=True)
class PlannedStep:
    """When a step of an enrolment is due, and whether it still will be tried."""

    step: int
    due_at: datetime
    status: str  # SCHEDULED or TOO_LATE


@dataclass(frozen=True)
class EnrolmentView:
    """A number enrolled in an ``EVENT_REMINDER`` journey (the partner's own customer)."""

    id: str
    journey_id: str
    phone_number: str
    event_time: datetime
    created_at: datetime
    steps: list[PlannedStep]


@dataclass(frozen=True)
class StepReport:
    """Aggregates of one step; counts from 1 to the privacy threshold minus one are None."""

    step: int
    pending: int | None
    in_flight: int | None
    sent: int | None
    delivered: int | None
    failed: int | None
    expired: int | None
    opened: int | None
    suppressed: dict[str, int | None]
    stopped: dict[str, int | None]


@dataclass(frozen=True)
class StepOutcome:
    """What became of one step for one recipient (operator side): ``outcome`` is ``PENDING`` (not reached yet),
    ``MESSAGE`` (``status`` and ``reason`` are the message's), ``REFUSED`` (the send was refused: ``reason`` is the
    error code) or ``STOPPED`` (``reason`` is the stop reason)."""

    step: int
    due_at: datetime
    outcome: str
    reason: str | None = None
    message_id: str | None = None
    status: str | None = None
    sent: bool = False
    decided_at: datetime | None = None
    opened_at: datetime | None = None


@dataclass(frozen=True)
class RecipientRecord:
    """One recipient of a journey with its subscriber's number (operator side only)."""

    n: int
    msisdn: str
    triggered_at: datetime
    steps: list[StepOutcome]


@dataclass(frozen=True)
class JourneyReport:
    """Aggregates of a journey as of now (``withheld`` names the counts under the privacy threshold)."""

    journey_id: str
    status: str
    generated_at: datetime
    recipients: int | None
    steps: list[StepReport]
    withheld: list[str]
