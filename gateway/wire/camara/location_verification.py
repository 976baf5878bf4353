"""Wire models of CAMARA ``location-verification`` (v1 to v3): the request (device, circle, maximum age) and the
verification result of each version.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gateway.wire.base import Instant, WireModel
from gateway.wire.camara.areas import Circle
from gateway.wire.camara.subject import Device, DeviceResponse


class VerifyLocationRequest(WireModel):
    """v2/v3: the device (two-legged tokens only), a circle and an optional ``maxAge`` in seconds."""

    device: Device | None = None
    area: Circle
    max_age: int | None = Field(default=None, ge=0)


class VerifyLocationRequestV1(VerifyLocationRequest):
    """v1: the device is required."""

    device: Device


class VerifyLocationResponse(WireModel):
    """v3 answer."""

    verification_result: Literal["TRUE", "FALSE", "PARTIAL"]
    last_location_time: Instant
    match_rate: int | None = Field(default=None, ge=1, le=99)
    device: DeviceResponse | None = None


class VerifyLocationResponseV2(WireModel):
    """v1/v2 answer: ``UNKNOWN`` when the network cannot locate the device (then without a time)."""

    verification_result: Literal["TRUE", "FALSE", "PARTIAL", "UNKNOWN"]
    last_location_time: Instant | None = None
    match_rate: int | None = Field(default=None, ge=1, le=99)
    device: DeviceResponse | None = None
