"""Fixtures of the scenario tests: a small scenario text (a few thousand subscribers, a few simulated hours)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from scenarios.loader import ScenarioFileError, load_text

SMALL = """\
name: small
description: A small scenario for tests.
seed: 3
start: 2026-06-06T14:00:00Z
world: {city: berlin, subscribers: 2000}
events:
  - gathering: {name: match, place: Olympiastadion, start: 2026-06-06T16:00:00Z, end: 2026-06-06T17:00:00Z,
                count: 200}
partners:
  - name: acme
    sinks: {main: /hooks/acme}
steps:
  - id: phone
    add_test_subscriber: {msisdn: "+4915100000001", place: Alexanderplatz Station,
                          consent: {ADVERTISING: {PUSH: true}}}
  - advance: PT1H
  - at: PT2H
    pin_subscriber: {msisdn: "+4915100000001", place: Olympiastadion}
  - id: withdraw
    set_consent: {msisdn: "+4915100000001", purpose: ADVERTISING, granted: false}
  - advance: PT30M
  - expect:
      - {name: pinned, of: subscriber, msisdn: "+4915100000001", path: location.pinned, equals: true}
      - {name: withdrawn, of: step, step: withdraw, path: consent.ADVERTISING.PUSH, equals: false}
      - {name: empty inbox, of: inbox, msisdn: "+4915100000001", equals: 0}
"""


@pytest.fixture
def small_file(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL, encoding="utf-8")
    return path


def assert_one_problem(text: str, where: str, message: str) -> None:
    """Loading ``text`` (as ``f.yaml``) fails with exactly one problem, at ``where`` (line:column: field), saying
    ``message``."""
    with pytest.raises(ScenarioFileError) as caught:
        load_text(text, "f.yaml")
    assert len(caught.value.problems) == 1, str(caught.value)
    line = str(caught.value.problems[0])
    assert line.startswith(f"f.yaml:{where}:"), line
    assert message in line, line


def output_digests(out: Path) -> dict[str, str]:
    """SHA-256 of every file under a run's ``out`` but the summary (whose timings differ), by relative path."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and p.name != "summary.json"}


def summary_without_timings(out: Path) -> dict[str, object]:
    """A run's ``summary.json`` without its timings (what two equal runs share)."""
    data: dict[str, object] = json.loads((out / "summary.json").read_text())
    data.pop("timings")
    return data
