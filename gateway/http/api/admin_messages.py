"""Operator side of direct messages: approve or reject partners' sender names and templates; subscribers' blocks.

A block is the subscriber's choice not to receive a partner's sender (``*``: any sender of that partner). It is
gateway state (SQLite), not world state, so it is not journaled; it survives restarts with the store. Rules in
:mod:`gateway.services.messages`.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from gateway.core.ids import partner_public_id
from gateway.http.api.messages import registration_view
from gateway.http.keys import MESSAGES, PARTNERS
from gateway.http.routing import Access, RouteTable, json_response, no_content, read_json, read_query
from gateway.services.control import normalise_msisdn
from gateway.services.messages.model import Registration
from gateway.wire.admin_messages import (
    AdminRegistration,
    AdminSenderList,
    AdminTemplateList,
    BlockList,
    BlockRequest,
    BlockView,
    Decision,
    RegistrationQuery,
)

routes = RouteTable("admin: messages")



















def _admin_view(reg: Registration) -> AdminRegistration:
    return AdminRegistration(partner_id=partner_public_id(reg.partner_id),
                             **registration_view(reg).model_dump(by_alias=False))


def _listed(request: web.Request,
            registrations: Callable[[int | None, str | None], list[Registration]]) -> list[AdminRegistration]:
    """Every partner's registrations of one kind, filtered by ``?status``."""
    q = read_query(request, RegistrationQuery)
    return [_admin_view(r) for r in registrations(None, q.status)]


async def _decided(request: web.Request, decide: Callable[[str, bool, str | None], Registration],
                   id_param: str) -> web.Response:
    """The operator's decision on the registration named by path parameter ``id_param``."""
    body = await read_json(request, Decision)
    reg = decide(request.match_info[id_param], body.decision == "APPROVED", body.reason)
    return json_response(_admin_view(reg))


@routes.get("/admin/v1/message-senders", summary="Sender names of every partner", access=Access.ADMIN,
            query=RegistrationQuery, response=AdminSenderList, errors=(400,))
async def list_senders(request: web.Request) -> web.Response:
    """Oldest first; ``?status=PENDING`` lists what awaits a decision."""
    return json_response(AdminSenderList(senders=_listed(request, request.app[MESSAGES].senders)))


@routes.post("/admin/v1/message-senders/{senderId}/decision", summary="Approve or reject a sender name",
             access=Access.ADMIN, request=Decision, response=AdminRegistration, errors=(400, 404))
async def decide_sender(request: web.Request) -> web.Response:
    """Takes effect for messages accepted from now on."""
    return await _decided(request, request.app[MESSAGES].decide_sender, "senderId")


@routes.get("/admin/v1/message-templates", summary="Message templates of every partner", access=Access.ADMIN,
            query=RegistrationQuery, response=AdminTemplateList, errors=(400,))
async def list_templates(request: web.Request) -> web.Response:
    """Oldest first; ``?status=PENDING`` lists what awaits a decision."""
    return json_response(AdminTemplateList(templates=_listed(request, request.app[MESSAGES].templates)))


@routes.post("/admin/v1/message-templates/{templateId}/decision", summary="Approve or reject a template",
             access=Access.ADMIN, request=Decision, response=AdminRegistration, errors=(400, 404))
async def decide_template(request: web.Request) -> web.Response:
    """Takes effect for messages accepted from now on."""
    return await _decided(request, request.app[MESSAGES].decide_template, "templateId")


def _blocks(request: web.Request, msisdn: str) -> web.Response:
    blocks = request.app[MESSAGES].blocks(msisdn)
    return json_response(BlockList(blocks=[BlockView(msisdn=b.msisdn, partner_id=partner_public_id(b.partner_id),
                                                     sender=b.sender, created_at=b.created_at) for b in blocks]))


@routes.get("/admin/v1/subscribers/{msisdn}/sender-blocks", summary="A subscriber's sender blocks",
            access=Access.ADMIN, response=BlockList, errors=(404,))
async def list_blocks(request: web.Request) -> web.Response:
    """Senders whose direct messages this subscriber does not receive."""
    return _blocks(request, normalise_msisdn(request.match_info["msisdn"]))


@routes.post("/admin/v1/subscribers/{msisdn}/sender-blocks", summary="Block a sender for a subscriber",
             access=Access.ADMIN, request=BlockRequest, response=BlockList, status=201, errors=(400, 404))
async def add_block(request: web.Request) -> web.Response:
    """Direct messages of that sender (``*``: of that partner) are ``SUPPRESSED SENDER_BLOCKED`` from now on
    (``AUTHENTICATION`` codes excepted). Idempotent."""
    msisdn = normalise_msisdn(request.match_info["msisdn"])
    body = await read_json(request, BlockRequest)
    partner = request.app[PARTNERS].get(body.partner_id)
    request.app[MESSAGES].block(msisdn, partner.id, body.sender)
    resp = _blocks(request, msisdn)
    resp.set_status(201)
    return resp


@routes.delete("/admin/v1/subscribers/{msisdn}/sender-blocks/{partnerId}/{sender}",
               summary="Lift a sender block", access=Access.ADMIN, status=204, errors=(404,))
async def delete_block(request: web.Request) -> web.Response:
    """``sender`` may be ``*`` (URL-encoded ``%2A`` or not)."""
    partner = request.app[PARTNERS].get(request.match_info["partnerId"])
    request.app[MESSAGES].unblock(normalise_msisdn(request.match_info["msisdn"]), partner.id,
                                  request.match_info["sender"])
    return no_content()
