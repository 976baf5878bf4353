"""Triggered chains: the service behind ``/journeys/v1`` and the engine that runs them on the simulated clock.

A partner defines a journey: a trigger, a chain of steps (message kind, channel, text or approved template,
delay) and stop conditions. Each subscriber a trigger selects becomes a *recipient* and walks the chain; every
step is a direct message sent through :meth:`gateway.services.messages.MessageService.send`, so every rule of its kind
applies unchanged (sender approval, templates, advertising consent, quiet hours and the shared daily cap for
``PROMO``, blocks, time to live, retries, fallback). This module adds no message rule of its own.

Triggers (the trigger instant is what delays count from):

* ``SUBSCRIBER_JOINED``: a new line of this operator is activated (:mod:`simulator.lifecycle`: a Poisson
  process of new subscriptions at the rate behind the tenures, drawn per simulated hour from the stream
  ``("line-activation", h)``; a test subscriber added through the admin API joins when it is added). Instant:
  the activation.
* ``ROAMING_ARRIVAL``: an inbound roamer's first network contact after the journey starts, i.e. the first
  moment the network hears its device: a cell change, or its periodic update (every 54 minutes, each device
  with its own phase, :meth:`simulator.world.World.next_periodic_contacts`). The world's visitors are in the
  country for the whole run, so a journey meets each of them once, within the hour after it starts, as an
  operator switching on a welcome service does; a roaming test phone added later arrives when it is added.
* ``AREA_ENTERED``: the first move of a subscriber from a cell outside the area into one inside (subscribers
  already inside when the journey is created have not entered). Incremental: only the tick's movers are examined,
  with one cells → journeys index (:func:`gateway.services.targeting.entered`).
* ``EVENT_REMINDER``: the partner enrols numbers of its own customers, each with an event instant; step delays
  count from the event and may be negative (a reminder the day before). Steps already past at enrolment are
  ``TOO_LATE``.

A subscriber is a recipient of a journey at most once (an enrolment is a recipient of its own). Step delays
count from the trigger (``after: TRIGGER``) or from the previous step's instant (``PREVIOUS_STEP``); step
instants never decrease. A step is sent at its instant (:meth:`simulator.clock.SimClock.schedule`), or at the
tick that finds the trigger when that instant has passed (triggers are evaluated once per tick).

Stop conditions: ``maxRecipients`` (later triggers are ignored; enrolments refused), ``endTime`` (no recipient
triggered from then on, no step due from then on: ``JOURNEY_ENDED``), ``onAreaExit`` (``AREA_ENTERED``: the
rest of a recipient's chain stops when it leaves the area: ``LEFT_AREA``), ``onConsentWithdrawn`` (the rest
stops when the subscriber withdraws advertising consent: ``CONSENT_WITHDRAWN``), and cancellation
(``CANCELLED``). Each step's outcome is a ``journey_steps`` row: the message it sent (whose status is the
message's), ``REFUSED`` (the send was refused, e.g. the sender was revoked since) or ``STOPPED`` with the reason.

Privacy: recipients selected by the operator are never disclosed; their messages are hidden from the partner's
``GET /messages`` (``origin``). Reports are per-step aggregates with the campaigns' privacy threshold.

Restart: journeys, enrolments and cancellation instants live in SQLite and become visible to the engine once
the clock passes their creation instant, so the replay of a restarted gateway re-runs them at the same ticks and
rebuilds every chain (pending steps wait on the clock again). A join or a move counts for the journeys created
strictly before its instant (at the creation instant, whether the request came first is not in the journal).
A step already recorded is not sent again (its row says what came of it; the message carries on by itself,
:mod:`gateway.services.messages`), messages are sent with deterministic idempotency keys, records are
``INSERT OR IGNORE``, and events are not emitted again during the replay. This module knows nothing of HTTP.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.core.errors import Conflict, GatewayError, IdentifierNotFound, InvalidArgument, NotFound, Unprocessable
from gateway.core.ids import ENROLMENT_PREFIX, JOURNEY_PREFIX, format_id, parse_public_id, partner_public_id
from gateway.core.store import Store
from gateway.services import targeting
from gateway.services.messages import MSG_PREFIX, MessageRequest, MessageService
from gateway.services.targeting import AreaSpec, CircleSpec, PolygonSpec
from gateway.wire.base import format_instant
from gateway.wire.journeys import MAX_DELAY_S, MAX_STEPS
from simulator.clock import ScheduledCall, from_micros, to_micros
from simulator.errors import UnknownSubscriberError
from simulator.world import World

TRIGGERS: tuple[str, ...] = ("SUBSCRIBER_JOINED", "ROAMING_ARRIVAL", "AREA_ENTERED", "EVENT_REMINDER")
STEP_KINDS: tuple[str, ...] = ("TRANSACTIONAL", "INFORMATIONAL", "PROMO")
ANCHORS: tuple[str, ...] = ("TRIGGER", "PREVIOUS_STEP")
STOP_REASONS: tuple[str, ...] = ("LEFT_AREA", "CONSENT_WITHDRAWN", "JOURNEY_ENDED", "CANCELLED", "TOO_LATE")
MESSAGE_REASONS: tuple[str, ...] = ("NO_CONSENT", "QUIET_HOURS", "FREQUENCY_CAP", "NO_APP", "SENDER_BLOCKED")
"""Suppression reasons a report always lists (others appear when they occur)."""
_OVER = ("CANCELLED", "COMPLETED")
EVENT_TYPES: tuple[str, ...] = ("journey.started", "journey.completed", "journey.cancelled", "journey.report.hourly")
_HOUR_US = 3_600_000_000

Listener = Callable[[str, dict[str, Any], datetime], None]

Subs = NDArray[np.int32]


class JourneyFull(Conflict):
    code = "JOURNEYS.MAX_RECIPIENTS_REACHED"
    default_message = "The journey has reached its maxRecipients."


class JourneyClosed(Conflict):
    code = "JOURNEYS.NOT_ACTIVE"
    default_message = "The journey is cancelled or completed."


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


# -- engine state ---------------------------------------------------------------------------------------------

@dataclass
class _Live:
    """A journey visible to the engine."""

    seq: int
    partner_id: int
    req: JourneyRequest
    created_us: int
    cancelled_us: int | None
    cells: NDArray[np.int32] | None
    start_us: int = 0
    end_us: int | None = None
    recipients: int = 0
    started: bool = False
    seen: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    chains: dict[int, _Chain] = field(default_factory=dict)
    by_sub: dict[int, set[int]] = field(default_factory=dict)
    arrivals: tuple[NDArray[np.int64], Subs] = field(
        default_factory=lambda: (np.zeros(0, np.int64), np.zeros(0, np.int32)))

    @property
    def id(self) -> str:
        return format_id(JOURNEY_PREFIX, self.seq)


@dataclass
class _Chain:
    """One recipient walking a journey's steps."""

    live: _Live
    n: int
    sub: int
    due_us: list[int]
    step: int = 0
    call: ScheduledCall | None = None


