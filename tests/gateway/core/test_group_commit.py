"""Group commit of request records (``Store.queue_row``): committed together, at the latest at a cap, a drain or
a close; waiters of one event-loop turn share one commit; a failure undoes all of it and reaches every waiter."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from gateway.core.store import GROUP_ROWS, Store

SQL = "INSERT INTO t(k, v) VALUES (?, ?)"


def _store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "g.db")
    store.open()
    store.conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    return store


def _committed(tmp_path: Path) -> int:
    """Rows another connection sees (what a crash now would leave)."""
    with sqlite3.connect(tmp_path / "g.db") as other:
        return int(other.execute("SELECT COUNT(*) FROM t").fetchone()[0])


@pytest.mark.parametrize(("queued", "committed"), [
    (GROUP_ROWS - 1, 0),  # below the cap: still queued
    (GROUP_ROWS, GROUP_ROWS),  # the cap commits them all at once
    (GROUP_ROWS + 3, GROUP_ROWS),  # ...and the next ones queue again
])
def test_queued_rows_commit_at_the_cap(tmp_path: Path, queued: int, committed: int) -> None:
    """Rows queue until ``GROUP_ROWS`` are queued, then commit in one go."""
    store = _store(tmp_path)
    for k in range(queued):
        store.queue_row(SQL, (k, "v"))
    assert _committed(tmp_path) == committed
    store.close()


def test_drain_and_close_commit_queued_rows(tmp_path: Path) -> None:
    """A drain (before reading) commits what is queued, and so does a close."""
    store = _store(tmp_path)
    store.queue_row(SQL, (1, "a"))
    store.drain()
    assert _committed(tmp_path) == 1
    store.queue_row(SQL, (2, "b"))
    store.close()
    assert _committed(tmp_path) == 2


async def test_waiters_of_one_turn_share_one_commit(tmp_path: Path) -> None:
    """Requests queueing rows in the same event-loop turn are answered after one commit holding all their rows."""
    store = _store(tmp_path)
    commits: list[int] = []
    store.conn.set_trace_callback(lambda sql: commits.append(1) if sql == "COMMIT" else None)

    async def request(k: int) -> int:
        store.queue_row(SQL, (k, f"v{k}"))
        await store.queued_committed()
        return _committed(tmp_path)

    seen = await asyncio.gather(*(request(k) for k in range(10)))
    assert seen == [10] * 10 and len(commits) == 1
    await store.queued_committed()  # nothing queued: at once
    store.close()


@pytest.mark.parametrize(("linger_s", "commits_expected"), [(0.0, 3), (0.2, 1)])
async def test_a_lingering_commit_gathers_later_turns(tmp_path: Path, linger_s: float,
                                                      commits_expected: int) -> None:
    """Without linger, requests of three successive turns get three commits; with it, the first waiter's commit
    waits for the other two, one commit answers all three, and none is answered before it."""
    store = _store(tmp_path)
    commits: list[int] = []
    store.conn.set_trace_callback(lambda sql: commits.append(1) if sql == "COMMIT" else None)
    loop = asyncio.get_running_loop()
    answered: list[float] = []

    async def request(k: int) -> None:
        await asyncio.sleep(0.01 * k)  # one request per turn, 10 ms apart
        store.queue_row(SQL, (k, f"v{k}"))
        await store.queued_committed(linger_s)
        answered.append(loop.time())

    started = loop.time()
    await asyncio.gather(*(request(k) for k in range(3)))
    assert len(commits) == commits_expected and _committed(tmp_path) == 3
    if linger_s:
        assert min(answered) - started >= linger_s * 0.9  # the first waiter waited out the linger
    store.close()


async def test_a_failed_commit_writes_none_of_the_rows_and_reaches_every_waiter(tmp_path: Path) -> None:
    """A row that cannot be written undoes the whole group (nothing half-written) and each waiter gets the error."""
    store = _store(tmp_path)

    async def request(k: int) -> None:
        store.queue_row(SQL, (k % 3, "v"))  # keys 0, 1, 2, then 0 again: a duplicate key
        await store.queued_committed()

    results = await asyncio.gather(*(request(k) for k in range(4)), return_exceptions=True)
    assert all(isinstance(r, sqlite3.IntegrityError) for r in results)
    assert _committed(tmp_path) == 0
    store.queue_row(SQL, (7, "later"))  # the store goes on
    await store.queued_committed()
    assert _committed(tmp_path) == 1
    store.close()


async def test_waiters_hear_of_a_failure_when_another_caller_commits_their_rows(tmp_path: Path) -> None:
    """Rows a drain (or the cap) commits before the waiters' own commit: a failure still reaches the waiters."""
    store = _store(tmp_path)
    store.queue_row(SQL, (1, "a"))
    store.queue_row(SQL, (1, "again"))  # a duplicate key: the group cannot be committed
    waiter = asyncio.ensure_future(store.queued_committed())
    await asyncio.sleep(0)  # the waiter has scheduled its commit and waits
    with pytest.raises(sqlite3.IntegrityError):
        store.drain()  # a reader commits the queued rows first, and fails
    with pytest.raises(sqlite3.IntegrityError):
        await waiter
    assert _committed(tmp_path) == 0
    store.close()


async def test_a_waiter_going_away_does_not_cancel_the_others_commit(tmp_path: Path) -> None:
    """One request cancelled while it waits (its client hung up): the group still commits and the others answer."""
    store = _store(tmp_path)

    async def request(k: int) -> int:
        store.queue_row(SQL, (k, f"v{k}"))
        await store.queued_committed()
        return _committed(tmp_path)

    tasks = [asyncio.ensure_future(request(k)) for k in range(3)]
    await asyncio.sleep(0)  # all three wait for the one scheduled commit
    tasks[1].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert done[0] == done[2] == 3 and isinstance(done[1], asyncio.CancelledError)
    store.close()


@pytest.mark.parametrize("commit", ["drain", "cap", "tick"])
async def test_a_commit_covering_a_lingering_group_answers_it_at_once(tmp_path: Path, commit: str) -> None:
    """A drain, the cap or a tick's commit that writes a lingering group's rows answers its waiters then, not when
    the linger runs out; the group's own timer no longer commits anything."""
    store = _store(tmp_path)
    commits: list[int] = []
    store.conn.set_trace_callback(lambda sql: commits.append(1) if sql == "COMMIT" else None)
    store.queue_row(SQL, (0, "v0"))
    waiter = asyncio.ensure_future(store.queued_committed(linger_s=30.0))
    await asyncio.sleep(0)  # it lingers
    assert not waiter.done()
    if commit == "cap":
        for k in range(1, GROUP_ROWS):
            store.queue_row(SQL, (k, "v"))
    else:  # a reader's drain, or the tick's owner committing what is queued
        store.drain() if commit == "drain" else store.commit_queued()
    await asyncio.wait_for(waiter, timeout=5)
    assert _committed(tmp_path) == (GROUP_ROWS if commit == "cap" else 1) and len(commits) == 1
    store.queue_row(SQL, (GROUP_ROWS + 1, "next"))  # the next group starts afresh and commits on its own
    await asyncio.wait_for(store.queued_committed(), timeout=5)
    assert len(commits) == 2
    store.close()
