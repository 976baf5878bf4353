"""Wire models of CIBA (``POST /bc-authorize``, RFC-style snake_case) and of the admin's choice of how a
subscriber answers CIBA requests (``/admin/v1/subscribers/{msisdn}/ciba``).
"""

from __future__ import annotations

from typing import Literal

from gateway.wire.admin_subscribers import Msisdn
from gateway.wire.base import RfcModel, WireModel


class BackchannelRequest(RfcModel):
    """Form fields of ``POST /bc-authorize`` (documentation only)."""

    scope: str
    login_hint: str
    client_id: str | None = None
    client_secret: str | None = None


class BackchannelResponse(RfcModel):
    """CIBA authentication request acknowledgement."""

    auth_req_id: str
    expires_in: int
    interval: int


class CibaPolicy(WireModel):
    """How a subscriber answers CIBA requests: follow their consent, always approve, always deny, never answer."""

    mode: Literal["consent", "approve", "deny", "pending"]


class CibaPolicyView(CibaPolicy):
    """A subscriber's CIBA answer mode."""

    msisdn: Msisdn
