"""Scenario worlds accept a Faker locale override; an unknown one is a schema error naming the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from scenarios.schema import WorldSpec


def test_locale_is_accepted() -> None:
    """A known Faker locale passes through."""
    assert WorldSpec.model_validate({"city": "berlin", "locale": "en_GB"}).locale == "en_GB"


def test_unknown_locale_is_refused() -> None:
    """An unknown locale fails validation with its name in the message."""
    with pytest.raises(ValidationError, match="xx_XX"):
        WorldSpec.model_validate({"city": "berlin", "locale": "xx_XX"})
