"""Bulk record writes on a background thread, off the simulated tick's critical path.

Owns one extra SQLite connection, used only by its own thread, and a queue of batches (an INSERT statement and
its rows as columns). A tick hands over its records and goes on; the thread appends them in one transaction per
drain of the queue, on the other core. Readers call :meth:`WriteBehind.drain` first, so anything read through
the store includes every record submitted before (read-your-writes). Only inserts belong here that either the
restart's deterministic replay submits again (``INSERT OR IGNORE`` on deterministic keys) when the process dies
with batches still queued, or that a request acknowledges only past a :meth:`WriteBehind.barrier` (a partner's
tracking call: unacknowledged, it is sent again). This module must not know what the rows mean.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any

BUSY_TIMEOUT_S = 30.0

log = logging.getLogger(__name__)

Done = Callable[[BaseException | None], None]
"""Told, on the writer thread, how the records before a barrier ended: ``None`` (committed) or the error."""
_Item = tuple[str, Sequence[Any], Done | None]  # a batch (sql, columns, None) or a barrier ("", (), done)


class WriteBehindError(RuntimeError):
    """The background writer failed; the original error is the cause."""


class WriteBehind:
    """A background appender of row batches into one SQLite database (WAL)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, sql: str, columns: Sequence[Any]) -> None:
        """Queue rows (given as equal-length columns; numpy arrays welcome) for insertion by ``sql``.

        The columns are handed over as they are (the caller must not change them afterwards): turning them into
        rows happens on the writer thread too.
        """
        self._raise_if_failed()
        if not columns or not len(columns[0]):
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="opsim-write-behind", daemon=True)
            self._thread.start()
        self._queue.put((sql, columns, None))

    def barrier(self, done: Done) -> None:
        """Have ``done`` told, on the writer thread, once every row submitted before is committed (``None``) or
        could not be (the error); at once when nothing is pending."""
        if self._thread is None:  # nothing was ever submitted
            done(None)
            return
        self._queue.put(("", (), done))

    def drain(self) -> None:
        """Block until every submitted row is committed (re-raises a failure of the writer)."""
        if self._thread is not None:
            self._queue.join()
        self._raise_if_failed()

    def close(self) -> None:
        """Drain, then stop the thread."""
        if self._thread is None:
            return
        try:
            self.drain()
        finally:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _raise_if_failed(self) -> None:
        failure = self._failure()
        if failure is not None:
            raise failure from self._error

    def _failure(self) -> WriteBehindError | None:
        """The error the submitting side gets once the writer has failed (``None`` while it has not)."""
        return None if self._error is None else WriteBehindError(f"background record writer failed: {self._error}")

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
        conn.execute("PRAGMA synchronous = NORMAL")
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    self._queue.task_done()
                    return
                batch = [item]
                # Take whatever else is already queued: one transaction for all of it.
                while True:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        self._queue.put(None)  # stop after this batch
                        self._queue.task_done()
                        break
                    batch.append(more)
                rows = [(sql, columns) for sql, columns, _ in batch if sql]
                try:
                    if self._error is None and rows:
                        conn.execute("BEGIN IMMEDIATE")
                        for sql, columns in rows:
                            cols = [c.tolist() if hasattr(c, "tolist") else list(c) for c in columns]
                            conn.executemany(sql, zip(*cols, strict=True))
                        conn.execute("COMMIT")
                except BaseException as exc:  # kept and re-raised to the submitting side on its next call
                    self._error = exc
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                finally:
                    failed = self._failure()
                    for _, _, done in batch:
                        if done is not None:
                            try:
                                done(failed)
                            except Exception:  # a broken listener must not stop the writer or hang a drain
                                log.exception("write-behind barrier callback failed")
                        self._queue.task_done()
        finally:
            conn.close()
