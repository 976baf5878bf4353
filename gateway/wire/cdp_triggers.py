"""Wire models of the CDP's triggers ``/cdp/v1/triggers``: a rule, a chain of steps (each a delay and an action),
an optional daily cap per user and quiet hours, and what each step did (fires).

Rules (``kind``): ``EVENT_NOT_FOLLOWED`` (event X, then not Y within T: cart abandonment), ``FIRST_EVENT`` (the
first X of a user: a welcome chain), ``AUDIENCE_ENTERED``, and the operator signals
``AREA_ENTERED`` and ``ARRIVED_FROM_ROAMING``. Actions
(``type``): ``WEBHOOK`` (a CloudEvent to the partner's sink) and ``PUSH`` (a templated push through the push server
to the user's installs of one app). It must not know about HTTP nor about how triggers fire.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictInt, StringConstraints

from gateway.wire.base import Instant, WireModel
from gateway.wire.camara.areas import Circle
from gateway.wire.webhooks import SinkCredential

EventName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
MAX_WINDOW_S = 30 * 24 * 3600
"""Longest ``withinSeconds`` and step delay (30 days)."""


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


Rule = Annotated[EventNotFollowedRule | FirstEventRule | AudienceEnteredRule | AreaEnteredRule
                 | ArrivedFromRoamingRule, Field(discriminator="kind")]


class WebhookAction(WireModel):
    """A CloudEvent (``org.opsim.cdp.v1.trigger.fired``) to ``sink`` carrying the partner's user id."""

    type: Literal["WEBHOOK"]
    sink: str = Field(min_length=1, max_length=2048)
    sink_credential: SinkCredential | None = None


class PushAction(WireModel):
    """A push to the user's installs of ``appId``; ``{{trait}}`` in the title and body is the profile's trait.
    ``MARKETING`` pushes need the install's in-app marketing consent and OS notification permission at the send
    instant; ``TRANSACTIONAL`` ones go to every install (shown only with the OS permission)."""

    type: Literal["PUSH"]
    app_id: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    title: Text
    body: Text
    kind: Literal["MARKETING", "TRANSACTIONAL"] = "MARKETING"


Action = Annotated[WebhookAction | PushAction, Field(discriminator="type")]


class Step(WireModel):
    """One step of the chain: ``delaySeconds`` after the previous one (after the rule fired, for the first)."""

    delay_seconds: Annotated[StrictInt, Field(ge=0, le=MAX_WINDOW_S)] = 0
    action: Action


class QuietHours(WireModel):
    """No action from ``startHour`` to ``endHour`` in the user's local time (the span may wrap midnight)."""

    start_hour: Annotated[StrictInt, Field(ge=0, le=23)]
    end_hour: Annotated[StrictInt, Field(ge=0, le=23)]


class TriggerRequest(WireModel):
    """A trigger to create."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
    rule: Rule
    steps: list[Step] = Field(min_length=1, max_length=10)
    daily_cap: Annotated[StrictInt, Field(ge=1, le=100)] | None = None
    """Most actions of this trigger per user per local day (none: no cap)."""
    quiet_hours: QuietHours | None = None


class Trigger(TriggerRequest):
    """A stored trigger."""

    id: str
    created_at: Instant


class TriggerList(WireModel):
    """The partner's triggers, oldest first."""

    triggers: list[Trigger]


class TriggerFire(WireModel):
    """What one step did for one user: ``SENT`` (``refs``: push ids or the CloudEvent id) or ``SUPPRESSED``
    (``reason``: ``QUIET_HOURS``, ``FREQUENCY_CAP``, ``NO_CONSENT``, ``NO_INSTALL``, ``PUSH_FAILED``)."""

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
    """A trigger's fires, oldest first."""

    fires: list[TriggerFire]
