"""The tick engine of journeys: live journeys, their triggers, each recipient's chain of steps, enrolments, stop
conditions and the hourly reports, run inside the world's ticks (rules: :mod:`gateway.services.journeys`).

Journeys and enrolments become visible once the clock passes their creation instant (a restart's replay re-runs
them at the same ticks). Each step is a direct message sent through
:meth:`gateway.services.messages.service.MessageService.send`; its outcome is a ``journey_steps`` row committed with
the message. Events go to the ``emit`` callback the service gives (it adds the report's aggregates).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.core.errors import GatewayError
from gateway.core.ids import MESSAGE_PREFIX, parse_public_id
from gateway.core.store import Store
from gateway.services import targeting
from gateway.services.journeys.model import JourneyRequest, public_id
from gateway.services.journeys.repository import JourneyRepository
from gateway.services.messages.model import MessageRequest
from gateway.services.messages.service import MessageService
from gateway.wire.base import format_instant
from simulator.clock import ScheduledCall, from_micros, to_micros
from simulator.world import World

HOUR_US = 3_600_000_000

Subs = NDArray[np.int32]


@dataclass
class LiveJourney:
    """A journey visible to the engine: its request, window, recipients so far and their chains in progress."""

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
    reported_us: int = 0
    """End of the span the hourly reports have covered so far (from ``start_us``)."""
    seen: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    chains: dict[int, Chain] = field(default_factory=dict)
    by_sub: dict[int, set[int]] = field(default_factory=dict)
    arrivals: tuple[NDArray[np.int64], Subs] = field(
        default_factory=lambda: (np.zeros(0, np.int64), np.zeros(0, np.int32)))

    @property
    def id(self) -> str:
        """Wire id of the journey."""
        return public_id(self.seq)


@dataclass
class Chain:
    """One recipient walking a journey's steps."""

    live: LiveJourney
    n: int
    sub: int
    due_us: list[int]
    step: int = 0
    call: ScheduledCall | None = None


@dataclass(frozen=True)
class Enrolment:
    """A stored enrolment, waiting for the clock to pass its creation instant."""

    journey_seq: int
    subscriber: int
    event_us: int
    created_us: int


Emit = Callable[[str, LiveJourney, dict[str, Any] | None, datetime | None], None]
"""``emit(event_type, journey, extra data, instant)``: an event of a journey (instant ``None``: now)."""


