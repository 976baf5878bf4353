"""Values of direct messages: kinds, channels and statuses, the errors a partner sees, template filling, and the
requests, views and registrations the service hands out. No SQL and no clock here."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime

from gateway.core.errors import InvalidMessage, Unprocessable

KINDS: tuple[str, ...] = ("TRANSACTIONAL", "INFORMATIONAL", "AUTHENTICATION", "PROMO")


@dataclass(frozen=True)
class KindRules:
    """Which of the operator's rules a message of one kind to one person obeys at the send instant (the one
    source for ``/messages/v1`` and the CDP's trigger pushes; campaigns follow :mod:`gateway.services.policy`)."""

    advertising_consent: bool
    """Needs the person's advertising consent for the channel (an app's push: its in-app marketing consent)."""
    quiet_hours: bool
    """Not sent in quiet hours in the person's local time."""
    daily_cap: bool
    """Stopped by, and counted in, the daily cap."""


MARKETING_RULES = KindRules(advertising_consent=True, quiet_hours=True, daily_cap=True)
"""A message that advertises: consent, quiet hours and the cap."""
SERVICE_RULES = KindRules(advertising_consent=False, quiet_hours=False, daily_cap=False)
"""A service message (an order's status, a notice, a code): none of them."""
KIND_RULES: dict[str, KindRules] = {"TRANSACTIONAL": SERVICE_RULES, "INFORMATIONAL": SERVICE_RULES,
                                    "AUTHENTICATION": SERVICE_RULES, "PROMO": MARKETING_RULES}
"""The rules of each of :data:`KINDS` (the README's ``/messages/v1`` table)."""
CHANNELS: tuple[str, ...] = ("PUSH", "SMS", "PUSH_THEN_SMS")
PRIORITIES: tuple[str, ...] = ("NORMAL", "HIGH")
FINAL: frozenset[str] = frozenset({"DELIVERED", "FAILED", "EXPIRED", "SUPPRESSED"})
EVENT_TYPE = "org.opsim.messages.v1.message-status"
SOURCE = "/messages/v1"
HIGH_RETRY_S = 60
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,31})\}")
_BRACES = re.compile(r"[{}]")


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
        raise InvalidMessage("; ".join(parts) + ".", api="MESSAGES")
    bad = [n for n, v in parameters.items() if _BRACES.search(v)]
    if bad:
        raise InvalidMessage(f"templateParameters may not contain braces: {', '.join(sorted(bad))}.", api="MESSAGES")
    return PLACEHOLDER.sub(lambda m: parameters[m.group(1)], text)


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
