"""The operator's radio network: cell sites, three sectors each, and the point → cell raster.

This module owns the cell layout of a city and every question of the form "which cell serves here":

* **Sites** sit on a hexagonal lattice whose spacing follows the city zone (dense in the centre, sparse in
  the suburbs), each jittered with the seeded ``network`` stream. Where two zones meet, a coarse-zone site
  too close to a finer-zone site is dropped so the seam does not stack sites on top of each other.
* **Sectors**: every site has three sectors with azimuths 0°, 120° and 240° (0 = north, clockwise). A point
  is served by its nearest site (Voronoi) and, within it, by the sector whose azimuth is closest to the
  bearing from the site to the point.
* **Raster**: that rule is evaluated once, at build time, on the centres of square pixels (50 m by default)
  covering the coverage region (the city boundary grown by 1 km). ``cell_of`` is then pure array indexing,
  and every other area question (``cells_covering``, ``cell_coverage_fraction``, ``cell_polygon``) is answered
  from the same pixels, so the answers can never disagree with ``cell_of``.

It must not know about subscribers, time, consent or HTTP, must not use a random generator other than
``streams.stream("network")``, and must not loop in Python over points or pixels (only over sites, at build).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry import MultiPoint, Polygon, box
from shapely.geometry.base import BaseGeometry

from simulator.city import ZONE_CENTRE, ZONE_NAMES, ZONE_OUTSIDE, City
from simulator.errors import UnknownCellError
from simulator.geo import Area
from simulator.rng import RngStreams

ZONE_SITE_SPACING_M: tuple[float, float, float] = (420.0, 1_000.0, 2_000.0)
"""Inter-site distance of the hexagonal lattice per zone (centre, residential, suburb), in metres.

