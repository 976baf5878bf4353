"""Wire models of :mod:`gateway.http.api.partners`.
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
