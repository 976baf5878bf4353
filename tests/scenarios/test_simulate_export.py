"""`opsim simulate` exports: events streamed per simulated hour, typed columns, a day-partitioned Parquet dataset
read the same by pandas, polars and DuckDB, and a summary that is identical for the same seed."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scenarios.cli import main
from scenarios.export import EventLog, csv_event_lines, csv_event_lines_arrow
from simulator.world import WorldConfig

# 22:00 UTC for 3.84 simulated hours (four UTC hours): the events cross midnight, so the dataset has two day partitions.
ARGS = ["simulate", "--city", "seoul", "--subscribers", "400", "--days", "0.16", "--seed", "5",
        "--start", "2026-03-01T22:00:00Z", "--quiet"]
DAYS = ["date=2026-03-01", "date=2026-03-02"]


def _simulate(out: Path, fmt: str) -> Path:
    assert main([*ARGS, "--format", fmt, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same world exported twice as Parquet and once as CSV."""
    base = tmp_path_factory.mktemp("export")
    return {"parquet": _simulate(base / "pq", "parquet"), "parquet2": _simulate(base / "pq2", "parquet"),
            "csv": _simulate(base / "csv", "csv")}


def test_parquet_layout_is_a_dataset_partitioned_by_day(runs: dict[str, Path]) -> None:
    """events/date=YYYY-MM-DD/part-0.parquet per UTC day, next to subscribers, cells and the summary."""
    out = runs["parquet"]
    assert sorted(p.name for p in out.iterdir()) == ["cells.parquet", "events", "subscribers.parquet",
                                                     "summary.json"]
    assert sorted(p.name for p in (out / "events").iterdir()) == DAYS
    for day in DAYS:
        assert [p.name for p in (out / "events" / day).iterdir()] == ["part-0.parquet"]
        times = pq.read_table(out / "events" / day / "part-0.parquet").column("time").to_pylist()
        assert {t.date().isoformat() for t in times} == {day.removeprefix("date=")}


def test_one_row_group_per_simulated_hour(runs: dict[str, Path]) -> None:
    """Events are written an hour at a time: each row group holds exactly one UTC hour, in order."""
    hours: list[datetime] = []
    for day in DAYS:
        f = pq.ParquetFile(runs["parquet"] / "events" / day / "part-0.parquet")
        for g in range(f.num_row_groups):
            times = f.read_row_group(g).column("time").to_pylist()
            assert len({t.replace(minute=0, second=0) for t in times}) == 1
            hours.append(times[0].replace(minute=0, second=0))
    assert hours == sorted(hours) and len(hours) == len(set(hours)) == 4


def test_columns_are_typed_alike_in_every_file(runs: dict[str, Path]) -> None:
    """time is a µs UTC timestamp; ids and every integer are int32, flags bool, in every file."""
    out = runs["parquet"]
    events = pq.read_table(out / "events" / DAYS[0] / "part-0.parquet").schema
    assert events == pa.schema([("time", pa.timestamp("us", tz="UTC")), ("subscriber", pa.int32()),
                                ("cell", pa.int32())])
    subs = pq.read_table(out / "subscribers.parquet")
    cells = pq.read_table(out / "cells.parquet")
    assert cells.schema.field("id").type == subs.schema.field("id").type == pa.int32()
    for table in (subs, cells):
        for f in table.schema:
            assert not pa.types.is_integer(f.type) or f.type == pa.int32(), f
    assert subs.schema.field("roaming").type == subs.schema.field("isTest").type == pa.bool_()
    # the keys: events refer to row ids of subscribers and cells
    assert subs.column("id").to_pylist() == list(range(400))
    assert cells.column("id").to_pylist() == list(range(cells.num_rows))
    ev = pq.read_table(out / "events")
    assert _min(ev, "subscriber") >= 0 and _max(ev, "subscriber") < 400
    assert _max(ev, "cell") < cells.num_rows


def _min(table: pa.Table, column: str) -> int:
    return int(np.min(table.column(column).to_numpy()))


def _max(table: pa.Table, column: str) -> int:
    return int(np.max(table.column(column).to_numpy()))


def test_csv_holds_the_same_events_and_spells_flags_alike(runs: dict[str, Path]) -> None:
    """CSV events equal the Parquet events row for row; booleans are true/false."""
    rows = list(csv.reader((runs["csv"] / "events.csv").read_text().splitlines()))
    assert rows[0] == ["time", "subscriber", "cell"]
    table = pq.read_table(runs["parquet"] / "events")
    expected = [[t.strftime("%Y-%m-%dT%H:%M:%SZ"), str(s), str(c)] for t, s, c in zip(
        table.column("time").to_pylist(), table.column("subscriber").to_pylist(), table.column("cell").to_pylist(),
        strict=True)]
    assert rows[1:] == expected
    subs = list(csv.DictReader((runs["csv"] / "subscribers.csv").read_text(encoding="utf-8").splitlines()))
    assert {r["roaming"] for r in subs} | {r["isTest"] for r in subs} <= {"true", "false"}
    assert [r["id"] for r in subs[:3]] == ["0", "1", "2"]


def test_rows_of_one_instant_are_in_subscriber_order(runs: dict[str, Path]) -> None:
    """Events are ordered by time, then subscriber: the order a sharded run (--engine ray) merges into."""
    table = pq.read_table(runs["parquet"] / "events")
    times = table.column("time").cast(pa.int64()).to_numpy()
    subs = table.column("subscriber").to_numpy()
    key = times * 1_000_000 + subs  # fewer than a million subscribers here
    assert len(key) > 100 and bool(np.all(np.diff(key) > 0))


