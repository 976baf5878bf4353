"""Webhooks: CloudEvents envelopes, sink rules, partner signing secrets, the durable outbox and its sender.

Producers (geofencing, campaign event subscriptions, asynchronous CAMARA answers) call :meth:`Outbox.add` from
synchronous code, typically inside a world tick: the event is stored in SQLite before anything is sent, under an
id the producer derives deterministically, with ``INSERT OR IGNORE`` so that replaying the world after a restart
never issues an event twice. :class:`WebhookSender` (a background task tied to the app through ``cleanup_ctx``)
drains the outbox: events of one subscription go out in order, several subscriptions in parallel; failures and
timeouts are retried with exponential back-off and jitter in **wall** time (network I/O is the one place wall time
belongs), events older than the maximum age are dead-lettered (and can be re-driven by the admin API), a
``410 Gone`` from the sink ends the subscription, and every attempt is a row. Injected faults (delay, duplicate,
reorder, drop-then-retry) are decided elsewhere (:class:`WebhookFaultHook`) and applied by the sender here. This
module knows nothing of the APIs whose events it carries nor of the world; it must not render HTTP responses.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

from gateway.core.errors import InvalidArgument
from gateway.core.settings import Settings, epoch_seconds
from gateway.core.store import Store
from gateway.wire.base import format_instant
from gateway.wire.webhooks import SinkCredential
from simulator.clock import from_micros, to_micros

log = logging.getLogger("opsim.gateway.webhooks")

CLOUDEVENTS_JSON = "application/cloudevents+json"
SIGNATURE_HEADER = "X-Opsim-Signature"
"""``sha256=<hex>``: HMAC-SHA256 of the exact request body, keyed by the partner's webhook secret."""

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class InvalidSink(InvalidArgument):
    code = "INVALID_SINK"
    default_message = "sink not valid for the specified protocol."


def check_sink(sink: str, allow_http_loopback: bool) -> str:
    """The sink URL if events may be sent there: ``https://…``, or ``http://`` to a loopback host when allowed."""
    try:
        parts = urlsplit(sink)
        host = parts.hostname
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        raise InvalidSink("sink is not a valid URL.") from None
    if not host or parts.scheme not in ("https", "http") or any(c.isspace() for c in sink):
        raise InvalidSink("sink must be an absolute https URL.")
    if parts.scheme == "http":
        if not allow_http_loopback:
            raise InvalidSink("sink must use https.")
        if not is_loopback(host):
            raise InvalidSink("sink must use https (plain http is accepted for loopback addresses only).")
    return sink


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cloud_event(event_id: str, source: str, event_type: str, at: datetime, data: dict[str, Any]) -> str:
    """A CloudEvents 1.0 structured-mode JSON document (``time`` is simulated time)."""
    return json.dumps({"id": event_id, "source": source, "type": event_type, "specversion": "1.0",
                       "time": format_instant(at), "datacontenttype": "application/json", "data": data},
                      separators=(",", ":"))


def sign(body: bytes, secret: str) -> str:
    """Value of the :data:`SIGNATURE_HEADER` for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# -- partner secrets -----------------------------------------------------------------------------------------

class WebhookSecrets:
    """One signing secret per partner, created on first use, rotatable."""

    def __init__(self, store: Store, sim_now: Callable[[], datetime]) -> None:
        self._store = store
        self._sim_now = sim_now
        self._cache: dict[int, tuple[str, str]] = {}

    def get(self, partner_id: int) -> tuple[str, str]:
        """(secret, rotated_at) of a partner, creating the secret if it has none."""
        cached = self._cache.get(partner_id)
        if cached is not None:
            return cached
        row = self._store.conn.execute("SELECT secret, rotated_at FROM webhook_secrets WHERE partner_id = ?",
                                       (partner_id,)).fetchone()
        if row is None:
            return self.rotate(partner_id)
        cached = self._cache[partner_id] = (str(row["secret"]), str(row["rotated_at"]))
        return cached

    def rotate(self, partner_id: int) -> tuple[str, str]:
        """Replace a partner's secret; events not yet sent are signed with the new one."""
        secret = "whsec_" + secrets.token_urlsafe(32)
        stamp = format_instant(self._sim_now())
        with self._store.transaction() as conn:
            conn.execute("INSERT INTO webhook_secrets(partner_id, secret, rotated_at) VALUES (?, ?, ?) "
                         "ON CONFLICT(partner_id) DO UPDATE SET secret = excluded.secret, "
                         "rotated_at = excluded.rotated_at", (partner_id, secret, stamp))
        self._cache[partner_id] = (secret, stamp)
        return secret, stamp


