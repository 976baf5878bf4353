"""Tests of the radio network: site layout, point → cell raster, area → covering cells."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from simulator.city import PRESETS, ZONE_CENTRE, ZONE_RESIDENTIAL, ZONE_SUBURB, city_from_preset
from simulator.errors import SimulatorError, UnknownCellError
from simulator.geo import Area
from simulator.network import COVERAGE_MARGIN_M, SECTOR_AZIMUTHS, Network
from simulator.rng import RngStreams

CITIES = ("moscow", "seoul", "berlin", "new-york")
SEED = 7


@pytest.fixture(scope="module")
def networks() -> dict[str, Network]:
    return {name: Network.build(city_from_preset(name), RngStreams(SEED)) for name in CITIES}


def _points_in_city(net: Network, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
    return net.city.sample_points(rng, n, (1.0, 1.0, 1.0))


def _nearest_site_distance(net: Network) -> NDArray[np.float64]:
    pts = shapely.points(net.site_x, net.site_y)
    pairs, dist = shapely.STRtree(pts).query_nearest(pts, exclusive=True, return_distance=True, all_matches=False)
    out = np.empty(net.n_sites)
    out[pairs[0]] = dist
    return out


def _star_polygon(cx: float, cy: float, radii: list[float]) -> Area:
    angles = np.linspace(0.0, 2.0 * math.pi, len(radii), endpoint=False)
    r = np.asarray(radii)
    return Area.polygon(list(zip((cx + r * np.cos(angles)).tolist(), (cy + r * np.sin(angles)).tolist(),
                                 strict=True)))


# -- layout ------------------------------------------------------------------------------------------------

def test_cell_arrays_are_consistent(networks: dict[str, Network]) -> None:
    """Every per-cell array has one entry per cell, three cells per site, azimuths 0/120/240."""
    for net in networks.values():
        n = net.n_cells
        assert n == 3 * net.n_sites > 0
        for arr in (net.cell_x, net.cell_y, net.cell_radius, net.cell_site, net.cell_azimuth, net.cell_zone):
            assert arr.shape == (n,)
        assert net.cell_site.dtype == np.int32 and net.cell_zone.dtype == np.int8
        assert np.array_equal(net.cell_site, np.repeat(np.arange(net.n_sites), 3))
        assert np.array_equal(net.cell_azimuth, np.tile(SECTOR_AZIMUTHS, net.n_sites))
        assert np.all(net.cell_radius > 0)


def test_spacing_follows_density(networks: dict[str, Network]) -> None:
    """Median nearest-site distance grows from centre to suburb and sits in the design ranges."""
    for name, net in networks.items():
        nn = _nearest_site_distance(net)
        centre, residential, suburb = (float(np.median(nn[net.site_zone == z]))
                                       for z in (ZONE_CENTRE, ZONE_RESIDENTIAL, ZONE_SUBURB))
        assert centre < residential < suburb, name
        assert 300 <= centre <= 500, (name, centre)
        assert 800 <= residential <= 1_000, (name, residential)
        assert 1_000 <= suburb <= 3_000, (name, suburb)


def test_cell_ids_are_unique_and_ecgi_like(networks: dict[str, Network]) -> None:
    """Cell ids are MCC-MNC-ECI strings, unique across all cities."""
    pattern = re.compile(r"^\d{3}-\d{2,3}-[0-9A-F]{7}$")
    all_ids = [cid for net in networks.values() for cid in net.cell_ids]
    assert all(pattern.match(cid) for cid in all_ids)
    assert len(set(all_ids)) == len(all_ids)
    berlin = networks["berlin"]
    assert berlin.cell_ids[4] == "262-01-0000101"  # site 1, sector 1: ECI = 1 * 256 + 1


def test_build_is_deterministic_per_seed() -> None:
    """The same seed gives the same network; another seed moves the sites."""
    city = city_from_preset("berlin")
    a = Network.build(city, RngStreams(SEED))
    b = Network.build(city, RngStreams(SEED))
    c = Network.build(city, RngStreams(SEED + 1))
    assert np.array_equal(a.site_x, b.site_x) and np.array_equal(a.grid, b.grid)
    assert a.cell_ids == b.cell_ids
    assert not np.array_equal(a.site_x, c.site_x)


def test_cell_latlon_is_near_the_city(networks: dict[str, Network]) -> None:
    """Cell centres in WGS84 lie within the coverage radius of the preset's centre."""
    for name, net in networks.items():
        lat, lon = net.cell_latlon()
        preset = PRESETS[name]
        assert lat.shape == lon.shape == (net.n_cells,)
        assert np.all(np.abs(lat - preset.latitude) < 0.3)
        assert np.all(np.abs(lon - preset.longitude) < 0.5)


