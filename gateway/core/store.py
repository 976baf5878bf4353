"""Durable gateway state in SQLite (WAL): partners, credentials, API keys, tokens, the admin journal, metadata.

Owns the schema machinery: the core tables (versioned by ``PRAGMA user_version``, applied by an ordered list of
migrations) and the tables of features that own their own migrations (:class:`FeatureSchema`, registered with
:meth:`Store.add_schema` and versioned in ``meta``), plus small typed read/write methods of the core tables.
Secrets never reach the database in clear: client secrets are salted scrypt hashes; access tokens and API keys
are high-entropy random strings, so a plain SHA-256 is enough to store them and lets a request be authenticated
with one indexed lookup, and what a credential grants is then kept in memory (:class:`Store` keeps the cache
exact: every write to partners, tokens or API keys goes through a method here that drops it). This module must
not know about HTTP, the world's internals or pydantic wire models.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import secrets
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.core.writebehind import WriteBehind
from simulator.clock import from_micros, to_micros

GROUP_ROWS = 256
"""Rows of :meth:`Store.queue_row` committed at the latest once this many are queued."""
GRANT_CACHE_SIZE = 4096
"""Credentials whose grant is kept in memory (the oldest resolved is dropped first past that many)."""

# scrypt cost: secrets are 256-bit random strings, so the KDF guards a leaked database against nothing that
# brute force could reach anyway; a modest cost keeps token issuance fast in tests and benchmarks.
_SCRYPT = {"n": 2**12, "r": 8, "p": 1, "dklen": 32}

MIGRATIONS: list[str] = [
    # 1: gateway foundation
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE partners (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        scopes TEXT NOT NULL,            -- JSON list of scope names
        limits TEXT NOT NULL,            -- JSON object
        disabled INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL         -- sim time, RFC 3339
    );
    CREATE TABLE credentials (
        client_id TEXT PRIMARY KEY,
        partner_id INTEGER NOT NULL REFERENCES partners(id),
        salt BLOB NOT NULL,
        secret_hash BLOB NOT NULL
    );
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        partner_id INTEGER NOT NULL REFERENCES partners(id),
        prefix TEXT NOT NULL,
        key_hash BLOB NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE tokens (
        token_hash BLOB PRIMARY KEY,
        partner_id INTEGER NOT NULL REFERENCES partners(id),
        scopes TEXT NOT NULL,            -- JSON list
        expires_at REAL NOT NULL,        -- wall clock, epoch seconds
        subscriber INTEGER               -- three-legged tokens (later issues)
    );
    CREATE INDEX tokens_expiry ON tokens(expires_at);
    CREATE TABLE journal (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at_us INTEGER NOT NULL,          -- sim time, microseconds since the epoch (sorts chronologically)
        op TEXT NOT NULL,
        args TEXT NOT NULL               -- JSON object
    );
    """,
    # CAMARA network APIs, CIBA and the webhook outbox (issue 5)
    """
    CREATE TABLE webhook_secrets (
        partner_id INTEGER PRIMARY KEY REFERENCES partners(id),
        secret TEXT NOT NULL,
        rotated_at TEXT NOT NULL          -- sim time, RFC 3339
    );
    CREATE TABLE event_subscriptions (
        id TEXT PRIMARY KEY,              -- gfs_000001, cms_000001...
        seq INTEGER NOT NULL UNIQUE,      -- creation order
        partner_id INTEGER NOT NULL REFERENCES partners(id),
        api TEXT NOT NULL,                -- geofencing-subscriptions, campaigns...
        version TEXT NOT NULL,            -- path version, e.g. v0.5
        spec TEXT NOT NULL,               -- JSON: what the partner asked for (types, sink, config...)
        created_us INTEGER NOT NULL,      -- sim time
        deleted_us INTEGER,               -- sim time of a DELETE by the partner
        state TEXT NOT NULL DEFAULT '{}'  -- JSON: evaluation state (status, inside, counters), kept current
    );
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL UNIQUE,    -- deterministic: a replayed event is ignored, never re-issued
        subscription_id TEXT NOT NULL,
        partner_id INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        sink TEXT NOT NULL,
        sink_token TEXT,
        content_type TEXT NOT NULL,
        body TEXT NOT NULL,
        sim_time_us INTEGER NOT NULL,
        created_wall REAL NOT NULL,       -- wall clock, epoch seconds (age for dead-lettering)
        next_attempt_wall REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'pending',  -- pending, delivered, dead, cancelled
        last_error TEXT
    );
    CREATE INDEX outbox_pending ON outbox(state, subscription_id, seq);
    CREATE TABLE webhook_attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        at_wall REAL NOT NULL,
        status_code INTEGER,              -- NULL when no HTTP answer (timeout, refused)
        error TEXT,
        duration_ms REAL NOT NULL
    );
    CREATE INDEX webhook_attempts_event ON webhook_attempts(event_id);
    CREATE TABLE ciba_requests (
        auth_req_id TEXT PRIMARY KEY,
        partner_id INTEGER NOT NULL REFERENCES partners(id),
        subscriber INTEGER NOT NULL,
        msisdn TEXT NOT NULL,
        scopes TEXT NOT NULL,             -- JSON list of API scopes
        purpose TEXT NOT NULL,            -- the dpv: purpose
        expires_at REAL NOT NULL,         -- wall clock, epoch seconds
        state TEXT NOT NULL DEFAULT 'pending',  -- pending, approved, denied, redeemed
        last_poll REAL
    );
    CREATE TABLE ciba_policies (
        msisdn TEXT PRIMARY KEY,
        mode TEXT NOT NULL                -- consent, approve, deny, pending
    );
    """,
    # 3: targeted campaigns (issue 4), now owned by their repository (gateway.services.campaigns.repository);
    # the step stays so that every database keeps its numbering
    "",
    # Direct messages, authentication codes (issue 6)
    """
    CREATE TABLE verifications (
        seq INTEGER PRIMARY KEY,          -- vrf_<seq>
        partner_id INTEGER NOT NULL REFERENCES partners(id),
        subscriber INTEGER NOT NULL,
        msisdn TEXT NOT NULL,
        msisdn_num INTEGER NOT NULL,      -- the number as an integer (sequential-burst guard)
        roaming INTEGER NOT NULL,         -- foreign roamer when created (roaming-burst guard)
        channel TEXT NOT NULL,            -- as asked: PUSH, SMS, AUTO
        code_hash BLOB NOT NULL,          -- sha256 of id:code (the code itself is never stored)
        created_us INTEGER NOT NULL,      -- sim time
        expires_us INTEGER NOT NULL,
        sends INTEGER NOT NULL DEFAULT 0,
        checks INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL,             -- PENDING, APPROVED, EXPIRED, MAX_ATTEMPTS, CANCELED
        updated_us INTEGER NOT NULL
    );
    CREATE INDEX verifications_number ON verifications(msisdn, created_us);
    CREATE INDEX verifications_partner ON verifications(partner_id, created_us);
    CREATE INDEX verifications_span ON verifications(partner_id, msisdn_num, created_us);
    CREATE INDEX verifications_roaming ON verifications(partner_id, roaming, created_us);
    CREATE TABLE verification_sends (
        verification_seq INTEGER NOT NULL REFERENCES verifications(seq),
        attempt INTEGER NOT NULL,         -- 1-based
        channel TEXT NOT NULL,            -- PUSH or SMS (the channel actually used)
        at_us INTEGER NOT NULL,           -- sim time the send was decided
        due_us INTEGER NOT NULL,          -- sim time of its next step (delivery, fallback, SMSC retry)
        status TEXT NOT NULL,             -- SCHEDULED, SENT, DELIVERED, FAILED, SKIPPED
        reason TEXT,                      -- NO_APP, UNREACHABLE, NETWORK, EXPIRED, NOT_NEEDED
        delivered_us INTEGER,
        PRIMARY KEY (verification_seq, attempt, channel)
    );
    CREATE TABLE message_senders (
        seq INTEGER PRIMARY KEY,          -- snd_<seq>
        partner_id INTEGER NOT NULL REFERENCES partners(id),
        name TEXT NOT NULL,
        status TEXT NOT NULL,             -- PENDING, APPROVED, REJECTED
        reason TEXT,
        created_us INTEGER NOT NULL,
        decided_us INTEGER,
        UNIQUE (partner_id, name)
    );
    CREATE TABLE message_templates (
        seq INTEGER PRIMARY KEY,          -- tpl_<seq>
        partner_id INTEGER NOT NULL REFERENCES partners(id),
        kind TEXT NOT NULL,               -- message class the template is for
        text TEXT NOT NULL,
        status TEXT NOT NULL,             -- PENDING, APPROVED, REJECTED
        reason TEXT,
        created_us INTEGER NOT NULL,
        decided_us INTEGER
    );
    CREATE TABLE sender_blocks (
        msisdn TEXT NOT NULL,
        partner_id INTEGER NOT NULL,
        sender TEXT NOT NULL,             -- '*': every sender of the partner
        created_us INTEGER NOT NULL,
        PRIMARY KEY (msisdn, partner_id, sender)
    );
    CREATE TABLE messages (
        seq INTEGER PRIMARY KEY,          -- msg_<seq>
        partner_id INTEGER NOT NULL REFERENCES partners(id),
        subscriber INTEGER NOT NULL,
        msisdn TEXT NOT NULL,
        kind TEXT NOT NULL,
        channel TEXT NOT NULL,            -- as asked: PUSH, SMS, PUSH_THEN_SMS
        priority TEXT NOT NULL,
        sender TEXT NOT NULL,
        template_seq INTEGER,
        text TEXT NOT NULL,
        title TEXT,
        created_us INTEGER NOT NULL,
        expires_us INTEGER NOT NULL,
        status TEXT NOT NULL,             -- ACCEPTED, SENT, DELIVERED, FAILED, EXPIRED, REFUSED
        reason TEXT,
        idempotency_key TEXT,
        request_hash TEXT,
        callback TEXT                     -- JSON {sink, token} for status webhooks, or NULL
    );
    CREATE UNIQUE INDEX messages_idempotency ON messages(partner_id, idempotency_key);
    CREATE TABLE message_events (
        message_seq INTEGER NOT NULL REFERENCES messages(seq),
        n INTEGER NOT NULL,
        status TEXT NOT NULL,
        channel TEXT,
        reason TEXT,
        at_us INTEGER NOT NULL,
        PRIMARY KEY (message_seq, n)
    );
    """,
    # Number verification (issue 6): how a three-legged token's subscriber was authenticated
    """
    ALTER TABLE tokens ADD COLUMN amr TEXT;          -- 'nba': network-based authentication, NULL: other
    ALTER TABLE ciba_requests ADD COLUMN amr TEXT;   -- the same, for the token a request yields
    """,
    # Asynchronous CAMARA answers (issue 5 follow-up): operations answered at a sink through the outbox
    """
    CREATE TABLE async_operations (
        id TEXT PRIMARY KEY,              -- op_000001
        seq INTEGER NOT NULL UNIQUE,
        partner_id INTEGER NOT NULL REFERENCES partners(id),
        api TEXT NOT NULL,                -- region-device-count, population-density-data
        created_us INTEGER NOT NULL       -- sim time of the request (the answer is the world's at that instant)
    );
    ALTER TABLE outbox ADD COLUMN correlator TEXT;   -- x-correlator sent with the event (NULL: the event id)
    """,
    # 7: campaign records without their id column, now owned by the campaigns repository as well
    "",
    # Triggered chains /journeys/v1 (issue 6): journeys, enrolments, recipients and the outcome of every step;
    # the messages a journey sends name it (hidden from the partner's GET), and direct messages keep their opening
    """
    CREATE TABLE journeys (
        seq INTEGER PRIMARY KEY,          -- jny_<seq>
        partner_id INTEGER NOT NULL REFERENCES partners(id),
        name TEXT NOT NULL,
        spec TEXT NOT NULL,               -- JSON of the request
        created_us INTEGER NOT NULL,
        cancelled_us INTEGER,
        idempotency_key TEXT,
        body_hash TEXT NOT NULL
    );
    CREATE UNIQUE INDEX journeys_idempotency ON journeys(partner_id, idempotency_key);
    CREATE TABLE journey_enrolments (
        seq INTEGER PRIMARY KEY,          -- enr_<seq>
        journey_seq INTEGER NOT NULL REFERENCES journeys(seq),
        msisdn TEXT NOT NULL,
        subscriber INTEGER NOT NULL,
        event_us INTEGER NOT NULL,        -- the instant the reminders are relative to
        created_us INTEGER NOT NULL,
        UNIQUE (journey_seq, msisdn, event_us)
    );
    CREATE TABLE journey_recipients (
        journey_seq INTEGER NOT NULL REFERENCES journeys(seq),
        n INTEGER NOT NULL,               -- order of triggering within the journey
        subscriber INTEGER NOT NULL,
        trigger_us INTEGER NOT NULL,
        PRIMARY KEY (journey_seq, n)
    );
    CREATE TABLE journey_steps (
        journey_seq INTEGER NOT NULL REFERENCES journeys(seq),
        n INTEGER NOT NULL,               -- the recipient
        step INTEGER NOT NULL,            -- 1-based
        outcome TEXT NOT NULL,            -- MESSAGE (see messages), REFUSED (the send was refused), STOPPED
        reason TEXT,                      -- REFUSED: the error code, STOPPED: the stop reason
        message_seq INTEGER REFERENCES messages(seq),
        at_us INTEGER NOT NULL,
        PRIMARY KEY (journey_seq, n, step)
    );
    ALTER TABLE messages ADD COLUMN origin TEXT;       -- the journey that sent it (NULL: sent by the partner)
    ALTER TABLE messages ADD COLUMN opened_us INTEGER; -- sim time the subscriber opens it (NULL: never)
    """,
    # Durable wake-ups of direct messages and authentication codes in flight (gateway.core.timers): resumed on restart
    """
    CREATE TABLE timers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        owner TEXT NOT NULL,              -- the service: messages, verify
        due_us INTEGER NOT NULL,          -- sim time the call is due
        action TEXT NOT NULL,
        args TEXT NOT NULL                -- JSON object
    );
    CREATE INDEX timers_owner ON timers(owner, due_us);
    """,
    # Service-account keys: a partner's credential file for the JWT bearer grant (RFC 7523), as Google issues them
    """
    CREATE TABLE service_account_keys (
        key_id TEXT PRIMARY KEY,          -- the file's private_key_id, the assertion's kid
        partner_id INTEGER NOT NULL REFERENCES partners(id),
        client_email TEXT NOT NULL,       -- the assertion's iss
        public_key TEXT NOT NULL,         -- PEM (the private key exists only in the file answered once)
        token_uri TEXT NOT NULL,          -- the audience the assertion must name
        created_at TEXT NOT NULL
    );
    """,
]


