"""Where campaigns live: the campaign tables, their migrations and every SQL statement that reads or writes them.

Owns ``campaigns`` (one row per campaign as submitted, with its lifecycle instants) and ``campaign_records`` (one
row per subscriber outcome, written in bulk off the tick by the store's background writer). The migrations are
the feature's own (:data:`SCHEMA`), applied by the core store machinery; the tables are exactly those the core
migrations 3 and 7 used to make, so databases made before keep working. Rows are handed out as
:class:`sqlite3.Row` (columns as in the schema below); the rules live in the service and the engine.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from gateway.core.store import FeatureSchema, Store
from gateway.services.campaigns.model import CampaignRequest

HOUR_US = 3_600_000_000

MIGRATIONS: tuple[str, ...] = (
    # 1: targeted campaigns (issue 4): campaigns as submitted, and one record per subscriber outcome
    """
    CREATE TABLE campaigns (
        seq INTEGER PRIMARY KEY,          -- cmp_000001 is seq 1
        partner_id INTEGER NOT NULL REFERENCES partners(id),
        name TEXT NOT NULL,
        spec TEXT NOT NULL,               -- JSON: the campaign as submitted (wire form)
        status TEXT NOT NULL,             -- SCHEDULED, RUNNING, COMPLETED, CANCELLED, REJECTED
        rejection_reason TEXT,
        estimate INTEGER NOT NULL,        -- reachable audience at creation (unrounded, operator side)
        idempotency_key TEXT,
        body_hash TEXT,
        created_us INTEGER NOT NULL,      -- sim time, microseconds since the epoch
        started_us INTEGER,
        completed_us INTEGER,
        cancelled_us INTEGER
    );
    CREATE UNIQUE INDEX campaigns_idempotency ON campaigns(partner_id, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    CREATE INDEX campaigns_partner ON campaigns(partner_id, seq);
    CREATE TABLE campaign_records (
        campaign_seq INTEGER NOT NULL,
        seq INTEGER NOT NULL,             -- per-campaign counter: ids are deterministic, replays are ignored
        id TEXT NOT NULL,                 -- msg_000001_0000001 (sent) or sup_000001_0000001 (suppressed)
        subscriber INTEGER NOT NULL,      -- row index in the world (operator side only)
        at_us INTEGER NOT NULL,           -- sim time of the decision
        outcome TEXT NOT NULL,            -- DELIVERED, FAILED or SUPPRESSED
        reason TEXT,                      -- suppression reason
        channel TEXT,                     -- PUSH or SMS (sent messages)
        delivered_us INTEGER,
        opened_us INTEGER,
        clicked_us INTEGER,
        PRIMARY KEY (campaign_seq, seq)
    ) WITHOUT ROWID;
    """,
    # 2: records are written in bulk off the tick: their id is derived from (campaign_seq, seq) on read
    """
    ALTER TABLE campaign_records DROP COLUMN id;
    """,
)


def _adopt(conn: sqlite3.Connection) -> int:
    """Migrations a database made before the repository owned them has (core steps 3 and 7 made the tables)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'campaigns'").fetchone() is None:
        return 0
    columns = {r["name"] for r in conn.execute("PRAGMA table_info(campaign_records)")}
    return 1 if "id" in columns else 2


SCHEMA = FeatureSchema("campaigns", MIGRATIONS, _adopt)
"""The campaign tables, versioned apart from the core ones."""

_TOTALS = ("SELECT COUNT(*) AS matched, SUM(outcome != 'SUPPRESSED') AS sent, SUM(outcome = 'DELIVERED') AS "
           "delivered, SUM(outcome = 'FAILED') AS failed, SUM(opened_us <= ?) AS opened, SUM(clicked_us <= ?) "
           "AS clicked")


class CampaignRepository:
    """The campaign tables of one store (registered with it, so they exist once the store is open)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.add_schema(SCHEMA)

    # -- campaigns --------------------------------------------------------------------------------------------
    def not_rejected(self) -> list[tuple[int, int, CampaignRequest, int, int | None]]:
        """Every campaign the engine runs or ran, oldest first: (seq, partner, request, created_us, cancelled_us)."""
        rows = self.store.conn.execute(
            "SELECT seq, partner_id, spec, created_us, cancelled_us FROM campaigns WHERE status != 'REJECTED' "
            "ORDER BY seq").fetchall()
        return [(r["seq"], r["partner_id"], CampaignRequest.from_json(json.loads(r["spec"])), r["created_us"],
                 r["cancelled_us"]) for r in rows]

    def by_idempotency_key(self, partner_id: int, idempotency_key: str) -> tuple[int, str] | None:
        """(seq, body hash) of the partner's campaign created with that key."""
        row = self.store.conn.execute("SELECT seq, body_hash FROM campaigns WHERE partner_id = ? AND "
                                      "idempotency_key = ?", (partner_id, idempotency_key)).fetchone()
        return None if row is None else (int(row["seq"]), str(row["body_hash"]))

    def insert(self, partner_id: int, req: CampaignRequest, status: str, reason: str | None, estimate: int,
               idempotency_key: str | None, body_hash: str, created_us: int) -> int:
        """Store a new campaign; returns its seq."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO campaigns(partner_id, name, spec, status, rejection_reason, estimate, idempotency_key, "
                "body_hash, created_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (partner_id, req.name, json.dumps(req.to_json(), sort_keys=True), status, reason, estimate,
                 idempotency_key, body_hash, created_us))
            return int(cur.lastrowid or 0)

    def active_count(self, partner_id: int) -> int:
        """The partner's SCHEDULED and RUNNING campaigns."""
        return int(self.store.conn.execute("SELECT COUNT(*) FROM campaigns WHERE partner_id = ? AND status IN "
                                           "('SCHEDULED', 'RUNNING')", (partner_id,)).fetchone()[0])

    def get(self, seq: int) -> sqlite3.Row | None:
        """A campaign row."""
        row: sqlite3.Row | None = self.store.conn.execute("SELECT * FROM campaigns WHERE seq = ?", (seq,)).fetchone()
        return row

    def partner_of(self, seq: int) -> int:
        """The partner of a stored campaign."""
        return int(self.store.conn.execute("SELECT partner_id FROM campaigns WHERE seq = ?",
                                           (seq,)).fetchone()["partner_id"])

    def page(self, partner_id: int, after_seq: int, limit: int) -> list[sqlite3.Row]:
        """Up to ``limit`` of the partner's campaigns after ``after_seq``, oldest first."""
        return self.store.conn.execute("SELECT * FROM campaigns WHERE partner_id = ? AND seq > ? ORDER BY seq "
                                       "LIMIT ?", (partner_id, after_seq, limit)).fetchall()

    def latest(self, limit: int) -> list[sqlite3.Row]:
        """The ``limit`` most recent campaigns of every partner, newest first (operator side)."""
        return self.store.conn.execute("SELECT * FROM campaigns ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()

    def cancel(self, seq: int, at_us: int) -> None:
        """Mark a campaign CANCELLED at ``at_us``."""
        with self.store.transaction() as conn:
            conn.execute("UPDATE campaigns SET status = 'CANCELLED', cancelled_us = ? WHERE seq = ?", (at_us, seq))

    def set_statuses(self, started: Sequence[tuple[int, int]], completed: Sequence[tuple[int, int]]) -> None:
        """One tick's lifecycle moves, in one transaction: (seq, instant) of campaigns started and completed."""
        if not started and not completed:
            return
        with self.store.transaction() as tx:
            for seq, at_us in started:
                tx.execute("UPDATE campaigns SET status = 'RUNNING', started_us = ? WHERE seq = ? AND "
                           "status = 'SCHEDULED'", (at_us, seq))
            for seq, at_us in completed:
                tx.execute("UPDATE campaigns SET status = 'COMPLETED', completed_us = ? WHERE seq = ? AND status IN "
                           "('SCHEDULED', 'RUNNING')", (at_us, seq))

    # -- records ----------------------------------------------------------------------------------------------
    def append_suppressions(self, columns: Sequence[Any]) -> None:
        """Queue suppression records (campaign_seq, seq, subscriber, at_us, reason) for the background writer."""
        self.store.append_rows(
            "INSERT OR IGNORE INTO campaign_records(campaign_seq, seq, subscriber, at_us, outcome, reason) "
            "VALUES (?, ?, ?, ?, 'SUPPRESSED', ?)", columns)

    def append_sends(self, columns: Sequence[Any]) -> None:
        """Queue send records (campaign_seq, seq, subscriber, at_us, outcome, channel, delivered_us, opened_us,
        clicked_us) for the background writer."""
        self.store.append_rows(
            "INSERT OR IGNORE INTO campaign_records(campaign_seq, seq, subscriber, at_us, outcome, channel, "
            "delivered_us, opened_us, clicked_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", columns)

    def drain(self) -> None:
        """Wait until every queued record is written (before reading records)."""
        self.store.drain()

    def totals(self, seq: int, now_us: int, hour_us: int | None = None) -> sqlite3.Row:
        """Raw counts of a campaign's records as of ``now_us`` (optionally of the hour from ``hour_us``): matched,
        sent, delivered, failed, opened, clicked, suppressed."""
        where, args = "campaign_seq = ?", [seq]
        if hour_us is not None:
            where += " AND at_us >= ? AND at_us < ?"
            args += [hour_us, hour_us + HOUR_US]
        row: sqlite3.Row = self.store.conn.execute(
            f"{_TOTALS}, SUM(outcome = 'SUPPRESSED') AS suppressed FROM campaign_records WHERE {where}",
            [now_us, now_us, *args]).fetchone()
        return row

    def report_totals(self, seq: int, now_us: int) -> sqlite3.Row:
        """Raw counts of a campaign's records as of ``now_us``: matched, sent, delivered, failed, opened, clicked."""
        row: sqlite3.Row = self.store.conn.execute(f"{_TOTALS} FROM campaign_records WHERE campaign_seq = ?",
                                                   (now_us, now_us, seq)).fetchone()
        return row

    def suppressions_by_reason(self, seq: int) -> dict[str, int]:
        """Suppression records of a campaign per reason."""
        return dict(self.store.conn.execute("SELECT reason, COUNT(*) FROM campaign_records WHERE campaign_seq = ? "
                                            "AND outcome = 'SUPPRESSED' GROUP BY reason", (seq,)).fetchall())

    def hourly(self, seq: int, now_us: int) -> list[sqlite3.Row]:
        """Raw counts per clock hour ``h`` (microseconds // hour): sent, delivered, failed, opened, clicked,
        suppressed; oldest first."""
        return self.store.conn.execute(
            "SELECT at_us / ? AS h, SUM(outcome != 'SUPPRESSED') AS sent, SUM(outcome = 'DELIVERED') AS delivered, "
            "SUM(outcome = 'FAILED') AS failed, SUM(opened_us <= ?) AS opened, SUM(clicked_us <= ?) AS clicked, "
            "SUM(outcome = 'SUPPRESSED') AS suppressed FROM campaign_records WHERE campaign_seq = ? GROUP BY h "
            "ORDER BY h", (HOUR_US, now_us, now_us, seq)).fetchall()

    def records(self, seq: int, after: int, limit: int) -> list[sqlite3.Row]:
        """Up to ``limit`` records of a campaign after record number ``after``, in order."""
        return self.store.conn.execute("SELECT * FROM campaign_records WHERE campaign_seq = ? AND seq > ? "
                                       "ORDER BY seq LIMIT ?", (seq, after, limit)).fetchall()
