"""The calling principal: who a partner request runs as (partner, scopes, subscriber).

Set by the auth middleware in :mod:`gateway.http.auth`; services receive it as a plain value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gateway.core.ids import partner_public_id


@dataclass(frozen=True)
class AuthContext:
    """The authenticated caller of a partner route.

    ``subscriber`` is set only for three-legged tokens bound to one subscriber (CIBA, later issues); a
    two-legged token or API key leaves it ``None`` and the request must then name the device itself.
    """

    partner_id: int
    scopes: frozenset[str]
    via: Literal["token", "api_key"]
    subscriber: int | None = None

    @property
    def partner(self) -> str:
        """Wire id of the calling partner."""
        return partner_public_id(self.partner_id)