def _utf8(value: str) -> bytes:
    # Header values reach us with non-UTF-8 bytes as surrogate escapes (aiohttp decodes with surrogateescape):
    # encode them back to those bytes rather than raise, so any string hashes (and matches nothing).
    return value.encode("utf-8", "surrogateescape")


def fast_hash(value: str) -> bytes:
    """Digest used for high-entropy bearer secrets (tokens, API keys); defined for every string."""
    return hashlib.sha256(_utf8(value)).digest()


def _secret_hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(_utf8(secret), salt=salt, **_SCRYPT)


def _settle(waiter: asyncio.Future[None], exc: BaseException | None) -> None:
    """Resolve ``waiter`` (``exc`` None) or fail it with ``exc``, unless its request went away meanwhile."""
    if exc is not None:
        _fail([waiter], exc)
    elif not waiter.done():
        waiter.set_result(None)


def _fail(waiters: list[asyncio.Future[None]], exc: BaseException) -> None:
    """Hand ``exc`` to every waiter still waiting (each raises it)."""
    for waiter in waiters:
        if not waiter.done():
            waiter.set_exception(exc)
            waiter.exception()  # retrieved: no "never retrieved" warning if its request has gone meanwhile


class StoreError(Exception):
    """The database cannot be used as asked (schema from the future, other world options...)."""


