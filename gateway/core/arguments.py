"""Command-line argument types and the parser whose errors are one line, shared by every ``opsim`` command.

Owns parsing of instants, bounded integers and numbers for argparse, the checks of output places (a directory or
a file a command will write, checked before any work is done), and :class:`UsageError` (printed as one line, exit
code 2). ``gateway.http.serve`` uses it, and so does ``scenarios.cli`` (scenarios may import the gateway, not the
other way round).
"""

from __future__ import annotations

import argparse
import difflib
import importlib.metadata
import importlib.util
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from gateway.wire.base import format_instant, in_range

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """``--help`` shows each option's default, unless it has none (``None``, a plain switch) or its help already
    says it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if default is None or default is False or default == argparse.SUPPRESS or "default" in text:
            return text
        shown = format_instant(default) if isinstance(default, datetime) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})"


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser that raises :class:`UsageError` instead of printing usage and exiting; ``--help`` shows
    the defaults."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def version() -> str:
    """The installed opsim's version (``opsim --version``)."""
    try:
        return importlib.metadata.version("opsim")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def did_you_mean(word: str, known: list[str]) -> str:
    """``; did you mean 'x'?`` when ``word`` is close to one of ``known``, else nothing."""
    close = difflib.get_close_matches(word, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


FORMAT_OF_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet", ".json": "json", ".yaml": "yaml",
                    ".yml": "yaml"}
"""File formats by file-name extension (``--out`` names the format unless ``--format`` does)."""


def format_for(out: Path, given: str | None, choices: tuple[str, ...], default: str) -> str:
    """The format to write ``out`` in: ``--format`` when given, else the one ``out``'s extension names, else
    ``default``. A ``--format`` that contradicts a known extension is a :class:`UsageError`."""
    inferred = FORMAT_OF_SUFFIX.get(out.suffix.lower())
    if given is not None:
        if inferred is not None and inferred != given:
            raise UsageError(f"--format {given} does not match --out {out.name} (a {inferred} file name); "
                             f"drop --format or rename the file")
        return given
    if inferred is not None:
        if inferred not in choices:
            raise UsageError(f"--out {out.name}: {inferred} is not a format of this command "
                             f"({', '.join(choices)})")
        return inferred
    return default


def instant(text: str) -> datetime:
    """An RFC 3339 / ISO 8601 instant in the accepted range (``gateway.wire.INSTANT_RANGE``); no zone means UTC."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 instant: {text!r}") from exc
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return in_range(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}: {text!r}") from None


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer between ``low`` and ``high`` inclusive."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from exc
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def number_in(low: float, high: float, *, low_inclusive: bool = True) -> Callable[[str], float]:
    """An argparse type: a number in [``low``, ``high``] (or (``low``, ``high``] when not ``low_inclusive``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
        above = value >= low if low_inclusive else value > low
        if not (above and value <= high):
            opening = "[" if low_inclusive else "("
            raise argparse.ArgumentTypeError(f"must be in {opening}{low:g}, {high:g}], got {value:g}")
        return value

    return parse


def output_dir(path: Path, flag: str) -> None:
    """Raise :class:`UsageError` naming ``flag`` unless ``path`` is a directory that exists or can be created (with
    its missing parents) and can be written in. Writes nothing that stays.

    Permission bits do not say it all (root may write anywhere except read-only file systems, ``/proc``...), so
    the nearest existing ancestor is probed by creating and removing a temporary entry.
    """
    try:
        if path.exists():
            if not path.is_dir():
                raise UsageError(f"{flag}: {path} exists and is not a directory")
            problem = _probe(path, directory=False)
        else:
            ancestor = path.parent
            while not ancestor.exists():
                ancestor = ancestor.parent
            if not ancestor.is_dir():
                raise UsageError(f"{flag}: cannot create directory {path}: {ancestor} is not a directory")
            problem = _probe(ancestor, directory=True)
    except OSError as exc:
        problem = exc.strerror or str(exc)
    if problem is not None:
        raise UsageError(f"{flag}: cannot write to directory {path}: {problem}")


def output_file(path: Path, flag: str) -> None:
    """Raise :class:`UsageError` naming ``flag`` unless ``path`` can be written as a regular file: its directory
    exists (it is not created) and can be written in, and ``path`` is not a directory or a special file. Writes
    nothing that stays."""
    parent = path.parent
    try:
        if path.is_dir():
            raise UsageError(f"{flag}: {path} is a directory, expected a file")
        if path.exists() and not path.is_file():
            raise UsageError(f"{flag}: {path} exists and is not a regular file")
        if not parent.exists():
            raise UsageError(f"{flag}: directory {parent} does not exist")
        if not parent.is_dir():
            raise UsageError(f"{flag}: {parent} is not a directory")
        if path.exists() and not os.access(path, os.W_OK):
            raise UsageError(f"{flag}: {path} is not writable")
        problem = _probe(parent, directory=False)
    except OSError as exc:
        problem = exc.strerror or str(exc)
    if problem is not None:
        raise UsageError(f"{flag}: cannot write {path}: {problem}")


def _probe(where: Path, *, directory: bool) -> str | None:
    """Why nothing can be created in ``where`` (a directory when ``directory``, else a file), or ``None``."""
    try:
        if directory:
            os.rmdir(tempfile.mkdtemp(prefix=".opsim-probe-", dir=where))
        else:
            fd, name = tempfile.mkstemp(prefix=".opsim-probe-", dir=where)
            os.close(fd)
            os.unlink(name)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def needs_module(module: str, flag: str, extra: str) -> None:
    """Raise :class:`UsageError` naming ``flag`` when the optional ``module`` is not installed (with how to get it)."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise UsageError(f"{flag} needs {module}, which is not installed: pip install 'opsim[{extra}]'")
