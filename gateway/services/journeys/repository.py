"""The SQL of journeys: journeys, enrolments, recipients and the outcome of every step, and the aggregates and
operator-side records read from them (joined with the messages a journey sent).

The tables (``journeys``, ``journey_enrolments``, ``journey_recipients``, ``journey_steps``) are created by the
store's migrations (:data:`gateway.core.store.MIGRATIONS`); this module only reads and writes them. Writers that
must commit with other writes take the caller's connection (inside its transaction); the others open their own.
Records are ``INSERT OR IGNORE``: the replay after a restart writes them again.
"""

from __future__ import annotations

import sqlite3

from gateway.core.store import Store


class JourneyRepository:
    """Reads and writes of the journeys' tables on one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- journeys -----------------------------------------------------------------------------------------------
    def journeys(self) -> list[sqlite3.Row]:
        """Every journey, in creation order."""
        return self.store.conn.execute("SELECT * FROM journeys ORDER BY seq").fetchall()

    def journey(self, seq: int) -> sqlite3.Row | None:
        """One journey."""
        row: sqlite3.Row | None = self.store.conn.execute("SELECT * FROM journeys WHERE seq = ?", (seq,)).fetchone()
        return row

    def by_key(self, partner_id: int, idempotency_key: str) -> sqlite3.Row | None:
        """``(seq, body_hash)`` of the partner's journey created with that Idempotency-Key."""
        row: sqlite3.Row | None = self.store.conn.execute(
            "SELECT seq, body_hash FROM journeys WHERE partner_id = ? AND idempotency_key = ?",
            (partner_id, idempotency_key)).fetchone()
        return row

    def insert(self, partner_id: int, name: str, spec: str, now_us: int, idempotency_key: str | None,
               body_hash: str) -> int:
        """A new journey; its sequence number."""
        with self.store.transaction() as conn:
            seq = int(conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM journeys").fetchone()[0])
            conn.execute("INSERT INTO journeys(seq, partner_id, name, spec, created_us, idempotency_key, body_hash) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)", (seq, partner_id, name, spec, now_us, idempotency_key,
                                                          body_hash))
        return seq

    def page(self, partner_id: int, after_seq: int, limit: int) -> list[sqlite3.Row]:
        """Up to ``limit`` journeys of the partner after ``after_seq``, oldest first."""
        return self.store.conn.execute("SELECT * FROM journeys WHERE partner_id = ? AND seq > ? ORDER BY seq "
                                       "LIMIT ?", (partner_id, after_seq, limit)).fetchall()

    def cancel(self, seq: int, at_us: int) -> None:
        """Record a journey's cancellation instant."""
        with self.store.transaction() as conn:
            conn.execute("UPDATE journeys SET cancelled_us = ? WHERE seq = ?", (at_us, seq))

    # -- enrolments ---------------------------------------------------------------------------------------------
    def enrolments(self) -> list[sqlite3.Row]:
        """Every enrolment, in enrolment order."""
        return self.store.conn.execute("SELECT * FROM journey_enrolments ORDER BY seq").fetchall()

    def enrolment_count(self, journey_seq: int) -> int:
        """How many numbers a journey has enrolled."""
        return int(self.store.conn.execute("SELECT COUNT(*) FROM journey_enrolments WHERE journey_seq = ?",
                                           (journey_seq,)).fetchone()[0])

    def is_enrolled(self, journey_seq: int, msisdn: str, event_us: int) -> bool:
        """Whether the number is enrolled in the journey for that event instant."""
        return self.store.conn.execute(
            "SELECT 1 FROM journey_enrolments WHERE journey_seq = ? AND msisdn = ? AND event_us = ?",
            (journey_seq, msisdn, event_us)).fetchone() is not None

    def enrol(self, journey_seq: int, msisdn: str, subscriber: int, event_us: int, now_us: int) -> int:
        """A new enrolment; its sequence number."""
        with self.store.transaction() as c:
            enr = int(c.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM journey_enrolments").fetchone()[0])
            c.execute("INSERT INTO journey_enrolments(seq, journey_seq, msisdn, subscriber, event_us, created_us) "
                      "VALUES (?, ?, ?, ?, ?, ?)", (enr, journey_seq, msisdn, subscriber, event_us, now_us))
        return enr

    # -- recipients and steps -----------------------------------------------------------------------------------
    @staticmethod
    def add_recipient(conn: sqlite3.Connection, journey_seq: int, n: int, subscriber: int, trigger_us: int) -> None:
        """Recipient ``n`` of a journey (caller's transaction)."""
        conn.execute("INSERT OR IGNORE INTO journey_recipients(journey_seq, n, subscriber, trigger_us) "
                     "VALUES (?, ?, ?, ?)", (journey_seq, n, subscriber, trigger_us))

    @staticmethod
    def record_step(conn: sqlite3.Connection, journey_seq: int, n: int, step: int, outcome: str, reason: str | None,
                    message_seq: int | None, at_us: int) -> None:
        """What came of step ``step`` (1-based) of recipient ``n`` (caller's transaction)."""
        conn.execute("INSERT OR IGNORE INTO journey_steps(journey_seq, n, step, outcome, reason, message_seq, at_us) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", (journey_seq, n, step, outcome, reason, message_seq, at_us))

    def step_recorded(self, journey_seq: int, n: int, step: int) -> bool:
        """Whether that step of that recipient has its row already."""
        return self.store.conn.execute("SELECT 1 FROM journey_steps WHERE journey_seq = ? AND n = ? AND step = ?",
                                       (journey_seq, n, step)).fetchone() is not None

    # -- reports and records ------------------------------------------------------------------------------------
    def recipient_count(self, journey_seq: int) -> int:
        """How many recipients a journey has."""
        return int(self.store.conn.execute("SELECT COUNT(*) FROM journey_recipients WHERE journey_seq = ?",
                                           (journey_seq,)).fetchone()[0])

    def step_totals(self, journey_seq: int, now_us: int) -> dict[int, sqlite3.Row]:
        """Per step: ``decided``, ``in_flight``, ``sent``, ``delivered``, ``failed``, ``expired`` and ``opened``
        (by ``now_us``) counts of its recorded outcomes."""
        return {r["step"]: r for r in self.store.conn.execute(
            "SELECT s.step AS step, COUNT(*) AS decided, SUM(m.status IN ('ACCEPTED', 'HELD', 'SENT')) AS in_flight, "
            "SUM(EXISTS (SELECT 1 FROM message_events e WHERE e.message_seq = s.message_seq AND e.status = 'SENT')) "
            "AS sent, SUM(m.status = 'DELIVERED') AS delivered, SUM(m.status = 'FAILED') AS failed, "
            "SUM(m.status = 'EXPIRED') AS expired, SUM(m.opened_us <= ?) AS opened "
            "FROM journey_steps s LEFT JOIN messages m ON m.seq = s.message_seq WHERE s.journey_seq = ? "
            "GROUP BY s.step", (now_us, journey_seq))}

    def refusals(self, journey_seq: int) -> list[sqlite3.Row]:
        """Per step, outcome and reason (``why``): how many steps were suppressed, refused or stopped (``n``)."""
        return self.store.conn.execute(
            "SELECT s.step AS step, s.outcome AS outcome, COALESCE(m.reason, s.reason) AS why, COUNT(*) AS n "
            "FROM journey_steps s LEFT JOIN messages m ON m.seq = s.message_seq WHERE s.journey_seq = ? AND "
            "(m.status = 'SUPPRESSED' OR s.outcome != 'MESSAGE') GROUP BY s.step, s.outcome, why",
            (journey_seq,)).fetchall()

    def recipients(self, journey_seq: int, after_n: int, limit: int) -> list[sqlite3.Row]:
        """Up to ``limit`` recipients (``n``, ``subscriber``, ``trigger_us``) after ``after_n``, in order."""
        return self.store.conn.execute("SELECT n, subscriber, trigger_us FROM journey_recipients WHERE journey_seq = ? "
                                       "AND n > ? ORDER BY n LIMIT ?", (journey_seq, after_n, limit)).fetchall()

    def step_outcomes(self, journey_seq: int, first_n: int, last_n: int) -> dict[tuple[int, int], sqlite3.Row]:
        """The recorded steps of recipients ``first_n`` to ``last_n`` by (n, step), with their message's status,
        reason, opening and whether it was sent."""
        return {(r["n"], r["step"]): r for r in self.store.conn.execute(
            "SELECT s.n AS n, s.step AS step, s.outcome AS outcome, s.reason AS reason, s.message_seq AS message_seq, "
            "s.at_us AS at_us, m.status AS status, m.reason AS message_reason, m.opened_us AS opened_us, "
            "EXISTS (SELECT 1 FROM message_events e WHERE e.message_seq = s.message_seq AND e.status = 'SENT') AS sent "
            "FROM journey_steps s LEFT JOIN messages m ON m.seq = s.message_seq "
            "WHERE s.journey_seq = ? AND s.n BETWEEN ? AND ?", (journey_seq, first_n, last_n))}
