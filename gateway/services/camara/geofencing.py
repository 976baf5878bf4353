"""Geofencing subscriptions: the service behind ``geofencing-subscriptions`` v0.5, v0.4 and v0.3.

Owns subscriptions (stored in SQLite), their evaluation and their notifications. A device is *inside* a geofence
when its serving cell is one of the geofence's cells: cells whose footprint lies at least half inside the circle,
plus the cell serving the centre (the operator sees cells, not points). Evaluation is incremental: the world's
cell-change listener hands over the movers of a tick, a boolean column tells which of them are watched, and only
those few are examined in Python. Notifications (``area-entered``/``area-left`` and the lifecycle events) are
CloudEvents put in the outbox under ids ``<subscription>-<n>``, in the same transaction as the evaluation state
that issued them (inside or not, counters, status; :class:`gateway.services.camara.subscriptions.SubscriptionEvents`).
Subscriptions are loaded only *after* a restart has replayed the world, so the replay issues nothing: evaluation
resumes from the saved state, and an event is never issued twice nor under another id. That state is written at
the end of a tick together with the clock instant (never mid-tick), so a restart comes back to the very instant
the state describes: a ``kill -9`` during an advance loses the unfinished tick, which runs again identically.

Lifecycle, all in simulated time: a subscription ends (``subscription-ended``) when deleted, at
``subscriptionExpireTime`` (``SUBSCRIPTION_EXPIRED``), after ``subscriptionMaxEvents`` area events
(``MAX_EVENTS_REACHED``), when the sink's access token expires (``sinkCredential.accessTokenExpiresUtc``,
``ACCESS_TOKEN_EXPIRED``: the ended event is the last one sent with that token) or when the sink answers ``410``
(no event). While the subscriber withdraws their location consent the subscription is ``INACTIVE``: no area events,
and ``subscription-updated`` (``SUBSCRIPTION_INACTIVE``, then ``SUBSCRIPTION_ACTIVE`` once consent is granted again,
evaluation resuming from the device's cell at that instant without an area event). This module knows nothing of
HTTP.
"""

from __future__ import annotations

import builtins
import functools
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.core.errors import NotFound
from gateway.core.store import Store
from gateway.core.webhooks import Outbox
from gateway.services.camara.areas import check_circle, to_area
from gateway.services.camara.subject import LOCATION_CONSENT
from gateway.services.camara.subscriptions import SubscriptionEvents, insert_subscription
from gateway.wire.camara.areas import Circle
from simulator.clock import ScheduledCall, from_micros, to_micros
from simulator.world import World

CELLS_CACHE = 256
"""Most circles whose cells are cached: partners choose the circles, so an unbounded cache grows with requests
(a live geofence keeps its own cells; the cache only saves recomputing popular areas). Small, so that it is full
within minutes of distinct circles and the process stays flat after (1,024 was still filling after hours)."""

API = "geofencing-subscriptions"
TYPE_PREFIX = "org.camaraproject.geofencing-subscriptions.v0."
AREA_ENTERED = TYPE_PREFIX + "area-entered"
AREA_LEFT = TYPE_PREFIX + "area-left"
SUBSCRIPTION_TYPES = (AREA_ENTERED, AREA_LEFT)
ID_PREFIX = "gfs_"


@dataclass(frozen=True)
class GeofencingVersion:
    """What one path version of the API does (the older ones are variations of the current one)."""

    version: str
    lifecycle_events: bool = True
    """Send ``subscription-started`` on creation (``subscription-ended`` is sent by every version)."""
    initial_event: bool = True
    """Honour ``config.initialEvent``."""
    three_legged: bool = True
    """Accept tokens bound to a subscriber (else the device must be named)."""

    @property
    def source(self) -> str:
        """CloudEvents ``source`` of this version's notifications."""
        return f"/{API}/{self.version}"


VERSIONS = {v.version: v for v in (GeofencingVersion("v0.5"), GeofencingVersion("v0.4"),
                                    GeofencingVersion("v0.3", lifecycle_events=False, initial_event=False,
                                                      three_legged=False))}


