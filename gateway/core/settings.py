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

from gateway.wire.faults import FaultProfileCreate

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


MIN_RADIUS_M = 100.0
"""Default of :attr:`Settings.min_radius_m`."""

DEFAULT_MODERATION_TERMS: tuple[str, ...] = (
    "casino", "bet now", "guaranteed win", "crypto giveaway", "free money", "loan approved", "click here to claim",
)
"""Terms a campaign text may not contain (case-insensitive, whole words): a stand-in for an operator's list."""


@dataclass(frozen=True)
class CampaignSettings:
    """Operator rules of targeted campaigns (issue 4). Every field has a documented default."""

    min_audience: int = 50
    """A campaign whose estimated reachable audience is under this is refused (422 AUDIENCE_TOO_SMALL)."""
    privacy_threshold: int = 10
    """Report and estimate counts from 1 to this minus one are withheld (null, listed in ``withheld``); journeys'
    reports too. Apart from :attr:`Settings.privacy_threshold` (CAMARA aggregates about everyone in an area, zero
    withheld as well) on purpose: an operator may set the two apart."""
    max_radius_m: float = 50_000.0
    """Largest circle radius accepted."""
    quiet_start_hour: int = 21
    """Quiet hours start (subscriber's local time): no campaign message from this hour..."""
    quiet_end_hour: int = 8
    """...until this hour; held while the schedule is open, else suppressed QUIET_HOURS."""
    daily_cap: int = 1
    """Campaign messages per subscriber per local day, across all partners (operator cap)."""
    partner_daily_cap: int | None = None
    """Optional cap per subscriber per local day for each partner (None: only the operator cap applies)."""
    moderation_terms: tuple[str, ...] = DEFAULT_MODERATION_TERMS
    """Texts containing one of these are REJECTED with a reason."""
    max_campaigns_listed: int = 100
    """Largest page of ``GET /campaigns`` and of the admin deliveries listing."""


@dataclass(frozen=True)
class SimSwapSettings:
    """Operator rules of the SIM swap APIs (issue 6)."""

    monitored_days: int | None = None
    """How far back SIM changes may be disclosed (local regulation); ``None``: no limit. Older changes read as
    ``latestSimChange: null`` with ``monitoredPeriod``; a ``maxAge`` beyond it is ``400 OUT_OF_RANGE``."""


@dataclass(frozen=True)
class VerifySettings:
    """Operator rules of authentication codes ``/verify/v1`` (issue 6). Times are simulated."""

    code_length: int = 6
    """Digits of a code."""
    code_ttl_s: int = 600
    """A verification expires this long after it was created."""
    max_sends: int = 5
    """Sends (the first one included) of one verification."""
    max_checks: int = 5
    """Checks of one verification; the next one is ``MAX_ATTEMPTS``."""
    push_fallback_s: int = 30
    """``AUTO``: when the push is not delivered within this, the code goes by SMS."""
    number_limit: int = 5
    """New verifications per phone number per ``limit_window_s`` (all partners)."""
    partner_limit: int | None = 1000
    """New verifications per partner per ``limit_window_s`` (``None``: unlimited)."""
    limit_window_s: int = 3600
    """Window of the two limits above (sliding)."""
    fraud_window_s: int = 300
    """Window of the fraud guards."""
    sequential_span: int = 100
    """Numbers this close (numerically) to one another count as sequential."""
    sequential_burst: int = 5
    """A partner's verifications to this many distinct numbers in one span within the window is fraud."""
    roaming_burst: int = 5
    """A partner's verifications to this many distinct foreign-roaming numbers within the window is fraud."""
    sim_swap_block_hours: int | None = None
    """Refuse to send to a SIM changed within this many hours (``None``: off; a request may ask for it)."""