# -- point → cell ----------------------------------------------------------------------------------------

@settings(max_examples=40)
@given(name=st.sampled_from(CITIES), seed=st.integers(0, 2**32 - 1))
def test_every_point_in_city_maps_to_one_valid_cell(networks: dict[str, Network], name: str, seed: int) -> None:
    """cell_of gives each point inside the city exactly one valid cell index."""
    net = networks[name]
    pts = _points_in_city(net, np.random.default_rng(seed), 2_000)
    cells = net.cell_of(pts[:, 0], pts[:, 1])
    assert cells.shape == (len(pts),) and cells.dtype == np.int32
    assert np.all((cells >= 0) & (cells < net.n_cells))


@settings(max_examples=20)
@given(name=st.sampled_from(CITIES), seed=st.integers(0, 2**32 - 1))
def test_serving_cell_is_nearest_site_and_sector(networks: dict[str, Network], name: str, seed: int) -> None:
    """The serving site is the nearest one and the sector faces the point, up to one pixel of raster error."""
    net = networks[name]
    pts = _points_in_city(net, np.random.default_rng(seed), 500)
    cells = net.cell_of(pts[:, 0], pts[:, 1])
    site = net.cell_site[cells]
    d = np.hypot(pts[:, 0, None] - net.site_x[None, :], pts[:, 1, None] - net.site_y[None, :])
    pixel_diag = net.resolution * math.sqrt(2.0)
    assert np.all(d[np.arange(len(pts)), site] <= d.min(axis=1) + pixel_diag + 1e-6)
    dx, dy = pts[:, 0] - net.site_x[site], pts[:, 1] - net.site_y[site]
    dist = np.hypot(dx, dy)
    far = dist > 2 * pixel_diag  # near the mast the pixel centre's bearing can differ a lot
    bearing = np.degrees(np.arctan2(dx, dy)) % 360.0
    off = np.abs((bearing - net.cell_azimuth[cells] + 180.0) % 360.0 - 180.0)
    slack = np.degrees(np.arcsin(np.minimum(1.0, (pixel_diag / 2) / dist)))
    assert np.all(off[far] <= 60.0 + slack[far] + 1e-6)


@settings(max_examples=20)
@given(name=st.sampled_from(CITIES), seed=st.integers(0, 2**32 - 1))
def test_device_is_within_its_cell_circle(networks: dict[str, Network], name: str, seed: int) -> None:
    """Every served point lies within cell_radius of its cell centre."""
    net = networks[name]
    pts = _points_in_city(net, np.random.default_rng(seed), 2_000)
    cells = net.cell_of(pts[:, 0], pts[:, 1])
    dist = np.hypot(pts[:, 0] - net.cell_x[cells], pts[:, 1] - net.cell_y[cells])
    assert np.all(dist <= net.cell_radius[cells] + 1e-6)


@pytest.mark.parametrize(("x", "y"), [
    (1e6, 0.0),  # far east of every city
    (0.0, -1e6),  # far south
    (float("nan"), 0.0),  # undefined coordinate
    (float("inf"), float("-inf")),  # infinite coordinates
    (-1e300, 1e300),  # beyond int32 after scaling
])
def test_points_outside_coverage_have_no_cell(networks: dict[str, Network], x: float, y: float) -> None:
    """Points outside the coverage raster map to -1."""
    for net in networks.values():
        assert int(net.cell_of(x, y)) == -1


def test_cell_of_edge_of_coverage(networks: dict[str, Network]) -> None:
    """Coverage reaches about 1 km past the city boundary and stops there."""
    net = networks["berlin"]
    radius = PRESETS["berlin"].suburb_radius_m
    angles = np.linspace(0.0, 2.0 * math.pi, 360, endpoint=False)
    inside = net.cell_of((radius + COVERAGE_MARGIN_M - 100) * np.cos(angles),
                         (radius + COVERAGE_MARGIN_M - 100) * np.sin(angles))
    outside = net.cell_of((radius + COVERAGE_MARGIN_M + 100) * np.cos(angles),
                          (radius + COVERAGE_MARGIN_M + 100) * np.sin(angles))
    assert np.all(inside >= 0) and np.all(outside == -1)


