"""Where partner apps and their pushes live: the apps tables, their migrations and every SQL statement on them.

Owns ``apps`` (one row per registered app as submitted), ``app_uninstalls`` (installs removed over time, so the
drawn install table is the same after a restart) and ``push_messages`` (one row per accepted push with its
operator-side outcome). The migrations are the feature's own (:data:`SCHEMA`), applied by the core store.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from gateway.core.store import FeatureSchema, Store
from gateway.services.apps.model import AppSpec

MIGRATIONS: tuple[str, ...] = (
    # 1: partner apps, uninstalls and push messages (issue 13)
    """
    CREATE TABLE apps (
        seq INTEGER PRIMARY KEY,          -- app_000001 is seq 1
        partner_id INTEGER NOT NULL REFERENCES partners(id),
        spec TEXT NOT NULL,               -- JSON: the app as registered
        created_us INTEGER NOT NULL       -- sim time, microseconds since the epoch
    );
    CREATE INDEX apps_partner ON apps(partner_id, seq);
    CREATE TABLE app_uninstalls (
        app_seq INTEGER NOT NULL,
        row INTEGER NOT NULL,             -- row of the app's install table
        at_us INTEGER NOT NULL,
        PRIMARY KEY (app_seq, row)
    ) WITHOUT ROWID;
    CREATE TABLE push_messages (
        seq INTEGER PRIMARY KEY,          -- psh_00000001 is seq 1
        app_seq INTEGER NOT NULL,
        row INTEGER NOT NULL,             -- install row the token names
        subscriber INTEGER NOT NULL,      -- row index in the world (operator side only)
        spec TEXT NOT NULL,               -- JSON: the FCM message as sent
        status TEXT NOT NULL,             -- DELIVERED, HELD or EXPIRED
        displayed INTEGER NOT NULL,       -- shown to the user (permission and a notification)
        created_us INTEGER NOT NULL,
        expires_us INTEGER NOT NULL,
        delivered_us INTEGER
    );
    CREATE INDEX push_messages_held ON push_messages(status) WHERE status = 'HELD';
    """,
)

SCHEMA = FeatureSchema("apps", MIGRATIONS)
"""The apps tables, versioned apart from the core ones."""


class AppRepository:
    """The apps tables of one store (registered with it, so they exist once the store is open)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.add_schema(SCHEMA)

    # -- apps -------------------------------------------------------------------------------------------------
    def insert(self, partner_id: int, spec: AppSpec, created_us: int) -> int:
        """Store a new app; returns its seq."""
        with self.store.transaction() as conn:
            cur = conn.execute("INSERT INTO apps(partner_id, spec, created_us) VALUES (?, ?, ?)",
                               (partner_id, json.dumps(spec.to_json(), sort_keys=True), created_us))
            return int(cur.lastrowid or 0)

    def all(self) -> list[tuple[int, int, AppSpec, int]]:
        """Every app, oldest first: (seq, partner, spec, created_us)."""
        rows = self.store.conn.execute("SELECT seq, partner_id, spec, created_us FROM apps ORDER BY seq").fetchall()
        return [(r["seq"], r["partner_id"], AppSpec.from_json(json.loads(r["spec"])), r["created_us"]) for r in rows]

    # -- installs ---------------------------------------------------------------------------------------------
    def uninstall(self, app_seq: int, row: int, at_us: int) -> None:
        """Record that an install was removed."""
        with self.store.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO app_uninstalls(app_seq, row, at_us) VALUES (?, ?, ?)",
                         (app_seq, row, at_us))

    def uninstalled(self, app_seq: int) -> list[int]:
        """Rows of the app's install table that were removed."""
        return [int(r[0]) for r in self.store.conn.execute("SELECT row FROM app_uninstalls WHERE app_seq = ?",
                                                           (app_seq,))]

    # -- push messages ----------------------------------------------------------------------------------------
    def insert_push(self, app_seq: int, row: int, subscriber: int, spec: str, status: str, displayed: bool,
                    created_us: int, expires_us: int, delivered_us: int | None) -> int:
        """Store one accepted push; returns its seq."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO push_messages(app_seq, row, subscriber, spec, status, displayed, created_us, expires_us,"
                " delivered_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (app_seq, row, subscriber, spec, status, int(displayed), created_us, expires_us, delivered_us))
            return int(cur.lastrowid or 0)

    def settle(self, delivered: Sequence[tuple[int, int]], expired: Sequence[int]) -> None:
        """One tick's outcomes of held pushes, in one transaction: (seq, delivered_us) and expired seqs."""
        if not delivered and not expired:
            return
        with self.store.transaction() as conn:
            conn.executemany("UPDATE push_messages SET status = 'DELIVERED', delivered_us = ? WHERE seq = ? AND "
                             "status = 'HELD'", [(at, seq) for seq, at in delivered])
            conn.executemany("UPDATE push_messages SET status = 'EXPIRED' WHERE seq = ? AND status = 'HELD'",
                             [(seq,) for seq in expired])

    def held(self) -> list[sqlite3.Row]:
        """Pushes waiting for their device, oldest first."""
        return self.store.conn.execute("SELECT seq, app_seq, row, subscriber, displayed, expires_us FROM "
                                       "push_messages WHERE status = 'HELD' ORDER BY seq").fetchall()

    def get_push(self, seq: int) -> sqlite3.Row | None:
        """One push row."""
        row: sqlite3.Row | None = self.store.conn.execute("SELECT * FROM push_messages WHERE seq = ?",
                                                          (seq,)).fetchone()
        return row
