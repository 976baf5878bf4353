"""Direct messages: the service behind ``/messages/v1`` (a partner's message to one number it supplies).

Rules per kind (the send instant is the acceptance, then every retry; all times simulated):

* ``PROMO`` follows exactly the campaign policy (:func:`gateway.services.policy.decide` with the campaign rules):
  ``ADVERTISING`` consent for the channel at the send instant, quiet hours in the subscriber's local time (held
  until they end while the time to live allows, else ``SUPPRESSED QUIET_HOURS``) and the operator daily cap
  shared with campaigns (:class:`gateway.services.caps.FrequencyCaps`: one count per subscriber and local day, whoever
  sent). The text is moderated like a campaign's.
* ``TRANSACTIONAL`` and ``INFORMATIONAL`` need no advertising consent, know no quiet hours and no cap, but a
  subscriber's block of the sender (or of every sender of the partner) suppresses them (``SENDER_BLOCKED``);
  blocks apply to ``PROMO`` too.
* ``AUTHENTICATION`` must use a template the operator approved for the partner and that kind, filled with
  ``templateParameters`` (``{code}`` is required); its priority is ``HIGH`` and its time to live short
  (``auth_default_ttl_s``, at most ``auth_max_ttl_s``). A code the user asked for is not stopped by a block.

Every message needs a sender name the operator approved for the partner. ``PUSH`` needs the operator's app
(``NO_APP``); ``PUSH_THEN_SMS`` sends an SMS when the push is not delivered within ``push_fallback_s``. An
unreachable phone is tried again (every 60 s for ``HIGH``, every ``retry_s`` otherwise) until the message
expires. Latency and losses are :func:`gateway.services.delivery.simulate` with the stream ``("message-delivery", n,
k)``.

Status history: ``ACCEPTED`` → (``HELD``) → ``SENT`` (per channel) → ``DELIVERED`` | ``FAILED``, or
``EXPIRED`` (time to live over before delivery) or ``SUPPRESSED`` (a rule refused it; with the reason). Each
change is a ``message_events`` row and, when the message names a ``callback`` sink, a CloudEvent
``org.opsim.messages.v1.message-status`` put in the webhook outbox in the same transaction (one outbox lane per
message, ids ``<messageId>-<n>``). The partner sees only its message's status, never the subscriber's profile.
This module knows nothing of HTTP.

Restart durability: messages and their status history are rows; a restart rebuilds the rest from them rather
than re-deciding (blocks, approvals and consent may have changed since, and the rows say what came of each
message). While the world is replayed (:meth:`MessageService.replay`), each message that reached a device is put
back in its inbox at the instant it arrived, and each ``PROMO`` send is counted again into the shared daily cap at
the instant it was sent (after that instant's tick when the request itself sent it, as live), so inboxes and the
campaigns' cap decisions in the replay are those of the first run. What a message still waits for (expiry, a
retry, the end of quiet hours, an arrival, the SMS fallback) is a durable wake-up (:mod:`gateway.core.timers`) that
:meth:`MessageService.resume` puts back on the clock: a message in flight when the gateway stopped completes when
it would have.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from gateway.core.errors import (
    Conflict,
    IdentifierNotFound,
    InvalidArgument,
    NotFound,
    OutOfRange,
    QuotaExceeded,
    Unprocessable,
)
from gateway.core.ids import parse_public_id
from gateway.core.journal import Replay
from gateway.core.settings import MessageSettings
from gateway.core.store import Store
from gateway.core.timers import Timers
from gateway.core.webhooks import Outbox, OutboxEvent, cloud_event
from gateway.services import delivery, policy, sms
from gateway.services.caps import FrequencyCaps
from simulator.clock import from_micros, to_micros
from simulator.errors import UnknownSubscriberError
from simulator.world import World

KINDS: tuple[str, ...] = ("TRANSACTIONAL", "INFORMATIONAL", "AUTHENTICATION", "PROMO")
CHANNELS: tuple[str, ...] = ("PUSH", "SMS", "PUSH_THEN_SMS")
PRIORITIES: tuple[str, ...] = ("NORMAL", "HIGH")
FINAL: frozenset[str] = frozenset({"DELIVERED", "FAILED", "EXPIRED", "SUPPRESSED"})
EVENT_TYPE = "org.opsim.messages.v1.message-status"
SOURCE = "/messages/v1"
HIGH_RETRY_S = 60
MSG_PREFIX, SENDER_PREFIX, TEMPLATE_PREFIX = "msg_", "snd_", "tpl_"
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,31})\}")
_BRACES = re.compile(r"[{}]")
_NO_QUIET = policy.Rules(quiet_start_hour=0, quiet_end_hour=0, daily_cap=2**30)
"""Rules of the service kinds: no quiet hours, no cap (consent is not asked for non-PROMO kinds anyway)."""


class InvalidMessage(InvalidArgument):
    code = "MESSAGES.INVALID_MESSAGE"
    default_message = "The message breaks a channel limit."


class SenderNotApproved(Unprocessable):
    code = "MESSAGES.SENDER_NOT_APPROVED"
    default_message = "The sender name is not approved for this partner."


class TemplateNotApproved(Unprocessable):
    code = "MESSAGES.TEMPLATE_NOT_APPROVED"
    default_message = "The template is not approved for this partner and kind."


class TemplateRequired(Unprocessable):
    code = "MESSAGES.TEMPLATE_REQUIRED"
    default_message = "AUTHENTICATION messages must use an approved template."


class ModerationRejected(Unprocessable):
    code = "MESSAGES.MODERATION_REJECTED"
    default_message = "The text contains a term the operator does not carry."


def _wire_id(prefix: str, seq: int) -> str:
    return f"{prefix}{seq:08d}"


def placeholders(text: str) -> list[str]:
    """Names of the ``{name}`` placeholders of a template text, in order, without repeats."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))


