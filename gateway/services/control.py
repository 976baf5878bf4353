"""The operator's control plane over the world: clock, pacing, subscriber admin, durability.

Owns the one ``asyncio.Lock`` that serialises every world mutation (the world is synchronous and not thread-safe;
all calls run on the event loop thread). The paced-clock loop takes it per wake-up; the HTTP layer holds it around
every route declared as changing the world, so the methods here that change the world expect their caller to hold
it and never take it themselves (an ``asyncio.Lock`` is not re-entrant). Also owns that loop, clock
checkpoints and the admin journal (every world-changing admin operation is applied through
:mod:`gateway.core.journal` and then recorded, so live application and replay are the same code), and the services'
part in a restore (:meth:`ControlPlane.on_restore`). It must not know about HTTP or wire models.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway.core.errors import Conflict, OutOfRange
from gateway.core.journal import Replay, RestoreReport, apply, check_world_options, restore
from gateway.core.settings import Settings
from gateway.core.store import Store
from gateway.wire.base import format_instant
from simulator.clock import MAX_INSTANT, ClockMode
from simulator.world import ConsentChange, ConsentState, GatheringInfo, Subscriber, SubscriberLocation, World

log = logging.getLogger("opsim.gateway")

MAX_ADVANCE = timedelta(days=366)
"""Longest single advance: beyond this a request is surely a typo, and it would hold the world for long."""


def advance_span(seconds: float) -> timedelta:
    """An advance given in seconds as a duration (400 ``OUT_OF_RANGE`` beyond :data:`MAX_ADVANCE`).

    Checked before converting: ``timedelta(seconds=1e308)`` itself overflows.
    """
    if not seconds <= MAX_ADVANCE.total_seconds():
        raise _too_far()
    return timedelta(seconds=seconds)


def _too_far() -> OutOfRange:
    return OutOfRange(f"Cannot advance by more than {MAX_ADVANCE.days} days at once.")


def normalise_msisdn(msisdn: str) -> str:
    """E.164 with its ``+`` (paths may carry it URL-encoded or drop it)."""
    msisdn = msisdn.strip()
    return msisdn if msisdn.startswith("+") else "+" + msisdn


@dataclass(frozen=True, slots=True)
class SubscriberFacts:
    """Everything the operator knows of one subscriber: profile, location, consent state and history."""

    profile: Subscriber
    location: SubscriberLocation
    consent: ConsentState
    consent_history: list[ConsentChange]


class ControlPlane:
    """Journaled access to the world for the admin API and the pacer (callers of the changing methods hold
    :attr:`lock`)."""

    def __init__(self, world: World, store: Store, settings: Settings) -> None:
        self.world = world
        self.store = store
        self.settings = settings
        self.lock = asyncio.Lock()
        self.restored: RestoreReport | None = None
        self._last_checkpoint: datetime | None = None
        self._restorers: list[tuple[Callable[[], Iterable[Replay]], Callable[[], None]]] = []
        self.last_wake_ticks = 0
        """Ticks the latest pacer wake-up ran (at most ``Settings.pacer_max_ticks``)."""

    # -- lifecycle -------------------------------------------------------------------------------------------
    def on_restore(self, replay: Callable[[], Iterable[Replay]], resume: Callable[[], None]) -> None:
        """Have a service take part in :meth:`start`: ``replay()`` is called once the store is open and before
        the world is replayed (it schedules on the clock what its clock callbacks did and returns what its partner
        requests did, see :func:`gateway.core.journal.restore`); ``resume()`` once the world is restored (it puts its
        pending work back on the clock)."""
        self._restorers.append((replay, resume))

    def start(self) -> RestoreReport:
        """Open the store, check it belongs to this world, replay the journal, apply the start clock mode."""
        self.store.open()
        try:
            check_world_options(self.store, self.world.config)
            replays = [r for replay, _ in self._restorers for r in replay()]
            self.restored = restore(self.store, self.world, replays)
            for _, resume in self._restorers:
                resume()
        except BaseException:
            self.store.close()
            raise
        if self.settings.clock_mode is not None:
            self.world.clock.set_mode(self.settings.clock_mode, self.settings.pace_factor, wall=time.monotonic())
        self.checkpoint()
        return self.restored

    def stop(self) -> None:
        """Save the clock instant and close the store."""
        try:
            self.checkpoint()
        finally:
            self.store.close()

    def checkpoint(self) -> None:
        """Save the current sim instant, the point a restart comes back to."""
        now = self.world.clock.now
        if now != self._last_checkpoint:
            self.store.save_clock(now)
            self._last_checkpoint = now

    async def pacer(self) -> None:
        """Background loop of paced mode: catch the world up with ``factor`` × wall time (runs for the app's life)."""
        interval = self.settings.pacer_interval_s
        last_save = time.monotonic()
        while True:
            await asyncio.sleep(interval)  # wall time: this *is* the pacing
            try:
                await self.pace_once(time.monotonic())
                if time.monotonic() - last_save >= self.settings.checkpoint_interval_s:
                    self.checkpoint()
                    last_save = time.monotonic()
            except Exception:  # keep pacing: one bad tick must not freeze the operator's clock for good
                log.exception("paced clock step failed")

    async def pace_once(self, wall: float) -> int:
        """One pacer wake-up at monotonic ``wall``: run towards the paced target, at most
        ``Settings.pacer_max_ticks`` ticks; returns the ticks run (kept in :attr:`last_wake_ticks`).

        When the target is further ahead than that, the world cannot keep up with the factor: it runs as fast as
        it can and the pace is re-anchored where it stopped, so no backlog builds up and the lock is released
        between wake-ups (admin calls, including switching the mode, wait for one wake-up at most).
        """
        clock = self.world.clock
        self.last_wake_ticks = 0
        if clock.mode != "paced" or clock.paused:
            return 0
        target = clock.paced_target(wall)
        if target <= clock.now:
            return 0
        async with self.lock:
            if clock.mode != "paced" or clock.paused:  # switched while this wake-up waited for the lock
                return 0
            step = timedelta(seconds=self.world.config.tick_seconds)
            limit = clock.now + step * max(1, self.settings.pacer_max_ticks)
            behind = target > limit
            ticks = await self._run_to(min(target, limit))
            if behind:
                clock.resume(wall=wall)  # re-anchor: the pace restarts from here instead of chasing the backlog
        self.last_wake_ticks = ticks
        return ticks

    async def _run_to(self, target: datetime) -> int:
        # One tick at a time with a yield in between, so /health and reads stay responsive during long advances.
        step = timedelta(seconds=self.world.config.tick_seconds)
        steps = 0
        while self.world.clock.now < target:
            self.world.run_until(min(target, self.world.clock.now + step))
            steps += 1
            await asyncio.sleep(0)
        self.world.run_until(target)  # equal instants: runs callbacks due exactly at target
        return steps

    # -- clock -----------------------------------------------------------------------------------------------
    def clock_state(self) -> dict[str, Any]:
        """Now, mode, factor and pause state of the clock."""
        clock = self.world.clock
        return {"now": clock.now, "mode": clock.mode, "factor": clock.factor, "paused": clock.paused,
                "tick_seconds": self.world.config.tick_seconds}

    async def advance_to(self, target: datetime) -> None:
        """Run the world to ``target`` (manual mode only; the past is refused with 409).

        The caller holds :attr:`lock` throughout: the world yields between ticks, and nothing else may change it
        meanwhile (the pacer waits for the lock)."""
        now = self.world.clock.now
        if self.world.clock.mode != "manual":
            raise Conflict("The clock is paced; switch it to manual mode before advancing it.")
        if target < now:
            raise Conflict(f"Cannot move the clock back from {format_instant(now)} to {format_instant(target)}.")
        if target - now > MAX_ADVANCE:
            raise _too_far()
        if target >= MAX_INSTANT:  # refused before the first tick, or the world would stop part-way
            raise OutOfRange(f"Cannot advance the clock to or past {format_instant(MAX_INSTANT)}.")
        await self._run_to(target)
        self.store.append_journal(self.world.clock.now, "advance", {"to": format_instant(target)})
        self._last_checkpoint = self.world.clock.now

    async def advance_by(self, delta: timedelta) -> None:
        """Run the world for ``delta`` (manual mode only; 400 ``OUT_OF_RANGE`` beyond :data:`MAX_ADVANCE`)."""
        if delta > MAX_ADVANCE:  # before adding: now + timedelta.max overflows
            raise _too_far()
        await self.advance_to(self.world.clock.now + delta)

    async def set_mode(self, mode: ClockMode, factor: float | None) -> None:
        """Switch between manual and paced (pace anchored at this wall instant)."""
        self.world.clock.set_mode(mode, factor, wall=time.monotonic())
        self.checkpoint()

    async def pause(self) -> None:
        """Stop paced time."""
        self.world.clock.pause()
        self.checkpoint()

    async def resume(self) -> None:
        """Resume paced time from now."""
        self.world.clock.resume(wall=time.monotonic())

    # -- subscribers -----------------------------------------------------------------------------------------
    async def _apply(self, op: str, args: dict[str, Any]) -> None:
        apply(self.world, op, args)  # raises before anything is recorded: no partial write
        self.store.append_journal(self.world.clock.now, op, args)
        self._last_checkpoint = self.world.clock.now

    def find(self, msisdn: str) -> int:
        """Index of a subscriber (404 when unknown)."""
        return self.world.find_subscriber(normalise_msisdn(msisdn))

    def subscriber(self, msisdn: str) -> SubscriberFacts:
        """Operator-side view: profile, location, consent state and history."""
        i = self.find(msisdn)
        return SubscriberFacts(self.world.subscriber_profile(i), self.world.locate(i), self.world.consent_state(i),
                               self.world.consent_history(i))

    async def set_consent(self, msisdn: str, purpose: str, channel: str | None, granted: bool) -> None:
        """Grant or withdraw a subscriber's consent now."""
        self.find(msisdn)
        await self._apply("set_consent", {"msisdn": normalise_msisdn(msisdn), "purpose": purpose,
                                          "channel": channel, "granted": granted})

    async def pin(self, msisdn: str, latitude: float, longitude: float) -> None:
        """Hold a subscriber at a place."""
        self.find(msisdn)
        await self._apply("pin", {"msisdn": normalise_msisdn(msisdn), "latitude": latitude, "longitude": longitude})

    async def release(self, msisdn: str) -> None:
        """Let a pinned subscriber go back to their routine."""
        self.find(msisdn)
        await self._apply("release", {"msisdn": normalise_msisdn(msisdn)})

    async def add_test_subscriber(self, msisdn: str, profile: dict[str, Any], consent: dict[str, dict[str, bool]],
                                  latitude: float | None, longitude: float | None) -> None:
        """Add an integrator's QA phone."""
        await self._apply("add_test_subscriber", {"msisdn": normalise_msisdn(msisdn), "profile": profile,
                                                  "consent": consent, "latitude": latitude,
                                                  "longitude": longitude})

    async def sim_swap(self, msisdn: str) -> None:
        """Give a subscriber a new SIM now (journaled)."""
        self.find(msisdn)
        await self._apply("sim_swap", {"msisdn": normalise_msisdn(msisdn)})

    async def add_gathering(self, name: str, start: datetime, end: datetime, *, place: str | None,
                            latitude: float | None, longitude: float | None, share: float | None,
                            count: int | None, arrive_before: timedelta) -> GatheringInfo:
        """Make people attend a place between two instants from now on (journaled); returns the gathering."""
        await self._apply("add_gathering", {"name": name, "start": format_instant(start), "end": format_instant(end),
                                            "place": place, "latitude": latitude, "longitude": longitude,
                                            "share": share, "count": count,
                                            "arrive_before_s": arrive_before.total_seconds()})
        return self.world.gatherings[-1]  # the caller holds the lock: nothing else added one since

    def inbox(self, msisdn: str) -> list[dict[str, Any]]:
        """What a subscriber's device received."""
        return self.world.inbox(self.find(msisdn))