# -- the outbox ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OutboxEvent:
    """An event to deliver: the producer fixes its id (deterministic), sink and body."""

    event_id: str
    subscription_id: str
    partner_id: int
    event_type: str
    sink: str
    sink_token: str | None
    body: str
    at: datetime
    content_type: str = CLOUDEVENTS_JSON
    correlator: str | None = None
    """``x-correlator`` header of the POST (e.g. the request an asynchronous answer answers); default: the id."""


DELIVERY_STATES: dict[str, tuple[str, bool | None]] = {
    "pending": ("pending", False),  # stored and never attempted: on its way
    "retrying": ("pending", True),  # attempted, failed, waiting in back-off (a re-driven dead letter too)
    "delivered": ("delivered", None),
    "dead": ("dead", None),
    "cancelled": ("cancelled", None),
}
"""The one definition of an event's delivery state, as the admin API shows, filters and counts it: public state
→ (stored ``outbox.state``, whether it has been attempted; ``None``: either)."""


def delivery_state(stored: str, attempts: int) -> str:
    """The delivery state (a key of :data:`DELIVERY_STATES`) of an event stored as ``stored`` after ``attempts``."""
    for name, (state, attempted) in DELIVERY_STATES.items():
        if state == stored and (attempted is None or attempted == (attempts > 0)):
            return name
    return stored


def _state_clause(name: str) -> tuple[str, list[Any]]:
    """SQL condition (and its arguments) selecting the events in delivery state ``name``."""
    state, attempted = DELIVERY_STATES[name]
    extra = "" if attempted is None else (" AND attempts > 0" if attempted else " AND attempts = 0")
    return f"state = ?{extra}", [state]


@dataclass(frozen=True)
class OutboxRow:
    """An event as stored, with its delivery state."""

    seq: int
    event_id: str
    subscription_id: str
    partner_id: int
    event_type: str
    sink: str
    sink_token: str | None
    content_type: str
    body: str
    at: datetime
    created_wall: float
    next_attempt_wall: float
    attempts: int
    state: str
    last_error: str | None
    correlator: str | None = None

    @property
    def delivery_state(self) -> str:
        """The state the admin API shows (see :data:`DELIVERY_STATES`); ``state`` is the stored one."""
        return delivery_state(self.state, self.attempts)


