"""Where the CDP lives: its tables, their migrations and every SQL statement on them.

Owns ``cdp_sources`` (a partner's sources; the write key only as its SHA-256), ``cdp_events`` (the log of every
accepted tracking call and app event, written in bulk off the request by the store's background writer: profiles
and audiences are rebuilt from it after a restart) and ``cdp_audiences`` (definitions as submitted). The migrations
are the feature's own (:data:`SCHEMA`), applied by the core store. It must not know about HTTP or the rules.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from gateway.core.store import FeatureSchema, Store, fast_hash

MIGRATIONS: tuple[str, ...] = (
    # 1: the CDP (issue 13): sources, the event log, audiences
    """
    CREATE TABLE cdp_sources (
        seq INTEGER PRIMARY KEY,          -- src_000001 is seq 1
        partner_id INTEGER NOT NULL REFERENCES partners(id),
        name TEXT NOT NULL,
        app_seq INTEGER,                  -- the app whose installs report through it
        key_hash BLOB NOT NULL UNIQUE,    -- SHA-256 of the write key
        key_prefix TEXT NOT NULL,
        created_us INTEGER NOT NULL       -- sim time, microseconds since the epoch
    );
    CREATE INDEX cdp_sources_partner ON cdp_sources(partner_id, seq);
    CREATE TABLE cdp_events (
        seq INTEGER PRIMARY KEY,          -- arrival order (replayed in this order)
        partner_id INTEGER NOT NULL,
        source_seq INTEGER,
        type INTEGER NOT NULL,            -- index into model.MESSAGE_TYPES
        message_id TEXT NOT NULL,
        user_id TEXT,
        anonymous_id TEXT,
        event TEXT,                       -- what it counts as (track event, Page Viewed, ...), NULL otherwise
        time_us INTEGER NOT NULL,         -- skew-corrected event time
        received_us INTEGER NOT NULL,
        payload TEXT,                     -- JSON (model.Message.to_json) of tracking calls
        app_seq INTEGER,                  -- app events: the app, install row, category index and order value
        install_row INTEGER,
        item INTEGER,
        value_cents INTEGER
    );
    -- whose history a call is in: the user's when it has a user id, else the anonymous visitor's
    CREATE INDEX cdp_events_owner ON cdp_events(partner_id, coalesce('u:' || user_id, 'a:' || anonymous_id));
    CREATE TABLE cdp_audiences (
        seq INTEGER PRIMARY KEY,          -- aud_000001 is seq 1
        partner_id INTEGER NOT NULL REFERENCES partners(id),
        name TEXT NOT NULL,
        definition TEXT NOT NULL,         -- JSON as submitted
        created_us INTEGER NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0
    );
    """,
)
SCHEMA = FeatureSchema("cdp", MIGRATIONS)
"""The CDP tables, versioned apart from the core ones."""

EVENT_COLUMNS = ("seq", "partner_id", "source_seq", "type", "message_id", "user_id", "anonymous_id", "event",
                 "time_us", "received_us", "payload", "app_seq", "install_row", "item", "value_cents")
_OWNERS_PER_QUERY = 500
"""Identities of one profile looked up per query (SQLite bounds a statement's parameters)."""
_INSERT_EVENTS = (f"INSERT OR IGNORE INTO cdp_events({', '.join(EVENT_COLUMNS)}) "
                  f"VALUES ({', '.join('?' * len(EVENT_COLUMNS))})")


class CdpRepository:
    """The CDP tables of one store (registered with it, so they exist once the store is open)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.add_schema(SCHEMA)

    # -- sources ----------------------------------------------------------------------------------------------
    def insert_source(self, partner_id: int, name: str, app_seq: int | None, key: str, created_us: int) -> int:
        """Store a source; returns its seq."""
        with self.store.transaction() as conn:
            cur = conn.execute("INSERT INTO cdp_sources(partner_id, name, app_seq, key_hash, key_prefix, created_us)"
                               " VALUES (?, ?, ?, ?, ?, ?)",
                               (partner_id, name, app_seq, fast_hash(key), key[:12], created_us))
            return int(cur.lastrowid or 0)

    def sources(self) -> list[sqlite3.Row]:
        """Every source, oldest first."""
        return self.store.conn.execute("SELECT seq, partner_id, name, app_seq, created_us FROM cdp_sources "
                                       "ORDER BY seq").fetchall()

    def source_of_key(self, key: str) -> int | None:
        """The source a write key belongs to (``None`` too when its partner is disabled)."""
        row = self.store.conn.execute("SELECT s.seq FROM cdp_sources s JOIN partners p ON p.id = s.partner_id "
                                      "WHERE s.key_hash = ? AND p.disabled = 0", (fast_hash(key),)).fetchone()
        return None if row is None else int(row["seq"])

    # -- the event log ----------------------------------------------------------------------------------------
    def append_events(self, columns: Sequence[Any]) -> None:
        """Log events given as columns in :data:`EVENT_COLUMNS` order (written behind)."""
        self.store.append_rows(_INSERT_EVENTS, columns)

    def last_event_seq(self) -> int:
        """The highest logged seq (0 when none)."""
        self.store.drain()
        row = self.store.conn.execute("SELECT MAX(seq) FROM cdp_events").fetchone()
        return int(row[0] or 0)

    def events(self, partner_id: int | None = None, since_us: int | None = None) -> Iterator[sqlite3.Row]:
        """Logged events in arrival order (of one partner; of calls that are not events, and events received
        after ``since_us``)."""
        self.store.drain()
        sql = "SELECT * FROM cdp_events WHERE 1"
        args: list[Any] = []
        if partner_id is not None:
            sql += " AND partner_id = ?"
            args.append(partner_id)
        if since_us is not None:
            sql += " AND (event IS NULL OR time_us > ?)"
            args.append(since_us)
        yield from self.store.conn.execute(sql + " ORDER BY seq", args)

    def recent(self, partner_id: int, user_ids: Sequence[str], anon_ids: Sequence[str],
               limit: int) -> list[sqlite3.Row]:
        """The latest ``limit`` calls of a profile's identities (a call with a user id belongs to that user)."""
        self.store.drain()
        owners = [f"u:{u}" for u in user_ids] + [f"a:{a}" for a in anon_ids]
        marks = ", ".join("?" * len(owners)) or "NULL"
        return self.store.conn.execute(
            f"SELECT * FROM cdp_events WHERE partner_id = ? AND coalesce('u:' || user_id, 'a:' || anonymous_id) "
            f"IN ({marks}) ORDER BY seq DESC LIMIT ?", (partner_id, *owners, limit)).fetchall()

    def owned_events(self, partner_id: int, user_ids: Sequence[str], anon_ids: Sequence[str],
                     events: Sequence[str], since_us: int) -> list[sqlite3.Row]:
        """The events named ``events`` of a profile's identities (owned as in :meth:`recent`) whose event time is
        at or after ``since_us``, in arrival order (after a drain: rows written behind are included)."""
        self.store.drain()
        owners = [f"u:{u}" for u in user_ids] + [f"a:{a}" for a in anon_ids]
        names = list(dict.fromkeys(events))
        out: list[sqlite3.Row] = []
        for lo in range(0, len(owners), _OWNERS_PER_QUERY):  # a profile may hold many anonymous ids
            chunk = owners[lo:lo + _OWNERS_PER_QUERY]
            out += self.store.conn.execute(
                f"SELECT * FROM cdp_events WHERE partner_id = ? AND coalesce('u:' || user_id, 'a:' || anonymous_id) "
                f"IN ({', '.join('?' * len(chunk))}) AND event IN ({', '.join('?' * len(names))}) AND time_us >= ?",
                (partner_id, *chunk, *names, since_us)).fetchall()
        return sorted(out, key=lambda r: int(r["seq"]))

    def forget_before(self, cutoff_us: int, upto_seq: int) -> int:
        """Drop events (not identity calls) older than ``cutoff_us`` among those logged up to ``upto_seq``;
        returns how many."""
        self.store.drain()
        with self.store.transaction() as conn:
            return conn.execute("DELETE FROM cdp_events WHERE seq <= ? AND event IS NOT NULL AND time_us <= ?",
                                (upto_seq, cutoff_us)).rowcount

    # -- audiences --------------------------------------------------------------------------------------------
    def insert_audience(self, partner_id: int, name: str, definition: dict[str, Any], created_us: int) -> int:
        """Store an audience; returns its seq."""
        with self.store.transaction() as conn:
            cur = conn.execute("INSERT INTO cdp_audiences(partner_id, name, definition, created_us) VALUES "
                               "(?, ?, ?, ?)", (partner_id, name, json.dumps(definition, sort_keys=True), created_us))
            return int(cur.lastrowid or 0)

    def audiences(self) -> list[sqlite3.Row]:
        """Every audience not deleted, oldest first."""
        return self.store.conn.execute("SELECT * FROM cdp_audiences WHERE deleted = 0 ORDER BY seq").fetchall()

    def delete_audience(self, seq: int) -> None:
        """Mark an audience deleted."""
        with self.store.transaction() as conn:
            conn.execute("UPDATE cdp_audiences SET deleted = 1 WHERE seq = ?", (seq,))
