"""Wire models of the CDP's triggers ``/cdp/v1/triggers``: a rule, a chain of steps (each a delay and an action),
an optional daily cap per user and quiet hours, and what each step did (fires).

Rules (``kind``): ``EVENT_NOT_FOLLOWED`` (event X, then not Y within T: cart abandonment), ``FIRST_EVENT`` (the
first X of a user: a welcome chain), ``AUDIENCE_ENTERED``, ``EVENT_REMINDER`` (N hours before the instant an event
names: a ticket's start), and the operator signals ``AREA_ENTERED``, ``VENUE_AT_TIME`` (in an area for a while during
a local-time window) and ``ARRIVED_FROM_ROAMING``. Actions
(``type``): ``WEBHOOK`` (a CloudEvent to the partner's sink) and ``PUSH`` (a templated push through the push server
to the user's installs of one app). It must not know about HTTP nor about how triggers fire.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictInt, StringConstraints, field_validator

from gateway.wire.base import Instant, WireModel
from gateway.wire.camara.areas import Circle
from gateway.wire.vocabulary import Day
from gateway.wire.webhooks import SinkCredential

EventName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
MAX_WINDOW_S = 30 * 24 * 3600
"""Longest ``withinSeconds`` and step delay (30 days)."""
FIRES_PAGE = 1000
"""Most fires in one page (and the default page size)."""


class EventNotFollowedRule(WireModel):
    """``event`` happened, and ``notFollowedBy`` did not within ``withinSeconds`` (one open wait per user)."""

    kind: Literal["EVENT_NOT_FOLLOWED"]
    event: EventName
    not_followed_by: EventName
    within_seconds: Annotated[StrictInt, Field(ge=60, le=MAX_WINDOW_S)]


class FirstEventRule(WireModel):
    """The first ``event`` of a user seen since the trigger exists (once per user, ever)."""

    kind: Literal["FIRST_EVENT"]
    event: EventName = "Application Opened"


class AudienceEnteredRule(WireModel):
    """A user entered one of the partner's audiences (each entry fires)."""

    kind: Literal["AUDIENCE_ENTERED"]
    audience_id: Annotated[str, StringConstraints(min_length=1, max_length=50)]


class AreaEnteredRule(WireModel):
    """Operator signal: a user of the partner's app ``appId`` entered ``area``. Only installs whose in-app location
    permission is ``WHILE_USING`` or ``ALWAYS`` count (the permission is the user's consent to link their line);
    the area is seen at cell level (its cells: those at least half inside the circle, plus the centre's), and
    webhooks name it only by ``areaId`` (the partner's own label), never by coordinates."""

    kind: Literal["AREA_ENTERED"]
    app_id: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    area_id: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")]
    area: Circle


class EventReminderRule(WireModel):
    """``hoursBefore`` hours before the instant an ``event`` names in its ``timeProperty`` (an ISO-8601 instant
    with an offset: a ticket's or an appointment's start), the chain starts (step delays count from then). One run
    per profile and scheduled instant (the same event again with the same value starts nothing more); an event whose
    reminder instant has passed starts at once if the scheduled instant is still ahead, else nothing; an event
    without a valid instant is ignored (counted in the trigger's ``ignoredEvents``). A ``cancelledBy`` event with
    the same property value cancels the profile's reminder (its steps not yet done), whichever of the profile's
    identities (linked by ``identify`` or ``alias``) either event came with."""

    kind: Literal["EVENT_REMINDER"]
    event: EventName
    time_property: Annotated[str, StringConstraints(min_length=1, max_length=100)] = "startsAt"
    hours_before: Annotated[StrictInt, Field(ge=1, le=720)]
    cancelled_by: EventName | None = None


ALL_DAYS: tuple[Day, ...] = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
TimeOfDay = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
"""A local time ``HH:MM`` (24 h)."""


class VenueAtTimeRule(WireModel):
    """Operator signal: a user of the partner's app ``appId`` (in-app location permission ``WHILE_USING`` or
    ``ALWAYS``, as for ``AREA_ENTERED``) has been in ``area`` (seen at cell level) for ``minDwellMinutes`` inside the
    local-time window ``startTime``-``endTime`` of one of ``days`` (the user's own time zone; the window does not
    wrap midnight): entered during the window, or already there when it opens. Once per user per local day."""

    kind: Literal["VENUE_AT_TIME"]
    app_id: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    area_id: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")]
    area: Circle
    days: list[Day] = Field(default_factory=lambda: list(ALL_DAYS), min_length=1, max_length=7)
    start_time: TimeOfDay
    end_time: TimeOfDay
    min_dwell_minutes: Annotated[StrictInt, Field(ge=0, le=720)] = 0

    @field_validator("days")
    @classmethod
    def _distinct(cls, days: list[str]) -> list[str]:
        if len(set(days)) != len(days):
            raise ValueError("days must be distinct")
        return days



CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
"""An ISO 3166-1 alpha-2 country code."""


class ArrivedFromRoamingRule(WireModel):
    """Operator signal: a user of the partner's app ``appId`` arrived in the country on a foreign SIM (an inbound
    roamer attached to the network on landing). Only installs whose in-app location permission is ``WHILE_USING``
    or ``ALWAYS`` count (the link to their line); ``fromCountries`` (ISO codes) keeps the visitors whose SIM comes
    from one of them. Webhooks carry the user id and the home country code only."""

    kind: Literal["ARRIVED_FROM_ROAMING"]
    app_id: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    from_countries: Annotated[list[CountryCode], Field(min_length=1, max_length=50)] | None = None



