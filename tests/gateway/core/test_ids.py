"""Every prefixed wire id is written and read by gateway.core.ids, with the digits each kind has always had."""

from __future__ import annotations

import pytest

from gateway.core import ids
from gateway.core.errors import InvalidMessage


@pytest.mark.parametrize(("prefix", "number", "wire"), [
    (ids.CAMPAIGN_PREFIX, 1, "cmp_000001"),  # campaigns: 6 digits
    (ids.JOURNEY_PREFIX, 12, "jny_000012"),  # journeys: 6 digits
    (ids.ENROLMENT_PREFIX, 3, "enr_00000003"),  # enrolments: 8 digits
    (ids.MESSAGE_PREFIX, 3, "msg_00000003"),  # direct messages: 8 digits
    (ids.VERIFICATION_PREFIX, 7, "vrf_00000007"),  # verifications: 8 digits
    (ids.PARTNER_PREFIX, 1, "ptn_000001"),  # partners: 6 digits
    (ids.KEY_PREFIX, 2, "key_000002"),  # API keys: 6 digits
    (ids.CAMPAIGN_PREFIX, 1_234_567, "cmp_1234567"),  # a larger counter takes more digits
])
def test_format_and_parse(prefix: str, number: int, wire: str) -> None:
    """format_id writes the id; parse_public_id reads the counter back."""
    assert ids.format_id(prefix, number) == wire
    assert ids.parse_public_id(wire, prefix) == number


def test_every_prefix_has_its_digits() -> None:
    """No prefix constant without a width."""
    prefixes = {v for k, v in vars(ids).items() if k.endswith("_PREFIX")}
    assert prefixes == set(ids.DIGITS)


@pytest.mark.parametrize(("api", "code"), [
    ("CAMPAIGNS", "CAMPAIGNS.INVALID_MESSAGE"),  # /campaigns/v1
    ("MESSAGES", "MESSAGES.INVALID_MESSAGE"),  # /messages/v1
])
def test_invalid_message_names_its_api(api: str, code: str) -> None:
    """One InvalidMessage for every API, 400 with the API's code."""
    info = InvalidMessage("too long", api=api).info()
    assert (info.status, info.code, info.message) == (400, code, "too long")
