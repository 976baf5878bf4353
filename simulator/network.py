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
  from the same pixels, so the answers can never disagree with ``cell_of``. A country's coverage falls apart
  into separate regions (cities hundreds of kilometres apart): each region is a :class:`Tile`, a raster of its
  own served by its own sites, so nothing is rasterised between the cities.

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
        parts = [_hex_lattice(city.metro_bounds(m), spacing) for m in range(len(city.metros))]
        lx, ly = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        keep = city.zone_of(lx, ly) == zone
        if len(parts) > 1:  # a lattice point in two metros' boxes is kept once, by the metro it belongs to
            owner = np.concatenate([np.full(len(p[0]), m, np.int16) for m, p in enumerate(parts)])
            keep &= city.metro_of(lx, ly) == owner
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
class Tile:
    """One connected region of coverage as a raster: a cell index per pixel, ``-1`` outside (and on the border).

    Pixels are numbered across tiles: pixel ``(row, col)`` of this tile is ``offset + row * nx + col``.
    """

    grid: NDArray[np.int32]
    origin: tuple[float, float]
    offset: int


@dataclass(eq=False)
class Network:
    """Cell sites on a jittered hexagonal layout, three sectors each; point→cell raster.

    Cell ``i`` is sector ``i % 3`` of site ``i // 3``. Arrays named ``cell_*`` have one entry per cell,
    ``site_*`` one per site. The raster ``grid`` holds a cell index per pixel (``-1`` outside coverage) and
    has a one-pixel ``-1`` border, so clipping a coordinate into the grid sends it to "no cell". A territory
    whose coverage has several separate regions (a country) has one :class:`Tile` per region; ``grid`` and
    ``origin`` are the first tile's.
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
    _pixel_order: NDArray[np.int64] = field(repr=False)
    _pixel_offsets: NDArray[np.int64] = field(repr=False)
    tiles: list[Tile] = field(default_factory=list)
    cell_tile: NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))
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
        regions = list(coverage.geoms) if coverage.geom_type == "MultiPolygon" else [coverage]
        sizes = [(r.bounds[2] - r.bounds[0]) * (r.bounds[3] - r.bounds[1]) for r in regions]
        res = max(float(pixel_m), math.sqrt(max(sizes) / MAX_PIXELS))
        site_region = np.zeros(n_sites, np.int32)
        if len(regions) > 1:
            for j, region in enumerate(regions):
                site_region[shapely.contains_xy(region, site_x, site_y)] = j
        tiles: list[Tile] = []
        flats: list[NDArray[np.int64]] = []
        cells: list[NDArray[np.int32]] = []
        cxs: list[NDArray[np.float64]] = []
        cys: list[NDArray[np.float64]] = []
        offset = 0
        for j, region in enumerate(regions):
            own = np.flatnonzero(site_region == j).astype(np.int32)
            tile, flat_j, cell_j, cx_j, cy_j = _rasterise(region, res, site_x, site_y, own, offset)
            tiles.append(tile)
            flats.append(flat_j)
            cells.append(cell_j)
            cxs.append(cx_j)
            cys.append(cy_j)
            offset += tile.grid.size
        flat = np.concatenate(flats)
        cell = np.concatenate(cells)
        cx, cy = np.concatenate(cxs), np.concatenate(cys)
        gx0, gy0 = tiles[0].origin
        grid = tiles[0].grid

        n_cells = 3 * n_sites

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
                   _pixel_order=pixel_order, _pixel_offsets=offsets, tiles=tiles,
                   cell_tile=np.repeat(site_region, 3))

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
        if len(self.tiles) <= 1:
            return _lookup(self.grid, self.origin, self.resolution, xf, yf).reshape(shape)
        out = np.full(xf.size, NO_CELL, dtype=np.int32)
        res = self.resolution
        for tile in self.tiles:
            ny, nx = tile.grid.shape
            x0, y0 = tile.origin
            sel = np.flatnonzero((xf >= x0) & (xf < x0 + nx * res) & (yf >= y0) & (yf < y0 + ny * res))
            if len(sel):
                got = _lookup(tile.grid, tile.origin, res, xf[sel], yf[sel])
                # Tiles' boxes may overlap; each tile is -1 outside its own region, so keep what a tile serves.
                out[sel] = np.where(got >= 0, got, out[sel])
        return out.reshape(shape)

    def _window(self, bounds: tuple[float, float, float, float], tile: Tile | None = None
                ) -> tuple[slice, slice, NDArray[np.float64], NDArray[np.float64]] | None:
        """Row/column slices and pixel centres of ``tile``'s window overlapping ``bounds`` (None if disjoint).

        The tile defaults to the first.
        """
        grid, origin = (self.grid, self.origin) if tile is None else (tile.grid, tile.origin)
        ny, nx = grid.shape
        res = self.resolution
        minx, miny, maxx, maxy = bounds
        c0 = max(math.floor((minx - origin[0]) / res), 0)
        c1 = min(math.floor((maxx - origin[0]) / res) + 1, nx)
        r0 = max(math.floor((miny - origin[1]) / res), 0)
        r1 = min(math.floor((maxy - origin[1]) / res) + 1, ny)
        if c0 >= c1 or r0 >= r1:
            return None
        cx = origin[0] + (np.arange(c0, c1) + 0.5) * res
        cy = origin[1] + (np.arange(r0, r1) + 0.5) * res
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
        present = np.zeros(self.n_cells, np.int64)
        grown: BaseGeometry | None = None
        for tile in self.tiles or [Tile(self.grid, self.origin, 0)]:
            win = self._window((minx - grow, miny - grow, maxx + grow, maxy + grow), tile)
            if win is None:
                continue
            rows, cols, cx, cy = win
            if area.kind == "CIRCLE" and area.center is not None and area.radius is not None:
                # Exact circle test, as Area.contains does; the polygon approximation would miss slivers.
                reach = area.radius + grow
                mask = (cx[None, :] - area.center[0]) ** 2 + (cy[:, None] - area.center[1]) ** 2 <= reach * reach
            else:
                if grown is None:
                    grown = area.geometry.buffer(grow)
                    shapely.prepare(grown)
                mask = shapely.contains_xy(grown, cx[None, :], cy[:, None])
            values = tile.grid[rows, cols][mask]
            # bincount instead of np.unique: linear time, already sorted; index 0 counts the -1 pixels.
            present += np.bincount(values + 1, minlength=self.n_cells + 1)[1:]
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

    def _pixels(self, i: int) -> tuple[NDArray[np.int64], Tile]:
        """Flat indices in its tile's grid of cell ``i``'s pixels, ascending (row-major), and that tile."""
        tile = self.tiles[int(self.cell_tile[i])] if self.tiles else Tile(self.grid, self.origin, 0)
        return self._pixel_order[self._pixel_offsets[i]: self._pixel_offsets[i + 1]] - tile.offset, tile

    def pixel_counts(self) -> NDArray[np.int64]:
        """How many raster pixels each cell serves (its surface is that times ``resolution ** 2``)."""
        return np.diff(self._pixel_offsets)

    def cell_polygon(self, i: int) -> BaseGeometry:
        """The raster footprint of cell ``i`` in metres: exactly the region ``cell_of`` maps to ``i``.

        The footprint (union of its pixels) rather than an ideal 120° wedge, so that geometry shown to a user
        and the serving-cell answers agree. Empty for a cell that serves no pixel.
        """
        i = self._check_index(i)
        pix, tile = self._pixels(i)
        if pix.size == 0:
            return Polygon()
        nx = tile.grid.shape[1]
        # Merge horizontal runs of pixels into one box each: border columns are never part of a footprint,
        # so consecutive flat indices are always on the same row.
        breaks = np.flatnonzero(np.diff(pix) != 1) + 1
        starts = pix[np.r_[0, breaks]]
        ends = pix[np.r_[breaks - 1, pix.size - 1]]
        rows, c0 = np.divmod(starts, nx)
        c1 = ends % nx + 1
        res = self.resolution
        x0, y0 = tile.origin
        boxes = shapely.box(x0 + c0 * res, y0 + rows * res, x0 + c1 * res, y0 + (rows + 1) * res)
        return shapely.union_all(boxes)

    def cell_coverage_fraction(self, i: int, area: Area) -> float:
        """Share of cell ``i``'s raster footprint (by pixel) whose pixel centre lies inside ``area``."""
        i = self._check_index(i)
        pix, tile = self._pixels(i)
        if pix.size == 0:
            return 0.0
        rows, cols = np.divmod(pix, tile.grid.shape[1])
        cx = tile.origin[0] + (cols + 0.5) * self.resolution
        cy = tile.origin[1] + (rows + 0.5) * self.resolution
        return float(np.count_nonzero(area.contains(cx, cy))) / pix.size

    def cell_latlon(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Latitude and longitude (degrees, WGS84) of every cell centre."""
        return self.city.projection.to_latlon(self.cell_x, self.cell_y)

    def zone_name(self, i: int) -> str:
        """Name of the zone (``CENTRE``, ``RESIDENTIAL``, ``SUBURB``) of cell ``i``'s site."""
        return ZONE_NAMES[int(self.cell_zone[self._check_index(i)])]


def _lookup(grid: NDArray[np.int32], origin: tuple[float, float], resolution: float, xf: NDArray[np.float64],
            yf: NDArray[np.float64]) -> NDArray[np.int32]:
    """The cell of each point on one raster (``-1`` outside it): pure array indexing."""
    n = xf.size
    out = np.empty(n, dtype=np.int32)
    ny, nx = grid.shape
    x0, y0 = origin
    inv = 1.0 / resolution
    flat_grid = grid.reshape(-1)
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
    return out


def _rasterise(region: BaseGeometry, res: float, site_x: NDArray[np.float64], site_y: NDArray[np.float64],
               own: NDArray[np.int32], offset: int
               ) -> tuple[Tile, NDArray[np.int64], NDArray[np.int32], NDArray[np.float64], NDArray[np.float64]]:
    """The raster of one coverage region served by the sites ``own``.

    Returns the tile and, for each covered pixel, its numbered index, its cell and its centre.
    """
    cminx, cminy, cmaxx, cmaxy = region.bounds
    width, height = cmaxx - cminx, cmaxy - cminy
    nx_in, ny_in = math.ceil(width / res), math.ceil(height / res)
    nx, ny = nx_in + 2, ny_in + 2  # one border pixel on every side
    gx0, gy0 = cminx - res, cminy - res
    px = gx0 + (np.arange(nx) + 0.5) * res  # pixel-centre x per column
    py = gy0 + (np.arange(ny) + 0.5) * res  # pixel-centre y per row
    grid = np.full((ny, nx), NO_CELL, dtype=np.int32)
    if len(own) == 0:  # a region without a site (a sliver): covered by nobody
        empty = np.zeros(0)
        return Tile(grid, (gx0, gy0), offset), np.zeros(0, np.int64), np.zeros(0, np.int32), empty, empty
    sx, sy = site_x[own], site_y[own]
    owner = _nearest_site_raster(sx, sy, px, py, (gx0, gy0, gx0 + nx * res, gy0 + ny * res))

    inside = np.zeros((ny, nx), dtype=np.bool_)
    inside[1:-1, 1:-1] = shapely.contains_xy(region, px[None, 1:-1], py[1:-1, None])
    flat = np.flatnonzero(inside)
    rows, cols = np.divmod(flat, nx)
    cx, cy = px[cols], py[rows]
    local = owner.ravel()[flat]
    # Bearing clockwise from north; the sector is the 120° slice centred on its azimuth.
    bearing = np.degrees(np.arctan2(cx - sx[local], cy - sy[local])) % 360.0
    sector = ((bearing + 60.0) // 120.0).astype(np.int32) % 3
    cell = own[local] * 3 + sector
    grid.ravel()[flat] = cell
    return Tile(grid, (gx0, gy0), offset), flat.astype(np.int64) + offset, cell.astype(np.int32), cx, cy


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


__all__ = ["COVERAGE_MARGIN_M", "NO_CELL", "PIXEL_M", "SECTOR_AZIMUTHS", "ZONE_SITE_SPACING_M", "Network", "Tile"]
