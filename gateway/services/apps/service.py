"""Registering and reading partner apps, and the simulated installs of each (owner of the install tables).

Owns :class:`AppService`: an app registered by a partner is stored, then its install table is drawn from the world
(:func:`~gateway.services.apps.installs.draw_app`) and kept in memory; on every tick the app's
:class:`~gateway.services.apps.lifecycle.Lifecycle` moves it on (installs, uninstalls, token refreshes, permission
changes). After a restart the tables are drawn again from the same seed, the simulated days replayed and the
recorded uninstalls and permission changes applied where they happened, so they are the same. It also hands the app
events of each tick (:class:`~gateway.services.apps.events.AppEventBatch`, produced by
:mod:`gateway.services.apps.usage`) to its listeners (the CDP). It must not know about HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from gateway.core.errors import NotFound
from gateway.services.apps.events import AppEventBatch
from gateway.services.apps.installs import InstallTable, PermissionChange, TokenCodec, draw_app, install_propensity
from gateway.services.apps.lifecycle import Changes, Lifecycle
from gateway.services.apps.model import AppRecord, AppSpec, InstallInfo, app_seq
from gateway.services.apps.repository import AppRepository
from simulator.clock import from_micros, to_micros
from simulator.world import World

GENUINE_TOKENS = 1 << 17
"""Tokens remembered as genuine (dropped all at once past this many)."""


class AppService:
    """The apps of every partner and their install tables."""

    def __init__(self, world: World, repository: AppRepository, now: Callable[[], datetime]) -> None:
        self.world = world
        self.repository = repository
        self._now = now
        self.codec = TokenCodec(world)
        self._apps: dict[int, AppRecord] = {}
        self._installs: dict[int, InstallTable] = {}
        self._lifecycles: dict[int, Lifecycle] = {}
        self._changes: dict[int, Changes] = {}
        self._listeners: list[Callable[[AppEventBatch], object]] = []
        # Tokens found genuine before → (app seq, row, generation) they name: checking one costs keyed hashes, and
        # a sender sends to the same tokens again and again. Whether it is still *current* is checked every time.
        self._genuine: dict[str, tuple[int, int, int]] = {}
        world.on_step(self.on_step)

    def resume(self) -> None:
        """Load the stored apps and rebuild their install tables as they are now (the store is open, the world
        restored): drawn again, the simulated days since registration replayed, operator uninstalls applied."""
        self._apps.clear()
        self._installs.clear()
        self._lifecycles.clear()
        self._changes.clear()
        tick = self.world.tick_index
        for seq, partner_id, spec, created_us, population in self.repository.all():
            self._add(AppRecord(seq, partner_id, spec, from_micros(created_us)), population)
            self._lifecycles[seq].catch_up(tick, self.repository.uninstalled(seq),
                                           self.repository.permission_changes(seq))

    def _add(self, app: AppRecord, population: int | None) -> None:
        self._apps[app.seq] = app
        table, shares = draw_app(self.world, app.seq, app.spec, population)
        self._installs[app.seq] = table
        # New installs come from the world's base population only, so test subscribers added later (replayed
        # from the journal before the apps come back) change nothing in a restart.
        propensity = install_propensity(self.world, app.spec, self.world.base_size)
        self._lifecycles[app.seq] = Lifecycle(self.world, table, propensity, shares, to_micros(app.created_at))

    def on_step(self, now: datetime) -> None:
        """Move every app's installs on by one tick (their changes are kept for this tick's app events)."""
        k = self.world.tick_index
        self._changes = {seq: lifecycle.step(k) for seq, lifecycle in self._lifecycles.items()}

    def changes(self, app_seq: int) -> Changes:
        """The installs and uninstalls of an app applied by the current tick."""
        return self._changes.get(app_seq) or Changes.none()

    def all(self) -> Sequence[AppRecord]:
        """Every app, oldest first."""
        return list(self._apps.values())

    def add_event_listener(self, callback: Callable[[AppEventBatch], object]) -> None:
        """Have ``callback`` receive every app's events, one batch per app and tick with events, in order of
        ``(tick, app)``; within an app, ``seq`` increases from batch to batch without gaps."""
        self._listeners.append(callback)

    def publish(self, batch: AppEventBatch) -> None:
        """Hand one batch to every listener (called by the app usage of the tick)."""
        for callback in self._listeners:
            callback(batch)

    def register(self, partner_id: int, spec: AppSpec) -> AppRecord:
        """Store a new app and let the simulated subscribers install it."""
        now = self._now()
        population = self.world.subscriber_count
        seq = self.repository.insert(partner_id, spec, to_micros(now), population)
        app = AppRecord(seq, partner_id, spec, now)
        self._add(app, population)
        return app

    def list(self, partner_id: int) -> list[AppRecord]:
        """The partner's apps, oldest first."""
        return [a for a in self._apps.values() if a.partner_id == partner_id]

    def find(self, app_id: str) -> AppRecord | None:
        """Any partner's app by id (``None`` when unknown)."""
        seq = app_seq(app_id)
        return None if seq is None else self._apps.get(seq)

    def by_seq(self, seq: int) -> AppRecord:
        """A stored app by its counter."""
        return self._apps[seq]

    def get(self, partner_id: int, app_id: str) -> AppRecord:
        """One of the partner's apps; 404 when unknown or another partner's."""
        app = self.find(app_id)
        if app is None or app.partner_id != partner_id:
            raise NotFound(f"No app {app_id}.")
        return app

    def installs(self, app: AppRecord) -> InstallTable:
        """The app's install table."""
        return self._installs[app.seq]

    def installed_count(self, app: AppRecord) -> int:
        """Devices that have the app now."""
        return int(self._installs[app.seq].installed.sum())

    def install(self, app: AppRecord, row: int) -> InstallInfo:
        """One decoded install row."""
        return self.codec.info(self._installs[app.seq], row)

    def install_by_id(self, app: AppRecord, installation_id: str) -> InstallInfo:
        """The install an installation id names; 404 when it is not one of the app's."""
        named = self.codec.parse_installation(installation_id)
        if named is None or named[0] != app.seq or named[1] >= self._installs[app.seq].size:
            raise NotFound(f"No installation {installation_id} of {app.id}.")
        return self.install(app, named[1])

    def uninstall(self, app: AppRecord, row: int) -> None:
        """Remove the app from one device: its token is unregistered from now on."""
        table = self._installs[app.seq]
        if not table.installed[row]:
            return  # already gone: nothing to record (a restart would apply it where it did nothing)
        self.repository.uninstall(app.seq, row, to_micros(self._now()))
        table.installed[row] = False

    def set_permissions(self, app: AppRecord, row: int, change: PermissionChange) -> None:
        """Set permissions of one install now (recorded, so a restart applies it where it happened): the next send
        or trigger step sees them."""
        self.repository.change_permissions(app.seq, row, to_micros(self._now()), change)
        self._installs[app.seq].set_permissions(row, change)

    def current_row(self, app: AppRecord, token: str) -> int | None:
        """The install row whose *current* token is ``token`` (``None`` when stale, uninstalled or not the app's)."""
        table = self._installs[app.seq]
        known = self._genuine.get(token)
        if known is not None:
            app_seq, row, generation = known
            current = (app_seq == app.seq and row < table.size and bool(table.installed[row])
                       and int(table.generation[row]) == generation)
            return row if current else None
        named = self.codec.parse_installation(token.partition(":")[0])
        if named is None or named[0] != app.seq or named[1] >= table.size or not table.installed[named[1]]:
            return None
        row = named[1]
        generation = int(table.generation[row])
        if self.codec.token(app.seq, row, generation) != token:
            return None
        if len(self._genuine) >= GENUINE_TOKENS:
            self._genuine.clear()  # bounded memory; they are found again on use
        self._genuine[token] = (app.seq, row, generation)
        return row
