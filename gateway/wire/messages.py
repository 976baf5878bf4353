"""Wire models of the direct messages API (``/messages/v1``): a message to send (kind, channel, sender, text or
template, callback), the message with its status history, and sender and template registrations.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictInt, StringConstraints

from gateway.wire.base import Instant, WireModel
from gateway.wire.camara.subject import PhoneNumber
from gateway.wire.vocabulary import Channel, DeliveryChannel
from gateway.wire.vocabulary import MessageKind as Kind
from gateway.wire.webhooks import SinkCredential

Status = Literal["ACCEPTED", "HELD", "SENT", "DELIVERED", "FAILED", "EXPIRED", "SUPPRESSED"]


ParamName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")]


ParamValue = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class Callback(WireModel):
    """Where the message's status changes are POSTed (https, or http to loopback in local setups)."""

    sink: str = Field(min_length=1, max_length=2048)
    sink_credential: SinkCredential | None = None


class SendMessage(WireModel):
    """A message to one number the partner supplies: free ``text`` or an approved ``templateId``."""

    phone_number: PhoneNumber
    kind: Kind
    channel: Channel = "PUSH_THEN_SMS"
    sender_name: Annotated[str, StringConstraints(min_length=1, max_length=11)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    title: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    template_id: str | None = None
    template_parameters: dict[ParamName, ParamValue] = Field(default_factory=dict, max_length=20)
    priority: Literal["NORMAL", "HIGH"] | None = None
    ttl_seconds: StrictInt | None = Field(default=None, ge=1)
    callback: Callback | None = None


class StatusChangeInfo(WireModel):
    """One step of the history."""

    status: Status
    at: Instant
    channel: DeliveryChannel | None = None
    reason: str | None = None


class Message(WireModel):
    """A message as its partner sees it: what it sent and what became of it, nothing about the subscriber."""

    id: str
    phone_number: str
    kind: Kind
    channel: str
    priority: str
    sender_name: str
    template_id: str | None = None
    text: str
    title: str | None = None
    created_at: Instant
    expires_at: Instant
    status: Status
    reason: str | None = None
    history: list[StatusChangeInfo]


class SenderRequest(WireModel):
    """An alphanumeric sender name (1-11 letters or digits, at least one letter)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=11)]


class TemplateRequest(WireModel):
    """A template text with ``{placeholders}`` for one message kind (``AUTHENTICATION`` needs ``{code}``)."""

    kind: Kind
    text: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class RegistrationView(WireModel):
    """A sender name or template and the operator's decision."""

    id: str
    status: Literal["PENDING", "APPROVED", "REJECTED"]
    reason: str | None = None
    created_at: Instant
    decided_at: Instant | None = None
    name: str | None = None
    kind: str | None = None
    text: str | None = None


class SenderList(WireModel):
    """Sender names, oldest first."""

    senders: list[RegistrationView]


class TemplateList(WireModel):
    """Templates, oldest first."""

    templates: list[RegistrationView]
