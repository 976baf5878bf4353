"""Local planar geometry: WGS84 ⇄ metres on a projection centred on the city, and areas in metres.

Everything inside the simulator is planar metres (x east, y north). Latitude and longitude exist only at the
edges (presets, API input and output). The projection is an azimuthal equidistant approximation that is
accurate to well under a metre per kilometre within 50 km of the centre, which is all a city needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from simulator.errors import InvalidAreaError

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class LocalProjection:
    """Equirectangular projection around (``lat0``, ``lon0``); x east and y north in metres."""

    lat0: float
    lon0: float

    @property
    def _kx(self) -> float:
        return EARTH_RADIUS_M * math.cos(math.radians(self.lat0)) * math.pi / 180.0

    @property
    def _ky(self) -> float:
        return EARTH_RADIUS_M * math.pi / 180.0

    def to_xy(self, lat: ArrayLike, lon: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Project latitude/longitude (degrees) to metres."""
        lat_a = np.asarray(lat, dtype=np.float64)
        lon_a = np.asarray(lon, dtype=np.float64)
        return (lon_a - self.lon0) * self._kx, (lat_a - self.lat0) * self._ky

    def to_latlon(self, x: ArrayLike, y: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Unproject metres to latitude/longitude (degrees)."""
        x_a = np.asarray(x, dtype=np.float64)
        y_a = np.asarray(y, dtype=np.float64)
        return self.lat0 + y_a / self._ky, self.lon0 + x_a / self._kx

    def point_xy(self, lat: float, lon: float) -> tuple[float, float]:
        """Project one point."""
        x, y = self.to_xy(lat, lon)
        return float(x), float(y)

    def point_latlon(self, x: float, y: float) -> tuple[float, float]:
        """Unproject one point."""
        lat, lon = self.to_latlon(x, y)
        return float(lat), float(lon)


@dataclass(frozen=True)
class Area:
    """A circle or polygon in local metres, with its shapely geometry."""

    geometry: BaseGeometry
    kind: str  # "CIRCLE" or "POLYGON"
    radius: float | None = None
    center: tuple[float, float] | None = None

    @classmethod
    def circle(cls, x: float, y: float, radius: float) -> Area:
        """A circle of ``radius`` metres around (x, y)."""
        if not (math.isfinite(radius) and radius > 0):
            raise InvalidAreaError("circle radius must be a positive number of metres")
        geom = Point(x, y).buffer(radius, quad_segs=32)
        return cls(geom, "CIRCLE", radius, (x, y))

    @classmethod
    def polygon(cls, xy: list[tuple[float, float]]) -> Area:
        """A simple polygon from its boundary points (at least 3)."""
        if len(xy) < 3:
            raise InvalidAreaError("a polygon needs at least 3 points")
        poly = Polygon(xy)
        if not poly.is_valid or poly.area <= 0:
            raise InvalidAreaError(f"polygon is not valid: {shapely.is_valid_reason(poly)}")
        return cls(poly, "POLYGON")

    @classmethod
    def circle_wgs84(cls, proj: LocalProjection, lat: float, lon: float, radius: float) -> Area:
        """A circle given by its WGS84 centre."""
        x, y = proj.point_xy(lat, lon)
        return cls.circle(x, y, radius)

    @classmethod
    def polygon_wgs84(cls, proj: LocalProjection, points: list[tuple[float, float]]) -> Area:
        """A polygon given by WGS84 (latitude, longitude) points."""
        return cls.polygon([proj.point_xy(lat, lon) for lat, lon in points])

    def contains(self, x: ArrayLike, y: ArrayLike) -> NDArray[np.bool_]:
        """Exact vectorised point-in-area test (shapely ``contains_xy``)."""
        if self.kind == "CIRCLE" and self.center is not None and self.radius is not None:
            dx = np.asarray(x, dtype=np.float64) - self.center[0]
            dy = np.asarray(y, dtype=np.float64) - self.center[1]
            return np.asarray(dx * dx + dy * dy <= self.radius * self.radius)
        return np.asarray(shapely.contains_xy(self.geometry, x, y))

    @property
    def surface(self) -> float:
        """Area in square metres."""
        return float(self.geometry.area)
