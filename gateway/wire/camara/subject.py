"""Wire models of who a CAMARA request is about: the ``device`` object (phone number, IP addresses, network access
identifier) and the device echoed in answers.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator, model_validator

from gateway.wire.base import WireModel

PhoneNumber = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{4,14}$")]


def _ipv4(value: str) -> str:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError("not an IPv4 address") from None
    return value


class DeviceIpv4Addr(WireModel):
    """Public IPv4 address with a port or the private address behind it."""

    public_address: str
    private_address: str | None = None
    public_port: int | None = Field(default=None, ge=0, le=65535)

    @field_validator("public_address", "private_address")
    @classmethod
    def _check(cls, value: str | None) -> str | None:
        return None if value is None else _ipv4(value)

    @model_validator(mode="after")
    def _one_more(self) -> DeviceIpv4Addr:
        if self.private_address is None and self.public_port is None:
            raise ValueError("publicAddress needs privateAddress or publicPort")
        return self


class Device(WireModel):
    """CAMARA ``Device``: at least one identifier."""

    phone_number: PhoneNumber | None = None
    network_access_identifier: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    ipv4_address: DeviceIpv4Addr | None = None
    ipv6_address: str | None = None

    @field_validator("ipv6_address")
    @classmethod
    def _v6(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.IPv6Address(value)
            except ValueError:
                raise ValueError("not an IPv6 address") from None
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Device:
        if not self.model_fields_set or all(getattr(self, f) is None for f in self.model_fields_set):
            raise ValueError("device must contain at least one identifier")
        return self

    def identifiers(self) -> int:
        """How many identifiers the request gave."""
        return sum(getattr(self, f) is not None for f in type(self).model_fields)


class DeviceResponse(WireModel):
    """The one identifier an answer echoes (CAMARA ``DeviceResponse``)."""

    phone_number: PhoneNumber
