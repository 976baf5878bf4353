"""Front ends of ``opsim run``, ``opsim scenarios`` and ``opsim demo``: load, run, write, summarise, exit code.

Owns the exit codes (0 all expectations met, 1 an expectation or step failed, 2 a bad file or a world that
cannot be built: every problem one line ``file:line:column: field: problem``) and the short human summary.
It must not define the file format (``schema``), the run (``runner``) or the outputs (``report``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, TextIO

from scenarios.loader import LIBRARY, ScenarioFileError, headline, library, load, resolve
from scenarios.results import RunResult
from scenarios.runner import RunError, run_scenario

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def summarise(result: RunResult, out: TextIO, wall_s: float) -> None:
    """A short readable account of a run."""
    s = result.summary
    print(f"scenario  {result.scenario.name}: {s['city']}, {s['subscribers']:,} subscribers, {s['cells']:,} cells, "
          f"seed {result.seed}", file=out)
    for step in result.steps:
        mark = "ok  " if step.ok else "FAIL"
        detail = ""
        if step.error:
            detail = f" — {step.error.get('code')}: {step.error.get('message')}"
        elif step.checks:
            detail = f" — {sum(c.ok for c in step.checks)}/{len(step.checks)} checks met"
        elif step.action == "estimate" and isinstance(step.answer, dict):
            audience = step.answer.get("estimatedAudience")
            detail = f" — estimated audience {'withheld' if audience is None else f'{audience:,}'}"
        elif step.action == "create_campaign" and isinstance(step.answer, dict):
            detail = f" — {step.answer.get('id')} {step.answer.get('status')}"
        elif isinstance(step.answer, dict):
            detail = _app_detail(step.action, step.answer)
        label = step.id or step.action
        local = step.at.astimezone(result.world.tz)
        print(f"  {mark} {local:%a %H:%M} {label}{'' if label == step.action else f' ({step.action})'}{detail}",
              file=out)
        for c in step.checks:
            if not c.ok:
                print(f"         ✗ {c.name}: {c.message}", file=out)
    for campaign in result.campaigns:
        print(f"campaign  {campaign.get('summary', campaign.get('id'))}", file=out)
    checks = result.checks
    met = sum(c.ok for c in checks)
    verdict = "FAILED" if result.failed else "passed"
    print(f"result    {verdict}: {met}/{len(checks)} expectations met, {len(result.webhooks)} webhooks received, "
          f"{len(result.deliveries)} delivery records; simulated to {result.world.clock.now:%Y-%m-%d %H:%M} UTC "
          f"in {wall_s:.1f} s", file=out)
    print(f"digest    sha256:{result.digest}", file=out)


def _app_detail(action: str, a: dict[str, Any]) -> str:
    """The summary of an app, CDP, trigger or push step's answer (empty for other steps)."""
    if action == "register_app":
        return f" — {a.get('id')}, {a.get('installs', 0):,} installs"
    if action == "define_audience":
        return f" — {a.get('id')}"
    if action == "export_audience":
        return f" — {a.get('total', 0):,} members"
    if action == "track":
        return f" — {a.get('accepted', 0):,} calls accepted"
    if action == "subscribe_topic":
        return f" — {a.get('done', 0):,}/{a.get('tokens', 0):,} tokens"
    if action == "set_app_permissions":
        return f" — {a.get('installationId')}"
    if action == "define_trigger":
        return f" — {a.get('id')}"
    if action == "delete_trigger":
        return f" — {a.get('deleted')} after {a.get('fires', 0):,} fires"
    if action == "send_push" and "targets" in a:
        errors = ", ".join(f"{k} {v:,}" for k, v in a.get("errors", {}).items())
        return f" — {a.get('accepted', 0):,}/{a.get('targets', 0):,} accepted" + (f" ({errors})" if errors else "")
    if action == "send_push":
        return f" — {str(a.get('name', '')).rsplit('/', 1)[-1]}"
    return ""


def run_file(name_or_path: str, *, seed: int | None = None, out_dir: Path | None = None, progress: bool = True,
             out: TextIO | None = None, err: TextIO | None = None, overrides: list[str] | None = None,
             workers: int | None = None) -> int:
    """``opsim run``: returns the exit code (``overrides`` and ``workers`` apply to a sweep only)."""
    out, err = out or sys.stdout, err or sys.stderr
    started = time.monotonic()
    path = resolve(name_or_path)
    if path.parent == LIBRARY and not path.exists():  # a name, not a file: say which names exist
        from gateway.core.arguments import did_you_mean

        names = [name for name, _ in library()]
        print(f"opsim run: unknown scenario {name_or_path!r}{did_you_mean(name_or_path, names)} "
              f"(`opsim scenarios` lists them; a file path works too)", file=err)
        return EXIT_BAD_INPUT
    try:
        scenario = load(path)
        if overrides:
            from scenarios.sweep import apply_overrides

            scenario = apply_overrides(scenario, overrides)  # a bad one: UsageError, one line, exit 2
        if scenario.sweep is not None:
            from gateway.core.arguments import output_dir
            from scenarios.sweep import run_sweep

            sweep_dir = out_dir or Path(f"{scenario.name}-sweep")
            output_dir(sweep_dir, "--out")  # the default place too, before any run
            return run_sweep(scenario, path.parent, sweep_dir, out=out, progress=progress, workers=workers,
                             err=err)
        result = run_scenario(scenario, seed=seed, base_dir=path.parent, progress=progress)
    except ScenarioFileError as exc:
        for problem in exc.problems:
            print(problem, file=err)
        return EXIT_BAD_INPUT
    except RunError as exc:
        print(f"{path}: {exc}", file=err)
        return EXIT_BAD_INPUT
    summarise(result, out, time.monotonic() - started)
    if out_dir is not None:
        from scenarios.report import write_outputs

        written = write_outputs(result, out_dir)
        print(f"wrote     {written.report.parent}/ (report.json, transcript.jsonl, deliveries.csv, map.png, "
              f"hourly.png)", file=out)
    return EXIT_FAILED if result.failed else EXIT_OK


def list_scenarios(out: TextIO | None = None) -> int:
    """``opsim scenarios``: one line per library scenario."""
    out = out or sys.stdout
    entries = library()
    width = max((len(name) for name, _ in entries), default=0)
    for name, path in entries:
        print(f"{name:<{width}}  {headline(path)}", file=out)
    return EXIT_OK


DEMO = "demo"
"""The library scenario ``opsim demo`` runs."""


def run_demo(out_dir: Path | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """``opsim demo``: the default library scenario, summarised."""
    out = out or sys.stdout
    print(f"opsim demo: running the library scenario '{DEMO}' (see `opsim scenarios` for more)", file=out)
    return run_file(DEMO, out_dir=out_dir, progress=False, out=out, err=err)
