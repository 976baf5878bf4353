"""Fault injection rules: which fault (if any) applies to a partner request or a webhook delivery, and network faults.

Owns the active fault profiles (in memory, creation order; the ``--config`` file and scenario steps add them as the
admin API does), the seeded decisions, and the network faults applied to the world (a device unreachable for a
period, a cell outage over an area, SMS delays). Neither is journaled: they are test instruments, not operator
state, so a restart starts with the ``--config`` profiles alone. It decides; it applies nothing to HTTP: the
middleware in :mod:`gateway.http.faults` and the hooks of :class:`gateway.core.webhooks.WebhookSender` do.

**Deterministic** means: a profile's decisions depend only on its ``seed``, its ``name``, the calling partner and
a counter of that partner's requests matched by the profile (0, 1, 2… from the profile's creation), never on wall
time, on other partners' traffic or on other profiles. The same sequence of requests from a partner gives the same
faults, whatever the timing; re-creating a profile restarts its counters. Webhook decisions are keyed by the event
id instead of a counter (the producers derive event ids deterministically), so an event gets the same faults
whatever the delivery order. Concurrent requests of one partner are counted in the order they reach the gateway.
"""

from __future__ import annotations

import fnmatch
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gateway.core.errors import Conflict, NotFound
from gateway.core.ids import partner_public_id
from gateway.core.webhooks import OutboxRow, WebhookFault
from gateway.services.camara.areas import to_area
from gateway.wire.camara.areas import Circle
from gateway.wire.faults import (
    FaultProfile,
    FaultProfileCreate,
    HttpFaults,
    Latency,
    NetworkFault,
    NetworkFaultCreate,
    WebhookFaults,
)
from gateway.wire.geo import Point
from simulator.world import World

MAX_PROFILES = 100
"""Profiles active at once (each request walks them)."""

Injected = Callable[[str, str], None]
"""Listener of injected faults: ``(kind, route)``; the metrics count them."""


@dataclass(frozen=True)
class HttpDecision:
    """What to do to one partner request: wait, then drop the connection, answer an error, or serve it."""

    delay_s: float = 0.0
    drop: bool = False
    status: int | None = None
    """Error status to answer instead of serving the request."""
    retry_after_s: int | None = None
    profile: str | None = None
    """The profile that decided the drop or error."""

    @property
    def none(self) -> bool:
        """Whether nothing is injected."""
        return self.delay_s <= 0 and not self.drop and self.status is None


NO_FAULT = HttpDecision()