def _no_tables(conn: sqlite3.Connection) -> int:
    return 0


@dataclass(frozen=True)
class FeatureSchema:
    """The tables of one feature, owned by its repository: ordered migrations with their own version counter.

    The counter is the ``meta`` key ``schema_version.<name>``. A database whose tables of the feature were made by
    the core migrations (before the feature owned them) has no counter yet: ``adopt`` reads which of the feature's
    migrations it already has from the tables themselves, so existing databases keep working unchanged.
    """

    name: str
    migrations: tuple[str, ...]
    adopt: Callable[[sqlite3.Connection], int] = _no_tables

    @property
    def meta_key(self) -> str:
        """Where the feature's applied migrations are counted."""
        return f"schema_version.{self.name}"


@dataclass(frozen=True)
class PartnerRow:
    """A partner as stored."""

    id: int
    name: str
    scopes: tuple[str, ...]
    limits: dict[str, Any]
    disabled: bool
    created_at: str


@dataclass(frozen=True)
class ApiKeyRow:
    """An API key as stored (never the key itself)."""

    id: int
    partner_id: int
    prefix: str
    created_at: str
    revoked: bool


@dataclass(frozen=True)
class Grant:
    """What a presented bearer credential grants: the partner, its scopes and, later, a subscriber."""

    partner_id: int
    scopes: frozenset[str]
    subscriber: int | None
    disabled: bool


