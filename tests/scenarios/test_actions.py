"""The action registry: every step kind of the schema has exactly one action; unknown kinds are refused."""

from __future__ import annotations

import pytest

from scenarios.actions import ACTIONS, action, handler
from scenarios.loader import ScenarioFileError, load_text
from scenarios.schema import STEP_ACTIONS, Step

HEAD = "name: t\nstart: 2026-06-06T14:00:00Z\nsteps:\n"
STEP_OPTIONS = {"id", "at", "partner", "expect_error"}
"""Step keys that are not actions."""


def test_every_step_kind_has_an_action() -> None:
    """The registry holds one action for each step kind the schema accepts, and nothing else."""
    assert sorted(ACTIONS) == sorted(STEP_ACTIONS)


def test_step_kinds_are_the_step_fields() -> None:
    """Every field of a step is an action key or one of its options, so no kind escapes the registry."""
    assert set(Step.model_fields) == set(STEP_ACTIONS) | STEP_OPTIONS


def test_registering_an_unknown_kind_is_refused() -> None:
    """An action for a kind the schema does not know cannot be registered."""
    with pytest.raises(ValueError, match="unknown step kind 'teleport'"):
        handler("teleport")
    assert "teleport" not in ACTIONS


def test_registering_a_kind_twice_is_refused() -> None:
    """A second action for a registered kind is an error, not a silent replacement."""
    before = dict(ACTIONS)
    with pytest.raises(ValueError, match="'advance' already has an action"):
        action("advance")
    assert dict(ACTIONS) == before


@pytest.mark.parametrize(("key", "message"), [
    # nothing close: the plain message
    ("teleport", "<scenario>:4:5: steps[0].teleport: unknown field"),
    # a typo of an action: the action is suggested
    ("advnce", "<scenario>:4:5: steps[0].advnce: unknown field; did you mean 'advance'?"),
    # a dash for an underscore
    ("create-campaign", "<scenario>:4:5: steps[0].create-campaign: unknown field; did you mean 'create_campaign'?"),
    # a step option is a step key too
    ("expect_eror", "<scenario>:4:5: steps[0].expect_eror: unknown field; did you mean 'expect_error'?"),
])
def test_unknown_kind_is_refused_at_load_time(key: str, message: str) -> None:
    """A step with an unknown action key does not load; the problem names the key and a close step key."""
    with pytest.raises(ScenarioFileError) as info:
        load_text(HEAD + f"  - {key}: PT1H\n")
    assert [str(p) for p in info.value.problems] == [message]
