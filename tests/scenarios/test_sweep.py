"""Sweeps: every combination runs, rows do not depend on the number of workers, a CSV and a plot are written."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from scenarios.cli import main
from scenarios.loader import load_text
from scenarios.sweep import (
    apply_overrides,
    grid,
    parse_override,
    progress_bar,
    run_grid,
    run_sweep,
    show_progress,
    summarise_rows,
)

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


@pytest.mark.parametrize(("text", "expected"), [
    ("world.subscribers=400,800", ("world.subscribers", [400, 800])),  # integers stay integers
    ("world.consent.advertising_push=0.2, .5,1e-1", ("world.consent.advertising_push", [0.2, 0.5, 0.1])),  # floats
    (" seeds =1", ("seeds", [1])),  # spaces around the name and values
    ("operator.quiet_start_hour=-3", ("operator.quiet_start_hour", [-3])),  # a sign parses; the schema judges it
])
def test_override_parsing(text: str, expected: tuple[str, list[float | int]]) -> None:
    """NAME=V1,V2 becomes the name and typed values."""
    assert parse_override(text) == expected


@pytest.mark.parametrize(("override", "named"), [
    ("world.subscribers", "expected NAME=VALUE"),  # no '='
    ("=1,2", "expected NAME=VALUE"),  # no name
    ("world.subscribers=", "one or more"),  # no value
    ("world.subscribers=1,,2", "one or more"),  # an empty value
    ("world.subscribers=many", "'many' is not a number"),  # not a number
    ("world.subscriber=10", "did you mean 'world.subscribers'"),  # a name that cannot be swept
    ("seeds=1.5", "whole numbers"),  # seeds are integers
    ("world.consent.advertising_push=0.5,1.5", "1.5 is refused for world.consent.advertising_push"),  # out of range
])
def test_bad_override_is_one_line_and_exit_2(override: str, named: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A bad --set: one line naming it, exit code 2, nothing run or written."""
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP)
    assert main(["run", str(path), "--set", override, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and named in err and override.split("=")[0].strip() in err
    assert not (tmp_path / "out").exists()


def test_override_without_sweep_section(small_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--set on a file without a sweep: refused, exit 2."""
    assert main(["run", str(small_file), "--set", "seeds=1"]) == 2
    assert "no sweep section" in capsys.readouterr().err


def test_overrides_replace_and_add_parameters() -> None:
    """--set replaces a swept parameter's values, adds an unswept one, and replaces the seeds."""
    scenario = apply_overrides(load_text(SWEEP), ["world.subscribers=300", "operator.min_audience=1,5",
                                                  "seeds=7"])
    assert scenario.sweep is not None
    assert scenario.sweep.parameters == {"world.subscribers": [300], "operator.min_audience": [1, 5]}
    assert [(c.values, c.seed) for c in grid(scenario)] == [
        ((("world.subscribers", 300), ("operator.min_audience", 1)), 7),
        ((("world.subscribers", 300), ("operator.min_audience", 5)), 7)]


def test_override_runs_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """opsim run FILE --set ... runs the overridden grid; no bar when stderr is not a terminal."""
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP)
    assert main(["run", str(path), "--set", "world.subscribers=500", "--set", "seeds=4", "--workers", "1",
                 "--out", str(tmp_path / "out")]) == 0
    rows = (tmp_path / "out" / "sweep.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith("500,4,")
    assert capsys.readouterr().err == ""  # captured stderr is no terminal: no progress bar


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("wanted", "stream", "shown"), [
    (True, Terminal(), True),  # a terminal, not --quiet
    (False, Terminal(), False),  # --quiet
    (True, io.StringIO(), False),  # not a terminal (a pipe, a file, CI logs)
])
def test_progress_bar_only_on_a_terminal(wanted: bool, stream: io.StringIO, shown: bool) -> None:
    """The sweep's bar is drawn on a terminal unless --quiet; otherwise nothing is written."""
    assert show_progress(wanted, stream) is shown
    with progress_bar(3, "s", wanted, stream) as bar:
        bar.update(3)
    assert bool(stream.getvalue()) is shown
