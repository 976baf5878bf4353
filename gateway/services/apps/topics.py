"""FCM topics: which installs subscribed to which topic, and the FCM condition language over them.

Owns :class:`Topics` (subscriptions per app as sets of install rows, stored in ``app_topics`` and loaded again after
a restart; managed like the Instance ID API does, by registration token) and :func:`parse_condition`, which reads an
FCM condition (``'a' in topics && ('b' in topics || 'c' in topics)``: ``&&`` binds tighter than ``||``, ``!``
negates, parentheses group, at most :data:`MAX_CONDITION_TOPICS` distinct topics, bounded nesting and length) into a
:class:`Condition` that is evaluated over a whole install table at once. A subscription belongs to the install, not
to one token: the Firebase SDKs subscribe again after a token refresh, so a refresh keeps it; an uninstall ends it
(an uninstalled row receives nothing).
It must not know about HTTP or delivery.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gateway.services.apps.model import AppRecord
from gateway.services.apps.repository import AppRepository

MAX_CONDITION_TOPICS = 5
"""FCM allows up to five topics in a condition."""
MAX_NESTING = 32
"""Deepest nesting of parentheses and negations a condition may have (a bound, not FCM's: FCM's five topics make
deeper conditions pointless, and it keeps parsing and evaluation off Python's recursion limit)."""
MAX_OPERANDS = 50
"""Most ``'x' in topics`` operands one condition may have (a topic named again counts again here)."""
TOPIC_NAME = re.compile(r"[a-zA-Z0-9\-_.~%]{1,900}")
"""What a topic name may be (FCM's pattern)."""
TOPIC_PATH = re.compile(r"(/topics/)?([a-zA-Z0-9\-_.~%]{1,900})")
"""A topic as the Instance ID API and FCM sends name it: ``/topics/<name>`` or the bare name."""

_TOKEN = re.compile(r"\s*(?:(?P<str>'[^']*'|\"[^\"]*\")|(?P<op>&&|\|\||!|\(|\))|(?P<word>[A-Za-z]+))")


class ConditionError(ValueError):
    """A condition that is not FCM's condition language (or names more than five topics)."""


@dataclass(frozen=True)
class Condition:
    """A parsed condition: a tree of ``("topic", name)``, ``("not", c)``, ``("and", a, b)``, ``("or", a, b)``."""

    tree: tuple[object, ...]
    topics: frozenset[str]

    def evaluate(self, masks: dict[str, NDArray[np.bool_]]) -> NDArray[np.bool_]:
        """Which rows match, given each topic's subscription mask (all of one length)."""
        return _eval(self.tree, masks)


def _eval(node: tuple[object, ...], masks: dict[str, NDArray[np.bool_]]) -> NDArray[np.bool_]:
    kind = node[0]
    if kind == "topic":
        return masks[str(node[1])]
    if kind == "not":
        return ~_eval(node[1], masks)  # type: ignore[arg-type]
    left, right = _eval(node[1], masks), _eval(node[2], masks)  # type: ignore[arg-type]
    return (left & right) if kind == "and" else (left | right)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ConditionError(f"Invalid condition near {text[pos:pos + 20]!r}.")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.topics: set[str] = set()
        self.depth = 0
        self.operands = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str) -> bool:
        tok = self.peek()
        if tok is not None and tok[1] == value:
            self.i += 1
            return True
        return False

    def expr(self) -> tuple[object, ...]:
        node = self.term()
        while self.take("||"):
            node = ("or", node, self.term())
        return node

    def term(self) -> tuple[object, ...]:
        node = self.factor()
        while self.take("&&"):
            node = ("and", node, self.factor())
        return node

    def factor(self) -> tuple[object, ...]:
        if self.peek() is not None and self.peek()[1] in ("!", "("):  # type: ignore[index]
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise ConditionError(f"The condition nests deeper than {MAX_NESTING} levels.")
            try:
                if self.take("!"):
                    return ("not", self.factor())
                self.take("(")
                node = self.expr()
                if not self.take(")"):
                    raise ConditionError("Invalid condition: a parenthesis is not closed.")
                return node
            finally:
                self.depth -= 1
        tok = self.peek()
        if tok is None or tok[0] != "str":
            raise ConditionError("Invalid condition: expected a quoted topic name.")
        self.i += 1
        name = tok[1][1:-1]
        if not TOPIC_NAME.fullmatch(name):
            raise ConditionError(f"Invalid topic name {name!r} in the condition.")
        if not (self.take("in") and self.take("topics")):
            raise ConditionError(f"Invalid condition: expected 'in topics' after {tok[1]}.")
        self.topics.add(name)
        self.operands += 1
        if self.operands > MAX_OPERANDS:
            raise ConditionError(f"A condition may have at most {MAX_OPERANDS} operands.")
        return ("topic", name)


def parse_condition(text: str) -> Condition:
    """The condition ``text`` means; :class:`ConditionError` when it is not one (FCM answers INVALID_ARGUMENT)."""
    parser = _Parser(text)
    if not parser.toks:
        raise ConditionError("The condition is empty.")
    tree = parser.expr()
    if parser.peek() is not None:
        raise ConditionError(f"Invalid condition: unexpected {parser.peek()[1]!r}.")  # type: ignore[index]
    if len(parser.topics) > MAX_CONDITION_TOPICS:
        raise ConditionError(f"A condition may name at most {MAX_CONDITION_TOPICS} topics.")
    return Condition(tree, frozenset(parser.topics))


def topic_name(value: str) -> str | None:
    """The topic a ``/topics/<name>`` (or bare name) denotes, ``None`` when it is not a valid topic."""
    m = TOPIC_PATH.fullmatch(value)
    return None if m is None else m.group(2)


class Topics:
    """Topic subscriptions of every app (install rows per topic)."""

    def __init__(self, repository: AppRepository) -> None:
        self.repository = repository
        self._subs: dict[int, dict[str, set[int]]] = {}

    def resume(self) -> None:
        """Load the stored subscriptions (the store is open)."""
        self._subs.clear()
        for app_seq, topic, row in self.repository.topics():
            self._subs.setdefault(app_seq, {}).setdefault(topic, set()).add(row)

    def change(self, app: AppRecord, topic: str, rows: Sequence[int], subscribed: bool) -> None:
        """Subscribe (or unsubscribe) install rows of ``app`` to ``topic``."""
        if not rows:
            return
        self.repository.subscribe(app.seq, topic, rows, subscribed)
        members = self._subs.setdefault(app.seq, {}).setdefault(topic, set())
        if subscribed:
            members.update(rows)
        else:
            members.difference_update(rows)

    def rows(self, app: AppRecord, topic: str) -> set[int]:
        """Rows subscribed to ``topic`` (installed or not)."""
        return self._subs.get(app.seq, {}).get(topic, set())

    def mask(self, app: AppRecord, topic: str, size: int) -> NDArray[np.bool_]:
        """Subscription mask of ``topic`` over an install table of ``size`` rows."""
        mask = np.zeros(size, dtype=bool)
        rows = self.rows(app, topic)
        if rows:
            mask[np.fromiter(rows, dtype=np.int64, count=len(rows))] = True
        return mask
