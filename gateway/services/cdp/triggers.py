"""CDP triggers: rules over a partner's profiles that start a chain of delayed actions (webhook or push).

Owns :class:`TriggerService` and its tables (``cdp_triggers``, ``cdp_trigger_runs``, ``cdp_trigger_fires``). It
listens to the CDP (:meth:`~gateway.services.cdp.service.CdpService.add_event_listener`,
:meth:`~gateway.services.cdp.service.CdpService.add_audience_listener`, which stay silent during a restart's
replay). A rule that matches a user starts a *run* (a row): ``EVENT_NOT_FOLLOWED`` waits (state ``WAITING``) until
the window ends, and a ``notFollowedBy`` event in it cancels the run; ``FIRST_EVENT`` starts once per user; both
follow the resolved profile (:meth:`~gateway.services.cdp.service.CdpService.add_merge_listener`: a wait or a start
merged away is the merged profile's, and the merged profile's logged history decides its waits and reminders as if
the ids had been linked all along);
``AUDIENCE_ENTERED`` at each entry; ``EVENT_REMINDER`` is scheduled (state ``SCHEDULED``) ``hoursBefore`` the
instant its event names, once per profile and instant, until a ``cancelledBy`` event naming the same instant cancels
it; ``AREA_ENTERED`` (operator signal) at each entry into the area's cells; ``VENUE_AT_TIME`` (operator signal) once
per install and local day after ``minDwellMinutes`` in the area inside a local-time window, evaluated at each tick
with numpy over the area's occupants (presence kept in ``cdp_trigger_presence``); ``ARRIVED_FROM_ROAMING``
(operator signal) at each landing of an inbound roamer (:meth:`~simulator.world.World.on_roamer_arrival`). Operator
signals count only installs that allow location in the app (``WHILE_USING`` or ``ALWAYS``) and whose user linked
their line to the app account (:meth:`~gateway.services.apps.installs.InstallTable.signals_allowed`), both checked
again when each step fires, so a withdrawal holds at once. A started run goes through the
trigger's steps, each a durable timer
(:class:`gateway.core.timers.Timers`) that, when due, decides the step — quiet hours in the user's local time
(:func:`gateway.services.policy.in_quiet_hours`), then the trigger's daily cap per user — the sends counted under
each identity (:class:`gateway.services.caps.FrequencyCaps`), summed over the identities of the resolved profile —
then consent — records a *fire* under an id made of the run and the
step, and schedules the next step. A restart puts the waiting runs and the pending timers back, so it fires exactly
the actions, with exactly the ids, an uninterrupted run would have.

A webhook carries the partner's own user id (else the installation id it knows the user by), never an MSISDN nor
a location. A ``MARKETING`` push goes only to installs whose in-app marketing consent and OS notification
permission both hold at the send instant; ``TRANSACTIONAL`` and ``INFORMATIONAL`` pushes skip quiet hours, the cap
and consent, as their ``/messages/v1`` kinds do (:func:`action_rules`), and do not count against the cap. A sink
answering ``410 Gone`` ends the trigger's webhooks (:meth:`TriggerService.on_gone`): later webhook steps are
suppressed (``SINK_GONE``), and a trigger with only webhook steps starts no more runs. It must not know about HTTP.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import TypeAdapter, ValidationError

from gateway.core.errors import GatewayError, InvalidArgument, NotFound
from gateway.core.ids import AUDIENCE_PREFIX, TRIGGER_PREFIX, format_id, parse_public_id
from gateway.core.store import FeatureSchema, Store
from gateway.core.timers import Timers
from gateway.core.webhooks import InvalidSink, Outbox, OutboxEvent, check_sink, cloud_event, sink_access_token
from gateway.services.apps.push import PushError, PushService
from gateway.services.apps.service import AppService
from gateway.services.camara.geofencing import GeofencingService
from gateway.services.caps import FrequencyCaps
from gateway.services.cdp.model import AudienceChange, EventsIngested
from gateway.services.cdp.service import CdpService
from gateway.services.messages.model import KIND_RULES, KindRules
from gateway.services.policy import Rules, in_quiet_hours
from gateway.wire.base import Instant, format_instant
from gateway.wire.cdp_triggers import (
    ALL_DAYS,
    AreaEnteredRule,
    ArrivedFromRoamingRule,
    AudienceEnteredRule,
    EventNotFollowedRule,
    EventReminderRule,
    FirstEventRule,
    PushAction,
    TriggerRequest,
    VenueAtTimeRule,
    WebhookAction,
)
from gateway.wire.errors import ErrorDetail
from gateway.wire.fcm import Message as FcmMessage
from simulator.clock import from_micros, to_micros
from simulator.world import World

MIGRATIONS: tuple[str, ...] = (
    # 1: triggers (issue 13): definitions, runs (one user going through one trigger) and what each step did
    """
    CREATE TABLE cdp_triggers (
        seq INTEGER PRIMARY KEY,          -- trg_000001 is seq 1
        partner_id INTEGER NOT NULL REFERENCES partners(id),
        spec TEXT NOT NULL,               -- JSON of the TriggerRequest (wire form)
        created_us INTEGER NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE cdp_trigger_runs (
        seq INTEGER PRIMARY KEY,
        trigger_seq INTEGER NOT NULL,
        identity TEXT NOT NULL,           -- the user id (else anonymous id) the profile was known by
        state INTEGER NOT NULL,           -- 0 waiting for the window's end, 1 started, 2 cancelled
        started_us INTEGER NOT NULL
    );
    CREATE INDEX cdp_trigger_runs_trigger ON cdp_trigger_runs(trigger_seq, state);
    -- one run per trigger, user and starting instant: a tick rerun after a crash starts nothing twice
    CREATE UNIQUE INDEX cdp_trigger_runs_once ON cdp_trigger_runs(trigger_seq, identity, started_us);
    CREATE TABLE cdp_trigger_fires (
        seq INTEGER PRIMARY KEY,
        fire_id TEXT NOT NULL UNIQUE,     -- <trigger id>-<run>-<step>
        trigger_seq INTEGER NOT NULL,
        identity TEXT NOT NULL,
        user_id TEXT,
        step INTEGER NOT NULL,
        action TEXT NOT NULL,
        status TEXT NOT NULL,             -- SENT or SUPPRESSED
        reason TEXT,
        refs TEXT NOT NULL,               -- JSON list: push ids or the CloudEvent id
        at_us INTEGER NOT NULL,
        day INTEGER NOT NULL              -- the user's local calendar day (ordinal), for the daily cap
    );
    CREATE INDEX cdp_trigger_fires_trigger ON cdp_trigger_fires(trigger_seq, seq);
    """,
)
SCHEMA = FeatureSchema("cdp_triggers", MIGRATIONS)
"""The trigger tables, versioned apart from the core ones."""

SIGNAL_MIGRATIONS: tuple[str, ...] = (
    # 1: a trigger's own state (ignored reminder events, sink gone) and venue presence (issue 13)
    """
    CREATE TABLE cdp_trigger_status (
        trigger_seq INTEGER PRIMARY KEY,
        ignored INTEGER NOT NULL DEFAULT 0,  -- EVENT_REMINDER events that scheduled nothing (no instant ahead)
        gone_us INTEGER                      -- when a webhook sink answered 410 Gone
    );
    CREATE TABLE cdp_trigger_presence (   -- VENUE_AT_TIME: one install's presence in the area
        trigger_seq INTEGER NOT NULL,
        row INTEGER NOT NULL,             -- install row of the rule's app
        since_us INTEGER,                 -- in the area since (NULL: not in it)
        fired_day INTEGER NOT NULL DEFAULT 0,  -- the local day (ordinal) it last fired
        PRIMARY KEY (trigger_seq, row)
    );
    """,
)
SIGNAL_SCHEMA = FeatureSchema("cdp_trigger_signals", SIGNAL_MIGRATIONS)
"""The tables of reminders' counters, gone sinks and venue presence (apart, so that they migrate on their own)."""

WAITING, STARTED, CANCELLED = 0, 1, 2
SCHEDULED = 3
"""An ``EVENT_REMINDER`` run until its last step (a ``cancelledBy`` event cancels it until then)."""
_INSTANT: TypeAdapter[datetime] = TypeAdapter(Instant)
EVENT_TYPE = "org.opsim.cdp.v1.trigger.fired"
EVENT_SOURCE = "/cdp/v1/triggers"
CAP_DAYS = 2
"""Days of fires read back after a restart to rebuild the daily caps (a local day is never longer)."""
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")
_IDS_PER_QUERY = 500
"""Identities of one profile looked up per query (SQLite bounds a statement's parameters)."""


@dataclass
class TriggerRecord:
    """A stored trigger and what is kept in memory to run it."""

    seq: int
    partner_id: int
    spec: TriggerRequest
    created_at: datetime
    audience_seq: int | None = None
    app_seq: int | None = None
    """The app of an ``AREA_ENTERED`` or ``ARRIVED_FROM_ROAMING`` rule."""
    cells: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    """The cells of an ``AREA_ENTERED`` rule's area, ascending."""
    caps: FrequencyCaps = field(default_factory=lambda: FrequencyCaps(0, per_partner=False))
    """Sends of this trigger per identity a run was started under (numbered by :meth:`key`) on the user's local day
    (the daily cap sums those of a profile's identities: counted per identity, the counts need no re-keying when
    profiles merge, and a restart rebuilds them from the fires as they were)."""
    keys: dict[str, int] = field(default_factory=dict)
    waiting: dict[int, tuple[int, int]] = field(default_factory=dict)
    """Root profile → (run, started µs) of its open ``EVENT_NOT_FOLLOWED`` wait."""
    seen: set[int] = field(default_factory=set)
    """Root profiles a ``FIRST_EVENT`` trigger has started for."""
    ignored: int = 0
    """``EVENT_REMINDER`` events that scheduled nothing (no valid instant, or the scheduled instant passed)."""
    sink_gone_at: datetime | None = None
    """When a webhook sink of the trigger answered ``410 Gone`` (its webhook steps are suppressed from then)."""
    present_since: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    """``VENUE_AT_TIME``: per install row of the app, in the area since (µs), -1 when not in it."""
    fired_day: NDArray[np.int32] = field(default_factory=lambda: np.empty(0, np.int32))
    """``VENUE_AT_TIME``: per install row, the local day (ordinal) it last fired, 0 never."""
    present: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    """``VENUE_AT_TIME``: the install rows in the area at the last tick, ascending."""

    @property
    def status(self) -> str:
        """``ACTIVE``, or ``SINK_GONE`` once a webhook sink answered ``410 Gone``."""
        return "ACTIVE" if self.sink_gone_at is None else "SINK_GONE"

    @property
    def id(self) -> str:
        """Public id (``trg_000001``)."""
        return format_id(TRIGGER_PREFIX, self.seq)

    def key(self, identity: str) -> int:
        """The number of a user's identity in the cap counters."""
        return self.keys.setdefault(identity, len(self.keys))


@dataclass(frozen=True)
class Fire:
    """What one step did for one user."""

    fire_id: str
    trigger_id: str
    user_id: str | None
    step: int
    action: str
    status: str
    reason: str | None
    refs: list[str]
    at: datetime


PUSH_MESSAGE_KIND: dict[str, str] = {"MARKETING": "PROMO", "TRANSACTIONAL": "TRANSACTIONAL",
                                     "INFORMATIONAL": "INFORMATIONAL"}
"""The ``/messages/v1`` kind whose rules a trigger push of each kind obeys."""
WEBHOOK_RULES = KindRules(advertising_consent=False, quiet_hours=True, daily_cap=True)
"""A webhook step reaches the partner, not the user (no consent of theirs), yet obeys the trigger's quiet hours and
daily cap: the partner acts on it towards the user at once."""


def action_rules(action: WebhookAction | PushAction) -> KindRules:
    """Which of the trigger's quiet hours and daily cap, and of the user's marketing consent, a step obeys: a push
    those of its kind in ``/messages/v1`` (:data:`gateway.services.messages.model.KIND_RULES`)."""
    if isinstance(action, PushAction):
        return KIND_RULES[PUSH_MESSAGE_KIND[action.kind]]
    return WEBHOOK_RULES


def render(template: str, traits: dict[str, Any]) -> str:
    """``template`` with each ``{{trait}}`` replaced by the profile's trait (empty when it has none)."""
    def value(match: re.Match[str]) -> str:
        got = traits.get(match.group(1))
        return "" if got is None or isinstance(got, dict | list) else str(got)
    return _PLACEHOLDER.sub(value, template)


def scheduled_instant(value: Any) -> datetime | None:
    """The instant an event property names (an ISO-8601 string with an offset, in the accepted range), else
    ``None`` (missing, not a string, naive or out of range)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return _INSTANT.validate_python(value)
    except ValidationError:
        return None


def minute_of_day(hhmm: str) -> int:
    """Minutes since local midnight of a validated ``HH:MM``."""
    return int(hhmm[:2]) * 60 + int(hhmm[3:])


class TriggerService:
    """Every partner's triggers, their waiting runs and pending steps."""

    def __init__(self, store: Store, world: World, cdp: CdpService, apps: AppService, push: PushService,
                 outbox: Callable[[], Outbox], geofencing: GeofencingService, is_live: Callable[[], bool],
                 allow_http_loopback: bool = False) -> None:
        self.store = store
        self.world = world
        self.cdp = cdp
        self.apps = apps
        self.push = push
        self._outbox = outbox
        self._allow_http_loopback = allow_http_loopback
        self.geofencing = geofencing
        self._is_live = is_live
        store.add_schema(SCHEMA)
        store.add_schema(SIGNAL_SCHEMA)
        self._rows_index: dict[int, tuple[int, NDArray[np.int64], NDArray[np.int64]]] = {}
        self._triggers: dict[int, TriggerRecord] = {}
        self._timers = Timers(store, world.clock, "cdp-triggers", {"step": self._step, "expire": self._expire})
        cdp.add_event_listener(self.on_events)
        cdp.add_audience_listener(self.on_audience)
        cdp.add_merge_listener(self.on_merge)
        world.on_cell_change(self.on_cell_change)
        world.on_step(self.on_step)
        world.on_roamer_arrival(self.on_roamer_arrival)

    # -- definitions -------------------------------------------------------------------------------------------
    def _check(self, partner_id: int, spec: TriggerRequest) -> TriggerRecord:
        """400 naming each faulty field; returns the record to be (seq 0), its audience or app and cells set."""
        errors: list[ErrorDetail] = []
        audience_seq = app_seq = None
        cells = np.empty(0, np.int64)
        rule = spec.rule
        if isinstance(rule, AreaEnteredRule | VenueAtTimeRule | ArrivedFromRoamingRule):  # operator signals: an app
            app_seq = self._partner_app(partner_id, rule.app_id, errors)
        if isinstance(rule, AreaEnteredRule | VenueAtTimeRule):  # ... and an area's cells
            try:
                self.geofencing.check_area(rule.area)
                cells = np.array(sorted(self.geofencing.cells_of(rule.area)), np.int64)
            except GatewayError as exc:  # too small, out of bounds, not covered: the rule's field is at fault
                errors.append(ErrorDetail(field="body.rule.area", message=exc.message))
        if isinstance(rule, EventNotFollowedRule) and rule.event == rule.not_followed_by:
            errors.append(ErrorDetail(field="body.rule.notFollowedBy", message="must differ from event"))
        if isinstance(rule, EventReminderRule) and rule.event == rule.cancelled_by:
            errors.append(ErrorDetail(field="body.rule.cancelledBy", message="must differ from event"))
        if isinstance(rule, VenueAtTimeRule) and rule.end_time <= rule.start_time:
            errors.append(ErrorDetail(field="body.rule.endTime",
                                      message="must be after startTime (the window does not wrap midnight)"))
        if isinstance(rule, AudienceEnteredRule):
            try:
                audience_seq = self.cdp.audience(partner_id, rule.audience_id).seq
            except NotFound:
                errors.append(ErrorDetail(field="body.rule.audienceId", message="no such audience of the partner"))
        for i, step in enumerate(spec.steps):
            action = step.action
            if isinstance(action, WebhookAction):
                try:
                    check_sink(action.sink, self._allow_http_loopback)
                except InvalidSink as exc:
                    errors.append(ErrorDetail(field=f"body.steps.{i}.action.sink", message=exc.message))
            else:
                app = self.apps.find(action.app_id)
                if app is None or app.partner_id != partner_id:
                    errors.append(ErrorDetail(field=f"body.steps.{i}.action.appId",
                                              message="no such app of the partner"))
        if errors:
            raise InvalidArgument("The trigger is not valid.", details=errors)
        return TriggerRecord(0, partner_id, spec, self.world.clock.now, audience_seq, app_seq, cells)

    def create(self, partner_id: int, spec: TriggerRequest) -> TriggerRecord:
        """Validate (400 naming the field) and store a trigger; it acts on what happens from now on."""
        record = self._check(partner_id, spec)
        with self.store.transaction() as conn:
            cur = conn.execute("INSERT INTO cdp_triggers(partner_id, spec, created_us) VALUES (?, ?, ?)",
                               (partner_id, spec.model_dump_json(by_alias=True, exclude_none=True),
                                to_micros(record.created_at)))
        record.seq = int(cur.lastrowid or 0)
        self._triggers[record.seq] = record
        return record

    def of_partner(self, partner_id: int) -> list[TriggerRecord]:
        """The partner's triggers, oldest first."""
        return [t for t in self._triggers.values() if t.partner_id == partner_id]

    def get(self, partner_id: int, trigger_id: str) -> TriggerRecord:
        """One of the partner's triggers; 404 when unknown or another partner's."""
        seq = parse_public_id(trigger_id, TRIGGER_PREFIX)
        record = None if seq is None else self._triggers.get(seq)
        if record is None or record.partner_id != partner_id:
            raise NotFound(f"No trigger {trigger_id}.")
        return record

    def delete(self, partner_id: int, trigger_id: str) -> None:
        """Delete a trigger: its waiting runs and pending steps do nothing from now on."""
        record = self.get(partner_id, trigger_id)
        with self.store.transaction() as conn:
            conn.execute("UPDATE cdp_triggers SET deleted = 1 WHERE seq = ?", (record.seq,))
        del self._triggers[record.seq]

    def fires(self, partner_id: int, trigger_id: str, limit: int = 1000) -> list[Fire]:
        """What the trigger's steps did, oldest first (the first ``limit``)."""
        return self.fire_page(partner_id, trigger_id, limit)[0]

    def fire_page(self, partner_id: int, trigger_id: str, limit: int,
                  after: str | None = None) -> tuple[list[Fire], str | None]:
        """A page of what the trigger's steps did, oldest first, after the fire ``after`` (the cursor: the last
        fire id of the previous page), and the cursor of the next page (``None`` on the last page)."""
        record = self.get(partner_id, trigger_id)
        start = 0
        if after is not None:
            row = self.store.conn.execute("SELECT seq FROM cdp_trigger_fires WHERE fire_id = ? AND trigger_seq = ?",
                                          (after, record.seq)).fetchone()
            if row is None:
                raise InvalidArgument("cursor is not a fire id of this trigger.")
            start = int(row["seq"])
        rows = self.store.conn.execute("SELECT * FROM cdp_trigger_fires WHERE trigger_seq = ? AND seq > ? "
                                       "ORDER BY seq LIMIT ?", (record.seq, start, limit + 1)).fetchall()
        fires = [Fire(r["fire_id"], record.id, r["user_id"], r["step"], r["action"], r["status"], r["reason"],
                      json.loads(r["refs"]), from_micros(r["at_us"])) for r in rows[:limit]]
        return fires, (fires[-1].fire_id if len(rows) > limit else None)

    # -- rules -------------------------------------------------------------------------------------------------
    def _identity(self, partner_id: int, p: int) -> str:
        space = self.cdp.space(partner_id)
        user = space.primary_user(p)
        if user is not None:
            return user
        for m in space.members(p):
            if space.anon_ids[m]:
                return space.anon_ids[m][0]
        return f"#{p}"  # not reached: every profile has an id

    def _profile_ids(self, partner_id: int, p: int) -> list[str]:
        """Every user and anonymous id live profile ``p`` holds (those of profiles merged into it included)."""
        space = self.cdp.space(partner_id)
        return list(dict.fromkeys(i for m in space.members(p) for i in (*space.user_ids[m], *space.anon_ids[m])))

    def _profile_runs(self, record: TriggerRecord, p: int, started_us: int) -> list[tuple[int, int]]:
        """(run, state) of the trigger's runs at ``started_us`` for live profile ``p``, oldest first: a run is
        stored under the identity the profile had then, so every id the profile holds now (merged ones included)
        is looked up, and kept when it still names ``p`` (as :meth:`_step` resolves it)."""
        space = self.cdp.space(record.partner_id)
        ids = self._profile_ids(record.partner_id, p)
        found: list[tuple[int, int]] = []
        for lo in range(0, len(ids), _IDS_PER_QUERY):  # a profile may hold many anonymous ids
            chunk = ids[lo:lo + _IDS_PER_QUERY]
            found += [(int(r["seq"]), int(r["state"])) for r in self.store.conn.execute(
                f"SELECT seq, identity, state FROM cdp_trigger_runs WHERE trigger_seq = ? AND started_us = ? AND "
                f"identity IN ({', '.join('?' * len(chunk))})", (record.seq, started_us, *chunk))
                if space.find(r["identity"]) == p]
        return sorted(found)

    def _new_run(self, record: TriggerRecord, identity: str, state: int, started_us: int) -> int | None:
        """Store a run; ``None`` when this trigger already started one for this user at this instant (a tick rerun
        after a crash, whose first pass committed its runs with their timers: nothing is started twice)."""
        if record.sink_gone_at is not None and all(isinstance(s.action, WebhookAction) for s in record.spec.steps):
            return None  # every step would be suppressed: the trigger has ended
        cur = self.store.conn.execute("INSERT OR IGNORE INTO cdp_trigger_runs(trigger_seq, identity, state, "
                                      "started_us) VALUES (?, ?, ?, ?)", (record.seq, identity, state, started_us))
        return int(cur.lastrowid) if cur.rowcount and cur.lastrowid else None

    def _start(self, record: TriggerRecord, run: int, identity: str, at: datetime) -> None:
        delay = timedelta(seconds=record.spec.steps[0].delay_seconds)
        self._timers.schedule(at + delay, "step", trigger=record.seq, run=run, identity=identity, step=0)

    def on_events(self, notice: EventsIngested) -> None:
        """CDP listener: start or cancel runs of the partner's event rules, in event-time order."""
        triggers = [t for t in self.of_partner(notice.partner_id)
                    if isinstance(t.spec.rule, EventNotFollowedRule | FirstEventRule | EventReminderRule)]
        if not triggers:
            return
        code = {name: i for i, name in enumerate(notice.events)}
        now = self.world.clock.now
        with self.store.transaction():
            for record in triggers:
                rule = record.spec.rule
                if isinstance(rule, EventReminderRule):
                    self._remind(record, rule, notice, code)
                    continue
                if isinstance(rule, FirstEventRule):
                    first = code.get(rule.event, -1)
                    for i in np.flatnonzero(notice.codes == first).tolist():
                        p = int(notice.profiles[i])
                        if p in record.seen:
                            continue
                        record.seen.add(p)
                        identity = self._identity(notice.partner_id, p)
                        run = self._new_run(record, identity, STARTED, int(notice.time_us[i]))
                        if run is not None:
                            self._start(record, run, identity, now)
                    continue
                assert isinstance(rule, EventNotFollowedRule)
                x, y = code.get(rule.event, -1), code.get(rule.not_followed_by, -1)
                idx = np.flatnonzero((notice.codes == x) | (notice.codes == y))
                idx = idx[np.argsort(notice.time_us[idx], kind="stable")]
                for i in idx.tolist():
                    p, at_us = int(notice.profiles[i]), int(notice.time_us[i])
                    if int(notice.codes[i]) == y:
                        open_ = record.waiting.get(p)
                        if open_ is not None and at_us >= open_[1]:
                            del record.waiting[p]
                            self._set_state(open_[0], CANCELLED)
                    elif p not in record.waiting:
                        identity = self._identity(notice.partner_id, p)
                        run = self._new_run(record, identity, WAITING, at_us)
                        if run is None:
                            continue
                        record.waiting[p] = (run, at_us)
                        self._timers.schedule(from_micros(at_us) + timedelta(seconds=rule.within_seconds),
                                              "expire", trigger=record.seq, run=run, identity=identity)

    def _remind(self, record: TriggerRecord, rule: EventReminderRule, notice: EventsIngested,
                code: dict[str, int]) -> None:
        """Schedule (or cancel) ``EVENT_REMINDER`` runs for the notice's events, in event-time order."""
        x = code.get(rule.event, -1)
        y = code.get(rule.cancelled_by, -1) if rule.cancelled_by is not None else -1
        idx = np.flatnonzero((notice.codes == x) | (notice.codes == y))
        if not len(idx):
            return
        idx = idx[np.argsort(notice.time_us[idx], kind="stable")]
        now = self.world.clock.now
        ignored = 0
        for i in idx.tolist():
            props = notice.properties[i] if i < len(notice.properties) else {}
            starts = scheduled_instant(props.get(rule.time_property))
            cancel = int(notice.codes[i]) == y
            if starts is None or (not cancel and starts <= now):
                ignored += 0 if cancel else 1  # tracked events are not validated against rules: counted, not refused
                continue
            p, starts_us = int(notice.profiles[i]), to_micros(starts)
            runs = self._profile_runs(record, p, starts_us)
            if cancel:
                self.store.conn.executemany("UPDATE cdp_trigger_runs SET state = ? WHERE seq = ?",
                                            [(CANCELLED, run) for run, state in runs if state == SCHEDULED])
                continue
            if runs:  # this profile's reminder for this instant exists (or was cancelled), under whichever identity
                continue
            identity = self._identity(notice.partner_id, p)
            run = self._new_run(record, identity, SCHEDULED, starts_us)
            if run is not None:
                self._start(record, run, identity, max(starts - timedelta(hours=rule.hours_before), now))
        if ignored:
            record.ignored += ignored
            self.store.conn.execute("INSERT INTO cdp_trigger_status(trigger_seq, ignored) VALUES (?, ?) ON CONFLICT"
                                    "(trigger_seq) DO UPDATE SET ignored = ignored + excluded.ignored",
                                    (record.seq, ignored))

    def on_audience(self, change: AudienceChange) -> None:
        """CDP listener: each profile entering an audience starts a run of the triggers on it."""
        triggers = [t for t in self.of_partner(change.partner_id) if t.audience_seq == change.audience_seq]
        if not triggers or not len(change.entered):
            return
        now = self.world.clock.now
        with self.store.transaction():
            for record in triggers:
                for p in change.entered.tolist():
                    identity = self._identity(change.partner_id, int(p))
                    run = self._new_run(record, identity, STARTED, change.at_us)
                    if run is not None:
                        self._start(record, run, identity, now)

    def on_merge(self, partner_id: int, kept: int, gone: int) -> None:
        """CDP listener: an identify or alias merged profile ``gone`` into ``kept``. What the partner's triggers keep
        per profile follows, as a restart rebuilds it from the runs (keyed by the merged profile): a ``FIRST_EVENT``
        start of ``gone`` is ``kept``'s, and so is its open ``EVENT_NOT_FOLLOWED`` wait — its window's end fires
        for the merged profile and a follow-up from any of its identities cancels it. The merged profile's history
        decides as if its ids had been linked all along (:meth:`_merged_waits`, :meth:`_merged_reminders`): a
        follow-up already done from the other identity inside a wait's window cancels it, and of two waits the
        earlier stays, unless a follow-up ended it before the later one began. A pending reminder whose
        ``cancelledBy`` event (same instant) the merged profile logged after the booking is cancelled too. The
        cancellations are stored, so a restart (whose replay merges silently) rebuilds the same runs."""
        cancel: list[int] = []
        for record in self.of_partner(partner_id):
            rule = record.spec.rule
            if gone in record.seen:
                record.seen.discard(gone)
                record.seen.add(kept)
            if isinstance(rule, EventReminderRule) and rule.cancelled_by is not None:
                cancel += self._merged_reminders(record, rule, kept)
                continue
            moved = record.waiting.pop(gone, None)
            held = record.waiting.pop(kept, None)
            waits = [w for w in (held, moved) if w is not None]
            if not waits:
                continue
            assert isinstance(rule, EventNotFollowedRule)
            survivor, dropped = self._merged_waits(record, rule, kept, waits)
            if survivor is not None:
                record.waiting[kept] = survivor
            cancel += dropped
        if cancel:
            with self.store.transaction():
                for run in cancel:
                    self._set_state(run, CANCELLED)

    def _merged_waits(self, record: TriggerRecord, rule: EventNotFollowedRule, p: int, waits: list[tuple[int, int]],
                      ) -> tuple[tuple[int, int] | None, list[int]]:
        """The wait (run, started µs) merged profile ``p`` keeps of ``waits`` (one or two) and the runs to cancel,
        as the rule decides over the merged history in event-time order (arrival order breaking ties): a wait is
        cancelled by the first ``notFollowedBy`` event after its ``event`` and inside its window (event time before
        ``start + withinSeconds``), and a later wait stands only if its ``event`` came after the earlier one was so
        cancelled (else, one open wait per user, it yields)."""
        waits = sorted(waits, key=lambda w: (w[1], w[0]))
        window_us = rule.within_seconds * 1_000_000
        history = self.cdp.profile_events(record.partner_id, p, [rule.event, rule.not_followed_by], waits[0][1])
        # (event time, arrival) of each start and follow-up event: the log's order, as on_events sorts a batch
        starts = [(e.timestamp_us, i) for i, e in enumerate(history) if e.event == rule.event]
        follow_ups = [(e.timestamp_us, i) for i, e in enumerate(history) if e.event == rule.not_followed_by]
        survivor: tuple[int, int] | None = None
        dropped: list[int] = []
        closed: tuple[int, int] | None = None  # the follow-up that cancelled the previous wait
        for run, start_us in waits:
            opener = next((k for k in starts if k[0] == start_us and (closed is None or k > closed)), None)
            if survivor is not None or (closed is not None and opener is None):
                dropped.append(run)  # another wait of the user was open when this one's event came
                continue
            after = opener or (start_us, -1)  # (the start event past the log's retention: any follow-up counts)
            closed = next((k for k in follow_ups if k > after and k[0] < start_us + window_us), None)
            if closed is None:
                survivor = (run, start_us)
            else:
                dropped.append(run)
        return survivor, dropped

    def _merged_reminders(self, record: TriggerRecord, rule: EventReminderRule, p: int) -> list[int]:
        """``EVENT_REMINDER`` runs of merged profile ``p`` still pending whose ``cancelledBy`` event, naming the
        same instant, the merged history logged after the profile's first booking of that instant (in event-time
        order, arrival order breaking ties; a booking past the log's retention counts as earlier than every
        refund)."""
        assert rule.cancelled_by is not None
        space = self.cdp.space(record.partner_id)
        ids = self._profile_ids(record.partner_id, p)
        pending: dict[int, list[int]] = {}  # instant → pending runs of the profile
        for lo in range(0, len(ids), _IDS_PER_QUERY):
            chunk = ids[lo:lo + _IDS_PER_QUERY]
            for r in self.store.conn.execute(
                    f"SELECT seq, identity, started_us FROM cdp_trigger_runs WHERE trigger_seq = ? AND state = ? AND "
                    f"identity IN ({', '.join('?' * len(chunk))})", (record.seq, SCHEDULED, *chunk)):
                if space.find(r["identity"]) == p:
                    pending.setdefault(int(r["started_us"]), []).append(int(r["seq"]))
        if not pending:
            return []
        booked: dict[int, tuple[int, int]] = {}  # instant → (event time, arrival) of the first booking
        refunded: dict[int, tuple[int, int]] = {}  # instant → the same of the last cancelling event
        for i, e in enumerate(self.cdp.profile_events(record.partner_id, p, [rule.event, rule.cancelled_by], 0)):
            starts = scheduled_instant(e.properties.get(rule.time_property))
            at_us = None if starts is None else to_micros(starts)
            if at_us is None or at_us not in pending:
                continue
            key = (e.timestamp_us, i)
            if e.event == rule.event:
                booked[at_us] = min(booked.get(at_us, key), key)
            else:
                refunded[at_us] = max(refunded.get(at_us, key), key)
        return [run for at_us, runs in pending.items()
                if at_us in refunded and refunded[at_us] > booked.get(at_us, (-1, -1)) for run in runs]

    def _sent_today(self, record: TriggerRecord, p: int | None, identity: str, day: int) -> int:
        """Sends of the trigger to the user on their local ``day``: those counted under every identity of profile
        ``p`` (a user linked across an anonymous id and a user id has one cap), else under the run's identity
        (an area entrant the CDP has not heard of)."""
        ids = [identity] if p is None else self._profile_ids(record.partner_id, p)
        keys = np.array([record.keys[i] for i in ids if i in record.keys], np.int32)
        if not len(keys):
            return 0
        sent, _ = record.caps.today(keys, np.full(len(keys), day, np.int32), np.zeros(len(keys), np.int64))
        return int(sent.sum())

    # -- timers ------------------------------------------------------------------------------------------------
    def _expire(self, trigger: int, run: int, identity: str) -> None:
        """The window of a wait ended without the follow-up event: the run starts its steps."""
        record = self._triggers.get(trigger)
        if record is None:
            return
        p = self.cdp.space(record.partner_id).find(identity)
        if p is None or record.waiting.get(p, (None, 0))[0] != run:
            return  # cancelled by the follow-up event
        del record.waiting[p]
        self._set_state(run, STARTED)
        self._start(record, run, identity, self.world.clock.now)

    def on_cell_change(self, now: datetime, subs: NDArray[np.int32], old: NDArray[np.int32],
                       new: NDArray[np.int32]) -> None:
        """World listener: movers into an ``AREA_ENTERED`` rule's cells from outside them, who have the rule's app
        installed with location allowed in it and their line linked, start a run (one per install; not while a
        restart replays)."""
        triggers = [t for t in self._triggers.values()
                    if isinstance(t.spec.rule, AreaEnteredRule) and len(t.cells) and t.app_seq is not None]
        if not triggers or not len(subs) or not self._is_live():
            return
        with self.store.transaction():
            for record in triggers:
                entered = np.isin(new, record.cells) & ~np.isin(old, record.cells)
                if not entered.any():
                    continue
                self._start_located(record, subs[entered], now)

    def on_roamer_arrival(self, now: datetime, subs: NDArray[np.int32]) -> None:
        """World listener: inbound roamers landing (from ``fromCountries`` when the rule names some) who have the
        rule's app installed with location allowed in it and their line linked start a run of each
        ``ARRIVED_FROM_ROAMING`` trigger (one per install; not while a restart replays: the runs of that span were
        stored before the stop)."""
        triggers = [t for t in self._triggers.values() if isinstance(t.spec.rule, ArrivedFromRoamingRule)]
        if not triggers or not len(subs) or not self._is_live():
            return
        countries = self.world.home_countries(subs)
        with self.store.transaction():
            for record in triggers:
                rule = record.spec.rule
                assert isinstance(rule, ArrivedFromRoamingRule)
                wanted = subs if rule.from_countries is None else subs[
                    np.asarray([c in rule.from_countries for c in countries], dtype=bool)]
                self._start_located(record, wanted, now)

    def _set_state(self, run: int, state: int) -> None:
        """Record run ``run``'s new state (inside the caller's transaction)."""
        self.store.conn.execute("UPDATE cdp_trigger_runs SET state = ? WHERE seq = ?", (state, run))

    def _start_located(self, record: TriggerRecord, subs: NDArray[np.int32], now: datetime) -> None:
        """Start a run of an operator-signal ``record`` for each install of its app by ``subs`` that allows location
        in the app and is linked to the line (subscribers in order, each's installs in install order)."""
        assert record.app_seq is not None
        table = self.apps.installs(self.apps.by_seq(record.app_seq))
        rows = table.rows_of_many(subs)
        for row in rows[table.signals_allowed(rows)].tolist():
            self._start_install(record, row, now)

    def _start_install(self, record: TriggerRecord, row: int, now: datetime) -> None:
        """Start a run of ``record`` for install ``row`` of its app (none if it already has one)."""
        assert record.app_seq is not None
        identity = self.apps.codec.installation_id(record.app_seq, row)
        run = self._new_run(record, identity, STARTED, to_micros(now))
        if run is not None:
            self._start(record, run, identity, now)

    def _partner_app(self, partner_id: int, app_id: str, errors: list[ErrorDetail]) -> int | None:
        """The seq of the partner's app ``app_id`` of a rule; else an error on ``body.rule.appId``."""
        app = self.apps.find(app_id)
        if app is None or app.partner_id != partner_id:
            errors.append(ErrorDetail(field="body.rule.appId", message="no such app of the partner"))
            return None
        return app.seq

    def _local(self, installs: list[tuple[int, int]]) -> tuple[int, int]:
        """(hour, calendar day) of the user's local time: the time zone of the subscriber behind the first of
        their installs, UTC when they have none."""
        for app_seq, row in installs:
            table = self.apps.installs(self.apps.by_seq(app_seq))
            local = self.world.local_clock(np.array([table.subscriber[row]], np.int64))
            return int(local.hour[0]), int(local.day[0])
        now = self.world.clock.now.astimezone(UTC)
        return now.hour, now.toordinal()

    def _installs(self, partner_id: int, p: int | None, identity: str) -> list[tuple[int, int]]:
        """(app seq, row) of the user's installs: the one the identity names (an installation id), then those
        the profile is known by, in order."""
        out = []
        named = self.apps.codec.parse_installation(identity)
        if named is not None:
            out.append(named)
        if p is not None:
            space = self.cdp.space(partner_id)
            for m in space.members(p):
                for anon in space.anon_ids[m]:
                    named = self.apps.codec.parse_installation(anon)
                    if named is not None and named not in out:
                        out.append(named)
        return out

    def _step(self, trigger: int, run: int, identity: str, step: int) -> None:
        """Decide and do one step for one user, record it, and schedule the next one."""
        record = self._triggers.get(trigger)
        if record is None:
            return
        scheduled_us = None
        if isinstance(record.spec.rule, EventReminderRule):
            got = self.store.conn.execute("SELECT state, started_us FROM cdp_trigger_runs WHERE seq = ?",
                                          (run,)).fetchone()
            if got is None or got["state"] != SCHEDULED:
                return  # cancelled by the cancelledBy event
            scheduled_us = int(got["started_us"])
            p = self.cdp.space(record.partner_id).find(identity)
            if p is not None and any(other < run and state != CANCELLED
                                     for other, state in self._profile_runs(record, p, scheduled_us)):
                # booked from two identities before an identify or alias made them one profile: the earlier run
                # reminds, this one ends (once per profile and instant)
                self._set_state(run, CANCELLED)
                return
            if step + 1 == len(record.spec.steps):
                self._set_state(run, STARTED)
        space = self.cdp.space(record.partner_id)
        p = space.find(identity)
        installs = self._installs(record.partner_id, p, identity)
        if p is None and not installs:
            return
        now = self.world.clock.now
        spec = record.spec
        action = spec.steps[step].action
        hour, day = self._local(installs)
        fire_id = f"{record.id}-{run}-{step}"
        user_id = None if p is None else space.primary_user(p)
        if user_id is None and installs and installs[0][0] == record.app_seq:
            user_id = self.apps.codec.user_id(*installs[0])  # an area entrant the CDP has not heard of yet
        refs: list[str] = []
        reason: str | None = None
        quiet = spec.quiet_hours
        obeys = action_rules(action)
        if (isinstance(spec.rule, AreaEnteredRule | VenueAtTimeRule | ArrivedFromRoamingRule)
                and not self._location_allowed(installs[0])):
            reason = "NO_CONSENT"  # the location permission or the line link was withdrawn since the entry
        elif isinstance(action, WebhookAction) and record.sink_gone_at is not None:
            reason = "SINK_GONE"
        elif obeys.quiet_hours and quiet is not None and in_quiet_hours(np.array([hour], np.int16),
                                                                        Rules(quiet.start_hour, quiet.end_hour))[0]:
            reason = "QUIET_HOURS"
        elif (obeys.daily_cap and spec.daily_cap is not None
              and self._sent_today(record, p, identity, day) >= spec.daily_cap):
            reason = "FREQUENCY_CAP"
        elif isinstance(action, WebhookAction):
            self._webhook(record, action, fire_id, step, user_id, identity, now, scheduled_us)
            refs = [fire_id]
        else:
            refs, reason = self._push(action, obeys.advertising_consent, installs,
                                      {} if p is None else space.traits_of(p))
        status = "SUPPRESSED" if reason is not None else "SENT"
        if reason is None and obeys.daily_cap:
            record.caps.record(np.array([record.key(identity)], np.int32), np.array([day], np.int32),
                               np.zeros(1, np.int64))
        self.store.conn.execute(
            "INSERT OR IGNORE INTO cdp_trigger_fires(fire_id, trigger_seq, identity, user_id, step, action, status, "
            "reason, refs, at_us, day) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (fire_id, record.seq, identity, user_id, step, action.type, status, reason, json.dumps(refs),
             to_micros(now), day))
        if step + 1 < len(spec.steps):
            delay = timedelta(seconds=spec.steps[step + 1].delay_seconds)
            self._timers.schedule(now + delay, "step", trigger=trigger, run=run, identity=identity, step=step + 1)

    def _location_allowed(self, install: tuple[int, int]) -> bool:
        """Whether operator signals may be used for the install now (location permission and the line link)."""
        table = self.apps.installs(self.apps.by_seq(install[0]))
        return bool(table.signals_allowed(np.array([install[1]], np.int64))[0])

    def _webhook(self, record: TriggerRecord, action: WebhookAction, fire_id: str, step: int, user_id: str | None,
                 identity: str, at: datetime, scheduled_us: int | None = None) -> None:
        rule = record.spec.rule
        data: dict[str, Any] = {"triggerId": record.id, "triggerName": record.spec.name, "rule": rule.kind,
                                "step": step, "userId": user_id}
        if user_id is None:
            data["anonymousId"] = identity  # the installation (or anonymous) id the partner's own app sent
        if isinstance(rule, EventNotFollowedRule | FirstEventRule):
            data["event"] = rule.event
        elif isinstance(rule, AudienceEnteredRule):
            data["audienceId"] = rule.audience_id
        elif isinstance(rule, EventReminderRule):
            data["event"] = rule.event
            if scheduled_us is not None:  # the partner's own instant back, so it knows which booking
                data["scheduledAt"] = format_instant(from_micros(scheduled_us))
        elif isinstance(rule, ArrivedFromRoamingRule):
            data["homeCountry"] = self._home_country(record, identity)  # the SIM's country: never a place
        else:
            data["areaId"] = rule.area_id  # the partner's label: never a coordinate nor a cell
        token = sink_access_token(action.sink_credential, at)
        self._outbox().add([OutboxEvent(fire_id, record.id, record.partner_id, EVENT_TYPE, action.sink, token,
                                        cloud_event(fire_id, EVENT_SOURCE, EVENT_TYPE, at, data), at)])

    def _home_country(self, record: TriggerRecord, identity: str) -> str | None:
        """Home country (ISO code) of the line behind the install an arrival run was started for."""
        named = self.apps.codec.parse_installation(identity)
        if named is None:
            return None
        table = self.apps.installs(self.apps.by_seq(named[0]))
        return self.world.home_countries(np.array([table.subscriber[named[1]]], np.int64))[0]

    def _push(self, action: PushAction, marketing: bool, installs: list[tuple[int, int]], traits: dict[str, Any],
              ) -> tuple[list[str], str | None]:
        """Push ids sent to the user's installs of the app, or the reason none was (a ``marketing`` push only to
        installs with both consents)."""
        app = self.apps.find(action.app_id)
        if app is None:
            return [], "NO_INSTALL"
        infos = [self.apps.install(app, row) for app_seq, row in installs if app_seq == app.seq]
        infos = [i for i in infos if i.installed]
        if not infos:
            return [], "NO_INSTALL"
        if marketing:  # both consents at the send instant
            infos = [i for i in infos if i.marketing_consent and i.notifications_permitted]
            if not infos:
                return [], "NO_CONSENT"
        message = {"notification": {"title": render(action.title, traits), "body": render(action.body, traits)}}
        refs = []
        for install in infos:
            try:
                refs.append(self.push.send(app, FcmMessage.model_validate({**message, "token": install.token}),
                                           False))
            except PushError:
                continue
        return (refs, None) if refs else ([], "PUSH_FAILED")

    # -- operator signal: at a venue at a time ------------------------------------------------------------------
    def on_step(self, now: datetime) -> None:
        """World listener: each ``VENUE_AT_TIME`` rule over its area's occupants at the end of a tick (not while a
        restart replays)."""
        triggers = [t for t in self._triggers.values()
                    if isinstance(t.spec.rule, VenueAtTimeRule) and len(t.cells) and t.app_seq is not None]
        if not triggers or not self._is_live():
            return
        occupants: dict[bytes, NDArray[np.int32]] = {}  # triggers on the same venue share its occupants
        with self.store.transaction():
            for record in triggers:
                key = record.cells.tobytes()
                if key not in occupants:
                    occupants[key] = self.world.occupants_of_cells(record.cells.astype(np.int32))
                self._venue(record, now, occupants[key])

    def _venue(self, record: TriggerRecord, now: datetime, occupants: NDArray[np.int32]) -> None:
        """Track who of the app's users (location allowed, line linked) is in the area since when, and start a run
        for those who have dwelt ``minDwellMinutes`` inside today's window and have not fired today (all numpy over
        the occupants)."""
        rule = record.spec.rule
        assert isinstance(rule, VenueAtTimeRule) and record.app_seq is not None
        table = self.apps.installs(self.apps.by_seq(record.app_seq))
        self._grow_presence(record, table.size)
        rows = self._rows_of_subs(record.app_seq, table.subscriber, occupants)
        rows = rows[table.signals_allowed(rows)]
        now_us = to_micros(now)
        entered = np.setdiff1d(rows, record.present, assume_unique=True)
        left = np.setdiff1d(record.present, rows, assume_unique=True)
        record.present_since[entered] = now_us
        record.present_since[left] = -1
        record.present = rows
        conn = self.store.conn
        if len(entered):
            conn.executemany("INSERT INTO cdp_trigger_presence(trigger_seq, row, since_us) VALUES (?, ?, ?) ON "
                             "CONFLICT(trigger_seq, row) DO UPDATE SET since_us = excluded.since_us",
                             [(record.seq, r, now_us) for r in entered.tolist()])
        if len(left):
            conn.executemany("UPDATE cdp_trigger_presence SET since_us = NULL WHERE trigger_seq = ? AND row = ?",
                             [(record.seq, r) for r in left.tolist()])
        if not len(rows):
            return
        local = self.world.local_clock(table.subscriber[rows], now)
        start, end = minute_of_day(rule.start_time), minute_of_day(rule.end_time)
        on_day = np.array([d in rule.days for d in ALL_DAYS])[local.weekday]
        minute = local.minute.astype(np.int64)
        in_window = on_day & (minute >= start) & (minute < end)
        # Time zones differ by whole minutes: the window opened (minute - start) local minutes before this minute.
        opened_us = now_us - (now.second * 1_000_000 + now.microsecond) - (minute - start) * 60_000_000
        dwelt_us = now_us - np.maximum(record.present_since[rows], opened_us)
        due = in_window & (dwelt_us >= rule.min_dwell_minutes * 60_000_000) & (record.fired_day[rows] != local.day)
        if not due.any():
            return
        fired, days = rows[due], local.day[due]
        record.fired_day[fired] = days
        conn.executemany("UPDATE cdp_trigger_presence SET fired_day = ? WHERE trigger_seq = ? AND row = ?",
                         [(d, record.seq, r) for r, d in zip(fired.tolist(), days.tolist(), strict=True)])
        for row in fired.tolist():
            self._start_install(record, row, now)

    @staticmethod
    def _grow_presence(record: TriggerRecord, size: int) -> None:
        """Presence columns as long as the app's install table (installs are appended over time)."""
        grow = size - len(record.present_since)
        if grow > 0:
            record.present_since = np.concatenate([record.present_since, np.full(grow, -1, np.int64)])
            record.fired_day = np.concatenate([record.fired_day, np.zeros(grow, np.int32)])

    def _rows_of_subs(self, app_seq: int, subscriber: NDArray[np.int64], subs: NDArray[np.int32],
                      ) -> NDArray[np.int64]:
        """Install rows (ascending) of the app whose subscriber is one of ``subs``: a sorted index of the table's
        subscribers, rebuilt when installs were appended (rows never move)."""
        cached = self._rows_index.get(app_seq)
        if cached is None or cached[0] != len(subscriber):
            order = np.argsort(subscriber, kind="stable").astype(np.int64)
            cached = self._rows_index[app_seq] = (len(subscriber), order, subscriber[order])
        _, order, ordered = cached
        lo = np.searchsorted(ordered, subs, "left")
        counts = np.searchsorted(ordered, subs, "right") - lo
        total = int(counts.sum())
        if not total:
            return np.empty(0, np.int64)
        offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        return np.sort(order[np.repeat(lo, counts) + offsets])

    # -- sinks -------------------------------------------------------------------------------------------------
    def on_gone(self, subscription_id: str) -> None:
        """Webhook sender listener: a sink of the trigger answered ``410 Gone`` (the outbox has cancelled its pending
        events): its webhook steps are suppressed from now on, and one with only webhook steps starts no more
        runs. Other subscriptions' ids are not ours."""
        seq = parse_public_id(subscription_id, TRIGGER_PREFIX)
        record = None if seq is None else self._triggers.get(seq)
        if record is None or record.sink_gone_at is not None:
            return
        record.sink_gone_at = self.world.clock.now
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO cdp_trigger_status(trigger_seq, gone_us) VALUES (?, ?) ON CONFLICT(trigger_seq) "
                         "DO UPDATE SET gone_us = excluded.gone_us", (record.seq, to_micros(record.sink_gone_at)))

    # -- restart -----------------------------------------------------------------------------------------------
    def resume(self) -> None:
        """Load triggers, waiting runs, first-event users and today's caps, and put the pending steps back on the
        clock (the CDP has been resumed: profiles exist)."""
        self._triggers.clear()
        conn = self.store.conn
        for r in conn.execute("SELECT * FROM cdp_triggers WHERE deleted = 0 ORDER BY seq"):
            spec = TriggerRequest.model_validate_json(r["spec"])
            audience = app_seq = None
            cells = np.empty(0, np.int64)
            if isinstance(spec.rule, AudienceEnteredRule):
                audience = parse_public_id(spec.rule.audience_id, AUDIENCE_PREFIX)
            elif isinstance(spec.rule, AreaEnteredRule | VenueAtTimeRule | ArrivedFromRoamingRule):
                app = self.apps.find(spec.rule.app_id)
                app_seq = None if app is None else app.seq
                if isinstance(spec.rule, AreaEnteredRule | VenueAtTimeRule):
                    cells = np.array(sorted(self.geofencing.cells_of(spec.rule.area)), np.int64)
            self._triggers[r["seq"]] = TriggerRecord(r["seq"], r["partner_id"], spec, from_micros(r["created_us"]),
                                                     audience, app_seq, cells)
        for r in conn.execute("SELECT * FROM cdp_trigger_runs WHERE state != ? ORDER BY seq", (CANCELLED,)):
            record = self._triggers.get(r["trigger_seq"])
            p = None if record is None else self.cdp.space(record.partner_id).find(r["identity"])
            if record is None or p is None:
                continue
            held = record.waiting.get(p)
            if r["state"] == WAITING and (held is None or (r["started_us"], r["seq"]) < (held[1], held[0])):
                record.waiting[p] = (r["seq"], r["started_us"])  # the earlier of two merged waits, as on_merge
            if isinstance(record.spec.rule, FirstEventRule):
                record.seen.add(p)
        since = to_micros(self.world.clock.now - timedelta(days=CAP_DAYS))
        for r in conn.execute("SELECT trigger_seq, identity, step, day FROM cdp_trigger_fires "
                              "WHERE status = 'SENT' AND at_us >= ? ORDER BY seq", (since,)):
            record = self._triggers.get(r["trigger_seq"])
            if record is not None and action_rules(record.spec.steps[r["step"]].action).daily_cap:
                record.caps.record(np.array([record.key(r["identity"])], np.int32), np.array([r["day"]], np.int32),
                                   np.zeros(1, np.int64))
        self._resume_signals()
        self._timers.resume()

    def _resume_signals(self) -> None:
        """Reminder counters, gone sinks and venue presence back from their tables."""
        conn = self.store.conn
        for r in conn.execute("SELECT * FROM cdp_trigger_status"):
            record = self._triggers.get(r["trigger_seq"])
            if record is not None:
                record.ignored = int(r["ignored"])
                record.sink_gone_at = None if r["gone_us"] is None else from_micros(int(r["gone_us"]))
        for record in self._triggers.values():
            if not isinstance(record.spec.rule, VenueAtTimeRule) or record.app_seq is None:
                continue
            rows = conn.execute("SELECT row, since_us, fired_day FROM cdp_trigger_presence WHERE trigger_seq = ? "
                                "ORDER BY row", (record.seq,)).fetchall()
            size = self.apps.installs(self.apps.by_seq(record.app_seq)).size
            self._grow_presence(record, max([size, *(int(r["row"]) + 1 for r in rows)]))
            for r in rows:
                record.present_since[r["row"]] = -1 if r["since_us"] is None else int(r["since_us"])
                record.fired_day[r["row"]] = int(r["fired_day"])
            record.present = np.flatnonzero(record.present_since >= 0).astype(np.int64)
