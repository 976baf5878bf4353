"""Direct messages ``/messages/v1``: send to a number, read the status history, register senders and templates.

Scopes: ``messages:send`` (send, register), ``messages:read`` (read). A message may name a ``callback`` sink:
each status change is then POSTed there as a signed CloudEvent ``org.opsim.messages.v1.message-status`` through
the webhook outbox. The rules per kind live in :mod:`gateway.messages`; the operator's side (approvals, blocks)
in :mod:`gateway.api.admin_messages`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field, StrictInt, StringConstraints

from gateway.auth import auth_of
from gateway.camara.subject import PhoneNumber
from gateway.keys import CONTROL, MESSAGES, SETTINGS
from gateway.messages import MessageRequest, MessageView, Registration
from gateway.routing import Access, RouteTable, idempotency_key, json_response, read_json
from gateway.webhooks import SinkCredential, check_sink, sink_access_token
from gateway.wire import Instant, WireModel

SCOPE_SEND = "messages:send"
SCOPE_READ = "messages:read"

routes = RouteTable("messages")

Kind = Literal["TRANSACTIONAL", "INFORMATIONAL", "AUTHENTICATION", "PROMO"]
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
    channel: Literal["PUSH", "SMS", "PUSH_THEN_SMS"] = "PUSH_THEN_SMS"
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
    channel: Literal["PUSH", "SMS"] | None = None
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


def registration_view(r: Registration) -> RegistrationView:
    """Wire form of a registration."""
    return RegistrationView(id=r.id, status=r.status, reason=r.reason,
                            created_at=r.created_at, decided_at=r.decided_at, name=r.name, kind=r.kind, text=r.text)


def message_view(m: MessageView) -> Message:
    """Wire form of a message."""
    return Message(id=m.id, phone_number=m.phone_number, kind=m.kind, channel=m.channel,
                   priority=m.priority, sender_name=m.sender_name, template_id=m.template_id, text=m.text,
                   title=m.title, created_at=m.created_at, expires_at=m.expires_at,
                   status=m.status, reason=m.reason,
                   history=[StatusChangeInfo(status=h.status, at=h.at, channel=h.channel,
                                             reason=h.reason) for h in m.history])


@routes.post("/messages/v1/messages", summary="Send a direct message", access=Access.PARTNER, scopes=(SCOPE_SEND,),
             request=SendMessage, response=Message, status=201, errors=(400, 401, 403, 404, 409, 422),
             also=((200, Message),))
async def send(request: web.Request) -> web.Response:
    """Accepted (201) and tried at once; the answer already holds the first steps of the history.
    ``Idempotency-Key``: the same key and body give back the first message (200), another body is 409."""
    key = idempotency_key(request)  # headers before the body
    body = await read_json(request, SendMessage)
    sink = token = None
    if body.callback is not None:
        sink = check_sink(body.callback.sink, request.app[SETTINGS].allow_http_loopback_sinks)
        token = sink_access_token(body.callback.sink_credential)
    req = MessageRequest(body.phone_number, body.kind, body.channel, body.sender_name, body.text, body.title,
                         body.template_id, dict(body.template_parameters), body.priority, body.ttl_seconds, sink, token)
    async with request.app[CONTROL].lock:
        view, created = request.app[MESSAGES].send(auth_of(request).partner_id, req, key)
    return json_response(message_view(view), status=201 if created else 200)


@routes.get("/messages/v1/messages/{messageId}", summary="A message and its status history", access=Access.PARTNER,
            scopes=(SCOPE_READ,), response=Message, errors=(401, 403, 404))
async def get(request: web.Request) -> web.Response:
    """Another partner's message is 404."""
    view = request.app[MESSAGES].get(auth_of(request).partner_id, request.match_info["messageId"])
    return json_response(message_view(view))


@routes.post("/messages/v1/senders", summary="Register a sender name", access=Access.PARTNER, scopes=(SCOPE_SEND,),
             request=SenderRequest, response=RegistrationView, status=201, errors=(400, 401, 403, 409))
async def register_sender(request: web.Request) -> web.Response:
    """``PENDING`` until the operator approves it; messages need an approved sender name."""
    body = await read_json(request, SenderRequest)
    return json_response(registration_view(request.app[MESSAGES].register_sender(auth_of(request).partner_id,
                                                                                 body.name)), status=201)


@routes.get("/messages/v1/senders", summary="My sender names", access=Access.PARTNER, scopes=(SCOPE_READ,),
            response=SenderList, errors=(401, 403))
async def list_senders(request: web.Request) -> web.Response:
    """With their status."""
    regs = request.app[MESSAGES].senders(auth_of(request).partner_id)
    return json_response(SenderList(senders=[registration_view(r) for r in regs]))


@routes.post("/messages/v1/templates", summary="Register a message template", access=Access.PARTNER,
             scopes=(SCOPE_SEND,), request=TemplateRequest, response=RegistrationView, status=201,
             errors=(400, 401, 403))
async def register_template(request: web.Request) -> web.Response:
    """``PENDING`` until the operator approves it; ``AUTHENTICATION`` messages must use an approved one."""
    body = await read_json(request, TemplateRequest)
    reg = request.app[MESSAGES].register_template(auth_of(request).partner_id, body.kind, body.text)
    return json_response(registration_view(reg), status=201)


@routes.get("/messages/v1/templates", summary="My message templates", access=Access.PARTNER, scopes=(SCOPE_READ,),
            response=TemplateList, errors=(401, 403))
async def list_templates(request: web.Request) -> web.Response:
    """With their status."""
    regs = request.app[MESSAGES].templates(auth_of(request).partner_id)
    return json_response(TemplateList(templates=[registration_view(r) for r in regs]))
