"""CAMARA steps and the helpers behind them: paths with ``*`` and reductions, density summaries, refusals."""

from __future__ import annotations

import math
from typing import Any

import pytest

from scenarios.actions import density_summary, inscribed_polygon
from scenarios.checks import resolve_path
from scenarios.loader import load_text
from scenarios.runner import run_scenario
from tests.scenarios.conftest import SMALL

GRID = {"slots": [{"cells": [{"v": 3}, {"v": 5}, {"low": True}]}, {"cells": [{"v": 9}]}, {"cells": []}]}


@pytest.mark.parametrize(("path", "expected"), [
    ("slots.count", 3),  # count is a list's length
    ("slots.0.cells.1.v", 5),  # plain dotted path with indexes
    ("slots.*.cells.*.v", [3, 5, 9]),  # nested wildcards flatten; items without the field are skipped
    ("slots.*.cells.*.v.max", 9),  # a reduction applies to the collected list
    ("slots.*.cells.*.v.sum", 17),
    ("slots.*.cells.*.v.min", 3),
    ("slots.*.cells.count", 3),  # * maps up to `count`, which then counts the mapped list (one item per slot)
    ("slots.2.cells.*.v.max", None),  # nothing to reduce
])
def test_paths(path: str, expected: Any) -> None:
    assert resolve_path(GRID, path) == expected


def test_bad_paths() -> None:
    with pytest.raises(KeyError, match="needs a list of numbers"):
        resolve_path({"a": ["x"]}, "a.max")
    with pytest.raises(KeyError, match="cannot take"):
        resolve_path({"a": 1}, "a.*.b")


def test_density_summary_finds_the_peak_slot() -> None:
    def slot(hour: int, *densities: int | None) -> dict[str, Any]:
        cells = [{"geohash": "u", "dataType": "LOW_DENSITY"} if d is None else
                 {"geohash": "u", "dataType": "DENSITY_ESTIMATION", "pplDensity": d} for d in densities]
        return {"startTime": f"2026-06-06T{hour:02d}:00:00Z", "endTime": f"2026-06-06T{hour + 1:02d}:00:00Z",
                "cellPopulationDensityData": cells}

    answer = {"status": "SUPPORTED_AREA", "timedPopulationDensityData": [slot(12, 10, None), slot(13, 80, 20),
                                                                         slot(14, None)]}
    summary = density_summary(answer)
    assert summary["peakSlot"] == "2026-06-06T13:00:00Z"
    assert summary["slots"][1] == {"startTime": "2026-06-06T13:00:00Z", "endTime": "2026-06-06T14:00:00Z",
                                   "maxPplDensity": 80, "meanPplDensity": 50.0, "estimatedCells": 2,
                                   "lowDensityCells": 0}
    assert summary["slots"][2]["maxPplDensity"] is None
    assert summary["timedPopulationDensityData"] == answer["timedPopulationDensityData"]


def test_inscribed_polygon_lies_on_the_circle() -> None:
    lat, lon, r = 52.5, 13.4, 1000.0
    points = inscribed_polygon(lat, lon, r)
    assert len(points) == 12
    for la, lo in points:
        dy = (la - lat) * 111_320.0
        dx = (lo - lon) * 111_320.0 * math.cos(math.radians(lat))
        assert math.isclose(math.hypot(dx, dy), r, rel_tol=1e-3)


def test_camara_refusals_are_step_errors() -> None:
    """A missing scope and a device without location consent are API errors the step can expect."""
    text = SMALL.split("partners:")[0] + """partners:
  - name: acme
    scopes: [location-verification:verify]
    sinks: {main: /hooks/acme}
steps:
  - add_test_subscriber: {msisdn: "+4915100000001", place: Tiergarten, consent: {LOCATION_SHARING: {ANY: false}}}
  - expect_error: PERMISSION_DENIED
    count_devices: {area: {place: Tiergarten, radius: 500}}
  - id: no-consent
    verify_location: {msisdn: "+4915100000001", area: {place: Tiergarten, radius: 500}}
  - expect_error: PERMISSION_DENIED
    subscribe_geofence: {msisdn: "+4915100000001", event: area-entered, area: {place: Tiergarten, radius: 500}}
"""
    result = run_scenario(load_text(text))
    assert [s.ok for s in result.steps] == [True, True, False, True]
    error = result.steps[2].error
    assert error is not None and error["status"] == 403, error