@dataclass(frozen=True)
class GeofenceSpec:
    """What a partner asked for (stored as JSON; everything a restart needs to rebuild the subscription)."""

    event_type: str
    subscriber: int
    device: dict[str, Any] | None
    area: dict[str, Any]
    sink: str
    sink_token: str | None
    expire_time: datetime | None
    max_events: int | None
    initial_event: bool
    sink_token_expires: datetime | None = None
    """``sinkCredential.accessTokenExpiresUtc``: the subscription ends then (``ACCESS_TOKEN_EXPIRED``)."""

    def to_json(self) -> str:
        data = dict(self.__dict__)
        for key in ("expire_time", "sink_token_expires"):
            data[key] = None if data[key] is None else to_micros(data[key])
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GeofenceSpec:
        data = json.loads(text)
        data.pop("gone", None)
        for key in ("expire_time", "sink_token_expires"):
            data[key] = None if data.get(key) is None else from_micros(data[key])
        return cls(**data)


@dataclass
class Geofence:
    """A subscription and its evaluation state (the state is derived from the world, never stored)."""

    id: str
    partner_id: int
    version: GeofencingVersion
    spec: GeofenceSpec
    created_at: datetime
    cells: frozenset[int]
    deleted_at: datetime | None = None
    gone: bool = False
    status: str = "ACTIVATION_REQUESTED"
    inside: bool = False
    events: int = 0
    issued: int = 0
    termination: str | None = None
    _calls: list[ScheduledCall] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.status == "ACTIVE"

    @property
    def running(self) -> bool:
        """Started and not ended: ``ACTIVE``, or ``INACTIVE`` while location consent is withdrawn."""
        return self.status in ("ACTIVE", "INACTIVE")

    def state_json(self) -> str:
        return json.dumps({"status": self.status, "inside": self.inside, "events": self.events,
                           "issued": self.issued, "termination": self.termination, "gone": self.gone},
                          sort_keys=True)

    def restore_state(self, text: str) -> None:
        state = json.loads(text)
        self.status = state.get("status", self.status)
        self.inside = bool(state.get("inside", False))
        self.events = int(state.get("events", 0))
        self.issued = int(state.get("issued", 0))
        self.termination = state.get("termination")
        self.gone = bool(state.get("gone", False))