@dataclass(frozen=True)
class ServiceAccountKey:
    """The public half of a partner's service-account key (the JWT bearer grant checks assertions with it)."""

    key_id: str
    partner_id: int
    client_email: str
    public_key: str  # PEM
    token_uri: str


@dataclass(frozen=True)
class JournalEntry:
    """One world-changing admin operation, stamped with the sim time it was applied at."""

    seq: int
    at: datetime
    op: str
    args: dict[str, Any]


class GroupCommit:
    """The world-changing requests in flight and how long their group commit lingers: a commit delay for
    :meth:`Store.queued_committed` (``gateway.http.serialise`` counts the requests and asks)."""

    def __init__(self, linger_ms: float, siblings: int) -> None:
        self.linger_s = linger_ms / 1000.0
        self.siblings = siblings
        self.in_flight = 0
        """World-changing requests past their body read and not answered yet (waiting for the lock, running, or
        waiting for their commit)."""

    def linger(self) -> float:
        """Seconds a group commit opened now waits for more requests (0 unless enough are in flight)."""
        return self.linger_s if self.in_flight >= self.siblings else 0.0


class Store:
    """One SQLite database; all calls happen on the event loop thread (they are short, indexed statements)."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._conn: sqlite3.Connection | None = None
        self._writer: WriteBehind | None = None
        self._features: dict[str, FeatureSchema] = {}
        self._queued: list[tuple[str, Sequence[Any]]] = []  # rows of queue_row, not committed yet
        # Requests waiting for the commit of queued rows scheduled on the event loop (None: none scheduled). Each
        # has a future of its own, so one going away cancels only its own wait, never the others' commit.
        self._group: list[asyncio.Future[None]] | None = None
        self._group_timer: asyncio.TimerHandle | asyncio.Handle | None = None  # its scheduled commit
        # What each resolved credential grants, by its digest: (grant, expires_at; None for an API key). Answered
        # from here, a request costs no SQL; any write that could change an answer clears it (_grants_changed).
        self._grants: dict[bytes, tuple[Grant, float | None]] = {}

    # -- lifecycle -----------------------------------------------------------------------------------------
    def open(self) -> None:
        """Connect, switch to WAL and apply pending migrations."""
        self._grants_changed()
        conn = sqlite3.connect(self.path, isolation_level=None)  # autocommit; transactions are explicit
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        if self.path != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable across process crashes
        self._conn = conn
        self._migrate()

    def close(self) -> None:
        """Write what is still queued, then close the connection (idempotent)."""
        try:
            try:
                if self._conn is not None:
                    self.commit_queued()
            finally:
                if self._writer is not None:
                    self._writer.close()
                    self._writer = None
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def append_rows(self, sql: str, columns: Sequence[Any]) -> None:
        """Insert bulk records (``INSERT OR IGNORE`` on deterministic keys only) without waiting for them.

        On a file database the rows are written by a background thread (see :mod:`gateway.core.writebehind`);
        ``:memory:`` has no second connection, so they are written at once.
        """
        if self.path == ":memory:":
            cols = [c.tolist() if hasattr(c, "tolist") else list(c) for c in columns]
            with self.transaction() as conn:
                conn.executemany(sql, zip(*cols, strict=True))
            return
        if self._writer is None:
            self._writer = WriteBehind(self.path)
        self._writer.submit(sql, columns)

    async def appended_committed(self) -> None:
        """Wait, without blocking the event loop, until every row given to :meth:`append_rows` so far is committed
        by the background writer (its failure raised): for a request whose records must be durable before it is
        answered, such as a partner's tracking call."""
        if self._writer is None:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()

        def done(exc: BaseException | None) -> None:  # on the writer thread
            loop.call_soon_threadsafe(_settle, waiter, exc)

        self._writer.barrier(done)
        await waiter

    def queue_row(self, sql: str, row: Sequence[Any]) -> None:
        """Insert one row with the next commit of queued rows, on this connection (group commit).

        For a record a request creates (no replay would write it again): the request answers only after
        :meth:`queued_committed`, so that many requests share one commit and an acknowledged row survives a crash.
        Queued rows are committed then, by :meth:`commit_queued` (a drain, a close, a tick's owner), or once
        :data:`GROUP_ROWS` are queued. Order is kept.
        """
        self._queued.append((sql, row))
        if len(self._queued) >= GROUP_ROWS:
            self.commit_queued()

    def commit_queued(self) -> None:
        """Commit the rows of :meth:`queue_row` now, in one transaction (all or none; the error is raised).

        The requests waiting in :meth:`queued_committed` for these rows hear of it at once, whoever commits (a
        drain, the cap, a tick, their own scheduled commit): a lingering group is not left to its timer.
        """
        if not self._queued:
            return
        queued, self._queued = self._queued, []
        group, self._group = self._group, None
        if self._group_timer is not None:
            self._group_timer.cancel()
            self._group_timer = None
        try:
            with self.transaction() as conn:
                for sql, rows in itertools.groupby(queued, key=lambda q: q[0]):
                    conn.executemany(sql, [row for _, row in rows])
        except Exception as exc:
            # Whoever waits for these rows must not be told they are in: each of them raises the error.
            if group is not None:
                _fail(group, exc)
            raise
        for waiter in group or ():
            if not waiter.done():  # a waiter that went away was cancelled
                waiter.set_result(None)

    async def queued_committed(self, linger_s: float = 0.0) -> None:
        """Wait until every row of :meth:`queue_row` so far is committed: one commit for every request waiting
        meanwhile (its error raised to each of them).

        The commit runs at the end of this turn of the event loop, or, when the first waiter of a group asks to
        ``linger_s``, that long after it (more requests join the group and share its commit: the caller lingers
        only when others are in flight, as a database's commit delay does).
        """
        if not self._queued:
            return
        loop = asyncio.get_running_loop()
        if self._group is None:
            self._group = []
            self._group_timer = (loop.call_later(linger_s, self._commit_group) if linger_s > 0
                                 else loop.call_soon(self._commit_group))
        waiter = loop.create_future()
        self._group.append(waiter)
        await waiter

    def _commit_group(self) -> None:
        """The scheduled commit of a group of waiters (an error reaches each of them, not the event loop)."""
        self._group_timer = None
        with suppress(Exception):  # commit_queued handed it to every waiter, which raises it
            self.commit_queued()

    def drain(self) -> None:
        """Wait until every row given to :meth:`append_rows` or :meth:`queue_row` is in the database (before
        reading them)."""
        self.commit_queued()
        if self._writer is not None:
            self._writer.drain()

    @property
    def conn(self) -> sqlite3.Connection:
        """The open connection."""
        if self._conn is None:
            raise StoreError("store is not open")
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: everything inside commits together or not at all.

        Nested in another one, it is a savepoint: an error inside undoes only its own writes, and they commit
        with the outer transaction (so that a step made of several writers, e.g. a journey step and the message
        it sends, is one unit a crash cannot split).
        """
        conn = self.conn
        if conn.in_transaction:
            conn.execute("SAVEPOINT nested")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK TO nested")
                conn.execute("RELEASE nested")
                raise
            conn.execute("RELEASE nested")
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def add_schema(self, schema: FeatureSchema) -> None:
        """Have the tables of a feature: migrated when the store opens, at once when it is open already."""
        if schema.name in self._features:
            return
        self._features[schema.name] = schema
        if self._conn is not None:
            self._migrate_feature(schema)

    @staticmethod
    def _run(conn: sqlite3.Connection, script: str) -> None:
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)

    def _migrate(self) -> None:
        version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            raise StoreError(f"database {self.path} has schema version {version}, newer than this opsim "
                             f"({len(MIGRATIONS)}); use a newer opsim or another --db")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.transaction() as conn:
                self._run(conn, script)
                conn.execute(f"PRAGMA user_version = {number}")
        for schema in self._features.values():
            self._migrate_feature(schema)

    def _migrate_feature(self, schema: FeatureSchema) -> None:
        saved = self.get_meta(schema.meta_key)
        version = schema.adopt(self.conn) if saved is None else int(saved)
        if version > len(schema.migrations):
            raise StoreError(f"database {self.path} has {schema.name} schema version {version}, newer than this "
                             f"opsim ({len(schema.migrations)}); use a newer opsim or another --db")
        if saved is None and version:  # adopted: counted from now on
            self.set_meta(schema.meta_key, version)
        for number, script in enumerate(schema.migrations[version:], start=version + 1):
            with self.transaction() as conn:
                self._run(conn, script)
                conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                             "excluded.value", (schema.meta_key, json.dumps(number)))

    @property
    def schema_version(self) -> int:
        """Applied migrations."""
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    # -- metadata --------------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        """A JSON metadata value, or ``None``."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row["value"])

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON metadata value."""
        self.conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                          "excluded.value", (key, json.dumps(value, sort_keys=True)))

    # -- partners ---------------------------------------------------------------------------------------------
    def create_partner(self, name: str, scopes: tuple[str, ...], limits: dict[str, Any],
                       created_at: str) -> tuple[PartnerRow, str, str]:
        """Create a partner with one client credential; returns the row, client id and clear secret (once)."""
        secret = "opsim_cs_" + secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        with self.transaction() as conn:
            cur = conn.execute("INSERT INTO partners(name, scopes, limits, created_at) VALUES (?, ?, ?, ?)",
                               (name, json.dumps(list(scopes)), json.dumps(limits, sort_keys=True), created_at))
            partner_id = int(cur.lastrowid or 0)
            client_id = f"cid_{partner_id:06d}"  # ids from counters: deterministic across runs
            conn.execute("INSERT INTO credentials(client_id, partner_id, salt, secret_hash) VALUES (?, ?, ?, ?)",
                         (client_id, partner_id, salt, _secret_hash(secret, salt)))
        partner = self.get_partner(partner_id)
        assert partner is not None
        return partner, client_id, secret

    @staticmethod
    def _partner(row: sqlite3.Row) -> PartnerRow:
        return PartnerRow(id=row["id"], name=row["name"], scopes=tuple(json.loads(row["scopes"])),
                          # Older versions stored a limit of 1e400 as Infinity: read it as no limit, as it acted.
                          limits=json.loads(row["limits"], parse_constant=lambda _: None),
                          disabled=bool(row["disabled"]),
                          created_at=row["created_at"])

    def get_partner(self, partner_id: int) -> PartnerRow | None:
        """A partner by internal id."""
        row = self.conn.execute("SELECT * FROM partners WHERE id = ?", (partner_id,)).fetchone()
        return None if row is None else self._partner(row)

    def list_partners(self) -> list[PartnerRow]:
        """Every partner, oldest first."""
        return [self._partner(r) for r in self.conn.execute("SELECT * FROM partners ORDER BY id")]

    def set_partner_disabled(self, partner_id: int, disabled: bool) -> None:
        """Disable (or re-enable) a partner; a disabled partner's tokens and keys stop working at once."""
        try:
            with self.transaction() as conn:
                conn.execute("UPDATE partners SET disabled = ? WHERE id = ?", (int(disabled), partner_id))
                if disabled:
                    conn.execute("DELETE FROM tokens WHERE partner_id = ?", (partner_id,))
        finally:
            self._grants_changed()

    def client_id_of(self, partner_id: int) -> str | None:
        """The client id of a partner's credential."""
        row = self.conn.execute("SELECT client_id FROM credentials WHERE partner_id = ?", (partner_id,)).fetchone()
        return None if row is None else str(row["client_id"])

    def partner_of_client(self, client_id: str) -> int | None:
        """The partner owning a client id, whatever the secret (``None`` when unknown)."""
        row = self.conn.execute("SELECT partner_id FROM credentials WHERE client_id = ?", (client_id,)).fetchone()
        return None if row is None else int(row["partner_id"])

    def check_client(self, client_id: str, secret: str) -> PartnerRow | None:
        """The partner whose credential matches, else ``None`` (constant-time comparison)."""
        row = self.conn.execute("SELECT partner_id, salt, secret_hash FROM credentials WHERE client_id = ?",
                                (client_id,)).fetchone()
        if row is None:
            return None
        if not hmac.compare_digest(_secret_hash(secret, row["salt"]), row["secret_hash"]):
            return None
        return self.get_partner(row["partner_id"])

    # -- service-account keys -----------------------------------------------------------------------------
    def add_service_account_key(self, key: ServiceAccountKey, created_at: str) -> None:
        """Keep the public half of a partner's new service-account key."""
        with self.transaction() as conn:
            conn.execute("INSERT INTO service_account_keys(key_id, partner_id, client_email, public_key, token_uri,"
                         " created_at) VALUES (?, ?, ?, ?, ?, ?)", (key.key_id, key.partner_id, key.client_email,
                                                                   key.public_key, key.token_uri, created_at))

    def service_account_key(self, key_id: str) -> ServiceAccountKey | None:
        """The service-account key an assertion names (``None`` when unknown)."""
        row = self.conn.execute("SELECT key_id, partner_id, client_email, public_key, token_uri FROM "
                                "service_account_keys WHERE key_id = ?", (key_id,)).fetchone()
        return None if row is None else ServiceAccountKey(str(row[0]), int(row[1]), str(row[2]), str(row[3]),
                                                         str(row[4]))

    # -- API keys ---------------------------------------------------------------------------------------------
    def create_api_key(self, partner_id: int, created_at: str) -> tuple[ApiKeyRow, str]:
        """Issue an API key; returns the row and the clear key (shown once)."""
        key = "opsim_key_" + secrets.token_urlsafe(32)
        prefix = key[:14]
        with self.transaction() as conn:
            cur = conn.execute("INSERT INTO api_keys(partner_id, prefix, key_hash, created_at) VALUES (?, ?, ?, ?)",
                               (partner_id, prefix, fast_hash(key), created_at))
            key_id = int(cur.lastrowid or 0)
        row = self.get_api_key(partner_id, key_id)
        assert row is not None
        return row, key

    def get_api_key(self, partner_id: int, key_id: int) -> ApiKeyRow | None:
        """A key of that partner (another partner's key is simply not found)."""
        row = self.conn.execute("SELECT * FROM api_keys WHERE id = ? AND partner_id = ?",
                                (key_id, partner_id)).fetchone()
        return None if row is None else self._key(row)

    def list_api_keys(self, partner_id: int) -> list[ApiKeyRow]:
        """A partner's keys, revoked ones included."""
        rows = self.conn.execute("SELECT * FROM api_keys WHERE partner_id = ? ORDER BY id", (partner_id,))
        return [self._key(r) for r in rows]

    def revoke_api_key(self, partner_id: int, key_id: int) -> bool:
        """Revoke a key of that partner; False when there is no such key."""
        try:
            with self.transaction() as conn:
                cur = conn.execute("UPDATE api_keys SET revoked = 1 WHERE id = ? AND partner_id = ?",
                                   (key_id, partner_id))
        finally:
            self._grants_changed()
        return cur.rowcount > 0

    @staticmethod
    def _key(row: sqlite3.Row) -> ApiKeyRow:
        return ApiKeyRow(id=row["id"], partner_id=row["partner_id"], prefix=row["prefix"],
                         created_at=row["created_at"], revoked=bool(row["revoked"]))

    # -- tokens and credential lookup ---------------------------------------------------------------------------
    def create_token(self, partner_id: int, scopes: tuple[str, ...], expires_at: float,
                     subscriber: int | None = None, amr: str | None = None) -> str:
        """Issue an access token; returns it in clear (only its hash is kept). ``amr``: how the subscriber of a
        three-legged token was authenticated (``nba``: by the mobile network)."""
        token = "opsim_at_" + secrets.token_urlsafe(32)
        with self.transaction() as conn:
            conn.execute("INSERT INTO tokens(token_hash, partner_id, scopes, expires_at, subscriber, amr) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (fast_hash(token), partner_id, json.dumps(list(scopes)), expires_at, subscriber, amr))
        return token

    def token_amr(self, token: str) -> str | None:
        """The authentication method of a token's subscriber (``None`` for other tokens and API keys)."""
        row = self.conn.execute("SELECT amr FROM tokens WHERE token_hash = ?", (fast_hash(token),)).fetchone()
        return None if row is None else row["amr"]

    def purge_tokens(self, now: float) -> int:
        """Delete expired tokens; returns how many."""
        with self.transaction() as conn:
            return conn.execute("DELETE FROM tokens WHERE expires_at <= ?", (now,)).rowcount

    def _grants_changed(self) -> None:
        """Forget every cached grant: called by each write that can change what a credential grants (a partner
        disabled or enabled, a key revoked, the database reopened). Expired tokens need not be: a cached token's
        expiry is checked against ``now`` on every use, as the query does."""
        self._grants.clear()

    def _cache_grant(self, digest: bytes, grant: Grant, expires_at: float | None) -> None:
        if len(self._grants) >= GRANT_CACHE_SIZE:
            del self._grants[next(iter(self._grants))]
        self._grants[digest] = (grant, expires_at)

    def resolve_token(self, token: str, now: float) -> Grant | None:
        """What an unexpired access token grants (``now`` and its expiry in wall-clock seconds)."""
        digest = fast_hash(token)
        cached = self._grants.get(digest)
        if cached is not None and cached[1] is not None:
            return cached[0] if cached[1] > now else None
        row = self.conn.execute(
            "SELECT t.partner_id, t.scopes, t.subscriber, t.expires_at, p.disabled FROM tokens t JOIN partners p "
            "ON p.id = t.partner_id WHERE t.token_hash = ? AND t.expires_at > ?", (digest, now)).fetchone()
        if row is None:
            return None
        grant = Grant(row["partner_id"], frozenset(json.loads(row["scopes"])), row["subscriber"],
                      bool(row["disabled"]))
        self._cache_grant(digest, grant, float(row["expires_at"]))
        return grant

    def resolve_api_key(self, key: str) -> Grant | None:
        """What an unrevoked API key grants (all of its partner's scopes)."""
        digest = fast_hash(key)
        cached = self._grants.get(digest)
        if cached is not None and cached[1] is None:
            return cached[0]
        row = self.conn.execute(
            "SELECT k.partner_id, p.scopes, p.disabled FROM api_keys k JOIN partners p ON p.id = k.partner_id "
            "WHERE k.key_hash = ? AND k.revoked = 0", (digest,)).fetchone()
        if row is None:
            return None
        grant = Grant(row["partner_id"], frozenset(json.loads(row["scopes"])), None, bool(row["disabled"]))
        self._cache_grant(digest, grant, None)
        return grant

    # -- journal ------------------------------------------------------------------------------------------------
    def append_journal(self, at: datetime, op: str, args: dict[str, Any]) -> int:
        """Record a world-changing admin operation applied at sim time ``at``."""
        with self.transaction() as conn:
            cur = conn.execute("INSERT INTO journal(at_us, op, args) VALUES (?, ?, ?)",
                               (to_micros(at), op, json.dumps(args, sort_keys=True)))
            conn.execute("INSERT INTO meta(key, value) VALUES ('clock_now', ?) ON CONFLICT(key) DO UPDATE SET "
                         "value = excluded.value", (json.dumps(to_micros(at)),))
        return int(cur.lastrowid or 0)

    def journal(self) -> list[JournalEntry]:
        """Every journal entry in sim-time order (ties in the order they were applied)."""
        rows = self.conn.execute("SELECT * FROM journal ORDER BY at_us, seq")
        return [JournalEntry(r["seq"], from_micros(r["at_us"]), r["op"], json.loads(r["args"])) for r in rows]

    def save_clock(self, now: datetime) -> None:
        """Checkpoint the sim-time instant a restart must come back to."""
        self.set_meta("clock_now", to_micros(now))

    def saved_clock(self) -> datetime | None:
        """The last checkpointed instant."""
        value = self.get_meta("clock_now")
        return None if value is None else from_micros(int(value))
