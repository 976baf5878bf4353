"""Wire models of the partner account API (``/partner/v1``): who am I, and my own API keys.
"""

from __future__ import annotations

from gateway.wire.base import WireModel


class Me(WireModel):
    """The calling partner and what its credential grants."""

    id: str
    name: str
    scopes: list[str]
    credential: str  # "token" or "api_key"


class ApiKeyInfo(WireModel):
    """An API key without its secret part."""

    id: str
    prefix: str
    created_at: str
    revoked: bool


class ApiKeyList(WireModel):
    """A partner's API keys."""

    api_keys: list[ApiKeyInfo]
