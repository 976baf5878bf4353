"""Who a CAMARA request is about: the ``device`` object, the three-legged token rule, and location consent.

Owns the wire model of ``Device`` (phone number, network access identifier, IPv4/IPv6 addresses) and the one
rule every device API applies: a two-legged call names the device, a three-legged call (token bound to a
subscriber) must not; unknown numbers are ``404 IDENTIFIER_NOT_FOUND``. Only phone numbers identify a device in
opsim; other identifiers alone are ``422 UNSUPPORTED_IDENTIFIER``. It must not know about particular APIs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.core.errors import IdentifierNotFound, PermissionDenied, Unprocessable
from gateway.core.principal import AuthContext
from gateway.wire.camara.subject import Device, DeviceResponse
from simulator.errors import UnknownSubscriberError
from simulator.world import World

LOCATION_CONSENT = "LOCATION_SHARING"










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
        return Subject(i, world.msisdn_of(i), None)
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
