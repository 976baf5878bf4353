"""Wire models of the operator side of direct messages: decisions on partners' sender names and templates, the
registrations as the operator lists them, and subscribers' sender blocks.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import StringConstraints

from gateway.wire.base import Instant, WireModel
from gateway.wire.messages import RegistrationView

SenderName = Annotated[str, StringConstraints(pattern=r"^(\*|[A-Za-z0-9]{1,11})$")]


class Decision(WireModel):
    """Approve, or reject with a reason (rejecting an approved one revokes it)."""

    decision: Literal["APPROVED", "REJECTED"]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None


class RegistrationQuery(WireModel):
    """Filter by status."""

    status: Literal["PENDING", "APPROVED", "REJECTED"] | None = None


class AdminRegistration(RegistrationView):
    """A registration with its partner."""

    partner_id: str


class AdminSenderList(WireModel):
    """Sender names, oldest first."""

    senders: list[AdminRegistration]


class AdminTemplateList(WireModel):
    """Templates, oldest first."""

    templates: list[AdminRegistration]


class BlockRequest(WireModel):
    """Block one sender name of a partner, or all of them (``*``)."""

    partner_id: str
    sender: SenderName


class BlockView(WireModel):
    """A subscriber's block."""

    msisdn: str
    partner_id: str
    sender: str
    created_at: Instant


class BlockList(WireModel):
    """A subscriber's blocks, oldest first."""

    blocks: list[BlockView]
