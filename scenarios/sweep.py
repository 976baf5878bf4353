"""Parameter sweeps: every combination of a scenario's ``sweep.parameters`` × ``sweep.seeds`` is one run.

Owns expanding the grid, running the combinations in parallel processes (``ProcessPoolExecutor``; each run
builds its own world and serves it on its own loopback ports, so runs share nothing), reading the chosen
metrics from each run, and writing ``sweep.csv`` plus ``sweep.png`` (each metric's mean over seeds against the
x parameter, with 95% confidence intervals). Results never depend on the number of workers: rows are sorted
by combination. It must not define how one run works (``runner``).
"""

from __future__ import annotations

import itertools
import math
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from scenarios.checks import resolve_path
from scenarios.export import atomic_path, write_rows
from scenarios.results import RunResult
from scenarios.runner import run_scenario
from scenarios.schema import Metric, Scenario

T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042}
"""Two-sided 95% Student t quantiles by degrees of freedom (1.96 beyond 30)."""


@dataclass(frozen=True)
class Combination:
    """One point of the grid."""

    values: tuple[tuple[str, float | int], ...]
    seed: int


def grid(scenario: Scenario) -> list[Combination]:
    """Every combination, in a fixed order (parameters as declared, then seeds)."""
    assert scenario.sweep is not None
    names = list(scenario.sweep.parameters)
    combos = itertools.product(*(scenario.sweep.parameters[n] for n in names))
    return [Combination(tuple(zip(names, values, strict=True)), seed)
            for values in combos for seed in scenario.sweep.seeds]


def variant(scenario: Scenario, combo: Combination) -> Scenario:
    """The scenario with one combination applied (and no sweep section)."""
    data = scenario.model_dump(mode="json", exclude_unset=True, exclude={"sweep"})
    data["seed"] = combo.seed
    for name, value in combo.values:
        if name == "seed":
            data["seed"] = int(value)
            continue
        node = data
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return Scenario.model_validate(data)


def metric_value(result: RunResult, metric: Metric) -> float | None:
    """A metric of one run (``None`` when the path is absent, e.g. the step failed)."""
    try:
        if metric.of == "step":
            answers = {s.id: s.answer for s in result.steps if s.id is not None}
            value = resolve_path(answers[metric.step or ""], metric.path)
        elif metric.of in ("report", "truth"):
            campaign = next(c for c in result.campaigns if c["step"] == metric.campaign)
            value = resolve_path(campaign[metric.of], metric.path)
        elif metric.of == "webhooks":
            value = resolve_path([w["body"] for w in result.webhooks], metric.path)
        else:
            value = resolve_path(result.summary, metric.path)
    except (KeyError, StopIteration):
        return None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _job(data: dict[str, Any], base_dir: str, values: tuple[tuple[str, float | int], ...],
         seed: int) -> dict[str, Any]:
    """One run in a worker process (arguments are plain data, so they pickle)."""
    scenario = Scenario.model_validate(data)
    combo = Combination(values, seed)
    result = run_scenario(variant(scenario, combo), base_dir=Path(base_dir))
    assert scenario.sweep is not None
    row: dict[str, Any] = dict(values)
    row["seed"] = seed
    for metric in scenario.sweep.metrics:
        row[metric.name] = metric_value(result, metric)
    row["passed"] = not result.failed
    row["digest"] = result.digest
    return row


def run_grid(scenario: Scenario, base_dir: Path, workers: int | None = None) -> list[dict[str, Any]]:
    """Run every combination (in parallel when ``workers`` > 1); rows in grid order."""
    assert scenario.sweep is not None
    combos = grid(scenario)
    data = scenario.model_dump(mode="json", exclude_unset=True)
    n = max(1, min(workers or scenario.sweep.workers, len(combos)))
    if n == 1:
        return [_job(data, str(base_dir), c.values, c.seed) for c in combos]
    with ProcessPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(_job, data, str(base_dir), c.values, c.seed) for c in combos]
        return [f.result() for f in futures]


