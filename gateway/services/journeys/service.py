"""The journeys service behind ``/journeys/v1``: checking and storing journeys, reading, listing and cancelling
them, enrolments, per-step reports, the operator-side records, and the journey events with their aggregates.

Running the journeys on the clock is :mod:`gateway.services.journeys.engine`; the SQL is
:mod:`gateway.services.journeys.repository`. This module knows nothing of HTTP.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.core.disclosure import disclose
from gateway.core.errors import Conflict, GatewayError, IdentifierNotFound, InvalidArgument, NotFound, Unprocessable
from gateway.core.ids import (
    ENROLMENT_PREFIX,
    JOURNEY_PREFIX,
    MESSAGE_PREFIX,
    format_id,
    parse_public_id,
    partner_public_id,
)
from gateway.core.store import Store
from gateway.services import targeting
from gateway.services.journeys.engine import Enrolment, JourneyEngine, LiveJourney
from gateway.services.journeys.model import (
    ANCHORS,
    MESSAGE_REASONS,
    OVER,
    STEP_KINDS,
    STOP_REASONS,
    TRIGGERS,
    EnrolmentView,
    JourneyClosed,
    JourneyFull,
    JourneyReport,
    JourneyRequest,
    JourneyView,
    Listener,
    PlannedStep,
    RecipientRecord,
    StepOutcome,
    StepReport,
    public_id,
)
from gateway.services.journeys.repository import JourneyRepository
from gateway.services.messages.model import MessageRequest
from gateway.services.messages.service import MessageService
from gateway.wire.journeys import MAX_DELAY_S, MAX_STEPS
from simulator.clock import from_micros, to_micros
from simulator.errors import UnknownSubscriberError
from simulator.world import World


class JourneyService:
    """Journeys API service; its :class:`~gateway.services.journeys.engine.JourneyEngine` runs them inside world
    ticks."""

    def __init__(self, world: World, store: Store, messages: MessageService, privacy_threshold: int,
                 min_radius_m: float, max_radius_m: float, is_live: Callable[[], bool] = lambda: True) -> None:
        self.world = world
        self.store = store
        self.messages = messages
        self.privacy_threshold = privacy_threshold
        self.min_radius_m = min_radius_m
        self.max_radius_m = max_radius_m
        self.repository = JourneyRepository(store)
        self._is_live = is_live
        self._listeners: list[Listener] = []
        self.engine = JourneyEngine(world, store, self.repository, messages, self._emit)

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
        self.engine.ensure_loaded()
        spec = json.dumps(req.to_json(), sort_keys=True)
        body_hash = hashlib.sha256(spec.encode()).hexdigest()
        if idempotency_key is not None:
            row = self.repository.by_key(partner_id, idempotency_key)
            if row is not None:
                if row["body_hash"] != body_hash:
                    raise Conflict("Idempotency-Key was already used with a different request body.")
                return self.get(partner_id, public_id(row["seq"])), False
        self._check(partner_id, req)
        now_us = to_micros(self.world.clock.now)
        seq = self.repository.insert(partner_id, req.name, spec, now_us, idempotency_key, body_hash)
        self.engine.add(seq, partner_id, req, now_us)
        return self.get(partner_id, public_id(seq)), True

    def _row(self, partner_id: int | None, journey_id: str) -> Any:
        seq = parse_public_id(journey_id, JOURNEY_PREFIX)
        row = None if seq is None else self.repository.journey(seq)
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
        return JourneyView(public_id(row["seq"]), row["partner_id"], req, status, from_micros(row["created_us"]),
                           cancelled)

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
        rows = self.repository.page(partner_id, start, limit + 1)
        views = [self._view(r) for r in rows[:limit]]
        return views, (views[-1].id if len(rows) > limit else None)

    def cancel(self, partner_id: int, journey_id: str) -> JourneyView:
        """Stop a journey now: no new recipients, the rest of every chain is ``CANCELLED``."""
        self.engine.ensure_loaded()
        view = self.get(partner_id, journey_id)
        if view.status in OVER:
            raise JourneyClosed(f"Journey {journey_id} is {view.status} and cannot be cancelled.")
        seq = int(parse_public_id(view.id, JOURNEY_PREFIX) or 0)
        now_us = to_micros(self.world.clock.now)
        self.repository.cancel(seq, now_us)
        self.engine.cancel(seq, now_us)
        return self.get(partner_id, journey_id)

    def enrol(self, partner_id: int, journey_id: str, msisdn: str, event_time: datetime) -> EnrolmentView:
        """Enrol one of the partner's customers in an ``EVENT_REMINDER`` journey for an event instant."""
        self.engine.ensure_loaded()
        view = self.get(partner_id, journey_id)
        req = view.request
        if req.trigger != "EVENT_REMINDER":
            raise Conflict(f"Journey {journey_id} is triggered by {req.trigger}; only EVENT_REMINDER journeys take "
                           "enrolments.", code="JOURNEYS.NOT_ENROLLABLE")
        if view.status in OVER:
            raise JourneyClosed(f"Journey {journey_id} is {view.status}.")
        now = self.world.clock.now
        if event_time <= now:
            raise InvalidArgument("eventTime must be in the future.")
        try:
            sub = self.world.find_subscriber(msisdn)
        except UnknownSubscriberError:
            raise IdentifierNotFound("The phone number is not a subscriber of this operator.") from None
        seq = int(parse_public_id(view.id, JOURNEY_PREFIX) or 0)
        if req.max_recipients is not None and self.repository.enrolment_count(seq) >= req.max_recipients:
            raise JourneyFull(f"Journey {journey_id} has reached its maxRecipients ({req.max_recipients}).")
        if self.repository.is_enrolled(seq, msisdn, to_micros(event_time)):
            raise Conflict("This number is already enrolled for this event.")
        now_us, event_us = to_micros(now), to_micros(event_time)
        enr = self.repository.enrol(seq, msisdn, sub, event_us, now_us)
        self.engine.add_enrolment(Enrolment(seq, sub, event_us, now_us))
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
        now_us = to_micros(self.world.clock.now)
        recipients = self.repository.recipient_count(seq)
        totals = self.repository.step_totals(seq, now_us)
        refused: dict[tuple[int, str], int] = {}
        for r in self.repository.refusals(seq):
            reason = str(r["why"]).rsplit(".", 1)[-1]
            key = (int(r["step"]), ("stopped." if r["outcome"] == "STOPPED" else "suppressed.") + reason)
            refused[key] = refused.get(key, 0) + int(r["n"])
        withheld: list[str] = []

        def show(name: str, n: Any) -> int | None:
            shown = disclose(int(n or 0), self.privacy_threshold)
            if shown is None:
                withheld.append(name)
            return shown

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
        now_us = to_micros(self.world.clock.now)
        rows = self.repository.recipients(seq, after, limit + 1)
        page = rows[:limit]
        if not page:
            return [], None
        decided = self.repository.step_outcomes(seq, page[0]["n"], page[-1]["n"])
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
                    None if message is None else f"{MESSAGE_PREFIX}{int(message):08d}", d["status"], bool(d["sent"]),
                    from_micros(d["at_us"]), None if opened is None or opened > now_us else from_micros(opened)))
            out.append(RecipientRecord(int(r["n"]), str(msisdn), from_micros(int(r["trigger_us"])), steps))
        return out, (int(page[-1]["n"]) if len(rows) > limit else None)

    # -- events -------------------------------------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        """Call ``fn(event_type, data, sim_time)`` for journey events (see
        :data:`gateway.services.journeys.model.EVENT_TYPES`).

        ``data`` holds the journey id, the partner id, the status and the report's aggregates (what
        :meth:`report` answers: counts under the privacy threshold withheld), never a subscriber's identity;
        ``journey.report.hourly`` adds the ``hour`` it covers: each clock hour of the journey's window [start, end)
        is reported once, at ``min(hour + 1 h, end)`` (``sim_time``), and a cancellation mid-hour reports the hour
        cut short before ``journey.cancelled``. Events are emitted live only: the replay after a restart does not
        repeat them.
        """
        self._listeners.append(fn)

    def _emit(self, event: str, live: LiveJourney, extra: dict[str, Any] | None = None,
              at: datetime | None = None) -> None:
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
        now = self.world.clock.now if at is None else at
        for fn in self._listeners:
            fn(event, data, now)
