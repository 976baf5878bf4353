"""Local planar geometry: WGS84 ⇄ metres on a projection centred on the city, and areas in metres.

Everything inside the simulator is planar metres (x east, y north). Latitude and longitude exist only at the
edges (presets, API input and output). The projection is an azimuthal equidistant approximation that is
accurate to well under a metre per kilometre within 50 km of the centre, which is all a city needs.

Every area is bounded when it is made, before any work is done on it (rasterising, cell sets, geohash grids):
at most :data:`MAX_AREA_VERTICES` boundary points, a bounding box of at most :data:`MAX_AREA_SPAN_M` on a side
(a circle's diameter included), a WGS84 boundary that does not cross the antimeridian (a longitude span over
180°), and a valid (simple, non-self-intersecting) polygon of positive surface. Anything else is an
``InvalidAreaError``, so the one place where wire areas become planar ones is also the one place they are bounded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from simulator.errors import AreaTooLargeError, InvalidAreaError

EARTH_RADIUS_M = 6_371_008.8

MAX_AREA_SPAN_M = 200_000.0
"""Largest side of an area's bounding box in metres (a circle's diameter): several times any city's coverage."""

MAX_AREA_VERTICES = 1_000
"""Most boundary points a polygon may have (the CAMARA wire models allow far fewer)."""


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
        """A circle of ``radius`` metres around (x, y), at most :data:`MAX_AREA_SPAN_M` across."""
        if not (math.isfinite(radius) and radius > 0):
            raise InvalidAreaError("circle radius must be a positive number of metres")
        if 2 * radius > MAX_AREA_SPAN_M:
            raise AreaTooLargeError(f"circle radius must be at most {MAX_AREA_SPAN_M / 2:g} m")
        if not (math.isfinite(x) and math.isfinite(y)):
            raise InvalidAreaError("circle centre must be finite")
        geom = Point(x, y).buffer(radius, quad_segs=32)
        return cls(geom, "CIRCLE", radius, (x, y))

    @classmethod
    def polygon(cls, xy: list[tuple[float, float]]) -> Area:
        """A simple polygon from its boundary points (3 to :data:`MAX_AREA_VERTICES`), bounded before it is built."""
        if len(xy) < 3:
            raise InvalidAreaError("a polygon needs at least 3 points")
        if len(xy) > MAX_AREA_VERTICES:
            raise InvalidAreaError(f"a polygon may have at most {MAX_AREA_VERTICES} points")
        pts = np.asarray(xy, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2 or not np.isfinite(pts).all():
            raise InvalidAreaError("polygon points must be finite (x, y) pairs")
        span = pts.max(axis=0) - pts.min(axis=0)
        if float(span.max()) > MAX_AREA_SPAN_M:
            raise AreaTooLargeError(f"polygon spans more than {MAX_AREA_SPAN_M / 1000:g} km")
        poly = Polygon(pts)
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
        """A polygon given by WGS84 (latitude, longitude) points; one crossing the antimeridian is refused."""
        if len(points) > MAX_AREA_VERTICES:
            raise InvalidAreaError(f"a polygon may have at most {MAX_AREA_VERTICES} points")
        lons = [lon for _, lon in points]
        # The projection is planar: a boundary that wraps at ±180° would become a band around the planet.
        if lons and max(lons) - min(lons) > 180.0:
            raise InvalidAreaError("polygon crosses the antimeridian or spans more than 180° of longitude")
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

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """Bounding box (min x, min y, max x, max y) in metres."""
        minx, miny, maxx, maxy = self.geometry.bounds
        return float(minx), float(miny), float(maxx), float(maxy)
