"""The CDP: sources and write keys, one ingestion pipeline for tracking calls and app events, profiles, audiences.

Owns :class:`CdpService`. Every partner has its own profile space (:class:`~gateway.services.cdp.profiles.
ProfileSpace`) and audiences (:class:`~gateway.services.cdp.audiences.AudienceState`); a tracking call (Segment
spec) and a simulated app's :class:`~gateway.services.apps.events.AppEventBatch` go through the same steps —
de-duplicate, resolve the profile, log, count into the audience columns, re-evaluate the touched profiles, notify —
so a partner's server-side events and its app's events meet in one profile. App events take a vectorised path
(columns in, columns out). The event log is the durable truth: after a restart profiles and memberships are rebuilt
by replaying it (:meth:`resume`). Listeners hear :class:`~gateway.services.cdp.model.AudienceChange`,
:class:`~gateway.services.cdp.model.EventsIngested` and profile merges (the hooks triggers use). It must not know
about HTTP.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic_core import to_json

from gateway.core.disclosure import disclose, two_significant
from gateway.core.errors import InvalidArgument, NotFound
from gateway.core.ids import APP_PREFIX, AUDIENCE_PREFIX, SOURCE_PREFIX, format_id, parse_public_id
from gateway.services.apps.events import APP_EVENTS, AppEventBatch
from gateway.services.apps.model import AppRecord
from gateway.services.apps.service import AppService
from gateway.services.cdp.audiences import (
    DAY_US,
    AudienceState,
    EventCondition,
    compile_definition,
    matching,
    matching_columns,
)
from gateway.services.cdp.model import (
    DEDUP_WINDOW_US,
    HISTORY_LIMIT,
    MESSAGE_TYPES,
    PAGE_EVENT,
    RETENTION_DAYS,
    SCREEN_EVENT,
    Audience,
    AudienceChange,
    EventsIngested,
    Message,
    ProfileView,
    RecentEvent,
    Source,
)
from gateway.services.cdp.profiles import ProfileSpace
from gateway.services.cdp.repository import CdpRepository
from gateway.wire.base import INSTANT_RANGE
from gateway.wire.cdp import TrackingCall
from gateway.wire.errors import ErrorDetail
from simulator.clock import check_instant, from_micros, to_micros
from simulator.errors import InstantRangeError

AudienceListener = Callable[[AudienceChange], None]
EventListener = Callable[[EventsIngested], None]
ProfileMergeListener = Callable[[int, int, int], None]
"""Called with (partner id, kept, gone) after an identify or alias merged profile ``gone`` into ``kept``."""
APP_CURRENCY = "EUR"
"""Currency of the simulated apps' order values (``Order Completed``: ``revenue`` and ``currency``)."""
_TYPE_CODE = {name: code for code, name in enumerate(MESSAGE_TYPES)}
_TRACK = _TYPE_CODE["track"]


@dataclass
class _Partner:
    """Everything the CDP keeps in memory for one partner."""

    space: ProfileSpace = field(default_factory=ProfileSpace)
    audiences: dict[int, AudienceState] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)
    """messageId → received instant, within the de-duplication window."""
    seen_order: deque[tuple[int, str]] = field(default_factory=deque)

    index: dict[str, list[tuple[AudienceState, int, EventCondition]]] = field(default_factory=dict)
    """Event name → the audience conditions that count it (rebuilt when audiences change)."""
    capacity: int = 0
    """Profile capacity the audience columns were last grown to."""

    def reindex(self) -> None:
        self.index = {}
        for state in self.audiences.values():
            for i, cond in state.event_conditions():
                self.index.setdefault(cond.event, []).append((state, i, cond))

    def by_event(self, event: str) -> list[tuple[AudienceState, int, EventCondition]]:
        return self.index.get(event, [])


@dataclass
class _AppRows:
    """Profiles of an app's install rows (``-1``: not seen yet), their ids, and the app's last ingested event."""

    profile: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    users: NDArray[np.object_] = field(default_factory=lambda: np.empty(0, object))
    anons: NDArray[np.object_] = field(default_factory=lambda: np.empty(0, object))
    watermark: int = -1