def fill(text: str, parameters: dict[str, str]) -> str:
    """The template text with every placeholder replaced (400 when one is missing or a parameter is unknown)."""
    names = placeholders(text)
    missing = [n for n in names if n not in parameters]
    extra = sorted(set(parameters) - set(names))
    if missing or extra:
        parts = ([f"missing templateParameters: {', '.join(missing)}"] if missing else []) + (
            [f"unknown templateParameters: {', '.join(extra)}"] if extra else [])
        raise InvalidMessage("; ".join(parts) + ".")
    bad = [n for n, v in parameters.items() if _BRACES.search(v)]
    if bad:
        raise InvalidMessage(f"templateParameters may not contain braces: {', '.join(sorted(bad))}.")
    return PLACEHOLDER.sub(lambda m: parameters[m.group(1)], text)


# -- values ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MessageRequest:
    """A direct message as submitted (the handler converts the wire model to this)."""

    phone_number: str
    kind: str
    channel: str
    sender_name: str
    text: str | None = None
    title: str | None = None
    template_id: str | None = None
    template_parameters: dict[str, str] = field(default_factory=dict)
    priority: str | None = None
    ttl_seconds: int | None = None
    sink: str | None = None
    sink_token: str | None = None

    def digest(self) -> str:
        """Hash of the request (an Idempotency-Key replay must carry the same one)."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class StatusChange:
    """One step of a message's history."""

    status: str
    at: datetime
    channel: str | None
    reason: str | None


@dataclass(frozen=True)
class MessageView:
    """A message as its partner sees it."""

    id: str
    phone_number: str
    kind: str
    channel: str
    priority: str
    sender_name: str
    template_id: str | None
    text: str
    title: str | None
    created_at: datetime
    expires_at: datetime
    status: str
    reason: str | None
    history: list[StatusChange]


@dataclass(frozen=True)
class Registration:
    """A sender name or a template, and the operator's decision."""

    id: str
    partner_id: int
    status: str
    reason: str | None
    created_at: datetime
    decided_at: datetime | None
    name: str | None = None
    kind: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class Block:
    """A subscriber's block of a partner's sender (``*``: all its senders)."""

    msisdn: str
    partner_id: int
    sender: str
    created_at: datetime


# -- the service --------------------------------------------------------------------------------------------

