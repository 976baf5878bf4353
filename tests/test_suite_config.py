"""The suite's own configuration (``[tool.pytest.ini_options]`` of pyproject.toml): a test that hangs fails.

A test app once turned an error answer into a busy loop on the event loop, and the run waited on it for an hour and
more. With the configured per-test timeout such a test fails and the run goes on.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HANGING = '''
import asyncio


async def test_busy_loop_on_the_event_loop():
    while True:  # never yields: nothing but a signal ends it
        pass


async def test_fine():
    await asyncio.sleep(0)
'''


def test_the_configured_timeout_is_generous_and_set() -> None:
    """Well above the slowest test (about 15 s) so that a slow machine does not fail it, and set at all."""
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert 120 <= int(options["timeout"]) <= 600


def test_a_busy_async_test_fails_after_the_timeout_and_the_run_goes_on(tmp_path: Path) -> None:
    """Under the project's own ini (asyncio mode, warnings as errors), with the timeout lowered to 2 s."""
    (tmp_path / "test_hang.py").write_text(HANGING)
    run = subprocess.run([sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir",
                          str(tmp_path), "-o", "timeout=2", "-p", "no:cacheprovider", str(tmp_path / "test_hang.py")],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Timeout" in run.stdout
    assert "1 failed, 1 passed" in run.stdout