def t_quantile(df: int) -> float:
    """Two-sided 95% t quantile (conservative: the next tabulated smaller df)."""
    if df <= 0:
        return math.nan
    if df > 30:
        return 1.96
    return T_975[max(k for k in T_975 if k <= df)]


def summarise_rows(rows: list[dict[str, Any]], x: str, metric: str, others: list[str]
                   ) -> dict[tuple[Any, ...], list[tuple[float, float, float, int]]]:
    """Per line (values of the other parameters): (x, mean, half-width of the 95% CI, n) sorted by x."""
    groups: dict[tuple[Any, ...], dict[float, list[float]]] = {}
    for row in rows:
        value = row.get(metric)
        if value is None:
            continue
        key = tuple(row[o] for o in others)
        groups.setdefault(key, {}).setdefault(float(row[x]), []).append(float(value))
    out: dict[tuple[Any, ...], list[tuple[float, float, float, int]]] = {}
    for key, by_x in sorted(groups.items()):
        points = []
        for xv, values in sorted(by_x.items()):
            n = len(values)
            mean = sum(values) / n
            half = 0.0
            if n > 1:
                sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
                half = t_quantile(n - 1) * sd / math.sqrt(n)
            points.append((xv, mean, half, n))
        out[key] = points
    return out


def plot_sweep(scenario: Scenario, rows: list[dict[str, Any]], path: Path) -> None:
    """One panel per metric: mean over seeds against x, with 95% confidence bands, a line per other setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    assert scenario.sweep is not None
    names = list(scenario.sweep.parameters)
    x = scenario.sweep.x or names[0]
    others = [n for n in names if n != x]
    metrics = [m.name for m in scenario.sweep.metrics]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4.2), squeeze=False)
    try:
        for ax, metric in zip(axes[0], metrics, strict=True):
            for key, points in summarise_rows(rows, x, metric, others).items():
                xs = [p[0] for p in points]
                means = [p[1] for p in points]
                lo = [p[1] - p[2] for p in points]
                hi = [p[1] + p[2] for p in points]
                label = ", ".join(f"{o}={v}" for o, v in zip(others, key, strict=True)) or "mean"
                ax.plot(xs, means, "-o", ms=4, label=label)
                ax.fill_between(xs, lo, hi, alpha=0.2)
            ax.set_xlabel(x)
            ax.set_ylabel(metric)
            ax.set_title(f"{metric} (mean, 95% CI over {len(scenario.sweep.seeds)} seeds)", fontsize=9)
            ax.legend(fontsize=7)
        fig.suptitle(scenario.name, fontsize=10)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    finally:
        plt.close(fig)


def run_sweep(scenario: Scenario, base_dir: Path, out_dir: Path, *, out: TextIO | None = None,
              progress: bool = False, workers: int | None = None) -> int:
    """``opsim run`` of a file with a sweep section: run the grid, write ``sweep.csv`` and ``sweep.png``."""
    assert scenario.sweep is not None
    out = out or sys.stdout
    combos = grid(scenario)
    print(f"sweep     {scenario.name}: {len(combos)} runs "
          f"({' × '.join(f'{len(v)} {k}' for k, v in scenario.sweep.parameters.items())} × "
          f"{len(scenario.sweep.seeds)} seeds)", file=out)
    rows = run_grid(scenario, base_dir, workers)
    columns = [*scenario.sweep.parameters, "seed", *(m.name for m in scenario.sweep.metrics), "passed", "digest"]
    out_dir.mkdir(parents=True, exist_ok=True)
    write_rows(out_dir / "sweep.csv", columns, ([r.get(c) for c in columns] for r in rows), "csv")
    plot_sweep(scenario, rows, out_dir / "sweep.png")
    failed = sum(not r["passed"] for r in rows)
    print(f"result    {len(rows) - failed}/{len(rows)} runs passed their expectations", file=out)
    print(f"wrote     {out_dir}/ (sweep.csv, sweep.png)", file=out)
    return 1 if failed else 0
