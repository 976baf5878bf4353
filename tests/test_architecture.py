"""The import contracts of `.importlinter` (layers, floors, wire-only client, cycle-free) hold, and the floors
that must stay HTTP-free import nothing of aiohttp's server side."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """`lint-imports` passes: every contract in .importlinter is kept."""
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename=str(ROOT / ".importlinter"), no_cache=True) == 0


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize("floor", ["gateway/core", "gateway/services", "gateway/wire"])
def test_floor_has_no_aiohttp_server(floor: str) -> None:
    """core, services and wire never import aiohttp.web (import-linter only sees top-level external packages)."""
    offenders = {str(p.relative_to(ROOT)): sorted(i for i in _imports(p) if i.startswith("aiohttp.web"))
                 for p in (ROOT / floor).rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_gateway_asks_the_world_rather_than_its_parts() -> None:
    """No gateway module reads the world's population, network, SIM cards or streams (import-linter sees only
    imports, not attribute access): it uses the World's own questions (``index_of``, ``cell_count``...)."""
    parts = re.compile(r"\bworld\.(population|network|sims|streams)\b")
    offenders = {str(p.relative_to(ROOT)): parts.findall(p.read_text()) for p in (ROOT / "gateway").rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}
