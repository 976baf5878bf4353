"""Wire models of :mod:`gateway.services.camara.areas`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from gateway.wire.base import WireModel

Latitude = Annotated[float, Field(ge=-90, le=90)]


Longitude = Annotated[float, Field(ge=-180, le=180)]


MAX_POLYGON_POINTS = 15


class Point(WireModel):
    """WGS84 coordinates."""

    latitude: Latitude
    longitude: Longitude


class Circle(WireModel):
    """A circle: centre and radius in metres."""

    area_type: Literal["CIRCLE"]
    center: Point
    radius: float = Field(ge=1)


class Polygon(WireModel):
    """A simple polygon of 3 to 15 points."""

    area_type: Literal["POLYGON"]
    boundary: list[Point] = Field(min_length=3, max_length=MAX_POLYGON_POINTS)
