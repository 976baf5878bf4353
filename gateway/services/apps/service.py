"""Registering and reading partner apps, and the simulated installs of each (owner of the install tables).

Owns :class:`AppService`: an app registered by a partner is stored, then its install table is drawn from the world
(:func:`~gateway.services.apps.installs.draw_installs`) and kept in memory; after a restart the tables are drawn
again from the same seed and the recorded uninstalls applied, so they are the same. It must not know about HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import numpy as np

from gateway.core.errors import NotFound
from gateway.services.apps.installs import InstallTable, TokenCodec, draw_installs
from gateway.services.apps.model import AppRecord, AppSpec, InstallInfo, app_seq
from gateway.services.apps.repository import AppRepository
from simulator.clock import from_micros, to_micros
from simulator.world import World


class AppService:
    """The apps of every partner and their install tables."""

    def __init__(self, world: World, repository: AppRepository, now: Callable[[], datetime]) -> None:
        self.world = world
        self.repository = repository
        self._now = now
        self.codec = TokenCodec(world)
        self._apps: dict[int, AppRecord] = {}
        self._installs: dict[int, InstallTable] = {}

    def resume(self) -> None:
        """Load the stored apps and draw their install tables again (the store is open, the world restored)."""
        self._apps.clear()
        self._installs.clear()
        for seq, partner_id, spec, created_us in self.repository.all():
            self._add(AppRecord(seq, partner_id, spec, from_micros(created_us)))
            table = self._installs[seq]
            gone = self.repository.uninstalled(seq)
            table.installed[np.asarray(gone, dtype=np.int64)] = False

    def _add(self, app: AppRecord) -> None:
        self._apps[app.seq] = app
        self._installs[app.seq] = draw_installs(self.world, app.seq, app.spec)

    def register(self, partner_id: int, spec: AppSpec) -> AppRecord:
        """Store a new app and let the simulated subscribers install it."""
        now = self._now()
        seq = self.repository.insert(partner_id, spec, to_micros(now))
        app = AppRecord(seq, partner_id, spec, now)
        self._add(app)
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
        self.repository.uninstall(app.seq, row, to_micros(self._now()))
        self._installs[app.seq].installed[row] = False