class JourneyEngine:
    """Runs the journeys inside world ticks: triggers, chains, stop conditions, enrolments and events."""

    def __init__(self, world: World, store: Store, repository: JourneyRepository, messages: MessageService,
                 emit: Emit) -> None:
        self.world = world
        self.store = store
        self.repository = repository
        self.messages = messages
        self._emit = emit
        self._loaded = False
        self._pending: dict[int, LiveJourney] = {}
        self._live: dict[int, LiveJourney] = {}
        self._enrolments: list[Enrolment] = []
        self._moves: list[tuple[int, Subs, Subs, Subs]] = []  # (instant, movers, old cells, new cells)
        self._joins: list[tuple[Subs, NDArray[np.int64]]] = []
        self._index_key: tuple[int, ...] = ()
        self._index = targeting.area_index(world.cell_count, [])
        world.on_cell_change(self._on_cells)
        world.on_line_activation(self._on_activation)
        world.on_consent_change(self._on_consent)
        world.on_step(self._on_step)

    # -- loading and new journeys -------------------------------------------------------------------------------
    def ensure_loaded(self) -> None:
        """Load the stored journeys and enrolments once (they wait for the clock to pass their creation)."""
        if self._loaded:
            return
        self._loaded = True
        for r in self.repository.journeys():
            self._pending[r["seq"]] = self._make_live(r["seq"], r["partner_id"],
                                                      JourneyRequest.from_json(json.loads(r["spec"])),
                                                      r["created_us"], r["cancelled_us"])
        self._enrolments = [Enrolment(r["journey_seq"], r["subscriber"], r["event_us"], r["created_us"])
                            for r in self.repository.enrolments()]

    def _make_live(self, seq: int, partner_id: int, req: JourneyRequest, created_us: int,
                   cancelled_us: int | None) -> LiveJourney:
        cells = None
        if req.area is not None:
            cells = targeting.cells_of(self.world, [targeting.resolve_area(self.world, req.area, 0.0, math.inf)])
        start_us = max(created_us, to_micros(req.start)) if req.start is not None else created_us
        return LiveJourney(seq, partner_id, req, created_us, cancelled_us, cells, start_us,
                           None if req.end is None else to_micros(req.end), reported_us=start_us)

    def add(self, seq: int, partner_id: int, req: JourneyRequest, created_us: int) -> None:
        """A journey just created: it runs from the next tick."""
        self._pending[seq] = self._make_live(seq, partner_id, req, created_us, None)

    def add_enrolment(self, enrolment: Enrolment) -> None:
        """An enrolment just stored: its chain starts at the next tick."""
        self._enrolments.append(enrolment)

    def cancel(self, seq: int, at_us: int) -> None:
        """A journey cancelled at ``at_us`` (now): its hour cut short is reported, the rest of every chain is
        ``CANCELLED`` and ``journey.cancelled`` is emitted."""
        for table in (self._pending, self._live):
            if seq in table:
                table[seq].cancelled_us = at_us
        live = self._live.pop(seq, None) or self._pending.pop(seq, None)
        if live is not None:
            self._close(live, "CANCELLED", at_us)
            if live.started:
                self._report_hours(live, at_us, closing=True)
            self._emit("journey.cancelled", live, None, None)

    # -- listeners ----------------------------------------------------------------------------------------------
    def _wants(self, *triggers: str) -> bool:
        # Loaded here too: after a restart the first tick's moves come before its step listener would load them.
        self.ensure_loaded()
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

    # -- the tick -----------------------------------------------------------------------------------------------
    def _report_hours(self, live: LiveJourney, until_us: int, closing: bool = False) -> None:
        """Emit ``journey.report.hourly`` for each clock hour of the journey's window [start, end) that is over by
        ``until_us``: the report of hour ``h`` is due at ``min(h + 1 h, end)`` (its event instant), so a journey
        ending mid-hour gets a last partial one; ``closing`` (a cancellation at ``until_us``) reports the hour cut
        short too. Each span is reported once (the replay after a restart advances the spans without emitting)."""
        while True:
            hour = live.reported_us // HOUR_US * HOUR_US
            at = hour + HOUR_US
            if live.end_us is not None:
                at = min(at, live.end_us)
            if closing:
                at = min(at, until_us)
            if at <= live.reported_us or at > until_us:
                return
            live.reported_us = at
            self._emit("journey.report.hourly", live, {"hour": format_instant(from_micros(hour))}, from_micros(at))

    def _on_step(self, now: datetime) -> None:
        self.ensure_loaded()
        moves, self._moves = self._moves, []
        joins, self._joins = self._joins, []
        now_us = to_micros(now)
        if not self._pending and not self._live:
            return
        for seq in sorted(self._live):
            if self._live[seq].started:
                self._report_hours(self._live[seq], now_us)
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
                self._emit("journey.started", live, None, None)
                self._report_hours(live, now_us)  # a window that began before this tick's hour
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
                self._emit("journey.completed", live, None, None)

    def _activate(self, live: LiveJourney) -> None:
        self._live[live.seq] = live
        if live.req.trigger == "ROAMING_ARRIVAL":
            everyone = np.arange(self.world.subscriber_count, dtype=np.int32)
            # Visitors in the country now; those abroad arrive later (attaching is their first cell change).
            visitors = everyone[self.world.device_kinds(everyone)[0] & (self.world.serving_cells(everyone) >= 0)]
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

    def _trigger(self, live: LiveJourney, subs: Subs, at: NDArray[np.int64], now_us: int) -> None:
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

    def _enrolled(self, live: LiveJourney, e: Enrolment) -> None:
        due = [e.event_us + o * 1_000_000 for o in live.req.offsets()]
        self._start(live, e.subscriber, e.event_us, due, e.created_us)

    def _start(self, live: LiveJourney, sub: int, trigger_us: int, due_us: list[int], since_us: int) -> None:
        """A new recipient: record it, mark the steps due before ``since_us`` TOO_LATE, walk the rest."""
        live.recipients += 1
        n = live.recipients
        chain = Chain(live, n, sub, due_us)
        with self.store.transaction() as conn:
            self.repository.add_recipient(conn, live.seq, n, sub, trigger_us)
            while chain.step < len(due_us) and due_us[chain.step] < since_us:
                self._record(conn, chain, "STOPPED", "TOO_LATE", None, since_us)
                chain.step += 1
        live.chains[n] = chain
        live.by_sub.setdefault(sub, set()).add(n)
        self._advance(chain)

    def _advance(self, chain: Chain) -> None:
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

    def _send(self, chain: Chain) -> None:
        live = chain.live
        s = live.req.steps[chain.step]
        msisdn = self.world.msisdns(np.asarray([chain.sub]))[0]
        req = MessageRequest(msisdn, s.kind, s.channel, live.req.sender_name, s.text, s.title, s.template_id,
                             dict(s.template_parameters), None, s.ttl_seconds)
        key = f"{live.id}/{chain.n:07d}/{chain.step + 1}"
        now_us = to_micros(self.world.clock.now)
        if self.repository.step_recorded(live.seq, chain.n, chain.step + 1):
            return  # a replay after a restart: the row says what came of it (the rules may have changed since)
        # The message (with its status and wake-ups) and the step's row commit together: a crash between them
        # would leave a message the replay finds by its key and never sends.
        with self.store.transaction() as conn:
            try:
                view, _ = self.messages.send(live.partner_id, req, key, origin=live.id)
            except GatewayError as exc:
                outcome: tuple[str, str | None, int | None] = ("REFUSED", exc.error_code, None)
            else:
                outcome = ("MESSAGE", None, parse_public_id(view.id, MESSAGE_PREFIX))
            self._record(conn, chain, *outcome, now_us)

    def _record(self, conn: Any, chain: Chain, outcome: str, reason: str | None, message_seq: int | None,
                at_us: int) -> None:
        self.repository.record_step(conn, chain.live.seq, chain.n, chain.step + 1, outcome, reason, message_seq,
                                    at_us)

    def _stop(self, chain: Chain, reason: str, at_us: int) -> None:
        """The rest of a recipient's chain is not sent (each remaining step is recorded STOPPED)."""
        if chain.call is not None:
            chain.call.cancel()
            chain.call = None
        with self.store.transaction() as conn:
            while chain.step < len(chain.due_us):
                self._record(conn, chain, "STOPPED", reason, None, at_us)
                chain.step += 1
        self._forget(chain)

    def _forget(self, chain: Chain) -> None:
        live = chain.live
        live.chains.pop(chain.n, None)
        mine = live.by_sub.get(chain.sub)
        if mine is not None:
            mine.discard(chain.n)
            if not mine:
                del live.by_sub[chain.sub]

    def _close(self, live: LiveJourney, reason: str, at_us: int) -> None:
        for n in sorted(live.chains):
            self._stop(live.chains[n], reason, at_us)