@dataclass(frozen=True)
class _Enrolment:
    journey_seq: int
    subscriber: int
    event_us: int
    created_us: int


class JourneyService:
    """Journeys API service and the engine that runs them inside world ticks."""

    def __init__(self, world: World, store: Store, messages: MessageService, privacy_threshold: int,
                 min_radius_m: float, max_radius_m: float, is_live: Callable[[], bool] = lambda: True) -> None:
        self.world = world
        self.store = store
        self.messages = messages
        self.privacy_threshold = privacy_threshold
        self.min_radius_m = min_radius_m
        self.max_radius_m = max_radius_m
        self._loaded = False
        self._pending: dict[int, _Live] = {}
        self._live: dict[int, _Live] = {}
        self._enrolments: list[_Enrolment] = []
        self._moves: list[tuple[int, Subs, Subs, Subs]] = []  # (instant, movers, old cells, new cells)
        self._joins: list[tuple[Subs, NDArray[np.int64]]] = []
        self._index_key: tuple[int, ...] = ()
        self._index = targeting.area_index(world.cell_count, [])
        self._is_live = is_live
        self._listeners: list[Listener] = []
        self._hour_us: int | None = None
        world.on_cell_change(self._on_cells)
        world.on_line_activation(self._on_activation)
        world.on_consent_change(self._on_consent)
        world.on_step(self._on_step)

    # -- loading ------------------------------------------------------------------------------------------------
    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for r in self.store.conn.execute("SELECT * FROM journeys ORDER BY seq"):
            self._pending[r["seq"]] = self._make_live(r["seq"], r["partner_id"],
                                                      JourneyRequest.from_json(json.loads(r["spec"])),
                                                      r["created_us"], r["cancelled_us"])
        self._enrolments = [_Enrolment(r["journey_seq"], r["subscriber"], r["event_us"], r["created_us"])
                            for r in self.store.conn.execute("SELECT * FROM journey_enrolments ORDER BY seq")]

    def _make_live(self, seq: int, partner_id: int, req: JourneyRequest, created_us: int,
                   cancelled_us: int | None) -> _Live:
        cells = None
        if req.area is not None:
            cells = targeting.cells_of(self.world, [targeting.resolve_area(self.world, req.area, 0.0, math.inf)])
        start_us = max(created_us, to_micros(req.start)) if req.start is not None else created_us
        return _Live(seq, partner_id, req, created_us, cancelled_us, cells, start_us,
                     None if req.end is None else to_micros(req.end))

    # -- requests -----------------------------------------------------------------------------------------------
    def _check(self, partner_id: int, req: JourneyRequest) -> NDArray[np.int32] | None:
        """Validate a request (raising the error a partner should see); returns the area's cells."""
        if req.trigger not in TRIGGERS:
            raise InvalidArgument(f"trigger.type must be one of {', '.join(TRIGGERS)}.")
        if (req.trigger == "AREA_ENTERED") != (req.area is not None):
            raise InvalidArgument("trigger.area is required for AREA_ENTERED and applies to it only.")
        if req.stop_on_area_exit and req.trigger != "AREA_ENTERED":
            raise InvalidArgument("stop.onAreaExit applies to AREA_ENTERED journeys only.")
        if not 1 <= len(req.steps) <= MAX_STEPS:
            raise InvalidArgument(f"A journey has 1 to {MAX_STEPS} steps.")
        reminder = req.trigger == "EVENT_REMINDER"
        for i, s in enumerate(req.steps, start=1):
            if s.kind == "AUTHENTICATION":
                raise Unprocessable(f"steps[{i}]: authentication codes are sent on request (/verify/v1), never by a "
                                    "journey.", code="JOURNEYS.KIND_NOT_ALLOWED")
            if s.kind == "TRANSACTIONAL" and not reminder:
                raise Unprocessable(f"steps[{i}]: TRANSACTIONAL messages go to the partner's own customers: use "
                                    "EVENT_REMINDER; subscribers the operator selects get INFORMATIONAL or PROMO.",
                                    code="JOURNEYS.KIND_NOT_ALLOWED")
            if s.kind not in STEP_KINDS or s.after not in ANCHORS:
                raise InvalidArgument(f"steps[{i}]: unknown kind or after.")
            negative_ok = reminder and s.after == "TRIGGER"
            if not (-MAX_DELAY_S if negative_ok else 0) <= s.delay_seconds <= MAX_DELAY_S:
                raise InvalidArgument(f"steps[{i}].delaySeconds must be from {-MAX_DELAY_S if negative_ok else 0} to "
                                      f"{MAX_DELAY_S}" + ("" if reminder else " (negative delays: EVENT_REMINDER "
                                                          "steps after TRIGGER)") + ".")
            try:
                self.messages.check(partner_id, MessageRequest(
                    "", s.kind, s.channel, req.sender_name, s.text, s.title, s.template_id,
                    dict(s.template_parameters), None, s.ttl_seconds))
            except GatewayError as exc:
                exc.message = f"steps[{i}]: {exc.message}"
                raise
        offsets = req.offsets()
        if any(b < a for a, b in itertools.pairwise(offsets)):
            raise InvalidArgument("Steps must be in time order: a step's instant may not precede the previous one's.")
        now = self.world.clock.now
        if req.end is not None and (req.end <= now or (req.start is not None and req.end <= req.start)):
            raise InvalidArgument("stop.endTime must be in the future and after startTime.")
        if req.area is None:
            return None
        area = targeting.resolve_area(self.world, req.area, self.min_radius_m, self.max_radius_m)
        return targeting.cells_of(self.world, [area])

    def create(self, partner_id: int, req: JourneyRequest, idempotency_key: str | None = None
               ) -> tuple[JourneyView, bool]:
        """Validate and store a journey; it runs from the next tick. The same key and body give it back."""
        self._ensure_loaded()
        spec = json.dumps(req.to_json(), sort_keys=True)
        body_hash = hashlib.sha256(spec.encode()).hexdigest()
        if idempotency_key is not None:
            row = self.store.conn.execute("SELECT seq, body_hash FROM journeys WHERE partner_id = ? AND "
                                          "idempotency_key = ?", (partner_id, idempotency_key)).fetchone()
            if row is not None:
                if row["body_hash"] != body_hash:
                    raise Conflict("Idempotency-Key was already used with a different request body.")
                return self.get(partner_id, format_id(JOURNEY_PREFIX, row["seq"])), False
        self._check(partner_id, req)
        now_us = to_micros(self.world.clock.now)
        with self.store.transaction() as conn:
            seq = int(conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM journeys").fetchone()[0])
            conn.execute("INSERT INTO journeys(seq, partner_id, name, spec, created_us, idempotency_key, body_hash) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)", (seq, partner_id, req.name, spec, now_us, idempotency_key,
                                                          body_hash))
        self._pending[seq] = self._make_live(seq, partner_id, req, now_us, None)
        return self.get(partner_id, format_id(JOURNEY_PREFIX, seq)), True

    def _row(self, partner_id: int | None, journey_id: str) -> Any:
        seq = parse_public_id(journey_id, JOURNEY_PREFIX)
        row = None if seq is None else self.store.conn.execute("SELECT * FROM journeys WHERE seq = ?",
                                                               (seq,)).fetchone()
        if row is None or (partner_id is not None and row["partner_id"] != partner_id):
            raise NotFound(f"Journey {journey_id} not found.")
        return row

    def _view(self, row: Any) -> JourneyView:
        req = JourneyRequest.from_json(json.loads(row["spec"]))
        now = self.world.clock.now
        if row["cancelled_us"] is not None:
            status = "CANCELLED"
        elif req.end is not None and req.end <= now:
            status = "COMPLETED"
        elif req.start is not None and req.start > now:
            status = "SCHEDULED"
        else:
            status = "ACTIVE"
        cancelled = None if row["cancelled_us"] is None else from_micros(row["cancelled_us"])
        return JourneyView(format_id(JOURNEY_PREFIX, row["seq"]), row["partner_id"], req, status,
                           from_micros(row["created_us"]), cancelled)

    def get(self, partner_id: int | None, journey_id: str) -> JourneyView:
        """A journey of that partner (None: any); another partner's is 404."""
        return self._view(self._row(partner_id, journey_id))

    def list_own(self, partner_id: int, limit: int, after: str | None = None) -> tuple[list[JourneyView], str | None]:
        """A page of the partner's journeys, oldest first, and the cursor of the next page."""
        start = 0
        if after is not None:
            seq = parse_public_id(after, JOURNEY_PREFIX)
            if seq is None:
                raise InvalidArgument("cursor is not a journey id.")
            start = seq
        rows = self.store.conn.execute("SELECT * FROM journeys WHERE partner_id = ? AND seq > ? ORDER BY seq "
                                       "LIMIT ?", (partner_id, start, limit + 1)).fetchall()
        views = [self._view(r) for r in rows[:limit]]
        return views, (views[-1].id if len(rows) > limit else None)

    def cancel(self, partner_id: int, journey_id: str) -> JourneyView:
        """Stop a journey now: no new recipients, the rest of every chain is ``CANCELLED``."""
        self._ensure_loaded()
        view = self.get(partner_id, journey_id)
        if view.status in _OVER:
            raise JourneyClosed(f"Journey {journey_id} is {view.status} and cannot be cancelled.")
        seq = int(parse_public_id(view.id, JOURNEY_PREFIX) or 0)
        now_us = to_micros(self.world.clock.now)
        with self.store.transaction() as conn:
            conn.execute("UPDATE journeys SET cancelled_us = ? WHERE seq = ?", (now_us, seq))
        for table in (self._pending, self._live):
            if seq in table:
                table[seq].cancelled_us = now_us
        live = self._live.pop(seq, None) or self._pending.pop(seq, None)
        if live is not None:
            self._close(live, "CANCELLED", now_us)
            self._emit("journey.cancelled", live)
        return self.get(partner_id, journey_id)

    def enrol(self, partner_id: int, journey_id: str, msisdn: str, event_time: datetime) -> EnrolmentView:
        """Enrol one of the partner's customers in an ``EVENT_REMINDER`` journey for an event instant."""
        self._ensure_loaded()
        view = self.get(partner_id, journey_id)
        req = view.request
        if req.trigger != "EVENT_REMINDER":
            raise Conflict(f"Journey {journey_id} is triggered by {req.trigger}; only EVENT_REMINDER journeys take "
                           "enrolments.", code="JOURNEYS.NOT_ENROLLABLE")
        if view.status in _OVER:
            raise JourneyClosed(f"Journey {journey_id} is {view.status}.")
        now = self.world.clock.now
        if event_time <= now:
            raise InvalidArgument("eventTime must be in the future.")
        try:
            sub = self.world.find_subscriber(msisdn)
        except UnknownSubscriberError:
            raise IdentifierNotFound("The phone number is not a subscriber of this operator.") from None
        seq = int(parse_public_id(view.id, JOURNEY_PREFIX) or 0)
        conn = self.store.conn
        count = int(conn.execute("SELECT COUNT(*) FROM journey_enrolments WHERE journey_seq = ?",
                                 (seq,)).fetchone()[0])
        if req.max_recipients is not None and count >= req.max_recipients:
            raise JourneyFull(f"Journey {journey_id} has reached its maxRecipients ({req.max_recipients}).")
        if conn.execute("SELECT 1 FROM journey_enrolments WHERE journey_seq = ? AND msisdn = ? AND event_us = ?",
                        (seq, msisdn, to_micros(event_time))).fetchone() is not None:
            raise Conflict("This number is already enrolled for this event.")
        now_us, event_us = to_micros(now), to_micros(event_time)
        with self.store.transaction() as c:
            enr = int(c.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM journey_enrolments").fetchone()[0])
            c.execute("INSERT INTO journey_enrolments(seq, journey_seq, msisdn, subscriber, event_us, created_us) "
                      "VALUES (?, ?, ?, ?, ?, ?)", (enr, seq, msisdn, sub, event_us, now_us))
        self._enrolments.append(_Enrolment(seq, sub, event_us, now_us))
        planned = [PlannedStep(k, from_micros(event_us + o * 1_000_000),
                               "TOO_LATE" if event_us + o * 1_000_000 < now_us else "SCHEDULED")
                   for k, o in enumerate(req.offsets(), start=1)]
        return EnrolmentView(format_id(ENROLMENT_PREFIX, enr), view.id, msisdn, event_time, now, planned)

    # -- reports ------------------------------------------------------------------------------------------------
    def report(self, partner_id: int | None, journey_id: str) -> JourneyReport:
        """Per-step aggregates as of now: pending, in flight, sent, delivered, failed, expired, opened,
        suppressed by reason (the message rules) and stopped by reason (the journey's stop conditions)."""
        view = self.get(partner_id, journey_id)
        seq = int(parse_public_id(view.id, JOURNEY_PREFIX) or 0)
        conn = self.store.conn
        now_us = to_micros(self.world.clock.now)
        recipients = int(conn.execute("SELECT COUNT(*) FROM journey_recipients WHERE journey_seq = ?",
                                      (seq,)).fetchone()[0])
        totals = {r["step"]: r for r in conn.execute(
            "SELECT s.step AS step, COUNT(*) AS decided, SUM(m.status IN ('ACCEPTED', 'HELD', 'SENT')) AS in_flight, "
            "SUM(EXISTS (SELECT 1 FROM message_events e WHERE e.message_seq = s.message_seq AND e.status = 'SENT')) "
            "AS sent, SUM(m.status = 'DELIVERED') AS delivered, SUM(m.status = 'FAILED') AS failed, "
            "SUM(m.status = 'EXPIRED') AS expired, SUM(m.opened_us <= ?) AS opened "
            "FROM journey_steps s LEFT JOIN messages m ON m.seq = s.message_seq WHERE s.journey_seq = ? "
            "GROUP BY s.step", (now_us, seq))}
        refused: dict[tuple[int, str], int] = {}
        for r in conn.execute(
                "SELECT s.step AS step, s.outcome AS outcome, COALESCE(m.reason, s.reason) AS why, COUNT(*) AS n "
                "FROM journey_steps s LEFT JOIN messages m ON m.seq = s.message_seq WHERE s.journey_seq = ? AND "
                "(m.status = 'SUPPRESSED' OR s.outcome != 'MESSAGE') GROUP BY s.step, s.outcome, why", (seq,)):
            reason = str(r["why"]).rsplit(".", 1)[-1]
            key = (int(r["step"]), ("stopped." if r["outcome"] == "STOPPED" else "suppressed.") + reason)
            refused[key] = refused.get(key, 0) + int(r["n"])
        withheld: list[str] = []

        def show(name: str, n: Any) -> int | None:
            value = int(n or 0)
            if 0 < value < self.privacy_threshold:
                withheld.append(name)
                return None
            return value

        steps = []
        for k in range(1, len(view.request.steps) + 1):
            t = totals.get(k)
            at = f"steps[{k}]."

            def count(column: str, t: Any = t, at: str = at) -> int | None:
                return show(at + column, 0 if t is None else t[column])

            mine = {name: n for (step, name), n in refused.items() if step == k}
            suppressed = {r: show(f"{at}suppressed.{r}", mine.pop(f"suppressed.{r}", 0)) for r in MESSAGE_REASONS}
            stopped = {r: show(f"{at}stopped.{r}", mine.pop(f"stopped.{r}", 0)) for r in STOP_REASONS}
            for name, n in sorted(mine.items()):  # refusals of other kinds (e.g. a sender revoked since)
                suppressed[name.split(".", 1)[1]] = show(at + name, n)
            decided = 0 if t is None else int(t["decided"])
            steps.append(StepReport(k, show(at + "pending", recipients - decided), count("in_flight"), count("sent"),
                                    count("delivered"), count("failed"), count("expired"), count("opened"),
                                    suppressed, stopped))
        return JourneyReport(view.id, view.status, self.world.clock.now, show("recipients", recipients), steps,
                             withheld)

    def recipients(self, journey_id: str, limit: int, after: int = 0) -> tuple[list[RecipientRecord], int | None]:
        """Operator-side truth: a page of a journey's recipients in triggering order, each with its number, its
        trigger instant and the outcome of every step (what the report aggregates); the cursor is the last ``n``."""
        view = self.get(None, journey_id)
        seq = int(parse_public_id(view.id, JOURNEY_PREFIX) or 0)
        conn = self.store.conn
        now_us = to_micros(self.world.clock.now)
        rows = conn.execute("SELECT n, subscriber, trigger_us FROM journey_recipients WHERE journey_seq = ? AND n > ? "
                            "ORDER BY n LIMIT ?", (seq, after, limit + 1)).fetchall()
        page = rows[:limit]
        if not page:
            return [], None
        decided: dict[tuple[int, int], Any] = {(r["n"], r["step"]): r for r in conn.execute(
            "SELECT s.n AS n, s.step AS step, s.outcome AS outcome, s.reason AS reason, s.message_seq AS message_seq, "
            "s.at_us AS at_us, m.status AS status, m.reason AS message_reason, m.opened_us AS opened_us, "
            "EXISTS (SELECT 1 FROM message_events e WHERE e.message_seq = s.message_seq AND e.status = 'SENT') AS sent "
            "FROM journey_steps s LEFT JOIN messages m ON m.seq = s.message_seq "
            "WHERE s.journey_seq = ? AND s.n BETWEEN ? AND ?", (seq, page[0]["n"], page[-1]["n"]))}
        numbers = self.world.msisdns(np.asarray([r["subscriber"] for r in page], np.int64))
        offsets = view.request.offsets()
        out = []
        for r, msisdn in zip(page, numbers, strict=True):
            steps = []
            for k, offset in enumerate(offsets, start=1):
                due = from_micros(int(r["trigger_us"]) + offset * 1_000_000)
                d = decided.get((r["n"], k))
                if d is None:
                    steps.append(StepOutcome(k, due, "PENDING"))
                    continue
                message = d["message_seq"]
                opened = d["opened_us"]
                steps.append(StepOutcome(
                    k, due, d["outcome"], d["message_reason"] if message is not None else d["reason"],
                    None if message is None else f"{MSG_PREFIX}{int(message):08d}", d["status"], bool(d["sent"]),
                    from_micros(d["at_us"]), None if opened is None or opened > now_us else from_micros(opened)))
            out.append(RecipientRecord(int(r["n"]), str(msisdn), from_micros(int(r["trigger_us"])), steps))
        return out, (int(page[-1]["n"]) if len(rows) > limit else None)

    # -- events -------------------------------------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        """Call ``fn(event_type, data, sim_time)`` for journey events (see :data:`EVENT_TYPES`).

        ``data`` holds the journey id, the partner id, the status and the report's aggregates (what
        :meth:`report` answers: counts under the privacy threshold withheld), never a subscriber's identity;
        ``journey.report.hourly`` adds the ``hour`` it closes. Events are emitted live only: the replay after a
        restart does not repeat them.
        """
        self._listeners.append(fn)

    def _emit(self, event: str, live: _Live, extra: dict[str, Any] | None = None) -> None:
        if not self._listeners or not self._is_live():
            return
        r = self.report(None, live.id)
        data: dict[str, Any] = {
            "journeyId": r.journey_id, "partnerId": partner_public_id(live.partner_id), "status": r.status,
            **(extra or {}), "recipients": r.recipients,
            "steps": [{"step": s.step, "pending": s.pending, "inFlight": s.in_flight, "sent": s.sent,
                       "delivered": s.delivered, "failed": s.failed, "expired": s.expired, "opened": s.opened,
                       "suppressed": s.suppressed, "stopped": s.stopped} for s in r.steps],
            "withheld": r.withheld}
        now = self.world.clock.now
        for fn in self._listeners:
            fn(event, data, now)

    # -- engine: listeners --------------------------------------------------------------------------------------
    def _wants(self, *triggers: str) -> bool:
        # Loaded here too: after a restart the first tick's moves come before its step listener would load them.
        self._ensure_loaded()
        return any(j.req.trigger in triggers for table in (self._pending, self._live) for j in table.values())

    def _on_cells(self, now: datetime, subs: Subs, old: Subs, new: Subs) -> None:
        if self._wants("AREA_ENTERED", "ROAMING_ARRIVAL"):
            self._moves.append((to_micros(now), subs, old, new))

    def _on_activation(self, now: datetime, subs: Subs, at: NDArray[np.int64]) -> None:
        if self._wants("SUBSCRIBER_JOINED", "ROAMING_ARRIVAL"):
            self._joins.append((subs, at))

    def _on_consent(self, now: datetime, sub: int, purpose: str, channel: str | None, granted: bool,
                    source: str) -> None:
        if granted or purpose != "ADVERTISING":
            return
        for seq in sorted(self._live):
            live = self._live[seq]
            if live.req.stop_on_consent_withdrawn:
                for n in sorted(live.by_sub.get(sub, ())):
                    self._stop(live.chains[n], "CONSENT_WITHDRAWN", to_micros(now))

    # -- engine: the tick ---------------------------------------------------------------------------------------
    def _on_step(self, now: datetime) -> None:
        self._ensure_loaded()
        moves, self._moves = self._moves, []
        joins, self._joins = self._joins, []
        now_us = to_micros(now)
        hour, self._hour_us = self._hour_us, now_us // _HOUR_US * _HOUR_US
        if not self._pending and not self._live:
            return
        if hour is not None and hour != self._hour_us:
            for seq in sorted(self._live):
                if self._live[seq].started:
                    self._emit("journey.report.hourly", self._live[seq], {"hour": format_instant(from_micros(hour))})
        for seq in sorted(s for s, j in self._pending.items() if j.created_us < now_us):
            self._activate(self._pending.pop(seq))
        for seq in sorted(self._live):
            live = self._live[seq]
            if live.cancelled_us is not None and live.cancelled_us < now_us:  # a replay meets the cancellation
                del self._live[seq]
                self._close(live, "CANCELLED", live.cancelled_us)
        due = [e for e in self._enrolments if e.created_us < now_us]
        self._enrolments = [e for e in self._enrolments if e.created_us >= now_us]
        for e in due:
            if e.journey_seq in self._live:
                self._enrolled(self._live[e.journey_seq], e)
        for seq in sorted(self._live):
            live = self._live[seq]
            if not live.started and live.start_us <= now_us:
                live.started = True
                self._emit("journey.started", live)
        subs, old, new = (np.concatenate([m[i] for m in moves]) if moves else np.zeros(0, np.int32)
                          for i in range(1, 4))
        moved_at = np.concatenate([np.full(len(m[1]), m[0], np.int64) for m in moves]) if moves else \
            np.zeros(0, np.int64)
        joined = np.concatenate([j[0] for j in joins]) if joins else np.zeros(0, np.int32)
        joined_at = np.concatenate([j[1] for j in joins]) if joins else np.zeros(0, np.int64)
        roaming = self.world.device_kinds(joined)[0]
        roamers = self.world.device_kinds(subs)[0] if len(subs) else np.zeros(0, bool)
        areas = self._area_moves(subs, old, new, moved_at)
        for seq in sorted(self._live):
            live = self._live[seq]
            trigger = live.req.trigger
            # A join or move at an instant counts for the journeys created before it: at the creation instant,
            # whether the request came before or after the event is not something a replay can tell.
            after = joined_at > live.created_us
            if trigger == "SUBSCRIBER_JOINED":
                self._trigger(live, joined[~roaming & after], joined_at[~roaming & after], now_us)
            elif trigger == "ROAMING_ARRIVAL":
                queue_at, queue_subs = live.arrivals
                k = int(np.searchsorted(queue_at, now_us, side="right"))
                live.arrivals = (queue_at[k:], queue_subs[k:])
                movers = subs[roamers & (moved_at > live.created_us)]
                self._trigger(live, np.concatenate([joined[roaming & after], queue_subs[:k], movers]),
                              np.concatenate([joined_at[roaming & after], queue_at[:k],
                                              np.full(len(movers), now_us, np.int64)]), now_us)
            elif trigger == "AREA_ENTERED" and seq in areas:
                ins, outs = areas[seq]
                self._trigger(live, ins, np.full(len(ins), now_us, np.int64), now_us)
                if live.req.stop_on_area_exit:
                    for sub in outs.tolist():
                        for n in sorted(live.by_sub.get(sub, ())):
                            self._stop(live.chains[n], "LEFT_AREA", now_us)
            if live.end_us is not None and live.end_us <= now_us:
                del self._live[seq]
                self._close(live, "JOURNEY_ENDED", now_us)
                self._emit("journey.completed", live)

    def _activate(self, live: _Live) -> None:
        self._live[live.seq] = live
        if live.req.trigger == "ROAMING_ARRIVAL":
            everyone = np.arange(self.world.subscriber_count, dtype=np.int32)
            visitors = everyone[self.world.device_kinds(everyone)[0]]
            at = self.world.next_periodic_contacts(visitors, from_micros(live.start_us))
            order = np.lexsort((visitors, at))
            live.arrivals = (at[order], visitors[order])

    def _area_moves(self, subs: Subs, old: Subs, new: Subs, moved_at: NDArray[np.int64]
                    ) -> dict[int, tuple[Subs, Subs]]:
        """Entrants (since the journey's creation) and leavers of each live AREA_ENTERED journey this tick (one
        cells → areas index for all)."""
        areas = [j for _, j in sorted(self._live.items()) if j.cells is not None]
        if not areas or len(subs) == 0:
            return {}
        key = tuple(j.seq for j in areas)
        if key != self._index_key:
            self._index = targeting.area_index(self.world.cell_count, [j.cells for j in areas
                                                                             if j.cells is not None])
            self._index_key = key
        e_row, e_col, x_row, x_col = targeting.entered(self._index, old, new)
        return {j.seq: (subs[e_row[(e_col == c) & (moved_at[e_row] > j.created_us)]], subs[x_row[x_col == c]])
                for c, j in enumerate(areas)}

    def _trigger(self, live: _Live, subs: Subs, at: NDArray[np.int64], now_us: int) -> None:
        """Start the chain of each new recipient among ``subs`` (triggered at ``at``), in (instant, subscriber)
        order, within the journey's window and maxRecipients; a subscriber is a recipient once."""
        if len(subs) == 0 or (live.cancelled_us is not None and live.cancelled_us < now_us):
            return
        order = np.lexsort((subs, at))
        size = self.world.subscriber_count
        if len(live.seen) < size:
            live.seen = np.concatenate([live.seen, np.zeros(size - len(live.seen), bool)])
        for sub, t in zip(subs[order].tolist(), at[order].tolist(), strict=True):
            if t < live.start_us or (live.end_us is not None and t >= live.end_us) or live.seen[sub]:
                continue
            if live.req.max_recipients is not None and live.recipients >= live.req.max_recipients:
                return
            live.seen[sub] = True
            self._start(live, sub, t, [t + o * 1_000_000 for o in live.req.offsets()], t)

    def _enrolled(self, live: _Live, e: _Enrolment) -> None:
        due = [e.event_us + o * 1_000_000 for o in live.req.offsets()]
        self._start(live, e.subscriber, e.event_us, due, e.created_us)

    def _start(self, live: _Live, sub: int, trigger_us: int, due_us: list[int], since_us: int) -> None:
        """A new recipient: record it, mark the steps due before ``since_us`` TOO_LATE, walk the rest."""
        live.recipients += 1
        n = live.recipients
        chain = _Chain(live, n, sub, due_us)
        with self.store.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO journey_recipients(journey_seq, n, subscriber, trigger_us) "
                         "VALUES (?, ?, ?, ?)", (live.seq, n, sub, trigger_us))
            while chain.step < len(due_us) and due_us[chain.step] < since_us:
                self._record(conn, chain, "STOPPED", "TOO_LATE", None, since_us)
                chain.step += 1
        live.chains[n] = chain
        live.by_sub.setdefault(sub, set()).add(n)
        self._advance(chain)

    def _advance(self, chain: _Chain) -> None:
        """Send every step that is due, then wait for the next one (or stop, or finish)."""
        live = chain.live
        chain.call = None
        now_us = to_micros(self.world.clock.now)
        while chain.step < len(chain.due_us):
            due = chain.due_us[chain.step]
            if live.cancelled_us is not None and due > live.cancelled_us:
                self._stop(chain, "CANCELLED", live.cancelled_us)
                return
            if live.end_us is not None and due >= live.end_us:
                self._stop(chain, "JOURNEY_ENDED", now_us)
                return
            if due > now_us:
                chain.call = self.world.clock.schedule(from_micros(due), lambda: self._advance(chain))
                return
            self._send(chain)
            chain.step += 1
        self._forget(chain)

    def _send(self, chain: _Chain) -> None:
        live = chain.live
        s = live.req.steps[chain.step]
        msisdn = self.world.msisdns(np.asarray([chain.sub]))[0]
        req = MessageRequest(msisdn, s.kind, s.channel, live.req.sender_name, s.text, s.title, s.template_id,
                             dict(s.template_parameters), None, s.ttl_seconds)
        key = f"{live.id}/{chain.n:07d}/{chain.step + 1}"
        now_us = to_micros(self.world.clock.now)
        if self.store.conn.execute("SELECT 1 FROM journey_steps WHERE journey_seq = ? AND n = ? AND step = ?",
                                   (live.seq, chain.n, chain.step + 1)).fetchone() is not None:
            return  # a replay after a restart: the row says what came of it (the rules may have changed since)
        # The message (with its status and wake-ups) and the step's row commit together: a crash between them
        # would leave a message the replay finds by its key and never sends.
        with self.store.transaction() as conn:
            try:
                view, _ = self.messages.send(live.partner_id, req, key, origin=live.id)
            except GatewayError as exc:
                outcome: tuple[str, str | None, int | None] = ("REFUSED", exc.error_code, None)
            else:
                outcome = ("MESSAGE", None, parse_public_id(view.id, MSG_PREFIX))
            self._record(conn, chain, *outcome, now_us)

    def _record(self, conn: Any, chain: _Chain, outcome: str, reason: str | None, message_seq: int | None,
                at_us: int) -> None:
        conn.execute("INSERT OR IGNORE INTO journey_steps(journey_seq, n, step, outcome, reason, message_seq, at_us) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", (chain.live.seq, chain.n, chain.step + 1, outcome, reason,
                                                      message_seq, at_us))

    def _stop(self, chain: _Chain, reason: str, at_us: int) -> None:
        """The rest of a recipient's chain is not sent (each remaining step is recorded STOPPED)."""
        if chain.call is not None:
            chain.call.cancel()
            chain.call = None
        with self.store.transaction() as conn:
            while chain.step < len(chain.due_us):
                self._record(conn, chain, "STOPPED", reason, None, at_us)
                chain.step += 1
        self._forget(chain)

    def _forget(self, chain: _Chain) -> None:
        live = chain.live
        live.chains.pop(chain.n, None)
        mine = live.by_sub.get(chain.sub)
        if mine is not None:
            mine.discard(chain.n)
            if not mine:
                del live.by_sub[chain.sub]

    def _close(self, live: _Live, reason: str, at_us: int) -> None:
        for n in sorted(live.chains):
            self._stop(live.chains[n], reason, at_us)

