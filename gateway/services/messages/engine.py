"""Carrying accepted messages on the simulated clock: delivery attempts, retries, holds, arrivals, the SMS fallback,
expiry, and their durable wake-ups; status changes with their CloudEvents; what a restart replays and resumes.

Every send is decided by :func:`gateway.services.policy.decide` with the rules of its kind (see
:mod:`gateway.services.messages`); latency and losses are :func:`gateway.services.delivery.simulate` with the
stream ``("message-delivery", n, k)``. What a message still waits for is a wake-up of :mod:`gateway.core.timers`
(owner ``messages``), so it survives a restart.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np

from gateway.core.ids import MESSAGE_PREFIX, format_id
from gateway.core.journal import Replay
from gateway.core.settings import MessageSettings
from gateway.core.store import Store
from gateway.core.timers import Timers
from gateway.core.webhooks import Outbox, OutboxEvent, cloud_event
from gateway.services import delivery, policy
from gateway.services.caps import FrequencyCaps
from gateway.services.messages.model import EVENT_TYPE, FINAL, HIGH_RETRY_S, KIND_RULES, SOURCE, KindRules
from gateway.services.messages.repository import MessageRepository
from simulator.clock import from_micros, to_micros
from simulator.world import World


class MessageEngine:
    """Decides, sends and follows each accepted message until its status is final."""

    def __init__(self, world: World, store: Store, repository: MessageRepository, rules: MessageSettings,
                 promo_rules: policy.Rules, caps: FrequencyCaps, outbox: Callable[[], Outbox | None]) -> None:
        self.world = world
        self.store = store
        self.repository = repository
        self.rules = rules
        self.promo_rules = promo_rules
        self.caps = caps
        self._outbox = outbox
        self._in_flight: dict[int, int] = {}  # message seq -> arrivals scheduled and not yet happened
        self._timers = Timers(store, world.clock, "messages",
                              {"expire": self._expire, "attempt": self._attempt, "arrive": self._arrive})

    def accept(self, seq: int, expires_us: int) -> None:
        """A message just stored: ``ACCEPTED``, its expiry on the clock, and its first attempt now (inside the
        caller's transaction, so that a crash never leaves a message without them)."""
        self._change(seq, "ACCEPTED")
        self._timers.schedule(from_micros(expires_us), "expire", seq=seq)
        self._attempt(seq)

    def _row(self, seq: int) -> sqlite3.Row:
        row = self.repository.row(seq)
        assert row is not None
        return row

    def _change(self, seq: int, status: str, channel: str | None = None, reason: str | None = None) -> None:
        """Record a status change, and its CloudEvent when the message has a callback, in one transaction."""
        row = self._row(seq)
        now = self.world.clock.now
        n = self.repository.changes(seq) + 1
        message_id = format_id(MESSAGE_PREFIX, seq)

        def save(conn: sqlite3.Connection) -> None:
            self.repository.save_change(conn, seq, n, status, channel, reason, to_micros(now))

        outbox = self._outbox()
        if outbox is None or row["callback"] is None:
            with self.store.transaction() as conn:
                save(conn)
            return
        callback = json.loads(row["callback"])
        event_id = f"{message_id}-{n:03d}"
        data = {"messageId": message_id, "phoneNumber": row["msisdn"], "status": status}
        data.update({k: v for k, v in (("channel", channel), ("reason", reason)) if v is not None})
        body = cloud_event(event_id, SOURCE, EVENT_TYPE, now, data)
        outbox.add([OutboxEvent(event_id, message_id, int(row["partner_id"]), EVENT_TYPE, callback["sink"],
                                callback["token"], body, now)], also=save)

    def _attempt(self, seq: int, fallback: bool = False) -> None:
        """Decide a send now: policy for the kind, then transmit, hold, retry later or suppress."""
        row = self._row(seq)
        status = str(row["status"])
        world = self.world
        now = world.clock.now
        if status in FINAL or (fallback and status != "SENT") or to_micros(now) >= int(row["expires_us"]):
            return
        sub, kind, partner_id = int(row["subscriber"]), str(row["kind"]), int(row["partner_id"])
        if kind != "AUTHENTICATION" and self.repository.is_blocked(row["msisdn"], partner_id, row["sender"]):
            self._change(seq, "SUPPRESSED", reason="SENDER_BLOCKED")
            return
        subs = np.asarray([sub], np.int32)
        obeys = KIND_RULES[kind]
        clock = world.local_clock(subs)
        push_ok = world.consent.is_permitted(subs, "ADVERTISING", "PUSH")
        sms_ok = world.consent.is_permitted(subs, "ADVERTISING", "SMS")
        assert isinstance(push_ok, np.ndarray) and isinstance(sms_ok, np.ndarray)
        partner = np.asarray([partner_id], np.int64)
        sent_today, partner_today = self.caps.today(subs, clock.day, partner)
        if fallback:  # the push already counted this message
            sent_today, partner_today = sent_today * 0, partner_today * 0
        facts = policy.Facts(subs, world.app_installed(subs), push_ok, sms_ok, clock.hour,
                             world.is_reachable(subs.astype(np.int64)), sent_today, partner_today)
        release = now.replace(second=0, microsecond=0) + timedelta(
            minutes=(self.promo_rules.quiet_end_hour * 60 - int(clock.minute[0])) % 1440)
        can_hold = obeys.quiet_hours and release < from_micros(int(row["expires_us"]))
        decision = policy.decide(facts, kind="PROMO" if obeys.advertising_consent else "INFORMATIONAL",
                                 channel="SMS" if fallback else str(row["channel"]),
                                 rules=self._policy_rules(obeys), can_hold=can_hold, remaining=None)
        if len(decision.held):
            if status != "HELD":
                self._change(seq, "HELD", reason="QUIET_HOURS")
            self._timers.schedule(release, "attempt", seq=seq)
            return
        if len(decision.suppressed):
            reason = policy.REASONS[int(decision.reason[0])]
            if reason == "UNREACHABLE":
                wait = HIGH_RETRY_S if row["priority"] == "HIGH" else self.rules.retry_s
                self._timers.schedule(now + timedelta(seconds=wait), "attempt", seq=seq, fallback=fallback)
            elif fallback:
                if not self._in_flight.get(seq):
                    self._change(seq, "FAILED", "PUSH", "NETWORK")
            else:
                self._change(seq, "SUPPRESSED", reason=reason)
            return
        channel = policy.CHANNELS[int(decision.send_channel[0])]
        if obeys.daily_cap and not fallback:
            self.caps.record(subs, clock.day, partner)
        self._transmit(row, channel, int(clock.hour[0]))

    def _policy_rules(self, obeys: KindRules) -> policy.Rules:
        """The campaign rules (quiet hours, caps) a kind obeys; the others off (an empty span, a cap never met)."""
        r = self.promo_rules
        return policy.Rules(quiet_start_hour=r.quiet_start_hour if obeys.quiet_hours else 0,
                            quiet_end_hour=r.quiet_end_hour if obeys.quiet_hours else 0,
                            daily_cap=r.daily_cap if obeys.daily_cap else 2**30,
                            partner_daily_cap=r.partner_daily_cap if obeys.daily_cap else None)

    def _transmit(self, row: sqlite3.Row, channel: str, local_hour: int) -> None:
        seq, sub = int(row["seq"]), int(row["subscriber"])
        world = self.world
        now = world.clock.now
        sends = self.repository.sends(seq)
        out = delivery.simulate(world.random_stream("message-delivery", seq, sends),
                                np.asarray([policy.PUSH, policy.SMS], np.uint8), "PROMO" if row["kind"] == "PROMO"
                                else "INFORMATIONAL", np.asarray([local_hour] * 2, np.int16),
                                world.ages(np.asarray([sub, sub])), world.sms_delay_s())
        k = policy.CHANNELS.index(channel)
        self._change(seq, "SENT", channel)
        fallback = channel == "PUSH" and row["channel"] == "PUSH_THEN_SMS"
        latency = float(out.latency_s[k])
        if bool(out.delivered[k]):
            self._in_flight[seq] = self._in_flight.get(seq, 0) + 1
            opens = float(out.open_after_s[k])
            self._timers.schedule(now + timedelta(seconds=latency), "arrive", seq=seq, channel=channel,
                                  open_after_s=opens)
        elif not fallback:
            self._change(seq, "FAILED", channel, "NETWORK")
            return
        if fallback and (not bool(out.delivered[k]) or latency > self.rules.push_fallback_s):
            self._timers.schedule(now + timedelta(seconds=self.rules.push_fallback_s), "attempt", seq=seq,
                                  fallback=True)

    def _arrive(self, seq: int, channel: str, open_after_s: float = float("nan")) -> None:
        left = self._in_flight.pop(seq, 1) - 1
        if left > 0:  # no entry at zero: the map holds only messages still on their way (it stays bounded)
            self._in_flight[seq] = left
        row = self._row(seq)
        if row["status"] in FINAL:
            return  # delivered by the other channel already, or expired in flight (the network drops it)
        self._deliver(row, channel)
        self._change(seq, "DELIVERED", channel)
        if open_after_s == open_after_s:  # not NaN: the subscriber opens it then (reports count it once passed)
            self.repository.set_opened(seq, to_micros(self.world.clock.now) + round(open_after_s * 1e6))

    def _deliver(self, row: sqlite3.Row, channel: str) -> None:
        meta: dict[str, Any] = {"messageKind": row["kind"], "priority": row["priority"]}
        self.world.deliver(int(row["subscriber"]), channel, row["sender"], row["text"], row["kind"],
                           title=row["title"], message_id=format_id(MESSAGE_PREFIX, int(row["seq"])), **meta)

    def _expire(self, seq: int) -> None:
        row = self._row(seq)
        if row["status"] in FINAL:
            return
        reason = {"HELD": "QUIET_HOURS", "ACCEPTED": "UNREACHABLE"}.get(str(row["status"]))
        if reason == "QUIET_HOURS" and not self._quiet_now(int(row["subscriber"])):
            reason = "UNREACHABLE"  # released when quiet hours ended, then kept waiting for the device alone
        self._change(seq, "EXPIRED", reason=reason)

    def _quiet_now(self, sub: int) -> bool:
        """Whether it is quiet hours now in subscriber ``sub``'s time zone."""
        hour = self.world.local_clock(np.asarray([sub], np.int32)).hour
        return bool(policy.in_quiet_hours(hour, self.promo_rules)[0])

    # -- restart ------------------------------------------------------------------------------------------------
    def replay(self) -> list[Replay]:
        """Before the world is replayed: schedule each delivery again at its instant; returns the ``PROMO`` sends
        to count into the caps (a send by the accepting request runs after its instant's tick, as it did live)."""
        clock = self.world.clock
        for r in self.repository.deliveries():
            clock.schedule(from_micros(int(r["at_us"])), functools.partial(
                lambda seq, channel: self._deliver(self._row(seq), channel), int(r["message_seq"]), str(r["channel"])))
        at_request: list[Replay] = []
        for r in self.repository.promo_sends():
            count = functools.partial(self._count_promo, int(r["seq"]))
            if r["sent_us"] == r["created_us"]:
                at_request.append((from_micros(int(r["sent_us"])), count))
            else:
                clock.schedule(from_micros(int(r["sent_us"])), count)
        return at_request

    def _count_promo(self, seq: int) -> None:
        row = self._row(seq)
        subs = np.asarray([int(row["subscriber"])], np.int32)
        self.caps.record(subs, self.world.local_clock(subs).day, np.asarray([int(row["partner_id"])], np.int64))

    def resume(self) -> None:
        """Once the world is restored: expiries, retries, releases, arrivals and fallbacks that were pending go on."""
        for action, args in self._timers.resume():
            if action == "arrive":
                self._in_flight[args["seq"]] = self._in_flight.get(args["seq"], 0) + 1
