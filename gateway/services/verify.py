"""Authentication codes: the service behind ``/verify/v1`` (send a code to a phone, check what the user typed).

Rules, all on the simulated clock and configured by :class:`gateway.core.settings.VerifySettings`:

* A verification holds one code (``code_length`` digits, default 6) drawn from the world's named stream
  ``("verify-code", n)`` for verification ``n``: deterministic for a seed and never returned to the partner. Only
  a hash is stored; the code reaches the device inbox, where integrators read it through the admin API.
* It lives ``code_ttl_s`` (10 minutes). Starting a verification for a number that has a pending one from the same
  partner *resends* the same code (at most ``max_sends`` sends in all, then ``429 VERIFY.MAX_SEND_ATTEMPTS``).
* ``PUSH`` needs the operator's app; ``SMS`` goes by SMS; ``AUTO`` pushes first and sends an SMS when the push is
  not delivered within ``push_fallback_s`` (app missing, phone unreachable, push lost, or slower than that).
  Latency and losses come from :func:`gateway.services.delivery.simulate` (stream ``("verify-delivery", n, send)``).
  An SMS to an unreachable phone waits in the SMSC, retried every minute until the code expires.
* A check (``max_checks``, default 5) answers ``APPROVED``, ``PENDING`` (wrong code, tries left), ``EXPIRED`` or
  ``MAX_ATTEMPTS`` (the last try was wrong, or none are left). Final states are sticky and never recounted.
* Limits (``429 TOO_MANY_REQUESTS`` with ``Retry-After`` in simulated seconds): ``number_limit`` new
  verifications per number and ``partner_limit`` per partner within ``limit_window_s``.
* Fraud guards (``403 VERIFY.FRAUD_SUSPECTED``), over a partner's verifications of the last ``fraud_window_s``:
  ``sequential_burst`` distinct numbers within ``sequential_span`` of one another (number-range pumping), or
  ``roaming_burst`` distinct foreign-roaming numbers (international SMS pumping).
* Optional SIM-swap guard (``422 VERIFY.SIM_SWAPPED``): a line whose SIM changed within the given hours
  (setting ``sim_swap_block_hours`` or the request's ``simSwapMaxAgeHours``) gets no code.

Every send and delivery is a row (``verification_sends``). This module knows nothing of HTTP.

Restart durability: the verifications and their sends are rows; a restart rebuilds the rest. While the world is
replayed (:meth:`VerifyService.replay`), every code that reached a device is put back in its inbox at the instant
it arrived, so inboxes hold what they held, in the same order. The sends' next steps (an arrival, the SMS
fallback, an SMSC retry) are durable wake-ups (:mod:`gateway.core.timers`) that :meth:`VerifyService.resume` puts back
on the clock: a code in flight when the gateway stopped arrives when it would have. Codes are not re-decided on
replay: checks and resends were partner requests, and the rows already say what came of them.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np

from gateway.core.errors import IdentifierNotFound, NotFound, PermissionDenied, TooManyRequests, Unprocessable
from gateway.core.ids import VERIFICATION_PREFIX, format_id, parse_public_id
from gateway.core.journal import Replay
from gateway.core.settings import VerifySettings
from gateway.core.store import Store
from gateway.core.timers import Timers
from gateway.services.delivery import simulate
from gateway.services.policy import PUSH, SMS
from simulator.clock import from_micros, to_micros
from simulator.errors import UnknownSubscriberError
from simulator.world import World

Channel = Literal["PUSH", "SMS", "AUTO"]
Status = Literal["PENDING", "APPROVED", "EXPIRED", "MAX_ATTEMPTS"]
SENDER = "Verify"
SMSC_RETRY_S = 60


CHECK_OUTCOMES: dict[str, str] = {
    "approved": "the code matched",
    "denied": "a wrong code, tries left (the answer is PENDING)",
    "expired": "the code had expired",
    "max_attempts": "no tries left (this wrong code was the last, or none were left)",
}
"""Outcomes of a check, as the metrics count them."""


class FraudSuspected(PermissionDenied):
    code = "VERIFY.FRAUD_SUSPECTED"
    default_message = "Refused: the pattern of verifications looks like SMS pumping fraud."


class SimSwapped(Unprocessable):
    code = "VERIFY.SIM_SWAPPED"
    default_message = "Refused: the SIM of this line changed recently."


class MaxSends(TooManyRequests):
    code = "VERIFY.MAX_SEND_ATTEMPTS"
    default_message = "This verification reached its maximum number of sends."


@dataclass(frozen=True)
class Send:
    """One delivery attempt of a code on one channel."""

    attempt: int
    channel: str
    at: datetime
    status: str
    reason: str | None
    delivered_at: datetime | None


@dataclass(frozen=True)
class VerificationView:
    """What the partner may see of a verification (never the code)."""

    id: str
    phone_number: str
    channel: Channel
    status: Status
    created_at: datetime
    expires_at: datetime
    send_count: int
    check_count: int
    checks_left: int
    sends: list[Send]


def _hash(seq: int, code: str) -> bytes:
    return hashlib.sha256(f"{format_id(VERIFICATION_PREFIX, seq)}:{code}".encode()).digest()


class VerifyService:
    """Starts, resends and checks verifications against the world at the simulated instant."""

    def __init__(self, world: World, store: Store, rules: VerifySettings) -> None:
        self.world = world
        self.store = store
        self.rules = rules
        self._timers = Timers(store, world.clock, "verify", {"sms": self._sms, "arrive": self._arrive})
        self.check_outcomes: dict[str, int] = dict.fromkeys(CHECK_OUTCOMES, 0)
        """What each check answered since start-up (see :data:`CHECK_OUTCOMES`); read by the metrics."""

    # -- restart ------------------------------------------------------------------------------------------------
    def replay(self) -> list[Replay]:
        """Before the world is replayed: put every delivered code the inboxes still keep back on its device's
        clock instant (codes older than the inbox retention would only be delivered and forgotten again)."""
        saved, days = self.store.saved_clock(), self.world.inbox_days
        # The inboxes keep `days` days before the local midnight of the restored instant (at least the saved
        # one): two days of margin cover the local day and a daylight-saving shift.
        since = to_micros(saved - timedelta(days=days + 2)) if saved is not None and days is not None else None
        rows = self.store.conn.execute(
            "SELECT s.verification_seq, s.channel, s.delivered_us, v.subscriber FROM verification_sends s "
            "JOIN verifications v ON v.seq = s.verification_seq WHERE s.status = 'DELIVERED' "
            "AND s.delivered_us >= ? ORDER BY s.delivered_us, s.verification_seq, s.attempt",
            (since if since is not None else -(2**63),)).fetchall()
        if since is not None:
            skipped = self.store.conn.execute(
                "SELECT COUNT(*), MAX(delivered_us) FROM verification_sends WHERE status = 'DELIVERED' "
                "AND delivered_us < ?", (since,)).fetchone()
            if skipped[0]:  # later inbox messages are numbered after them, as they were live
                self.world.clock.schedule(from_micros(int(skipped[1])), functools.partial(
                    self.world.deliver_forgotten, int(skipped[0])))
        for r in rows:
            self.world.clock.schedule(from_micros(int(r["delivered_us"])), functools.partial(
                self._deliver, int(r["verification_seq"]), int(r["subscriber"]), str(r["channel"])))
        return []

    def resume(self) -> None:
        """Once the world is restored: arrivals, SMS fallbacks and retries that were pending go on."""
        self._timers.resume()

    # -- code and delivery ------------------------------------------------------------------------------------
    def code_of(self, seq: int) -> str:
        """The code of verification ``seq`` (a pure function of the seed and ``seq``)."""
        digits = self.rules.code_length
        value = int(self.world.random_stream("verify-code", seq).integers(0, 10**digits))
        return f"{value:0{digits}d}"

    def _send(self, seq: int, subscriber: int, attempt: int, channel: Channel, expires_us: int) -> None:
        """Decide the channels of send ``attempt`` now, record them and schedule their next steps."""
        world = self.world
        now = world.clock.now
        now_us = to_micros(now)
        subs = np.asarray([subscriber, subscriber])
        outcome = simulate(world.random_stream("verify-delivery", seq, attempt), np.asarray([PUSH, SMS], np.uint8),
                           "INFORMATIONAL", world.local_clock(subs).hour, world.ages(subs), world.sms_delay_s())
        app = bool(world.app_installed(subs[:1])[0])
        reachable = bool(world.is_reachable(subscriber)[0])
        push_in_time = False
        if channel in ("PUSH", "AUTO"):
            if not app:
                self._record(seq, attempt, "PUSH", now_us, now_us, "FAILED", "NO_APP")
            elif not reachable or not bool(outcome.delivered[0]):
                self._record(seq, attempt, "PUSH", now_us, now_us, "FAILED",
                             "UNREACHABLE" if not reachable else "NETWORK")
            else:
                latency = float(outcome.latency_s[0])
                due = now + timedelta(seconds=latency)
                self._record(seq, attempt, "PUSH", now_us, to_micros(due), "SENT", None)
                self._timers.schedule(due, "arrive", seq=seq, subscriber=subscriber, attempt=attempt, channel="PUSH")
                push_in_time = latency <= self.rules.push_fallback_s
        if channel == "SMS" or (channel == "AUTO" and not app):
            self._record(seq, attempt, "SMS", now_us, now_us, "SCHEDULED", None)
            self._sms(seq, subscriber, attempt, expires_us, float(outcome.latency_s[1]), bool(outcome.delivered[1]))
        elif channel == "AUTO" and not push_in_time:
            due = now + timedelta(seconds=self.rules.push_fallback_s)
            self._record(seq, attempt, "SMS", now_us, to_micros(due), "SCHEDULED", None)
            self._timers.schedule(due, "sms", seq=seq, subscriber=subscriber, attempt=attempt, expires_us=expires_us,
                                  latency_s=float(outcome.latency_s[1]), ok=bool(outcome.delivered[1]))

    def _record(self, seq: int, attempt: int, channel: str, at_us: int, due_us: int, status: str,
                reason: str | None) -> None:
        self.store.conn.execute(
            "INSERT OR REPLACE INTO verification_sends(verification_seq, attempt, channel, at_us, due_us, status, "
            "reason) VALUES (?, ?, ?, ?, ?, ?, ?)", (seq, attempt, channel, at_us, due_us, status, reason))

    def _update_send(self, seq: int, attempt: int, channel: str, status: str, reason: str | None,
                     due_us: int | None = None, delivered_us: int | None = None) -> None:
        self.store.conn.execute(
            "UPDATE verification_sends SET status = ?, reason = ?, due_us = COALESCE(?, due_us), delivered_us = ? "
            "WHERE verification_seq = ? AND attempt = ? AND channel = ?",
            (status, reason, due_us, delivered_us, seq, attempt, channel))

    def _sms(self, seq: int, subscriber: int, attempt: int, expires_us: int, latency_s: float, ok: bool) -> None:
        """The SMS step of a send: skipped if no longer needed, sent if the phone is reachable, else retried."""
        world = self.world
        now = world.clock.now
        row = self.store.conn.execute("SELECT status FROM verifications WHERE seq = ?", (seq,)).fetchone()
        if row is None or row["status"] != "PENDING" or to_micros(now) >= expires_us:
            self._update_send(seq, attempt, "SMS", "SKIPPED", "NOT_NEEDED" if row is not None
                              and row["status"] == "APPROVED" else "EXPIRED")
            return
        if not bool(world.is_reachable(subscriber)[0]):
            retry = now + timedelta(seconds=SMSC_RETRY_S)
            self._update_send(seq, attempt, "SMS", "SCHEDULED", "UNREACHABLE", due_us=to_micros(retry))
            self._timers.schedule(retry, "sms", seq=seq, subscriber=subscriber, attempt=attempt, expires_us=expires_us,
                                  latency_s=latency_s, ok=ok)
            return
        if not ok:
            self._update_send(seq, attempt, "SMS", "FAILED", "NETWORK")
            return
        due = now + timedelta(seconds=latency_s)
        self._update_send(seq, attempt, "SMS", "SENT", None, due_us=to_micros(due))
        self._timers.schedule(due, "arrive", seq=seq, subscriber=subscriber, attempt=attempt, channel="SMS")

    def _arrive(self, seq: int, subscriber: int, attempt: int, channel: str) -> None:
        self._deliver(seq, subscriber, channel)
        self._update_send(seq, attempt, channel, "DELIVERED", None, delivered_us=to_micros(self.world.clock.now))

    def _deliver(self, seq: int, subscriber: int, channel: str) -> None:
        code = self.code_of(seq)
        minutes = max(1, self.rules.code_ttl_s // 60)
        self.world.deliver(subscriber, channel, SENDER, f"Your verification code is {code}. It expires in {minutes} "
                           "minutes. Never share it with anyone.", "AUTHENTICATION",
                           verificationId=format_id(VERIFICATION_PREFIX, seq), code=code)

    # -- limits and guards --------------------------------------------------------------------------------------
    def _limits(self, partner_id: int, msisdn: str, now_us: int) -> None:
        rules = self.rules
        since = now_us - rules.limit_window_s * 1_000_000
        for column, key, limit, what in (("msisdn", msisdn, rules.number_limit, "this phone number"),
                                         ("partner_id", partner_id, rules.partner_limit, "this partner")):
            if limit is None:
                continue
            rows = self.store.conn.execute(
                f"SELECT created_us FROM verifications WHERE {column} = ? AND created_us > ? "
                "ORDER BY created_us DESC LIMIT ?", (key, since, limit)).fetchall()
            if len(rows) >= limit:
                free_at = int(rows[-1]["created_us"]) + rules.limit_window_s * 1_000_000
                wait = max(1, -(-(free_at - now_us) // 1_000_000))
                raise TooManyRequests(f"At most {limit} verifications for {what} per {rules.limit_window_s} "
                                      f"seconds.", headers={"Retry-After": str(wait)})

    def _fraud(self, partner_id: int, number: int, roaming: bool, now_us: int) -> None:
        rules = self.rules
        since = now_us - rules.fraud_window_s * 1_000_000
        span = rules.sequential_span
        near = self.store.conn.execute(
            "SELECT COUNT(DISTINCT msisdn_num) FROM verifications WHERE partner_id = ? AND msisdn_num BETWEEN ? AND ? "
            "AND msisdn_num != ? AND created_us > ?", (partner_id, number - span, number + span, number, since)
        ).fetchone()[0]
        if near + 1 >= rules.sequential_burst:
            raise FraudSuspected("Refused: a burst of verifications to sequential phone numbers.")
        if roaming:
            abroad = self.store.conn.execute(
                "SELECT COUNT(DISTINCT msisdn_num) FROM verifications WHERE partner_id = ? AND roaming = 1 "
                "AND msisdn_num != ? AND created_us > ?", (partner_id, number, since)).fetchone()[0]
            if abroad + 1 >= rules.roaming_burst:
                raise FraudSuspected("Refused: a burst of verifications to foreign roaming numbers.")

    # -- partner operations ---------------------------------------------------------------------------------
    def start(self, partner_id: int, phone_number: str, channel: Channel,
              sim_swap_max_age_hours: int | None = None) -> tuple[VerificationView, bool]:
        """Send a code to ``phone_number`` (a new verification, or a resend of the pending one).

        Returns the verification and whether it is new.
        """
        world = self.world
        try:
            subscriber = world.find_subscriber(phone_number)
        except UnknownSubscriberError:
            raise IdentifierNotFound("The phone number is not a subscriber of this operator.") from None
        now = world.clock.now
        now_us = to_micros(now)
        hours = sim_swap_max_age_hours if sim_swap_max_age_hours is not None else self.rules.sim_swap_block_hours
        if hours is not None and world.last_sim_change(subscriber) > now - timedelta(hours=hours):
            raise SimSwapped(f"Refused: the SIM of this line changed within the last {hours} hours.")
        conn = self.store.conn
        pending = conn.execute(
            "SELECT seq, sends, expires_us FROM verifications WHERE msisdn = ? AND partner_id = ? AND "
            "status = 'PENDING' AND expires_us > ? ORDER BY seq DESC LIMIT 1", (phone_number, partner_id, now_us)
        ).fetchone()
        if pending is not None:
            seq, expires_us = int(pending["seq"]), int(pending["expires_us"])
            if int(pending["sends"]) >= self.rules.max_sends:
                wait = max(1, -(-(expires_us - now_us) // 1_000_000))
                raise MaxSends(f"At most {self.rules.max_sends} sends per verification; it expires in {wait} s.",
                               headers={"Retry-After": str(wait)})
            with self.store.transaction():
                conn.execute("UPDATE verifications SET sends = sends + 1, channel = ?, updated_us = ? WHERE seq = ?",
                             (channel, now_us, seq))
                self._send(seq, subscriber, int(pending["sends"]) + 1, channel, expires_us)
            return self._view(partner_id, seq), False
        self._limits(partner_id, phone_number, now_us)
        roaming = bool(world.device_kinds(np.asarray([subscriber]))[0][0])
        number = int(phone_number[1:])
        self._fraud(partner_id, number, roaming, now_us)
        expires_us = now_us + self.rules.code_ttl_s * 1_000_000
        with self.store.transaction():
            seq = int(conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM verifications").fetchone()[0])
            conn.execute(
                "INSERT INTO verifications(seq, partner_id, subscriber, msisdn, msisdn_num, roaming, channel, "
                "code_hash, created_us, expires_us, sends, checks, status, updated_us) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 0, 'PENDING', ?)",
                (seq, partner_id, subscriber, phone_number, number, int(roaming), channel,
                 _hash(seq, self.code_of(seq)), now_us, expires_us, now_us))
            self._send(seq, subscriber, 1, channel, expires_us)
        return self._view(partner_id, seq), True

    def check(self, partner_id: int, vid: str, code: str) -> VerificationView:
        """Check ``code`` against verification ``vid`` (see the module docstring for the answers)."""
        row = self._row(partner_id, vid)
        seq = int(row["seq"])
        status = self._current_status(row)
        if status == "PENDING":
            checks = int(row["checks"]) + 1
            if hmac.compare_digest(_hash(seq, code), bytes(row["code_hash"])):
                status = "APPROVED"
            elif checks >= self.rules.max_checks:
                status = "MAX_ATTEMPTS"
            now_us = to_micros(self.world.clock.now)
            self.store.conn.execute("UPDATE verifications SET checks = ?, status = ?, updated_us = ? WHERE seq = ?",
                                    (checks, status, now_us, seq))
        elif status != row["status"]:
            self.store.conn.execute("UPDATE verifications SET status = ? WHERE seq = ?", (status, seq))
        self.check_outcomes["denied" if status == "PENDING" else status.lower()] += 1
        return self._view(partner_id, seq)

    def counts(self) -> dict[str, int]:
        """Verifications by their status now (a pending one past its expiry or out of tries counts as what it
        is); one ``GROUP BY`` over the table."""
        out: dict[str, int] = dict.fromkeys(("PENDING", "APPROVED", "EXPIRED", "MAX_ATTEMPTS"), 0)
        rows = self.store.conn.execute(
            "SELECT CASE WHEN status != 'PENDING' THEN status WHEN expires_us <= ? THEN 'EXPIRED' "
            "WHEN checks >= ? THEN 'MAX_ATTEMPTS' ELSE 'PENDING' END, COUNT(*) FROM verifications GROUP BY 1",
            (to_micros(self.world.clock.now), self.rules.max_checks))
        for status, n in rows:
            out[str(status)] = out.get(str(status), 0) + int(n)
        return out

    def get(self, partner_id: int, vid: str) -> VerificationView:
        """A verification of the partner (another partner's is ``404``)."""
        return self._view(partner_id, int(self._row(partner_id, vid)["seq"]))

    # -- reading ------------------------------------------------------------------------------------------------
    def _row(self, partner_id: int, vid: str) -> sqlite3.Row:
        seq = parse_public_id(vid, VERIFICATION_PREFIX)
        row = None if seq is None else self.store.conn.execute(
            "SELECT * FROM verifications WHERE seq = ? AND partner_id = ?", (seq, partner_id)).fetchone()
        if row is None:
            raise NotFound(f"Verification {vid} not found.")
        return row  # type: ignore[no-any-return]

    def _current_status(self, row: sqlite3.Row) -> Status:
        status = str(row["status"])
        if status == "PENDING":
            if to_micros(self.world.clock.now) >= int(row["expires_us"]):
                return "EXPIRED"
            if int(row["checks"]) >= self.rules.max_checks:
                return "MAX_ATTEMPTS"
        return status  # type: ignore[return-value]

    def _view(self, partner_id: int, seq: int) -> VerificationView:
        row = self._row(partner_id, format_id(VERIFICATION_PREFIX, seq))
        sends = [Send(int(r["attempt"]), str(r["channel"]), from_micros(int(r["at_us"])), str(r["status"]),
                      r["reason"], None if r["delivered_us"] is None else from_micros(int(r["delivered_us"])))
                 for r in self.store.conn.execute(
                     "SELECT * FROM verification_sends WHERE verification_seq = ? ORDER BY attempt, at_us, channel",
                     (seq,))]
        checks = int(row["checks"])
        return VerificationView(
            id=format_id(VERIFICATION_PREFIX, seq), phone_number=str(row["msisdn"]), channel=row["channel"],
            status=self._current_status(row), created_at=from_micros(int(row["created_us"])),
            expires_at=from_micros(int(row["expires_us"])), send_count=int(row["sends"]),
            check_count=checks, checks_left=max(0, self.rules.max_checks - checks), sends=sends)
