"""The background record writer: read-your-writes after drain, batching, failures surface, close flushes, barriers
for requests acknowledged only once their rows are durable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from gateway.core.store import Store
from gateway.core.writebehind import WriteBehindError

SQL = "INSERT OR IGNORE INTO t(k, v) VALUES (?, ?)"


def _store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "w.db")
    store.open()
    store.conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    return store


def test_rows_are_visible_after_drain(tmp_path: Path) -> None:
    """Everything submitted before drain() is readable after it, numpy and object columns alike."""
    store = _store(tmp_path)
    for lo in range(0, 5000, 1000):
        keys = np.arange(lo, lo + 1000)
        store.append_rows(SQL, [keys, np.asarray([f"v{k}" for k in keys.tolist()], dtype=object)])
    store.drain()
    assert tuple(store.conn.execute("SELECT COUNT(*), MIN(k), MAX(k) FROM t").fetchone()) == (5000, 0, 4999)
    store.close()


def test_replayed_rows_are_ignored(tmp_path: Path) -> None:
    """Submitting the same keys again (a replay) changes nothing."""
    store = _store(tmp_path)
    store.append_rows(SQL, [np.arange(10), ["a"] * 10])
    store.append_rows(SQL, [np.arange(10), ["b"] * 10])
    store.drain()
    assert tuple(store.conn.execute("SELECT COUNT(*), MIN(v), MAX(v) FROM t").fetchone()) == (10, "a", "a")
    store.close()


def test_close_writes_what_is_queued(tmp_path: Path) -> None:
    """Closing the store flushes the queue; a new connection sees every row."""
    store = _store(tmp_path)
    store.append_rows(SQL, [np.arange(2000), ["x"] * 2000])
    store.close()
    again = Store(tmp_path / "w.db")
    again.open()
    assert again.conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 2000
    again.close()


def test_a_failing_batch_is_reported_on_the_next_call(tmp_path: Path) -> None:
    """A write error on the thread is raised to the caller, not lost."""
    store = _store(tmp_path)
    store.append_rows("INSERT INTO missing_table(k) VALUES (?)", [np.arange(3)])
    with pytest.raises(WriteBehindError):
        store.drain()
    with pytest.raises(WriteBehindError):
        store.close()


def test_memory_databases_write_at_once() -> None:
    """:memory: has no second connection: rows are written synchronously."""
    store = Store(":memory:")
    store.open()
    store.conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    store.append_rows(SQL, [np.arange(5), ["m"] * 5])
    assert store.conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 5
    store.close()


async def test_appended_committed_waits_for_the_rows_before_it(tmp_path: Path) -> None:
    """A request waiting on the barrier resumes only once every row appended before is committed (another
    connection sees them); with nothing pending it does not wait."""
    store = _store(tmp_path)
    await store.appended_committed()  # nothing ever appended: at once
    store.append_rows(SQL, [np.arange(3000), ["x"] * 3000])
    await store.appended_committed()
    with sqlite3.connect(tmp_path / "w.db") as other:
        assert other.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 3000
    store.close()


async def test_appended_committed_raises_when_the_rows_were_not_written(tmp_path: Path) -> None:
    """The barrier after a failing batch raises: its request must not be acknowledged."""
    store = _store(tmp_path)
    store.append_rows("INSERT INTO missing_table(k) VALUES (?)", [np.arange(3)])
    with pytest.raises(WriteBehindError):
        await store.appended_committed()
    with pytest.raises(WriteBehindError):
        store.close()
