"""The location service's caches of partner circles stay small whatever circles partners ask for."""

from __future__ import annotations

import numpy as np

from gateway.services.camara.location import AREA_CACHE, LocationService
from gateway.wire.camara.areas import Circle
from simulator.world import World

DISTINCT = 600


def test_many_distinct_circles_keep_a_few_hundred_areas(world: World) -> None:
    """After 600 distinct circles the service holds at most a few hundred areas and shares (each area holds its
    shapely geometry outside the Python heap, so a cache of thousands grows the process for hours of a soak)."""
    service = LocationService(world, 100.0)
    rng = np.random.default_rng(0)
    cells = rng.integers(0, world.cell_count, DISTINCT)
    for k, cell in enumerate(cells.tolist()):
        lat, lon = world.city.projection.point_latlon(*world.cell_centre(cell))
        circle = Circle.model_validate({"areaType": "CIRCLE", "center": {"latitude": round(lat, 6),
                                                                        "longitude": round(lon, 6)},
                                        "radius": 1000 + k})
        service.area(circle)
        service.share(cell, circle)
    assert AREA_CACHE <= 256
    assert len(service._areas) <= 256 and len(service._shares) <= 256  # 4,096 before: all 600 were kept
