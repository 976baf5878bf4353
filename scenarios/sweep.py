"""Parameter sweeps: every combination of a scenario's ``sweep.parameters`` × ``sweep.seeds`` is one run.

Owns expanding the grid, running the combinations in parallel processes (``ProcessPoolExecutor``; each run
builds its own world and serves it on its own loopback ports, so runs share nothing), reading the chosen
metrics from each run, and writing ``sweep.csv`` plus ``sweep.png`` (each metric's mean over seeds against the
x parameter, with 95% confidence intervals); also the command line's overrides of the grid (``--set
NAME=V1,V2``) and the progress bar over runs (stderr, only on a terminal). Results never depend on the number
of workers: rows are sorted by combination. It must not define how one run works (``runner``).
"""

from __future__ import annotations

import itertools
import math
import re
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError
from tqdm import tqdm

from gateway.core.arguments import UsageError, did_you_mean
from scenarios.checks import resolve_path
from scenarios.export import atomic_path, write_rows
from scenarios.results import RunResult
from scenarios.runner import run_scenario
from scenarios.schema import SWEEPABLE, Metric, Scenario

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


def run_grid(scenario: Scenario, base_dir: Path, workers: int | None = None, *, progress: bool = False,
             err: TextIO | None = None) -> list[dict[str, Any]]:
    """Run every combination (in parallel when ``workers`` > 1); rows in grid order.

    With ``progress``, a bar counts finished runs on ``err`` (stderr) when that is a terminal.
    """
    assert scenario.sweep is not None
    combos = grid(scenario)
    data = scenario.model_dump(mode="json", exclude_unset=True)
    n = max(1, min(workers or scenario.sweep.workers, len(combos)))
    err = err or sys.stderr
    with progress_bar(len(combos), scenario.name, progress, err) as bar:
        if n == 1:
            rows = []
            for c in combos:
                rows.append(_job(data, str(base_dir), c.values, c.seed))
                bar.update(1)
            return rows
        with ProcessPoolExecutor(max_workers=n) as pool:
            futures = [pool.submit(_job, data, str(base_dir), c.values, c.seed) for c in combos]
            for _ in as_completed(futures):
                bar.update(1)
            return [f.result() for f in futures]


def show_progress(wanted: bool, stream: TextIO) -> bool:
    """Whether to draw a progress bar: asked for (not ``--quiet``) and ``stream`` is a terminal."""
    isatty = getattr(stream, "isatty", None)
    return wanted and callable(isatty) and bool(isatty())


def progress_bar(total: int, name: str, wanted: bool, stream: TextIO) -> tqdm[Any]:
    """The sweep's bar over runs (disabled unless :func:`show_progress`)."""
    return tqdm(total=total, unit="run", desc=f"sweep {name}", file=stream, leave=False,
                disable=not show_progress(wanted, stream))


# -- overrides from the command line ----------------------------------------------------------------------
NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def parse_override(text: str) -> tuple[str, list[float | int]]:
    """``NAME=V1,V2,...`` as (name, values): integers stay integers; a bad form raises :class:`UsageError`."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise UsageError(f"--set {text}: expected NAME=VALUE[,VALUE...], e.g. world.subscribers=1000,2000")
    parts = [p.strip() for p in raw.split(",")]
    if not raw.strip() or any(not p for p in parts):
        raise UsageError(f"--set {text}: give one or more comma-separated values")
    values: list[float | int] = []
    for part in parts:
        if not NUMBER.match(part):
            raise UsageError(f"--set {text}: {part!r} is not a number")
        values.append(int(part) if re.fullmatch(r"[+-]?\d+", part) else float(part))
    return name, values


def apply_overrides(scenario: Scenario, overrides: list[str]) -> Scenario:
    """The scenario with its sweep's values replaced (``NAME=...`` for a sweepable parameter, ``seeds=...``).

    A parameter the file does not sweep is added to the grid. Every problem is a :class:`UsageError` naming the
    override: a name that cannot be swept, a value the scenario would refuse.
    """
    if not overrides:
        return scenario
    if scenario.sweep is None:
        raise UsageError(f"--set: scenario {scenario.name!r} has no sweep section")
    data = scenario.model_dump(mode="json", exclude_unset=True)
    sweep = data["sweep"]
    parsed = [(text, *parse_override(text)) for text in overrides]
    for text, name, values in parsed:
        if name == "seeds":
            if any(not isinstance(v, int) or v < 0 for v in values):
                raise UsageError(f"--set {text}: seeds are whole numbers ≥ 0")
            sweep["seeds"] = values
        elif name in SWEEPABLE:
            sweep.setdefault("parameters", {})[name] = values
        else:
            raise UsageError(f"--set {text}: cannot sweep {name!r}{did_you_mean(name, [*SWEEPABLE, 'seeds'])}; "
                             f"sweepable: seeds, {', '.join(SWEEPABLE)}")
    try:
        changed = Scenario.model_validate(data)
    except ValidationError as exc:
        raise UsageError(f"--set {' '.join(overrides)}: {_first_problem(exc)}") from None
    assert changed.sweep is not None
    seed = changed.sweep.seeds[0]
    for text, name, values in parsed:
        if name == "seeds":
            continue
        for value in values:  # each value once, at the base settings: a value the scenario refuses is named
            try:
                variant(changed, Combination(((name, value),), seed))
            except ValidationError as exc:
                raise UsageError(f"--set {text}: {value} is refused for {name}: {_first_problem(exc)}") from None
    return changed


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error.get("loc", ()))
    return f"{where}: {error.get('msg')}" if where else str(error.get("msg"))


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
              progress: bool = False, workers: int | None = None, err: TextIO | None = None) -> int:
    """``opsim run`` of a file with a sweep section: run the grid, write ``sweep.csv`` and ``sweep.png``."""
    assert scenario.sweep is not None
    out = out or sys.stdout
    combos = grid(scenario)
    print(f"sweep     {scenario.name}: {len(combos)} runs "
          f"({' × '.join(f'{len(v)} {k}' for k, v in scenario.sweep.parameters.items())} × "
          f"{len(scenario.sweep.seeds)} seeds)", file=out)
    rows = run_grid(scenario, base_dir, workers, progress=progress, err=err)
    columns = [*scenario.sweep.parameters, "seed", *(m.name for m in scenario.sweep.metrics), "passed", "digest"]
    out_dir.mkdir(parents=True, exist_ok=True)
    write_rows(out_dir / "sweep.csv", columns, ([r.get(c) for c in columns] for r in rows), "csv")
    plot_sweep(scenario, rows, out_dir / "sweep.png")
    failed = sum(not r["passed"] for r in rows)
    print(f"result    {len(rows) - failed}/{len(rows)} runs passed their expectations", file=out)
    print(f"wrote     {out_dir}/ (sweep.csv, sweep.png)", file=out)
    return 1 if failed else 0
