"""The ``opsim run`` / ``opsim scenarios`` / ``opsim demo`` command lines: exit codes and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.cli import main
from scenarios.loader import library
from tests.scenarios.conftest import SMALL


def test_run_writes_outputs_and_exits_0(small_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["run", str(small_file), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "passed: 3/3 expectations met" in printed
    assert {p.name for p in out.iterdir()} >= {"report.json", "transcript.jsonl", "deliveries.csv", "map.png",
                                                "hourly.png"}


def test_failing_expectation_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(SMALL.replace("equals: 0}", "equals: 5}"), encoding="utf-8")
    assert main(["run", str(path), "--quiet"]) == 1
    assert "✗ empty inbox: expected 5, got 0" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "text", "message"), [
    # a file that does not exist
    (["run", "{dir}/missing.yaml"], None, "missing.yaml:1:1: (file): cannot read"),
    # not YAML
    (["run", "{dir}/f.yaml"], "name: [\n", "f.yaml:2:1: (file): invalid YAML"),
    # a scalar instead of a mapping
    (["run", "{dir}/f.yaml"], "42\n", "f.yaml:1:1: (file): a scenario file must be a mapping"),
    # schema problem
    (["run", "{dir}/f.yaml"], "name: x\nstart: 2026-06-06T14:00:00Z\nsteps: []\n", "f.yaml:3:8: steps: List should"),
    # a bad option value
    (["run", "{dir}/f.yaml", "--seed", "-1"], None, "opsim: error: argument --seed"),
    # a library name that does not exist
    (["run", "no-such-scenario"], None, "opsim run: unknown scenario 'no-such-scenario'"),
])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                         text: str | None, message: str) -> None:
    if text is not None:
        (tmp_path / "f.yaml").write_text(text, encoding="utf-8")
    assert main([a.format(dir=tmp_path) for a in args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert message in err[0]


def test_scenarios_lists_the_library(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == [name for name, _ in library()]
    assert all("(no description)" not in line for line in lines)
