"""The direct messages service behind ``/messages/v1``: sender and template registrations and the operator's
decisions, subscribers' blocks, the checks of a message request, accepting a message, and reading it back.

Carrying a message on the clock is :mod:`gateway.services.messages.engine`; the SQL is
:mod:`gateway.services.messages.repository`. This module knows nothing of HTTP.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable

from gateway.core.errors import (
    Conflict,
    IdentifierNotFound,
    InvalidArgument,
    InvalidMessage,
    NotFound,
    OutOfRange,
    QuotaExceeded,
    Unprocessable,
)
from gateway.core.ids import MESSAGE_PREFIX, SENDER_PREFIX, TEMPLATE_PREFIX, format_id, parse_public_id
from gateway.core.journal import Replay
from gateway.core.settings import MessageSettings
from gateway.core.store import Store
from gateway.core.webhooks import Outbox
from gateway.services import policy, sms
from gateway.services.caps import FrequencyCaps
from gateway.services.messages.engine import MessageEngine
from gateway.services.messages.model import (
    CHANNELS,
    KINDS,
    PRIORITIES,
    Block,
    MessageRequest,
    MessageView,
    ModerationRejected,
    Registration,
    SenderNotApproved,
    StatusChange,
    TemplateNotApproved,
    TemplateRequired,
    fill,
    placeholders,
)
from gateway.services.messages.repository import SENDERS, TEMPLATES, MessageRepository
from simulator.clock import from_micros, to_micros
from simulator.errors import UnknownSubscriberError
from simulator.world import World


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
        self.repository = MessageRepository(store)
        self.engine = MessageEngine(world, store, self.repository, rules, promo_rules, caps, outbox)

    # -- senders and templates (partner side) ---------------------------------------------------------------
    def register_sender(self, partner_id: int, name: str) -> Registration:
        """A new sender name, ``PENDING`` until the operator decides (409 if the partner has it already)."""
        problem = sms.sender_problem(name)
        if problem:
            raise InvalidArgument(problem[0].upper() + problem[1:] + ".")
        try:
            seq = self.repository.insert_sender(partner_id, name, to_micros(self.world.clock.now))
        except sqlite3.IntegrityError:
            raise Conflict(f"Sender name {name} is already registered.") from None
        return self.sender(partner_id, format_id(SENDER_PREFIX, seq))

    def register_template(self, partner_id: int, kind: str, text: str) -> Registration:
        """A new template for one message kind, ``PENDING`` until the operator decides."""
        if kind not in KINDS:
            raise InvalidArgument(f"kind must be one of {', '.join(KINDS)}.")
        if not text.strip():
            raise InvalidMessage("text must not be blank.", api="MESSAGES")
        if kind == "AUTHENTICATION" and "code" not in placeholders(text):
            raise InvalidMessage("An AUTHENTICATION template must contain the placeholder {code}.", api="MESSAGES")
        sample = fill(text, {n: "0" * 6 for n in placeholders(text)})
        problems = sms.text_problems("PUSH_THEN_SMS", sample, None)
        if problems:
            raise InvalidMessage("; ".join(problems) + ".", api="MESSAGES")
        seq = self.repository.insert_template(partner_id, kind, text, to_micros(self.world.clock.now))
        return self.template(partner_id, format_id(TEMPLATE_PREFIX, seq))

    @staticmethod
    def _registration(row: sqlite3.Row, prefix: str) -> Registration:
        keys = row.keys()
        return Registration(
            format_id(prefix, int(row["seq"])), int(row["partner_id"]), str(row["status"]), row["reason"],
            from_micros(int(row["created_us"])),
            None if row["decided_us"] is None else from_micros(int(row["decided_us"])),
            name=row["name"] if "name" in keys else None, kind=row["kind"] if "kind" in keys else None,
            text=row["text"] if "text" in keys else None)

    def _get(self, table: str, prefix: str, partner_id: int | None, wire_id_: str) -> Registration:
        seq = parse_public_id(wire_id_, prefix)
        row = None if seq is None else self.repository.registration(table, seq)
        if row is None or (partner_id is not None and row["partner_id"] != partner_id):
            raise NotFound(f"{wire_id_} not found.")
        return self._registration(row, prefix)

    def sender(self, partner_id: int | None, sender_id: str) -> Registration:
        """A sender registration (of that partner; ``None``: any, operator side)."""
        return self._get(SENDERS, SENDER_PREFIX, partner_id, sender_id)

    def template(self, partner_id: int | None, template_id: str) -> Registration:
        """A template registration (of that partner; ``None``: any, operator side)."""
        return self._get(TEMPLATES, TEMPLATE_PREFIX, partner_id, template_id)

    def senders(self, partner_id: int | None, status: str | None = None) -> list[Registration]:
        """Sender registrations, oldest first."""
        return [self._registration(r, SENDER_PREFIX) for r in self.repository.registrations(SENDERS, partner_id,
                                                                                           status)]

    def templates(self, partner_id: int | None, status: str | None = None) -> list[Registration]:
        """Template registrations, oldest first."""
        return [self._registration(r, TEMPLATE_PREFIX) for r in self.repository.registrations(TEMPLATES, partner_id,
                                                                                             status)]

    # -- operator decisions -----------------------------------------------------------------------------------
    def _decide(self, table: str, prefix: str, wire_id_: str, approve: bool, reason: str | None) -> Registration:
        current = self._get(table, prefix, None, wire_id_)
        seq = parse_public_id(current.id, prefix)
        assert seq is not None
        self.repository.decide(table, seq, "APPROVED" if approve else "REJECTED", None if approve else reason,
                               to_micros(self.world.clock.now))
        return self._get(table, prefix, None, wire_id_)

    def decide_sender(self, sender_id: str, approve: bool, reason: str | None = None) -> Registration:
        """Approve or reject (also revoke) a sender name."""
        return self._decide(SENDERS, SENDER_PREFIX, sender_id, approve, reason)

    def decide_template(self, template_id: str, approve: bool, reason: str | None = None) -> Registration:
        """Approve or reject (also revoke) a template."""
        return self._decide(TEMPLATES, TEMPLATE_PREFIX, template_id, approve, reason)

    # -- subscribers' blocks (operator side; gateway state, not world state) ---------------------------------
    def block(self, msisdn: str, partner_id: int, sender: str) -> Block:
        """The subscriber blocks a sender of the partner (``*``: every sender of it); idempotent."""
        self._subscriber(msisdn)
        self.repository.add_block(msisdn, partner_id, sender, to_micros(self.world.clock.now))
        return next(b for b in self.blocks(msisdn) if (b.partner_id, b.sender) == (partner_id, sender))

    def unblock(self, msisdn: str, partner_id: int, sender: str) -> None:
        """Lift a block (404 when there is none)."""
        if not self.repository.remove_block(msisdn, partner_id, sender):
            raise NotFound("No such block.")

    def blocks(self, msisdn: str) -> list[Block]:
        """A subscriber's blocks, oldest first."""
        self._subscriber(msisdn)
        return [Block(r["msisdn"], r["partner_id"], r["sender"], from_micros(r["created_us"]))
                for r in self.repository.blocks(msisdn)]

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
        if self.repository.sender_status(partner_id, req.sender_name) != "APPROVED":
            raise SenderNotApproved(f"Sender name {req.sender_name} is not approved for this partner; register it "
                                    "(POST /messages/v1/senders) and wait for the operator's approval.")
        template_seq = None
        if req.template_id is not None:
            if req.text is not None:
                raise InvalidArgument("Give text or templateId, not both.")
            seq = parse_public_id(req.template_id, TEMPLATE_PREFIX)
            row = None if seq is None else self.repository.template_of(partner_id, seq)
            if row is None or row["status"] != "APPROVED" or row["kind"] != req.kind:
                raise TemplateNotApproved(f"Template {req.template_id} is not approved for this partner and kind "
                                          f"{req.kind}.")
            template_seq = seq
            text = fill(str(row["text"]), req.template_parameters)
            if auth and not re.fullmatch(r"[A-Za-z0-9]{4,10}", req.template_parameters.get("code", "")):
                raise InvalidMessage("templateParameters.code must be 4 to 10 letters or digits.", api="MESSAGES")
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
            raise InvalidMessage("; ".join(problems) + ".", api="MESSAGES")
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
        if self.repository.accepted_since(partner_id, to_micros(midnight)) >= limit:
            raise QuotaExceeded(f"The partner's limit of {limit:g} messages per day is reached.")

    def send(self, partner_id: int, req: MessageRequest, idempotency_key: str | None = None,
             origin: str | None = None) -> tuple[MessageView, bool]:
        """Accept a message and try it at once; returns it and whether it is new (an idempotent replay is not).

        ``origin`` names the partner's automation that sends it (a journey id): such a message goes to a
        subscriber the operator selected, so the partner never reads it (``GET`` is 404), only aggregates.
        """
        digest = req.digest()
        reader = partner_id if origin is None else None
        if idempotency_key is not None:
            row = self.repository.by_key(partner_id, idempotency_key)
            if row is not None:
                if row["request_hash"] != digest:
                    raise Conflict("Idempotency-Key was already used with a different request body.")
                return self.get(reader, format_id(MESSAGE_PREFIX, int(row["seq"]))), False
        subscriber = self._subscriber(req.phone_number)
        text, priority, ttl, template_seq = self._check(partner_id, req)
        self._check_quota(partner_id)
        now_us = to_micros(self.world.clock.now)
        expires_us = now_us + ttl * 1_000_000
        callback = None if req.sink is None else json.dumps({"sink": req.sink, "token": req.sink_token})
        # One transaction: a crash never leaves a message without its first attempt and its wake-ups.
        with self.store.transaction() as conn:
            seq = self.repository.insert(conn, {
                "partner_id": partner_id, "subscriber": subscriber, "msisdn": req.phone_number, "kind": req.kind,
                "channel": req.channel, "priority": priority, "sender": req.sender_name,
                "template_seq": template_seq, "text": text, "title": req.title, "created_us": now_us,
                "expires_us": expires_us, "idempotency_key": idempotency_key, "request_hash": digest,
                "callback": callback, "origin": origin})
            self.engine.accept(seq, expires_us)
        return self.get(reader, format_id(MESSAGE_PREFIX, seq)), True

    # -- reading ------------------------------------------------------------------------------------------------
    def get(self, partner_id: int | None, message_id: str) -> MessageView:
        """A message of the partner (``None``: any, operator side) with its history; another's is 404, and so is
        one a journey sent (the partner sees its aggregates only)."""
        seq = parse_public_id(message_id, MESSAGE_PREFIX)
        row = None if seq is None else self.repository.row(seq)
        if row is None or (partner_id is not None and (row["partner_id"] != partner_id or row["origin"] is not None)):
            raise NotFound(f"Message {message_id} not found.")
        history = [StatusChange(r["status"], from_micros(r["at_us"]), r["channel"], r["reason"])
                   for r in self.repository.history(int(row["seq"]))]
        template = None if row["template_seq"] is None else format_id(TEMPLATE_PREFIX, int(row["template_seq"]))
        return MessageView(format_id(MESSAGE_PREFIX, int(row["seq"])), row["msisdn"], row["kind"], row["channel"],
                           row["priority"], row["sender"], template, row["text"], row["title"],
                           from_micros(row["created_us"]), from_micros(row["expires_us"]), row["status"],
                           row["reason"], history)

    def counts(self) -> dict[tuple[str, str], int]:
        """Messages by (status, reason) now: their outcomes once final (read by the metrics at scrape time)."""
        return self.repository.status_counts()

    # -- restart ------------------------------------------------------------------------------------------------

    def replay(self) -> list[Replay]:
        """Before the world is replayed: deliveries back on the clock, ``PROMO`` sends to count into the caps
        (:meth:`gateway.services.messages.engine.MessageEngine.replay`)."""
        return self.engine.replay()

    def resume(self) -> None:
        """Once the world is restored: what was pending goes on
        (:meth:`gateway.services.messages.engine.MessageEngine.resume`)."""
        self.engine.resume()
