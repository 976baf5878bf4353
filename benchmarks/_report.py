"""Shared output format of the benchmark scripts: one JSON line per figure."""

from __future__ import annotations

import json
import platform
from typing import Any


def emit(figure: str, value: float, baseline: float | None, target: float | None, unit: str,
         better: str = "lower", **extra: Any) -> dict[str, Any]:
    """Print one figure with its baseline, their ratio and the target, as a JSON line."""
    ratio = round(value / baseline, 3) if baseline else None
    line: dict[str, Any] = {"figure": figure, "value": round(value, 3), "unit": unit,
                            "baseline": None if baseline is None else round(baseline, 3), "ratio": ratio,
                            "target": target, "better": better, "machine": platform.machine()}
    if target is not None:
        line["met"] = value <= target if better == "lower" else value >= target
    line.update(extra)
    print(json.dumps(line), flush=True)
    return line
