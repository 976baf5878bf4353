"""CDP triggers: rules over a partner's profiles that start a chain of delayed actions (webhook or push).

Owns :class:`TriggerService` and its tables (``cdp_triggers``, ``cdp_trigger_runs``, ``cdp_trigger_fires``). It
listens to the CDP (:meth:`~gateway.services.cdp.service.CdpService.add_event_listener`,
:meth:`~gateway.services.cdp.service.CdpService.add_audience_listener`, which stay silent during a restart's
replay). A rule that matches a user starts a *run* (a row): ``EVENT_NOT_FOLLOWED`` waits (state ``WAITING``) until
the window ends, and a ``notFollowedBy`` event in it cancels the run; ``FIRST_EVENT`` starts once per user;
``AUDIENCE_ENTERED`` at each entry; the operator signals ``AREA_ENTERED`` and ``ARRIVED_FROM_ROAMING`` (the world's
cell changes and roamer arrivals, :meth:`~simulator.world.World.on_roamer_arrival`) at each entry or landing of an
install that allows location in the app. A started run goes through the trigger's steps, each a durable timer
(:class:`gateway.core.timers.Timers`) that, when due, decides the step — quiet hours in the user's local time
(:func:`gateway.services.policy.in_quiet_hours`), then the trigger's daily cap per user
(:class:`gateway.services.caps.FrequencyCaps`), then consent — records a *fire* under an id made of the run and the
step, and schedules the next step. A restart puts the waiting runs and the pending timers back, so it fires exactly
the actions, with exactly the ids, an uninterrupted run would have.

A webhook carries the partner's own user id (else the installation id it knows the user by), never an MSISDN nor
a location. A ``MARKETING`` push goes only to installs whose in-app marketing consent and OS notification
permission both hold at the send instant. It must not know about HTTP.
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
from gateway.services.policy import Rules, in_quiet_hours
from gateway.wire.cdp_triggers import (
    AreaEnteredRule,
    ArrivedFromRoamingRule,
    AudienceEnteredRule,
    EventNotFollowedRule,
    FirstEventRule,
    PushAction,
    TriggerRequest,
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

WAITING, STARTED, CANCELLED = 0, 1, 2
EVENT_TYPE = "org.opsim.cdp.v1.trigger.fired"
EVENT_SOURCE = "/cdp/v1/triggers"
CAP_DAYS = 2
"""Days of fires read back after a restart to rebuild the daily caps (a local day is never longer)."""
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")


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
    """Sends of this trigger per user (numbered by :meth:`key`) on their local day."""
    keys: dict[str, int] = field(default_factory=dict)
    waiting: dict[int, tuple[int, int]] = field(default_factory=dict)
    """Root profile → (run, started µs) of its open ``EVENT_NOT_FOLLOWED`` wait."""
    seen: set[int] = field(default_factory=set)
    """Root profiles a ``FIRST_EVENT`` trigger has started for."""

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


def render(template: str, traits: dict[str, Any]) -> str:
    """``template`` with each ``{{trait}}`` replaced by the profile's trait (empty when it has none)."""
    def value(match: re.Match[str]) -> str:
        got = traits.get(match.group(1))
        return "" if got is None or isinstance(got, dict | list) else str(got)
    return _PLACEHOLDER.sub(value, template)


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
        self._triggers: dict[int, TriggerRecord] = {}
        self._timers = Timers(store, world.clock, "cdp-triggers", {"step": self._step, "expire": self._expire})
        cdp.add_event_listener(self.on_events)
        cdp.add_audience_listener(self.on_audience)
        world.on_cell_change(self.on_cell_change)
        world.on_roamer_arrival(self.on_roamer_arrival)

    # -- definitions -------------------------------------------------------------------------------------------
    def _check(self, partner_id: int, spec: TriggerRequest) -> TriggerRecord:
        """400 naming each faulty field; returns the record to be (seq 0), its audience or app and cells set."""
        errors: list[ErrorDetail] = []
        audience_seq = app_seq = None
        cells = np.empty(0, np.int64)
        rule = spec.rule
        if isinstance(rule, AreaEnteredRule):
            app = self.apps.find(rule.app_id)
            if app is None or app.partner_id != partner_id:
                errors.append(ErrorDetail(field="body.rule.appId", message="no such app of the partner"))
            else:
                app_seq = app.seq
            try:
                self.geofencing.check_area(rule.area)
                cells = np.array(sorted(self.geofencing.cells_of(rule.area)), np.int64)
            except GatewayError as exc:  # too small, out of bounds, not covered: the rule's field is at fault
                errors.append(ErrorDetail(field="body.rule.area", message=exc.message))
        if isinstance(rule, ArrivedFromRoamingRule):
            app_seq = self._partner_app(partner_id, rule.app_id, errors)
        if isinstance(rule, EventNotFollowedRule) and rule.event == rule.not_followed_by:
            errors.append(ErrorDetail(field="body.rule.notFollowedBy", message="must differ from event"))
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
        """What the trigger's steps did, oldest first."""
        record = self.get(partner_id, trigger_id)
        rows = self.store.conn.execute("SELECT * FROM cdp_trigger_fires WHERE trigger_seq = ? ORDER BY seq LIMIT ?",
                                       (record.seq, limit)).fetchall()
        return [Fire(r["fire_id"], record.id, r["user_id"], r["step"], r["action"], r["status"], r["reason"],
                     json.loads(r["refs"]), from_micros(r["at_us"])) for r in rows]

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

    def _new_run(self, record: TriggerRecord, identity: str, state: int, started_us: int) -> int | None:
        """Store a run; ``None`` when this trigger already started one for this user at this instant (a tick rerun
        after a crash, whose first pass committed its runs with their timers: nothing is started twice)."""
        cur = self.store.conn.execute("INSERT OR IGNORE INTO cdp_trigger_runs(trigger_seq, identity, state, "
                                      "started_us) VALUES (?, ?, ?, ?)", (record.seq, identity, state, started_us))
        return int(cur.lastrowid) if cur.rowcount and cur.lastrowid else None

    def _start(self, record: TriggerRecord, run: int, identity: str, at: datetime) -> None:
        delay = timedelta(seconds=record.spec.steps[0].delay_seconds)
        self._timers.schedule(at + delay, "step", trigger=record.seq, run=run, identity=identity, step=0)

    def on_events(self, notice: EventsIngested) -> None:
        """CDP listener: start or cancel runs of the partner's event rules, in event-time order."""
        triggers = [t for t in self.of_partner(notice.partner_id)
                    if isinstance(t.spec.rule, EventNotFollowedRule | FirstEventRule)]
        if not triggers:
            return
        code = {name: i for i, name in enumerate(notice.events)}
        now = self.world.clock.now
        with self.store.transaction():
            for record in triggers:
                rule = record.spec.rule
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
                            self.store.conn.execute("UPDATE cdp_trigger_runs SET state = ? WHERE seq = ?",
                                                    (CANCELLED, open_[0]))
                    elif p not in record.waiting:
                        identity = self._identity(notice.partner_id, p)
                        run = self._new_run(record, identity, WAITING, at_us)
                        if run is None:
                            continue
                        record.waiting[p] = (run, at_us)
                        self._timers.schedule(from_micros(at_us) + timedelta(seconds=rule.within_seconds),
                                              "expire", trigger=record.seq, run=run, identity=identity)

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
        self.store.conn.execute("UPDATE cdp_trigger_runs SET state = ? WHERE seq = ?", (STARTED, run))
        self._start(record, run, identity, self.world.clock.now)

    def on_cell_change(self, now: datetime, subs: NDArray[np.int32], old: NDArray[np.int32],
                       new: NDArray[np.int32]) -> None:
        """World listener: movers into an ``AREA_ENTERED`` rule's cells from outside them, who have the rule's app
        installed with location allowed in it, start a run (one per install; not while a restart replays)."""
        triggers = [t for t in self._triggers.values() if len(t.cells) and t.app_seq is not None]
        if not triggers or not len(subs) or not self._is_live():
            return
        with self.store.transaction():
            for record in triggers:
                entered = np.isin(new, record.cells) & ~np.isin(old, record.cells)
                if not entered.any():
                    continue
                assert record.app_seq is not None
                table = self.apps.installs(self.apps.by_seq(record.app_seq))
                allowed = table.installed & (table.location > 0)
                for sub in subs[entered].tolist():
                    for row in table.rows_of(int(sub)).tolist():
                        if allowed[row]:
                            identity = self.apps.codec.installation_id(record.app_seq, row)
                            run = self._new_run(record, identity, STARTED, to_micros(now))
                            if run is not None:
                                self._start(record, run, identity, now)

    def on_roamer_arrival(self, now: datetime, subs: NDArray[np.int32]) -> None:
        """World listener: inbound roamers landing (from ``fromCountries`` when the rule names some) who have the
        rule's app installed with location allowed in it start a run of each ``ARRIVED_FROM_ROAMING`` trigger (one
        per install; not while a restart replays: the runs of that span were stored before the stop)."""
        triggers = [t for t in self._triggers.values() if isinstance(t.spec.rule, ArrivedFromRoamingRule)]
        if not triggers or not len(subs) or not self._is_live():
            return
        countries = self.world.home_countries(subs)
        with self.store.transaction():
            for record in triggers:
                rule = record.spec.rule
                assert isinstance(rule, ArrivedFromRoamingRule) and record.app_seq is not None
                table = self.apps.installs(self.apps.by_seq(record.app_seq))
                allowed = table.installed & (table.location > 0)
                for sub, country in zip(subs.tolist(), countries, strict=True):
                    if rule.from_countries is not None and country not in rule.from_countries:
                        continue
                    for row in table.rows_of(int(sub)).tolist():
                        if allowed[row]:
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
        caps_key = np.array([record.key(identity)], np.int32)
        days = np.array([day], np.int32)
        if isinstance(spec.rule, AreaEnteredRule | ArrivedFromRoamingRule) and not self._location_allowed(installs[0]):
            reason = "NO_CONSENT"  # the location permission (the link) was withdrawn since the entry
        elif quiet is not None and in_quiet_hours(np.array([hour], np.int16),
                                                  Rules(quiet.start_hour, quiet.end_hour))[0]:
            reason = "QUIET_HOURS"
        elif spec.daily_cap is not None and record.caps.today(caps_key, days, np.zeros(1, np.int64))[0][0] >= \
                spec.daily_cap:
            reason = "FREQUENCY_CAP"
        elif isinstance(action, WebhookAction):
            self._webhook(record, action, fire_id, step, user_id, identity, now)
            refs = [fire_id]
        else:
            refs, reason = self._push(action, installs, {} if p is None else space.traits_of(p))
        status = "SUPPRESSED" if reason is not None else "SENT"
        if reason is None:
            record.caps.record(caps_key, days, np.zeros(1, np.int64))
        self.store.conn.execute(
            "INSERT OR IGNORE INTO cdp_trigger_fires(fire_id, trigger_seq, identity, user_id, step, action, status, "
            "reason, refs, at_us, day) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (fire_id, record.seq, identity, user_id, step, action.type, status, reason, json.dumps(refs),
             to_micros(now), day))
        if step + 1 < len(spec.steps):
            delay = timedelta(seconds=spec.steps[step + 1].delay_seconds)
            self._timers.schedule(now + delay, "step", trigger=trigger, run=run, identity=identity, step=step + 1)

    def _location_allowed(self, install: tuple[int, int]) -> bool:
        table = self.apps.installs(self.apps.by_seq(install[0]))
        return bool(table.installed[install[1]] and table.location[install[1]] > 0)

    def _webhook(self, record: TriggerRecord, action: WebhookAction, fire_id: str, step: int, user_id: str | None,
                 identity: str, at: datetime) -> None:
        rule = record.spec.rule
        data: dict[str, Any] = {"triggerId": record.id, "triggerName": record.spec.name, "rule": rule.kind,
                                "step": step, "userId": user_id}
        if user_id is None:
            data["anonymousId"] = identity  # the installation (or anonymous) id the partner's own app sent
        if isinstance(rule, EventNotFollowedRule | FirstEventRule):
            data["event"] = rule.event
        elif isinstance(rule, AudienceEnteredRule):
            data["audienceId"] = rule.audience_id
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

    def _push(self, action: PushAction, installs: list[tuple[int, int]], traits: dict[str, Any],
              ) -> tuple[list[str], str | None]:
        """Push ids sent to the user's installs of the app, or the reason none was."""
        app = self.apps.find(action.app_id)
        if app is None:
            return [], "NO_INSTALL"
        infos = [self.apps.install(app, row) for app_seq, row in installs if app_seq == app.seq]
        infos = [i for i in infos if i.installed]
        if not infos:
            return [], "NO_INSTALL"
        if action.kind == "MARKETING":  # both consents at the send instant
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
            elif isinstance(spec.rule, AreaEnteredRule | ArrivedFromRoamingRule):
                app = self.apps.find(spec.rule.app_id)
                app_seq = None if app is None else app.seq
                if isinstance(spec.rule, AreaEnteredRule):
                    cells = np.array(sorted(self.geofencing.cells_of(spec.rule.area)), np.int64)
            self._triggers[r["seq"]] = TriggerRecord(r["seq"], r["partner_id"], spec, from_micros(r["created_us"]),
                                                     audience, app_seq, cells)
        for r in conn.execute("SELECT * FROM cdp_trigger_runs WHERE state != ? ORDER BY seq", (CANCELLED,)):
            record = self._triggers.get(r["trigger_seq"])
            p = None if record is None else self.cdp.space(record.partner_id).find(r["identity"])
            if record is None or p is None:
                continue
            if r["state"] == WAITING:
                record.waiting[p] = (r["seq"], r["started_us"])
            if isinstance(record.spec.rule, FirstEventRule):
                record.seen.add(p)
        since = to_micros(self.world.clock.now - timedelta(days=CAP_DAYS))
        for r in conn.execute("SELECT trigger_seq, identity, day FROM cdp_trigger_fires WHERE status = 'SENT' AND "
                              "at_us >= ? ORDER BY seq", (since,)):
            record = self._triggers.get(r["trigger_seq"])
            if record is not None:
                record.caps.record(np.array([record.key(r["identity"])], np.int32), np.array([r["day"]], np.int32),
                                   np.zeros(1, np.int64))
        self._timers.resume()
