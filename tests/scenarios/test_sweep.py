"""Sweeps: every combination runs, rows do not depend on the number of workers, a CSV and a plot are written."""

from __future__ import annotations

from pathlib import Path

from scenarios.loader import load_text
from scenarios.sweep import grid, run_grid, run_sweep, summarise_rows

SWEEP = """\
name: tiny-sweep
start: 2026-06-06T14:00:00Z
world: {city: berlin, subscribers: 800}
steps:
  - advance: PT30M
sweep:
  parameters:
    world.subscribers: [400, 800]
  seeds: [1, 2]
  metrics:
    - {name: cell_changes, of: world, path: cellChanges}
"""


def test_grid_and_workers(tmp_path: Path) -> None:
    """Parallel and serial runs give the same rows, in grid order."""
    scenario = load_text(SWEEP)
    assert [(c.values, c.seed) for c in grid(scenario)] == [
        ((("world.subscribers", 400),), 1), ((("world.subscribers", 400),), 2),
        ((("world.subscribers", 800),), 1), ((("world.subscribers", 800),), 2)]
    serial = run_grid(scenario, tmp_path, workers=1)
    parallel = run_grid(scenario, tmp_path, workers=2)
    assert serial == parallel
    assert all(r["cell_changes"] > 0 for r in serial)
    assert serial[0]["digest"] != serial[2]["digest"]  # the world size is in the transcript


def test_outputs(tmp_path: Path) -> None:
    scenario = load_text(SWEEP)
    assert run_sweep(scenario, tmp_path, tmp_path / "out", workers=1) == 0
    csv = (tmp_path / "out" / "sweep.csv").read_text().splitlines()
    assert csv[0] == "world.subscribers,seed,cell_changes,passed,digest"
    assert len(csv) == 5
    png = (tmp_path / "out" / "sweep.png").read_bytes()
    assert png[:4] == b"\x89PNG" and len(png) > 5000


def test_confidence_intervals() -> None:
    """Mean and a t-based 95% half-width per x; one value has no interval."""
    rows = [{"x": 1, "m": 1.0}, {"x": 1, "m": 3.0}, {"x": 2, "m": 5.0}]
    (points,) = summarise_rows(rows, "x", "m", []).values()
    assert points[0][:2] == (1.0, 2.0) and abs(points[0][2] - 12.706 * 1.0) < 1e-9
    assert points[1] == (2.0, 5.0, 0.0, 1)
