"""`opsim simulate` and `opsim audience`: outputs, determinism and the bad-input table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scenarios.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_simulate_writes_tables_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """simulate writes subscribers, cells, events and a summary with realism figures."""
    out = tmp_path / "run"
    code, stdout, _ = _run(capsys, "simulate", "--city", "berlin", "--subscribers", "800", "--days", "0.25",
                           "--seed", "3", "--out", str(out), "--quiet")
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["cells.csv", "events.csv", "subscribers.csv", "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["subscribers"] == 800
    assert summary["counts"]["events"] == len((out / "events.csv").read_text().splitlines()) - 1 > 0
    assert "tripsPerPersonWeekday" in summary["realism"]
    header = (out / "events.csv").read_text().splitlines()[0]
    assert header == "time,subscriber,cell"
    assert json.loads(stdout)["subscribers"] == 800


def test_simulate_is_deterministic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same seed gives the same events file."""
    for name in ("a", "b"):
        assert _run(capsys, "simulate", "--city", "seoul", "--subscribers", "500", "--days", "0.1", "--seed", "9",
                    "--out", str(tmp_path / name), "--quiet")[0] == 0
    assert (tmp_path / "a" / "events.csv").read_bytes() == (tmp_path / "b" / "events.csv").read_bytes()
    assert (tmp_path / "a" / "subscribers.csv").read_bytes() == (tmp_path / "b" / "subscribers.csv").read_bytes()


def test_simulate_parquet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Parquet output is readable and has the same columns (events as a dataset partitioned by day)."""
    import pyarrow.parquet as pq

    out = tmp_path / "pq"
    assert _run(capsys, "simulate", "--city", "berlin", "--subscribers", "300", "--days", "0.05", "--out", str(out),
                "--format", "parquet", "--quiet")[0] == 0
    assert pq.read_table(out / "events" / "date=2026-06-01" / "part-0.parquet").column_names == [
        "time", "subscriber", "cell"]
    assert pq.read_table(out / "cells.parquet").num_rows > 100


def test_simulate_a_country(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--country selects a country preset (by name or ISO code): several cities, the country's numbers."""
    out = tmp_path / "kr"
    assert _run(capsys, "simulate", "--country", "KR", "--subscribers", "600", "--days", "0.05", "--seed", "2",
                "--out", str(out), "--quiet")[0] == 0
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["world"]["city"], summary["world"]["country"]) == ("south-korea", "KR")
    rows = (out / "subscribers.csv").read_text().splitlines()[1:]
    assert sum(",+8210" in r for r in rows) > 500  # residents' numbers (visitors keep their own)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_audience_same_seed_same_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    """audience is byte-identical for the same seed."""
    paths = [tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"]
    for p in paths:
        assert _run(capsys, "audience", "--city", "new-york", "--size", "400", "--seed", "5", "--consent-rate", "0.3",
                    "--format", fmt, "--out", str(p))[0] == 0
    assert paths[0].read_bytes() == paths[1].read_bytes()


BAD = [
    # unknown city
    (["simulate", "--city", "atlantis", "--days", "1", "--out", "{tmp}/x"], "--city"),
    # unknown country preset
    (["simulate", "--country", "atlantis", "--days", "1", "--out", "{tmp}/x"], "--country"),
    (["audience", "--country", "FR", "--size", "10", "--out", "{tmp}/a.csv"], "--country"),
    # negative size
    (["simulate", "--subscribers", "-5", "--days", "1", "--out", "{tmp}/x"], "--subscribers"),
    # zero days
    (["simulate", "--subscribers", "10", "--days", "0", "--out", "{tmp}/x"], "--days"),
    # bad start date
    (["simulate", "--subscribers", "10", "--days", "1", "--start", "yesterday", "--out", "{tmp}/x"], "--start"),
    # unwritable output path (a file where a directory should be)
    (["simulate", "--subscribers", "10", "--days", "1", "--out", "{tmp}/file/x"], "--out"),
    # malformed GeoJSON
    (["simulate", "--geojson", "{tmp}/bad.geojson", "--center", "52.5,13.4", "--country", "DE", "--subscribers",
      "10", "--days", "1", "--out", "{tmp}/x"], "bad.geojson"),
    # GeoJSON without its centre
    (["simulate", "--geojson", "{tmp}/bad.geojson", "--subscribers", "10", "--days", "1", "--out", "{tmp}/x"],
     "--center"),
    # negative audience size
    (["audience", "--size", "-1", "--out", "{tmp}/a.csv"], "--size"),
    # consent rate out of range
    (["audience", "--size", "10", "--consent-rate", "1.5", "--out", "{tmp}/a.csv"], "--consent-rate"),
    # unknown format
    (["audience", "--size", "10", "--format", "xml", "--out", "{tmp}/a.csv"], "--format"),
    # output is a directory
    (["audience", "--size", "10", "--out", "{tmp}"], "--out"),
]


@pytest.mark.parametrize("argv, names", BAD)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                         names: str) -> None:
    """Bad input: one line naming the problem, exit code 2, nothing written."""
    (tmp_path / "file").write_text("not a directory")
    (tmp_path / "bad.geojson").write_text('{"type": "Polygon", "coordinates": [[1, 2]]}')
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = _run(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and names in lines[0], err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_custom_city_from_geojson(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A custom city from a GeoJSON polygon runs like a preset."""
    square = {"type": "Polygon", "coordinates": [[[13.30, 52.45], [13.50, 52.45], [13.50, 52.58], [13.30, 52.58],
                                                  [13.30, 52.45]]]}
    (tmp_path / "city.geojson").write_text(json.dumps(square))
    out = tmp_path / "custom"
    code, _, err = _run(capsys, "simulate", "--geojson", str(tmp_path / "city.geojson"), "--center", "52.515,13.40",
                        "--country", "DE", "--subscribers", "300", "--days", "0.05", "--out", str(out), "--quiet")
    assert code == 0, err
    assert json.loads((out / "summary.json").read_text())["counts"]["cells"] > 10


def test_locale_override_changes_names_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--locale swaps the Faker vocabulary of names and e-mails; numbers stay the country's."""
    import csv

    rows = {}
    for locale in ("de_DE", "ja_JP"):
        out = tmp_path / f"{locale}.csv"
        assert _run(capsys, "audience", "--city", "berlin", "--size", "200", "--seed", "4", "--locale", locale,
                    "--out", str(out))[0] == 0
        local = [r for r in csv.DictReader(out.read_text(encoding="utf-8").splitlines()) if r["roaming"] == "false"]
        rows[locale] = local  # visitors keep the names of their own countries
    names_de = {r["name"] for r in rows["de_DE"]}
    names_ja = {r["name"] for r in rows["ja_JP"]}
    assert not names_de & names_ja
    assert sum(any("\u3040" <= ch <= "\u9fff" for ch in n) for n in names_ja) > 0.9 * len(names_ja)
    assert all(r["msisdn"].startswith("+49") for r in rows["ja_JP"])


def test_unknown_locale_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown locale is refused with one line naming it."""
    code, _, err = _run(capsys, "audience", "--size", "10", "--locale", "xx_XX", "--out", str(tmp_path / "a.csv"))
    assert code == 2 and "xx_XX" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "a.csv").exists()
