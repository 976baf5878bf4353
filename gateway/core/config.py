"""Operator settings from a file: ``opsim serve --config operator.yaml``.

Owns reading a YAML or JSON mapping onto :class:`~gateway.core.settings.Settings` and its sections (``campaigns``,
``verify``, ``messages``, ``sim_swap``). Keys are the settings' Python names; unknown keys and values of the
wrong type are refused with one line naming the key path (and its line in the file), and so are non-finite
numbers (YAML ``.inf``/``.nan``, JSON ``Infinity``/``NaN``): no limit is spelt ``null``, never infinity.
Serving options that have their own command-line flags (host, port, database, clock, admin token) are not read
from the file. This module must not build a world or open the database.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import pydantic

from gateway.core.documents import line_of, read_document
from gateway.core.settings import Settings

_FINITE = pydantic.ConfigDict(allow_inf_nan=False)
"""Numbers must be finite: an infinite webhook timeout or a NaN radius would only fail later, far from the file."""

CLI_ONLY = frozenset({"host", "port", "db_path", "admin_token", "clock_mode", "pace_factor", "wall_clock"})
"""Settings set by flags of ``opsim serve`` (or code), never by the file."""


class ConfigError(ValueError):
    """A settings file that cannot be used; the message is one line naming the file, key and problem."""


def _settable(cls: type[Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.name not in CLI_ONLY}


def _apply(cls: type[Any], current: Any, data: Any, path: list[str], fail: typing.Callable[[list[str], str], None]
           ) -> Any:
    if not isinstance(data, dict):
        fail(path, "expected a mapping of settings")
    fields = _settable(cls)
    changes: dict[str, Any] = {}
    for key, value in data.items():
        where = [*path, str(key)]
        if key not in fields:
            fail(where, f"unknown setting (known: {', '.join(sorted(fields))})")
        kind = fields[key]
        if dataclasses.is_dataclass(kind):
            changes[key] = _apply(typing.cast(type[Any], kind), getattr(current, key), value, where, fail)
            continue
        try:
            changes[key] = pydantic.TypeAdapter(kind, config=_FINITE).validate_python(value, strict=False)
        except pydantic.ValidationError as exc:
            fail(where, exc.errors()[0]["msg"])
    try:
        return dataclasses.replace(current, **changes)
    except (TypeError, ValueError) as exc:
        fail(path, str(exc))
        raise  # unreachable: fail raises


def load_settings(path: str | Path, base: Settings) -> Settings:
    """``base`` with the settings of the YAML or JSON file at ``path`` applied."""
    source, node, data = read_document(path, ConfigError)
    if data is None:
        return base

    def fail(at: list[str], problem: str) -> None:
        raise ConfigError(f"{source}{line_of(node, at)}: {'.'.join(at) or '(top level)'}: {problem}")

    settings: Settings = _apply(Settings, base, data, [], fail)
    return settings
