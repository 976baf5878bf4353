"""What a scenario run produced: step and check results, timings, the whole run, and campaign outcome counts.

Owns the result data structures (and their JSON forms) that :mod:`scenarios.runner` fills in and
:mod:`scenarios.report`, :mod:`scenarios.replay` and :mod:`scenarios.sweep` read, and the operator-side truth
of a campaign counted from its delivery records. It must not run anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.services.policy import REASONS
from scenarios.schema import Scenario
from scenarios.transcript import Transcript, plain, stamp
from simulator.clock import format_instant
from simulator.world import World, WorldSummary


def summary_json(s: WorldSummary) -> dict[str, Any]:
    """JSON form of the world's summary (camelCase keys, instants in ISO 8601), as reports and sweeps read it."""
    return {
        "city": s.city, "country": s.country, "timezone": s.timezone, "subscribers": s.subscribers,
        "cells": s.cells, "seed": s.seed, "now": format_instant(s.now), "start": format_instant(s.start),
        "tickSeconds": s.tick_seconds, "ticks": s.ticks, "lastTickMs": s.last_tick_ms, "meanTickMs": s.mean_tick_ms,
        "clockMode": s.clock_mode, "moving": s.moving, "cellChanges": s.cell_changes, "gatherings": s.gatherings,
    }


@dataclass
class CheckResult:
    """One evaluated assertion."""

    name: str
    of: str
    path: str
    actual: Any
    expected: dict[str, Any]
    ok: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"name": self.name, "of": self.of, "path": self.path, "actual": self.actual,
                "expected": self.expected, "ok": self.ok, "message": self.message}


@dataclass
class StepResult:
    """What one step did and how it went."""

    index: int
    id: str | None
    action: str
    at: datetime
    ok: bool
    answer: Any = None
    error: dict[str, Any] | None = None
    checks: list[CheckResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        data: dict[str, Any] = plain({"index": self.index, "id": self.id, "action": self.action, "at": self.at,
                                      "ok": self.ok, "answer": self.answer, "error": self.error,
                                      "checks": [c.to_dict() for c in self.checks]})
        return data


@dataclass
class Timings:
    """Where the wall time went (seconds)."""

    build: float = 0.0
    total: float = 0.0
    in_calls: float = 0.0
    world_ticks: float = 0.0
    server: float = 0.0

    def to_dict(self) -> dict[str, float]:
        """JSON form, with the client share (time in calls minus time the server spent) derived."""
        client = max(0.0, self.in_calls - self.server)
        return {"buildS": round(self.build, 3), "totalS": round(self.total, 3), "inCallsS": round(self.in_calls, 3),
                "worldTicksS": round(self.world_ticks, 3), "serverS": round(self.server, 3),
                "gatewayS": round(max(0.0, self.server - self.world_ticks), 3), "clientS": round(client, 3)}


@dataclass
class RunResult:
    """Everything a run produced; :mod:`scenarios.report` writes it out."""

    scenario: Scenario
    seed: int
    world: World
    summary: dict[str, Any]
    steps: list[StepResult]
    transcript: Transcript
    webhooks: list[dict[str, Any]]
    tracks: dict[str, list[tuple[str, float, float, str]]]
    timings: Timings
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    campaigns: list[dict[str, Any]] = field(default_factory=list)

    @property
    def checks(self) -> list[CheckResult]:
        """Every check of every expect step."""
        return [c for s in self.steps for c in s.checks]

    @property
    def failed(self) -> bool:
        """Whether any step or check failed."""
        return any(not s.ok for s in self.steps)

    @property
    def digest(self) -> str:
        """sha256 of the transcript."""
        return self.transcript.digest()


def truth_counts(records: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """Operator-side outcome counts of a campaign's records as of ``now``.

    Exact: no rounding or withholding; every suppression reason is present, zeros included.
    """
    suppressed: dict[str, int] = dict.fromkeys(REASONS, 0)
    cutoff = stamp(now)
    for r in records:
        if r["outcome"] == "SUPPRESSED":
            reason = str(r.get("reason") or "UNKNOWN")
            suppressed[reason] = suppressed.get(reason, 0) + 1
    return {
        "records": len(records),
        "recipients": len({r["msisdn"] for r in records if r["outcome"] != "SUPPRESSED"}),
        "sent": sum(r["outcome"] != "SUPPRESSED" for r in records),
        "delivered": sum(r["outcome"] == "DELIVERED" for r in records),
        "failed": sum(r["outcome"] == "FAILED" for r in records),
        "opened": sum(r.get("openedAt") is not None and str(r["openedAt"]) <= cutoff for r in records),
        "clicked": sum(r.get("clickedAt") is not None and str(r["clickedAt"]) <= cutoff for r in records),
        "suppressed": dict(sorted(suppressed.items())),
        "suppressedTotal": sum(suppressed.values()),
    }
