"""Who a campaign is aimed at: areas → cells, location modes → candidate subscribers, segment filter.

Pure functions over the world's public query methods (``area_cells``, ``occupants_of_cells``,
``visitors_of_cells``, ``residents_of_cells``, ``segment_mask``); subscribers are numpy index arrays end to end.
The operator sees cells (DESIGN §2.4): an area is resolved once into the cells that serve any point of it,
and membership is array indexing. Location modes:

* ``PRESENT``: served by a cell of the areas when the campaign starts and at each opening of its daily window.
* ``ENTERS``: moves from a cell outside the areas into one inside during the schedule (optionally after
  ``dwellMinutes`` inside); evaluated incrementally from the world's cell changes (see :func:`entered`).
* ``VISITED``: served by a cell of the areas at some moment of ``visitedFrom``–``visitedTo`` (in the past).
* ``HOME`` / ``WORK``: home, or place of work or study, served by a cell of the areas.

This module must not know about HTTP, consent, policy or storage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from gateway.core.errors import Unprocessable
from simulator.errors import InvalidAreaError
from simulator.geo import Area
from simulator.segments import Segment
from simulator.world import World

LOCATION_MODES: tuple[str, ...] = ("PRESENT", "ENTERS", "VISITED", "HOME", "WORK")
ENTERS_ESTIMATE_WINDOW = timedelta(hours=24)
"""An ENTERS estimate counts the distinct visitors of the areas over this past window (a typical day)."""

Subs = NDArray[np.int32]


class InvalidCampaignArea(Unprocessable):
    code = "CAMPAIGNS.INVALID_AREA"
    default_message = "The area is not acceptable."


class AreaNotCovered(Unprocessable):
    code = "CAMPAIGNS.AREA_NOT_COVERED"
    default_message = "The area is outside the operator's coverage."


@dataclass(frozen=True)
class CircleSpec:
    """A circle in WGS84 with its radius in metres."""

    latitude: float
    longitude: float
    radius: float


@dataclass(frozen=True)
class PolygonSpec:
    """A polygon by its WGS84 boundary (latitude, longitude) points, 3 to 15."""

    boundary: tuple[tuple[float, float], ...]


AreaSpec = CircleSpec | PolygonSpec


@dataclass(frozen=True)
class Targeting:
    """A resolved targeting: the union of the areas' cells, the location mode and the segment."""

    cells: NDArray[np.int32]
    mode: str
    segment: Segment = field(default_factory=Segment)
    dwell_minutes: int = 0
    visited_from: datetime | None = None
    visited_to: datetime | None = None


def resolve_area(world: World, spec: AreaSpec, min_radius_m: float, max_radius_m: float) -> Area:
    """The area in local metres; 422 ``INVALID_AREA`` for a bad radius or polygon, ``AREA_NOT_COVERED`` outside."""
    proj = world.city.projection
    try:
        if isinstance(spec, CircleSpec):
            if not math.isfinite(spec.radius) or spec.radius < min_radius_m:
                raise InvalidCampaignArea(f"Circle radius {spec.radius:g} m is under the operator minimum of "
                                          f"{min_radius_m:g} m.")
            if spec.radius > max_radius_m:
                raise InvalidCampaignArea(f"Circle radius {spec.radius:g} m is over the maximum of {max_radius_m:g} m.")
            area = Area.circle_wgs84(proj, spec.latitude, spec.longitude, spec.radius)
        else:
            if not 3 <= len(spec.boundary) <= 15:
                raise InvalidCampaignArea("A polygon needs 3 to 15 boundary points.")
            area = Area.polygon_wgs84(proj, list(spec.boundary))
    except InvalidAreaError as exc:
        raise InvalidCampaignArea(f"Invalid area: {exc}.") from None
    if not world.covers(area):
        raise AreaNotCovered(f"The area is outside {world.city.display_name}, where the operator has no coverage.")
    return area


def cells_of(world: World, areas: list[Area]) -> NDArray[np.int32]:
    """Sorted union of the cells serving any point of ``areas``; 422 when none does."""
    parts = [world.area_cells(a) for a in areas]
    cells = np.unique(np.concatenate(parts)).astype(np.int32) if parts else np.zeros(0, np.int32)
    if len(cells) == 0:
        raise AreaNotCovered("No cell of the operator serves the given areas.")
    return cells


def snapshot(world: World, t: Targeting) -> Subs:
    """Candidates of a snapshot mode right now (PRESENT, VISITED, HOME, WORK), sorted row indices."""
    if t.mode == "PRESENT":
        return world.occupants_of_cells(t.cells)
    if t.mode == "VISITED":
        assert t.visited_from is not None and t.visited_to is not None
        return world.visitors_of_cells(t.cells, t.visited_from, t.visited_to)
    if t.mode in ("HOME", "WORK"):
        return world.residents_of_cells(t.cells, t.mode)
    raise ValueError(f"{t.mode} is not a snapshot mode")


def estimate_candidates(world: World, t: Targeting) -> Subs:
    """Candidates an estimate counts: the snapshot, or for ENTERS the distinct visitors of the last day."""
    if t.mode == "ENTERS":
        now = world.clock.now
        return world.visitors_of_cells(t.cells, max(world.start, now - ENTERS_ESTIMATE_WINDOW), now)
    return snapshot(world, t)


