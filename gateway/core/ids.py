"""Public ids: prefixed strings over counters (``ptn_000001``), written and parsed in one place.

Every kind of id has its prefix here and a fixed number of digits (:data:`DIGITS`); :func:`format_id` writes one
and :func:`parse_public_id` reads one back, for every service.
"""

from __future__ import annotations

from gateway.wire.base import MAX_ID

CAMPAIGN_PREFIX = "cmp_"
JOURNEY_PREFIX = "jny_"
ENROLMENT_PREFIX = "enr_"
MESSAGE_PREFIX = "msg_"
SENDER_PREFIX = "snd_"
TEMPLATE_PREFIX = "tpl_"
VERIFICATION_PREFIX = "vrf_"
PARTNER_PREFIX = "ptn_"
KEY_PREFIX = "key_"
GEOFENCING_PREFIX = "gfs_"
SIM_SWAP_SUBSCRIPTION_PREFIX = "sss_"
OPERATION_PREFIX = "op_"
APP_PREFIX = "app_"
PUSH_PREFIX = "psh_"
PUSH_FANOUT_PREFIX = "pst_"
SOURCE_PREFIX = "src_"
AUDIENCE_PREFIX = "aud_"
TRIGGER_PREFIX = "trg_"

DIGITS: dict[str, int] = {
    CAMPAIGN_PREFIX: 6, JOURNEY_PREFIX: 6, ENROLMENT_PREFIX: 8, MESSAGE_PREFIX: 8, SENDER_PREFIX: 8,
    TEMPLATE_PREFIX: 8, VERIFICATION_PREFIX: 8, PARTNER_PREFIX: 6, KEY_PREFIX: 6, GEOFENCING_PREFIX: 6,
    SIM_SWAP_SUBSCRIPTION_PREFIX: 6, OPERATION_PREFIX: 6,
    APP_PREFIX: 6, PUSH_PREFIX: 8, PUSH_FANOUT_PREFIX: 8,
    SOURCE_PREFIX: 6, AUDIENCE_PREFIX: 6, TRIGGER_PREFIX: 6,
}
"""Zero-padded digits of each kind of id (a larger counter simply takes more digits)."""


def format_id(prefix: str, number: int) -> str:
    """Wire id of counter ``number`` of the kind ``prefix`` (``format_id(CAMPAIGN_PREFIX, 1)`` is ``cmp_000001``)."""
    return f"{prefix}{number:0{DIGITS[prefix]}d}"


def partner_public_id(partner_id: int) -> str:
    """Wire id of a partner (``ptn_000001``)."""
    return format_id(PARTNER_PREFIX, partner_id)


def key_public_id(key_id: int) -> str:
    """Wire id of an API key (``key_000001``)."""
    return format_id(KEY_PREFIX, key_id)


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
