"""Every command checks its output place before doing any work: one line naming the option, exit 2, nothing written."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from scenarios.cli import main

# Each command with the option naming its output place, and whether that place is a directory or a file.
COMMANDS = {
    "simulate": (["simulate", "--subscribers", "10", "--days", "1", "--quiet", "--out"], "--out", "dir"),
    "run": (["run", "demo", "--quiet", "--out"], "--out", "dir"),
    "demo": (["demo", "--out"], "--out", "dir"),
    "audience": (["audience", "--size", "10", "--out"], "--out", "file"),
    "serve": (["serve", "--subscribers", "10", "--clock", "manual", "--port", "0", "--db"], "--db", "file"),
}

# Bad output places by kind of place: (row id, path template, needs a non-root user).
PLACES = {
    "dir": [
        ("under /proc", "/proc/opsim-out", False),
        ("missing parents under /proc", "/proc/opsim-missing/deeper/out", False),
        ("an existing file", "{tmp}/file", False),
        ("a missing parent under a file", "{tmp}/file/sub/out", False),
        ("in a read-only directory", "{tmp}/ro/out", True),
    ],
    "file": [
        ("under /proc", "/proc/opsim-out.db", False),
        ("a nonexistent parent", "{tmp}/missing/out.db", False),
        ("a file where a directory is expected", "{tmp}/file/out.db", False),
        ("a directory where a file is expected", "{tmp}/dir", False),
        # (a FIFO of our own, never /dev/null: a broken check would replace the device for the whole machine)
        ("a FIFO, not a regular file", "{tmp}/fifo", False),
        ("in a read-only directory", "{tmp}/ro/out.db", True),
    ],
}

CASES = [pytest.param(command, template, needs_user, id=f"{command}: {row}")
         for command, (_, _, kind) in COMMANDS.items() for row, template, needs_user in PLACES[kind]]


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(("command", "template", "needs_user"), CASES)
def test_bad_output_place_is_one_line_exit_2_and_nothing_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, template: str, needs_user: bool) -> None:
    """A bad output place: exit 2, one line on stderr naming the option, nothing written."""
    if needs_user and os.geteuid() == 0:
        pytest.skip("root writes into read-only directories: the row needs an ordinary user")
    (tmp_path / "file").write_text("not a directory")
    (tmp_path / "dir").mkdir()
    (tmp_path / "ro").mkdir(mode=0o555)
    os.mkfifo(tmp_path / "fifo")
    argv, flag, _ = COMMANDS[command]
    before = _tree(tmp_path)
    try:
        code = main([*argv, template.replace("{tmp}", str(tmp_path))])
    finally:
        (tmp_path / "ro").chmod(0o755)  # so that pytest can clean up
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and flag in lines[0] and "Traceback" not in err, err
    assert _tree(tmp_path) == before
    assert not Path("/proc/opsim-out").exists()


@pytest.mark.parametrize("argv", [
    # simulate's tables
    ["simulate", "--subscribers", "10", "--days", "1", "--quiet", "--format", "parquet", "--out", "{tmp}/x"],
    # audience file
    ["audience", "--size", "10", "--format", "parquet", "--out", "{tmp}/a.parquet"],
])
def test_parquet_without_pyarrow_says_how_to_install_it(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> None:
    """--format parquet without pyarrow: one line saying how to install it, exit 2, nothing written."""
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # what an environment without pyarrow looks like to import
    code = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "--format parquet" in err and "pip install 'opsim[research]'" in err, err
    assert list(tmp_path.iterdir()) == []
