"""The FCM condition language: what parses, what it means, and what is refused (INVALID_ARGUMENT)."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.services.apps.topics import ConditionError, parse_condition, topic_name

A = np.array([True, True, False, False, True])
B = np.array([True, False, True, False, False])
C = np.array([False, False, False, True, True])
MASKS = {"a": A, "b": B, "c": C, "d": np.zeros(5, bool), "e": np.ones(5, bool), "f": A}


@pytest.mark.parametrize(("condition", "expected"), [
    ("'a' in topics", A),  # one topic
    ('"a" in topics', A),  # double quotes
    ("'a' in topics && 'b' in topics", A & B),  # and
    ("'a' in topics || 'c' in topics", A | C),  # or
    ("'a' in topics && ('b' in topics || 'c' in topics)", A & (B | C)),  # FCM's documented example
    ("'a' in topics || 'b' in topics && 'c' in topics", A | (B & C)),  # && binds tighter than ||
    ("('a' in topics || 'b' in topics) && 'c' in topics", (A | B) & C),  # parentheses override
    ("!('a' in topics)", ~A),  # negation
    ("'a' in topics && !'b' in topics", A & ~B),  # negation of a bare operand
    ("  'a'   in   topics&&'b' in topics  ", A & B),  # whitespace is free
    ("'a' in topics && 'b' in topics && 'c' in topics && 'd' in topics && 'e' in topics", A & B & C),  # five
    ("'a' in topics || 'a' in topics || 'b' in topics || 'c' in topics || 'd' in topics || 'e' in topics",
     A | B | C),  # a topic named twice counts once
    ("(" * 32 + "'a' in topics" + ")" * 32, A),  # the deepest nesting allowed
    ("!!'a' in topics", A),  # double negation
])
def test_condition_means(condition: str, expected: np.ndarray) -> None:
    """A valid condition evaluates over the subscription masks as FCM defines it."""
    parsed = parse_condition(condition)
    assert parsed.evaluate({t: MASKS[t] for t in parsed.topics}).tolist() == expected.tolist()


@pytest.mark.parametrize("condition", [
    "",  # empty
    "   ",  # blank
    "'a'",  # no "in topics"
    "'a' in",  # cut short
    "'a' in topic",  # misspelt keyword
    "a in topics",  # unquoted topic
    "'a' in topics &&",  # dangling operator
    "'a' in topics & 'b' in topics",  # single ampersand
    "'a' in topics 'b' in topics",  # missing operator
    "('a' in topics",  # unclosed parenthesis
    "'a' in topics)",  # stray parenthesis
    "'a b' in topics",  # invalid topic name
    "'' in topics",  # empty topic name
    "'a' in topics || 'b' in topics || 'c' in topics || 'd' in topics || 'e' in topics || 'f' in topics",  # six
    "(" * 2000 + "'a' in topics" + ")" * 2000,  # nesting past Python's recursion limit (was a RecursionError)
    "!" * 3000 + "'a' in topics",  # the same with negations
    " || ".join(["'a' in topics"] * 51),  # too many operands
])
def test_invalid_conditions_are_refused(condition: str) -> None:
    """Anything else is a ConditionError (the send answers INVALID_ARGUMENT)."""
    with pytest.raises(ConditionError):
        parse_condition(condition)


@pytest.mark.parametrize(("value", "name"), [
    ("/topics/news", "news"),  # Instance ID form
    ("news", "news"),  # bare name
    ("a-b_c.d~e%f", "a-b_c.d~e%f"),  # every allowed character
    ("/topics/", None),  # no name
    ("news feed", None),  # space
    ("/topic/news", None),  # wrong prefix
])
def test_topic_names(value: str, name: str | None) -> None:
    """Topic names follow FCM's pattern, with or without the /topics/ prefix."""
    assert topic_name(value) == name