@dataclass(frozen=True)
class MessageSettings:
    """Operator rules of direct messages ``/messages/v1`` (issue 6). Times are simulated."""

    default_ttl_s: int = 86_400
    """Time to live of a message that gives none."""
    max_ttl_s: int = 7 * 86_400
    """Longest time to live accepted."""
    auth_default_ttl_s: int = 300
    """Time to live of an ``AUTHENTICATION`` message that gives none."""
    auth_max_ttl_s: int = 900
    """Longest time to live of an ``AUTHENTICATION`` message (codes are short-lived)."""
    push_fallback_s: int = 30
    """``PUSH_THEN_SMS``: when the push is not delivered within this, the message goes by SMS."""
    retry_s: int = 300
    """An unreachable device is tried again this often until the message expires."""


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
    pacer_max_ticks: int = 5
    """Most world ticks one pacer wake-up runs. A pace the world cannot keep up with then runs as fast as it can
    (the pace is re-anchored rather than letting a backlog build up), and the clock lock is free between wake-ups
    so admin calls answer at once."""
    history_days: int | None = 8
    """Simulated days of presence history kept (``visitors``, ``VISITED`` campaigns, past region device counts and
    population density, whose forecasts read the same weekday of last week); older history is dropped so memory
    stays flat over long runs. ``None`` keeps it all."""
    inbox_days: int | None = 8
    """Simulated days of device inboxes kept: messages received more than this many days before the current local
    day began are forgotten at local midnight (their records stay in SQLite), so a long run of codes and messages
    stays flat in memory. ``None`` keeps them all."""
    group_commit_linger_ms: float = 1.0
    """How long the commit of a group of world-changing requests' records (a push, say) waits for more requests to
    join it, when at least :attr:`group_commit_siblings` are in flight (0: never; each waits for the end of its turn
    of the event loop only). Under load, fewer and larger commits; a lone request never waits."""
    group_commit_siblings: int = 8
    """World-changing requests in flight (the waiting one included) from which a group commit lingers."""
    checkpoint_interval_s: float = 5.0
    """How often, in wall time, the clock instant is saved while the clock is paced."""
    allow_http_loopback_sinks: bool = True
    """Whether webhook sinks on plain-HTTP loopback addresses are accepted (tests and local demos)."""
    wall_clock: Callable[[], float] = epoch_seconds
    """Source of wall time for credential expiry; tests inject a controllable one."""
    access_log: bool = True
    """Log one line per request (method, route, status, duration, correlator)."""
    webhook_timeout_s: float = 5.0
    """Wall-clock timeout of one webhook POST; a timeout counts as a failed attempt."""
    webhook_backoff_base_s: float = 1.0
    """First retry delay of a failed webhook (wall time); doubles per attempt, with jitter."""
    webhook_backoff_max_s: float = 300.0
    """Longest delay between two attempts of one webhook."""
    webhook_max_age_s: float = 86_400.0
    """A webhook still undelivered this long (wall time) after it was stored is dead-lettered."""
    webhook_concurrency: int = 32
    """Subscriptions whose webhooks are sent in parallel (events of one subscription go in order)."""
    webhook_poll_s: float = 0.05
    """How often, in wall time, the webhook sender looks for due retries."""
    min_radius_m: float = MIN_RADIUS_M
    """The operator's minimum circle radius, one rule for every API that takes a circle: location-verification
    (``422 LOCATION_VERIFICATION.INVALID_AREA``), geofencing-subscriptions (``422
    GEOFENCING_SUBSCRIPTIONS.INVALID_AREA``) and campaign targeting and estimates (``422 CAMPAIGNS.INVALID_AREA``).
    The network sees cells: below a cell's resolution a radius only pretends to precision."""
    privacy_threshold: int = 10
    """Region device counts and population density cells under this many devices are suppressed (zero included);
    campaign and journey reports have their own :attr:`CampaignSettings.privacy_threshold`."""
    ciba_request_lifetime_s: int = 300
    """Wall-clock lifetime of a CIBA authentication request (``expires_in``)."""
    ciba_poll_interval_s: int = 0
    """Minimum wall seconds between two token polls of one CIBA request (``interval``; 0 = no limit)."""
    campaigns: CampaignSettings = field(default_factory=CampaignSettings)
    """Operator rules of targeted campaigns (minimum audience, quiet hours, caps, moderation...)."""
    sim_swap: SimSwapSettings = field(default_factory=SimSwapSettings)
    """Operator rules of the SIM swap APIs (monitored period)."""
    verify: VerifySettings = field(default_factory=VerifySettings)
    """Operator rules of authentication codes (lifetime, attempts, limits, fraud guards)."""
    messages: MessageSettings = field(default_factory=MessageSettings)
    """Operator rules of direct messages (time to live, fallback, retries)."""
    faults: tuple[FaultProfileCreate, ...] = ()
    """Fault profiles active from start-up (as ``POST /admin/v1/faults`` takes them); none: no fault injection."""

    def __post_init__(self) -> None:
        for name in ("history_days", "inbox_days"):
            days = getattr(self, name)
            if days is not None and days < 1:
                raise ValueError(f"{name} must be at least 1 (null keeps everything)")
        if not self.group_commit_linger_ms >= 0:
            raise ValueError("group_commit_linger_ms must be 0 or more")
        if self.group_commit_siblings < 1:
            raise ValueError("group_commit_siblings must be at least 1")