def apply_segment(world: World, subs: Subs, segment: Segment) -> tuple[Subs, Subs]:
    """The candidates matching ``segment`` and those that do not (they are excluded as ``SEGMENT``)."""
    if segment.is_empty or len(subs) == 0:
        return subs, subs[:0]
    keep = world.segment_mask(subs, segment)
    return subs[keep], subs[~keep]


@dataclass(frozen=True)
class AreaIndex:
    """Which areas (campaigns) each cell belongs to, as compressed rows: the areas of cell ``c`` are
    ``areas[ptr[c]:ptr[c + 1]]``. One extra empty row absorbs cell -1 (no serving cell).

    Sparse on purpose: a mover touches only the few areas of its old and new cells, so a tick costs in
    proportion to those, not to movers × areas.
    """

    ptr: NDArray[np.int64]
    areas: NDArray[np.int32]
    n_areas: int
    signature: NDArray[np.uint64]
    """XOR of a fixed 64-bit code per area over each cell's areas: two cells with the same set of areas have
    the same signature, and different sets collide with probability 2**-64, so a mover whose old and new
    signatures agree entered and left nothing and is dropped before any set arithmetic."""

    @property
    def any(self) -> NDArray[np.bool_]:
        """Whether each cell (plus the -1 row) belongs to at least one area."""
        return np.diff(self.ptr) > 0

    def changed(self, old: NDArray[np.int32], new: NDArray[np.int32]) -> NDArray[np.bool_]:
        """Movers whose old and new cells differ in their areas (candidates for entries and exits)."""
        last = len(self.ptr) - 2
        return np.asarray(self.signature[np.where(old < 0, last, old)] != self.signature[np.where(new < 0, last, new)])

    def pairs(self, cells: NDArray[np.int32]) -> tuple[NDArray[np.int64], NDArray[np.int32]]:
        """(batch row, area) for every area of every cell in ``cells``."""
        rows_cells = np.where(cells < 0, len(self.ptr) - 2, cells)
        start = self.ptr[rows_cells]
        count = self.ptr[rows_cells + 1] - start
        rows = np.repeat(np.arange(len(cells), dtype=np.int64), count)
        first = np.repeat(start - np.concatenate([[0], np.cumsum(count)[:-1]]), count)
        return rows, self.areas[first + np.arange(len(rows))]


def area_index(n_cells: int, cell_sets: list[NDArray[np.int32]]) -> AreaIndex:
    """Cells → areas index of ``cell_sets`` (area ``j`` is the cells of ``cell_sets[j]``)."""
    cells = np.concatenate([np.asarray(c, np.int64) for c in cell_sets]) if cell_sets else np.zeros(0, np.int64)
    areas = np.repeat(np.arange(len(cell_sets), dtype=np.int32), [len(c) for c in cell_sets])
    order = np.lexsort((areas, cells))
    counts = np.bincount(cells, minlength=n_cells + 1)[: n_cells + 1]
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    codes = _area_codes(len(cell_sets))
    signature = np.zeros(n_cells + 1, np.uint64)
    np.bitwise_xor.at(signature, cells, codes[areas])
    return AreaIndex(ptr, areas[order], len(cell_sets), signature)


def _sorted_member(needles: NDArray[np.int64], haystack: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Whether each needle is in the sorted ``haystack``."""
    if len(haystack) == 0:
        return np.zeros(len(needles), bool)
    pos = np.minimum(np.searchsorted(haystack, needles), len(haystack) - 1)
    return np.asarray(haystack[pos] == needles)


def _area_codes(n: int) -> NDArray[np.uint64]:
    """A fixed pseudo-random 64-bit code per area index (SplitMix64 of the index; no random state)."""
    with np.errstate(over="ignore"):
        z = (np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return np.asarray(z ^ (z >> np.uint64(31)))


def entered(index: AreaIndex, old: NDArray[np.int32], new: NDArray[np.int32]
            ) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.int64], NDArray[np.int32]]:
    """Who entered and who left each area in a batch of cell changes.

    Returns ``(enter_rows, enter_areas, exit_rows, exit_areas)``: rows index the batch; sorted by area, then
    row. A mover entered an area when the area holds its new cell and not its old one.
    """
    new_rows, new_areas = index.pairs(new)
    old_rows, old_areas = index.pairs(old)
    width = max(index.n_areas, 1)
    # Rows ascend and each cell's areas are sorted, so both key arrays are sorted: membership is a binary search.
    new_keys = new_rows * width + new_areas
    old_keys = old_rows * width + old_areas
    enter = ~_sorted_member(new_keys, old_keys)
    leave = ~_sorted_member(old_keys, new_keys)
    e_row, e_col = new_rows[enter], new_areas[enter]
    x_row, x_col = old_rows[leave], old_areas[leave]
    e_order = np.lexsort((e_row, e_col))
    x_order = np.lexsort((x_row, x_col))
    return e_row[e_order], e_col[e_order], x_row[x_order], x_col[x_order]
