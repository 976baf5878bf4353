"""``opsim serve``: bad options are one line and exit 2; a real process serves and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import gc
import signal
import sqlite3
import sys
from pathlib import Path

import aiohttp
import pytest

from gateway.http.serve import freeze_startup_heap, main


@pytest.mark.parametrize(("argv", "field"), [
    (["--port", "99999"], "--port"),  # out of range
    (["--subscribers", "lots"], "--subscribers"),  # not a number
    (["--subscribers", "0"], "--subscribers"),  # too few
    (["--pace", "-1"], "--pace"),  # not positive
    (["--clock", "fast"], "--clock"),  # not a mode
    (["--start", "yesterday"], "--start"),  # not an instant
    (["--start", "9999-12-31T23:59:59-01:00"], "--start"),  # past the accepted range (year 10000 in UTC)
    (["--start", "1969-12-31T23:59:59Z"], "--start"),  # before it
    (["--admin-token", " "], "--admin-token"),  # empty
    (["--city", "atlantis", "--subscribers", "10"], "atlantis"),  # unknown city
    (["--bogus"], "--bogus"),  # unknown option
    (["--workers", "2", "--subscribers", "10"], "--engine ray"),  # shards without the sharded engine
    (["--address", "head:6379", "--subscribers", "10"], "--engine ray"),  # a cluster likewise
    (["--engine", "spark"], "--engine"),  # not an engine
])
def test_bad_options(argv: list[str], field: str, capsys: pytest.CaptureFixture[str]) -> None:
    """One line on stderr naming the option, exit code 2, no traceback."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert field in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


async def test_serve_process_starts_and_stops(tmp_path: Path) -> None:
    """A real ``opsim serve`` prints its URL, docs URL and admin token, answers, and exits 0 on SIGTERM."""
    db = tmp_path / "serve.db"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.http.serve", "--city", "berlin", "--subscribers", "1000", "--port", "0",
        "--db", str(db), "--clock", "manual", "--admin-token", "tok",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        lines = [(await asyncio.wait_for(proc.stdout.readline(), 60)).decode() for _ in range(5)]
        url = lines[1].split()[-1]
        assert lines[2].split()[-1] == f"{url}/docs"
        assert lines[3].split()[-1] == "tok"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/health") as resp:
                assert resp.status == 200
            async with session.get(f"{url}/metrics") as resp:  # the start-up heap is out of the collector's sight
                frozen = [line for line in (await resp.text()).splitlines()
                          if line.startswith("opsim_gc_frozen_objects ")]
                assert frozen and float(frozen[0].split()[1]) > 10_000
            headers = {"Authorization": "Bearer tok"}
            async with session.post(f"{url}/admin/v1/clock/advance", json={"seconds": 300}, headers=headers) as resp:
                assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM journal").fetchone()[0] == 1


def test_the_frozen_start_up_heap_leaves_later_garbage_collectable() -> None:
    """After ``freeze_startup_heap`` a full collection no longer walks what was alive, and still frees new cycles."""
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() > 0
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
