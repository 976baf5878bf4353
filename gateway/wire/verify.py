"""Wire models of the authentication codes API (``/verify/v1``): a verification to start, a code to check, and
the verification with its sends.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from gateway.wire.base import Instant, WireModel
from gateway.wire.camara.subject import PhoneNumber
from gateway.wire.vocabulary import DeliveryChannel


class StartVerification(WireModel):
    """Send a code to ``phoneNumber``; ``AUTO`` pushes first and falls back to SMS."""

    phone_number: PhoneNumber
    channel: Literal["PUSH", "SMS", "AUTO"] = "AUTO"
    sim_swap_max_age_hours: int | None = Field(default=None, ge=1, le=2400)
    """Refuse (422 VERIFY.SIM_SWAPPED) when the line's SIM changed within this many hours."""


class CheckCode(WireModel):
    """The code the user typed."""

    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{4,10}$")]


class SendInfo(WireModel):
    """One delivery attempt (the code is never shown)."""

    attempt: int
    channel: DeliveryChannel
    at: Instant
    status: str
    reason: str | None = None
    delivered_at: Instant | None = None


class Verification(WireModel):
    """A verification as the partner sees it."""

    id: str
    phone_number: str
    channel: Literal["PUSH", "SMS", "AUTO"]
    status: Literal["PENDING", "APPROVED", "EXPIRED", "MAX_ATTEMPTS"]
    created_at: Instant
    expires_at: Instant
    send_count: int
    check_count: int
    checks_left: int
    sends: list[SendInfo]
