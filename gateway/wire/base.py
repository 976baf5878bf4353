"""The wire format: camelCase JSON, strict inputs, finite numbers, RFC 3339 instants with a zone and in range.

Owns the pydantic base class every request and response model derives from and the instant type. It must not
know about HTTP (parsing requests lives in :mod:`gateway.http.routing`) nor about any particular resource.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel

from simulator.clock import MAX_INSTANT, MIN_INSTANT, check_instant
from simulator.errors import InstantRangeError


def format_instant(instant: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix, as CAMARA examples write instants."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


INSTANT_RANGE = f"from {format_instant(MIN_INSTANT)} to before {format_instant(MAX_INSTANT)}"
"""The accepted instants, as error messages and the README state them."""


def in_range(instant: datetime) -> datetime:
    """``instant`` unchanged when the simulator can hold it (see :func:`simulator.clock.check_instant`), else
    ``ValueError`` (pydantic reports it against the field)."""
    try:
        check_instant(instant)
    except InstantRangeError:
        raise ValueError(f"instant must be {INSTANT_RANGE}") from None
    return instant


Instant = Annotated[AwareDatetime, AfterValidator(in_range),
                    PlainSerializer(format_instant, return_type=str, when_used="json")]
"""A timezone-aware instant in the accepted range; naive date-times and instants out of range are refused on
input, UTC with ``Z`` on output."""


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
        allow_inf_nan=False,  # NaN, Infinity and overflowing numbers (1e400) are not numbers on the wire
    )


class RfcModel(BaseModel):
    """Base of bodies whose field names an RFC fixes in snake_case (OAuth 2.0): no aliasing, still strict."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


MAX_ID = 2**63 - 1