def test_summary_is_identical_for_the_same_seed_apart_from_timings(runs: dict[str, Path]) -> None:
    """summary.json: wall-clock figures only in timings; everything else equal for the same seed."""
    a, b = (json.loads((runs[k] / "summary.json").read_text()) for k in ("parquet", "parquet2"))
    assert set(a["timings"]) >= {"buildSeconds", "simulateSeconds", "lastTickMs", "meanTickMs"}
    assert not {"lastTickMs", "meanTickMs"} & set(a["world"])
    a.pop("timings")
    b.pop("timings")
    assert a == b
    assert a["counts"]["events"] == a["world"]["cellChanges"] == pq.read_table(runs["parquet"] / "events").num_rows
    assert pq.read_table(runs["parquet"] / "events").equals(pq.read_table(runs["parquet2"] / "events"))


def test_pandas_polars_and_duckdb_read_the_dataset_alike(runs: dict[str, Path]) -> None:
    """The events directory reads straight into pandas (pyarrow), polars and DuckDB: same rows, same types."""
    import duckdb
    import pandas as pd
    import polars as pl

    events = runs["parquet"] / "events"
    n = pq.read_table(events).num_rows
    df = pd.read_parquet(events)
    assert len(df) == n
    assert {c: str(t) for c, t in df.dtypes.items() if c != "date"} == {
        "time": "datetime64[us, UTC]", "subscriber": "int32", "cell": "int32"}
    pf = pl.read_parquet(events)
    assert pf.height == n
    assert pf.schema["time"] == pl.Datetime("us", "UTC")
    assert pf.schema["subscriber"] == pf.schema["cell"] == pl.Int32
    source = f"read_parquet('{events}/*/*.parquet', hive_partitioning = true)"
    count = duckdb.sql(f"SELECT count(*) FROM {source}")
    rel = duckdb.sql(f"SELECT * FROM {source}")
    assert count is not None and rel is not None
    assert count.fetchall() == [(n,)]
    types = dict(zip(rel.columns, map(str, rel.types), strict=True))
    assert types["time"] == "TIMESTAMP WITH TIME ZONE"
    assert types["subscriber"] == types["cell"] == "INTEGER"
    assert df["subscriber"].tolist() == pf["subscriber"].to_list()  # the same rows in the same order


def test_event_log_writes_each_hour_as_it_ends(tmp_path: Path) -> None:
    """Memory holds at most the current hour: the previous hour is on disk once the next one starts."""
    log = EventLog(tmp_path, "parquet")
    t0 = datetime(2026, 3, 2, 9, 58, tzinfo=UTC)
    for minute in range(4):  # 09:58, 09:59, 10:00, 10:01
        log.add(t0 + timedelta(minutes=minute), np.array([1, 2], np.int32), np.array([3, 4], np.int32))
        assert log.rows == (4 if minute >= 2 else 0)
    assert log.close() == tmp_path / "events"
    assert pq.ParquetFile(tmp_path / "events" / "date=2026-03-02" / "part-0.parquet").num_row_groups == 2


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_aborted_log_leaves_nothing(tmp_path: Path, fmt: str) -> None:
    """A run that fails leaves no events file, dataset or temporary behind."""
    log = EventLog(tmp_path, fmt)
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    for hour in range(3):
        log.add(t0 + timedelta(hours=hour), np.array([1], np.int32), np.array([2], np.int32))
    log.abort()
    assert list(tmp_path.iterdir()) == []


def test_a_second_run_replaces_the_dataset(tmp_path: Path) -> None:
    """Re-running into the same directory leaves only the new run's day partitions."""
    log = EventLog(tmp_path, "parquet")
    log.add(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), np.array([1], np.int32), np.array([2], np.int32))
    log.close()
    log = EventLog(tmp_path, "parquet")
    log.add(datetime(2026, 3, 5, 9, 0, tzinfo=UTC), np.array([1], np.int32), np.array([2], np.int32))
    log.close()
    assert [p.name for p in tmp_path.iterdir()] == ["events"]
    assert [p.name for p in (tmp_path / "events").iterdir()] == ["date=2026-03-05"]


def test_simulate_keeps_only_an_hour_of_presence_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The export never reads the history back, so the world keeps one hour of it: memory is flat in days."""
    from simulator.world import World

    built: list[World] = []
    real_build = World.build

    def build_and_keep(config: WorldConfig) -> World:
        built.append(real_build(config))
        return built[-1]

    monkeypatch.setattr(World, "build", build_and_keep)
    _simulate(tmp_path / "run", "parquet")
    presence = built[0].presence
    assert presence.n_chunks <= 2
    assert 0 < presence.n_retained < presence.n_events / 2


def test_csv_lines_are_the_same_with_and_without_arrow() -> None:
    """Arrow's fast CSV formatting gives exactly the bytes of the plain Python one."""
    rng = np.random.default_rng(3)
    counts = np.array([3, 0, 5], np.int64)
    subs = rng.integers(0, 2**31 - 1, 8).astype(np.int32)
    cells = rng.integers(0, 9_000, 8).astype(np.int32)
    stamps = ["2026-03-02T09:01:00Z", "2026-03-02T09:02:00Z", "2026-03-02T09:03:00Z"]
    plain = csv_event_lines(stamps, counts, subs, cells)
    assert plain.count(b"\n") == 8 and plain.startswith(b"2026-03-02T09:01:00Z,")
    assert csv_event_lines_arrow(stamps, counts, subs, cells) == plain
