"""Public ids: prefixed strings over counters (``ptn_000001``), written and parsed in one place.
"""

from __future__ import annotations

from gateway.wire.base import MAX_ID

PARTNER_PREFIX = "ptn_"


KEY_PREFIX = "key_"


def partner_public_id(partner_id: int) -> str:
    """Wire id of a partner (``ptn_000001``)."""
    return f"{PARTNER_PREFIX}{partner_id:06d}"


def key_public_id(key_id: int) -> str:
    """Wire id of an API key (``key_000001``)."""
    return f"{KEY_PREFIX}{key_id:06d}"




def parse_public_id(value: str, prefix: str) -> int | None:
    """The counter behind a wire id (``<prefix><ASCII digits>``), or ``None`` when it is not one of ours.

    Every wire id with a counter is parsed here, so an id from a path, query or body whose number does not fit
    SQLite's int64 is simply unknown (404) rather than an overflow in a query.
    """
    digits = value[len(prefix):]
    # isdigit() alone admits digits int() refuses ("²") and other scripts' digits; 20 digits exceed int64 anyway.
    if not value.startswith(prefix) or not digits.isascii() or not digits.isdigit() or len(digits) > 19:
        return None
    number = int(digits)
    return number if number <= MAX_ID else None
