"""Where partner apps and their pushes live: the apps tables, their migrations and every SQL statement on them.

Owns ``apps`` (one row per registered app as submitted), ``app_uninstalls`` (installs removed by the operator) and
``app_permission_changes`` (permissions the operator set), so the install table is the same after a restart
(simulated lifecycle changes are recomputed, not stored),
``push_messages`` (one row per accepted push and device with its operator-side outcome and open),
``push_fanouts`` (topic and condition sends), ``app_topics`` (topic subscriptions) and ``app_event_ticks`` (each
app's event counter after each tick with events, so a restart numbers replayed events as before). The migrations
are the feature's own (:data:`SCHEMA`), applied by the core store.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from gateway.core.store import FeatureSchema, Store
from gateway.services.apps.installs import PermissionChange
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
        status TEXT NOT NULL,             -- DELIVERED, HELD, EXPIRED or SUPPRESSED
        displayed INTEGER NOT NULL,       -- shown to the user (permission and a notification)
        created_us INTEGER NOT NULL,
        expires_us INTEGER NOT NULL,
        delivered_us INTEGER
    );
    CREATE INDEX push_messages_held ON push_messages(status) WHERE status = 'HELD';
    """,
    # 2: topics, fan-out sends, push opens and the app event counter (issue 13)
    """
    CREATE TABLE app_topics (
        app_seq INTEGER NOT NULL,
        topic TEXT NOT NULL,
        row INTEGER NOT NULL,             -- install row subscribed (its current token)
        PRIMARY KEY (app_seq, topic, row)
    ) WITHOUT ROWID;
    CREATE TABLE push_fanouts (
        seq INTEGER PRIMARY KEY,          -- pst_00000001 is seq 1
        app_seq INTEGER NOT NULL,
        target TEXT NOT NULL,             -- the topic or condition as sent
        recipients INTEGER NOT NULL,      -- installs it went to
        created_us INTEGER NOT NULL
    );
    ALTER TABLE push_messages ADD COLUMN fanout INTEGER;    -- push_fanouts.seq of a topic or condition send
    ALTER TABLE push_messages ADD COLUMN opened_us INTEGER; -- when the user tapped the displayed push
    CREATE INDEX push_messages_delivered ON push_messages(delivered_us) WHERE delivered_us IS NOT NULL;
    ALTER TABLE apps ADD COLUMN population INTEGER;        -- subscribers in the world when it was registered
    CREATE TABLE app_event_ticks (
        app_seq INTEGER NOT NULL,
        tick INTEGER NOT NULL,
        end_seq INTEGER NOT NULL,         -- the app's event counter after this tick's batch
        PRIMARY KEY (app_seq, tick)
    ) WITHOUT ROWID;
    """,
    # 3: permission changes set by the operator (issue 13)
    """
    CREATE TABLE app_permission_changes (
        seq INTEGER PRIMARY KEY,          -- order of changes made at one instant
        app_seq INTEGER NOT NULL,
        row INTEGER NOT NULL,             -- row of the app's install table
        at_us INTEGER NOT NULL,
        change TEXT NOT NULL              -- JSON: the fields set (notifications, marketing, location, linked)
    );
    CREATE INDEX app_permission_changes_app ON app_permission_changes(app_seq, at_us, seq);
    """,
)

SCHEMA = FeatureSchema("apps", MIGRATIONS)
"""The apps tables, versioned apart from the core ones."""