class MessageService:
    """Registers senders and templates, accepts direct messages and carries them on the simulated clock."""

    def __init__(self, world: World, store: Store, rules: MessageSettings, promo_rules: policy.Rules,
                 caps: FrequencyCaps, moderation_terms: tuple[str, ...],
                 outbox: Callable[[], Outbox | None] = lambda: None,
                 partner_limit: Callable[[int, str], float | None] = lambda partner, name: None) -> None:
        self.world = world
        self._partner_limit = partner_limit
        self.store = store
        self.rules = rules
        self.promo_rules = promo_rules
        self.caps = caps
        self.moderation_terms = moderation_terms
        self._outbox = outbox
        self._in_flight: dict[int, int] = {}  # message seq -> arrivals scheduled and not yet happened
        self._timers = Timers(store, world.clock, "messages",
                              {"expire": self._expire, "attempt": self._attempt, "arrive": self._arrive})

    # -- senders and templates (partner side) ---------------------------------------------------------------
    def register_sender(self, partner_id: int, name: str) -> Registration:
        """A new sender name, ``PENDING`` until the operator decides (409 if the partner has it already)."""
        problem = sms.sender_problem(name)
        if problem:
            raise InvalidArgument(problem[0].upper() + problem[1:] + ".")
        now_us = to_micros(self.world.clock.now)
        try:
            with self.store.transaction() as conn:
                seq = int(conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM message_senders").fetchone()[0])
                conn.execute("INSERT INTO message_senders(seq, partner_id, name, status, created_us) "
                             "VALUES (?, ?, ?, 'PENDING', ?)", (seq, partner_id, name, now_us))
        except sqlite3.IntegrityError:
            raise Conflict(f"Sender name {name} is already registered.") from None
        return self.sender(partner_id, _wire_id(SENDER_PREFIX, seq))

    def register_template(self, partner_id: int, kind: str, text: str) -> Registration:
        """A new template for one message kind, ``PENDING`` until the operator decides."""
        if kind not in KINDS:
            raise InvalidArgument(f"kind must be one of {', '.join(KINDS)}.")
        if not text.strip():
            raise InvalidMessage("text must not be blank.")
        if kind == "AUTHENTICATION" and "code" not in placeholders(text):
            raise InvalidMessage("An AUTHENTICATION template must contain the placeholder {code}.")
        sample = fill(text, {n: "0" * 6 for n in placeholders(text)})
        problems = sms.text_problems("PUSH_THEN_SMS", sample, None)
        if problems:
            raise InvalidMessage("; ".join(problems) + ".")
        with self.store.transaction() as conn:
            seq = int(conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM message_templates").fetchone()[0])
            conn.execute("INSERT INTO message_templates(seq, partner_id, kind, text, status, created_us) "
                         "VALUES (?, ?, ?, ?, 'PENDING', ?)", (seq, partner_id, kind, text,
                                                               to_micros(self.world.clock.now)))
        return self.template(partner_id, _wire_id(TEMPLATE_PREFIX, seq))

    @staticmethod
    def _registration(row: sqlite3.Row, prefix: str) -> Registration:
        keys = row.keys()
        return Registration(
            _wire_id(prefix, int(row["seq"])), int(row["partner_id"]), str(row["status"]), row["reason"],
            from_micros(int(row["created_us"])),
            None if row["decided_us"] is None else from_micros(int(row["decided_us"])),
            name=row["name"] if "name" in keys else None, kind=row["kind"] if "kind" in keys else None,
            text=row["text"] if "text" in keys else None)

    def _get(self, table: str, prefix: str, partner_id: int | None, wire_id: str) -> Registration:
        seq = parse_public_id(wire_id, prefix)
        row = None if seq is None else self.store.conn.execute(f"SELECT * FROM {table} WHERE seq = ?",
                                                               (seq,)).fetchone()
        if row is None or (partner_id is not None and row["partner_id"] != partner_id):
            raise NotFound(f"{wire_id} not found.")
        return self._registration(row, prefix)

    def sender(self, partner_id: int | None, sender_id: str) -> Registration:
        """A sender registration (of that partner; ``None``: any, operator side)."""
        return self._get("message_senders", SENDER_PREFIX, partner_id, sender_id)

    def template(self, partner_id: int | None, template_id: str) -> Registration:
        """A template registration (of that partner; ``None``: any, operator side)."""
        return self._get("message_templates", TEMPLATE_PREFIX, partner_id, template_id)

    def _list(self, table: str, prefix: str, partner_id: int | None, status: str | None) -> list[Registration]:
        clauses, args = [], []
        for column, value in (("partner_id", partner_id), ("status", status)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.store.conn.execute(f"SELECT * FROM {table} {where} ORDER BY seq", args)
        return [self._registration(r, prefix) for r in rows]

    def senders(self, partner_id: int | None, status: str | None = None) -> list[Registration]:
        """Sender registrations, oldest first."""
        return self._list("message_senders", SENDER_PREFIX, partner_id, status)

    def templates(self, partner_id: int | None, status: str | None = None) -> list[Registration]:
        """Template registrations, oldest first."""
        return self._list("message_templates", TEMPLATE_PREFIX, partner_id, status)

    # -- operator decisions -----------------------------------------------------------------------------------
    def _decide(self, table: str, prefix: str, wire_id: str, approve: bool, reason: str | None) -> Registration:
        current = self._get(table, prefix, None, wire_id)
        seq = parse_public_id(current.id, prefix)
        with self.store.transaction() as conn:
            conn.execute(f"UPDATE {table} SET status = ?, reason = ?, decided_us = ? WHERE seq = ?",
                         ("APPROVED" if approve else "REJECTED", None if approve else reason,
                          to_micros(self.world.clock.now), seq))
        return self._get(table, prefix, None, wire_id)

    def decide_sender(self, sender_id: str, approve: bool, reason: str | None = None) -> Registration:
        """Approve or reject (also revoke) a sender name."""
        return self._decide("message_senders", SENDER_PREFIX, sender_id, approve, reason)

    def decide_template(self, template_id: str, approve: bool, reason: str | None = None) -> Registration:
        """Approve or reject (also revoke) a template."""
        return self._decide("message_templates", TEMPLATE_PREFIX, template_id, approve, reason)

    # -- subscribers' blocks (operator side; gateway state, not world state) ---------------------------------
    def block(self, msisdn: str, partner_id: int, sender: str) -> Block:
        """The subscriber blocks a sender of the partner (``*``: every sender of it); idempotent."""
        self._subscriber(msisdn)
        with self.store.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO sender_blocks(msisdn, partner_id, sender, created_us) "
                         "VALUES (?, ?, ?, ?)", (msisdn, partner_id, sender, to_micros(self.world.clock.now)))
        return next(b for b in self.blocks(msisdn) if (b.partner_id, b.sender) == (partner_id, sender))

    def unblock(self, msisdn: str, partner_id: int, sender: str) -> None:
        """Lift a block (404 when there is none)."""
        with self.store.transaction() as conn:
            n = conn.execute("DELETE FROM sender_blocks WHERE msisdn = ? AND partner_id = ? AND sender = ?",
                             (msisdn, partner_id, sender)).rowcount
        if not n:
            raise NotFound("No such block.")

    def blocks(self, msisdn: str) -> list[Block]:
        """A subscriber's blocks, oldest first."""
        self._subscriber(msisdn)
        rows = self.store.conn.execute("SELECT * FROM sender_blocks WHERE msisdn = ? ORDER BY created_us, "
                                       "partner_id, sender", (msisdn,))
        return [Block(r["msisdn"], r["partner_id"], r["sender"], from_micros(r["created_us"])) for r in rows]

    def _blocked(self, msisdn: str, partner_id: int, sender: str) -> bool:
        return self.store.conn.execute("SELECT 1 FROM sender_blocks WHERE msisdn = ? AND partner_id = ? AND "
                                       "sender IN (?, '*')", (msisdn, partner_id, sender)).fetchone() is not None

    def _subscriber(self, msisdn: str) -> int:
        try:
            return self.world.find_subscriber(msisdn)
        except UnknownSubscriberError:
            raise IdentifierNotFound("The phone number is not a subscriber of this operator.") from None

    # -- accepting a message ----------------------------------------------------------------------------------
    def _check(self, partner_id: int, req: MessageRequest) -> tuple[str, str, int, int | None]:
        """(text, priority, ttl seconds, template seq) of a valid request, else the error."""
        rules = self.rules
        auth = req.kind == "AUTHENTICATION"
        if req.kind not in KINDS or req.channel not in CHANNELS:
            raise InvalidArgument("Unknown kind or channel.")
        priority = req.priority or ("HIGH" if auth else "NORMAL")
        if priority not in PRIORITIES:
            raise InvalidArgument(f"priority must be one of {', '.join(PRIORITIES)}.")
        if auth and priority != "HIGH":
            raise Unprocessable("AUTHENTICATION messages are always HIGH priority.")
        ttl = req.ttl_seconds if req.ttl_seconds is not None else (
            rules.auth_default_ttl_s if auth else rules.default_ttl_s)
        limit = rules.auth_max_ttl_s if auth else rules.max_ttl_s
        if not 1 <= ttl <= limit:
            raise OutOfRange(f"ttlSeconds must be from 1 to {limit}{' for AUTHENTICATION' if auth else ''}.")
        sender = self.store.conn.execute("SELECT status FROM message_senders WHERE partner_id = ? AND name = ?",
                                         (partner_id, req.sender_name)).fetchone()
        if sender is None or sender["status"] != "APPROVED":
            raise SenderNotApproved(f"Sender name {req.sender_name} is not approved for this partner; register it "
                                    "(POST /messages/v1/senders) and wait for the operator's approval.")
        template_seq = None
        if req.template_id is not None:
            if req.text is not None:
                raise InvalidArgument("Give text or templateId, not both.")
            seq = parse_public_id(req.template_id, TEMPLATE_PREFIX)
            row = None if seq is None else self.store.conn.execute(
                "SELECT * FROM message_templates WHERE seq = ? AND partner_id = ?", (seq, partner_id)).fetchone()
            if row is None or row["status"] != "APPROVED" or row["kind"] != req.kind:
                raise TemplateNotApproved(f"Template {req.template_id} is not approved for this partner and kind "
                                          f"{req.kind}.")
            template_seq = seq
            text = fill(str(row["text"]), req.template_parameters)
            if auth and not re.fullmatch(r"[A-Za-z0-9]{4,10}", req.template_parameters.get("code", "")):
                raise InvalidMessage("templateParameters.code must be 4 to 10 letters or digits.")
        elif auth:
            raise TemplateRequired()
        elif req.text is None:
            raise InvalidArgument("Give text or templateId.")
        elif req.template_parameters:
            raise InvalidArgument("templateParameters apply to templates only.")
        else:
            text = req.text
        problems = sms.text_problems(req.channel, text, req.title)
        if problems:
            raise InvalidMessage("; ".join(problems) + ".")
        if req.kind == "PROMO":
            hit = sms.moderation_hit(" ".join(filter(None, (text, req.title))), self.moderation_terms)
            if hit is not None:
                raise ModerationRejected(f"The text contains the blocked term '{hit}'.")
        return text, priority, ttl, template_seq

    def check(self, partner_id: int, req: MessageRequest) -> None:
        """Raise what :meth:`send` would raise for the request's content (its number is not looked at)."""
        self._check(partner_id, req)

    def _check_quota(self, partner_id: int) -> None:
        """The partner's ``messagesPerDay`` limit: messages accepted since local midnight in the city (429)."""
        limit = self._partner_limit(partner_id, "messagesPerDay")
        if limit is None:
            return
        local = self.world.local_time()
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        sent = self.store.conn.execute("SELECT COUNT(*) FROM messages WHERE partner_id = ? AND created_us >= ?",
                                       (partner_id, to_micros(midnight))).fetchone()[0]
        if sent >= limit:
            raise QuotaExceeded(f"The partner's limit of {limit:g} messages per day is reached.")

    def send(self, partner_id: int, req: MessageRequest, idempotency_key: str | None = None,
             origin: str | None = None) -> tuple[MessageView, bool]:
        """Accept a message and try it at once; returns it and whether it is new (an idempotent replay is not).

        ``origin`` names the partner's automation that sends it (a journey id): such a message goes to a
        subscriber the operator selected, so the partner never reads it (``GET`` is 404), only aggregates.
        """
        digest = req.digest()
        conn = self.store.conn
        reader = partner_id if origin is None else None
        if idempotency_key is not None:
            row = conn.execute("SELECT seq, request_hash FROM messages WHERE partner_id = ? AND idempotency_key = ?",
                               (partner_id, idempotency_key)).fetchone()
            if row is not None:
                if row["request_hash"] != digest:
                    raise Conflict("Idempotency-Key was already used with a different request body.")
                return self.get(reader, _wire_id(MSG_PREFIX, int(row["seq"]))), False
        subscriber = self._subscriber(req.phone_number)
        text, priority, ttl, template_seq = self._check(partner_id, req)
        self._check_quota(partner_id)
        now_us = to_micros(self.world.clock.now)
        expires_us = now_us + ttl * 1_000_000
        callback = None if req.sink is None else json.dumps({"sink": req.sink, "token": req.sink_token})
        # One transaction: a crash never leaves a message without its first attempt and its wake-ups.
        with self.store.transaction():
            seq = int(conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM messages").fetchone()[0])
            conn.execute(
                "INSERT INTO messages(seq, partner_id, subscriber, msisdn, kind, channel, priority, sender, "
                "template_seq, text, title, created_us, expires_us, status, idempotency_key, request_hash, callback, "
                "origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'NEW', ?, ?, ?, ?)",
                (seq, partner_id, subscriber, req.phone_number, req.kind, req.channel, priority, req.sender_name,
                 template_seq, text, req.title, now_us, expires_us, idempotency_key, digest, callback, origin))
            self._change(seq, "ACCEPTED")
            self._timers.schedule(from_micros(expires_us), "expire", seq=seq)
            self._attempt(seq)
        return self.get(reader, _wire_id(MSG_PREFIX, seq)), True

    # -- reading ------------------------------------------------------------------------------------------------
    def get(self, partner_id: int | None, message_id: str) -> MessageView:
        """A message of the partner (``None``: any, operator side) with its history; another's is 404, and so is
        one a journey sent (the partner sees its aggregates only)."""
        seq = parse_public_id(message_id, MSG_PREFIX)
        row = None if seq is None else self.store.conn.execute("SELECT * FROM messages WHERE seq = ?",
                                                               (seq,)).fetchone()
        if row is None or (partner_id is not None and (row["partner_id"] != partner_id or row["origin"] is not None)):
            raise NotFound(f"Message {message_id} not found.")
        history = [StatusChange(r["status"], from_micros(r["at_us"]), r["channel"], r["reason"])
                   for r in self.store.conn.execute("SELECT * FROM message_events WHERE message_seq = ? ORDER BY n",
                                                    (seq,))]
        template = None if row["template_seq"] is None else _wire_id(TEMPLATE_PREFIX, int(row["template_seq"]))
        return MessageView(_wire_id(MSG_PREFIX, int(row["seq"])), row["msisdn"], row["kind"], row["channel"],
                           row["priority"], row["sender"], template, row["text"], row["title"],
                           from_micros(row["created_us"]), from_micros(row["expires_us"]), row["status"],
                           row["reason"], history)

    # -- carrying it on the clock ---------------------------------------------------------------------------
    def _row(self, seq: int) -> sqlite3.Row:
        row: sqlite3.Row = self.store.conn.execute("SELECT * FROM messages WHERE seq = ?", (seq,)).fetchone()
        return row

    def _change(self, seq: int, status: str, channel: str | None = None, reason: str | None = None) -> None:
        """Record a status change, and its CloudEvent when the message has a callback, in one transaction."""
        row = self._row(seq)
        now = self.world.clock.now
        n = int(self.store.conn.execute("SELECT COUNT(*) FROM message_events WHERE message_seq = ?",
                                        (seq,)).fetchone()[0]) + 1
        message_id = _wire_id(MSG_PREFIX, seq)

        def save(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO message_events(message_seq, n, status, channel, reason, at_us) "
                         "VALUES (?, ?, ?, ?, ?, ?)", (seq, n, status, channel, reason, to_micros(now)))
            conn.execute("UPDATE messages SET status = ?, reason = ? WHERE seq = ?", (status, reason, seq))

        outbox = self._outbox()
        if outbox is None or row["callback"] is None:
            with self.store.transaction() as conn:
                save(conn)
            return
        callback = json.loads(row["callback"])
        event_id = f"{message_id}-{n:03d}"
        data = {"messageId": message_id, "phoneNumber": row["msisdn"], "status": status}
        data.update({k: v for k, v in (("channel", channel), ("reason", reason)) if v is not None})
        body = cloud_event(event_id, SOURCE, EVENT_TYPE, now, data)
        outbox.add([OutboxEvent(event_id, message_id, int(row["partner_id"]), EVENT_TYPE, callback["sink"],
                                callback["token"], body, now)], also=save)

    def _attempt(self, seq: int, fallback: bool = False) -> None:
        """Decide a send now: policy for the kind, then transmit, hold, retry later or suppress."""
        row = self._row(seq)
        status = str(row["status"])
        world = self.world
        now = world.clock.now
        if status in FINAL or (fallback and status != "SENT") or to_micros(now) >= int(row["expires_us"]):
            return
        sub, kind, partner_id = int(row["subscriber"]), str(row["kind"]), int(row["partner_id"])
        if kind != "AUTHENTICATION" and self._blocked(row["msisdn"], partner_id, row["sender"]):
            self._change(seq, "SUPPRESSED", reason="SENDER_BLOCKED")
            return
        subs = np.asarray([sub], np.int32)
        promo = kind == "PROMO"
        clock = world.local_clock(subs)
        push_ok = world.consent.is_permitted(subs, "ADVERTISING", "PUSH")
        sms_ok = world.consent.is_permitted(subs, "ADVERTISING", "SMS")
        assert isinstance(push_ok, np.ndarray) and isinstance(sms_ok, np.ndarray)
        partner = np.asarray([partner_id], np.int64)
        sent_today, partner_today = self.caps.today(subs, clock.day, partner)
        if fallback:  # the push already counted this message
            sent_today, partner_today = sent_today * 0, partner_today * 0
        facts = policy.Facts(subs, world.app_installed(subs), push_ok, sms_ok, clock.hour,
                             world.is_reachable(subs.astype(np.int64)), sent_today, partner_today)
        release = now.replace(second=0, microsecond=0) + timedelta(
            minutes=(self.promo_rules.quiet_end_hour * 60 - int(clock.minute[0])) % 1440)
        can_hold = promo and release < from_micros(int(row["expires_us"]))
        decision = policy.decide(facts, kind="PROMO" if promo else "INFORMATIONAL",
                                 channel="SMS" if fallback else str(row["channel"]),
                                 rules=self.promo_rules if promo else _NO_QUIET, can_hold=can_hold, remaining=None)
        if len(decision.held):
            if status != "HELD":
                self._change(seq, "HELD", reason="QUIET_HOURS")
            self._timers.schedule(release, "attempt", seq=seq)
            return
        if len(decision.suppressed):
            reason = policy.REASONS[int(decision.reason[0])]
            if reason == "UNREACHABLE":
                wait = HIGH_RETRY_S if row["priority"] == "HIGH" else self.rules.retry_s
                self._timers.schedule(now + timedelta(seconds=wait), "attempt", seq=seq, fallback=fallback)
            elif fallback:
                if not self._in_flight.get(seq):
                    self._change(seq, "FAILED", "PUSH", "NETWORK")
            else:
                self._change(seq, "SUPPRESSED", reason=reason)
            return
        channel = policy.CHANNELS[int(decision.send_channel[0])]
        if promo and not fallback:
            self.caps.record(subs, clock.day, partner)
        self._transmit(row, channel, int(clock.hour[0]))

    def _transmit(self, row: sqlite3.Row, channel: str, local_hour: int) -> None:
        seq, sub = int(row["seq"]), int(row["subscriber"])
        world = self.world
        now = world.clock.now
        sends = int(self.store.conn.execute("SELECT COUNT(*) FROM message_events WHERE message_seq = ? AND "
                                            "status = 'SENT'", (seq,)).fetchone()[0])
        out = delivery.simulate(world.streams.stream("message-delivery", seq, sends),
                                np.asarray([policy.PUSH, policy.SMS], np.uint8), "PROMO" if row["kind"] == "PROMO"
                                else "INFORMATIONAL", np.asarray([local_hour] * 2, np.int16),
                                world.ages(np.asarray([sub, sub])), world.sms_delay_s())
        k = policy.CHANNELS.index(channel)
        self._change(seq, "SENT", channel)
        fallback = channel == "PUSH" and row["channel"] == "PUSH_THEN_SMS"
        latency = float(out.latency_s[k])
        if bool(out.delivered[k]):
            self._in_flight[seq] = self._in_flight.get(seq, 0) + 1
            opens = float(out.open_after_s[k])
            self._timers.schedule(now + timedelta(seconds=latency), "arrive", seq=seq, channel=channel,
                                  open_after_s=opens)
        elif not fallback:
            self._change(seq, "FAILED", channel, "NETWORK")
            return
        if fallback and (not bool(out.delivered[k]) or latency > self.rules.push_fallback_s):
            self._timers.schedule(now + timedelta(seconds=self.rules.push_fallback_s), "attempt", seq=seq,
                                  fallback=True)

    def _arrive(self, seq: int, channel: str, open_after_s: float = float("nan")) -> None:
        self._in_flight[seq] = self._in_flight.get(seq, 1) - 1
        row = self._row(seq)
        if row["status"] in FINAL:
            return  # delivered by the other channel already, or expired in flight (the network drops it)
        self._deliver(row, channel)
        self._change(seq, "DELIVERED", channel)
        if open_after_s == open_after_s:  # not NaN: the subscriber opens it then (reports count it once passed)
            with self.store.transaction() as conn:
                conn.execute("UPDATE messages SET opened_us = ? WHERE seq = ?",
                             (to_micros(self.world.clock.now) + round(open_after_s * 1e6), seq))

    def _deliver(self, row: sqlite3.Row, channel: str) -> None:
        meta: dict[str, Any] = {"messageKind": row["kind"], "priority": row["priority"]}
        self.world.deliver(int(row["subscriber"]), channel, row["sender"], row["text"], row["kind"],
                           title=row["title"], message_id=_wire_id(MSG_PREFIX, int(row["seq"])), **meta)

    # -- restart ------------------------------------------------------------------------------------------------
    def replay(self) -> list[Replay]:
        """Before the world is replayed: schedule each delivery again at its instant; returns the ``PROMO`` sends
        to count into the caps (a send by the accepting request runs after its instant's tick, as it did live)."""
        conn, clock = self.store.conn, self.world.clock
        for r in conn.execute("SELECT message_seq, channel, at_us FROM message_events WHERE status = 'DELIVERED' "
                              "ORDER BY at_us, message_seq").fetchall():
            clock.schedule(from_micros(int(r["at_us"])), functools.partial(
                lambda seq, channel: self._deliver(self._row(seq), channel), int(r["message_seq"]), str(r["channel"])))
        at_request: list[Replay] = []
        for r in conn.execute("SELECT m.seq, m.created_us, MIN(e.at_us) AS sent_us FROM messages m JOIN "
                              "message_events e ON e.message_seq = m.seq AND e.status = 'SENT' "
                              "WHERE m.kind = 'PROMO' GROUP BY m.seq ORDER BY sent_us, m.seq").fetchall():
            count = functools.partial(self._count_promo, int(r["seq"]))
            if r["sent_us"] == r["created_us"]:
                at_request.append((from_micros(int(r["sent_us"])), count))
            else:
                clock.schedule(from_micros(int(r["sent_us"])), count)
        return at_request

    def _count_promo(self, seq: int) -> None:
        row = self._row(seq)
        subs = np.asarray([int(row["subscriber"])], np.int32)
        self.caps.record(subs, self.world.local_clock(subs).day, np.asarray([int(row["partner_id"])], np.int64))

    def resume(self) -> None:
        """Once the world is restored: expiries, retries, releases, arrivals and fallbacks that were pending go on."""
        for action, args in self._timers.resume():
            if action == "arrive":
                self._in_flight[args["seq"]] = self._in_flight.get(args["seq"], 0) + 1

    def _expire(self, seq: int) -> None:
        row = self._row(seq)
        if row["status"] in FINAL:
            return
        reason = {"HELD": "QUIET_HOURS", "ACCEPTED": "UNREACHABLE"}.get(str(row["status"]))
        self._change(seq, "EXPIRED", reason=reason)