Jitter shortens nearest-neighbour distances by roughly 13 %, so the median distance from a site to its
nearest neighbour comes out at about 360 m, 870 m and 1.7 km: urban macro grids of 300–500 m, ~1 km in
residential districts and 1–3 km in suburbs.
"""

JITTER_SHARE = 0.15
"""Each site moves uniformly within a disc of this share of its zone spacing."""

SEAM_SHARE = 0.5
"""A coarse-zone lattice point closer than this share of its spacing to a finer-zone site is dropped."""

COVERAGE_MARGIN_M = 1_000.0
"""The network covers the city boundary grown by this distance (people on the city's edge still have service)."""

PIXEL_M = 50.0
"""Default raster resolution in metres: finer than the smallest sector (a few hundred metres across)."""

MAX_PIXELS = 4_000_000
"""The raster is coarsened beyond this many pixels so large custom cities stay small in memory and build time."""

SECTOR_AZIMUTHS: tuple[float, float, float] = (0.0, 120.0, 240.0)
"""Sector azimuths in degrees (0 = north, clockwise); sector ``k`` of a site has azimuth ``SECTOR_AZIMUTHS[k]``."""

NO_CELL = -1
"""The cell index of a point outside coverage."""

_CELL_OF_CHUNK = 65_536


def _hex_lattice(bounds: tuple[float, float, float, float],
                 spacing: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Points of a hexagonal lattice anchored at the origin (the city centre) that cover ``bounds``."""
    minx, miny, maxx, maxy = bounds
    row_step = spacing * math.sqrt(3.0) / 2.0
    rows = np.arange(math.floor(miny / row_step) - 1, math.ceil(maxy / row_step) + 2)
    cols = np.arange(math.floor(minx / spacing) - 1, math.ceil(maxx / spacing) + 2)
    # Odd rows shift by half a spacing: every point then has six neighbours at exactly ``spacing``.
    x = cols[None, :] * spacing + (rows[:, None] % 2) * (spacing / 2.0)
    y = np.broadcast_to(rows[:, None] * row_step, x.shape)
    return x.ravel().astype(np.float64), y.ravel().astype(np.float64)


def _place_sites(city: City, rng: np.random.Generator
                 ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int8]]:
    """Jittered hexagonal sites per zone, finest zone first; returns x, y and the zone whose lattice placed each."""
    xs: list[NDArray[np.float64]] = []
    ys: list[NDArray[np.float64]] = []
    zones: list[NDArray[np.int8]] = []
    for zone, spacing in enumerate(ZONE_SITE_SPACING_M):
        lx, ly = _hex_lattice(city.bounds, spacing)
        keep = city.zone_of(lx, ly) == zone
        lx, ly = lx[keep], ly[keep]
        if xs and len(lx):
            # Lattices of neighbouring zones are independent; without this a suburb site could sit 100 m
            # from a residential one along the zone border.
            placed = shapely.points(np.concatenate(xs), np.concatenate(ys))
            pairs, dist = shapely.STRtree(placed).query_nearest(shapely.points(lx, ly), return_distance=True,
                                                                all_matches=False)
            far = np.ones(len(lx), dtype=np.bool_)
            far[pairs[0]] = dist >= SEAM_SHARE * spacing  # pairs[0] holds the query (lattice point) positions
            lx, ly = lx[far], ly[far]
        xs.append(lx)
        ys.append(ly)
        zones.append(np.full(len(lx), zone, dtype=np.int8))
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    zone_arr = np.concatenate(zones)
    if len(x) == 0:
        # A city smaller than one lattice cell still gets a site, in its middle.
        p = city.boundary.representative_point()
        x, y = np.array([p.x]), np.array([p.y])
        zone_of_p = int(city.zone_of(x, y)[0])
        zone_arr = np.array([ZONE_CENTRE if zone_of_p == ZONE_OUTSIDE else zone_of_p], dtype=np.int8)
    spacing_arr = np.asarray(ZONE_SITE_SPACING_M)[zone_arr]
    # Uniform in a disc: radius ∝ sqrt(u). One draw of shape (n, 2) keeps the stream's use simple and stable.
    u = rng.random((len(x), 2))
    r = JITTER_SHARE * spacing_arr * np.sqrt(u[:, 0])
    theta = 2.0 * math.pi * u[:, 1]
    return x + r * np.cos(theta), y + r * np.sin(theta), zone_arr


@dataclass(eq=False)
class Network:
    """Cell sites on a jittered hexagonal layout, three sectors each; point→cell raster.

    Cell ``i`` is sector ``i % 3`` of site ``i // 3``. Arrays named ``cell_*`` have one entry per cell,
    ``site_*`` one per site. The raster ``grid`` holds a cell index per pixel (``-1`` outside coverage) and
    has a one-pixel ``-1`` border, so clipping a coordinate into the grid sends it to "no cell".
    """

    city: City
    cell_ids: list[str]
    cell_x: NDArray[np.float64]
    cell_y: NDArray[np.float64]
    cell_radius: NDArray[np.float64]
    cell_site: NDArray[np.int32]
    cell_azimuth: NDArray[np.float64]
    cell_zone: NDArray[np.int8]
    site_x: NDArray[np.float64]
    site_y: NDArray[np.float64]
    coverage: BaseGeometry
    grid: NDArray[np.int32]
    origin: tuple[float, float]
    resolution: float
    _pixel_order: NDArray[np.int32] = field(repr=False)
    _pixel_offsets: NDArray[np.int64] = field(repr=False)
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._index = {cid: i for i, cid in enumerate(self.cell_ids)}
        shapely.prepare(self.coverage)

    # -- construction ----------------------------------------------------------------------------------
    @classmethod
    def build(cls, city: City, streams: RngStreams, pixel_m: float = PIXEL_M) -> Network:
        """Lay out sites and sectors for ``city`` and rasterise the serving cell; deterministic per seed."""
        site_x, site_y, site_zone = _place_sites(city, streams.stream("network"))
        n_sites = len(site_x)
        coverage = city.boundary.buffer(COVERAGE_MARGIN_M)
        cminx, cminy, cmaxx, cmaxy = coverage.bounds
        width, height = cmaxx - cminx, cmaxy - cminy
        res = max(float(pixel_m), math.sqrt(width * height / MAX_PIXELS))
        nx_in, ny_in = math.ceil(width / res), math.ceil(height / res)
        nx, ny = nx_in + 2, ny_in + 2  # one border pixel on every side
        gx0, gy0 = cminx - res, cminy - res
        px = gx0 + (np.arange(nx) + 0.5) * res  # pixel-centre x per column
        py = gy0 + (np.arange(ny) + 0.5) * res  # pixel-centre y per row

        owner = _nearest_site_raster(site_x, site_y, px, py, (gx0, gy0, gx0 + nx * res, gy0 + ny * res))

        inside = np.zeros((ny, nx), dtype=np.bool_)
        inside[1:-1, 1:-1] = shapely.contains_xy(coverage, px[None, 1:-1], py[1:-1, None])
        flat = np.flatnonzero(inside).astype(np.int32)
        rows, cols = np.divmod(flat, nx)
        cx, cy = px[cols], py[rows]
        site = owner.ravel()[flat]
        # Bearing clockwise from north; the sector is the 120° slice centred on its azimuth.
        bearing = np.degrees(np.arctan2(cx - site_x[site], cy - site_y[site])) % 360.0
        sector = ((bearing + 60.0) // 120.0).astype(np.int32) % 3
        cell = site * 3 + sector

        n_cells = 3 * n_sites
        grid = np.full((ny, nx), NO_CELL, dtype=np.int32)
        grid.ravel()[flat] = cell

        cell_site = np.repeat(np.arange(n_sites, dtype=np.int32), 3)
        cell_azimuth = np.tile(np.asarray(SECTOR_AZIMUTHS, dtype=np.float64), n_sites)
        cell_zone = np.repeat(site_zone, 3)
        spacing = np.asarray(ZONE_SITE_SPACING_M)[cell_zone]

        # Centre = centroid of the sector's raster footprint; radius = the circle around that centre that
        # contains the whole footprint (pixel centre distance + half a pixel diagonal), so a device served
        # by cell i is always within cell_radius[i] of (cell_x[i], cell_y[i]).
        count = np.bincount(cell, minlength=n_cells).astype(np.float64)
        has = count > 0
        az = np.radians(cell_azimuth)
        # A sector with no pixel (possible only for a degenerate sliver) gets the nominal wedge geometry.
        cell_x = site_x[cell_site] + 0.3 * spacing * np.sin(az)
        cell_y = site_y[cell_site] + 0.3 * spacing * np.cos(az)
        cell_x[has] = np.bincount(cell, weights=cx, minlength=n_cells)[has] / count[has]
        cell_y[has] = np.bincount(cell, weights=cy, minlength=n_cells)[has] / count[has]
        d2 = (cx - cell_x[cell]) ** 2 + (cy - cell_y[cell]) ** 2
        far2 = np.zeros(n_cells)
        np.maximum.at(far2, cell, d2)
        cell_radius = np.where(has, np.sqrt(far2) + res * math.sqrt(0.5), 0.6 * spacing)

        # Pixels grouped by cell (CSR), for per-cell area questions without scanning the whole grid.
        order = np.argsort(cell, kind="stable")
        pixel_order = flat[order]
        offsets = np.zeros(n_cells + 1, dtype=np.int64)
        np.cumsum(count.astype(np.int64), out=offsets[1:])

        mcc, mnc = city.country.mcc, city.country.mnc
        sector_of = np.tile(np.arange(3), n_sites)
        cell_ids = [f"{mcc}-{mnc}-{int(s) * 256 + int(k):07X}" for s, k in zip(cell_site, sector_of, strict=True)]
        return cls(city=city, cell_ids=cell_ids, cell_x=cell_x, cell_y=cell_y, cell_radius=cell_radius,
                   cell_site=cell_site, cell_azimuth=cell_azimuth, cell_zone=cell_zone, site_x=site_x,
                   site_y=site_y, coverage=coverage, grid=grid, origin=(gx0, gy0), resolution=res,
                   _pixel_order=pixel_order, _pixel_offsets=offsets)

    # -- sizes -----------------------------------------------------------------------------------------
    @property
    def n_cells(self) -> int:
        """Number of cells (three per site)."""
        return len(self.cell_ids)

    @property
    def n_sites(self) -> int:
        """Number of cell sites."""
        return len(self.site_x)

    @property
    def site_zone(self) -> NDArray[np.int8]:
        """Zone code (``simulator.city.ZONE_*``) whose lattice placed each site."""
        return self.cell_zone[::3]

    # -- point and area queries ------------------------------------------------------------------------
    def cell_of(self, x: ArrayLike, y: ArrayLike) -> NDArray[np.int32]:
        """Serving cell index of each point (``-1`` outside coverage, including NaN coordinates).

        Pure array indexing on the precomputed raster; ``x`` and ``y`` broadcast, the result has their shape.
        """
        xa = np.asarray(x, dtype=np.float64)
        ya = np.asarray(y, dtype=np.float64)
        if xa.shape != ya.shape:
            xa, ya = np.broadcast_arrays(xa, ya)
        shape = xa.shape
        xf, yf = xa.reshape(-1), ya.reshape(-1)
        n = xf.size
        out = np.empty(n, dtype=np.int32)
        ny, nx = self.grid.shape
        x0, y0 = self.origin
        inv = 1.0 / self.resolution
        flat_grid = self.grid.reshape(-1)
        # Chunks small enough to stay in cache, with scratch buffers reused across chunks: whole-array
        # temporaries would cost more in page faults than the arithmetic itself.
        step = min(n, _CELL_OF_CHUNK)
        fx, fy = np.empty(step), np.empty(step)
        ix, iy = np.empty(step, dtype=np.int32), np.empty(step, dtype=np.int32)
        # Cast first, clip in int32 (half the bytes of a float clip). Truncation sends (-1, 0) to column 0,
        # which is the -1 border; NaN and huge values cast to an out-of-range int that the clip also sends to
        # a border, hence the silenced "invalid value" warning.
        with np.errstate(invalid="ignore"):
            for s in range(0, n, max(step, 1)):
                e = min(s + step, n)
                m = e - s
                a, b, c, d = fx[:m], fy[:m], ix[:m], iy[:m]
                np.subtract(xf[s:e], x0, out=a)
                a *= inv
                np.subtract(yf[s:e], y0, out=b)
                b *= inv
                np.copyto(c, a, casting="unsafe")
                np.copyto(d, b, casting="unsafe")
                np.clip(c, 0, nx - 1, out=c)
                np.clip(d, 0, ny - 1, out=d)
                d *= nx
                d += c
                # mode="clip" (indices are in range anyway) because mode="raise" buffers ``out``.
                flat_grid.take(d, out=out[s:e], mode="clip")
        return out.reshape(shape)

    def _window(self, bounds: tuple[float, float, float, float]
                ) -> tuple[slice, slice, NDArray[np.float64], NDArray[np.float64]] | None:
        """Row/column slices and pixel centres of the grid window overlapping ``bounds`` (None if disjoint)."""
        ny, nx = self.grid.shape
        res = self.resolution
        minx, miny, maxx, maxy = bounds
        c0 = max(math.floor((minx - self.origin[0]) / res), 0)
        c1 = min(math.floor((maxx - self.origin[0]) / res) + 1, nx)
        r0 = max(math.floor((miny - self.origin[1]) / res), 0)
        r1 = min(math.floor((maxy - self.origin[1]) / res) + 1, ny)
        if c0 >= c1 or r0 >= r1:
            return None
        cx = self.origin[0] + (np.arange(c0, c1) + 0.5) * res
        cy = self.origin[1] + (np.arange(r0, r1) + 0.5) * res
        return slice(r0, r1), slice(c0, c1), cx, cy

    def cells_covering(self, area: Area) -> NDArray[np.int32]:
        """Sorted indices of every cell serving some point of ``area``.

        Consistent with ``cell_of`` by construction: a point's pixel centre is within half a pixel diagonal
        of the point, so every pixel whose centre lies in the area grown by that distance is taken.
        """
        if not self.reaches(area, margin=self.resolution):  # a pixel of slack, as the grid's border has
            return np.zeros(0, dtype=np.int32)
        half_diag = self.resolution * math.sqrt(0.5)
        # 5 % over the half diagonal absorbs the chord error of shapely's buffered arcs (cos(π/16) ≈ 0.98).
        grow = half_diag * 1.05
        minx, miny, maxx, maxy = area.geometry.bounds
        win = self._window((minx - grow, miny - grow, maxx + grow, maxy + grow))
        if win is None:
            return np.zeros(0, dtype=np.int32)
        rows, cols, cx, cy = win
        if area.kind == "CIRCLE" and area.center is not None and area.radius is not None:
            # Exact circle test, as Area.contains does; the polygon approximation would miss slivers.
            reach = area.radius + grow
            mask = (cx[None, :] - area.center[0]) ** 2 + (cy[:, None] - area.center[1]) ** 2 <= reach * reach
        else:
            grown = area.geometry.buffer(grow)
            shapely.prepare(grown)
            mask = shapely.contains_xy(grown, cx[None, :], cy[:, None])
        values = self.grid[rows, cols][mask]
        # bincount instead of np.unique: linear time, already sorted; index 0 counts the -1 pixels.
        present = np.bincount(values + 1, minlength=self.n_cells + 1)[1:]
        return np.flatnonzero(present).astype(np.int32)

    def reaches(self, area: Area, margin: float = 0.0) -> bool:
        """Whether ``area``'s bounding box meets the coverage's grown by ``margin`` metres.

        Four comparisons: the cheap test that turns an area far from the city away before anything is rasterised
        or intersected.
        """
        minx, miny, maxx, maxy = area.bounds
        cminx, cminy, cmaxx, cmaxy = (float(v) for v in self.coverage.bounds)
        cminx, cminy, cmaxx, cmaxy = cminx - margin, cminy - margin, cmaxx + margin, cmaxy + margin
        return minx <= cmaxx and maxx >= cminx and miny <= cmaxy and maxy >= cminy

    def covers(self, area: Area) -> bool:
        """Whether ``area`` overlaps the network's coverage at all (bounding boxes first)."""
        return self.reaches(area) and bool(shapely.intersects(self.coverage, area.geometry))

    # -- cells -----------------------------------------------------------------------------------------
    def cell_index(self, cell_id: str) -> int:
        """Index of the cell with id ``cell_id``; raises ``UnknownCellError`` for an unknown id."""
        try:
            return self._index[cell_id]
        except KeyError:
            raise UnknownCellError(f"unknown cell id {cell_id!r}") from None

    def _check_index(self, i: int) -> int:
        if not 0 <= int(i) < self.n_cells:
            raise UnknownCellError(f"cell index {i} out of range 0..{self.n_cells - 1}")
        return int(i)

    def cell_mask(self, cells: ArrayLike) -> NDArray[np.bool_]:
        """Boolean array of length ``n_cells``, True at ``cells``; ``mask[cell_column]`` tests membership.

        ``cells`` must hold valid indices. Beware that ``mask[-1]`` (a point outside coverage) reads the last
        cell: select ``cell_column >= 0`` as well when the column may hold ``-1``.
        """
        idx = np.asarray(cells, dtype=np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_cells):
            raise UnknownCellError(f"cell indices must lie in 0..{self.n_cells - 1}")
        mask = np.zeros(self.n_cells, dtype=np.bool_)
        mask[idx] = True
        return mask

    def _pixels(self, i: int) -> NDArray[np.int32]:
        """Flat grid indices of cell ``i``'s pixels, ascending (row-major)."""
        return self._pixel_order[self._pixel_offsets[i]: self._pixel_offsets[i + 1]]

    def cell_polygon(self, i: int) -> BaseGeometry:
        """The raster footprint of cell ``i`` in metres: exactly the region ``cell_of`` maps to ``i``.

        The footprint (union of its pixels) rather than an ideal 120° wedge, so that geometry shown to a user
        and the serving-cell answers agree. Empty for a cell that serves no pixel.
        """
        i = self._check_index(i)
        pix = self._pixels(i).astype(np.int64)
        if pix.size == 0:
            return Polygon()
        nx = self.grid.shape[1]
        # Merge horizontal runs of pixels into one box each: border columns are never part of a footprint,
        # so consecutive flat indices are always on the same row.
        breaks = np.flatnonzero(np.diff(pix) != 1) + 1
        starts = pix[np.r_[0, breaks]]
        ends = pix[np.r_[breaks - 1, pix.size - 1]]
        rows, c0 = np.divmod(starts, nx)
        c1 = ends % nx + 1
        res = self.resolution
        x0, y0 = self.origin
        boxes = shapely.box(x0 + c0 * res, y0 + rows * res, x0 + c1 * res, y0 + (rows + 1) * res)
        return shapely.union_all(boxes)

    def cell_coverage_fraction(self, i: int, area: Area) -> float:
        """Share of cell ``i``'s raster footprint (by pixel) whose pixel centre lies inside ``area``."""
        i = self._check_index(i)
        pix = self._pixels(i)
        if pix.size == 0:
            return 0.0
        rows, cols = np.divmod(pix, self.grid.shape[1])
        cx = self.origin[0] + (cols + 0.5) * self.resolution
        cy = self.origin[1] + (rows + 0.5) * self.resolution
        return float(np.count_nonzero(area.contains(cx, cy))) / pix.size

    def cell_latlon(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Latitude and longitude (degrees, WGS84) of every cell centre."""
        return self.city.projection.to_latlon(self.cell_x, self.cell_y)

    def zone_name(self, i: int) -> str:
        """Name of the zone (``CENTRE``, ``RESIDENTIAL``, ``SUBURB``) of cell ``i``'s site."""
        return ZONE_NAMES[int(self.cell_zone[self._check_index(i)])]


def _nearest_site_raster(site_x: NDArray[np.float64], site_y: NDArray[np.float64], px: NDArray[np.float64],
                         py: NDArray[np.float64], extent: tuple[float, float, float, float]) -> NDArray[np.int32]:
    """Index of the nearest site for every pixel centre (rows = ``py``, columns = ``px``).

    A z-buffer over sites: each site only scans the pixels of its Voronoi cell's bounding box (GEOS computes
    the diagram once), keeping the smaller squared distance. The nearest site of a pixel lies in that
    pixel's Voronoi cell, so it is always among the sites that scanned it: the result is exact, with a loop
    over sites only (never over pixels).
    """
    res = float(px[1] - px[0]) if len(px) > 1 else 1.0
    best = np.full((len(py), len(px)), np.inf)
    owner = np.zeros((len(py), len(px)), dtype=np.int32)
    if len(site_x) == 1:
        return owner
    cells = shapely.get_parts(shapely.voronoi_polygons(MultiPoint(np.column_stack([site_x, site_y])),
                                                       extend_to=box(*extent), ordered=True))
    bounds = shapely.bounds(cells)
    # Pixel index ranges of each cell's bbox, one pixel of slack for centres that sit on the bbox edge.
    c0 = np.clip(np.floor((bounds[:, 0] - px[0]) / res).astype(np.int64) - 1, 0, len(px))
    c1 = np.clip(np.ceil((bounds[:, 2] - px[0]) / res).astype(np.int64) + 2, 0, len(px))
    r0 = np.clip(np.floor((bounds[:, 1] - py[0]) / res).astype(np.int64) - 1, 0, len(py))
    r1 = np.clip(np.ceil((bounds[:, 3] - py[0]) / res).astype(np.int64) + 2, 0, len(py))
    if len(cells) != len(site_x) or not np.all(shapely.contains(cells, shapely.points(site_x, site_y))):
        # Should never happen with distinct sites; fall back to scanning everything rather than be wrong.
        c0[:], r0[:], c1[:], r1[:] = 0, 0, len(px), len(py)
    for s in range(len(site_x)):
        rs, cs = slice(r0[s], r1[s]), slice(c0[s], c1[s])
        d2 = (px[cs][None, :] - site_x[s]) ** 2 + (py[rs][:, None] - site_y[s]) ** 2
        win_best = best[rs, cs]
        closer = d2 < win_best
        win_best[closer] = d2[closer]
        owner[rs, cs][closer] = s
    return owner


__all__ = ["COVERAGE_MARGIN_M", "NO_CELL", "PIXEL_M", "SECTOR_AZIMUTHS", "ZONE_SITE_SPACING_M", "Network"]
