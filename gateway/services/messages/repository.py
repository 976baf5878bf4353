"""The SQL of direct messages: sender names, templates, subscribers' blocks, messages and their status history.

The tables (``message_senders``, ``message_templates``, ``sender_blocks``, ``messages``, ``message_events``) are
created by the store's migrations (:data:`gateway.core.store.MIGRATIONS`); this module only reads and writes them.
Writers that must commit with other writes take the caller's connection (inside its transaction); the others open
their own.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from gateway.core.store import Store

SENDERS, TEMPLATES = "message_senders", "message_templates"
"""The two registration tables (the ``table`` argument of the registration methods)."""


class MessageRepository:
    """Reads and writes of the direct messages' tables on one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- senders and templates --------------------------------------------------------------------------------
    def insert_sender(self, partner_id: int, name: str, now_us: int) -> int:
        """A new ``PENDING`` sender name; its sequence number (``sqlite3.IntegrityError`` if the partner has it)."""
        with self.store.transaction() as conn:
            seq = int(conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM message_senders").fetchone()[0])
            conn.execute("INSERT INTO message_senders(seq, partner_id, name, status, created_us) "
                         "VALUES (?, ?, ?, 'PENDING', ?)", (seq, partner_id, name, now_us))
        return seq

    def insert_template(self, partner_id: int, kind: str, text: str, now_us: int) -> int:
        """A new ``PENDING`` template; its sequence number."""
        with self.store.transaction() as conn:
            seq = int(conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM message_templates").fetchone()[0])
            conn.execute("INSERT INTO message_templates(seq, partner_id, kind, text, status, created_us) "
                         "VALUES (?, ?, ?, ?, 'PENDING', ?)", (seq, partner_id, kind, text, now_us))
        return seq

    def registration(self, table: str, seq: int) -> sqlite3.Row | None:
        """One row of :data:`SENDERS` or :data:`TEMPLATES`."""
        row: sqlite3.Row | None = self.store.conn.execute(f"SELECT * FROM {table} WHERE seq = ?", (seq,)).fetchone()
        return row

    def registrations(self, table: str, partner_id: int | None, status: str | None) -> list[sqlite3.Row]:
        """Rows of a registration table (of a partner, in a status; ``None``: any), oldest first."""
        clauses, args = [], []
        for column, value in (("partner_id", partner_id), ("status", status)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return self.store.conn.execute(f"SELECT * FROM {table} {where} ORDER BY seq", args).fetchall()

    def decide(self, table: str, seq: int, status: str, reason: str | None, now_us: int) -> None:
        """Record the operator's decision on a registration."""
        with self.store.transaction() as conn:
            conn.execute(f"UPDATE {table} SET status = ?, reason = ?, decided_us = ? WHERE seq = ?",
                         (status, reason, now_us, seq))

    def sender_status(self, partner_id: int, name: str) -> str | None:
        """The status of the partner's sender name (``None``: never registered)."""
        row = self.store.conn.execute("SELECT status FROM message_senders WHERE partner_id = ? AND name = ?",
                                      (partner_id, name)).fetchone()
        return None if row is None else str(row["status"])

    def template_of(self, partner_id: int, seq: int) -> sqlite3.Row | None:
        """The partner's template with that sequence number."""
        row: sqlite3.Row | None = self.store.conn.execute(
            "SELECT * FROM message_templates WHERE seq = ? AND partner_id = ?", (seq, partner_id)).fetchone()
        return row

    # -- blocks -----------------------------------------------------------------------------------------------
    def add_block(self, msisdn: str, partner_id: int, sender: str, now_us: int) -> None:
        """Store a block (idempotent)."""
        with self.store.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO sender_blocks(msisdn, partner_id, sender, created_us) "
                         "VALUES (?, ?, ?, ?)", (msisdn, partner_id, sender, now_us))

    def remove_block(self, msisdn: str, partner_id: int, sender: str) -> int:
        """Delete a block; how many rows went (0 or 1)."""
        with self.store.transaction() as conn:
            n: int = conn.execute("DELETE FROM sender_blocks WHERE msisdn = ? AND partner_id = ? AND sender = ?",
                                  (msisdn, partner_id, sender)).rowcount
        return n

    def blocks(self, msisdn: str) -> list[sqlite3.Row]:
        """A number's blocks, oldest first."""
        return self.store.conn.execute("SELECT * FROM sender_blocks WHERE msisdn = ? ORDER BY created_us, "
                                       "partner_id, sender", (msisdn,)).fetchall()

    def is_blocked(self, msisdn: str, partner_id: int, sender: str) -> bool:
        """Whether the number blocks that sender of the partner (or all of its senders)."""
        return self.store.conn.execute("SELECT 1 FROM sender_blocks WHERE msisdn = ? AND partner_id = ? AND "
                                       "sender IN (?, '*')", (msisdn, partner_id, sender)).fetchone() is not None

    # -- messages ---------------------------------------------------------------------------------------------
    def accepted_since(self, partner_id: int, since_us: int) -> int:
        """Messages of the partner accepted from ``since_us`` on."""
        return int(self.store.conn.execute("SELECT COUNT(*) FROM messages WHERE partner_id = ? AND created_us >= ?",
                                           (partner_id, since_us)).fetchone()[0])

    def by_key(self, partner_id: int, idempotency_key: str) -> sqlite3.Row | None:
        """``(seq, request_hash)`` of the partner's message sent with that Idempotency-Key."""
        row: sqlite3.Row | None = self.store.conn.execute(
            "SELECT seq, request_hash FROM messages WHERE partner_id = ? AND idempotency_key = ?",
            (partner_id, idempotency_key)).fetchone()
        return row

    def insert(self, conn: sqlite3.Connection, values: dict[str, Any]) -> int:
        """A new message (status ``NEW``) in the caller's transaction; its sequence number."""
        seq = int(conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM messages").fetchone()[0])
        v = values
        conn.execute(
            "INSERT INTO messages(seq, partner_id, subscriber, msisdn, kind, channel, priority, sender, "
            "template_seq, text, title, created_us, expires_us, status, idempotency_key, request_hash, callback, "
            "origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'NEW', ?, ?, ?, ?)",
            (seq, v["partner_id"], v["subscriber"], v["msisdn"], v["kind"], v["channel"], v["priority"], v["sender"],
             v["template_seq"], v["text"], v["title"], v["created_us"], v["expires_us"], v["idempotency_key"],
             v["request_hash"], v["callback"], v["origin"]))
        return seq

    def row(self, seq: int) -> sqlite3.Row | None:
        """One message."""
        row: sqlite3.Row | None = self.store.conn.execute("SELECT * FROM messages WHERE seq = ?", (seq,)).fetchone()
        return row

    def history(self, seq: int) -> list[sqlite3.Row]:
        """A message's status changes, in order."""
        return self.store.conn.execute("SELECT * FROM message_events WHERE message_seq = ? ORDER BY n",
                                       (seq,)).fetchall()

    def changes(self, seq: int) -> int:
        """How many status changes a message has."""
        return int(self.store.conn.execute("SELECT COUNT(*) FROM message_events WHERE message_seq = ?",
                                           (seq,)).fetchone()[0])

    @staticmethod
    def save_change(conn: sqlite3.Connection, seq: int, n: int, status: str, channel: str | None,
                    reason: str | None, at_us: int) -> None:
        """Record status change ``n`` of a message and make it the message's status (caller's transaction)."""
        conn.execute("INSERT INTO message_events(message_seq, n, status, channel, reason, at_us) "
                     "VALUES (?, ?, ?, ?, ?, ?)", (seq, n, status, channel, reason, at_us))
        conn.execute("UPDATE messages SET status = ?, reason = ? WHERE seq = ?", (status, reason, seq))

    def status_counts(self) -> dict[tuple[str, str], int]:
        """Messages by (status, reason) now, ``""`` for no reason (one ``GROUP BY``)."""
        rows = self.store.conn.execute("SELECT status, COALESCE(reason, ''), COUNT(*) FROM messages GROUP BY 1, 2")
        return {(str(status), str(reason)): int(n) for status, reason, n in rows}

    def sends(self, seq: int) -> int:
        """How many times a message was sent (``SENT`` changes)."""
        return int(self.store.conn.execute("SELECT COUNT(*) FROM message_events WHERE message_seq = ? AND "
                                           "status = 'SENT'", (seq,)).fetchone()[0])

    def set_opened(self, seq: int, opened_us: int) -> None:
        """The instant the subscriber opens the message."""
        with self.store.transaction() as conn:
            conn.execute("UPDATE messages SET opened_us = ? WHERE seq = ?", (opened_us, seq))

    def deliveries(self) -> list[sqlite3.Row]:
        """Every delivery (``message_seq``, ``channel``, ``at_us``), in time order."""
        return self.store.conn.execute("SELECT message_seq, channel, at_us FROM message_events WHERE status = "
                                       "'DELIVERED' ORDER BY at_us, message_seq").fetchall()

    def promo_sends(self) -> list[sqlite3.Row]:
        """Every ``PROMO`` message that was sent: ``seq``, ``created_us`` and its first ``sent_us``, in send order."""
        return self.store.conn.execute(
            "SELECT m.seq, m.created_us, MIN(e.at_us) AS sent_us FROM messages m JOIN message_events e ON "
            "e.message_seq = m.seq AND e.status = 'SENT' WHERE m.kind = 'PROMO' GROUP BY m.seq "
            "ORDER BY sent_us, m.seq").fetchall()
