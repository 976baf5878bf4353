"""CAMARA areas on the wire (``CIRCLE``, ``POLYGON`` of WGS84 points) and their translation to the simulator.

Owns the wire models of ``Point``, ``Circle`` and ``Polygon``, the conversion to :class:`simulator.geo.Area`
(metres on the city's projection) and back, and the operator's area rules (minimum radius from
``Settings.min_radius_m``, coverage). Network
estimates (a cell's circle or sector polygon) are built here too. It must not know about particular APIs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated

import shapely
from pydantic import Field

from gateway.core.errors import Unprocessable
from gateway.wire.camara.areas import MAX_POLYGON_POINTS, Circle, Polygon
from gateway.wire.geo import Point
from simulator.errors import InvalidAreaError
from simulator.geo import Area
from simulator.world import World

AnyArea = Annotated[Circle | Polygon, Field(discriminator="area_type")]


def to_area(world: World, area: Circle | Polygon, api: str | None = None) -> Area:
    """The simulator area of a wire area, bounded (size, span, vertices, validity: see :mod:`simulator.geo`).

    An area out of bounds raises ``InvalidAreaError``, or with ``api`` ``422 <api>.INVALID_AREA``.
    """
    proj = world.city.projection
    try:
        if isinstance(area, Circle):
            return Area.circle_wgs84(proj, area.center.latitude, area.center.longitude, area.radius)
        return Area.polygon_wgs84(proj, [(p.latitude, p.longitude) for p in area.boundary])
    except InvalidAreaError as exc:
        if api is None:
            raise
        raise Unprocessable(f"The requested area is not supported: {exc}.", code=f"{api}.INVALID_AREA") from None


def check_circle(world: World, circle: Circle, min_radius_m: float, api: str,
                 make_area: Callable[[], Area] | None = None) -> Area:
    """The operator's rules on a requested circle, in order: a radius of at least ``min_radius_m``
    (``Settings.min_radius_m``), within the area bounds, inside the coverage; else ``422 <api>.INVALID_AREA`` or
    ``422 <api>.AREA_NOT_COVERED``. Returns its simulator form (built by ``make_area``, e.g. a cached lookup)."""
    if circle.radius < min_radius_m:
        raise Unprocessable(f"The requested area is too small (minimum radius {min_radius_m:g} m).",
                            code=f"{api}.INVALID_AREA")
    area = make_area() if make_area is not None else to_area(world, circle, api)
    if not world.covers(area):  # bounding boxes first: an area far away costs four comparisons
        raise Unprocessable("Unable to cover the requested area.", code=f"{api}.AREA_NOT_COVERED")
    return area


def coverage_share(world: World, area: Area) -> float:
    """Share of ``area``'s surface inside the network's coverage (0 to 1); 0 at once when the boxes are apart."""
    if area.surface <= 0 or not world.reaches(area):
        return 0.0
    return min(1.0, world.covered_surface(area) / area.surface)


def _point(world: World, x: float, y: float) -> Point:
    lat, lon = world.city.projection.point_latlon(x, y)
    return Point(latitude=round(lat, 6), longitude=round(lon, 6))


def cell_circle(world: World, cell: int) -> Circle:
    """The circle that contains cell ``cell``'s whole footprint (what a CIRCLE location answer reports)."""
    return Circle(area_type="CIRCLE", center=_point(world, *world.cell_centre(cell)),
                  radius=round(world.cell_radius(cell), 1))


def cell_polygon(world: World, cell: int) -> tuple[Polygon, float]:
    """A polygon of at most 15 points around cell ``cell``'s footprint, and its surface in m²."""
    hull = shapely.convex_hull(world.cell_footprint(cell))
    tolerance = world.grid_resolution / 2
    shape = hull
    while len(shape.exterior.coords) - 1 > MAX_POLYGON_POINTS:
        tolerance *= 1.5
        shape = shapely.simplify(hull, tolerance)
    coords = list(shape.exterior.coords)[:-1]
    return (Polygon(area_type="POLYGON", boundary=[_point(world, x, y) for x, y in coords]), float(shape.area))


def circle_surface(circle: Circle) -> float:
    """Surface of a wire circle in m²."""
    return math.pi * circle.radius ** 2


__all__ = ["AnyArea", "Circle", "InvalidAreaError", "Point", "Polygon", "cell_circle", "cell_polygon",
           "check_circle", "coverage_share", "to_area"]
