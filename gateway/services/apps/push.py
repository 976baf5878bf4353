"""The push server: FCM-compatible sends to simulated installs, held while a device is away, with the truth.

Owns :class:`PushService`: a send names an app (the FCM project) and a registration token; the token must be one of
that app's installed rows (else ``UNREGISTERED``, or ``SENDER_ID_MISMATCH`` for another app's token), within the
project's quota per simulated minute (``QUOTA_EXCEEDED`` with the seconds left in that minute). A reachable device
gets it now; an unreachable one (off, out of coverage, taken down by a fault) has it held until its TTL
(``android.ttl`` or ``apns-expiration``; four weeks by default) and delivered on the first tick it is reachable, or
expired. It lands in the device's inbox (channel ``APP_PUSH``, with the app id) and is *displayed* only when the
install allows notifications and the message carries one. Every accepted push is a row (:mod:`.repository`).
It must not know about HTTP.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from gateway.core.ids import PUSH_PREFIX, format_id, parse_public_id
from gateway.services.apps.model import AppRecord
from gateway.services.apps.repository import AppRepository
from gateway.services.apps.service import AppService
from gateway.wire.fcm import Message
from simulator.clock import from_micros, to_micros
from simulator.world import World

DEFAULT_TTL_S = 28 * 24 * 3600
"""FCM keeps a message for an unreachable device four weeks unless told otherwise."""
CHANNEL = "APP_PUSH"
"""Inbox channel of a partner app's push (the operator's own app uses ``PUSH``)."""
MINUTE_US = 60_000_000


class PushError(Exception):
    """A send refused with an FCM error: HTTP ``code``, canonical ``status`` and the FCM ``error_code``."""

    def __init__(self, code: int, status: str, error_code: str | None, message: str,
                 retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.code, self.status, self.error_code, self.message = code, status, error_code, message
        self.retry_after_s = retry_after_s


def unregistered() -> PushError:
    """The token is not (or no longer) an install of the app."""
    return PushError(404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found.")


@dataclass(frozen=True)
class PushTruth:
    """Operator-side truth of one push."""

    id: str
    app_id: str
    installation_id: str
    subscriber: int
    status: str
    displayed: bool
    created_at: datetime
    expires_at: datetime
    delivered_at: datetime | None


def _ttl_s(message: Message, platform: str, now_s: float) -> float:
    """How long the message may wait for the device (platform override, else the default)."""
    if platform == "ANDROID" and message.android is not None and message.android.ttl is not None:
        return float(message.android.ttl[:-1])
    if platform == "IOS" and message.apns is not None and message.apns.headers:
        expiration = message.apns.headers.get("apns-expiration")
        if expiration is not None:
            if not expiration.isdigit():
                raise PushError(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT",
                                "apns-expiration must be a UNIX epoch date in seconds.")
            value = int(expiration)
            return 0.0 if value == 0 else max(0.0, value - now_s)
    return float(DEFAULT_TTL_S)


def has_notification(message: Message, platform: str) -> bool:
    """Whether the message asks the OS to show something (else it is data only, handled silently by the app)."""
    if message.notification is not None and (message.notification.title or message.notification.body):
        return True
    if platform == "ANDROID" and message.android is not None and message.android.notification:
        return True
    if platform == "IOS" and message.apns is not None and message.apns.payload:
        aps = message.apns.payload.get("aps")
        return isinstance(aps, dict) and aps.get("alert") is not None
    return False


class PushService:
    """Sends, the held queue and the per-project quota windows."""

    def __init__(self, world: World, repository: AppRepository, apps: AppService, now: Callable[[], datetime],
                 is_live: Callable[[], bool]) -> None:
        self.world = world
        self.repository = repository
        self.apps = apps
        self._now = now
        self._is_live = is_live
        self._windows: dict[int, tuple[int, int]] = {}  # app seq → (sim minute, sends in it)
        # Held pushes as columns: seq, subscriber, expiry (µs), displayed, app seq (a tick looks at them at once).
        self._held = np.zeros((0, 5), dtype=np.int64)
        world.on_step(self.on_step)

    def resume(self) -> None:
        """Put the held pushes back (the store is open, the world restored)."""
        rows = self.repository.held()
        self._held = np.array([(r["seq"], r["subscriber"], r["expires_us"], r["displayed"], r["app_seq"])
                               for r in rows], dtype=np.int64).reshape(-1, 5)

    def _charge(self, app: AppRecord, now_us: int) -> None:
        minute = now_us // MINUTE_US
        window, used = self._windows.get(app.seq, (minute, 0))
        if window != minute:
            used = 0
        if used >= app.spec.push_quota_per_minute:
            left = math.ceil(((minute + 1) * MINUTE_US - now_us) / 1_000_000)
            raise PushError(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED",
                            f"Quota exceeded for project {app.id}: {app.spec.push_quota_per_minute} messages per "
                            "simulated minute.", retry_after_s=max(1, left))
        self._windows[app.seq] = (minute, used + 1)

    def send(self, app: AppRecord, message: Message, validate_only: bool) -> str:
        """Accept one message for ``app``; returns its message id (``fake_message_id`` when only validated)."""
        if not self._is_live():
            raise PushError(503, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable.")
        if message.token is None:
            raise PushError(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT",
                            "Topics and conditions are not supported yet: send to a registration token.")
        named = self.apps.codec.parse(message.token)
        if named is None:
            raise unregistered()
        seq, row = named
        if seq != app.seq:
            raise PushError(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch")
        table = self.apps.installs(app)
        if row >= table.size or not table.installed[row]:
            raise unregistered()
        now = self._now()
        now_us = to_micros(now)
        platform = "IOS" if table.platform[row] == 1 else "ANDROID"
        ttl_s = _ttl_s(message, platform, now_us / 1e6)
        if validate_only:
            return "fake_message_id"
        self._charge(app, now_us)
        sub = int(table.subscriber[row])
        displayed = bool(table.notifications[row]) and has_notification(message, platform)
        expires_us = now_us + round(ttl_s * 1e6)
        reachable = bool(self.world.is_reachable(sub)[0])
        spec = json.dumps(message.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=True)
        status = "DELIVERED" if reachable else ("HELD" if ttl_s > 0 else "EXPIRED")
        push_seq = self.repository.insert_push(app.seq, row, sub, spec, status, displayed, now_us, expires_us,
                                               now_us if reachable else None)
        if reachable:
            text = message.notification or None
            self._deliver(push_seq, app, sub, displayed, text.title if text else None, text.body if text else None)
        elif status == "HELD":
            self._held = np.vstack([self._held, [[push_seq, sub, expires_us, int(displayed), app.seq]]])
        return format_id(PUSH_PREFIX, push_seq)

    def _deliver(self, push_seq: int, app: AppRecord, sub: int, displayed: bool, title: str | None,
                 body: str | None) -> None:
        self.world.deliver(sub, CHANNEL, app.spec.name, body or "", "APP_PUSH", title=title,
                           message_id=format_id(PUSH_PREFIX, push_seq), appId=app.id, displayed=displayed)

    def _deliver_held(self, push_seq: int, app_seq: int, sub: int, displayed: bool) -> None:
        row = self.repository.get_push(push_seq)
        notification = {} if row is None else json.loads(row["spec"]).get("notification", {})
        self._deliver(push_seq, self.apps.by_seq(app_seq), sub, displayed, notification.get("title"),
                      notification.get("body"))

    def on_step(self, now: datetime) -> None:
        """Deliver held pushes whose device is reachable now; expire those past their TTL."""
        if not len(self._held):
            return
        now_us = to_micros(now)
        expired = self._held[:, 2] <= now_us
        alive = self._held[~expired]
        ok = self.world.is_reachable(alive[:, 1]) if len(alive) else np.zeros(0, dtype=bool)
        delivered = alive[ok]
        for push_seq, sub, _, displayed, app_seq in delivered.tolist():
            self._deliver_held(push_seq, app_seq, sub, bool(displayed))
        self.repository.settle([(int(s), now_us) for s in delivered[:, 0].tolist()],
                               [int(s) for s in self._held[expired, 0].tolist()])
        self._held = alive[~ok]

    def truth(self, push_id: str) -> PushTruth | None:
        """Operator-side truth of one push (``None`` when unknown)."""
        seq = parse_public_id(push_id, PUSH_PREFIX)
        row = None if seq is None else self.repository.get_push(seq)
        if row is None:
            return None
        app = self.apps.by_seq(row["app_seq"])
        return PushTruth(push_id, app.id, self.apps.codec.installation_id(app.seq, row["row"]), row["subscriber"],
                         row["status"], bool(row["displayed"]), from_micros(row["created_us"]),
                         from_micros(row["expires_us"]),
                         None if row["delivered_us"] is None else from_micros(row["delivered_us"]))