def test_cell_of_keeps_the_input_shape(networks: dict[str, Network]) -> None:
    """cell_of broadcasts its inputs and returns their shape, including scalars and empty arrays."""
    net = networks["seoul"]
    assert net.cell_of(0.0, 0.0).shape == ()
    assert net.cell_of([], []).shape == (0,)
    grid = net.cell_of(np.zeros((3, 4)), 0.0)
    assert grid.shape == (3, 4) and np.all(grid == net.cell_of(0.0, 0.0))


# -- area → cells ----------------------------------------------------------------------------------------

def _check_covering(net: Network, area: Area, rng: np.random.Generator, extra: NDArray[np.float64] | None = None,
                    ) -> None:
    minx, miny, maxx, maxy = area.geometry.bounds
    pts = np.column_stack([rng.uniform(minx, maxx, 20_000), rng.uniform(miny, maxy, 20_000)])
    if extra is not None:
        pts = np.vstack([pts, extra])
    pts = pts[area.contains(pts[:, 0], pts[:, 1])]
    cells = net.cell_of(pts[:, 0], pts[:, 1])
    cells = cells[cells >= 0]
    covering = net.cells_covering(area)
    assert covering.dtype == np.int32
    assert np.array_equal(covering, np.unique(covering))
    assert np.all(np.isin(cells, covering))


@settings(max_examples=60)
@given(name=st.sampled_from(CITIES), fx=st.floats(-1.1, 1.1), fy=st.floats(-1.1, 1.1),
       radius=st.floats(5.0, 6_000.0), seed=st.integers(0, 2**32 - 1))
def test_covering_cells_contain_cell_of_every_point_in_circle(networks: dict[str, Network], name: str, fx: float,
                                                              fy: float, radius: float, seed: int) -> None:
    """cells_covering(circle) contains cell_of of every point inside the circle, near its rim included."""
    net = networks[name]
    r_city = PRESETS[name].suburb_radius_m
    cx, cy = fx * r_city, fy * r_city
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0.0, 2.0 * math.pi, 2_000)
    rim = np.column_stack([cx + radius * (1 - 1e-9) * np.cos(theta), cy + radius * (1 - 1e-9) * np.sin(theta)])
    _check_covering(net, Area.circle(cx, cy, radius), rng, rim)


@settings(max_examples=60)
@given(name=st.sampled_from(CITIES), fx=st.floats(-1.0, 1.0), fy=st.floats(-1.0, 1.0),
       radii=st.lists(st.floats(20.0, 5_000.0), min_size=3, max_size=12), seed=st.integers(0, 2**32 - 1))
def test_covering_cells_contain_cell_of_every_point_in_polygon(networks: dict[str, Network], name: str, fx: float,
                                                               fy: float, radii: list[float], seed: int) -> None:
    """cells_covering(polygon) contains cell_of of every point inside a random star polygon, edges included."""
    net = networks[name]
    r_city = PRESETS[name].suburb_radius_m
    cx, cy = fx * r_city, fy * r_city
    area = _star_polygon(cx, cy, radii)
    rng = np.random.default_rng(seed)
    # Points on the edges, pulled 1 cm towards the star's centre (which every edge point can see).
    edge = shapely.line_interpolate_point(area.geometry.exterior, rng.uniform(0.0, 1.0, 2_000), normalized=True)
    ex, ey = shapely.get_x(edge), shapely.get_y(edge)
    norm = np.maximum(np.hypot(ex - cx, ey - cy), 1e-9)
    pulled = np.column_stack([ex - 0.01 * (ex - cx) / norm, ey - 0.01 * (ey - cy) / norm])
    _check_covering(net, area, rng, pulled)


def test_cells_covering_a_small_circle_is_a_few_cells(networks: dict[str, Network]) -> None:
    """A 1 km circle in the centre resolves to a handful of cells, the whole city to (almost) all of them."""
    net = networks["moscow"]
    small = net.cells_covering(Area.circle(0.0, 0.0, 1_000.0))
    assert 3 <= len(small) <= 150
    everything = net.cells_covering(Area.circle(0.0, 0.0, 100_000.0))
    assert len(everything) >= 0.99 * net.n_cells


