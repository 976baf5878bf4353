"""Audience files: reproducible bytes per format, readable Parquet, atomic writes."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from simulator import audience
from simulator.audience import COLUMNS, FORMATS, build_audience, write_audience
from simulator.city import city_from_preset
from simulator.errors import InvalidConfigError, OutputError

N = 2_000


def write(tmp_path: Path, name: str, fmt: str, seed: int = 7, consent_rate: float | None = None) -> Path:
    population, consent = build_audience(city_from_preset("seoul"), N, seed, consent_rate=consent_rate)
    return write_audience(population, consent, tmp_path / name, fmt)


@pytest.mark.parametrize("fmt", FORMATS)  # every format: csv, jsonl, parquet
def test_same_seed_gives_the_same_bytes(tmp_path: Path, fmt: str) -> None:
    """Two independent builds and writes with one seed produce byte-identical files; another seed differs."""
    a = write(tmp_path, f"a.{fmt}", fmt)
    b = write(tmp_path, f"b.{fmt}", fmt)
    c = write(tmp_path, f"c.{fmt}", fmt, seed=8)
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b, c)]
    assert digest[0] == digest[1] != digest[2]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([a.name, b.name, c.name])  # no temp files left


def test_formats_hold_the_same_rows(tmp_path: Path) -> None:
    """CSV, JSONL and Parquet carry the same columns and rows, sorted by MSISDN."""
    with write(tmp_path, "a.csv", "csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    lines = write(tmp_path, "a.jsonl", "jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    table = pq.read_table(write(tmp_path, "a.parquet", "parquet"))
    assert len(rows) == len(records) == table.num_rows == N
    assert tuple(rows[0]) == tuple(records[0]) == tuple(table.column_names) == COLUMNS
    msisdns = [r["msisdn"] for r in rows]
    assert msisdns == sorted(msisdns, key=lambda m: int(m[1:])) == [r["msisdn"] for r in records]
    assert table.column("msisdn").to_pylist() == msisdns
    assert rows[5]["interests"].split(";") == records[5]["interests"] == table.column("interests")[5].as_py()
    assert rows[5]["consentAdvertisingPush"] in ("true", "false")
    assert rows[5]["consentAdvertisingPush"] == str(records[5]["consentAdvertisingPush"]).lower()
    assert len(rows[5]["homeLatitude"].split(".")[1]) == 5
    assert records[5]["homeLatitude"] == float(rows[5]["homeLatitude"])


def test_consent_rate_sets_every_consent_column(tmp_path: Path) -> None:
    """A consent rate of 0 or 1 gives all-false or all-true consent columns."""
    for rate in (0.0, 1.0):
        table = pq.read_table(write(tmp_path, f"r{rate}.parquet", "parquet", consent_rate=rate))
        for name in COLUMNS:
            if name.startswith("consent"):
                assert np.all(table.column(name).to_numpy() == bool(rate))


@pytest.mark.parametrize("target", [
    "missing-dir/out.csv",  # parent directory does not exist
    "a-file/out.csv",  # parent is a regular file
    "a-dir",  # target is an existing directory: os.replace fails after writing
])
def test_unwritable_path_raises_and_leaves_nothing(tmp_path: Path, target: str) -> None:
    """Writing where it cannot succeed raises OutputError and leaves the directory as it was."""
    (tmp_path / "a-file").write_text("keep", encoding="utf-8")
    (tmp_path / "a-dir").mkdir()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    population, consent = build_audience(city_from_preset("berlin"), 50, 1)
    with pytest.raises(OutputError, match="cannot write"):
        write_audience(population, consent, tmp_path / target, "csv")
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert (tmp_path / "a-file").read_text(encoding="utf-8") == "keep"


def test_failure_midway_keeps_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer failing halfway leaves the existing audience intact and no temporary file behind."""
    population, consent = build_audience(city_from_preset("berlin"), 50, 1)
    target = write_audience(population, consent, tmp_path / "aud.jsonl", "jsonl")
    old = target.read_bytes()

    def half_then_fail(columns: dict[str, list[Any]], out: IO[bytes]) -> None:
        out.write(b'{"msisdn":"+4915')
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(audience._WRITERS, "jsonl", half_then_fail)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_audience(population, consent, target, "jsonl")
    assert target.read_bytes() == old and [p.name for p in tmp_path.iterdir()] == ["aud.jsonl"]


def test_ledger_of_another_size_is_refused(tmp_path: Path) -> None:
    """A consent ledger that does not match the population is refused before anything is written."""
    population, consent = build_audience(city_from_preset("berlin"), 50, 1)
    consent.extend(1)
    with pytest.raises(InvalidConfigError, match="consent ledger has 51"):
        write_audience(population, consent, tmp_path / "aud.csv", "csv")
    assert not list(tmp_path.iterdir())


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    """Only csv, jsonl and parquet are accepted."""
    population, consent = build_audience(city_from_preset("berlin"), 10, 1)
    with pytest.raises(InvalidConfigError, match="unknown audience format"):
        write_audience(population, consent, tmp_path / "x.xlsx", "xlsx")
    assert not list(tmp_path.iterdir())
