"""Writing tables to files: CSV or Parquet, atomically, whole or streamed in batches.

Owns the file formats of research outputs. Files are written to a temporary sibling and renamed into place,
so a failure never leaves a half-written file behind. Typed tables (:class:`TableWriter`, :class:`EventLog`)
follow one rule in every file: integers are int32, reals float64, booleans bool (``true``/``false`` in CSV),
instants timestamps in microseconds, UTC (ISO 8601 with ``Z`` in CSV), lists of strings ``;``-joined in CSV.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

FORMATS = ("csv", "parquet")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US_PER_HOUR = 3_600_000_000


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; the final file should have ordinary permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_rows(path: Path, header: list[str], rows: Iterable[Iterable[Any]], fmt: str) -> None:
    """Write rows as CSV, or as Parquet (columns inferred) when ``fmt`` is ``parquet``."""
    if fmt == "parquet":
        columns: list[list[Any]] = [[] for _ in header]
        for row in rows:
            for col, v in zip(columns, row, strict=True):
                col.append(v)
        write_columns(path, dict(zip(header, columns, strict=True)), fmt)
        return
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def write_columns(path: Path, columns: dict[str, Any], fmt: str) -> None:
    """Write named columns (lists or numpy arrays of equal length) as CSV or Parquet."""
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in columns.items()})
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp, compression="zstd", write_statistics=False)
        return
    names = list(columns)
    cols = [_csv_cells(v.tolist() if hasattr(v, "tolist") else list(v)) for v in columns.values()]
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(names)
        buf = io.StringIO()
        bw = csv.writer(buf, lineterminator="\n")
        n = len(cols[0]) if cols else 0
        step = 100_000
        for lo in range(0, n, step):
            bw.writerows(zip(*(c[lo: lo + step] for c in cols), strict=True))
            fh.write(buf.getvalue())
            buf.seek(0)
            buf.truncate()


def _csv_cells(values: list[Any]) -> list[Any]:
    """CSV has no lists: join list cells with ';' (the README documents it)."""
    if values and isinstance(values[0], (list, tuple)):
        return [";".join(map(str, v)) for v in values]
    return values


def write_json(path: Path, data: Any) -> None:
    """Write indented JSON with sorted keys (stable bytes)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


# -- typed tables written in batches -------------------------------------------------------------------
def _csv_column(values: Any) -> list[Any]:
    """One column as CSV cells: booleans ``true``/``false``, lists ``;``-joined, numbers as Python numbers."""
    if isinstance(values, np.ndarray):
        if values.dtype == np.bool_:
            return np.where(values, "true", "false").tolist()  # type: ignore[no-any-return]
        return values.tolist()  # type: ignore[no-any-return]
    return _csv_cells(list(values))


def _arrow_column(values: Any) -> Any:
    """One column as an Arrow array of the house types (int32, float64, bool, string, list<string>)."""
    import pyarrow as pa

    if isinstance(values, np.ndarray):
        if values.dtype == np.bool_:
            return pa.array(values, pa.bool_())
        if np.issubdtype(values.dtype, np.integer):
            return pa.array(values.astype(np.int32, copy=False), pa.int32())
        if np.issubdtype(values.dtype, np.floating):
            return pa.array(values.astype(np.float64, copy=False), pa.float64())
    values = list(values)
    if values and isinstance(values[0], (list, tuple)):
        return pa.array(values, pa.list_(pa.string()))
    return pa.array(values, pa.string())


