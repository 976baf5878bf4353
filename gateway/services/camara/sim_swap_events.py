"""SIM swap subscriptions: the service behind ``sim-swap-subscriptions`` v0.3.

Owns subscriptions (rows of ``event_subscriptions`` with ``api = 'sim-swap-subscriptions'``), their evaluation
and their notifications. The world's :meth:`~simulator.world.World.on_sim_swap` listener hands over the lines
swapped this tick (or by the operator now); a dict from subscriber to its active subscriptions makes that a
lookup, never a scan. Each swap of a watched line is a CloudEvent ``org.camaraproject.sim-swap-subscriptions.v0.
swapped``; lifecycle events ``subscription-started`` (on creation) and ``subscription-ended``
(``SUBSCRIPTION_DELETED``, ``SUBSCRIPTION_EXPIRED`` on the simulated clock, ``MAX_EVENTS_REACHED``,
``NETWORK_TERMINATED`` after a ``410``) do not count towards ``subscriptionMaxEvents``. Events go to the outbox
under ids ``<subscription>-<n>`` in the same transaction as the state that issued them
(:class:`gateway.services.camara.subscriptions.SubscriptionEvents`). Subscriptions are loaded
only after a restart has replayed the world (the replay issues nothing). This module knows nothing of HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.core.errors import NotFound
from gateway.core.store import Store
from gateway.core.webhooks import Outbox
from gateway.services.camara.subscriptions import SubscriptionEvents, insert_subscription
from simulator.clock import ScheduledCall, from_micros, to_micros
from simulator.world import World

API = "sim-swap-subscriptions"
VERSION = "v0.3"
SOURCE = f"/{API}/{VERSION}"
TYPE_PREFIX = "org.camaraproject.sim-swap-subscriptions.v0."
SWAPPED = TYPE_PREFIX + "swapped"
ID_PREFIX = "sss_"


@dataclass(frozen=True)
class SwapSubscriptionSpec:
    """What the partner asked for (stored as JSON)."""

    subscriber: int
    phone_number: str | None  # echoed in events only when the request named it (two-legged)
    sink: str
    sink_token: str | None
    expire_time: datetime | None
    max_events: int | None

    def to_json(self) -> str:
        data = dict(self.__dict__)
        data["expire_time"] = None if self.expire_time is None else to_micros(self.expire_time)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SwapSubscriptionSpec:
        data = json.loads(text)
        data["expire_time"] = None if data["expire_time"] is None else from_micros(data["expire_time"])
        return cls(**data)


@dataclass
class SwapSubscription:
    """A subscription and its evaluation state."""

    id: str
    partner_id: int
    spec: SwapSubscriptionSpec
    created_at: datetime
    status: str = "ACTIVATION_REQUESTED"
    events: int = 0
    issued: int = 0
    termination: str | None = None
    deleted: bool = False
    _calls: list[ScheduledCall] = field(default_factory=list)

    def state_json(self) -> str:
        return json.dumps({"status": self.status, "events": self.events, "issued": self.issued,
                           "termination": self.termination}, sort_keys=True)


class SimSwapSubscriptions:
    """Create, list, get, delete and evaluate SIM swap subscriptions."""

    def __init__(self, world: World, store: Store, outbox: Callable[[], Outbox]) -> None:
        self.world = world
        self.store = store
        self._all: dict[str, SwapSubscription] = {}
        self._by_sub: dict[int, list[SwapSubscription]] = {}
        self.events = SubscriptionEvents(outbox, lambda: world.in_tick,  # the app builds its outbox later
                                         lambda conn: store.save_clock(world.clock.now))
        """The events and states of this API, committed at the end of each tick (geofencing shares them)."""
        world.on_sim_swap(self.on_sim_swap)
        world.on_step(lambda now: self.events.commit())

    def load(self) -> None:
        """Resume every stored subscription from its saved state (call once the world is restored)."""
        for row in self.store.conn.execute("SELECT * FROM event_subscriptions WHERE api = ? ORDER BY seq", (API,)):
            s = SwapSubscription(row["id"], row["partner_id"], SwapSubscriptionSpec.from_json(row["spec"]),
                                 from_micros(row["created_us"]), deleted=row["deleted_us"] is not None)
            state = json.loads(row["state"])
            s.status = state.get("status", s.status)
            s.events, s.issued = int(state.get("events", 0)), int(state.get("issued", 0))
            s.termination = state.get("termination")
            self._all[s.id] = s
            if s.status == "ACTIVATION_REQUESTED":
                self._start(s)
            elif s.status == "ACTIVE":
                self._activate(s)
        self._flush()

    def create(self, partner_id: int, spec: SwapSubscriptionSpec) -> SwapSubscription:
        """Store a subscription and start it now (``subscription-started``)."""
        now = self.world.clock.now
        sub_id = insert_subscription(self.store, ID_PREFIX, partner_id, API, VERSION, spec.to_json(), now)
        s = SwapSubscription(sub_id, partner_id, spec, now)
        self._all[sub_id] = s
        self._start(s)
        self._flush()
        return s

    def list(self, partner_id: int) -> list[SwapSubscription]:
        """A partner's subscriptions, deleted ones excluded, oldest first."""
        return [s for s in self._all.values() if s.partner_id == partner_id and not s.deleted]

    def get(self, partner_id: int, sub_id: str) -> SwapSubscription:
        """One of the partner's subscriptions (another partner's is 404 like a missing one)."""
        s = self._all.get(sub_id)
        if s is None or s.partner_id != partner_id or s.deleted:
            raise NotFound(f"Subscription {sub_id} not found.")
        return s

    def delete(self, partner_id: int, sub_id: str) -> None:
        """End a subscription (``subscription-ended`` with ``SUBSCRIPTION_DELETED``)."""
        s = self.get(partner_id, sub_id)
        with self.store.transaction() as conn:
            conn.execute("UPDATE event_subscriptions SET deleted_us = ? WHERE id = ?",
                         (to_micros(self.world.clock.now), sub_id))
        s.deleted = True
        self._end(s, "SUBSCRIPTION_DELETED")

    def on_gone(self, sub_id: str) -> None:
        """The sink answered 410: end the subscription without notifying it."""
        s = self._all.get(sub_id)
        if s is not None and s.termination is None:
            self._end(s, "NETWORK_TERMINATED", notify=False)

    def on_sim_swap(self, now: datetime, subs: NDArray[np.int32], instants_us: NDArray[np.int64]) -> None:
        """World listener: one ``swapped`` event per active subscription of each swapped line."""
        if not self._by_sub:
            return
        for sub in subs.tolist():
            for s in list(self._by_sub.get(sub, ())):
                self._emit(s, "swapped", {})
                s.events += 1
                if s.spec.max_events is not None and s.events >= s.spec.max_events:
                    self._end(s, "MAX_EVENTS_REACHED")
        self._flush()

    # -- lifecycle -----------------------------------------------------------------------------------------------
    def _start(self, s: SwapSubscription) -> None:
        s.status = "ACTIVE"
        self._emit(s, "subscription-started", {"initiationReason": "SUBSCRIPTION_CREATED"})
        self._activate(s)

    def _activate(self, s: SwapSubscription) -> None:
        self._by_sub.setdefault(s.spec.subscriber, []).append(s)
        if s.spec.expire_time is not None:
            at = max(s.spec.expire_time, self.world.clock.now)
            s._calls.append(self.world.clock.schedule(at, lambda: self._end(s, "SUBSCRIPTION_EXPIRED")))
        self.events.changed(s)

    def _end(self, s: SwapSubscription, reason: str, notify: bool = True) -> None:
        if s.termination is not None:
            return
        s.termination = reason
        s.status = "DELETED" if reason == "SUBSCRIPTION_DELETED" else "EXPIRED"
        watchers = self._by_sub.get(s.spec.subscriber, [])
        if s in watchers:
            watchers.remove(s)
        if not watchers:
            self._by_sub.pop(s.spec.subscriber, None)
        for call in s._calls:
            call.cancel()
        if notify:
            self._emit(s, "subscription-ended", {"terminationReason": reason})
        self.events.changed(s)
        self._flush()

    def _emit(self, s: SwapSubscription, kind: str, extra: dict[str, Any]) -> None:
        data: dict[str, Any] = {"subscriptionId": s.id}
        if kind == "swapped" and s.spec.phone_number is not None:
            data["phoneNumber"] = s.spec.phone_number
        data.update(extra)
        self.events.emit(s, SOURCE, TYPE_PREFIX + kind, data, s.spec.sink, s.spec.sink_token, self.world.clock.now)

    def _flush(self) -> None:
        self.events.flush()
