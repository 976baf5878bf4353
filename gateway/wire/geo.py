"""Coordinates on the wire: WGS84 latitude and longitude and the point made of them, shared by every API
(campaign and CAMARA areas, gatherings, pins, test subscribers, scenario files)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from gateway.wire.base import WireModel

Latitude = Annotated[float, Field(ge=-90, le=90)]
"""Degrees north, WGS84."""

Longitude = Annotated[float, Field(ge=-180, le=180)]
"""Degrees east, WGS84."""


class Point(WireModel):
    """WGS84 coordinates."""

    latitude: Latitude
    longitude: Longitude