def test_cells_covering_far_outside_is_empty(networks: dict[str, Network]) -> None:
    """An area beyond the raster resolves to no cell."""
    net = networks["new-york"]
    assert net.cells_covering(Area.circle(500_000.0, 0.0, 1_000.0)).size == 0
    assert net.cells_covering(_star_polygon(0.0, 400_000.0, [1_000.0, 2_000.0, 1_500.0])).size == 0


@pytest.mark.parametrize(("x", "y", "radius", "expected"), [
    (0.0, 0.0, 500.0, True),  # city centre
    (200_000.0, 0.0, 1_000.0, False),  # 200 km away
    (0.0, -60_000.0, 5_000.0, False),  # beyond the suburbs and the margin
])
def test_covers(networks: dict[str, Network], x: float, y: float, radius: float, expected: bool) -> None:
    """covers() tells whether an area touches the coverage at all."""
    for net in networks.values():
        assert net.covers(Area.circle(x, y, radius)) is expected


# -- cells -------------------------------------------------------------------------------------------------

def test_cell_index_round_trips(networks: dict[str, Network]) -> None:
    """cell_index(cell_ids[i]) == i for every cell."""
    for net in networks.values():
        assert [net.cell_index(cid) for cid in net.cell_ids] == list(range(net.n_cells))


@pytest.mark.parametrize("cell_id", [
    "",  # empty
    "262-01-FFFFFFF",  # well-formed, not a site of this network
    "250-01-0000000",  # Moscow's first cell, asked of Berlin
    "262-01-0000000 ",  # trailing space
])
def test_cell_index_rejects_unknown_ids(networks: dict[str, Network], cell_id: str) -> None:
    """An unknown cell id raises UnknownCellError, a SimulatorError."""
    with pytest.raises(UnknownCellError):
        networks["berlin"].cell_index(cell_id)
    assert issubclass(UnknownCellError, SimulatorError)


def test_cell_mask_marks_exactly_the_given_cells(networks: dict[str, Network]) -> None:
    """cell_mask is True at the given cells only and rejects indices out of range."""
    net = networks["berlin"]
    mask = net.cell_mask([0, 5, 5, net.n_cells - 1])
    assert mask.shape == (net.n_cells,) and mask.dtype == np.bool_
    assert np.flatnonzero(mask).tolist() == [0, 5, net.n_cells - 1]
    assert not net.cell_mask([]).any()
    for bad in ([-1], [net.n_cells]):
        with pytest.raises(UnknownCellError):
            net.cell_mask(bad)


def test_cell_polygon_is_the_raster_footprint(networks: dict[str, Network]) -> None:
    """Points inside a cell's polygon are served by that cell; its area is its pixel count."""
    net = networks["berlin"]
    rng = np.random.default_rng(1)
    for i in (0, 1, 2, net.n_cells // 2, net.n_cells - 1):
        poly = net.cell_polygon(i)
        assert poly.is_valid and not poly.is_empty
        assert math.isclose(poly.area, np.count_nonzero(net.grid == i) * net.resolution**2)
        minx, miny, maxx, maxy = poly.bounds
        pts = np.column_stack([rng.uniform(minx, maxx, 2_000), rng.uniform(miny, maxy, 2_000)])
        inside = shapely.contains_xy(poly, pts[:, 0], pts[:, 1])
        cells = net.cell_of(pts[:, 0], pts[:, 1])
        assert np.all(cells[inside] == i) and np.all(cells[~inside] != i)


def test_cell_coverage_fraction(networks: dict[str, Network]) -> None:
    """The share of a cell inside an area is 1 for a huge circle, 0 far away, and in between at a cut."""
    net = networks["seoul"]
    for i in (0, 7, net.n_cells - 1):
        x, y = float(net.cell_x[i]), float(net.cell_y[i])
        assert net.cell_coverage_fraction(i, Area.circle(x, y, 50_000.0)) == 1.0
        assert net.cell_coverage_fraction(i, Area.circle(x + 100_000.0, y, 1_000.0)) == 0.0
        cut = net.cell_coverage_fraction(i, Area.circle(x, y, float(net.cell_radius[i]) / 2))
        assert 0.0 < cut < 1.0
    with pytest.raises(UnknownCellError):
        net.cell_coverage_fraction(net.n_cells, Area.circle(0.0, 0.0, 1.0))