def _micros(value: datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:  # libraries that send naive instants mean UTC
        value = value.replace(tzinfo=UTC)
    return to_micros(value)


def _in_range(value: datetime) -> bool:
    try:
        check_instant(value if value.tzinfo is not None else value.replace(tzinfo=UTC))
    except InstantRangeError:
        return False
    return True


def _ident(value: str | int | None) -> str | None:
    return None if value is None else str(value)


class CdpService:
    """Sources, ingestion, profiles and audiences of every partner."""

    def __init__(self, repository: CdpRepository, apps: AppService | None, now: Callable[[], datetime],
                 privacy_threshold: int) -> None:
        self.repository = repository
        self.apps = apps
        self._now = now
        self.privacy_threshold = privacy_threshold
        self._partners: dict[int, _Partner] = {}
        self._sources: dict[int, Source] = {}
        self._keys: dict[bytes, int] = {}
        self._audiences: dict[int, Audience] = {}
        self._app_rows: dict[int, _AppRows] = {}
        self._seq = 0
        self._replaying = False
        self._last_prune_day = -1
        self._day_marks: deque[tuple[int, int]] = deque()
        """(simulated day, last log seq when it began): how far back the retention's delete has to look."""
        self._audience_listeners: list[AudienceListener] = []
        self._event_listeners: list[EventListener] = []
        self._merge_listeners: list[ProfileMergeListener] = []

    # -- listeners ---------------------------------------------------------------------------------------------
    def add_audience_listener(self, fn: AudienceListener) -> None:
        """Call ``fn(change)`` whenever profiles enter or leave an audience (not while replaying the log)."""
        self._audience_listeners.append(fn)

    def add_event_listener(self, fn: EventListener) -> None:
        """Call ``fn(ingested)`` after each call or app batch reached profiles (not while replaying the log)."""
        self._event_listeners.append(fn)

    def add_merge_listener(self, fn: ProfileMergeListener) -> None:
        """Call ``fn(partner_id, kept, gone)`` as soon as a call merged two profiles, before the call's events reach
        the event listeners (not while replaying the log: a listener rebuilds its state after :meth:`resume`)."""
        self._merge_listeners.append(fn)

    # -- partners and sources ----------------------------------------------------------------------------------
    def _partner(self, partner_id: int) -> _Partner:
        partner = self._partners.get(partner_id)
        if partner is None:
            partner = self._partners[partner_id] = _Partner()
            partner.space.on_merge.append(lambda kept, gone: self._merged(partner_id, partner, kept, gone))
        return partner

    def _merged(self, partner_id: int, partner: _Partner, kept: int, gone: int) -> None:
        traits = partner.space.traits_of(kept)
        groups = list(partner.space.groups_of(kept).values())
        for state in partner.audiences.values():
            state.merge(kept, gone, traits, groups)
        if not self._replaying:
            for fn in self._merge_listeners:
                fn(partner_id, kept, gone)

    def create_source(self, partner_id: int, name: str, app_id: str | None) -> tuple[Source, str]:
        """A new source and its write key (shown once); ``app_id`` must be one of the partner's apps."""
        app: AppRecord | None = None
        if app_id is not None:
            if self.apps is None:
                raise NotFound(f"No app {app_id}.")
            app = self.apps.get(partner_id, app_id)
        key = "opsim_wk_" + secrets.token_urlsafe(24)
        now = self._now()
        seq = self.repository.insert_source(partner_id, name, None if app is None else app.seq, key, to_micros(now))
        source = Source(seq, partner_id, name, None if app is None else app.seq, now)
        self._add_source(source)
        return source, key

    def _add_source(self, source: Source) -> None:
        self._sources[source.seq] = source

    def sources(self, partner_id: int) -> list[Source]:
        """The partner's sources, oldest first."""
        return [s for s in self._sources.values() if s.partner_id == partner_id]

    def authenticate(self, write_key: str) -> Source | None:
        """The source a write key belongs to (``None``: unknown, or its partner is disabled)."""
        seq = self.repository.source_of_key(write_key)
        return None if seq is None else self._sources.get(seq)

    def _app_source(self, app: AppRecord) -> int | None:
        for source in self._sources.values():
            if source.app_seq == app.seq:
                return source.seq
        return None

    # -- tracking calls ----------------------------------------------------------------------------------------
    def normalise(self, calls: Sequence[TrackingCall], sent_at: datetime | None = None, forced_type: str | None = None,
                  where: str = "body") -> list[Message]:
        """Check calls against the spec (400 listing every fault with its path) and normalise them: event time
        ``receivedAt - (sentAt - originalTimestamp)`` when the call says when it was sent, else its own
        ``timestamp``, else the receive instant (the simulated clock); never after the receive instant."""
        received = to_micros(self._now())
        errors: list[ErrorDetail] = []
        if sent_at is not None and not _in_range(sent_at):
            errors.append(ErrorDetail(field=f"{where}.sentAt", message=f"instant must be {INSTANT_RANGE}"))
        batch_sent = _micros(sent_at) if not errors else None
        out: list[Message] = []
        for i, call in enumerate(calls):
            at = where if forced_type else f"{where}.batch.{i}"
            kind = forced_type or call.type
            if kind is None:
                errors.append(ErrorDetail(field=f"{at}.type", message="each call of a batch needs its type"))
                continue
            user, anon = _ident(call.user_id), _ident(call.anonymous_id)
            if kind == "alias":
                if user is None:
                    errors.append(ErrorDetail(field=f"{at}.userId", message="alias needs userId"))
                if call.previous_id is None:
                    errors.append(ErrorDetail(field=f"{at}.previousId", message="alias needs previousId"))
            elif user is None and anon is None:
                errors.append(ErrorDetail(field=f"{at}.userId", message="userId or anonymousId is required"))
            if kind == "track" and call.event is None:
                errors.append(ErrorDetail(field=f"{at}.event", message="track needs event"))
            if kind == "group" and call.group_id is None:
                errors.append(ErrorDetail(field=f"{at}.groupId", message="group needs groupId"))
            for label, instant in (("timestamp", call.timestamp), ("originalTimestamp", call.original_timestamp),
                                   ("sentAt", call.sent_at)):
                if instant is not None and not _in_range(instant):
                    errors.append(ErrorDetail(field=f"{at}.{label}", message=f"instant must be {INSTANT_RANGE}"))
            if errors:
                continue
            original = _micros(call.original_timestamp or call.timestamp)
            sent = _micros(call.sent_at) if call.sent_at is not None else batch_sent
            if original is not None and sent is not None:
                time_us = received - (sent - original)
            else:
                time_us = original if original is not None else received
            properties = dict(call.properties or {})
            event = call.event
            if kind in ("page", "screen"):
                event = PAGE_EVENT if kind == "page" else SCREEN_EVENT
                for key, value in (("name", call.name), ("category", call.category)):
                    if value is not None:
                        properties.setdefault(key, value)
            elif kind not in ("track",):
                event = None
            message_id = call.message_id or f"opsim-{received}-{self._seq + len(out) + 1}"
            traits = dict(call.traits or {})
            context_traits = (call.context or {}).get("traits")
            if kind == "identify" and isinstance(context_traits, dict):
                traits = {**context_traits, **traits}  # RudderStack's libraries send identify traits there
            out.append(Message(kind, message_id, user, anon, event, properties, traits,
                               _ident(call.previous_id), _ident(call.group_id), min(time_us, received), received,
                               original, sent))
        if errors:
            raise InvalidArgument("The call does not follow the tracking spec.", details=errors)
        return out

    def ingest(self, source: Source, messages: Sequence[Message]) -> int:
        """Take normalised calls of one source through the pipeline; returns how many were new (the rest are
        duplicates of a ``messageId`` seen within the window, dropped)."""
        partner = self._partner(source.partner_id)
        space = partner.space
        first_new = space.size
        rows: list[tuple[Any, ...]] = []
        hits: dict[tuple[int, int], tuple[AudienceState, list[int], list[int]]] = {}
        profiles: list[int] = []
        names: list[str] = []
        times: list[int] = []
        props: list[dict[str, Any]] = []
        for m in messages:
            if not self._replaying:
                if m.message_id in partner.seen:
                    continue
                partner.seen[m.message_id] = m.received_us
                partner.seen_order.append((m.received_us, m.message_id))
            p = self._apply(partner, m)
            self._seq += 1
            rows.append((self._seq, source.partner_id, source.seq, _TYPE_CODE[m.type], m.message_id, m.user_id,
                         m.anonymous_id, m.event, m.time_us, m.received_us, to_json(m.to_json()), None, None,
                         None, None))
            if m.event is not None:
                profiles.append(p)
                names.append(m.event)
                times.append(m.time_us)
                props.append(m.properties)
                for state, leaf, cond in partner.by_event(m.event):
                    if matching(cond, m.properties):
                        entry = hits.setdefault((state.seq, leaf), (state, [], []))
                        entry[1].append(p)
                        entry[2].append(m.time_us)
        if rows and not self._replaying:
            self.repository.append_events(list(zip(*rows, strict=True)))
        now_us = to_micros(self._now())
        self._grow(partner)
        if space.size > first_new:  # new profiles: a "not" may hold for them
            fresh = np.arange(first_new, space.size, dtype=np.int64)
            for state in partner.audiences.values():
                state.touch(fresh)
        root = space.root
        for (_, leaf), (state, ps, ts) in hits.items():
            state.add_events(leaf, root[np.asarray(ps, np.int64)], np.asarray(ts, np.int64), now_us)
        self._settle(source.partner_id, partner, now_us)
        if names and not self._replaying and self._event_listeners:
            uniq = tuple(dict.fromkeys(names))
            code = {n: i for i, n in enumerate(uniq)}
            notice = EventsIngested(source.partner_id, root[np.asarray(profiles, np.int64)], uniq,
                                    np.asarray([code[n] for n in names], np.int64), np.asarray(times, np.int64),
                                    tuple(props))
            for fn in self._event_listeners:
                fn(notice)
        return len(rows)

    def _apply(self, partner: _Partner, m: Message) -> int:
        """Identity and traits of one call; returns its profile."""
        space = partner.space
        before = space.size
        if m.type == "alias":
            assert m.previous_id is not None and m.user_id is not None
            p = space.alias(m.previous_id, m.user_id, m.received_us)
        else:
            p = space.resolve(m.user_id, m.anonymous_id, m.received_us)
        changed_traits = False
        regrouped: NDArray[np.int64] | None = None
        if m.type == "identify" and m.traits:
            space.traits.setdefault(p, {}).update(m.traits)
            changed_traits = True
        elif m.type == "group" and m.group_id is not None:
            # The group's traits are the group's (Segment's accounts): a change reaches every member.
            regrouped = space.join(p, m.group_id, m.traits)
        if space.size > before:
            self._grow(partner)
        if changed_traits:
            for state in partner.audiences.values():
                state.set_traits(p, space.traits_of(p))
        if regrouped is not None and len(regrouped):
            states = [state for state in partner.audiences.values() if state.group_conditions()]
            for q in regrouped.tolist() if states else ():
                groups = list(space.groups_of(q).values())
                for state in states:
                    state.set_groups(q, groups)
        return p

    def _grow(self, partner: _Partner) -> None:
        capacity = partner.space.capacity
        if capacity != partner.capacity:
            partner.capacity = capacity
            for state in partner.audiences.values():
                state.grow(capacity)

    def _settle(self, partner_id: int, partner: _Partner, now_us: int) -> None:
        """Re-evaluate what changed and tell the listeners."""
        root = partner.space.root
        for state in partner.audiences.values():
            entered, exited = state.update(root)
            if (len(entered) or len(exited)) and not self._replaying:
                change = AudienceChange(partner_id, state.seq, now_us, entered, exited)
                for fn in self._audience_listeners:
                    fn(change)

    # -- app events --------------------------------------------------------------------------------------------
    def ingest_app_events(self, batch: AppEventBatch) -> int:
        """Take one app's batch through the pipeline (vectorised); returns how many events were new (a replayed
        batch, whose ``seq`` are at or below the app's last, adds nothing)."""
        if batch.size == 0 or self.apps is None:
            return 0
        app = self.apps.by_seq(batch.app_seq)
        rows = self._app_rows.setdefault(app.seq, _AppRows())
        fresh = batch.seq > rows.watermark
        if not fresh.any():
            return 0
        return self._apply_app(app, batch.seq[fresh], batch.time_us[fresh], batch.row[fresh], batch.event[fresh],
                               batch.item[fresh], batch.value_cents[fresh], self._app_source(app),
                               to_micros(self._now()))

    def _app_profiles(self, app: AppRecord, partner: _Partner, rows: _AppRows, row: NDArray[np.int64],
                      at_us: int) -> NDArray[np.int64]:
        """Root profiles of install rows, resolving rows seen for the first time (user id and installation id)."""
        assert self.apps is not None
        top = int(row.max()) + 1
        if top > len(rows.profile):
            extra = max(top, 2 * len(rows.profile)) - len(rows.profile)
            rows.profile = np.concatenate([rows.profile, np.full(extra, -1, np.int64)])
            rows.users = np.concatenate([rows.users, np.full(extra, None, object)])
            rows.anons = np.concatenate([rows.anons, np.full(extra, None, object)])
        new = np.unique(row[rows.profile[row] < 0])
        if len(new):
            codec = self.apps.codec
            before = partner.space.size
            users = [codec.user_id(app.seq, r) for r in new.tolist()]
            anons = [codec.installation_id(app.seq, r) for r in new.tolist()]
            rows.users[new], rows.anons[new] = users, anons
            rows.profile[new] = partner.space.resolve_rows(users, anons, at_us)
            if partner.space.size > before:
                self._grow(partner)
                fresh = np.arange(before, partner.space.size, dtype=np.int64)
                for state in partner.audiences.values():
                    state.touch(fresh)
        return partner.space.root[rows.profile[row]]

    def _apply_app(self, app: AppRecord, seq: NDArray[np.int64], time_us: NDArray[np.int64],
                   row: NDArray[np.int64], event: NDArray[np.uint8], item: NDArray[np.int16],
                   value: NDArray[np.int64], source_seq: int | None, now_us: int,
                   received_us: NDArray[np.int64] | None = None) -> int:
        partner = self._partner(app.partner_id)
        space = partner.space
        rows = self._app_rows.setdefault(app.seq, _AppRows())
        rows.watermark = max(rows.watermark, int(seq.max()))
        received = np.full(len(seq), now_us, np.int64) if received_us is None else received_us
        time_us = np.minimum(time_us, received)
        profiles = self._app_profiles(app, partner, rows, row, int(received.max()))
        np.maximum.at(space.last_us, profiles, time_us)
        n = len(seq)
        if not self._replaying:
            first = self._seq + 1
            self._seq += n
            # The message id column holds the app's event seq (the wire id is "<app id>-<seq>", made on read).
            self.repository.append_events([
                np.arange(first, first + n, dtype=np.int64), np.full(n, app.partner_id), np.full(n, source_seq),
                np.full(n, _TRACK), seq, rows.users[row], rows.anons[row],
                np.asarray(APP_EVENTS, dtype=object)[event], time_us, received,
                np.full(n, None), np.full(n, app.seq), row, item.astype(np.int64), value.astype(np.int64)])
        columns: dict[str, tuple[NDArray[np.bool_], NDArray[Any], bool]] | None = None
        for code in np.unique(event).tolist():
            targets = partner.by_event(APP_EVENTS[code])
            if not targets:
                continue
            of_event = event == code
            for state, leaf, cond in targets:
                mask = of_event
                if cond.where:
                    columns = columns or self._app_columns(app, item, value)
                    mask = of_event & matching_columns(cond, columns, n)
                if mask.any():
                    state.add_events(leaf, profiles[mask], time_us[mask], now_us)
        self._settle(app.partner_id, partner, now_us)
        if not self._replaying and self._event_listeners:
            notice = EventsIngested(app.partner_id, profiles, APP_EVENTS, event.astype(np.int64), time_us)
            for fn in self._event_listeners:
                fn(notice)
        return n

    @staticmethod
    def _app_columns(app: AppRecord, item: NDArray[np.int16], value: NDArray[np.int64],
                     ) -> dict[str, tuple[NDArray[np.bool_], NDArray[Any], bool]]:
        """App event properties as columns: the item's category among the app's categories, the order value."""
        categories = np.asarray([*app.spec.categories, ""], dtype=object)
        has_item = (item >= 0) & (item < len(categories) - 1)
        has_value = value > 0
        return {
            "category": (has_item, categories[np.where(has_item, item, len(categories) - 1)], False),
            "revenue": (has_value, value / 100.0, True),
            "currency": (has_value, np.full(len(value), APP_CURRENCY, dtype=object), False),
        }

    # -- the clock ---------------------------------------------------------------------------------------------
    def on_step(self, now: datetime) -> None:
        """Expire events that left their windows, re-evaluate, forget old message ids (and, once a simulated day,
        events past the retention)."""
        now_us = to_micros(now)
        for partner_id, partner in self._partners.items():
            root = partner.space.root
            for state in partner.audiences.values():
                state.expire(now_us, root)
            self._settle(partner_id, partner, now_us)
            while partner.seen_order and partner.seen_order[0][0] <= now_us - DEDUP_WINDOW_US:
                at, mid = partner.seen_order.popleft()
                if partner.seen.get(mid) == at:
                    del partner.seen[mid]
        day = now_us // DAY_US
        if day != self._last_prune_day and not self._replaying:
            self._last_prune_day = day
            self._day_marks.append((day, self._seq))
            # Only the part of the log received before the cutoff day is looked at (a rowid range).
            while len(self._day_marks) > 1 and self._day_marks[1][0] <= day - RETENTION_DAYS:
                self._day_marks.popleft()
            upto = self._day_marks[0][1] if self._day_marks[0][0] <= day - RETENTION_DAYS else None
            if upto is not None:
                self.repository.forget_before(now_us - RETENTION_DAYS * DAY_US, upto)

    # -- profiles ----------------------------------------------------------------------------------------------
    def profile(self, partner_id: int, identity: str, limit: int = 20) -> ProfileView:
        """A profile by one of its user ids or anonymous ids; 404 when the partner has none such."""
        partner = self._partners.get(partner_id)
        p = None if partner is None else partner.space.find(identity)
        if partner is None or p is None:
            raise NotFound(f"No profile {identity}.")
        space = partner.space
        events = [self._recent(r) for r in self.repository.recent(partner_id, space.user_ids[p], space.anon_ids[p],
                                                                   min(limit, HISTORY_LIMIT))] if limit else []
        audiences = [format_id(AUDIENCE_PREFIX, seq) for seq, state in partner.audiences.items() if state.member[p]]
        return ProfileView(space.primary_user(p), list(dict.fromkeys(space.user_ids[p])),
                           list(dict.fromkeys(space.anon_ids[p])), dict(space.traits_of(p)), dict(space.groups_of(p)),
                           audiences, int(space.first_us[p]), int(space.last_us[p]), events)

    def profile_events(self, partner_id: int, p: int, events: Sequence[str], since_us: int) -> list[RecentEvent]:
        """The logged events named ``events`` of live profile ``p`` (every identity it holds, merged ones included)
        whose event time is at or after ``since_us``, in arrival order (``timestamp_us``: the event time). A read
        of the log (a drain first): for rare moments such as a merge, not per event; not inside a transaction."""
        space = self._partner(partner_id).space
        members = space.members(p)
        users = list(dict.fromkeys(u for m in members for u in space.user_ids[m]))
        anons = list(dict.fromkeys(a for m in members for a in space.anon_ids[m]))
        if not events or not (users or anons):
            return []
        return [self._recent(r) for r in self.repository.owned_events(partner_id, users, anons, events, since_us)]

    def _recent(self, row: sqlite3.Row) -> RecentEvent:
        source = None if row["source_seq"] is None else format_id(SOURCE_PREFIX, row["source_seq"])
        message_id = row["message_id"]
        if row["payload"] is not None:
            properties = json.loads(row["payload"])["properties"]
        else:
            properties = self._app_properties(row["app_seq"], row["item"], row["value_cents"])
            message_id = f"{format_id(APP_PREFIX, row['app_seq'])}-{message_id}"
        return RecentEvent(message_id, MESSAGE_TYPES[row["type"]], row["event"], properties, source,
                           row["time_us"], row["received_us"])

    def _app_properties(self, app_seq: int, item: int, value_cents: int) -> dict[str, Any]:
        props: dict[str, Any] = {}
        if self.apps is not None and item >= 0:
            categories = self.apps.by_seq(app_seq).spec.categories
            if item < len(categories):
                props["category"] = categories[item]
        if value_cents > 0:
            props["revenue"] = value_cents / 100
            props["currency"] = APP_CURRENCY
        return props

    # -- audiences ---------------------------------------------------------------------------------------------
    def create_audience(self, partner_id: int, name: str, definition: dict[str, Any]) -> Audience:
        """Validate (400 with paths), store and compute an audience from the events logged so far."""
        compiled = compile_definition(definition)
        now = self._now()
        seq = self.repository.insert_audience(partner_id, name, definition, to_micros(now))
        audience = Audience(seq, partner_id, name, definition, now)
        self._audiences[seq] = audience
        partner = self._partner(partner_id)
        state = AudienceState(seq, compiled, partner.space.capacity)
        self._backfill(partner_id, partner, state, to_micros(now))
        partner.audiences[seq] = state
        partner.reindex()
        return audience

    def _backfill(self, partner_id: int, partner: _Partner, state: AudienceState, now_us: int) -> None:
        """Fill a new audience's columns from the profiles and the logged events still inside its windows."""
        space = partner.space
        for q, traits in list(space.traits.items()):
            if traits and space.root[q] == q:
                state.set_traits(q, traits)
        if state.group_conditions():
            for q in list(space.groups):
                if space.root[q] == q:
                    state.set_groups(q, space.groups_of(q).values())
        conditions = state.event_conditions()
        if conditions:
            longest = max(cond.window_us for _, cond in conditions)
            for row in self.repository.events(partner_id, since_us=now_us - longest):
                if row["event"] is None:
                    continue
                p = space.lookup(row["user_id"], row["anonymous_id"])
                if row["payload"] is not None:
                    properties = json.loads(row["payload"])["properties"]
                else:
                    properties = self._app_properties(row["app_seq"], row["item"], row["value_cents"])
                if p is None:
                    continue
                for leaf, cond in conditions:
                    if cond.event == row["event"] and matching(cond, properties):
                        state.add_events(leaf, np.array([p], np.int64), np.array([row["time_us"]], np.int64),
                                         now_us)
        state.recompute(space.roots())

    def audiences(self, partner_id: int) -> list[Audience]:
        """The partner's audiences, oldest first."""
        return [a for a in self._audiences.values() if a.partner_id == partner_id]

    def audience(self, partner_id: int, audience_id: str) -> Audience:
        """One of the partner's audiences; 404 when unknown or another partner's."""
        seq = parse_public_id(audience_id, AUDIENCE_PREFIX)
        audience = None if seq is None else self._audiences.get(seq)
        if audience is None or audience.partner_id != partner_id:
            raise NotFound(f"No audience {audience_id}.")
        return audience

    def delete_audience(self, partner_id: int, audience_id: str) -> None:
        """Delete one of the partner's audiences."""
        audience = self.audience(partner_id, audience_id)
        self.repository.delete_audience(audience.seq)
        del self._audiences[audience.seq]
        partner = self._partner(partner_id)
        del partner.audiences[audience.seq]
        partner.reindex()

    def size(self, audience: Audience) -> int:
        """Members now (operator side: unrounded)."""
        return int(self._partner(audience.partner_id).audiences[audience.seq].member.sum())

    def estimate(self, audience: Audience) -> int | None:
        """The size as the partner may see it: ``None`` from 1 to the threshold minus one, else two significant
        figures."""
        shown = disclose(self.size(audience), self.privacy_threshold)
        return None if shown is None else two_significant(shown)

    def member_profiles(self, audience: Audience) -> NDArray[np.int64]:
        """Root profiles in the audience, ascending."""
        return self._partner(audience.partner_id).audiences[audience.seq].members()

    def member_user_ids(self, audience: Audience) -> list[str]:
        """Members' user ids (their own ids, the partner's to see), in profile order; anonymous members omitted."""
        space = self._partner(audience.partner_id).space
        out: list[str] = []
        for p in self.member_profiles(audience).tolist():
            user = space.primary_user(p)
            if user is not None:
                out.append(user)
        return out

    def space(self, partner_id: int) -> ProfileSpace:
        """The partner's profile space (tests and benchmarks compare against it)."""
        return self._partner(partner_id).space

    def state(self, audience: Audience) -> AudienceState:
        """The live state of an audience."""
        return self._partner(audience.partner_id).audiences[audience.seq]

    # -- restart -----------------------------------------------------------------------------------------------
    def resume(self) -> None:
        """Rebuild sources, audiences, profiles and memberships from the store (open, world restored)."""
        self._partners.clear()
        self._sources.clear()
        self._audiences.clear()
        self._app_rows.clear()
        for r in self.repository.sources():
            self._add_source(Source(r["seq"], r["partner_id"], r["name"], r["app_seq"], from_micros(r["created_us"])))
        now_us = to_micros(self._now())
        for r in self.repository.audiences():
            definition = json.loads(r["definition"])
            partner = self._partner(r["partner_id"])
            self._audiences[r["seq"]] = Audience(r["seq"], r["partner_id"], r["name"], definition,
                                                 from_micros(r["created_us"]))
            partner.audiences[r["seq"]] = AudienceState(r["seq"], compile_definition(definition),
                                                        partner.space.capacity)
            partner.reindex()
        self._replaying = True
        try:
            self._replay(self.repository.events(), now_us)
        finally:
            self._replaying = False
        self._seq = self.repository.last_event_seq()
        self.recompute_memberships()
        self._last_prune_day = now_us // DAY_US
        self._day_marks = deque([(self._last_prune_day - RETENTION_DAYS, self._seq)])  # the whole log, once

    def recompute_memberships(self) -> None:
        """Every audience's membership re-evaluated for every live profile from its window counts and traits (a
        restart's last step; the ticks only re-evaluate the profiles their events touched)."""
        for partner in self._partners.values():
            for state in partner.audiences.values():
                state.grow(partner.space.capacity)
                state.recompute(partner.space.roots())

    def _replay(self, rows: Iterable[sqlite3.Row], now_us: int) -> None:
        """Apply logged calls and app events in arrival order, consecutive ones of one source or app in one go
        (as a live batch would be: profiles resolve in order, memberships are recomputed at the end)."""
        run: list[sqlite3.Row] = []
        calls: list[Message] = []
        calls_of: list[Source] = []
        code = {name: i for i, name in enumerate(APP_EVENTS)}

        def flush_app() -> None:
            if run and self.apps is not None:
                self._apply_app(
                    self.apps.by_seq(run[0]["app_seq"]),
                    np.array([int(r["message_id"]) for r in run], np.int64),
                    np.array([r["time_us"] for r in run], np.int64),
                    np.array([r["install_row"] for r in run], np.int64),
                    np.array([code[r["event"]] for r in run], np.uint8), np.array([r["item"] for r in run], np.int16),
                    np.array([r["value_cents"] for r in run], np.int64), run[0]["source_seq"], now_us,
                    np.array([r["received_us"] for r in run], np.int64))
            run.clear()

        def flush_calls() -> None:
            if calls:
                self.ingest(calls_of[0], calls)
            calls.clear()
            calls_of.clear()

        for row in rows:
            if row["app_seq"] is not None:
                flush_calls()
                if run and (run[0]["app_seq"] != row["app_seq"] or len(run) >= 100_000):
                    flush_app()
                run.append(row)
                continue
            flush_app()
            source = self._sources.get(row["source_seq"])
            if source is None:
                continue
            if calls_of and (calls_of[0] is not source or len(calls) >= 1000):
                flush_calls()
            payload = json.loads(row["payload"])
            m = Message(MESSAGE_TYPES[row["type"]], row["message_id"], row["user_id"], row["anonymous_id"],
                        row["event"], payload["properties"], payload["traits"], payload["previousId"],
                        payload["groupId"], row["time_us"], row["received_us"], payload["originalUs"],
                        payload["sentUs"])
            partner = self._partner(source.partner_id)
            if now_us - row["received_us"] < DEDUP_WINDOW_US:
                partner.seen[m.message_id] = m.received_us
                partner.seen_order.append((m.received_us, m.message_id))
            calls.append(m)
            calls_of[:1] = [source]
        flush_calls()
        flush_app()
