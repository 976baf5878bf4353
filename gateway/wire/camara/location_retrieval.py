"""Wire models of CAMARA ``location-retrieval`` (v0.4, v0.5): the request (device, maximum age, maximum surface) and
the location answered.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from gateway.wire.base import Instant, WireModel
from gateway.wire.camara.areas import Circle, Polygon
from gateway.wire.camara.subject import Device, DeviceResponse


class RetrievalLocationRequest(WireModel):
    """The device (two-legged tokens only), an optional ``maxAge`` (s) and ``maxSurface`` (m²)."""

    device: Device | None = None
    max_age: int | None = Field(default=None, ge=0)
    max_surface: int | None = Field(default=None, ge=1)


class Location(WireModel):
    """Where the network locates the device and since when."""

    last_location_time: Instant
    area: Annotated[Circle | Polygon, Field(discriminator="area_type")]
    device: DeviceResponse | None = None
