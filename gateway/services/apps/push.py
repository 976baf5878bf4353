"""The push server: FCM-compatible sends to simulated installs, held while a device is away, with the truth.

Owns :class:`PushService`: a send names an app (the FCM project) and a registration token, a topic or a condition.
A token must be the *current* token of one of that app's installed rows (else ``UNREGISTERED``: uninstalled, or
replaced by a refresh; ``SENDER_ID_MISMATCH`` for another app's token); a topic or condition
(:mod:`.topics`) fans out to the installed rows subscribed (one push row each, one ``pst_`` message id), within the
project's quota per simulated minute (``QUOTA_EXCEEDED`` with the seconds left in that minute). A reachable device
gets it now; an unreachable one (off, out of coverage, taken down by a fault) has it held until its TTL
(``android.ttl`` or ``apns-expiration``; four weeks by default) and delivered on the first tick it is reachable, or
expired. It lands in the device's inbox (channel ``APP_PUSH``, with the app id) and is *displayed* only when the
install allows notifications and the message carries one — at the delivery instant (a held push whose install
switched notifications off meanwhile is delivered silently). A partner's FCM send with a notification is
**marketing** (:func:`is_marketing`, ``marketing_rule``): it is sent only to installs with in-app marketing consent at
the send instant; for the others it is accepted (FCM cannot know the app's consent) but recorded ``SUPPRESSED``
and never reaches the device. Data-only messages are never displayed and need no marketing consent. Every
accepted push is a row (:mod:`.repository`); deliveries are kept for the tick's app events (:mod:`.usage`: the app
reports receipt, and a tap when the user opens a displayed push). It must not know about HTTP.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from gateway.core.ids import APP_PREFIX, PUSH_FANOUT_PREFIX, PUSH_PREFIX, format_id, parse_public_id
from gateway.services.apps.model import AppRecord
from gateway.services.apps.repository import AppRepository
from gateway.services.apps.service import AppService
from gateway.services.apps.topics import ConditionError, Topics, parse_condition, topic_name
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


def invalid_argument(message: str) -> PushError:
    """A message FCM refuses as malformed."""
    return PushError(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", message)


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
    opened_at: datetime | None = None
    fanout_id: str | None = None


@dataclass(frozen=True)
class FanoutTruth:
    """Operator-side truth of one topic or condition send: its push rows counted by outcome."""

    id: str
    app_id: str
    target: str
    created_at: datetime
    recipients: int
    statuses: dict[str, int]
    displayed: int
    opened: int


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


def message_spec(message: Message) -> str:
    """The stored form of a message: its FCM JSON (wire names, no nulls), serialised by pydantic directly (a dict
    and ``json.dumps`` in between cost a single send more than its validation)."""
    return message.model_dump_json(by_alias=True, exclude_none=True)


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


def is_marketing(message: Message, platform: str) -> bool:
    """Whether a partner app's message is marketing: it shows something to the user (FCM has no message kind;
    a transactional notification would need one, so every visible push is treated as marketing)."""
    return has_notification(message, platform)


class PushService:
    """Sends, the held queue and the per-project quota windows."""

    def __init__(self, world: World, repository: AppRepository, apps: AppService, now: Callable[[], datetime],
                 is_live: Callable[[], bool]) -> None:
        self.world = world
        self.repository = repository
        self.apps = apps
        self._now = now
        self._is_live = is_live
        self.topics = Topics(repository)
        self._windows: dict[int, tuple[int, int]] = {}  # app seq → (sim minute, sends in it)
        # Held pushes as columns: seq, subscriber, expiry (µs), displayed, app seq, row (a tick looks at them at once).
        # A send appends its row to ``_new_held``; the next tick stacks them onto the columns once (a stack per send
        # would copy the whole queue each time, quadratic in a burst of sends to devices that are off).
        self._held = np.zeros((0, 6), dtype=np.int64)
        self._new_held: list[list[int]] = []
        # Deliveries since the last tick's app events: seq, app seq, row, subscriber, delivered (µs), displayed.
        self._delivered: list[tuple[int, int, int, int, int, int]] = []
        world.on_step(self.on_step)

    def resume(self) -> None:
        """Put the held pushes and topic subscriptions back (the store is open, the world restored)."""
        self.repository.forget_push_seq()
        rows = self.repository.held()
        self._held = np.array([(r["seq"], r["subscriber"], r["expires_us"], r["displayed"], r["app_seq"], r["row"])
                               for r in rows], dtype=np.int64).reshape(-1, 6)
        self._new_held = []
        self.topics.resume()
        self._delivered = []

    def take_deliveries(self) -> list[tuple[int, int, int, int, int, int]]:
        """Deliveries since the last call: (push seq, app seq, row, subscriber, delivered µs, displayed)."""
        out, self._delivered = self._delivered, []
        return out

    def _charge(self, app: AppRecord, now_us: int) -> None:
        """Count one send against the project's quota (a topic or condition send is one send, as in FCM)."""
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

    def send(self, app: AppRecord, message: Message, validate_only: bool, *, marketing_rule: bool = False) -> str:
        """Accept one message for ``app``; returns its message id (``fake_message_id`` when only validated).

        With ``marketing_rule`` (a partner's send through the FCM API) a visible message is marketing
        (:func:`is_marketing`) and is not sent to installs without in-app marketing consent; callers that know the
        message's kind and checked consent themselves (CDP triggers) leave it off.
        """
        if not self._is_live():
            raise PushError(503, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable.")
        if message.token is None:
            return self._fan_out(app, message, validate_only, marketing_rule)
        row = self._row_of(app, message.token)
        table = self.apps.installs(app)
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
        reachable = self.world.is_reachable_one(sub)
        spec = message_spec(message)
        status = "DELIVERED" if reachable else ("HELD" if ttl_s > 0 else "EXPIRED")
        if marketing_rule and is_marketing(message, platform) and not table.marketing[row]:
            status, displayed, reachable = "SUPPRESSED", False, False  # no in-app marketing consent: not sent
        push_seq = self.repository.insert_push(app.seq, row, sub, spec, status, displayed, now_us, expires_us,
                                               now_us if reachable else None)
        if reachable:
            text = message.notification or None
            self._deliver(push_seq, app, row, sub, displayed, text.title if text else None,
                          text.body if text else None)
        elif status == "HELD":
            self._new_held.append([push_seq, sub, expires_us, int(displayed), app.seq, row])
        return format_id(PUSH_PREFIX, push_seq)

    def _row_of(self, app: AppRecord, token: str) -> int:
        """The install row ``token`` is the current token of (FCM errors otherwise)."""
        row = self.apps.current_row(app, token)
        if row is not None:
            return row
        named = self.apps.codec.parse_installation(token.partition(":")[0])
        if named is not None and named[0] != app.seq:
            other = self.apps.find(format_id(APP_PREFIX, named[0]))
            table = None if other is None else self.apps.installs(other)
            if table is not None and named[1] < table.size and self.apps.codec.parse(
                    token, int(table.generation[named[1]])) is not None:
                raise PushError(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch")
        raise unregistered()

    def manage_topic(self, partner_id: int, topic: str, tokens: list[str], subscribed: bool) -> list[str | None]:
        """Subscribe (or unsubscribe) the installs of ``tokens`` to ``topic``, as the Instance ID API does: one
        result per token, ``None`` when done, else ``NOT_FOUND`` (not a current token of an installed app) or
        ``PERMISSION_DENIED`` (another partner's app). ``INVALID_ARGUMENT`` for a bad topic name."""
        name = topic_name(topic)
        if name is None:
            raise invalid_argument(f"Invalid topic name {topic!r}.")
        results: list[str | None] = []
        rows: dict[int, list[int]] = {}
        for token in tokens:
            named = self.apps.codec.parse_installation(token.partition(":")[0])
            app = None if named is None else self.apps.find(format_id(APP_PREFIX, named[0]))
            row = None if app is None else self.apps.current_row(app, token)
            if app is None or row is None:
                results.append("NOT_FOUND")
            elif app.partner_id != partner_id:
                results.append("PERMISSION_DENIED")
            else:
                rows.setdefault(app.seq, []).append(row)
                results.append(None)
        for app_seq, app_rows in rows.items():
            self.topics.change(self.apps.by_seq(app_seq), name, app_rows, subscribed)
        return results

    def recipients(self, app: AppRecord, topic: str | None, condition: str | None) -> NDArray[np.int64]:
        """Installed rows a topic or condition send reaches (``INVALID_ARGUMENT`` for a bad condition)."""
        table = self.apps.installs(app)
        if topic is not None:
            name = topic_name(topic)
            if name is None:
                raise invalid_argument(f"Invalid topic name {topic!r}.")
            mask = self.topics.mask(app, name, table.size)
        else:
            try:
                parsed = parse_condition(condition or "")
            except ConditionError as exc:
                raise invalid_argument(str(exc)) from None
            mask = parsed.evaluate({t: self.topics.mask(app, t, table.size) for t in parsed.topics})
        return np.flatnonzero(mask & table.installed).astype(np.int64)

    def _fan_out(self, app: AppRecord, message: Message, validate_only: bool, marketing_rule: bool) -> str:
        rows = self.recipients(app, message.topic, message.condition)
        table = self.apps.installs(app)
        now_us = to_micros(self._now())
        ttl = {p: _ttl_s(message, p, now_us / 1e6) for p in ("ANDROID", "IOS")}
        if validate_only:
            return "fake_message_id"
        self._charge(app, now_us)
        subs = table.subscriber[rows]
        reachable = self.world.is_reachable(subs) if len(rows) else np.zeros(0, dtype=bool)
        platforms = ["IOS" if p == 1 else "ANDROID" for p in table.platform[rows].tolist()]
        shows = {p: has_notification(message, p) for p in ("ANDROID", "IOS")}
        displayed = [bool(n) and shows[p] for n, p in zip(table.notifications[rows].tolist(), platforms, strict=True)]
        # One TTL per send: FCM's own (the platform overrides of one message agree in practice); take the longer.
        ttl_s = max(ttl.values())
        expires_us = now_us + round(ttl_s * 1e6)
        # Marketing (visible) pushes skip installs without in-app marketing consent: recorded, never sent.
        allowed = [not (marketing_rule and shows[p]) or bool(m)
                   for m, p in zip(table.marketing[rows].tolist(), platforms, strict=True)]
        reachable = reachable & np.asarray(allowed, dtype=bool)
        displayed = [d and a for d, a in zip(displayed, allowed, strict=True)]
        status = ["SUPPRESSED" if not a else "DELIVERED" if ok else ("HELD" if ttl_s > 0 else "EXPIRED")
                  for ok, a in zip(reachable.tolist(), allowed, strict=True)]
        spec = message_spec(message)
        target = message.topic if message.topic is not None else str(message.condition)
        fanout, first = self.repository.insert_fanout(
            app.seq, target, spec, now_us, rows.tolist(), subs.tolist(), status, displayed, expires_us,
            [now_us if ok else None for ok in reachable.tolist()])
        text = message.notification or None
        for i, (row, sub, ok, disp) in enumerate(zip(rows.tolist(), subs.tolist(), reachable.tolist(), displayed,
                                                     strict=True)):
            if ok:
                self._deliver(first + i, app, row, sub, disp, text.title if text else None,
                              text.body if text else None)
            elif ttl_s > 0 and status[i] == "HELD":
                self._new_held.append([first + i, sub, expires_us, int(disp), app.seq, row])
        return format_id(PUSH_FANOUT_PREFIX, fanout)

    def _deliver(self, push_seq: int, app: AppRecord, row: int, sub: int, displayed: bool, title: str | None,
                 body: str | None) -> None:
        self.world.deliver(sub, CHANNEL, app.spec.name, body or "", "APP_PUSH", title=title,
                           message_id=format_id(PUSH_PREFIX, push_seq), appId=app.id, displayed=displayed)
        self._delivered.append((push_seq, app.seq, row, sub, to_micros(self.world.clock.now), int(displayed)))

    def _deliver_held(self, push_seq: int, app_seq: int, row: int, sub: int, displayed: bool) -> None:
        stored = self.repository.get_push(push_seq)
        notification = {} if stored is None else json.loads(stored["spec"]).get("notification", {})
        self._deliver(push_seq, self.apps.by_seq(app_seq), row, sub, displayed, notification.get("title"),
                      notification.get("body"))

    def on_step(self, now: datetime) -> None:
        """Deliver held pushes whose device is reachable now; expire those past their TTL."""
        self.repository.commit()  # a push is durable by the end of the tick it was sent in, awaited or not
        if self._new_held:
            self._held = np.vstack([self._held, np.asarray(self._new_held, dtype=np.int64)])
            self._new_held = []
        if not len(self._held):
            return
        now_us = to_micros(now)
        expired = self._held[:, 2] <= now_us
        alive = self._held[~expired]
        ok = self.world.is_reachable(alive[:, 1]) if len(alive) else np.zeros(0, dtype=bool)
        delivered = alive[ok]
        hidden: list[int] = []
        for push_seq, sub, _, displayed, app_seq, row in delivered.tolist():
            # Display follows the OS permission at the delivery instant (it may have been switched off meanwhile).
            shown = bool(displayed) and bool(self.apps.installs(self.apps.by_seq(app_seq)).notifications[row])
            if displayed and not shown:
                hidden.append(int(push_seq))
            self._deliver_held(push_seq, app_seq, row, sub, shown)
        self.repository.settle([(int(s), now_us) for s in delivered[:, 0].tolist()],
                               [int(s) for s in self._held[expired, 0].tolist()], hidden)
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
                         None if row["delivered_us"] is None else from_micros(row["delivered_us"]),
                         None if row["opened_us"] is None else from_micros(row["opened_us"]),
                         None if row["fanout"] is None else format_id(PUSH_FANOUT_PREFIX, row["fanout"]))

    def fanout_truth(self, fanout_id: str) -> FanoutTruth | None:
        """Operator-side truth of one topic or condition send (``None`` when unknown)."""
        seq = parse_public_id(fanout_id, PUSH_FANOUT_PREFIX)
        row = None if seq is None else self.repository.get_fanout(seq)
        if seq is None or row is None:
            return None
        outcomes = self.repository.fanout_outcomes(seq)
        statuses = dict.fromkeys(("DELIVERED", "HELD", "EXPIRED", "SUPPRESSED"), 0)
        statuses.update({r["status"]: int(r["n"]) for r in outcomes})
        return FanoutTruth(fanout_id, self.apps.by_seq(row["app_seq"]).id, row["target"],
                           from_micros(row["created_us"]), int(row["recipients"]), statuses,
                           sum(int(r["displayed"] or 0) for r in outcomes), sum(int(r["opened"]) for r in outcomes))
