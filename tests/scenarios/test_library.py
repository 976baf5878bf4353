"""Every library scenario passes its expectations and reproduces its golden transcript digest.

Golden digests live in ``tests/scenarios/golden/<name>.sha256``. They change whenever the simulator or the
gateway changes behaviour; regenerate them only on purpose::

    OPSIM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/scenarios/test_library.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scenarios.loader import library, load
from scenarios.runner import run_scenario

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("OPSIM_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize(("name", "path"), library(), ids=[name for name, _ in library()])
def test_library_scenario(name: str, path: Path) -> None:
    scenario = load(path)
    assert scenario.name == name, "a library file is named after its scenario"
    assert scenario.description.strip(), "every library scenario is documented at its top"
    result = run_scenario(scenario, base_dir=path.parent)  # a sweep file runs once at its base settings
    failures = [(s.id or s.action, s.error, [c.to_dict() for c in s.checks if not c.ok])
                for s in result.steps if not s.ok]
    assert not failures, failures
    golden = GOLDEN / f"{name}.sha256"
    if UPDATE:
        golden.write_text(result.digest + "\n", encoding="utf-8")
    assert golden.exists(), f"no golden digest for {name}; run with OPSIM_UPDATE_GOLDEN=1 to record it"
    assert result.digest == golden.read_text(encoding="utf-8").strip(), (
        f"{name}: the transcript changed; if intended, regenerate with OPSIM_UPDATE_GOLDEN=1")
