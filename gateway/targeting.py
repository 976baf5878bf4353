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

from gateway.errors import Unprocessable
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
    if not world.network.covers(area):
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


def area_matrix(n_cells: int, cell_sets: list[NDArray[np.int32]]) -> NDArray[np.bool_]:
    """Cells × campaigns membership (one extra row absorbs cell -1): column ``j`` marks campaign ``j``'s cells."""
    m = np.zeros((n_cells + 1, len(cell_sets)), dtype=bool)
    for j, cells in enumerate(cell_sets):
        m[cells, j] = True
    return m


def entered(matrix: NDArray[np.bool_], old: NDArray[np.int32], new: NDArray[np.int32]
            ) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
    """Who entered and who left each campaign's areas in a batch of cell changes.

    Two fancy-index lookups of the movers' old and new cells cover every campaign at once. Returns
    ``(enter_rows, enter_cols, exit_rows, exit_cols)``: rows index the batch, columns the matrix's campaigns,
    sorted by column then row.
    """
    was = matrix[old]
    now = matrix[new]
    e_row, e_col = np.nonzero(now & ~was)
    x_row, x_col = np.nonzero(was & ~now)
    e_order = np.argsort(e_col, kind="stable")  # few hits: sorting them beats scanning a transposed matrix
    x_order = np.argsort(x_col, kind="stable")
    return e_row[e_order], e_col[e_order], x_row[x_order], x_col[x_order]