class TableWriter:
    """One table written batch by batch: CSV rows or Parquet row groups, with the types fixed by the first batch.

    The file appears at ``path`` only when :meth:`close` succeeds (:meth:`abort` removes the temporary file).
    Use as a context manager to get exactly that.
    """

    def __init__(self, path: Path, fmt: str) -> None:
        self.path = path
        self.fmt = fmt
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        self._tmp = Path(tmp)
        self._writer: Any = None
        self._schema: Any = None
        self._fh: io.TextIOWrapper | None = None
        self.rows = 0

    def write(self, columns: dict[str, Any]) -> None:
        """Append a batch of named columns (numpy arrays or lists of equal length)."""
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            arrays = {k: _arrow_column(v) for k, v in columns.items()}
            if self._writer is None:
                self._schema = pa.schema([(k, a.type) for k, a in arrays.items()])
                self._writer = pq.ParquetWriter(self._tmp, self._schema, compression="zstd")
            table = pa.table(arrays, schema=self._schema)
            self._writer.write_table(table, row_group_size=max(1, table.num_rows))
            self.rows += table.num_rows
            return
        cols = [_csv_column(v) for v in columns.values()]
        if self._fh is None:
            self._fh = open(self._tmp, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in close/abort
            csv.writer(self._fh, lineterminator="\n").writerow(list(columns))
        csv.writer(self._fh, lineterminator="\n").writerows(zip(*cols, strict=True))
        self.rows += len(cols[0]) if cols else 0

    def close(self) -> Path:
        """Finish the file and move it into place."""
        if self._writer is not None:
            self._writer.close()
        if self._fh is not None:
            self._fh.close()
        _publish(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop what was written."""
        try:
            if self._writer is not None:
                self._writer.close()
            if self._fh is not None:
                self._fh.close()
        finally:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _publish(tmp: Path, path: Path) -> None:
    """Rename a finished temporary file into place with ordinary permissions (mkstemp makes them 0600)."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def micros(at: datetime) -> int:
    """Microseconds since the Unix epoch of an aware instant."""
    return (at - EPOCH) // timedelta(microseconds=1)


class EventLog:
    """Cell-change events (time, subscriber, cell) streamed to disk as the world produces them.

    Events are buffered for one simulated hour (UTC), then written: a chunk of ``events.csv``, or a row group of
    the Parquet dataset ``events/date=YYYY-MM-DD/part-0.parquet`` (one file per UTC day, hive-partitioned), so
    memory holds at most an hour of events however many days run. ``time`` is a timestamp (µs, UTC),
    ``subscriber`` and ``cell`` int32 row numbers of the ``subscribers`` and ``cells`` tables. Everything is
    written under a temporary name and appears under ``out`` only when :meth:`close` succeeds.
    """

    def __init__(self, out: Path, fmt: str) -> None:
        self.fmt = fmt
        self.out = out
        self.rows = 0
        self.write_seconds = 0.0
        """Wall time spent formatting and writing (the cost the export adds to the simulation)."""
        self._hour: int | None = None
        self._stamps: list[int] = []
        self._subs: list[NDArray[np.int32]] = []
        self._cells: list[NDArray[np.int32]] = []
        self._day: str | None = None
        self._writer: Any = None
        self._fh: io.BufferedWriter | None = None
        out.mkdir(parents=True, exist_ok=True)
        if fmt == "parquet":
            self.path = out / "events"
            self._tmp = Path(tempfile.mkdtemp(prefix=".events.", dir=out))
        else:
            self.path = out / "events.csv"
            fd, tmp = tempfile.mkstemp(prefix=".events.csv.", dir=out)
            os.close(fd)
            self._tmp = Path(tmp)
            self._fh = open(self._tmp, "wb")  # noqa: SIM115 - closed in close/abort
            self._fh.write(b"time,subscriber,cell\n")
            self._csv_lines = csv_event_lines_arrow if _has_pyarrow() else csv_event_lines

    def add(self, at: datetime, subs: NDArray[np.int32], cells: NDArray[np.int32]) -> None:
        """Record that ``subs`` moved into ``cells`` at ``at`` (a world cell-change listener can call this)."""
        us = micros(at)
        hour = us // _US_PER_HOUR
        if self._hour is not None and hour != self._hour:
            self.flush()
        self._hour = hour
        if len(subs):
            self._stamps.append(us)
            self._subs.append(np.array(subs, np.int32))  # copies: a listener's arrays are not ours to keep
            self._cells.append(np.array(cells, np.int32))

    def flush(self) -> None:
        """Write the buffered hour."""
        if not self._stamps:
            return
        t0 = time.perf_counter()
        counts = np.fromiter((len(s) for s in self._subs), np.int64, len(self._subs))
        stamps = np.asarray(self._stamps, np.int64)
        subs = np.concatenate(self._subs)
        cells = np.concatenate(self._cells)
        if self.fmt == "parquet":
            self._write_parquet(stamps, counts, subs, cells)
        else:
            self._write_csv(stamps, counts, subs, cells)
        self.rows += len(subs)
        self._stamps, self._subs, self._cells = [], [], []
        self.write_seconds += time.perf_counter() - t0

    def _write_parquet(self, stamps: NDArray[np.int64], counts: NDArray[np.int64], subs: NDArray[np.int32],
                       cells: NDArray[np.int32]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        day = (EPOCH + timedelta(microseconds=int(stamps[0]))).date().isoformat()
        if day != self._day:
            if self._writer is not None:
                self._writer.close()
            part = self._tmp / f"date={day}"
            part.mkdir()
            # Dictionary pages and statistics pay off for time (60 values an hour) and cell, not for subscriber.
            self._writer = pq.ParquetWriter(part / "part-0.parquet", event_schema(), compression="zstd",
                                            use_dictionary=["time", "cell"], write_statistics=["time", "cell"])
            self._day = day
        times = pa.array(np.repeat(stamps, counts).view("datetime64[us]"), pa.timestamp("us", tz="UTC"))
        table = pa.Table.from_arrays([times, pa.array(subs, pa.int32()), pa.array(cells, pa.int32())],
                                     schema=event_schema())
        self._writer.write_table(table, row_group_size=max(1, table.num_rows))

    def _write_csv(self, stamps: NDArray[np.int64], counts: NDArray[np.int64], subs: NDArray[np.int32],
                   cells: NDArray[np.int32]) -> None:
        assert self._fh is not None
        texts = [(EPOCH + timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%SZ") for us in stamps.tolist()]
        self._fh.write(self._csv_lines(texts, counts, subs, cells))

    def close(self) -> Path:
        """Write what is buffered, finish the files and move them into place; returns ``events.csv`` or ``events/``."""
        self.flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self.fmt == "parquet":
            os.chmod(self._tmp, 0o777 & ~_umask())
            old = None
            if self.path.exists():
                old = Path(tempfile.mkdtemp(prefix=".events.old.", dir=self.out))
                os.replace(self.path, old / "events")
            os.replace(self._tmp, self.path)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        else:
            _publish(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop everything written so far."""
        try:
            if self._writer is not None:
                self._writer.close()
            if self._fh is not None:
                self._fh.close()
        finally:
            if self._tmp.is_dir():
                shutil.rmtree(self._tmp, ignore_errors=True)
            else:
                self._tmp.unlink(missing_ok=True)


def csv_event_lines(stamps: list[str], counts: NDArray[np.int64], subs: NDArray[np.int32],
                    cells: NDArray[np.int32]) -> bytes:
    """CSV rows ``time,subscriber,cell`` of events grouped by instant (``counts[i]`` rows at ``stamps[i]``)."""
    sub_l, cell_l = subs.tolist(), cells.tolist()
    parts, lo = [], 0
    for stamp, n in zip(stamps, counts.tolist(), strict=True):
        parts.append("".join([f"{stamp},{s},{c}\n" for s, c in zip(sub_l[lo: lo + n], cell_l[lo: lo + n],
                                                                 strict=True)]))
        lo += n
    return "".join(parts).encode()


def csv_event_lines_arrow(stamps: list[str], counts: NDArray[np.int64], subs: NDArray[np.int32],
                          cells: NDArray[np.int32]) -> bytes:
    """The same bytes as :func:`csv_event_lines`, formatted by Arrow's CSV writer (several times faster)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    which = pa.array(np.repeat(np.arange(len(stamps), dtype=np.int32), counts))
    table = pa.table({"time": pc.take(pa.array(stamps, pa.string()), which), "subscriber": pa.array(subs, pa.int32()),
                      "cell": pa.array(cells, pa.int32())})
    sink = pa.BufferOutputStream()
    pcsv.write_csv(table, sink, pcsv.WriteOptions(include_header=False, quoting_style="none"))
    return bytes(sink.getvalue().to_pybytes())


def _has_pyarrow() -> bool:
    try:
        import pyarrow.csv  # noqa: F401
    except ImportError:
        return False
    return True


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def event_schema() -> Any:
    """The Arrow schema of the events table."""
    import pyarrow as pa

    return pa.schema([("time", pa.timestamp("us", tz="UTC")), ("subscriber", pa.int32()), ("cell", pa.int32())])
