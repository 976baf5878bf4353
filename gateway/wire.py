"""The wire format: camelCase JSON, strict inputs, RFC 3339 instants with a zone.

Owns the pydantic base class every request and response model derives from and the instant type. It must not
know about HTTP (parsing requests lives in :mod:`gateway.routing`) nor about any particular resource.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel


def format_instant(instant: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix, as CAMARA examples write instants."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


Instant = Annotated[AwareDatetime, PlainSerializer(format_instant, return_type=str, when_used="json")]
"""A timezone-aware instant; naive date-times are refused on input, UTC with ``Z`` on output."""


class WireModel(BaseModel):
    """Base of request/response bodies: snake_case in Python, camelCase on the wire, unknown fields refused.

    Python code may build models by field name; the wire is parsed by alias only (see ``routing.read_json``).
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
    )


class RfcModel(BaseModel):
    """Base of bodies whose field names an RFC fixes in snake_case (OAuth 2.0): no aliasing, still strict."""

    model_config = ConfigDict(extra="forbid", frozen=True)