class AppRepository:
    """The apps tables of one store (registered with it, so they exist once the store is open)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.add_schema(SCHEMA)
        self._last_push: int | None = None  # seq of the last push row (rows are group-committed, numbered here)

    # -- apps -------------------------------------------------------------------------------------------------
    def insert(self, partner_id: int, spec: AppSpec, created_us: int, population: int) -> int:
        """Store a new app (with the world's subscriber count then, which its installs were drawn over)."""
        with self.store.transaction() as conn:
            cur = conn.execute("INSERT INTO apps(partner_id, spec, created_us, population) VALUES (?, ?, ?, ?)",
                               (partner_id, json.dumps(spec.to_json(), sort_keys=True), created_us, population))
            return int(cur.lastrowid or 0)

    def all(self) -> list[tuple[int, int, AppSpec, int, int | None]]:
        """Every app, oldest first: (seq, partner, spec, created_us, population at registration)."""
        rows = self.store.conn.execute("SELECT seq, partner_id, spec, created_us, population FROM apps "
                                       "ORDER BY seq").fetchall()
        return [(r["seq"], r["partner_id"], AppSpec.from_json(json.loads(r["spec"])), r["created_us"],
                 r["population"]) for r in rows]

    # -- installs ---------------------------------------------------------------------------------------------
    def uninstall(self, app_seq: int, row: int, at_us: int) -> None:
        """Record that an install was removed."""
        with self.store.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO app_uninstalls(app_seq, row, at_us) VALUES (?, ?, ?)",
                         (app_seq, row, at_us))

    def uninstalled(self, app_seq: int) -> list[tuple[int, int]]:
        """(instant µs, row) of the app's installs the operator removed, oldest first."""
        return [(int(r[0]), int(r[1])) for r in self.store.conn.execute(
            "SELECT at_us, row FROM app_uninstalls WHERE app_seq = ? ORDER BY at_us, row", (app_seq,))]

    def change_permissions(self, app_seq: int, row: int, at_us: int, change: PermissionChange) -> None:
        """Record that the operator set permissions of an install."""
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO app_permission_changes(app_seq, row, at_us, change) VALUES (?, ?, ?, ?)",
                         (app_seq, row, at_us, json.dumps(change.to_json(), sort_keys=True)))

    def permission_changes(self, app_seq: int) -> list[tuple[int, int, int, PermissionChange]]:
        """(instant µs, seq, row, change) of the permissions the operator set on the app's installs, oldest first."""
        return [(int(r[0]), int(r[1]), int(r[2]), PermissionChange.from_json(json.loads(r[3])))
                for r in self.store.conn.execute(
                    "SELECT at_us, seq, row, change FROM app_permission_changes WHERE app_seq = ? ORDER BY at_us, seq",
                    (app_seq,))]

    # -- topics -----------------------------------------------------------------------------------------------
    def subscribe(self, app_seq: int, topic: str, rows: Sequence[int], subscribed: bool) -> None:
        """Add (or remove) topic subscriptions of install rows."""
        with self.store.transaction() as conn:
            sql = ("INSERT OR IGNORE INTO app_topics(app_seq, topic, row) VALUES (?, ?, ?)" if subscribed else
                   "DELETE FROM app_topics WHERE app_seq = ? AND topic = ? AND row = ?")
            conn.executemany(sql, [(app_seq, topic, r) for r in rows])

    def topics(self) -> list[tuple[int, str, int]]:
        """Every topic subscription: (app, topic, row)."""
        return [(int(r[0]), str(r[1]), int(r[2])) for r in self.store.conn.execute(
            "SELECT app_seq, topic, row FROM app_topics ORDER BY app_seq, topic, row")]

    # -- app events -------------------------------------------------------------------------------------------
    def record_event_ticks(self, app_seqs: Sequence[int], tick: int, end_seqs: Sequence[int]) -> None:
        """The event counters of apps after tick ``tick`` (written behind; deterministic keys)."""
        self.store.append_rows("INSERT OR IGNORE INTO app_event_ticks(app_seq, tick, end_seq) VALUES (?, ?, ?)",
                               [list(app_seqs), [tick] * len(app_seqs), list(end_seqs)])

    def event_counters(self, tick: int) -> dict[int, int]:
        """Each app's event counter after its last tick with events at or before ``tick``."""
        self.store.drain()
        rows = self.store.conn.execute(
            "SELECT t.app_seq, t.end_seq FROM app_event_ticks t JOIN (SELECT app_seq, MAX(tick) AS tick FROM "
            "app_event_ticks WHERE tick <= ? GROUP BY app_seq) m ON t.app_seq = m.app_seq AND t.tick = m.tick",
            (tick,)).fetchall()
        return {int(r[0]): int(r[1]) for r in rows}

    # -- push messages ----------------------------------------------------------------------------------------
    def insert_fanout(self, app_seq: int, target: str, spec: str, created_us: int, rows: Sequence[int],
                      subscribers: Sequence[int], statuses: Sequence[str], displayed: Sequence[bool],
                      expires_us: int, delivered_us: Sequence[int | None]) -> tuple[int, int]:
        """Store a topic or condition send and one push row per recipient, in one transaction; returns the
        fan-out's seq and the seq of its first push row (the rows' seqs are consecutive)."""
        first = self.last_push_seq() + 1
        with self.store.transaction() as conn:
            cur = conn.execute("INSERT INTO push_fanouts(app_seq, target, recipients, created_us) VALUES (?, ?, ?, ?)",
                               (app_seq, target, len(rows), created_us))
            fanout = int(cur.lastrowid or 0)
            conn.executemany(
                "INSERT INTO push_messages(seq, app_seq, row, subscriber, spec, status, displayed, created_us,"
                " expires_us, delivered_us, fanout) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(first + i, app_seq, r, sub, spec, st, int(disp), created_us, expires_us, dl, fanout)
                 for i, (r, sub, st, disp, dl) in enumerate(zip(rows, subscribers, statuses, displayed,
                                                                delivered_us, strict=True))])
        self._last_push = first + len(rows) - 1
        return fanout, first

    def get_fanout(self, seq: int) -> sqlite3.Row | None:
        """One topic or condition send."""
        row: sqlite3.Row | None = self.store.conn.execute("SELECT * FROM push_fanouts WHERE seq = ?",
                                                          (seq,)).fetchone()
        return row

    def fanout_outcomes(self, seq: int) -> list[sqlite3.Row]:
        """A topic or condition send's push rows counted by status: (status, n, displayed, opened)."""
        return self.store.conn.execute(
            "SELECT status, COUNT(*) AS n, SUM(displayed) AS displayed, COUNT(opened_us) AS opened "
            "FROM push_messages WHERE fanout = ? GROUP BY status ORDER BY status", (seq,)).fetchall()

    def opened(self, opens: Sequence[tuple[int, int]]) -> None:
        """Record taps on displayed pushes: (seq, opened_us)."""
        if opens:
            self.store.drain()
            with self.store.transaction() as conn:
                conn.executemany("UPDATE push_messages SET opened_us = ? WHERE seq = ?",
                                 [(at, seq) for seq, at in opens])

    def delivered_since(self, since_us: int) -> list[sqlite3.Row]:
        """Pushes delivered after ``since_us``, oldest first (what a restart may still owe as app events)."""
        self.store.drain()
        return self.store.conn.execute(
            "SELECT seq, app_seq, row, subscriber, displayed, delivered_us, opened_us FROM push_messages "
            "WHERE delivered_us > ? ORDER BY delivered_us, seq", (since_us,)).fetchall()

    def insert_push(self, app_seq: int, row: int, subscriber: int, spec: str, status: str, displayed: bool,
                    created_us: int, expires_us: int, delivered_us: int | None) -> int:
        """Store one accepted push; returns its seq.

        Group-committed (:meth:`Store.queue_row`): sends in flight together share one commit. Whoever tells the
        sender it was accepted awaits :meth:`Store.queued_committed` first; reads here commit what is queued first.
        """
        seq = self.last_push_seq() + 1
        self.store.queue_row(
            "INSERT INTO push_messages(seq, app_seq, row, subscriber, spec, status, displayed, created_us,"
            " expires_us, delivered_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, app_seq, row, subscriber, spec, status, int(displayed), created_us, expires_us, delivered_us))
        self._last_push = seq
        return seq

    def commit(self) -> None:
        """Commit the pushes stored so far now."""
        self.store.commit_queued()

    def last_push_seq(self) -> int:
        """The seq of the last push row stored (0 when none), kept here once read: rows are numbered before they
        are written."""
        if self._last_push is None:
            # Push rows are only queued on this connection, never handed to the background writer: waiting for
            # that writer here would deadlock inside a transaction (a trigger's push in a timer step).
            self.store.commit_queued()
            self._last_push = int(self.store.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM push_messages")
                                  .fetchone()[0])
        return self._last_push

    def forget_push_seq(self) -> None:
        """Read the last push seq from the store again on next use (the store was restored)."""
        self._last_push = None

    def settle(self, delivered: Sequence[tuple[int, int]], expired: Sequence[int], hidden: Sequence[int] = ()) -> None:
        """One tick's outcomes of held pushes, in one transaction: (seq, delivered_us), expired seqs, and the
        delivered seqs not displayed after all (notifications switched off while they were held)."""
        if not delivered and not expired:
            return
        self.store.drain()
        with self.store.transaction() as conn:
            conn.executemany("UPDATE push_messages SET status = 'DELIVERED', delivered_us = ? WHERE seq = ? AND "
                             "status = 'HELD'", [(at, seq) for seq, at in delivered])
            conn.executemany("UPDATE push_messages SET status = 'EXPIRED' WHERE seq = ? AND status = 'HELD'",
                             [(seq,) for seq in expired])
            conn.executemany("UPDATE push_messages SET displayed = 0 WHERE seq = ?", [(seq,) for seq in hidden])

    def held(self) -> list[sqlite3.Row]:
        """Pushes waiting for their device, oldest first."""
        self.store.drain()
        return self.store.conn.execute("SELECT seq, app_seq, row, subscriber, displayed, expires_us FROM "
                                       "push_messages WHERE status = 'HELD' ORDER BY seq").fetchall()

    def get_push(self, seq: int) -> sqlite3.Row | None:
        """One push row."""
        self.store.drain()
        row: sqlite3.Row | None = self.store.conn.execute("SELECT * FROM push_messages WHERE seq = ?",
                                                          (seq,)).fetchone()
        return row
