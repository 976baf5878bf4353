"""Wire models of the journeys API (``/journeys/v1``) and its operator side: triggers, steps and stop conditions,
journeys, enrolments, reports, recipients' truth and the journey event subscriptions.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictInt, StringConstraints

from gateway.wire.base import Instant, WireModel
from gateway.wire.camara.subject import PhoneNumber
from gateway.wire.campaigns import AreaModel
from gateway.wire.event_subscriptions import EventSubscriptionRequest
from gateway.wire.messages import ParamName, ParamValue
from gateway.wire.vocabulary import Channel, MessageKind

MAX_STEPS = 10


MAX_DELAY_S = 30 * 86_400


EventType = Literal["journey.started", "journey.completed", "journey.cancelled", "journey.report.hourly"]


class JourneySubscriptionRequest(EventSubscriptionRequest[EventType]):
    """A sink for some journey event types (all of them when ``types`` is left out)."""


Trigger = Literal["SUBSCRIBER_JOINED", "ROAMING_ARRIVAL", "AREA_ENTERED", "EVENT_REMINDER"]


Status = Literal["SCHEDULED", "ACTIVE", "COMPLETED", "CANCELLED"]


class TriggerModel(WireModel):
    """What starts a recipient's chain; ``area`` (CAMARA circle or polygon) for ``AREA_ENTERED`` only."""

    type: Trigger
    area: AreaModel | None = None


class StepModel(WireModel):
    """One message of the chain, ``delaySeconds`` after the trigger or the previous step (negative: before the
    event, ``EVENT_REMINDER`` steps ``after: TRIGGER`` only). ``text`` or an approved ``templateId``."""

    kind: MessageKind
    channel: Channel = "PUSH_THEN_SMS"
    text: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    title: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    template_id: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None
    template_parameters: dict[ParamName, ParamValue] = Field(default_factory=dict, max_length=20)
    delay_seconds: StrictInt = Field(default=0, ge=-MAX_DELAY_S, le=MAX_DELAY_S)
    after: Literal["TRIGGER", "PREVIOUS_STEP"] = "PREVIOUS_STEP"
    ttl_seconds: StrictInt | None = Field(default=None, ge=1)


class StopModel(WireModel):
    """Stop conditions."""

    max_recipients: int | None = Field(default=None, ge=1, le=10_000_000)
    end_time: Instant | None = None
    on_area_exit: bool = False
    on_consent_withdrawn: bool = False


class JourneyCreate(WireModel):
    """A new journey (runs from the next tick, or from ``startTime``)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    trigger: TriggerModel
    sender_name: Annotated[str, StringConstraints(min_length=1, max_length=11)]
    steps: list[StepModel] = Field(min_length=1, max_length=MAX_STEPS)
    start_time: Instant | None = None
    stop: StopModel = Field(default_factory=StopModel)


class Journey(JourneyCreate):
    """A journey as its partner sees it (its recipients only as aggregates, in the report)."""

    id: str
    status: Status
    created_at: Instant
    cancelled_at: Instant | None = None


class JourneyList(WireModel):
    """A page of the caller's journeys, oldest first."""

    journeys: list[Journey]
    next_cursor: str | None = None


class EnrolmentRequest(WireModel):
    """One of the partner's customers and the instant of its event (the reminders count from it)."""

    phone_number: PhoneNumber
    event_time: Instant


class PlannedStepInfo(WireModel):
    """When a step is due for this enrolment; ``TOO_LATE`` when that instant had passed at enrolment."""

    step: int
    due_at: Instant
    status: Literal["SCHEDULED", "TOO_LATE"]


class Enrolment(WireModel):
    """An enrolment and its planned steps."""

    id: str
    journey_id: str
    phone_number: str
    event_time: Instant
    created_at: Instant
    steps: list[PlannedStepInfo]


class StepCounts(WireModel):
    """Aggregates of one step: ``pending`` (not reached yet), ``inFlight`` (accepted, held or sent, not final),
    ``sent``, ``delivered``, ``failed``, ``expired``, ``opened``, ``suppressed`` by the message rules' reason,
    ``stopped`` by the journey's stop reason."""

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


class JourneyReportModel(WireModel):
    """Aggregates only, never an identity: counts from 1 to ``privacyThreshold - 1`` are null (see ``withheld``)."""

    journey_id: str
    status: Status
    generated_at: Instant
    recipients: int | None
    steps: list[StepCounts]
    withheld: list[str]
    privacy_threshold: int


class StepOutcomeModel(WireModel):
    """One step for one recipient: ``PENDING`` (due at ``dueAt``), ``MESSAGE`` (``status``/``reason`` are the
    message's; ``sent`` once it left on a channel), ``REFUSED`` (``reason``: the error code) or ``STOPPED``
    (``reason``: the stop condition); ``decidedAt`` is when the outcome was recorded."""

    step: int
    due_at: Instant
    outcome: Literal["PENDING", "MESSAGE", "REFUSED", "STOPPED"]
    reason: str | None = None
    message_id: str | None = None
    status: str | None = None
    sent: bool = False
    decided_at: Instant | None = None
    opened_at: Instant | None = None


class RecipientModel(WireModel):
    """A recipient of a journey (operator side: the subscriber's number, never shown to a partner)."""

    n: int
    msisdn: str
    triggered_at: Instant
    steps: list[StepOutcomeModel]


class RecipientList(WireModel):
    """A page of a journey's recipients in triggering order; ``nextCursor`` is the cursor of the next page."""

    recipients: list[RecipientModel]
    next_cursor: str | None = None