def _glob(patterns: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


def draw_latency_ms(latency: Latency, rng: random.Random) -> float:
    """One latency draw (ms), clamped to [0, 60 000]."""
    if latency.distribution == "fixed":
        value = latency.ms or 0.0
    elif latency.distribution == "uniform":
        value = rng.uniform(latency.min_ms or 0.0, latency.max_ms or 0.0)
    elif latency.distribution == "normal":
        value = rng.gauss(latency.mean_ms or 0.0, latency.stddev_ms or 0.0)
    else:
        mean = latency.mean_ms or 0.0
        value = rng.expovariate(1.0 / mean) if mean > 0 else 0.0
    return min(max(value, 0.0), 60_000.0)


@dataclass
class _Profile:
    """An active profile with its compiled globs and counters."""

    spec: FaultProfileCreate
    routes: re.Pattern[str] | None
    sinks: re.Pattern[str] | None
    counters: dict[str, int] = field(default_factory=dict)
    decisions: int = 0
    injected: int = 0

    @classmethod
    def of(cls, spec: FaultProfileCreate) -> _Profile:
        return cls(spec, _glob(spec.http.routes) if spec.http is not None else None,
                   _glob(spec.webhooks.sinks) if spec.webhooks is not None else None)

    def rng(self, partner: str, key: str | int) -> random.Random:
        # Seeding with a str is stable across runs and platforms (sha512 of the text), unlike hash().
        return random.Random(f"opsim-faults/{self.spec.seed}/{self.spec.name}/{partner}/{key}")

    def view(self) -> FaultProfile:
        return FaultProfile.model_validate({**self.spec.model_dump(), "decisions": self.decisions,
                                            "injected": self.injected})


def _decide_http(http: HttpFaults, rng: random.Random) -> tuple[float, bool, int | None, int | None]:
    """(delay in s, drop, status, retry after) of one request; the draws come in a fixed order."""
    u = rng.random()
    drop = u < http.drop_probability
    status = retry_after = None
    if not drop:
        edge = http.drop_probability
        for err in http.errors:
            edge += err.probability
            if u < edge:
                status = err.status
                retry_after = (err.retry_after_s if err.retry_after_s is not None else 1) if status == 429 else None
                break
    delay = 0.0
    if http.latency is not None and rng.random() < http.latency.probability:
        delay = draw_latency_ms(http.latency, rng) / 1000.0
    return delay, drop, status, retry_after


class FaultService:
    """The active fault profiles and the network faults of one served operator (see the module docstring)."""

    def __init__(self, world: World, profiles: tuple[FaultProfileCreate, ...] = ()) -> None:
        self.world = world
        self._profiles: dict[str, _Profile] = {}
        self._network: list[NetworkFault] = []
        self._listeners: list[Injected] = []
        for spec in profiles:
            self.add(spec)

    # -- profiles ------------------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """Whether any profile is active (no profile: requests pay one attribute read)."""
        return bool(self._profiles)

    def on_injected(self, fn: Injected) -> None:
        """Call ``fn(kind, route)`` for every fault injected."""
        self._listeners.append(fn)

    def add(self, spec: FaultProfileCreate) -> FaultProfile:
        """Activate a profile (409 when one of that name is active)."""
        if spec.name in self._profiles:
            raise Conflict(f"A fault profile named {spec.name} already exists.")
        if len(self._profiles) >= MAX_PROFILES:
            raise Conflict(f"At most {MAX_PROFILES} fault profiles may be active.")
        profile = self._profiles[spec.name] = _Profile.of(spec)
        return profile.view()

    def profiles(self) -> list[FaultProfile]:
        """Active profiles, in evaluation order."""
        return [p.view() for p in self._profiles.values()]

    def get(self, name: str) -> FaultProfile:
        """One active profile (404 when none has that name)."""
        profile = self._profiles.get(name)
        if profile is None:
            raise NotFound(f"No fault profile named {name}.")
        return profile.view()

    def remove(self, name: str) -> None:
        """Deactivate a profile (404 when none has that name)."""
        if self._profiles.pop(name, None) is None:
            raise NotFound(f"No fault profile named {name}.")

    def clear(self) -> int:
        """Deactivate every profile; returns how many there were."""
        n = len(self._profiles)
        self._profiles.clear()
        return n

    def injected(self, kind: str, route: str) -> None:
        """Tell the listeners a fault of ``kind`` was injected on ``route``."""
        for fn in self._listeners:
            fn(kind, route)

    def http(self, partner: str | None, path: str, route: str) -> HttpDecision:
        """The faults of the next request of ``partner`` (wire id, ``None`` when unknown) to ``path``.

        Every matching profile draws (and counts the request); latencies add up, the first drop or error wins.
        """
        delay, drop, status, retry_after, decided_by = 0.0, False, None, None, None
        who = partner or "-"
        for profile in self._profiles.values():
            spec = profile.spec
            if spec.http is None or profile.routes is None or (spec.partner is not None and spec.partner != partner):
                continue
            if profile.routes.fullmatch(path) is None:
                continue
            n = profile.counters.get(who, 0)
            profile.counters[who] = n + 1
            profile.decisions += 1
            d, dr, st, ra = _decide_http(spec.http, profile.rng(who, n))
            if d > 0:
                profile.injected += 1
                self.injected("latency", route)
            delay += d
            if decided_by is None and (dr or st is not None):
                drop, status, retry_after, decided_by = dr, st, ra, spec.name
                profile.injected += 1
                self.injected("drop" if dr else f"error_{st}", route)
        if delay <= 0 and decided_by is None:
            return NO_FAULT
        return HttpDecision(delay, drop, status, retry_after, decided_by)

    def decide(self, row: OutboxRow) -> WebhookFault | None:
        """The faults of an event on its way to its sink, drawn from its id (the sender's hook)."""
        if not self._profiles:
            return None
        partner = partner_public_id(row.partner_id)
        delay_s, duplicate, reorder, drop = 0.0, False, False, False
        for profile in self._profiles.values():
            spec = profile.spec
            hooks: WebhookFaults | None = spec.webhooks
            if hooks is None or profile.sinks is None or (spec.partner is not None and spec.partner != partner):
                continue
            if profile.sinks.fullmatch(row.sink) is None:
                continue
            rng = profile.rng(partner, row.event_id)
            u = [rng.random() for _ in range(4)]  # fixed order: delay, duplicate, reorder, drop-then-retry
            if u[0] < hooks.delay_probability:
                delay_s = max(delay_s, hooks.delay_s)
            duplicate |= u[1] < hooks.duplicate_probability
            reorder |= u[2] < hooks.reorder_probability
            drop |= u[3] < hooks.drop_then_retry_probability
        if not (delay_s > 0 or duplicate or reorder or drop):
            return None
        return WebhookFault(delay_s=delay_s, duplicate=duplicate, reorder=reorder, drop_then_retry=drop)

    def applied(self, kind: str, row: OutboxRow) -> None:
        """The sender applied a webhook fault (the sender's hook): counted by the metrics as route ``webhook``."""
        self.injected(kind, "webhook")

    # -- network faults ------------------------------------------------------------------------------------
    def add_network(self, spec: NetworkFaultCreate) -> NetworkFault:
        """Apply a network fault to the world from now for ``spec.duration_s`` simulated seconds."""
        world = self.world
        start = world.clock.now
        end = start + timedelta(seconds=spec.duration_s)
        fault_id = f"nft_{len(self._network) + 1}"
        cells: list[str] | None = None
        if spec.kind == "DEVICE_UNREACHABLE":
            assert spec.phone_number is not None  # the wire model insists
            world.devices.take_down(world.find_subscriber(spec.phone_number), end)
        elif spec.kind == "CELL_OUTAGE":
            assert spec.area is not None
            circle = Circle(area_type="CIRCLE", center=Point(latitude=spec.area.center.latitude,
                                                             longitude=spec.area.center.longitude),
                            radius=spec.area.radius)
            down = world.area_cells(to_area(world, circle))
            world.devices.cell_outage(down, start, end)
            cells = [world.cell_id(int(c)) for c in down.tolist()]
        else:
            assert spec.delay_s is not None
            world.devices.add_sms_delay(start, end, spec.delay_s)
        fault = NetworkFault(id=fault_id, kind=spec.kind, start=start, end=end, phone_number=spec.phone_number,
                             area=spec.area, cells=cells, delay_s=spec.delay_s)
        self._network.append(fault)
        self.injected(f"network_{spec.kind.lower()}", "world")
        return fault

    def network(self, now: datetime | None = None) -> list[NetworkFault]:
        """Network faults not over at ``now`` (default: the world's now), oldest first."""
        at = now or self.world.clock.now
        return [f for f in self._network if f.end > at]

