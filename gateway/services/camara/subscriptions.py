"""What every CAMARA event-subscription API shares (``geofencing-subscriptions``, ``sim-swap-subscriptions``).

Owns the parts of the CAMARA commonalities subscription resource that do not depend on the API: the request's
delivery fields (``protocol``, ``sink``, ``sinkCredential``, ``protocolSettings``) and their checks, the answer's
lifecycle fields (``id``, ``startsAt``, ``expiresAt``, ``status``), the ``event_subscriptions`` row a new
subscription gets (campaign event subscriptions share that table and counter), and :class:`SubscriptionEvents`,
which puts a subscription's CloudEvents in the webhook outbox in one transaction with the evaluation state that
issued them, under ids ``<subscription>-<n>`` (so an event is never issued twice nor under another id). Each API
keeps its own ``config``, event types, rules and evaluation. This module must not know about the world nor about
any one API.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from gateway.core.errors import InvalidArgument
from gateway.core.store import Store
from gateway.core.webhooks import Outbox, OutboxEvent, check_sink, cloud_event, sink_access_token
from gateway.wire.camara.subscriptions import SubscriptionRequest
from simulator.clock import to_micros


def delivery(body: SubscriptionRequest[Any, Any], allow_http_loopback: bool,
             now: datetime | None = None) -> tuple[str, str | None]:
    """(sink, bearer token) of a request: ``HTTP`` only, sink rules, ``ACCESSTOKEN`` credential (not expired at
    ``now`` when given)."""
    if body.protocol != "HTTP":
        raise InvalidArgument("Only HTTP is supported.", code="INVALID_PROTOCOL")
    return check_sink(body.sink, allow_http_loopback), sink_access_token(body.sink_credential, now)


def check_expire_time(expire_time: datetime | None, now: datetime) -> None:
    """``subscriptionExpireTime`` must be in the future (simulated time)."""
    if expire_time is not None and expire_time <= now:
        raise InvalidArgument("subscriptionExpireTime must be in the future.")


def insert_subscription(store: Store, prefix: str, partner_id: int, api: str, version: str, spec: str,
                        now: datetime) -> str:
    """Store a new ``event_subscriptions`` row; returns its id (``<prefix><seq>``, one counter for every API)."""
    with store.transaction() as conn:
        seq = int(conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM event_subscriptions").fetchone()[0])
        sub_id = f"{prefix}{seq:06d}"
        conn.execute("INSERT INTO event_subscriptions(id, seq, partner_id, api, version, spec, created_us) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", (sub_id, seq, partner_id, api, version, spec, to_micros(now)))
    return sub_id


class Notified(Protocol):
    """A subscription as :class:`SubscriptionEvents` needs it."""

    id: str
    partner_id: int
    issued: int
    """Events issued so far (the ``n`` of the next id)."""

    def state_json(self) -> str:
        """The evaluation state to save with the events."""


class SubscriptionEvents:
    """Events of subscriptions and the states that issued them, stored together on :meth:`flush`.

    These states are not rebuilt by a restart's replay (subscriptions are loaded after it), so they must never be
    ahead of the clock instant a restart comes back to: during a tick (``in_tick()``) :meth:`flush` keeps
    everything for :meth:`commit`, which the owner calls once the tick is over, and every write saves the clock
    instant (``checkpoint(conn)``) in the same transaction. A crash mid-tick thus loses the whole tick, which the
    restarted gateway runs again: same events, same ids. One instance may serve several APIs (one transaction).
    """

    def __init__(self, outbox: Callable[[], Outbox], in_tick: Callable[[], bool] = lambda: False,
                 checkpoint: Callable[[sqlite3.Connection], None] | None = None) -> None:
        self._outbox = outbox  # looked up when needed: an app may build its outbox after the service
        self._in_tick = in_tick
        self._checkpoint = checkpoint
        self._batch: list[OutboxEvent] = []
        self._dirty: dict[str, Notified] = {}

    def changed(self, s: Notified) -> None:
        """Save the state of ``s`` at the next :meth:`flush`."""
        self._dirty[s.id] = s

    def emit(self, s: Notified, source: str, event_type: str, data: dict[str, Any], sink: str,
             sink_token: str | None, at: datetime) -> None:
        """Issue the next event of ``s`` (id ``<subscription>-<n>``), stored at the next :meth:`flush`."""
        s.issued += 1
        self._dirty[s.id] = s
        event_id = f"{s.id}-{s.issued:06d}"
        self._batch.append(OutboxEvent(event_id, s.id, s.partner_id, event_type, sink, sink_token,
                                       cloud_event(event_id, source, event_type, at, data), at))

    def flush(self) -> None:
        """Store the pending events and the states that issued them, in one transaction (at :meth:`commit`
        when called during a tick)."""
        if not self._in_tick():
            self.commit()

    def commit(self) -> None:
        """Store what is pending now, with the clock instant (the end of a tick, or outside ticks)."""
        if not self._batch and not self._dirty:
            return
        batch, self._batch = self._batch, []
        dirty, self._dirty = list(self._dirty.values()), {}

        def save(conn: sqlite3.Connection) -> None:
            conn.executemany("UPDATE event_subscriptions SET state = ? WHERE id = ?",
                             [(s.state_json(), s.id) for s in dirty])
            if self._checkpoint is not None:
                self._checkpoint(conn)

        self._outbox().add(batch, also=save)
