"""Reading the seed file of ``opsim serve --seed-data FILE`` (YAML or JSON).

Owns parsing and validating the file against :class:`gateway.wire.seed.SeedData` before anything is built, and
turning the first problem into one line naming the file, its line and the entry (``partners[1].scopes[0]``).
It must not create anything: ``gateway.http.serve`` applies the seed through the admin API once serving.
"""

from __future__ import annotations

from pathlib import Path

import pydantic
import yaml

from gateway.wire.seed import SeedData


class SeedError(ValueError):
    """A seed file that cannot be used; the message is one line naming the file, position and problem."""


def _where(path: tuple[int | str, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _line(node: yaml.Node | None, path: tuple[int | str, ...]) -> str:
    """``:line`` of the entry at ``path`` in the composed YAML (as deep as it can be followed)."""
    mark = node.start_mark if node is not None else None
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


def load_seed(path: str | Path) -> SeedData:
    """The partners and test phones of the seed file at ``path``; :class:`SeedError` (one line) if unusable."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SeedError(f"{source}: cannot read: {reason}") from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise SeedError(f"{source}{where}: not valid YAML or JSON: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return SeedData()
    if not isinstance(data, dict):
        raise SeedError(f"{source}:1: (top level): expected a mapping with 'partners' and 'testPhones'")
    try:
        seed = SeedData.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        raise SeedError(f"{source}{_line(node, loc)}: {_where(loc)}: {first['msg']}") from None
    seen: set[str] = set()
    for k, phone in enumerate(seed.test_phones):
        if phone.msisdn in seen:
            loc = ("testPhones", k, "msisdn")
            raise SeedError(f"{source}{_line(node, loc)}: {_where(loc)}: {phone.msisdn} is listed twice")
        seen.add(phone.msisdn)
    return seed