class GeofencingService:
    """Create, list, get, delete and evaluate geofencing subscriptions."""

    def __init__(self, world: World, store: Store, outbox: Outbox, min_radius_m: float,
                 events: SubscriptionEvents | None = None) -> None:
        self.world = world
        self.min_radius_m = min_radius_m
        self.store = store
        self.outbox = outbox
        self._all: dict[str, Geofence] = {}
        self._by_sub: dict[int, list[Geofence]] = {}
        self._watched = np.zeros(world.subscriber_count, dtype=np.bool_)
        if events is None:  # else shared with another API, whose owner commits it at the end of each tick
            events = SubscriptionEvents(lambda: outbox, lambda: world.in_tick,
                                        lambda conn: store.save_clock(world.clock.now))
            world.on_step(lambda now: events.commit())
        self._events = events
        self._cells: dict[tuple[float, float, float], frozenset[int]] = {}
        world.on_cell_change(self.on_cell_change)
        world.on_consent_change(self.on_consent_change)

    # -- lifecycle with the store ----------------------------------------------------------------------------
    def load(self) -> None:
        """Resume every stored subscription from its saved state (call once the world is restored)."""
        rows = self.store.conn.execute("SELECT * FROM event_subscriptions WHERE api = ? ORDER BY seq", (API,))
        for row in rows:
            if row["deleted_us"] is not None:
                continue  # deleted: ended and never shown again, nothing of it is held (see `delete`)
            spec = GeofenceSpec.from_json(row["spec"])
            g = Geofence(row["id"], row["partner_id"], VERSIONS[row["version"]], spec, from_micros(row["created_us"]),
                         self.cells_of(Circle.model_validate(spec.area)))
            g.restore_state(row["state"])
            self._all[g.id] = g
            if g.status == "ACTIVATION_REQUESTED":
                self._start(g)
            elif g.running:
                self._watch(g)
                self._schedule_expiry(g)
        self._flush()

    # -- partner operations ----------------------------------------------------------------------------------
    def check_area(self, circle: Circle) -> None:
        """Operator rules on a geofence: the minimum radius and coverage."""
        check_circle(self.world, circle, self.min_radius_m, "GEOFENCING_SUBSCRIPTIONS")

    def cells_of(self, circle: Circle) -> frozenset[int]:
        """The cells that count as inside ``circle`` (cached: partners watch the same areas for many devices)."""
        key = (circle.center.latitude, circle.center.longitude, circle.radius)
        cached = self._cells.get(key)
        if cached is None:
            if len(self._cells) >= CELLS_CACHE:
                del self._cells[next(iter(self._cells))]  # the oldest entry
            cached = self._cells[key] = self._cells_of(circle)
        return cached

    def _cells_of(self, circle: Circle) -> frozenset[int]:
        area = to_area(self.world, circle)
        world = self.world
        cells = {int(c) for c in world.area_cells(area) if world.cell_coverage_fraction(int(c), area) >= 0.5}
        assert area.center is not None
        centre = int(world.cells_at(np.asarray([area.center[0]]), np.asarray([area.center[1]]))[0])
        if centre >= 0:
            cells.add(centre)
        return frozenset(cells)

    def create(self, partner_id: int, version: GeofencingVersion, spec: GeofenceSpec) -> Geofence:
        """Store a subscription and start it now (``subscription-started``, then the initial event if asked)."""
        now = self.world.clock.now
        cells = self.cells_of(Circle.model_validate(spec.area))
        sub_id = insert_subscription(self.store, ID_PREFIX, partner_id, API, version.version, spec.to_json(), now)
        g = Geofence(sub_id, partner_id, version, spec, now, cells)
        self._all[sub_id] = g
        self._start(g)
        self._flush()
        return g

    def list(self, partner_id: int, version: GeofencingVersion) -> list[Geofence]:
        """A partner's subscriptions on one version, deleted ones excluded, oldest first."""
        return [g for g in self._all.values() if g.partner_id == partner_id and g.version == version
                and g.deleted_at is None]

    def get(self, partner_id: int, version: GeofencingVersion, sub_id: str) -> Geofence:
        """One of the partner's subscriptions (another partner's is 404 like a missing one)."""
        g = self._all.get(sub_id)
        if g is None or g.partner_id != partner_id or g.version != version or g.deleted_at is not None:
            raise NotFound(f"Subscription {sub_id} not found.")
        return g

    def delete(self, partner_id: int, version: GeofencingVersion, sub_id: str) -> None:
        """End a subscription (``subscription-ended`` with ``SUBSCRIPTION_DELETED``)."""
        g = self.get(partner_id, version, sub_id)
        now = self.world.clock.now
        with self.store.transaction() as conn:
            conn.execute("UPDATE event_subscriptions SET deleted_us = ? WHERE id = ?", (to_micros(now), sub_id))
        g.deleted_at = now
        self._end(g, "SUBSCRIPTION_DELETED")
        # Never listed nor found again: kept, it would grow the process with every subscription a partner deletes
        # (its state is in the store, saved by `_end`).
        del self._all[sub_id]

    def on_gone(self, sub_id: str) -> None:
        """The sink answered 410: end the subscription without notifying it (the state is saved)."""
        g = self._all.get(sub_id)
        if g is None or g.termination is not None:
            return
        g.gone = True
        self._end(g, "NETWORK_TERMINATED", notify=False)

    # -- evaluation ------------------------------------------------------------------------------------------
    def _start(self, g: Geofence) -> None:
        if g.status != "ACTIVATION_REQUESTED":
            return
        world = self.world
        g.status = "ACTIVE"
        cell = int(world.serving_cells(np.asarray([g.spec.subscriber]))[0])
        g.inside = cell in g.cells
        self._watch(g)
        if g.version.lifecycle_events:
            self._emit(g, "subscription-started", {"initiationReason": "SUBSCRIPTION_CREATED"})
        if g.version.initial_event and g.spec.initial_event and g.inside == (g.spec.event_type == AREA_ENTERED):
            self._area_event(g)
        self._schedule_expiry(g)
        self._events.changed(g)

    def _schedule_expiry(self, g: Geofence) -> None:
        if not g.running:
            return
        clock = self.world.clock
        for at, reason in ((g.spec.expire_time, "SUBSCRIPTION_EXPIRED"),
                           (g.spec.sink_token_expires, "ACCESS_TOKEN_EXPIRED")):
            if at is not None:
                g._calls.append(clock.schedule(max(at, clock.now), functools.partial(self._end, g, reason)))

    def _end(self, g: Geofence, reason: str, notify: bool = True) -> None:
        if g.termination is not None:
            return
        g.termination = reason
        g.status = "DELETED" if reason == "SUBSCRIPTION_DELETED" else "EXPIRED"
        self._unwatch(g)
        for call in g._calls:
            call.cancel()
        if notify:
            self._emit(g, "subscription-ended", {"terminationReason": reason})
        self._events.changed(g)
        self._flush()

    def _area_event(self, g: Geofence) -> None:
        self._emit(g, g.spec.event_type[len(TYPE_PREFIX):], {})
        g.events += 1
        if g.spec.max_events is not None and g.events >= g.spec.max_events:
            self._end(g, "MAX_EVENTS_REACHED")

    def on_consent_change(self, now: datetime, subscriber: int, purpose: str, channel: str | None, granted: bool,
                          source: str) -> None:
        """World listener: a watched subscriber's location consent makes their subscriptions (in)active."""
        if purpose != LOCATION_CONSENT or subscriber not in self._by_sub:
            return
        allowed = bool(self.world.consent.is_permitted(subscriber, LOCATION_CONSENT, None))
        for g in list(self._by_sub[subscriber]):
            if allowed and g.status == "INACTIVE":
                g.status = "ACTIVE"
                g.inside = int(self.world.serving_cells(np.asarray([subscriber]))[0]) in g.cells
                self._updated(g, "SUBSCRIPTION_ACTIVE")
            elif not allowed and g.status == "ACTIVE":
                g.status = "INACTIVE"
                self._updated(g, "SUBSCRIPTION_INACTIVE")
        self._flush()

    def _updated(self, g: Geofence, reason: str) -> None:
        self._events.changed(g)
        if g.version.lifecycle_events:
            self._emit(g, "subscription-updated", {"updateReason": reason})

    def on_cell_change(self, now: datetime, subs: NDArray[np.int32], old: NDArray[np.int32],
                       new: NDArray[np.int32]) -> None:
        """World listener: examine the watched subscribers among this batch of movers."""
        if not self._by_sub:
            return
        watched = self._watched
        inside_range = subs < len(watched)
        hits = np.flatnonzero(watched[np.where(inside_range, subs, 0)] & inside_range)
        if len(hits) == 0:
            return
        for sub, cell in zip(subs[hits].tolist(), new[hits].tolist(), strict=True):
            for g in list(self._by_sub.get(sub, ())):
                if not g.active:
                    continue
                inside = cell in g.cells
                if inside == g.inside:
                    continue
                g.inside = inside
                self._events.changed(g)
                if inside == (g.spec.event_type == AREA_ENTERED):
                    self._area_event(g)
        self._flush()

    # -- watch column and notifications --------------------------------------------------------------------
    def _watch(self, g: Geofence) -> None:
        sub = g.spec.subscriber
        if sub >= len(self._watched):
            grown = np.zeros(max(sub + 1, self.world.subscriber_count), dtype=np.bool_)
            grown[: len(self._watched)] = self._watched
            self._watched = grown
        self._by_sub.setdefault(sub, []).append(g)
        self._watched[sub] = True

    def _unwatch(self, g: Geofence) -> None:
        sub = g.spec.subscriber
        lst = self._by_sub.get(sub, [])
        if g in lst:
            lst.remove(g)
        if not lst:
            self._by_sub.pop(sub, None)
            if sub < len(self._watched):
                self._watched[sub] = False

    def _emit(self, g: Geofence, kind: str, extra: dict[str, Any]) -> None:
        data: dict[str, Any] = {"subscriptionId": g.id}
        if g.spec.device is not None:
            data["device"] = g.spec.device
        data["area"] = g.spec.area
        data.update(extra)
        self._events.emit(g, g.version.source, TYPE_PREFIX + kind, data, g.spec.sink, g.spec.sink_token,
                          self.world.clock.now)

    def _flush(self) -> None:
        """Store the pending notifications and the state that issued them, in one transaction."""
        self._events.flush()

    def every(self) -> builtins.list[Geofence]:
        """Operator side: every subscription of every partner and version, deleted ones excluded, oldest first."""
        return [g for g in self._all.values() if g.deleted_at is None]

    # -- figures ---------------------------------------------------------------------------------------------
    def active_count(self) -> int:
        """Subscriptions being evaluated now."""
        return sum(len(v) for v in self._by_sub.values())

