"""Who a CAMARA request is about: the ``device`` object, the three-legged token rule, and location consent.

Owns the wire model of ``Device`` (phone number, network access identifier, IPv4/IPv6 addresses) and the one
rule every device API applies: a two-legged call names the device, a three-legged call (token bound to a
subscriber) must not; unknown numbers are ``404 IDENTIFIER_NOT_FOUND``. Only phone numbers identify a device in
opsim; other identifiers alone are ``422 UNSUPPORTED_IDENTIFIER``. It must not know about particular APIs.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator, model_validator

from gateway.auth import AuthContext
from gateway.errors import IdentifierNotFound, PermissionDenied, Unprocessable
from gateway.wire import WireModel
from simulator.errors import UnknownSubscriberError
from simulator.world import World

PhoneNumber = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{4,14}$")]
LOCATION_CONSENT = "LOCATION_SHARING"


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


@dataclass(frozen=True)
class Subject:
    """The subscriber a request is about and the identifier to echo (when the request named several)."""

    index: int
    msisdn: str
    echo: DeviceResponse | None


def resolve(world: World, auth: AuthContext, device: Device | None) -> Subject:
    """The subscriber of a request, by the three-legged token or the ``device`` it names."""
    if auth.subscriber is not None:
        if device is not None:
            raise Unprocessable("The device is already identified by the access token.",
                                code="UNNECESSARY_IDENTIFIER")
        i = auth.subscriber
        return Subject(i, str(world.subscriber_profile(i)["msisdn"]), None)
    if device is None:
        raise Unprocessable("The device cannot be identified.", code="MISSING_IDENTIFIER")
    if device.phone_number is None:
        raise Unprocessable("The identifier provided is not supported; use phoneNumber.",
                            code="UNSUPPORTED_IDENTIFIER")
    try:
        i = world.find_subscriber(device.phone_number)
    except UnknownSubscriberError:
        raise IdentifierNotFound() from None
    echo = DeviceResponse(phone_number=device.phone_number) if device.identifiers() > 1 else None
    return Subject(i, device.phone_number, echo)


def resolve_locatable(world: World, auth: AuthContext, device: Device | None) -> Subject:
    """The subscriber of a location request (as :func:`resolve`); 403 unless they allow their location to be
    shared now."""
    subject = resolve(world, auth, device)
    if not world.consent.is_permitted(subject.index, LOCATION_CONSENT, None):
        raise PermissionDenied("The subscriber does not allow their location to be shared.")
    return subject


def device_echo(device: Device | None) -> dict[str, Any] | None:
    """The device as a notification or subscription echoes it (one identifier), if the request named one."""
    if device is None or device.phone_number is None:
        return None
    return {"phoneNumber": device.phone_number}
