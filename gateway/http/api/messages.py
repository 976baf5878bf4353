"""Direct messages ``/messages/v1``: send to a number, read the status history, register senders and templates.

Scopes: ``messages:send`` (send, register), ``messages:read`` (read). A message may name a ``callback`` sink:
each status change is then POSTed there as a signed CloudEvent ``org.opsim.messages.v1.message-status`` through
the webhook outbox. The rules per kind live in :mod:`gateway.services.messages`; the operator's side (approvals, blocks)
in :mod:`gateway.http.api.admin_messages`.
"""

from __future__ import annotations

from aiohttp import web

from gateway.core.webhooks import check_sink, sink_access_token
from gateway.http.auth import auth_of
from gateway.http.keys import MESSAGES, SETTINGS
from gateway.http.routing import Access, RouteTable, idempotency_key, json_response, read_json
from gateway.services.messages.model import MessageRequest, MessageView, Registration
from gateway.wire.messages import (
    Message,
    RegistrationView,
    SenderList,
    SenderRequest,
    SendMessage,
    StatusChangeInfo,
    TemplateList,
    TemplateRequest,
)

SCOPE_SEND = "messages:send"
SCOPE_READ = "messages:read"

routes = RouteTable("messages")





















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
             also=((200, Message),), changes_world=True,
             idempotent=True,
             example={"phoneNumber": "+491701000001", "kind": "TRANSACTIONAL", "channel": "SMS",
                      "senderName": "Acme", "text": "Your parcel is on its way",
                      "callback": {"sink": "https://partner.example.com/message-status"}})
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
