"""Aggregates about places, never about people: region device counts and population density grids.

Owns the rules of both CAMARA aggregate APIs: coverage status of the requested area, time windows answered from
the presence history (and, for the future, from the same weekday and hour of past weeks), device filters, and the
privacy threshold under which a count or a grid cell is withheld. Density is estimated per network cell (devices
served ÷ footprint surface) and read at each geohash cell's centre. This module knows nothing of HTTP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

from gateway.core.errors import InvalidArgument, Unprocessable
from gateway.services.camara.areas import coverage_share
from gateway.wire.base import format_instant
from gateway.wire.camara.insights import CountStatus, DensityStatus
from simulator.errors import AreaTooLargeError, InvalidAreaError
from simulator.geo import Area
from simulator.world import World

HOUR = timedelta(hours=1)
WEEK = timedelta(days=7)
DENSITY_PRECISIONS = range(4, 9)
"""Geohash lengths served (≈ 39 km down to ≈ 38 m cells)."""
DENSITY_SYNC_LIMIT = 50_000
"""Largest grid (cells × hourly slots) answered synchronously."""
DENSITY_LIMIT = 500_000
"""Largest grid served at all (asynchronously, at a ``sink``, above :data:`DENSITY_SYNC_LIMIT`)."""
DENSITY_HORIZON = timedelta(days=90)
DENSITY_MAX_PERIOD = timedelta(days=7)
_BASE32 = np.array(list("0123456789bcdefghjkmnpqrstuvwxyz"))


@dataclass(frozen=True)
class DeviceFilter:
    """Region device count filters (``IN`` within a criterion, ``AND`` across them)."""

    roaming_status: frozenset[str] | None = None  # "roaming", "non-roaming"
    device_type: frozenset[str] | None = None  # "human device", "IoT device", "other"


@dataclass(frozen=True)
class CountAnswer:
    """A region device count: status, and the count when it may be shown."""

    status: CountStatus
    count: int | None


class InsightsService:
    """Region device counts and population density, from the world at the simulated instant."""

    def __init__(self, world: World, privacy_threshold: int) -> None:
        self.world = world
        self.threshold = privacy_threshold
        self._surfaces: NDArray[np.float64] | None = None

    # -- region device count -------------------------------------------------------------------------------
    def count(self, area: Area, start: datetime | None, end: datetime | None, flt: DeviceFilter) -> CountAnswer:
        """Devices served in ``area`` now, or at some moment of [start, end] (up to now)."""
        world = self.world
        share = coverage_share(world, area)
        if share < 0.5:
            return CountAnswer("AREA_NOT_SUPPORTED", None)
        covered: CountStatus = "SUPPORTED_AREA" if share >= 0.999 else "PART_OF_AREA_NOT_SUPPORTED"
        if start is None or end is None:
            subs = world.occupants(area)
        else:
            now = world.clock.now
            if start > now or end < world.history_start:  # before the kept history (Settings.history_days)
                return CountAnswer("TIME_INTERVAL_NO_DATA_FOUND", None)
            subs = world.visitors(area, max(start, world.history_start), min(end, now))
        roaming, smartphone = world.device_kinds(subs)
        keep = np.ones(len(subs), dtype=np.bool_)
        if flt.roaming_status is not None:
            keep &= (roaming & ("roaming" in flt.roaming_status)) | (~roaming & ("non-roaming" in flt.roaming_status))
        if flt.device_type is not None:  # no IoT devices in the simulated base: "IoT device" matches nobody
            keep &= (smartphone & ("human device" in flt.device_type)) | (~smartphone & ("other" in flt.device_type))
        n = int(np.count_nonzero(keep))
        if n < self.threshold:
            return CountAnswer("DENSITY_BELOW_PRIVACY_THRESHOLD", None)
        return CountAnswer(covered, n)

    # -- population density ----------------------------------------------------------------------------------
    def check_density_window(self, start: datetime, end: datetime, precision: int) -> None:
        """The API's time and precision rules (400/422 with the API's codes)."""
        now = self.world.clock.now
        prefix = "POPULATION_DENSITY_DATA"
        if end < start:
            raise InvalidArgument("Indicated endTime is earlier than the startTime.", code=f"{prefix}.INVALID_END_TIME")
        if start < now - DENSITY_HORIZON:
            raise InvalidArgument("Indicated startTime is earlier than the minimum allowed (3 months ago).",
                                  code=f"{prefix}.MIN_STARTTIME_EXCEEDED")
        if start > now + DENSITY_HORIZON:
            raise InvalidArgument("Indicated startTime is greater than the maximum allowed (3 months ahead).",
                                  code=f"{prefix}.MAX_STARTTIME_EXCEEDED")
        if end - start > DENSITY_MAX_PERIOD:
            raise InvalidArgument("Indicated time period is greater than the maximum allowed (7 days).",
                                  code=f"{prefix}.MAX_TIME_PERIOD_EXCEEDED")
        if start < now < end:
            raise InvalidArgument("Indicated time period is partially in the past and partially in the future.",
                                  code=f"{prefix}.INVALID_TIME_PERIOD")
        if precision not in DENSITY_PRECISIONS:
            raise Unprocessable(f"Indicated cell precision (Geohash length) is not supported; use "
                                f"{DENSITY_PRECISIONS.start} to {DENSITY_PRECISIONS.stop - 1}.",
                                code=f"{prefix}.UNSUPPORTED_PRECISION")

    def density(self, points: list[tuple[float, float]], start: datetime, end: datetime,
                precision: int, asynchronous: bool = False) -> tuple[DensityStatus, list[dict[str, Any]]]:
        """Hourly grids of people/km² over the polygon of WGS84 ``points`` (latitude, longitude).

        ``asynchronous`` (an answer for a sink) lifts the synchronous size limit up to :data:`DENSITY_LIMIT`.
        """
        self.check_density_window(start, end, precision)
        world = self.world
        try:  # the area bounds (vertices, span, antimeridian, validity), before any grid is made
            area = Area.polygon_wgs84(world.city.projection, points)
        except AreaTooLargeError as exc:  # a shape, only too big: the test plan's 422.03 wants this code
            raise Unprocessable(f"Indicated combination of area, time interval and precision is too big: {exc}.",
                                code="POPULATION_DENSITY_DATA.UNSUPPORTED_REQUEST") from None
        except InvalidAreaError as exc:
            raise InvalidArgument(f"The area is not a polygon shape or exceeds supported complexity: {exc}.",
                                  code="POPULATION_DENSITY_DATA.INVALID_AREA") from None
        if not world.reaches(area):  # far from the city: four comparisons, no geohash grid
            return "AREA_NOT_SUPPORTED", []
        polygon = shapely.Polygon([(lon, lat) for lat, lon in points])
        slots = _hours(start, end)
        hashes, lat, lon = geohash_cover(polygon, precision, len(slots),
                                         DENSITY_LIMIT if asynchronous else DENSITY_SYNC_LIMIT)
        size = len(hashes) * len(slots)
        if size > DENSITY_LIMIT:
            raise Unprocessable("Indicated combination of area, time interval and precision is too big.",
                                code="POPULATION_DENSITY_DATA.UNSUPPORTED_REQUEST")
        if size > DENSITY_SYNC_LIMIT and not asynchronous:
            raise Unprocessable("Indicated combination of area, time interval and precision is too big for a sync "
                                "response.", code="POPULATION_DENSITY_DATA.UNSUPPORTED_SYNC_RESPONSE")
        x, y = world.city.projection.to_xy(lat, lon)
        cell = world.cells_at(x, y)
        covered = cell >= 0
        if not covered.any():
            return "AREA_NOT_SUPPORTED", []
        status: DensityStatus = "SUPPORTED_AREA" if covered.all() else "PART_OF_AREA_NOT_SUPPORTED"
        km2 = np.maximum(self.surfaces()[np.maximum(cell, 0)] / 1e6, 1e-9)
        out = []
        for slot in slots:
            samples = np.stack([world.cell_counts_at(t)[np.maximum(cell, 0)] for t in self._sample_times(slot)])
            mean = samples.mean(axis=0)
            low = mean < self.threshold
            dens, lo, hi = mean / km2, samples.min(axis=0) / km2, samples.max(axis=0) / km2
            cells = []
            for j, gh in enumerate(hashes):
                if not covered[j]:
                    cells.append({"geohash": gh, "dataType": "NO_DATA"})
                elif low[j]:
                    cells.append({"geohash": gh, "dataType": "LOW_DENSITY"})
                else:
                    cells.append({"geohash": gh, "dataType": "DENSITY_ESTIMATION", "pplDensity": round(dens[j]),
                                  "minPplDensity": math.floor(lo[j]), "maxPplDensity": math.ceil(hi[j])})
            out.append({"startTime": format_instant(slot), "endTime": format_instant(slot + HOUR),
                        "cellPopulationDensityData": cells})
        return status, out

    def surfaces(self) -> NDArray[np.float64]:
        """Footprint surface (m²) of every cell, computed once."""
        if self._surfaces is None:
            self._surfaces = self.world.cell_surfaces()
        return self._surfaces

    def _sample_times(self, slot: datetime) -> list[datetime | None]:
        """Instants whose occupancy stands for an hourly slot: its start, middle and end (``None`` = now)."""
        world = self.world
        now = world.clock.now
        if slot >= now:  # the future: the same weekday (else the same hour) of the latest past with history
            for step in (WEEK, timedelta(days=1)):
                ref = slot - math.ceil((slot + HOUR - now) / step) * step
                if ref >= world.history_start:
                    slot = ref
                    break
            else:
                return [None]
        times: list[datetime | None] = []
        for t in (slot, slot + HOUR / 2, slot + HOUR - world.tick):
            times.append(None if t >= now else max(t, world.history_start))
        return times


def _hours(start: datetime, end: datetime) -> list[datetime]:
    first = start.replace(minute=0, second=0, microsecond=0)
    out = [first]
    while out[-1] + HOUR < end:
        out.append(out[-1] + HOUR)
    return out


def geohash_cover(polygon: shapely.Polygon, precision: int, slots: int = 1, limit: int = DENSITY_LIMIT
                  ) -> tuple[list[str], NDArray[np.float64], NDArray[np.float64]]:
    """Geohashes of length ``precision`` whose cell meets ``polygon`` (x = longitude), with their centres.

    The work is bounded before anything is allocated: when the geohash cells of the polygon's bounding box times
    ``slots`` exceed twice ``limit`` (the answer could not fit), ``422 UNSUPPORTED_REQUEST`` or, for the synchronous
    limit, ``UNSUPPORTED_SYNC_RESPONSE``.
    """
    lon_bits, lat_bits = (5 * precision + 1) // 2, 5 * precision // 2
    dlon, dlat = 360.0 / 2 ** lon_bits, 180.0 / 2 ** lat_bits
    minx, miny, maxx, maxy = polygon.bounds
    ni = math.floor((maxx + 180) / dlon) - math.floor((minx + 180) / dlon) + 1
    nj = math.floor((maxy + 90) / dlat) - math.floor((miny + 90) / dlat) + 1
    if ni * nj * max(slots, 1) > 2 * limit:
        if limit < DENSITY_LIMIT and ni * nj * max(slots, 1) <= 2 * DENSITY_LIMIT:
            raise Unprocessable("Indicated combination of area, time interval and precision is too big for a sync "
                                "response.", code="POPULATION_DENSITY_DATA.UNSUPPORTED_SYNC_RESPONSE")
        raise Unprocessable("Indicated combination of area, time interval and precision is too big.",
                            code="POPULATION_DENSITY_DATA.UNSUPPORTED_REQUEST")
    i = np.arange(math.floor((minx + 180) / dlon), math.floor((maxx + 180) / dlon) + 1, dtype=np.int64)
    j = np.arange(math.floor((miny + 90) / dlat), math.floor((maxy + 90) / dlat) + 1, dtype=np.int64)
    gi, gj = np.meshgrid(i, j)
    ii, jj = gi.ravel(), gj.ravel()
    x0, y0 = ii * dlon - 180, jj * dlat - 90
    hit = shapely.intersects(shapely.box(x0, y0, x0 + dlon, y0 + dlat), polygon)
    ii, jj = ii[hit], jj[hit]
    code = np.zeros(len(ii), dtype=np.uint64)
    for k in range(5 * precision):
        bit = (ii >> (lon_bits - 1 - k // 2)) & 1 if k % 2 == 0 else (jj >> (lat_bits - 1 - k // 2)) & 1
        code = (code << np.uint64(1)) | bit.astype(np.uint64)
    chars = np.stack([_BASE32[((code >> np.uint64(5 * (precision - 1 - c))) & np.uint64(31)).astype(np.int64)]
                      for c in range(precision)], axis=1) if len(code) else np.zeros((0, precision), dtype=str)
    hashes = ["".join(row) for row in chars.tolist()]
    return hashes, (jj + 0.5) * dlat - 90, (ii + 0.5) * dlon - 180
