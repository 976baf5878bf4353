"""Expectations, errors and outputs of a run: failures are failures, plots are real images."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scenarios.loader import load_text
from scenarios.report import write_outputs
from scenarios.runner import run_scenario
from tests.scenarios.conftest import SMALL

FAILING = SMALL.replace("{name: empty inbox, of: inbox, msisdn: \"+4915100000001\", equals: 0}",
                        "{name: full inbox, of: inbox, msisdn: \"+4915100000001\", at_least: 3}")


def test_failed_expectation_fails_the_run() -> None:
    """A check that does not hold is recorded with its actual value and fails the run."""
    result = run_scenario(load_text(FAILING))
    assert result.failed
    failures = [c for c in result.checks if not c.ok]
    assert [c.name for c in failures] == ["full inbox"]
    assert failures[0].actual == 0
    assert "expected ≥ 3" in failures[0].message


def test_api_error_fails_the_step_unless_expected() -> None:
    """An API error is a failed step; with expect_error naming its code, it is a pass."""
    text = SMALL.split("steps:")[0] + """steps:
  - pin_subscriber: {msisdn: "+4915199999999", place: Tiergarten}
  - expect_error: NOT_FOUND
    pin_subscriber: {msisdn: "+4915199999999", place: Tiergarten}
"""
    result = run_scenario(load_text(text))
    assert [s.ok for s in result.steps] == [False, True]
    assert result.steps[0].error is not None and result.steps[0].error["code"] == "NOT_FOUND"


def test_approx_tolerances() -> None:
    """approx takes a relative or an absolute tolerance."""
    text = SMALL.split("steps:")[0] + """steps:
  - advance: PT1H
  - expect:
      - {name: rel, of: step, step: a, path: n, approx: 100, tolerance: 0.1, equals: 1}
"""
    # build the check through the schema, evaluate directly against numbers
    from scenarios.checks import compare
    from scenarios.schema import Check

    assert compare(Check(of="webhooks", approx=100, tolerance=0.1), 109)[0]
    assert not compare(Check(of="webhooks", approx=100, tolerance=0.1), 111)[0]
    assert compare(Check(of="webhooks", approx=100, abs_tolerance=2), 98)[0]
    assert not compare(Check(of="webhooks", approx=100), "100")[0]
    assert compare(Check(of="webhooks", contains="ab"), "xaby")[0]
    assert text  # the scenario text documents the YAML form


def test_outputs_are_written(tmp_path: Path) -> None:
    """report.json, transcript.jsonl, deliveries.csv and two non-empty PNG plots."""
    import json

    import matplotlib.image as mpimg

    result = run_scenario(load_text(SMALL))
    outputs = write_outputs(result, tmp_path / "out")
    report = json.loads(outputs.report.read_text())
    assert report["passed"] is True
    assert report["digest"] == outputs.digest == result.digest
    assert report["expectations"] == {"met": 3, "failed": 0, "failures": []}
    lines = outputs.transcript.read_text().splitlines()
    assert len(lines) == len(result.transcript.entries)
    assert outputs.deliveries.read_text().startswith("t,campaign,")
    for png in (outputs.map, outputs.hourly):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = np.asarray(mpimg.imread(png))
        assert image.shape[0] > 200 and image.shape[1] > 200
        assert float(image[..., :3].std()) > 0.01  # something is drawn
