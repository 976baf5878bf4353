"""Evaluating an ``expect`` check: following its ``path`` into an observed value and applying its operators.

Owns the path language (dotted fields, list indexes, ``count``, ``*`` and the ``max``/``min``/``sum``
reductions; sweep metrics use it too) and the operators ``equals``, ``at_least``, ``at_most``, ``approx``
and ``contains``. Pure functions: what a check observes (an inbox, webhooks, a report…) is fetched by the
``expect`` action in :mod:`scenarios.actions`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from scenarios.schema import Check

DEFAULT_TOLERANCE = 0.05
"""Relative tolerance of ``approx`` when neither ``tolerance`` nor ``abs_tolerance`` is given."""
AGGREGATES: dict[str, Callable[[list[float]], float]] = {"max": max, "min": min, "sum": sum}
"""Reductions a check path may end a list with."""


def resolve_path(value: Any, path: str) -> Any:
    """Follow a dotted path (``a.b.0.c``; ``count`` is the length of a list or mapping).

    ``*`` maps the rest of the path (up to the next ``count``/``max``/``min``/``sum``) over every item of a list,
    skipping items that lack a field and flattening nested ``*``; ``max``, ``min`` and ``sum`` reduce a list.
    Raises :class:`KeyError` naming what is missing.
    """
    return _resolve(value, [p for p in path.split(".") if p] if path else [])


def _resolve(value: Any, parts: list[str]) -> Any:
    for k, part in enumerate(parts):
        if part == "*":
            if not isinstance(value, list | dict):
                raise KeyError(f"cannot take * of {type(value).__name__}")
            rest = parts[k + 1:]
            cut = next((j for j, p in enumerate(rest) if p == "count" or p in AGGREGATES), len(rest))
            mapped: list[Any] = []
            for item in value if isinstance(value, list) else value.values():
                try:
                    got = _resolve(item, rest[:cut])
                except KeyError:
                    continue
                if "*" in rest[:cut] and isinstance(got, list):
                    mapped.extend(got)
                else:
                    mapped.append(got)
            return _resolve(mapped, rest[cut:])
        if part in AGGREGATES and isinstance(value, list):
            numbers = [v for v in value if isinstance(v, int | float) and not isinstance(v, bool)]
            if len(numbers) != len(value):
                raise KeyError(f"{part} needs a list of numbers")
            value = AGGREGATES[part](numbers) if numbers else None
        elif part == "count" and isinstance(value, list | dict) and "count" not in (value if isinstance(value, dict)
                                                                                  else {}):
            value = len(value)
        elif isinstance(value, dict):
            if part not in value:
                raise KeyError(f"no field {part!r} (fields: {', '.join(sorted(map(str, value))) or 'none'})")
            value = value[part]
        elif isinstance(value, list):
            try:
                value = value[int(part)]
            except (ValueError, IndexError):
                raise KeyError(f"no item {part!r} in a list of {len(value)}") from None
        else:
            raise KeyError(f"cannot take {part!r} of {type(value).__name__}")
    return value


def compare(check: Check, actual: Any) -> tuple[bool, dict[str, Any], str]:
    """Evaluate the operators of a check against ``actual``: (ok, expected, message)."""
    expected: dict[str, Any] = {}
    failures: list[str] = []
    given = check.model_fields_set
    if "equals" in given:
        expected["equals"] = check.equals
        if actual != check.equals:
            failures.append(f"expected {check.equals!r}, got {actual!r}")
    numeric = isinstance(actual, int | float) and not isinstance(actual, bool)
    for op, bound in (("at_least", check.at_least), ("at_most", check.at_most)):
        if bound is None:
            continue
        expected[op] = bound
        if not numeric:
            failures.append(f"{op} needs a number, got {actual!r}")
        elif (op == "at_least" and actual < bound) or (op == "at_most" and actual > bound):
            failures.append(f"expected {'≥' if op == 'at_least' else '≤'} {bound:g}, got {actual!r}")
    if check.approx is not None:
        if check.abs_tolerance is not None:
            tol = check.abs_tolerance
        else:
            tol = abs(check.approx) * (check.tolerance if check.tolerance is not None else DEFAULT_TOLERANCE)
        expected["approx"] = check.approx
        expected["within"] = tol
        if not numeric:
            failures.append(f"approx needs a number, got {actual!r}")
        elif not math.isclose(actual, check.approx, abs_tol=tol, rel_tol=0):
            failures.append(f"expected {check.approx:g} ± {tol:g}, got {actual!r}")
    if "contains" in given:
        expected["contains"] = check.contains
        text = isinstance(actual, str) and isinstance(check.contains, str)
        ok = check.contains in actual if text or isinstance(actual, list | dict) else False
        if not ok:
            failures.append(f"expected to contain {check.contains!r}, got {actual!r}")
    return not failures, expected, "; ".join(failures) or "ok"