@dataclass(frozen=True)
class OutboxCounts:
    """How many stored events are in each delivery state."""

    pending: int
    """Stored and not attempted yet (on their way)."""
    retrying: int
    """Attempted, failed, waiting in back-off for their next attempt."""
    delivered: int
    dead: int
    cancelled: int


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt."""

    event_id: str
    attempt: int
    at_wall: float
    status_code: int | None
    error: str | None
    duration_ms: float


def _row(r: Any) -> OutboxRow:
    return OutboxRow(seq=r["seq"], event_id=r["event_id"], subscription_id=r["subscription_id"],
                     partner_id=r["partner_id"], event_type=r["event_type"], sink=r["sink"],
                     sink_token=r["sink_token"], content_type=r["content_type"], body=r["body"],
                     at=from_micros(r["sim_time_us"]), created_wall=r["created_wall"],
                     next_attempt_wall=r["next_attempt_wall"], attempts=r["attempts"], state=r["state"],
                     last_error=r["last_error"], correlator=r["correlator"])


class Outbox:
    """The durable queue of outgoing events (rows in SQLite)."""

    def __init__(self, store: Store, wall: Callable[[], float] = epoch_seconds) -> None:
        self._store = store
        self._wall = wall
        self._listeners: list[Callable[[], None]] = []

    def on_added(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` whenever new events were stored (the sender wakes up)."""
        self._listeners.append(fn)

    def add(self, events: Iterable[OutboxEvent], also: Callable[[sqlite3.Connection], None] | None = None) -> int:
        """Store events not stored yet (same id ⇒ ignored); returns how many were new.

        ``also(conn)`` runs in the same transaction: producers save the state that issued the events with them.
        """
        now = self._wall()
        rows = [(e.event_id, e.subscription_id, e.partner_id, e.event_type, e.sink, e.sink_token, e.content_type,
                 e.body, to_micros(e.at), now, now, e.correlator) for e in events]
        if not rows and also is None:
            return 0
        with self._store.transaction() as conn:
            if also is not None:
                also(conn)
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO outbox(event_id, subscription_id, partner_id, event_type, sink, sink_token, "
                "content_type, body, sim_time_us, created_wall, next_attempt_wall, correlator) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            added = conn.total_changes - before
        if added:
            for fn in self._listeners:
                fn()
        return added

    def head(self, subscription_id: str) -> OutboxRow | None:
        """The oldest pending event of a subscription (the one that must go first)."""
        r = self._store.conn.execute("SELECT * FROM outbox WHERE state = 'pending' AND subscription_id = ? "
                                     "ORDER BY seq LIMIT 1", (subscription_id,)).fetchone()
        return None if r is None else _row(r)

    def due_subscriptions(self, now: float, exclude: set[str], limit: int) -> list[str]:
        """Subscriptions whose oldest pending event is due at wall time ``now``, oldest first."""
        rows = self._store.conn.execute(
            "SELECT o.subscription_id, o.next_attempt_wall FROM outbox o JOIN (SELECT MIN(seq) AS seq FROM outbox "
            "WHERE state = 'pending' GROUP BY subscription_id) h ON o.seq = h.seq ORDER BY o.seq").fetchall()
        out = []
        for r in rows:
            if r["next_attempt_wall"] <= now and r["subscription_id"] not in exclude:
                out.append(str(r["subscription_id"]))
                if len(out) >= limit:
                    break
        return out

    def next_due_wall(self) -> float | None:
        """Earliest wall time at which some pending event is due."""
        r = self._store.conn.execute("SELECT MIN(next_attempt_wall) AS t FROM outbox WHERE state = 'pending'"
                                     ).fetchone()
        return None if r is None or r["t"] is None else float(r["t"])

    def following(self, row: OutboxRow) -> OutboxRow | None:
        """The pending event of ``row``'s subscription right after it, if any."""
        r = self._store.conn.execute("SELECT * FROM outbox WHERE state = 'pending' AND subscription_id = ? AND seq > ? "
                                     "ORDER BY seq LIMIT 1", (row.subscription_id, row.seq)).fetchone()
        return None if r is None else _row(r)

    def postpone(self, row: OutboxRow, until_wall: float) -> None:
        """Hold a pending event until wall time ``until_wall`` without counting an attempt (an injected delay)."""
        with self._store.transaction() as conn:
            conn.execute("UPDATE outbox SET next_attempt_wall = ? WHERE seq = ? AND state = 'pending'",
                         (until_wall, row.seq))

    def record(self, row: OutboxRow, attempt: Attempt, state: str, next_attempt_wall: float | None) -> None:
        """Store an attempt and the event's new state in one transaction."""
        with self._store.transaction() as conn:
            conn.execute("INSERT INTO webhook_attempts(event_id, attempt, at_wall, status_code, error, duration_ms) "
                         "VALUES (?, ?, ?, ?, ?, ?)", (attempt.event_id, attempt.attempt, attempt.at_wall,
                                                       attempt.status_code, attempt.error, attempt.duration_ms))
            conn.execute("UPDATE outbox SET attempts = ?, state = ?, last_error = ?, next_attempt_wall = ? "
                         "WHERE seq = ?", (attempt.attempt, state, attempt.error, next_attempt_wall
                                           if next_attempt_wall is not None else row.next_attempt_wall, row.seq))

    def cancel(self, subscription_id: str, reason: str) -> int:
        """Drop every pending event of a subscription (its sink is gone); returns how many."""
        with self._store.transaction() as conn:
            return conn.execute("UPDATE outbox SET state = 'cancelled', last_error = ? WHERE state = 'pending' AND "
                                "subscription_id = ?", (reason, subscription_id)).rowcount

    def events(self, *, state: str | None = None, subscription_id: str | None = None,
               partner_id: int | None = None, limit: int = 1000) -> list[OutboxRow]:
        """Stored events, oldest first, optionally filtered (``state``: a delivery state, see
        :data:`DELIVERY_STATES`)."""
        clauses: list[str] = []
        args: list[Any] = []
        if state is not None:
            clause, clause_args = _state_clause(state)
            clauses.append(clause)
            args += clause_args
        for column, value in (("subscription_id", subscription_id), ("partner_id", partner_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._store.conn.execute(f"SELECT * FROM outbox {where} ORDER BY seq LIMIT ?", (*args, limit))
        return [_row(r) for r in rows]

    def latest(self, limit: int, type_prefix: str = "") -> list[OutboxRow]:
        """The ``limit`` most recently stored events whose type starts with ``type_prefix``, newest first."""
        pattern = type_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._store.conn.execute("SELECT * FROM outbox WHERE event_type LIKE ? ESCAPE '\\' ORDER BY seq DESC "
                                        "LIMIT ?", (pattern, limit))
        return [_row(r) for r in rows]

    def counts(self) -> OutboxCounts:
        """Events per delivery state (:data:`DELIVERY_STATES`, as :meth:`events` filters them)."""
        by_state = dict.fromkeys(DELIVERY_STATES, 0)
        for r in self._store.conn.execute("SELECT state, attempts > 0, COUNT(*) FROM outbox GROUP BY 1, 2"):
            name = delivery_state(str(r[0]), int(r[1]))
            by_state[name] = by_state.get(name, 0) + int(r[2])
        return OutboxCounts(**{name: by_state[name] for name in DELIVERY_STATES})

    def get(self, event_id: str) -> OutboxRow | None:
        """One stored event."""
        r = self._store.conn.execute("SELECT * FROM outbox WHERE event_id = ?", (event_id,)).fetchone()
        return None if r is None else _row(r)

    def attempts(self, event_id: str) -> list[Attempt]:
        """Every attempt to deliver one event, first first."""
        rows = self._store.conn.execute("SELECT * FROM webhook_attempts WHERE event_id = ? ORDER BY id", (event_id,))
        return [Attempt(r["event_id"], r["attempt"], r["at_wall"], r["status_code"], r["error"], r["duration_ms"])
                for r in rows]

    def redrive(self, event_id: str) -> bool:
        """Put a dead-lettered event back in the queue (its age starts again); False if it is not dead."""
        now = self._wall()
        with self._store.transaction() as conn:
            changed = conn.execute("UPDATE outbox SET state = 'pending', created_wall = ?, next_attempt_wall = ? "
                                   "WHERE event_id = ? AND state = 'dead'", (now, now, event_id)).rowcount
        if changed:
            for fn in self._listeners:
                fn()
        return changed > 0


# -- the sender ----------------------------------------------------------------------------------------------

GoneListener = Callable[[str], None]
AttemptListener = Callable[[Attempt, str], None]
"""Hears each delivery attempt with its result: ``delivered``, ``retry``, ``dead`` or ``gone`` (the metrics)."""


@dataclass(frozen=True)
class WebhookFault:
    """Faults injected into the delivery of one event (decided before its first attempt)."""

    delay_s: float = 0.0
    """Hold the event until this many wall seconds after it was stored."""
    duplicate: bool = False
    """POST it a second time once delivered."""
    reorder: bool = False
    """Send the subscription's next pending event first."""
    drop_then_retry: bool = False
    """Do not send the first attempt; record it as failed so the back-off retries it."""


class WebhookFaultHook(Protocol):
    """Decides injected webhook faults (see :mod:`gateway.services.faults`) and hears which were applied."""

    def decide(self, row: OutboxRow) -> WebhookFault | None:
        """The faults of ``row``'s delivery, ``None`` for none."""

    def applied(self, kind: str, row: OutboxRow) -> None:
        """A fault of ``kind`` (``webhook_delay``, ``webhook_duplicate``…) was applied to ``row``."""


class WebhookSender:
    """Drains the outbox over HTTP for the app's lifetime (see the module docstring for the rules)."""

    def __init__(self, outbox: Outbox, secrets_: WebhookSecrets, settings: Settings,
                 wall: Callable[[], float] = epoch_seconds) -> None:
        self.outbox = outbox
        self.secrets = secrets_
        self.settings = settings
        self._wall = wall
        self._wake = asyncio.Event()
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._gone: list[GoneListener] = []
        self._attempted: list[AttemptListener] = []
        self._jitter = random.Random()  # wall-time back-off jitter: deliberately not part of the seeded world
        self._session: aiohttp.ClientSession | None = None
        self.faults: WebhookFaultHook | None = None
        """Injected faults (none unless set by the composition)."""
        outbox.on_added(self._wake.set)

    def on_gone(self, fn: GoneListener) -> None:
        """Call ``fn(subscription_id)`` when a sink answers ``410 Gone``."""
        self._gone.append(fn)

    def on_attempt(self, fn: AttemptListener) -> None:
        """Call ``fn(attempt, result)`` after each attempt :meth:`deliver` made and recorded."""
        self._attempted.append(fn)

    def backoff(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (1 = after the first failure): exponential, capped, jittered."""
        s = self.settings
        delay = min(s.webhook_backoff_max_s, s.webhook_backoff_base_s * float(2 ** min(attempt - 1, 30)))
        return delay * (0.5 + 0.5 * self._jitter.random())

    async def run(self) -> None:
        """Main loop: start a lane for each subscription with a due event, sleep until something is due."""
        timeout = aiohttp.ClientTimeout(total=self.settings.webhook_timeout_s)
        connector = aiohttp.TCPConnector(limit=max(self.settings.webhook_concurrency, 1))
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            self._session = session
            try:
                while True:
                    self._wake.clear()
                    free = self.settings.webhook_concurrency - len(self._lanes)
                    if free > 0:
                        for sub in self.outbox.due_subscriptions(self._wall(), set(self._lanes), free):
                            task = asyncio.create_task(self._lane(sub), name=f"webhook-lane-{sub}")
                            self._lanes[sub] = task
                            task.add_done_callback(functools.partial(self._lane_done, sub))
                    # asyncio.timeout, not wait_for: on Python 3.11 a cancel arriving as wait_for's timer fires
                    # can be lost, leaving this task "cancelling" forever and the app's shutdown hung.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._sleep_for()):
                            await self._wake.wait()
            finally:
                for task in list(self._lanes.values()):
                    task.cancel()
                if self._lanes:
                    await asyncio.gather(*self._lanes.values(), return_exceptions=True)
                self._session = None

    def _sleep_for(self) -> float:
        due = self.outbox.next_due_wall()
        if due is None:
            return 1.0
        return min(max(due - self._wall(), self.settings.webhook_poll_s), 1.0)

    def _lane_done(self, sub: str, _task: asyncio.Task[None]) -> None:
        self._lanes.pop(sub, None)
        self._wake.set()

    async def _lane(self, subscription_id: str) -> None:
        """Send one subscription's due events, in order, until none is due."""
        while True:
            row = self.outbox.head(subscription_id)
            if row is None or row.next_attempt_wall > self._wall():
                return
            try:
                await self._attempt(row)
            except asyncio.CancelledError:
                raise
            except Exception:  # never let one bad event stop the lane for good: it is retried
                log.exception("webhook %s: unexpected failure", row.event_id)
                now = self._wall()
                attempt = Attempt(row.event_id, row.attempts + 1, now, None, "internal error", 0.0)
                self.outbox.record(row, attempt, "pending", now + self.backoff(attempt.attempt))

    async def _attempt(self, row: OutboxRow) -> None:
        """Deliver ``row`` with the injected faults of its first attempt applied (events are never lost)."""
        hook = self.faults
        fault = hook.decide(row) if hook is not None and row.attempts == 0 else None
        if hook is None or fault is None:
            await self.deliver(row)
            return
        now = self._wall()
        if fault.delay_s > 0 and now < row.created_wall + fault.delay_s:
            self.outbox.postpone(row, row.created_wall + fault.delay_s)  # same decision then, but the time has come
            hook.applied("webhook_delay", row)
            return
        if fault.drop_then_retry:
            attempt = Attempt(row.event_id, 1, now, None, "fault injected: dropped, will be retried", 0.0)
            self.outbox.record(row, attempt, "pending", now + self.backoff(1))
            hook.applied("webhook_drop_then_retry", row)
            return
        if fault.reorder:
            later = self.outbox.following(row)
            if later is not None and later.next_attempt_wall <= now:
                hook.applied("webhook_reorder", row)
                await self.deliver(later)
        await self.deliver(row)
        if fault.duplicate:
            sent = self.outbox.get(row.event_id)
            if sent is not None and sent.state == "delivered":
                hook.applied("webhook_duplicate", row)
                status, error, ms = await self._post(sent)
                attempt = Attempt(row.event_id, sent.attempts + 1, self._wall(), status,
                                  f"fault injected: duplicate{'' if error is None else ' (' + error + ')'}", ms)
                self.outbox.record(sent, attempt, "delivered", None)

    async def _post(self, row: OutboxRow) -> tuple[int | None, str | None, float]:
        """POST one event: (status, error, duration in ms)."""
        assert self._session is not None
        body = row.body.encode()
        secret, _ = self.secrets.get(row.partner_id)
        headers = {"Content-Type": row.content_type, SIGNATURE_HEADER: sign(body, secret),
                   "x-correlator": row.correlator or row.event_id}
        if row.sink_token:
            headers["Authorization"] = f"Bearer {row.sink_token}"
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            async with self._session.post(row.sink, data=body, headers=headers, allow_redirects=False) as resp:
                status = resp.status
                await resp.read()
        except TimeoutError:
            error = f"timeout after {self.settings.webhook_timeout_s:g} s"
        except aiohttp.ClientError as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        return status, error, round((time.monotonic() - started) * 1000, 3)

    async def deliver(self, row: OutboxRow) -> None:
        """One attempt at one event; records it and moves the event on (delivered, retry, dead, gone)."""
        status, error, ms = await self._post(row)
        now = self._wall()
        attempt = Attempt(row.event_id, row.attempts + 1, now, status, error, ms)
        if status is not None and 200 <= status < 300:
            self.outbox.record(row, attempt, "delivered", None)
            result = "delivered"
        elif status == 410:
            self.outbox.record(row, replace_error(attempt, "sink answered 410 Gone"), "cancelled", None)
            self.outbox.cancel(row.subscription_id, "sink answered 410 Gone")
            for fn in self._gone:
                fn(row.subscription_id)
            result = "gone"
        else:
            if error is None:
                attempt = replace_error(attempt, f"sink answered {status}")
            if now - row.created_wall >= self.settings.webhook_max_age_s:
                self.outbox.record(row, attempt, "dead", None)
                log.warning("webhook %s dead-lettered after %d attempts", row.event_id, attempt.attempt)
                result = "dead"
            else:
                self.outbox.record(row, attempt, "pending", now + self.backoff(attempt.attempt))
                result = "retry"
        for heard in self._attempted:
            heard(attempt, result)


def replace_error(attempt: Attempt, error: str) -> Attempt:
    """The same attempt with another error text."""
    return Attempt(attempt.event_id, attempt.attempt, attempt.at_wall, attempt.status_code, error,
                   attempt.duration_ms)


@dataclass
class Webhooks:
    """Everything webhook-related one app owns."""

    secrets: WebhookSecrets
    outbox: Outbox
    sender: WebhookSender

    @classmethod
    def build(cls, store: Store, settings: Settings, sim_now: Callable[[], datetime]) -> Webhooks:
        """Secrets, outbox and sender over one store."""
        secrets_ = WebhookSecrets(store, sim_now)
        outbox = Outbox(store)
        return cls(secrets_, outbox, WebhookSender(outbox, secrets_, settings))

    async def lifetime(self) -> AsyncIterator[None]:
        """``cleanup_ctx`` entry: the sender runs while the app runs (after the store is open)."""
        task = asyncio.create_task(self.sender.run(), name="opsim-webhooks")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# -- sink credentials on the wire ------------------------------------------------------------------------------



def sink_access_token(credential: SinkCredential | None, now: datetime | None = None) -> str | None:
    """The bearer token to send events with (400 ``INVALID_CREDENTIAL``/``INVALID_TOKEN`` for other kinds).

    Given ``now`` (simulated time), a token whose ``accessTokenExpiresUtc`` is not after it is refused with
    ``400 INVALID_CREDENTIAL``: events could never be delivered with it.
    """
    if credential is None:
        return None
    if credential.credential_type != "ACCESSTOKEN":
        raise InvalidArgument("Only Access token is supported.", code="INVALID_CREDENTIAL")
    if credential.access_token_type != "bearer":
        if credential.access_token_type is None:
            raise InvalidArgument("sinkCredential.accessTokenType is required.")
        raise InvalidArgument("Only bearer token is supported.", code="INVALID_TOKEN")
    if credential.access_token is None or credential.access_token_expires_utc is None:
        raise InvalidArgument("sinkCredential needs accessToken and accessTokenExpiresUtc.")
    if now is not None and credential.access_token_expires_utc <= now:
        raise InvalidArgument("sinkCredential.accessTokenExpiresUtc is already past: the access token has expired.",
                              code="INVALID_CREDENTIAL")
    return credential.access_token
