"""Wire models of the admin subscriber view."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.wire.admin_subscribers import ConsentRecord


@pytest.mark.parametrize(("channel", "expected"), [
    # A change on every channel of a purpose: the null channel stays on the wire (None fields are left out).
    (None, '{"at":"2026-06-01T06:00:00Z","purpose":"ANALYTICS","channel":null,"granted":true,"source":"ADMIN"}'),
    # A change on one channel.
    ("SMS", '{"at":"2026-06-01T06:00:00Z","purpose":"ANALYTICS","channel":"SMS","granted":true,"source":"ADMIN"}'),
])
def test_consent_record_keeps_its_channel(channel: str | None, expected: str) -> None:
    """A consent record serialises its channel even when it is null (meaning every channel)."""
    record = ConsentRecord(at=datetime(2026, 6, 1, 6, tzinfo=UTC), purpose="ANALYTICS", channel=channel,
                           granted=True, source="ADMIN")
    assert record.model_dump_json(by_alias=True, exclude_none=True) == expected
    assert ConsentRecord.model_validate_json(expected) == record
