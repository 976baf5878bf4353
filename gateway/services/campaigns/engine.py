"""The tick engine of targeted campaigns: live campaigns evaluated inside world ticks (DESIGN §3).

Owns the campaigns visible to the world (:class:`LiveCampaign`), their lifecycle moves, the per-tick evaluation,
the tick's records (buffered as columns, handed to the store's background writer) and the events (lifecycle and
hourly reports). It hangs off two world listeners and never loops over subscribers:

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

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.core.disclosure import disclose
from gateway.core.ids import partner_public_id
from gateway.services import delivery, policy, targeting
from gateway.services.campaigns.model import (
    CHANNELS,
    DAYS,
    RECORD_ID_DIGITS,
    CampaignRequest,
    public_id,
    record_id_prefix,
)
from gateway.services.campaigns.repository import HOUR_US, CampaignRepository
from gateway.services.caps import FrequencyCaps
from gateway.services.targeting import Targeting
from gateway.wire.base import format_instant
from simulator.clock import from_micros, to_micros
from simulator.inbox import MessageTemplate
from simulator.world import LocalClock, World

Listener = Callable[[str, dict[str, Any], datetime], None]
Subs = NDArray[np.int32]
_HOUR_US = HOUR_US


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


@dataclass
class OutcomeCounts:
    """Recipients the engine decided since start-up, as the metrics show them (a restart's replay counts again, so
    they add up to the world's totals): sends by outcome and suppressions by reason (indexed as
    :data:`gateway.services.policy.REASONS`). Added once per batch, never per recipient."""

    delivered: int = 0
    failed: int = 0
    suppressed: NDArray[np.int64] = field(default_factory=lambda: np.zeros(len(policy.REASONS), np.int64))


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


@dataclass
class LiveCampaign:
    """A campaign visible to the engine."""

    seq: int
    partner_id: int
    req: CampaignRequest
    target: Targeting
    created_us: int
    running: bool = False
    slot: int = -1  # row of the engine's "seen" bit matrix while the campaign is live
    template: int = -1  # the world's inbox template of its message, once live
    was_open: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(1, bool))  # per time zone
    snapshot_done: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(1, bool))  # per time zone
    counter: int = 0
    sent: int = 0
    seen: NDArray[np.uint8] = field(default_factory=lambda: np.zeros(0, np.uint8))
    held: Subs = field(default_factory=lambda: np.zeros(0, np.int32))
    pending: Subs = field(default_factory=lambda: np.zeros(0, np.int32))
    pending_due: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def id(self) -> str:
        return public_id(self.seq)


class CampaignEngine:
    """The campaigns of one world and store, evaluated at every tick of the world."""

    def __init__(self, world: World, repository: CampaignRepository, rules: policy.Rules, caps: FrequencyCaps,
                 privacy_threshold: int, is_live: Callable[[], bool] = lambda: True) -> None:
        self.world = world
        self.repository = repository
        self.rules = rules
        self.caps = caps
        self.privacy_threshold = privacy_threshold
        self._is_live = is_live
        self._listeners: list[Listener] = []
        self._queued: list[tuple[str, dict[str, Any], datetime]] = []
        # Suppressions and sends are buffered apart: each binds only the columns it has (binding holds the GIL).
        self._suppressions = _RecordBuffer(5)
        self._sends = _RecordBuffer(9)
        self._loaded = False
        self._pending: dict[int, LiveCampaign] = {}
        self._live: dict[int, LiveCampaign] = {}
        self._cancels: dict[int, int] = {}  # seq -> cancelled_us not yet applied (replay)
        self._moves: list[tuple[Subs, Subs, Subs]] = []
        self._seen = np.zeros((0, 0), np.uint8)  # live campaigns × subscribers, one bit each: "already considered"
        self._free_slots: list[int] = []
        self._slots_used = 0
        self._index_key: tuple[int, ...] = ()
        self._index = targeting.area_index(world.cell_count, [])
        self._tick_us = world.config.tick_seconds * 1_000_000
        self._zone_clock_at: tuple[datetime, LocalClock] | None = None
        self.outcomes = OutcomeCounts()
        """Sends and suppressions so far (read by the metrics at scrape time)."""
        world.on_cell_change(self._on_cells)
        world.on_step(self._on_step)

    # -- what the service asks ----------------------------------------------------------------------------------
    def schedule(self, seq: int, partner_id: int, req: CampaignRequest, target: Targeting, created_us: int) -> None:
        """A campaign just stored: live from the first tick after its creation."""
        self._pending[seq] = LiveCampaign(seq, partner_id, req, target, created_us)

    def cancel(self, seq: int, at: datetime) -> None:
        """Stop a campaign the service has just marked CANCELLED: held candidates become CANCELLED records."""
        self._apply_cancel(seq, at)
        self._write()
        self._flush()

    def rejected(self, seq: int, partner_id: int, reason: str, at: datetime) -> None:
        """Announce a campaign refused by moderation."""
        self._emit("campaign.rejected", {"campaignId": public_id(seq), "partnerId": partner_public_id(partner_id),
                                         "status": "REJECTED", "reason": reason}, at)
        self._flush()

    def held(self, seq: int) -> int:
        """Candidates of a live campaign held by quiet hours now."""
        live = self._live.get(seq)
        return len(live.held) if live is not None else 0

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
    def load(self) -> None:
        """Take the stored campaigns in, once (the first tick or request after the store opened)."""
        if self._loaded:
            return
        self._loaded = True
        for seq, partner_id, req, created_us, cancelled_us in self.repository.not_rejected():
            self._pending[seq] = self._make_live(seq, partner_id, req, created_us)
            if cancelled_us is not None:
                self._cancels[seq] = cancelled_us

    def _make_live(self, seq: int, partner_id: int, req: CampaignRequest, created_us: int) -> LiveCampaign:
        t = req.targeting
        areas = [targeting.resolve_area(self.world, a, 0.0, math.inf) for a in t.areas]
        target = Targeting(targeting.cells_of(self.world, areas), t.location_mode, t.segment, t.dwell_minutes,
                           t.visited_from, t.visited_to)
        return LiveCampaign(seq, partner_id, req, target, created_us)

    # -- cancellations and events ------------------------------------------------------------------------------
    def _apply_cancel(self, seq: int, at: datetime) -> None:
        self._cancels.pop(seq, None)
        if self._pending.pop(seq, None) is not None:
            live: LiveCampaign | None = None
        else:
            live = self._live.pop(seq, None)
            if live is not None:
                self._detach(live)
        if live is not None and len(live.held):
            self._suppress(live, live.held, np.full(len(live.held), policy.CANCELLED, np.uint8), at)
            live.held = live.held[:0]
        partner = self.repository.partner_of(seq)
        at_us = to_micros(at)
        if live is not None and live.running and at_us % _HOUR_US:  # the hour cut short gets its report
            self._report_hour(seq, partner, at_us // _HOUR_US * _HOUR_US, at)
        self._emit("campaign.cancelled", {"campaignId": public_id(seq), "partnerId": partner_public_id(partner),
                                          "status": "CANCELLED", **self._aggregates(seq, at)}, at)

    def _aggregates(self, seq: int, now: datetime, hour_us: int | None = None) -> dict[str, Any]:
        """Privacy-safe totals for events (optionally of one hour)."""
        self._write()
        self.repository.drain()  # the records of this very tick are included
        r = self.repository.totals(seq, to_micros(now), hour_us)
        return {k: disclose(int(r[k] or 0), self.privacy_threshold) for k in
                ("matched", "sent", "delivered", "failed", "opened", "clicked", "suppressed")}

    # -- ticks -------------------------------------------------------------------------------------------------
    def _on_cells(self, now: datetime, subs: Subs, old: Subs, new: Subs) -> None:
        if any(c.target.mode == "ENTERS" and c.running for c in self._live.values()):
            self._moves.append((subs, old, new))

    def _window_open(self, req: CampaignRequest, now: datetime) -> NDArray[np.bool_]:
        """Per time zone of the world: whether the campaign's days and daily hours are open there now.

        A subscriber's window is their own zone's (a one-zone world has one answer for everyone).
        """
        clock = self._zone_clock(now)
        ok = np.ones(len(clock.hour), bool)
        if req.days_of_week:
            ok &= np.isin(np.asarray(DAYS)[clock.weekday], list(req.days_of_week))
        if req.daily_hours is None:
            return ok
        m = clock.minute
        lo, hi = _minutes(req.daily_hours[0]), _minutes(req.daily_hours[1])
        in_hours = (lo <= m) & (m < hi) if lo < hi else (m >= lo) | (m < hi)
        out: NDArray[np.bool_] = ok & in_hours
        return out

    def _zone_clock(self, now: datetime) -> LocalClock:
        """The world's zone clocks at ``now``, computed once per tick."""
        if self._zone_clock_at is None or self._zone_clock_at[0] != now:
            self._zone_clock_at = (now, self.world.zone_clock(now))
        return self._zone_clock_at[1]

    def _can_hold(self, req: CampaignRequest, now: datetime) -> NDArray[np.bool_]:
        """Per time zone: whether the schedule is still open when the current quiet hours end there."""
        out = np.zeros(len(self.world.zones), bool)
        for z, zone in enumerate(self.world.zones):
            local = now.astimezone(zone)
            release = local.replace(hour=self.rules.quiet_end_hour, minute=0, second=0, microsecond=0)
            if release <= local:
                release += timedelta(days=1)
            out[z] = release < req.end
        return out

    def _on_step(self, now: datetime) -> None:
        self.load()
        if not self._pending and not self._live and not self._cancels:
            self._moves.clear()
            return
        self.caps.grow(self.world.subscriber_count)
        now_us = to_micros(now)
        moves, self._moves = self._moves, []
        events: list[tuple[LiveCampaign, str, str]] = []
        started: list[tuple[int, int]] = []  # status changes: rare, so most ticks write no row here
        completed: list[tuple[int, int]] = []
        self._fit_seen()
        for seq in sorted(s for s, c in self._pending.items() if c.created_us < now_us):
            self._live[seq] = self._attach(self._pending.pop(seq))
        for seq in sorted(s for s, at in self._cancels.items() if at < now_us):
            self._apply_cancel(seq, from_micros(self._cancels[seq]))
        hourly: list[tuple[LiveCampaign, int, int]] = []
        for seq in sorted(self._live):
            c = self._live[seq]
            if not c.running and now >= c.req.start:
                c.running = True
                started.append((seq, now_us))
                events.append((c, "campaign.started", "RUNNING"))
            if c.running:
                hourly += [(c, hour, due) for hour, due in _hours_due(c.req, now_us - self._tick_us, now_us)]
            if c.running and now >= c.req.end:
                self._complete(c, now)
                completed.append((seq, now_us))
                events.append((c, "campaign.completed", "COMPLETED"))
        enters = [c for _, c in sorted(self._live.items()) if c.running and c.target.mode == "ENTERS"]
        in_subs, in_j, out_subs, out_j = self._entries(enters, moves)
        # No-dwell ENTERS campaigns with their window open are evaluated together; the rest one by one.
        fast = np.array([c.target.dwell_minutes == 0 and bool(self._window_open(c.req, now).all()) for c in enters],
                        bool)
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
            if c.target.mode == "ENTERS" and c.target.dwell_minutes == 0 and self._window_open(c.req, now).all():
                c.was_open = np.ones(len(c.was_open), bool)
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
        self.repository.set_statuses(started, completed)
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

    def _complete(self, c: LiveCampaign, now: datetime) -> None:
        """End a campaign in memory (the caller stores its status with the tick's other moves)."""
        if len(c.held):
            self._suppress(c, c.held, np.full(len(c.held), policy.QUIET_HOURS, np.uint8), now)
        c.held = c.held[:0]
        self._detach(self._live.pop(c.seq))

    def _entries(self, enters: list[LiveCampaign], moves: list[tuple[Subs, Subs, Subs]]
                 ) -> tuple[Subs, NDArray[np.intp], Subs, NDArray[np.intp]]:
        """Entrants and leavers of every running ENTERS campaign this tick, as (subscribers, index into
        ``enters``) sorted by campaign: one sparse index lookup for all campaigns."""
        empty = np.zeros(0, np.int32), np.zeros(0, np.intp)
        if not enters or not moves:
            return (*empty, *empty)
        key = tuple(c.seq for c in enters)
        if key != self._index_key:
            self._index = targeting.area_index(self.world.cell_count, [c.target.cells for c in enters])
            self._index_key = key
        subs = np.concatenate([m[0] for m in moves])
        old = np.concatenate([m[1] for m in moves])
        new = np.concatenate([m[2] for m in moves])
        touching = self._index.changed(old, new)  # movers whose campaigns did not change are dropped at once
        subs, old, new = subs[touching], old[touching], new[touching]
        e_row, e_col, x_row, x_col = targeting.entered(self._index, old, new)
        return subs[e_row], e_col.astype(np.intp), subs[x_row], x_col.astype(np.intp)

    @staticmethod
    def _per_campaign(enters: list[LiveCampaign], subs: Subs, j: NDArray[np.intp]) -> dict[int, Subs]:
        bounds = np.searchsorted(j, np.arange(len(enters) + 1))
        return {enters[i].seq: subs[bounds[i]:bounds[i + 1]] for i in np.flatnonzero(np.diff(bounds)).tolist()}

    # -- "already considered" bits: one row per live campaign, views handed to the campaigns -----------------
    def _fit_seen(self, rows: int | None = None) -> None:
        """Make the bit matrix wide enough for the population and tall enough for ``rows`` campaigns."""
        width = (self.world.subscriber_count + 7) // 8
        height = max(rows or 0, self._seen.shape[0])
        if self._seen.shape[1] >= width and self._seen.shape[0] >= height:
            return
        grown = np.zeros((height, max(width, self._seen.shape[1])), np.uint8)
        grown[: self._seen.shape[0], : self._seen.shape[1]] = self._seen
        self._seen = grown
        for c in self._live.values():
            c.seen = grown[c.slot]

    def _attach(self, c: LiveCampaign) -> LiveCampaign:
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
        zones = len(self.world.zones)
        c.was_open, c.snapshot_done = np.zeros(zones, bool), np.zeros(zones, bool)
        req = c.req
        # A delivered message's inbox id is its record's id: the device and the operator-side truth agree.
        c.template = self.world.message_template(MessageTemplate(
            req.sender_name, req.text, req.kind, req.title, record_id_prefix(c.seq, "DELIVERED"), RECORD_ID_DIGITS,
            {"campaignId": c.id}))
        return c

    def _detach(self, c: LiveCampaign) -> None:
        if c.slot >= 0:
            self._free_slots.append(c.slot)
            c.slot = -1

    def _fresh_entries(self, enters: list[LiveCampaign], subs: Subs, j: NDArray[np.intp], now: datetime
                       ) -> dict[int, Subs]:
        """First-time entrants of every no-dwell ENTERS campaign at once (segment misfits queued as suppressed)."""
        if len(subs) == 0:
            return {}
        n = np.int64(max(self.world.subscriber_count, 1))
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

    def _in_open_zones(self, subs: Subs, open_zones: NDArray[np.bool_]) -> Subs:
        """The subscribers of ``subs`` whose time zone is open (all of them when every zone is)."""
        if open_zones.all():
            return subs
        if not open_zones.any():
            return subs[:0]
        kept: Subs = subs[open_zones[self.world.timezone_codes(subs)]]
        return kept

    @staticmethod
    def _unseen(c: LiveCampaign, subs: Subs, n: int) -> Subs:
        bits = (c.seen[subs >> 3] >> (subs & 7).astype(np.uint8)) & 1
        unseen: Subs = subs[bits == 0]
        return unseen

    @staticmethod
    def _mark_seen(c: LiveCampaign, subs: Subs) -> None:
        np.bitwise_or.at(c.seen, subs >> 3, (np.uint8(1) << (subs & 7).astype(np.uint8)).astype(np.uint8))

    def _evaluate(self, c: LiveCampaign, now: datetime, moved: tuple[Subs, Subs] | None) -> Subs | None:
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
                ins = self._in_open_zones(ins, open_now)
                if len(ins):
                    fresh = self._unseen(c, np.unique(ins).astype(np.int32), world.subscriber_count)
                    fresh = fresh[~np.isin(fresh, c.pending)]
                    ticks = math.ceil(c.target.dwell_minutes * 60 / world.config.tick_seconds)
                    c.pending = np.concatenate([c.pending, fresh])
                    c.pending_due = np.concatenate([c.pending_due,
                                                    np.full(len(fresh), world.tick_index + ticks, np.int64)])
                if len(c.pending):
                    due = c.pending_due <= world.tick_index
                    parts.append(c.pending[due])
                    c.pending, c.pending_due = c.pending[~due], c.pending_due[~due]
            else:
                ins = self._in_open_zones(ins, open_now)
                if len(ins):
                    parts.append(ins)
        else:
            # A snapshot at each opening of the window, for the zones where it opens now (VISITED: only once).
            opening = open_now & ~c.was_open
            if c.target.mode == "VISITED":
                opening &= ~c.snapshot_done
            if opening.any():
                parts.append(self._in_open_zones(targeting.snapshot(world, c.target), opening))
                c.snapshot_done = c.snapshot_done | opening
        c.was_open = open_now
        fresh = np.zeros(0, np.int32)
        if parts:
            fresh = self._unseen(c, np.unique(np.concatenate(parts)).astype(np.int32), world.subscriber_count)
            if len(fresh):
                self._mark_seen(c, fresh)
                kept, out = targeting.apply_segment(world, fresh, c.target.segment)
                if len(out):
                    self._suppress(c, out, np.full(len(out), policy.SEGMENT, np.uint8), now)
                fresh = kept
        if len(c.held) == 0 and len(fresh) == 0:
            return None
        return np.sort(np.concatenate([c.held, fresh])).astype(np.int32)

    def _decide(self, items: list[tuple[LiveCampaign, Subs]], now: datetime) -> None:
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
            can_hold=np.stack([self._can_hold(c.req, now) for c, _ in items])[camp, world.timezone_codes(subs)],
            remaining=np.array([unlimited if c.req.max_recipients is None else c.req.max_recipients - c.sent
                                for c, _ in items], dtype=np.int64),
            partner=partner, rules=self.rules)
        send = np.flatnonzero(d.send)
        self.caps.record(subs[send], clock.day[send], partner[camp[send]])
        rng = world.random_stream("campaign-delivery", world.tick_index)
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
    def _seqs_many(lives: list[LiveCampaign], camp: NDArray[np.intp]) -> NDArray[np.int64]:
        """Next record numbers per campaign for records of campaigns ``lives[camp]`` (``camp`` ascending)."""
        counts = np.bincount(camp, minlength=len(lives))
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        base = np.array([c.counter for c in lives], dtype=np.int64)
        seqs: NDArray[np.int64] = base[camp] + np.arange(len(camp)) - first[camp] + 1
        for c, k in zip(lives, counts.tolist(), strict=True):
            c.counter += k
        return seqs

    def _suppress(self, c: LiveCampaign, subs: Subs, reasons: NDArray[np.uint8], now: datetime) -> None:
        """Queue suppression records of one campaign."""
        self._suppress_many([c], np.zeros(len(subs), np.intp), subs, reasons, now)

    def _suppress_many(self, lives: list[LiveCampaign], camp: NDArray[np.intp], subs: Subs,
                       reasons: NDArray[np.uint8], now: datetime) -> None:
        """Queue suppression records (written with the tick's other records, off the tick's path)."""
        n = len(subs)
        if n == 0:
            return
        self.outcomes.suppressed += np.bincount(reasons, minlength=len(policy.REASONS))
        names = np.asarray(policy.REASONS, dtype=object)[reasons]
        campaign_seq = np.array([c.seq for c in lives], dtype=np.int64)[camp]
        self._suppressions.add(campaign_seq, self._seqs_many(lives, camp), subs, np.full(n, to_micros(now), np.int64),
                               names)

    def _sent_many(self, lives: list[LiveCampaign], camp: NDArray[np.intp], subs: Subs, channel: NDArray[np.uint8],
                   ok: NDArray[np.bool_], delivered_us: NDArray[np.int64], opened_us: NDArray[np.int64],
                   clicked_us: NDArray[np.int64], now_us: int) -> None:
        """Queue the records of the sends (``camp`` ascending) and put the delivered ones in the inboxes."""
        n = len(subs)
        seqs = self._seqs_many(lives, camp)
        counts = np.bincount(camp, minlength=len(lives))
        for c, k in zip(lives, counts.tolist(), strict=True):
            c.sent += k
        delivered = int(np.count_nonzero(ok))
        self.outcomes.delivered += delivered
        self.outcomes.failed += n - delivered
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
            self.repository.append_suppressions(suppressed)
        sent = self._sends.take()
        if sent is not None:
            self.repository.append_sends(sent)
