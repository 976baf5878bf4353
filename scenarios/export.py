"""Writing tables to files: CSV or Parquet, atomically.

Owns the file formats of research outputs. Files are written to a temporary sibling and renamed into place,
so a failure never leaves a half-written file behind.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FORMATS = ("csv", "parquet")


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
