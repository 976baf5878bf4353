"""Gateway settings: everything about *serving* the world, none of the world's own options.

Owns the defaults of the HTTP server, the SQLite path, credentials lifetimes, body limits and clock pacing.
It must not build a world or open files: it is plain data, so tests can make one in a line.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

ClockModeSetting = Literal["manual", "paced"]

ADMIN_TOKEN_ENV = "OPSIM_ADMIN_TOKEN"


def epoch_seconds() -> float:
    """Wall-clock seconds since the Unix epoch, used only for credential lifetimes.

    Token expiry is security, not simulation, and tokens are persisted across restarts, so a monotonic reading
    (meaningless after a reboot) will not do. This is the one sanctioned wall-clock read of the gateway; domain
    time is always ``world.clock.now``.
    """
    return time.time()  # noqa: TID251 - credential lifetimes are wall time by design (see docstring)


def _random_admin_token() -> str:
    return "adm_" + secrets.token_urlsafe(24)


def default_admin_token() -> str:
    """``OPSIM_ADMIN_TOKEN`` when set, else a fresh random token."""
    return os.environ.get(ADMIN_TOKEN_ENV) or _random_admin_token()


@dataclass(frozen=True)
class Settings:
    """How the gateway serves a world. Every field has a documented default."""

    host: str = "127.0.0.1"
    """Interface to bind; loopback by default, the simulator is not meant to face the internet."""
    port: int = 8080
    """TCP port (0 picks a free one)."""
    db_path: Path | str = Path("opsim.db")
    """SQLite database (WAL). ``":memory:"`` keeps nothing across restarts."""
    admin_token: str = field(default_factory=default_admin_token)
    """The only credential the ``/admin/v1`` API accepts."""
    token_lifetime_s: int = 3600
    """Lifetime of OAuth access tokens, in wall-clock seconds."""
    body_limit_bytes: int = 1_048_576
    """Largest accepted request body; larger bodies are ``413``."""
    clock_mode: ClockModeSetting | None = None
    """Clock mode to apply at start-up; ``None`` leaves the world's (or the restored) mode alone."""
    pace_factor: float = 60.0
    """Simulated seconds per wall-clock second in paced mode."""
    pacer_interval_s: float = 0.1
    """How often, in wall time, the paced clock catches up with its target."""
    checkpoint_interval_s: float = 5.0
    """How often, in wall time, the clock instant is saved while the clock is paced."""
    allow_http_loopback_sinks: bool = True
    """Whether webhook sinks on plain-HTTP loopback addresses are accepted (tests and local demos)."""
    wall_clock: Callable[[], float] = epoch_seconds
    """Source of wall time for credential expiry; tests inject a controllable one."""
    access_log: bool = True
    """Log one line per request (method, route, status, duration, correlator)."""
