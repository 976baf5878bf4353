"""Targeted campaigns: the service behind ``/campaigns/v1`` and the engine that runs them inside world ticks.

Owns the campaign lifecycle (``SCHEDULED → RUNNING → COMPLETED | CANCELLED``, or ``REJECTED`` by moderation),
audience estimates, idempotent creation, reports (aggregates with privacy thresholds) and the operator-side
truth (one record per subscriber outcome). It knows nothing of HTTP; handlers translate.

Tick-time evaluation (DESIGN §3). The engine hangs off two world listeners and never loops over subscribers:

* ``on_cell_change`` buffers each batch of movers (subscriber, old cell, new cell) while an ``ENTERS``
  campaign runs;
* ``on_step(now)`` then, once per tick: makes visible the campaigns created strictly before ``now`` (so a
  replay after a restart activates them at the very tick the live run did), applies cancellations, moves
  campaigns through their lifecycle, turns the tick's movers into entries and exits for *every* running
  ``ENTERS`` campaign with one lookup in a sparse cells → campaigns index (:func:`targeting.entered`),
  takes snapshots (``PRESENT``, ``HOME``, ``WORK``, ``VISITED``) at the start and at each opening of a daily
  window, releases dwell entries that are due, and sends each campaign's batch (new candidates plus those held
  by quiet hours) through segment → policy → delivery. Every outcome is a row with a deterministic key,
  handed as columns to the store's background writer (``INSERT OR IGNORE``; :mod:`gateway.core.writebehind`), so
  the tick does not wait for SQLite; every read of records drains the writer first.

Restart durability: campaigns, their cancellation instants and every record live in SQLite. A restarted
gateway replays the world from its start (:mod:`gateway.core.journal`); the engine re-runs the same campaigns at the
same ticks, so in-memory state (who was considered, holds, dwell entries, frequency caps, device inboxes) is
rebuilt by the replay itself, and the records it writes again are ignored. Events are not re-emitted during a
replay.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.core.errors import Conflict, InvalidArgument, NotFound, QuotaExceeded, Unprocessable
from gateway.core.ids import parse_public_id, partner_public_id
from gateway.core.settings import MIN_RADIUS_M, CampaignSettings
from gateway.core.store import Store
from gateway.services import delivery, policy, sms, targeting
from gateway.services.caps import FrequencyCaps
from gateway.services.targeting import AreaSpec, CircleSpec, PolygonSpec, Targeting
from gateway.wire.base import format_instant
from simulator.clock import from_micros, to_micros
from simulator.inbox import MessageTemplate
from simulator.segments import Segment
from simulator.world import World

CAMPAIGN_PREFIX = "cmp_"
STATUSES: tuple[str, ...] = ("SCHEDULED", "RUNNING", "COMPLETED", "CANCELLED", "REJECTED")
KINDS: tuple[str, ...] = ("PROMO", "INFORMATIONAL")
CHANNELS: tuple[str, ...] = ("PUSH", "SMS", "PUSH_THEN_SMS")
DAYS: tuple[str, ...] = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
EVENT_TYPES: tuple[str, ...] = ("campaign.started", "campaign.completed", "campaign.cancelled", "campaign.rejected",
                                "campaign.report.hourly")

Listener = Callable[[str, dict[str, Any], datetime], None]
Subs = NDArray[np.int32]
_HOUR_US = 3_600_000_000


def _hours_due(req: CampaignRequest, after_us: int, until_us: int) -> list[tuple[int, int]]:
    """Hourly reports of a campaign due in the tick (``after_us``, ``until_us``]: (hour start, instant due).

    The campaign window [start, end) is cut at clock hours; the report of hour ``h`` is due at ``min(h + 1 h, end)``,
    so every hour of the window gets one report at its end and a campaign ending mid-hour gets a last partial one.
    """
    start_us, end_us = to_micros(req.start), to_micros(req.end)
    due = []
    hour = max(start_us, after_us - _HOUR_US) // _HOUR_US * _HOUR_US
    while hour < min(end_us, until_us):
        at = min(hour + _HOUR_US, end_us)
        if after_us < at <= until_us:
            due.append((hour, at))
        hour += _HOUR_US
    return due


class AudienceTooSmall(Unprocessable):
    code = "CAMPAIGNS.AUDIENCE_TOO_SMALL"
    default_message = "The estimated audience is under the operator's minimum."


class InvalidMessage(InvalidArgument):
    code = "CAMPAIGNS.INVALID_MESSAGE"
    default_message = "The message breaks a channel limit."


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


class _RecordBuffer:
    """The tick's records as column chunks (no Python tuple per record until the writer thread builds rows)."""

    def __init__(self, columns: int) -> None:
        self._COLUMNS = columns
        self._chunks: list[tuple[NDArray[Any], ...]] = []

    def add(self, *columns: NDArray[Any]) -> None:
        if len(columns[0]):
            self._chunks.append(columns)

    def take(self) -> list[NDArray[Any]] | None:
        if not self._chunks:
            return None
        chunks, self._chunks = self._chunks, []
        return [np.concatenate([c[i] for c in chunks]) for i in range(self._COLUMNS)]


def public_id(seq: int) -> str:
    """Wire id of a campaign."""
    return f"{CAMPAIGN_PREFIX}{seq:06d}"


def parse_id(value: str) -> int | None:
    """The counter behind a campaign id, or None."""
    return parse_public_id(value, CAMPAIGN_PREFIX)


def two_significant(n: int) -> int:
    """``n`` rounded to two significant figures (1234 → 1200, 56 → 56)."""
    if n < 100:
        return n
    return int(round(n, -(len(str(n)) - 2)))


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


# -- engine state -------------------------------------------------------------------------------------------

