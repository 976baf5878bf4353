"""Operator files in YAML or JSON (settings, seed data): read once, with positions for one-line errors.

Owns :func:`read_document` (the text parsed twice: as data, and as a node tree that keeps line numbers) and
:func:`line_of` (the ``:line`` of an entry, for messages like ``operator.yaml:12: campaigns.max_radius_m: ...``).
Callers decide what the data means and which error class names the problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml


def read_document(path: str | Path, error: type[ValueError]) -> tuple[Path, yaml.Node | None, Any]:
    """The file at ``path`` as (path, node tree, data); ``error`` with one line if it cannot be read or parsed."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise error(f"{source}: cannot read: {reason}") from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise error(f"{source}{where}: not valid YAML or JSON: {getattr(exc, 'problem', exc)}") from None
    return source, node, data


def line_of(node: yaml.Node | None, path: Sequence[int | str]) -> str:
    """``:line`` of the entry at ``path`` in the node tree (as deep as it can be followed; empty without a tree)."""
    mark = node.start_mark if node is not None and path else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part),
                         None)
            if found is None:
                break
            mark, node = found[0].start_mark, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            mark = node.start_mark
        else:
            break
    return f":{mark.line + 1}" if mark is not None else ""
