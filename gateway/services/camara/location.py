"""Where the network sees a device: the service behind location-verification and location-retrieval.

A device's network-visible location is its serving cell. A *fix* is that cell plus the instant the network last
heard the device (``lastLocationTime``): its last cell change or periodic update, or *now* when a ``maxAge``
asks for fresher data and the device can be paged. A device that is switched off or out of coverage cannot be
located (``UNABLE_TO_LOCATE``), or cannot meet a ``maxAge`` (``UNABLE_TO_FULFILL_MAX_AGE``). Older API versions
differ only by the :class:`LocationRules` they pass. This module knows nothing of HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np

from gateway.core.errors import GatewayError, NotFound, Unprocessable
from gateway.services.camara.areas import cell_circle, cell_polygon, check_circle, circle_surface, to_area
from gateway.services.camara.subject import Subject
from gateway.wire.camara.areas import Circle, Polygon
from simulator.geo import Area
from simulator.world import World

Verdict = Literal["TRUE", "FALSE", "PARTIAL", "UNKNOWN"]
AREA_CACHE = 256
"""Requested circles kept as simulator areas (oldest dropped first). Small: an area holds its shapely geometry
(about 4 KB outside the Python heap), and partners choose the circles, so a large cache only grows the process
by a few MB per thousand distinct circles before it is full (it was 4,096, ~20 MB, still filling after hours
of a soak); the few areas an integrator verifies over and over stay in it."""


@dataclass(frozen=True)
class LocationRules:
    """How one API version words the answers (codes prefix, UNKNOWN result, polygons, 404 for unlocated)."""

    api: str
    unknown_result: bool = False
    polygons: bool = True
    not_located_404: bool = False

    def not_located(self) -> GatewayError:
        if self.not_located_404:
            return NotFound("The network is unable to locate the device.", code=f"{self.api}.DEVICE_NOT_FOUND")
        return Unprocessable("The network is unable to locate the device.", code=f"{self.api}.UNABLE_TO_LOCATE")

    def max_age_not_met(self) -> GatewayError:
        return Unprocessable("Unable to provide expected freshness for location.",
                             code=f"{self.api}.UNABLE_TO_FULFILL_MAX_AGE")


@dataclass(frozen=True)
class Fix:
    """The serving cell of a device and when the network last heard it."""

    cell: int
    at: datetime


@dataclass(frozen=True)
class Verification:
    """A location-verification answer."""

    result: Verdict
    match_rate: int | None
    last_location_time: datetime | None


class LocationService:
    """Fixes, verifications and retrievals against the world at the simulated instant."""

    def __init__(self, world: World, min_radius_m: float) -> None:
        self.world = world
        self.min_radius_m = min_radius_m
        self._areas: dict[tuple[float, float, float], Area] = {}
        self._shares: dict[tuple[int, float, float, float], float] = {}

    def area(self, circle: Circle, api: str | None = None) -> Area:
        """The simulator area of a circle (cached: integrators verify the same few areas over and over); with
        ``api``, an area out of bounds is ``422 <api>.INVALID_AREA``."""
        key = (circle.center.latitude, circle.center.longitude, circle.radius)
        area = self._areas.get(key)
        if area is None:
            if len(self._areas) >= AREA_CACHE:
                self._areas.pop(next(iter(self._areas)))
            area = self._areas[key] = to_area(self.world, circle, api)
        return area

    def share(self, cell: int, circle: Circle) -> float:
        """Share of ``cell``'s footprint inside ``circle`` (cached with the area)."""
        key = (cell, circle.center.latitude, circle.center.longitude, circle.radius)
        share = self._shares.get(key)
        if share is None:
            if len(self._shares) >= AREA_CACHE:
                self._shares.pop(next(iter(self._shares)))
            share = self._shares[key] = self.world.cell_coverage_fraction(cell, self.area(circle))
        return share

    def fix(self, subject: Subject, max_age: int | None, rules: LocationRules) -> Fix:
        """The device's fix, honouring ``max_age`` (seconds); raises the rules' errors when it cannot."""
        world = self.world
        cell = int(world.serving_cells(np.asarray([subject.index]))[0])
        if cell < 0 or not bool(world.is_reachable(subject.index)[0]):
            raise rules.max_age_not_met() if max_age is not None else rules.not_located()
        now = world.clock.now
        last = world.last_seen(subject.index)
        if max_age is not None and (now - last).total_seconds() > max_age:
            last = now  # the device answers paging: a fresh fix
        return Fix(cell, last)

    def check_area(self, circle: Circle, rules: LocationRules) -> None:
        """Operator rules on a requested circle: the minimum radius, inside the coverage."""
        check_circle(self.world, circle, self.min_radius_m, rules.api, lambda: self.area(circle, rules.api))

    def verify(self, subject: Subject, circle: Circle, max_age: int | None, rules: LocationRules) -> Verification:
        """TRUE when the serving cell lies inside the circle, FALSE when apart, PARTIAL with a match rate."""
        self.check_area(circle, rules)
        try:
            fix = self.fix(subject, max_age, rules)
        except Unprocessable as exc:
            if rules.unknown_result and exc.error_code.endswith("UNABLE_TO_LOCATE"):
                return Verification("UNKNOWN", None, None)
            raise
        share = self.share(fix.cell, circle)
        if share >= 1.0:
            return Verification("TRUE", None, fix.at)
        if share <= 0.0:
            return Verification("FALSE", None, fix.at)
        return Verification("PARTIAL", min(99, max(1, round(share * 100))), fix.at)

    def retrieve(self, subject: Subject, max_age: int | None, max_surface: int | None,
                 rules: LocationRules) -> tuple[Circle | Polygon, datetime]:
        """The serving cell as a circle, or as a polygon when only that fits ``max_surface`` (m²)."""
        fix = self.fix(subject, max_age, rules)
        circle = cell_circle(self.world, fix.cell)
        if max_surface is None or circle_surface(circle) <= max_surface:
            return circle, fix.at
        if rules.polygons:
            polygon, surface = cell_polygon(self.world, fix.cell)
            if surface <= max_surface:
                return polygon, fix.at
        raise Unprocessable("Unable to provide a location within the requested maxSurface.",
                            code=f"{rules.api}.UNABLE_TO_FULFILL_MAX_SURFACE")