@dataclass
class _Live:
    """A campaign visible to the engine."""

    seq: int
    partner_id: int
    req: CampaignRequest
    target: Targeting
    created_us: int
    running: bool = False
    slot: int = -1  # row of the engine's "seen" bit matrix while the campaign is live
    template: int = -1  # the world's inbox template of its message, once live
    was_open: bool = False
    snapshot_done: bool = False
    counter: int = 0
    sent: int = 0
    seen: NDArray[np.uint8] = field(default_factory=lambda: np.zeros(0, np.uint8))
    held: Subs = field(default_factory=lambda: np.zeros(0, np.int32))
    pending: Subs = field(default_factory=lambda: np.zeros(0, np.int32))
    pending_due: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def id(self) -> str:
        return public_id(self.seq)


class CampaignService:
    """Campaign API service and tick-time engine of one world and store."""

    def __init__(self, world: World, store: Store, settings: CampaignSettings,
                 is_live: Callable[[], bool] = lambda: True, caps: FrequencyCaps | None = None,
                 min_radius_m: float = MIN_RADIUS_M,
                 partner_limit: Callable[[int, str], float | None] = lambda partner, name: None) -> None:
        self.world = world
        self.store = store
        self._partner_limit = partner_limit
        self.settings = settings
        self.min_radius_m = min_radius_m  # Settings.min_radius_m: one rule with the CAMARA location APIs
        self.rules = policy.Rules(settings.quiet_start_hour, settings.quiet_end_hour, settings.daily_cap,
                                  settings.partner_daily_cap)
        self._is_live = is_live
        self._listeners: list[Listener] = []
        self._queued: list[tuple[str, dict[str, Any], datetime]] = []
        # Suppressions and sends are buffered apart: each binds only the columns it has (binding holds the GIL).
        self._suppressions = _RecordBuffer(5)
        self._sends = _RecordBuffer(9)
        self._loaded = False
        self._pending: dict[int, _Live] = {}
        self._live: dict[int, _Live] = {}
        self._cancels: dict[int, int] = {}  # seq -> cancelled_us not yet applied (replay)
        self._moves: list[tuple[Subs, Subs, Subs]] = []
        self._seen = np.zeros((0, 0), np.uint8)  # live campaigns × subscribers, one bit each: "already considered"
        self._free_slots: list[int] = []
        self._slots_used = 0
        self._index_key: tuple[int, ...] = ()
        self._index = targeting.area_index(world.network.n_cells, [])

        self.caps = caps if caps is not None else FrequencyCaps(world.population.size,
                                                                settings.partner_daily_cap is not None)
        """Daily advertising counts, shared with direct PROMO messages (:mod:`gateway.services.caps`)."""
        self._tick_us = world.config.tick_seconds * 1_000_000
        world.on_cell_change(self._on_cells)
        world.on_step(self._on_step)

    # -- listeners ------------------------------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        """Call ``fn(event_type, data, sim_time)`` for campaign events (see :data:`EVENT_TYPES`).

        ``data`` holds the campaign id, the partner id and aggregates only, never a subscriber's identity.
        Events are emitted live only: a replay after a restart does not repeat them.
        """
        self._listeners.append(fn)

    def _emit(self, event: str, data: dict[str, Any], at: datetime) -> None:
        """Queue an event; :meth:`_flush` delivers the queue once the records are committed."""
        if self._listeners and self._is_live():
            self._queued.append((event, data, at))

    def _flush(self) -> None:
        queued, self._queued = self._queued, []
        for event, data, at in queued:
            for fn in self._listeners:
                fn(event, data, at)

    # -- loading ----------------------------------------------------------------------------------------------
    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        rows = self.store.conn.execute(
            "SELECT seq, partner_id, spec, created_us, cancelled_us FROM campaigns WHERE status != 'REJECTED' "
            "ORDER BY seq").fetchall()
        for r in rows:
            req = CampaignRequest.from_json(json.loads(r["spec"]))
            self._pending[r["seq"]] = self._make_live(r["seq"], r["partner_id"], req, r["created_us"])
            if r["cancelled_us"] is not None:
                self._cancels[r["seq"]] = r["cancelled_us"]

    def _make_live(self, seq: int, partner_id: int, req: CampaignRequest, created_us: int) -> _Live:
        t = req.targeting
        areas = [targeting.resolve_area(self.world, a, 0.0, math.inf) for a in t.areas]
        target = Targeting(targeting.cells_of(self.world, areas), t.location_mode, t.segment, t.dwell_minutes,
                           t.visited_from, t.visited_to)
        return _Live(seq, partner_id, req, target, created_us)

    # -- requests -------------------------------------------------------------------------------------------
    def _targeting(self, spec: TargetingSpec) -> Targeting:
        s = self.settings
        if spec.location_mode not in targeting.LOCATION_MODES:
            raise InvalidArgument(f"locationMode must be one of {', '.join(targeting.LOCATION_MODES)}.")
        if spec.dwell_minutes and spec.location_mode != "ENTERS":
            raise InvalidArgument("dwellMinutes applies to locationMode ENTERS only.")
        if spec.location_mode == "VISITED":
            if spec.visited_from is None or spec.visited_to is None:
                raise InvalidArgument("locationMode VISITED needs visitedFrom and visitedTo.")
            if spec.visited_to <= spec.visited_from:
                raise InvalidArgument("visitedTo must be after visitedFrom.")
            if spec.visited_to > self.world.clock.now:
                raise InvalidArgument("visitedTo must not be in the future: VISITED looks at the past.")
        elif spec.visited_from is not None or spec.visited_to is not None:
            raise InvalidArgument("visitedFrom and visitedTo apply to locationMode VISITED only.")
        try:
            spec.segment.validate()
        except Exception as exc:  # InvalidConfigError: a message meant for users
            raise InvalidArgument(f"Invalid segment: {exc}.") from None
        areas = [targeting.resolve_area(self.world, a, self.min_radius_m, s.max_radius_m) for a in spec.areas]
        return Targeting(targeting.cells_of(self.world, areas), spec.location_mode, spec.segment,
                         spec.dwell_minutes, spec.visited_from, spec.visited_to)

    def _count(self, target: Targeting, kind: str, channel: str, max_recipients: int | None
               ) -> tuple[int, int, dict[str, int]]:
        """Raw (reachable audience, location matches, exclusions by reason) now."""
        cands = targeting.estimate_candidates(self.world, target)
        kept, seg_out = targeting.apply_segment(self.world, cands, target.segment)
        app = self.world.app_installed(kept)
        push = self.world.consent.is_permitted(kept, "ADVERTISING", "PUSH")
        sms_ok = self.world.consent.is_permitted(kept, "ADVERTISING", "SMS")
        assert isinstance(push, np.ndarray) and isinstance(sms_ok, np.ndarray)
        n = len(kept)
        facts = policy.Facts(kept, app, push, sms_ok, np.full(n, 12, np.int16), np.ones(n, bool),
                             np.zeros(n, np.int32), np.zeros(n, np.int32))
        decision = policy.decide(facts, kind=kind, channel=channel, rules=self.rules, can_hold=False, remaining=None)
        reasons = np.bincount(decision.reason, minlength=len(policy.REASONS))
        excluded = {"SEGMENT": len(seg_out), "NO_CONSENT": int(reasons[policy.NO_CONSENT]),
                    "NO_APP": int(reasons[policy.NO_APP])}
        reachable = len(decision.send)
        audience = reachable if max_recipients is None else min(reachable, max_recipients)
        return audience, len(cands), excluded

    def _disclose(self, n: int) -> int | None:
        return n if n == 0 or n >= self.settings.privacy_threshold else None

    def estimate(self, spec: TargetingSpec, kind: str = "PROMO", channel: str = "PUSH_THEN_SMS",
                 max_recipients: int | None = None) -> Estimate:
        """Reachable audience now (after segment and consent), rounded; small counts withheld."""
        audience, matched, excluded = self._count(self._targeting(spec), kind, channel, max_recipients)
        withheld: list[str] = []

        def show(name: str, n: int) -> int | None:
            value = self._disclose(n)
            if value is None:
                withheld.append(name)
                return None
            return two_significant(value)

        shown_excluded = {k: show(f"excluded.{k}", v) for k, v in excluded.items()}
        return Estimate(show("audience", audience), show("matched", matched), shown_excluded, withheld)

    def _check_message(self, req: CampaignRequest) -> None:
        problems = sms.text_problems(req.channel, req.text, req.title)
        sender = sms.sender_problem(req.sender_name)
        if sender:
            problems.insert(0, sender)
        if req.kind not in KINDS or req.channel not in CHANNELS:
            problems.append("unknown kind or channel")
        if problems:
            raise InvalidMessage("; ".join(problems) + ".")

    def _check_schedule(self, req: CampaignRequest) -> None:
        if req.end <= req.start:
            raise InvalidArgument("schedule.endTime must be after schedule.startTime.")
        if req.end <= self.world.clock.now:
            raise InvalidArgument(f"schedule.endTime is in the past (now is {format_instant(self.world.clock.now)}).")
        if req.daily_hours is not None and req.daily_hours[0] == req.daily_hours[1]:
            raise InvalidArgument("schedule.dailyHours from and to must differ.")
        if req.max_recipients is not None and req.max_recipients < 1:
            raise InvalidArgument("maxRecipients must be at least 1.")

    def create(self, partner_id: int, req: CampaignRequest, idempotency_key: str | None = None
               ) -> tuple[CampaignView, bool]:
        """Validate, moderate, estimate and store a campaign; returns it and whether it is new.

        The same ``idempotency_key`` with the same body gives back the first campaign; with another body, 409.
        """
        self._ensure_loaded()
        body_hash = hashlib.sha256(json.dumps(req.to_json(), sort_keys=True).encode()).hexdigest()
        if idempotency_key is not None:
            row = self.store.conn.execute("SELECT seq, body_hash FROM campaigns WHERE partner_id = ? AND "
                                          "idempotency_key = ?", (partner_id, idempotency_key)).fetchone()
            if row is not None:
                if row["body_hash"] != body_hash:
                    raise Conflict("Idempotency-Key was already used with a different request body.")
                return self.get(partner_id, public_id(row["seq"])), False
        self._check_quota(partner_id)
        self._check_message(req)
        self._check_schedule(req)
        target = self._targeting(req.targeting)
        now = self.world.clock.now
        hit = sms.moderation_hit(" ".join(filter(None, (req.text, req.title, req.name))),
                                 self.settings.moderation_terms)
        status, reason, audience = "SCHEDULED", None, 0
        if hit is not None:
            status, reason = "REJECTED", f"MODERATION: the text contains the blocked term '{hit}'."
        else:
            audience, _, _ = self._count(target, req.kind, req.channel, req.max_recipients)
            if audience < self.settings.min_audience:
                raise AudienceTooSmall(f"The estimated reachable audience is under the operator minimum of "
                                       f"{self.settings.min_audience}.")
        with self.store.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO campaigns(partner_id, name, spec, status, rejection_reason, estimate, idempotency_key, "
                "body_hash, created_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (partner_id, req.name, json.dumps(req.to_json(), sort_keys=True), status, reason, audience,
                 idempotency_key, body_hash, to_micros(now)))
            seq = int(cur.lastrowid or 0)
        if status == "REJECTED":
            self._emit("campaign.rejected", {"campaignId": public_id(seq), "partnerId": partner_public_id(partner_id),
                                             "status": "REJECTED", "reason": reason}, now)
            self._flush()
        else:
            self._pending[seq] = _Live(seq, partner_id, req, target, to_micros(now))
        return self.get(partner_id, public_id(seq)), True

    def _check_quota(self, partner_id: int) -> None:
        """The partner's ``maxCampaigns`` limit counts its SCHEDULED and RUNNING campaigns (429 QUOTA_EXCEEDED)."""
        limit = self._partner_limit(partner_id, "maxCampaigns")
        if limit is None:
            return
        active = self.store.conn.execute("SELECT COUNT(*) FROM campaigns WHERE partner_id = ? AND status IN "
                                         "('SCHEDULED', 'RUNNING')", (partner_id,)).fetchone()[0]
        if active >= limit:
            raise QuotaExceeded(f"The partner's limit of {limit:g} active campaigns is reached; cancel one or wait "
                                "until one completes.")

    def _row(self, partner_id: int | None, campaign_id: str) -> Any:
        seq = parse_id(campaign_id)
        row = None if seq is None else self.store.conn.execute("SELECT * FROM campaigns WHERE seq = ?",
                                                               (seq,)).fetchone()
        if row is None or (partner_id is not None and row["partner_id"] != partner_id):
            raise NotFound(f"Campaign {campaign_id} not found.")
        return row

    def _view(self, row: Any) -> CampaignView:
        req = CampaignRequest.from_json(json.loads(row["spec"]))
        info = sms.sms_info(req.text)

        def at(us: int | None) -> datetime | None:
            return None if us is None else from_micros(us)

        created = at(row["created_us"])
        assert created is not None
        estimate = self._disclose(int(row["estimate"]))
        return CampaignView(public_id(row["seq"]), row["seq"], row["partner_id"], req, row["status"],
                            row["rejection_reason"], None if estimate is None else two_significant(estimate),
                            created, at(row["started_us"]), at(row["completed_us"]), at(row["cancelled_us"]),
                            info.encoding, info.segments)

    def get(self, partner_id: int | None, campaign_id: str) -> CampaignView:
        """A campaign of that partner (None: any, operator side); 404 otherwise."""
        return self._view(self._row(partner_id, campaign_id))

    def list_own(self, partner_id: int, limit: int, after: str | None = None) -> tuple[list[CampaignView], str | None]:
        """A page of the partner's campaigns, oldest first, and the cursor of the next page."""
        start = 0
        if after is not None:
            seq = parse_id(after)
            if seq is None:
                raise InvalidArgument("cursor is not a campaign id.")
            start = seq
        rows = self.store.conn.execute("SELECT * FROM campaigns WHERE partner_id = ? AND seq > ? ORDER BY seq "
                                       "LIMIT ?", (partner_id, start, limit + 1)).fetchall()
        views = [self._view(r) for r in rows[:limit]]
        return views, (views[-1].id if len(rows) > limit else None)

    def cancel(self, partner_id: int, campaign_id: str) -> CampaignView:
        """Stop a scheduled or running campaign now: no further sends; held candidates become CANCELLED."""
        self._ensure_loaded()
        row = self._row(partner_id, campaign_id)
        if row["status"] not in ("SCHEDULED", "RUNNING"):
            raise Conflict(f"Campaign {campaign_id} is {row['status']} and cannot be cancelled.")
        now = self.world.clock.now
        with self.store.transaction() as conn:
            conn.execute("UPDATE campaigns SET status = 'CANCELLED', cancelled_us = ? WHERE seq = ?",
                         (to_micros(now), row["seq"]))
        # Outside the transaction: the background record writer must be free to take the write lock.
        self._apply_cancel(self.store.conn, row["seq"], now)
        self._write()
        self._flush()
        return self.get(partner_id, campaign_id)

    def _apply_cancel(self, conn: Any, seq: int, at: datetime) -> None:
        self._cancels.pop(seq, None)
        if self._pending.pop(seq, None) is not None:
            live: _Live | None = None
        else:
            live = self._live.pop(seq, None)
            if live is not None:
                self._detach(live)
        if live is not None and len(live.held):
            self._suppress(live, live.held, np.full(len(live.held), policy.CANCELLED, np.uint8), at)
            live.held = live.held[:0]
        partner = conn.execute("SELECT partner_id FROM campaigns WHERE seq = ?", (seq,)).fetchone()["partner_id"]
        at_us = to_micros(at)
        if live is not None and live.running and at_us % _HOUR_US:  # the hour cut short gets its report
            self._report_hour(seq, partner, at_us // _HOUR_US * _HOUR_US, at)
        self._emit("campaign.cancelled", {"campaignId": public_id(seq), "partnerId": partner_public_id(partner),
                                          "status": "CANCELLED", **self._aggregates(seq, at)}, at)

    # -- reports ----------------------------------------------------------------------------------------------
    def _aggregates(self, seq: int, now: datetime, hour_us: int | None = None) -> dict[str, Any]:
        """Privacy-safe totals for events (optionally of one hour)."""
        self._write()
        self.store.drain()  # the records of this very tick are included
        now_us = to_micros(now)
        where, args = "campaign_seq = ?", [seq]
        if hour_us is not None:
            where += " AND at_us >= ? AND at_us < ?"
            args += [hour_us, hour_us + _HOUR_US]
        r = self.store.conn.execute(
            f"SELECT COUNT(*) AS matched, SUM(outcome != 'SUPPRESSED') AS sent, SUM(outcome = 'DELIVERED') AS "
            f"delivered, SUM(outcome = 'FAILED') AS failed, SUM(opened_us <= ?) AS opened, SUM(clicked_us <= ?) "
            f"AS clicked, SUM(outcome = 'SUPPRESSED') AS suppressed FROM campaign_records WHERE {where}",
            [now_us, now_us, *args]).fetchone()
        return {k: self._disclose(int(r[k] or 0)) for k in
                ("matched", "sent", "delivered", "failed", "opened", "clicked", "suppressed")}

    def report(self, partner_id: int | None, campaign_id: str) -> Report:
        """Aggregates of a campaign as of now: totals, suppressions by reason, hourly series."""
        self._ensure_loaded()
        row = self._row(partner_id, campaign_id)
        seq = row["seq"]
        now = self.world.clock.now
        now_us = to_micros(now)
        self.store.drain()
        conn = self.store.conn
        totals = conn.execute(
            "SELECT COUNT(*) AS matched, SUM(outcome != 'SUPPRESSED') AS sent, SUM(outcome = 'DELIVERED') AS "
            "delivered, SUM(outcome = 'FAILED') AS failed, SUM(opened_us <= ?) AS opened, "
            "SUM(clicked_us <= ?) AS clicked FROM campaign_records WHERE campaign_seq = ?",
            (now_us, now_us, seq)).fetchone()
        reasons = dict(conn.execute("SELECT reason, COUNT(*) FROM campaign_records WHERE campaign_seq = ? AND "
                                    "outcome = 'SUPPRESSED' GROUP BY reason", (seq,)).fetchall())
        hourly_rows = conn.execute(
            "SELECT at_us / ? AS h, SUM(outcome != 'SUPPRESSED') AS sent, SUM(outcome = 'DELIVERED') AS delivered, "
            "SUM(outcome = 'FAILED') AS failed, SUM(opened_us <= ?) AS opened, SUM(clicked_us <= ?) AS clicked, "
            "SUM(outcome = 'SUPPRESSED') AS suppressed FROM campaign_records WHERE campaign_seq = ? GROUP BY h "
            "ORDER BY h", (_HOUR_US, now_us, now_us, seq)).fetchall()
        live = self._live.get(seq)
        held = len(live.held) if live is not None else 0
        withheld: list[str] = []

        def show(name: str, n: Any) -> int | None:
            value = self._disclose(int(n or 0))
            if value is None:
                withheld.append(name)
            return value

        suppressed = {r: show(f"suppressed.{r}", reasons.get(r, 0)) for r in policy.REASONS}
        hourly = []
        for h in hourly_rows:
            stamp = format_instant(from_micros(int(h["h"]) * _HOUR_US))
            hourly.append(HourlyPoint(from_micros(int(h["h"]) * _HOUR_US), *(
                show(f"hourly[{stamp}].{k}", h[k]) for k in ("sent", "delivered", "failed", "opened", "clicked",
                                                              "suppressed"))))
        return Report(public_id(seq), row["status"], now, show("matched", int(totals["matched"] or 0) + held),
                      show("held", held), suppressed, show("sent", totals["sent"]),
                      show("delivered", totals["delivered"]), show("failed", totals["failed"]),
                      show("opened", totals["opened"]), show("clicked", totals["clicked"]), hourly, withheld)

    def records(self, campaign_id: str, limit: int, after: int = 0) -> tuple[list[Record], int | None]:
        """Operator-side truth: a page of every outcome (delivery or suppression) with its subscriber."""
        row = self._row(None, campaign_id)
        self.store.drain()
        rows = self.store.conn.execute("SELECT * FROM campaign_records WHERE campaign_seq = ? AND seq > ? "
                                       "ORDER BY seq LIMIT ?", (row["seq"], after, limit + 1)).fetchall()
        page = rows[:limit]
        numbers = self.world.msisdns(np.array([r["subscriber"] for r in page], dtype=np.int64))

        def at(us: int | None) -> datetime | None:
            return None if us is None else from_micros(us)

        out = [Record(record_id(r["campaign_seq"], r["seq"], r["outcome"]), r["subscriber"], m,
                      from_micros(r["at_us"]), r["outcome"], r["reason"], r["channel"], at(r["delivered_us"]),
                      at(r["opened_us"]), at(r["clicked_us"])) for r, m in zip(page, numbers, strict=True)]
        return out, (page[-1]["seq"] if len(rows) > limit else None)

    # -- engine -------------------------------------------------------------------------------------------------
    def _on_cells(self, now: datetime, subs: Subs, old: Subs, new: Subs) -> None:
        if any(c.target.mode == "ENTERS" and c.running for c in self._live.values()):
            self._moves.append((subs, old, new))

    def _window_open(self, req: CampaignRequest, now: datetime) -> bool:
        local = self.world.local_time(now)
        if req.days_of_week and DAYS[local.weekday()] not in req.days_of_week:
            return False
        if req.daily_hours is None:
            return True
        m = local.hour * 60 + local.minute
        lo, hi = _minutes(req.daily_hours[0]), _minutes(req.daily_hours[1])
        return lo <= m < hi if lo < hi else (m >= lo or m < hi)

    def _can_hold(self, req: CampaignRequest, now: datetime) -> bool:
        """Whether the schedule is still open when the current quiet hours end (city time)."""
        local = self.world.local_time(now)
        release = local.replace(hour=self.rules.quiet_end_hour, minute=0, second=0, microsecond=0)
        if release <= local:
            release += timedelta(days=1)
        return release < req.end

    def _on_step(self, now: datetime) -> None:
        self._ensure_loaded()
        if not self._pending and not self._live and not self._cancels:
            self._moves.clear()
            return
        self.caps.grow(self.world.population.size)
        now_us = to_micros(now)
        moves, self._moves = self._moves, []
        events: list[tuple[_Live, str, str]] = []
        updates: list[tuple[str, tuple[Any, ...]]] = []  # status changes: rare, so most ticks write no row here
        conn = self.store.conn
        self._fit_seen()
        for seq in sorted(s for s, c in self._pending.items() if c.created_us < now_us):
            self._live[seq] = self._attach(self._pending.pop(seq))
        for seq in sorted(s for s, at in self._cancels.items() if at < now_us):
            self._apply_cancel(conn, seq, from_micros(self._cancels[seq]))
        hourly: list[tuple[_Live, int, int]] = []
        for seq in sorted(self._live):
            c = self._live[seq]
            if not c.running and now >= c.req.start:
                c.running = True
                updates.append(("UPDATE campaigns SET status = 'RUNNING', started_us = ? WHERE seq = ? AND "
                                "status = 'SCHEDULED'", (now_us, seq)))
                events.append((c, "campaign.started", "RUNNING"))
            if c.running:
                hourly += [(c, hour, due) for hour, due in _hours_due(c.req, now_us - self._tick_us, now_us)]
            if c.running and now >= c.req.end:
                updates.append(self._complete(c, now))
                events.append((c, "campaign.completed", "COMPLETED"))
        enters = [c for _, c in sorted(self._live.items()) if c.running and c.target.mode == "ENTERS"]
        in_subs, in_j, out_subs, out_j = self._entries(enters, moves)
        # No-dwell ENTERS campaigns with their window open are evaluated together; the rest one by one.
        fast = np.array([c.target.dwell_minutes == 0 and self._window_open(c.req, now) for c in enters], bool)
        fresh = self._fresh_entries(enters, in_subs[fast[in_j]], in_j[fast[in_j]], now) if len(enters) else {}
        slow = ~fast[in_j] if len(enters) else np.zeros(0, bool)
        slow_out = ~fast[out_j] if len(enters) else np.zeros(0, bool)
        ins = self._per_campaign(enters, in_subs[slow], in_j[slow])
        outs = self._per_campaign(enters, out_subs[slow_out], out_j[slow_out])
        no_one = np.zeros(0, np.int32)
        batches = []
        for seq in sorted(self._live):
            c = self._live[seq]
            if not c.running:
                continue
            if c.target.mode == "ENTERS" and c.target.dwell_minutes == 0 and self._window_open(c.req, now):
                c.was_open = True
                new = fresh.get(seq, no_one)
                batch = (np.sort(np.concatenate([c.held, new])).astype(np.int32) if len(c.held) else new) \
                    if len(c.held) or len(new) else None
            else:
                moved = (ins.get(seq, no_one), outs.get(seq, no_one)) if c.target.mode == "ENTERS" else None
                batch = self._evaluate(c, now, moved)
            if batch is not None:
                batches.append((c, batch))
        if batches:
            self._decide(batches, now)
        self._write()
        if updates:
            with self.store.transaction() as tx:
                for sql, args in updates:
                    tx.execute(sql, args)
        for c, hour, due in hourly:  # before "completed": the last hour's report precedes the end
            self._report_hour(c.seq, c.partner_id, hour, from_micros(due))
        for c, event, status in events:
            self._emit(event, {"campaignId": c.id, "partnerId": partner_public_id(c.partner_id),
                               "status": status, **self._aggregates(c.seq, now)}, now)
        self._flush()

    def _report_hour(self, seq: int, partner_id: int, hour_us: int, at: datetime) -> None:
        """Emit ``campaign.report.hourly`` for the hour from ``hour_us``, at the end of what it covers (``at``)."""
        if not self._listeners or not self._is_live():
            return
        data = {"campaignId": public_id(seq), "partnerId": partner_public_id(partner_id),
                "hour": format_instant(from_micros(hour_us)), **self._aggregates(seq, at, hour_us)}
        self._emit("campaign.report.hourly", data, at)

    def _complete(self, c: _Live, now: datetime) -> tuple[str, tuple[Any, ...]]:
        """End a campaign in memory; returns the status update for the caller's transaction."""
        if len(c.held):
            self._suppress(c, c.held, np.full(len(c.held), policy.QUIET_HOURS, np.uint8), now)
        c.held = c.held[:0]
        self._detach(self._live.pop(c.seq))
        return ("UPDATE campaigns SET status = 'COMPLETED', completed_us = ? WHERE seq = ? AND status IN "
                "('SCHEDULED', 'RUNNING')", (to_micros(now), c.seq))

    def _entries(self, enters: list[_Live], moves: list[tuple[Subs, Subs, Subs]]
                 ) -> tuple[Subs, NDArray[np.intp], Subs, NDArray[np.intp]]:
        """Entrants and leavers of every running ENTERS campaign this tick, as (subscribers, index into
        ``enters``) sorted by campaign: one sparse index lookup for all campaigns."""
        empty = np.zeros(0, np.int32), np.zeros(0, np.intp)
        if not enters or not moves:
            return (*empty, *empty)
        key = tuple(c.seq for c in enters)
        if key != self._index_key:
            self._index = targeting.area_index(self.world.network.n_cells, [c.target.cells for c in enters])
            self._index_key = key
        subs = np.concatenate([m[0] for m in moves])
        old = np.concatenate([m[1] for m in moves])
        new = np.concatenate([m[2] for m in moves])
        touching = self._index.changed(old, new)  # movers whose campaigns did not change are dropped at once
        subs, old, new = subs[touching], old[touching], new[touching]
        e_row, e_col, x_row, x_col = targeting.entered(self._index, old, new)
        return subs[e_row], e_col.astype(np.intp), subs[x_row], x_col.astype(np.intp)

    @staticmethod
    def _per_campaign(enters: list[_Live], subs: Subs, j: NDArray[np.intp]) -> dict[int, Subs]:
        bounds = np.searchsorted(j, np.arange(len(enters) + 1))
        return {enters[i].seq: subs[bounds[i]:bounds[i + 1]] for i in np.flatnonzero(np.diff(bounds)).tolist()}

    # -- "already considered" bits: one row per live campaign, views handed to the campaigns -----------------
    def _fit_seen(self, rows: int | None = None) -> None:
        """Make the bit matrix wide enough for the population and tall enough for ``rows`` campaigns."""
        width = (self.world.population.size + 7) // 8
        height = max(rows or 0, self._seen.shape[0])
        if self._seen.shape[1] >= width and self._seen.shape[0] >= height:
            return
        grown = np.zeros((height, max(width, self._seen.shape[1])), np.uint8)
        grown[: self._seen.shape[0], : self._seen.shape[1]] = self._seen
        self._seen = grown
        for c in self._live.values():
            c.seen = grown[c.slot]

    def _attach(self, c: _Live) -> _Live:
        """Give a campaign becoming live a cleared row of the bit matrix."""
        if self._free_slots:
            c.slot = self._free_slots.pop()
        else:
            c.slot = self._slots_used
            self._slots_used += 1
            if c.slot >= self._seen.shape[0]:
                self._fit_seen(max(4, 2 * c.slot))  # doubling: few reallocations for many campaigns
        self._seen[c.slot] = 0
        c.seen = self._seen[c.slot]
        req = c.req
        # A delivered message's inbox id is its record's id: the device and the operator-side truth agree.
        c.template = self.world.message_template(MessageTemplate(
            req.sender_name, req.text, req.kind, req.title, record_id_prefix(c.seq, "DELIVERED"), RECORD_ID_DIGITS,
            {"campaignId": c.id}))
        return c

    def _detach(self, c: _Live) -> None:
        if c.slot >= 0:
            self._free_slots.append(c.slot)
            c.slot = -1

    def _fresh_entries(self, enters: list[_Live], subs: Subs, j: NDArray[np.intp], now: datetime) -> dict[int, Subs]:
        """First-time entrants of every no-dwell ENTERS campaign at once (segment misfits queued as suppressed)."""
        if len(subs) == 0:
            return {}
        n = np.int64(max(self.world.population.size, 1))
        key = np.unique(j.astype(np.int64) * n + subs)
        j, subs = key // n, (key % n).astype(np.int32)
        slots = np.array([c.slot for c in enters], dtype=np.int64)[j]
        byte, bit = subs >> 3, (np.uint8(1) << (subs & 7).astype(np.uint8)).astype(np.uint8)
        unseen = (self._seen[slots, byte] & bit) == 0
        j, subs, slots, byte, bit = j[unseen], subs[unseen], slots[unseen], byte[unseen], bit[unseen]
        np.bitwise_or.at(self._seen, (slots, byte), bit)
        bounds = np.searchsorted(j, np.arange(len(enters) + 1))
        out: dict[int, Subs] = {}
        for idx in np.flatnonzero(np.diff(bounds)).tolist():
            c = enters[idx]
            kept, misfit = targeting.apply_segment(self.world, subs[bounds[idx]:bounds[idx + 1]], c.target.segment)
            if len(misfit):
                self._suppress(c, misfit, np.full(len(misfit), policy.SEGMENT, np.uint8), now)
            out[c.seq] = kept
        return out

    @staticmethod
    def _unseen(c: _Live, subs: Subs, n: int) -> Subs:
        bits = (c.seen[subs >> 3] >> (subs & 7).astype(np.uint8)) & 1
        unseen: Subs = subs[bits == 0]
        return unseen

    @staticmethod
    def _mark_seen(c: _Live, subs: Subs) -> None:
        np.bitwise_or.at(c.seen, subs >> 3, (np.uint8(1) << (subs & 7).astype(np.uint8)).astype(np.uint8))

    def _evaluate(self, c: _Live, now: datetime, moved: tuple[Subs, Subs] | None) -> Subs | None:
        """New candidates of a campaign this tick (SEGMENT ones queued as suppressed) plus those held."""
        world = self.world
        open_now = self._window_open(c.req, now)
        parts: list[Subs] = []
        if c.target.mode == "ENTERS":
            ins, outs = moved if moved is not None else (np.zeros(0, np.int32), np.zeros(0, np.int32))
            if c.target.dwell_minutes:
                if len(outs) and len(c.pending):
                    keep = ~np.isin(c.pending, outs)
                    c.pending, c.pending_due = c.pending[keep], c.pending_due[keep]
                if open_now and len(ins):
                    fresh = self._unseen(c, np.unique(ins).astype(np.int32), world.population.size)
                    fresh = fresh[~np.isin(fresh, c.pending)]
                    ticks = math.ceil(c.target.dwell_minutes * 60 / world.config.tick_seconds)
                    c.pending = np.concatenate([c.pending, fresh])
                    c.pending_due = np.concatenate([c.pending_due,
                                                    np.full(len(fresh), world.tick_index + ticks, np.int64)])
                if len(c.pending):
                    due = c.pending_due <= world.tick_index
                    parts.append(c.pending[due])
                    c.pending, c.pending_due = c.pending[~due], c.pending_due[~due]
            elif open_now and len(ins):
                parts.append(ins)
        elif open_now and not c.was_open and not (c.target.mode == "VISITED" and c.snapshot_done):
            parts.append(targeting.snapshot(world, c.target))
            c.snapshot_done = True
        c.was_open = open_now
        fresh = np.zeros(0, np.int32)
        if parts:
            fresh = self._unseen(c, np.unique(np.concatenate(parts)).astype(np.int32), world.population.size)
            if len(fresh):
                self._mark_seen(c, fresh)
                kept, out = targeting.apply_segment(world, fresh, c.target.segment)
                if len(out):
                    self._suppress(c, out, np.full(len(out), policy.SEGMENT, np.uint8), now)
                fresh = kept
        if len(c.held) == 0 and len(fresh) == 0:
            return None
        return np.sort(np.concatenate([c.held, fresh])).astype(np.int32)

    def _decide(self, items: list[tuple[_Live, Subs]], now: datetime) -> None:
        """Policy, delivery and records for the batches of every campaign of this tick, in one vectorised pass."""
        world = self.world
        subs = np.concatenate([b for _, b in items]).astype(np.int32)
        sizes = np.array([len(b) for _, b in items])
        camp = np.repeat(np.arange(len(items)), sizes)
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        clock = world.local_clock(subs)
        push = world.consent.is_permitted(subs, "ADVERTISING", "PUSH")
        sms_ok = world.consent.is_permitted(subs, "ADVERTISING", "SMS")
        assert isinstance(push, np.ndarray) and isinstance(sms_ok, np.ndarray)
        partner = np.array([c.partner_id for c, _ in items], dtype=np.int64)
        sent_today, partner_today = self.caps.today(subs, clock.day, partner[camp])
        facts = policy.Facts(subs, world.app_installed(subs), push, sms_ok, clock.hour,
                             world.is_reachable(subs.astype(np.int64)), sent_today, partner_today)
        unlimited = 2**62
        d = policy.decide_batch(
            facts, camp, promo=np.array([c.req.kind == "PROMO" for c, _ in items]),
            channel=np.array([CHANNELS.index(c.req.channel) for c, _ in items], dtype=np.uint8),
            can_hold=np.array([self._can_hold(c.req, now) for c, _ in items]),
            remaining=np.array([unlimited if c.req.max_recipients is None else c.req.max_recipients - c.sent
                                for c, _ in items], dtype=np.int64),
            partner=partner, rules=self.rules)
        send = np.flatnonzero(d.send)
        self.caps.record(subs[send], clock.day[send], partner[camp[send]])
        rng = world.streams.stream("campaign-delivery", world.tick_index)
        promo = np.array([c.req.kind == "PROMO" for c, _ in items])[camp[send]]
        out = delivery.simulate(rng, d.channel[send], promo, clock.hour[send], world.ages(subs[send]),
                                world.sms_delay_s())
        now_us = to_micros(now)
        delivered_us = now_us + np.round(out.latency_s * 1e6).astype(np.int64)
        opened_us = delivered_us + np.nan_to_num(out.open_after_s * 1e6, nan=-1e18).astype(np.int64)
        clicked_us = delivered_us + np.nan_to_num(out.click_after_s * 1e6, nan=-1e18).astype(np.int64)
        lives = [c for c, _ in items]
        for j, c in enumerate(lives):
            c.held = subs[bounds[j]:bounds[j + 1]][d.held[bounds[j]:bounds[j + 1]]]
        # Records for every campaign at once; per campaign, suppressions are numbered before sends, as always.
        refused = np.flatnonzero(d.reason != 255)
        self._suppress_many(lives, camp[refused], subs[refused], d.reason[refused], now)
        if len(send):
            self._sent_many(lives, camp[send], subs[send], d.channel[send], out.delivered, delivered_us, opened_us,
                            clicked_us, now_us)

    @staticmethod
    def _seqs_many(lives: list[_Live], camp: NDArray[np.intp]) -> NDArray[np.int64]:
        """Next record numbers per campaign for records of campaigns ``lives[camp]`` (``camp`` ascending)."""
        counts = np.bincount(camp, minlength=len(lives))
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        base = np.array([c.counter for c in lives], dtype=np.int64)
        seqs: NDArray[np.int64] = base[camp] + np.arange(len(camp)) - first[camp] + 1
        for c, k in zip(lives, counts.tolist(), strict=True):
            c.counter += k
        return seqs

    def _suppress(self, c: _Live, subs: Subs, reasons: NDArray[np.uint8], now: datetime) -> None:
        """Queue suppression records of one campaign."""
        self._suppress_many([c], np.zeros(len(subs), np.intp), subs, reasons, now)

    def _suppress_many(self, lives: list[_Live], camp: NDArray[np.intp], subs: Subs, reasons: NDArray[np.uint8],
                       now: datetime) -> None:
        """Queue suppression records (written with the tick's other records, off the tick's path)."""
        n = len(subs)
        if n == 0:
            return
        names = np.asarray(policy.REASONS, dtype=object)[reasons]
        campaign_seq = np.array([c.seq for c in lives], dtype=np.int64)[camp]
        self._suppressions.add(campaign_seq, self._seqs_many(lives, camp), subs, np.full(n, to_micros(now), np.int64),
                               names)

    def _sent_many(self, lives: list[_Live], camp: NDArray[np.intp], subs: Subs, channel: NDArray[np.uint8],
                   ok: NDArray[np.bool_], delivered_us: NDArray[np.int64], opened_us: NDArray[np.int64],
                   clicked_us: NDArray[np.int64], now_us: int) -> None:
        """Queue the records of the sends (``camp`` ascending) and put the delivered ones in the inboxes."""
        n = len(subs)
        seqs = self._seqs_many(lives, camp)
        counts = np.bincount(camp, minlength=len(lives))
        for c, k in zip(lives, counts.tolist(), strict=True):
            c.sent += k
        names = np.asarray(policy.CHANNELS, dtype=object)[channel]
        outcome = np.where(ok, "DELIVERED", "FAILED").astype(object)

        def nullable(values: NDArray[np.int64]) -> NDArray[np.object_]:
            out = values.astype(object)
            out[~ok | (values < 0)] = None
            return out

        campaign_seq = np.array([c.seq for c in lives], dtype=np.int64)[camp]
        self._sends.add(campaign_seq, seqs, subs, np.full(n, now_us, np.int64), outcome, names,
                        nullable(delivered_us), nullable(opened_us), nullable(clicked_us))
        good = np.flatnonzero(ok)
        template = np.array([c.template for c in lives], dtype=np.int32)
        self.world.deliver_batch(subs[good], delivered_us[good], channel[good], policy.CHANNELS,
                                 template[camp[good]], seqs[good])

    def _write(self) -> None:
        """Hand the tick's records to the store's background writer (idempotent: a replay re-sends the same keys)."""
        suppressed = self._suppressions.take()
        if suppressed is not None:
            self.store.append_rows(
                "INSERT OR IGNORE INTO campaign_records(campaign_seq, seq, subscriber, at_us, outcome, reason) "
                "VALUES (?, ?, ?, ?, 'SUPPRESSED', ?)", suppressed)
        sent = self._sends.take()
        if sent is not None:
            self.store.append_rows(
                "INSERT OR IGNORE INTO campaign_records(campaign_seq, seq, subscriber, at_us, outcome, channel, "
                "delivered_us, opened_us, clicked_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", sent)
