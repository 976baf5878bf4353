"""Wire models of the admin partners API (``/admin/v1/partners``): a partner to create and its limits, the
partner as listed (its secret shown once, on creation) and API keys issued by the operator.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from gateway.wire.base import WireModel
from gateway.wire.partners import ApiKeyInfo

Scope = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9:._-]{0,99}$")]


class PartnerLimits(WireModel):
    """Limits an operator sets on a partner (enforced by the APIs that consume them)."""

    requests_per_second: float | None = Field(default=None, gt=0)
    max_campaigns: int | None = Field(default=None, ge=0)
    messages_per_day: int | None = Field(default=None, ge=0)


class PartnerCreate(WireModel):
    """A new partner."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
    scopes: list[Scope] = Field(default_factory=list, max_length=100)
    limits: PartnerLimits = Field(default_factory=PartnerLimits)


class Partner(WireModel):
    """A partner as the operator sees it."""

    id: str
    name: str
    scopes: list[str]
    limits: PartnerLimits
    disabled: bool
    created_at: str
    client_id: str
    api_keys: list[ApiKeyInfo]


class PartnerCreated(Partner):
    """A just-created partner, with its client secret: shown this once, stored only hashed."""

    client_secret: str


class PartnerList(WireModel):
    """All partners."""

    partners: list[Partner]


class ApiKeyCreated(ApiKeyInfo):
    """A just-issued API key, shown this once."""

    key: str
