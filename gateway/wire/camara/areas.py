"""Wire models of CAMARA areas: WGS84 points, ``CIRCLE`` and ``POLYGON`` areas as the location and insights APIs
accept them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gateway.wire.base import WireModel
from gateway.wire.geo import Point

MAX_POLYGON_POINTS = 15


class Circle(WireModel):
    """A circle: centre and radius in metres."""

    area_type: Literal["CIRCLE"]
    center: Point
    radius: float = Field(ge=1)


class Polygon(WireModel):
    """A simple polygon of 3 to 15 points."""

    area_type: Literal["POLYGON"]
    boundary: list[Point] = Field(min_length=3, max_length=MAX_POLYGON_POINTS)