Rule = Annotated[EventNotFollowedRule | FirstEventRule | AudienceEnteredRule | AreaEnteredRule | EventReminderRule
                 | VenueAtTimeRule | ArrivedFromRoamingRule, Field(discriminator="kind")]


class WebhookAction(WireModel):
    """A CloudEvent (``org.opsim.cdp.v1.trigger.fired``) to ``sink`` carrying the partner's user id."""

    type: Literal["WEBHOOK"]
    sink: str = Field(min_length=1, max_length=2048)
    sink_credential: SinkCredential | None = None


PushKind = Literal["MARKETING", "TRANSACTIONAL", "INFORMATIONAL"]
"""What a trigger's push is, as ``/messages/v1`` kinds are (``MARKETING`` obeys the rules of ``PROMO``).
``AUTHENTICATION`` is not one: a code is sent when the user asks for it (``/messages/v1``, ``/verify/v1``), never
because a rule over their profile matched."""
PUSH_KINDS: tuple[str, ...] = ("MARKETING", "TRANSACTIONAL", "INFORMATIONAL")


class PushAction(WireModel):
    """A push to the user's installs of ``appId``; ``{{trait}}`` in the title and body is the profile's trait.
    ``MARKETING`` pushes need the install's in-app marketing consent and OS notification permission at the send
    instant and obey the trigger's quiet hours and daily cap; ``TRANSACTIONAL`` and ``INFORMATIONAL`` ones obey
    none of them and go to every install (shown only with the OS permission)."""

    type: Literal["PUSH"]
    app_id: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    title: Text
    body: Text
    kind: PushKind = "MARKETING"

    @field_validator("kind", mode="before")
    @classmethod
    def _known_kind(cls, kind: object) -> object:
        if isinstance(kind, str) and kind not in PUSH_KINDS:
            why = " (a code is sent when the user asks for it: /messages/v1)" if kind == "AUTHENTICATION" else ""
            raise ValueError(f"kind must be one of {', '.join(PUSH_KINDS)}{why}")
        return kind


Action = Annotated[WebhookAction | PushAction, Field(discriminator="type")]


class Step(WireModel):
    """One step of the chain: ``delaySeconds`` after the previous one (after the rule fired, for the first)."""

    delay_seconds: Annotated[StrictInt, Field(ge=0, le=MAX_WINDOW_S)] = 0
    action: Action


class QuietHours(WireModel):
    """No action from ``startHour`` to ``endHour`` in the user's local time (the span may wrap midnight), but
    ``TRANSACTIONAL`` and ``INFORMATIONAL`` pushes."""

    start_hour: Annotated[StrictInt, Field(ge=0, le=23)]
    end_hour: Annotated[StrictInt, Field(ge=0, le=23)]


class TriggerRequest(WireModel):
    """A trigger to create."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
    rule: Rule
    steps: list[Step] = Field(min_length=1, max_length=10)
    daily_cap: Annotated[StrictInt, Field(ge=1, le=100)] | None = None
    """Most actions of this trigger per user per local day (none: no cap); ``TRANSACTIONAL`` and
    ``INFORMATIONAL`` pushes neither obey nor count against it."""
    quiet_hours: QuietHours | None = None
    """``TRANSACTIONAL`` and ``INFORMATIONAL`` pushes do not obey them."""


class Trigger(TriggerRequest):
    """A stored trigger."""

    id: str
    created_at: Instant
    status: Literal["ACTIVE", "SINK_GONE"] = "ACTIVE"
    """``SINK_GONE``: a webhook sink answered ``410 Gone``; its pending deliveries were cancelled and the trigger's
    webhook steps are suppressed from then on (reason ``SINK_GONE``); with only webhook steps it starts no runs."""
    ignored_events: int = 0
    """``EVENT_REMINDER``: events that scheduled nothing (no valid instant in ``timeProperty``, or one passed)."""


class TriggerList(WireModel):
    """The partner's triggers, oldest first."""

    triggers: list[Trigger]


class TriggerFire(WireModel):
    """What one step did for one user: ``SENT`` (``refs``: push ids or the CloudEvent id) or ``SUPPRESSED``
    (``reason``: ``QUIET_HOURS``, ``FREQUENCY_CAP``, ``NO_CONSENT``, ``NO_INSTALL``, ``PUSH_FAILED``, ``SINK_GONE``)."""

    id: str
    trigger_id: str
    user_id: str | None
    step: int
    action: Literal["WEBHOOK", "PUSH"]
    status: Literal["SENT", "SUPPRESSED"]
    reason: str | None = None
    refs: list[str] = Field(default_factory=list)
    at: Instant


class TriggerFireList(WireModel):
    """A page of a trigger's fires, oldest first; ``nextCursor`` is the cursor of the next page."""

    fires: list[TriggerFire]
    next_cursor: str | None = None


class FireListQuery(WireModel):
    """Paging of a trigger's fires: ``limit`` fires after ``cursor`` (the ``nextCursor`` of the previous page, which
    is the id of that page's last fire), as the other partner lists page."""

    limit: int = Field(default=FIRES_PAGE, ge=1, le=FIRES_PAGE)
    cursor: Annotated[str, StringConstraints(max_length=64)] | None = None
