"""Reading the seed file of ``opsim serve --seed-data FILE`` (YAML or JSON).

Owns parsing and validating the file against :class:`gateway.wire.seed.SeedData` before anything is built, and
turning the first problem into one line naming the file, its line and the entry (``partners[1].scopes[0]``).
It must not create anything: ``gateway.http.serve`` applies the seed through the admin API once serving.
"""

from __future__ import annotations

from pathlib import Path

import pydantic

from gateway.core.documents import line_of, read_document
from gateway.wire.seed import SeedData


class SeedError(ValueError):
    """A seed file that cannot be used; the message is one line naming the file, position and problem."""


def _where(path: tuple[int | str, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def load_seed(path: str | Path) -> SeedData:
    """The partners and test phones of the seed file at ``path``; :class:`SeedError` (one line) if unusable."""
    source, node, data = read_document(path, SeedError)
    if data is None:
        return SeedData()
    if not isinstance(data, dict):
        raise SeedError(f"{source}:1: (top level): expected a mapping with 'partners' and 'testPhones'")
    try:
        seed = SeedData.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        raise SeedError(f"{source}{line_of(node, loc)}: {_where(loc)}: {first['msg']}") from None
    seen: set[str] = set()
    for k, phone in enumerate(seed.test_phones):
        if phone.msisdn in seen:
            loc = ("testPhones", k, "msisdn")
            raise SeedError(f"{source}{line_of(node, loc)}: {_where(loc)}: {phone.msisdn} is listed twice")
        seen.add(phone.msisdn)
    return seed
