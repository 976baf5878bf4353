"""Synthetic audience files for QA: one row per subscriber with profile and consent, in CSV, JSONL or Parquet.

This module owns the audience file layout and its reproducibility: the same population and ledger give the
same bytes (rows sorted by MSISDN, fixed column order, fixed float formatting, no wall-clock stamps, fixed
Parquet writer settings). Files are written to a temporary file in the target directory and moved into place
with ``os.replace``, so a failure never leaves a half-written file. It does not parse command lines, print,
or decide exit codes (that is the CLI's job).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from simulator.city import City
from simulator.consent import BITS, ConsentLedger, ConsentRates
from simulator.errors import InvalidConfigError, OutputError
from simulator.population import Population
from simulator.rng import RngStreams

FORMATS: tuple[str, ...] = ("csv", "jsonl", "parquet")

AUDIENCE_START = datetime(2024, 1, 1, tzinfo=UTC)
"""Default instant the initial consents of a generated audience are stamped at (never the wall clock)."""

PROFILE_COLUMNS: tuple[str, ...] = (
    "msisdn", "imsi", "name", "email", "age", "gender", "language", "status", "interests", "os", "appInstalled",
    "tariff", "roaming", "homeCountry", "homeLatitude", "homeLongitude",
)


def consent_column(purpose: str, channel: str | None) -> str:
    """The audience column of (purpose, channel), e.g. ``consentAdvertisingPush``, ``consentAnalytics``."""
    words = [*purpose.split("_"), *([channel] if channel else [])]
    return "consent" + "".join(w.capitalize() for w in words)


CONSENT_COLUMNS: tuple[str, ...] = tuple(consent_column(p, c) for p, c in BITS)
COLUMNS: tuple[str, ...] = PROFILE_COLUMNS + CONSENT_COLUMNS
"""Every audience column, in file order."""

_BOOL_COLUMNS = frozenset({"appInstalled", "roaming", *CONSENT_COLUMNS})
_FLOAT_COLUMNS = frozenset({"homeLatitude", "homeLongitude"})


def build_audience(city: City, size: int, seed: int, *, consent_rate: float | None = None,
                   fictional_numbers: bool = False,
                   start: datetime = AUDIENCE_START) -> tuple[Population, ConsentLedger]:
    """A population of ``size`` in ``city`` and its consent ledger from ``seed`` (``consent_rate`` sets all rates)."""
    streams = RngStreams(seed)
    population = Population.build(city, size, streams, fictional_numbers=fictional_numbers)
    rates = ConsentRates.uniform(consent_rate) if consent_rate is not None else None
    return population, ConsentLedger.build(size, start, streams, rates)


def audience_columns(population: Population, consent: ConsentLedger) -> dict[str, list[Any]]:
    """The audience as decoded columns of plain Python values, rows sorted by MSISDN."""
    if consent.size != population.size:
        raise InvalidConfigError(f"consent ledger has {consent.size} subscribers, population {population.size}")
    rows = np.argsort(population.msisdn, kind="stable")
    table = population.table(rows)
    out: dict[str, list[Any]] = {}
    for name in PROFILE_COLUMNS:
        values = table[name]
        out[name] = values.tolist() if isinstance(values, np.ndarray) else list(values)
    for (purpose, channel), name in zip(BITS, CONSENT_COLUMNS, strict=True):
        out[name] = consent.is_permitted(rows, purpose, channel).tolist()
    return out


def _csv_cell(name: str, value: Any) -> str:
    if name == "interests":
        return ";".join(value)
    if name in _BOOL_COLUMNS:
        return "true" if value else "false"
    if name in _FLOAT_COLUMNS:
        return f"{value:.5f}"
    return str(value)


def _write_csv(columns: dict[str, list[Any]], out: IO[bytes]) -> None:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    n = len(columns["msisdn"])
    for r in range(n):
        writer.writerow([_csv_cell(name, columns[name][r]) for name in COLUMNS])
    text.flush()
    text.detach()


def _write_jsonl(columns: dict[str, list[Any]], out: IO[bytes]) -> None:
    n = len(columns["msisdn"])
    for r in range(n):
        record = {name: columns[name][r] for name in COLUMNS}
        out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n")


def _write_parquet(columns: dict[str, list[Any]], out: IO[bytes]) -> None:
    import pyarrow as pa  # optional dependency (extra "research"), imported only when asked for Parquet
    import pyarrow.parquet as pq

    types: dict[str, Any] = {name: pa.string() for name in COLUMNS}
    types.update({name: pa.bool_() for name in _BOOL_COLUMNS})
    types.update({name: pa.float64() for name in _FLOAT_COLUMNS})
    types["age"] = pa.uint8()
    types["interests"] = pa.list_(pa.string())
    schema = pa.schema([pa.field(name, types[name], nullable=False) for name in COLUMNS])
    table = pa.Table.from_pydict({name: columns[name] for name in COLUMNS}, schema=schema)
    # Fixed settings: the file holds no timestamps; created_by names the pyarrow version only, so the bytes
    # are identical for the same data with the same pyarrow.
    pq.write_table(table, out, compression="zstd", compression_level=3, use_dictionary=True,
                   write_statistics=True, version="2.6", data_page_version="1.0", row_group_size=1 << 20,
                   store_schema=True)


_WRITERS: dict[str, Callable[[dict[str, list[Any]], IO[bytes]], None]] = {
    "csv": _write_csv, "jsonl": _write_jsonl, "parquet": _write_parquet,
}


def write_audience(population: Population, consent: ConsentLedger, path: str | os.PathLike[str], fmt: str) -> Path:
    """Write the audience file to ``path`` in ``fmt`` (csv, jsonl or parquet) atomically and return its path.

    CSV joins interests with ';' and writes booleans as ``true``/``false``; JSONL and Parquet keep lists and
    booleans. Raises :class:`OutputError` if the file cannot be written (nothing is left behind) and
    :class:`InvalidConfigError` for an unknown format.
    """
    if fmt not in _WRITERS:
        raise InvalidConfigError(f"unknown audience format {fmt!r}; expected one of {', '.join(FORMATS)}")
    target = Path(path)
    columns = audience_columns(population, consent)
    try:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed and moved below, removed on failure
            mode="wb", dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    tmp = Path(handle.name)
    try:
        with handle:
            _WRITERS[fmt](columns, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # temporary files are private (0600); an audience file is an ordinary output
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
        raise
    return target
