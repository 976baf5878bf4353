"""Audiences: the condition language, its validation, and the incremental columnar evaluation of memberships.

Owns :func:`compile_definition` (the JSON language: event counts with ``where`` property filters and time
windows, trait comparisons, group-trait comparisons (any of the profile's groups), ``and``/``or``/``not``; every
fault reported with its path as a 400) and :class:`AudienceState`, which keeps one numpy column per condition over
the partner's profiles (an event condition counts matching events inside its window; a trait or group-trait
condition holds its truth) and re-evaluates only the profiles a call, an app batch, a merge or the clock's advance
touched. Events in a window sit in a time-sorted queue per condition, so a tick expires them with one
``searchsorted``. It must not know about HTTP, SQL or how identities resolve (profile numbers and their roots are
given to it).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.core.errors import InvalidArgument
from gateway.services.cdp.model import RETENTION_DAYS
from gateway.wire.errors import ErrorDetail

DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
MAX_DEPTH = 8
MAX_CONDITIONS = 32
MAX_EXACT = 2**53
"""Largest integer a condition may compare with (exact as a float, so app event columns compare exactly)."""
OPS = ("eq", "neq", "gt", "gte", "lt", "lte", "in", "contains", "exists")
"""Comparisons of a ``where`` filter, a trait or a group-trait condition."""
_NUMERIC_OPS = {"gt", "gte", "lt", "lte"}

Scalar = str | int | float | bool


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    """Equality that tells booleans from numbers (``true`` is not ``1``) and numbers from strings."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)


@dataclass(frozen=True)
class Predicate:
    """One comparison of a named property or trait with a constant."""

    name: str
    op: str
    value: Any = None

    def test(self, present: bool, value: Any) -> bool:
        """Whether a value (absent when ``present`` is false) satisfies the comparison."""
        if self.op == "exists":
            return present and value is not None
        if not present:
            return self.op == "neq"
        match self.op:
            case "eq":
                return _same(value, self.value)
            case "neq":
                return not _same(value, self.value)
            case "in":
                return any(_same(value, v) for v in self.value)
            case "contains":
                return isinstance(value, str) and self.value in value
        if not _is_number(value):
            return False
        match self.op:
            case "gt":
                return bool(value > self.value)
            case "gte":
                return bool(value >= self.value)
            case "lt":
                return bool(value < self.value)
        return bool(value <= self.value)

    def test_dict(self, values: Mapping[str, Any]) -> bool:
        """Whether a properties or traits object satisfies the comparison."""
        return self.test(self.name in values, values.get(self.name))

    @cached_property
    def fast(self) -> Callable[[Mapping[str, Any]], bool]:
        """:meth:`test_dict` specialised for the common comparisons (the per-call hot path)."""
        name, value = self.name, self.value
        if self.op == "eq" and isinstance(value, str):
            return lambda d: d.get(name) == value  # JSON strings are plain str: only a str equals one
        if self.op in _NUMERIC_OPS and not isinstance(value, bool):
            compare = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}[self.op]

            def numeric(d: Mapping[str, Any]) -> bool:
                v: Any = d.get(name)
                return type(v) in (int, float) and bool(compare(v, value))  # int vs float: exact, no overflow

            return numeric
        return self.test_dict

    def mask(self, present: NDArray[np.bool_], column: NDArray[Any], numeric: bool) -> NDArray[np.bool_]:
        """The comparison over a column (``numeric``: float values, else strings), ``present`` where defined."""
        if self.op == "exists":
            return present.copy()
        if self.op in _NUMERIC_OPS:
            if not numeric:
                return np.zeros(len(present), dtype=bool)
            v = float(self.value)
            hit = {"gt": column > v, "gte": column >= v, "lt": column < v, "lte": column <= v}[self.op]
            return present & hit
        if self.op == "contains":
            if numeric:
                return np.zeros(len(present), dtype=bool)
            return present & (np.char.find(column.astype(str), self.value) >= 0)
        values = self.value if self.op == "in" else [self.value]
        hit = np.zeros(len(present), dtype=bool)
        for v in values:
            if numeric and _is_number(v):
                hit |= column == float(v)
            elif not numeric and isinstance(v, str):
                hit |= column == v
        if self.op == "neq":  # as in test(): an absent value differs from any constant
            return ~(present & hit)
        return present & hit


@dataclass(frozen=True)
class EventCondition:
    """At least ``at_least`` (and at most ``at_most``) events named ``event`` matching every ``where`` filter within
    the last ``window_us`` of simulated time."""

    event: str
    where: tuple[Predicate, ...]
    window_us: int
    at_least: int
    at_most: int | None


@dataclass(frozen=True)
class TraitCondition:
    """A comparison on a profile trait."""

    predicate: Predicate


@dataclass(frozen=True)
class GroupTraitCondition:
    """A comparison on a trait of the profile's groups: holds when any of its groups passes it (a profile in no
    group passes none)."""

    predicate: Predicate

    def test_groups(self, groups: Iterable[Mapping[str, Any]]) -> bool:
        """Whether any of these groups' traits pass the comparison."""
        return any(self.predicate.test_dict(traits) for traits in groups)


Leaf = EventCondition | TraitCondition | GroupTraitCondition
"""A condition of a definition (a leaf of its expression)."""
Node = tuple[Any, ...]
"""A compiled expression: ``("and", [nodes])``, ``("or", [nodes])``, ``("not", node)`` or ``("leaf", index)``."""


@dataclass(frozen=True)
class Definition:
    """A validated audience definition: its conditions (leaves) and the expression over them."""

    leaves: tuple[Leaf, ...]
    root: Node


class _Compiler:
    def __init__(self) -> None:
        self.errors: list[ErrorDetail] = []
        self.leaves: list[Leaf] = []

    def fail(self, path: str, message: str) -> Node:
        self.errors.append(ErrorDetail(field=path, message=message))
        return ("leaf", -1)

    def node(self, data: Any, path: str, depth: int) -> Node:
        if depth > MAX_DEPTH:
            return self.fail(path, f"conditions nest at most {MAX_DEPTH} deep")
        if not isinstance(data, dict):
            return self.fail(path, "a condition is an object")
        kinds = [k for k in ("and", "or", "not", "event", "trait", "groupTrait") if k in data]
        if len(kinds) != 1:
            return self.fail(path, "a condition has exactly one of and, or, not, event, trait, groupTrait")
        kind = kinds[0]
        if kind in ("and", "or"):
            self.only(data, path, {kind})
            items = data[kind]
            if not isinstance(items, list) or not items:
                return self.fail(f"{path}.{kind}", "a non-empty list of conditions is expected")
            return (kind, [self.node(item, f"{path}.{kind}.{i}", depth + 1) for i, item in enumerate(items)])
        if kind == "not":
            self.only(data, path, {"not"})
            return ("not", self.node(data["not"], f"{path}.not", depth + 1))
        if len(self.leaves) >= MAX_CONDITIONS:
            return self.fail(path, f"a definition has at most {MAX_CONDITIONS} event, trait and groupTrait "
                                   "conditions")
        leaf = self.event(data, path) if kind == "event" else self.trait(data, path, kind)
        if leaf is None:
            return ("leaf", -1)
        self.leaves.append(leaf)
        return ("leaf", len(self.leaves) - 1)

    def only(self, data: dict[str, Any], path: str, allowed: set[str]) -> None:
        for key in sorted(set(data) - allowed):
            self.fail(f"{path}.{key}", "unknown field")

    def count(self, data: dict[str, Any], path: str, key: str, low: int, high: int) -> int | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            self.fail(f"{path}.{key}", f"an integer from {low} to {high} is expected")
            return None
        return value

    def name(self, data: dict[str, Any], path: str, key: str) -> str | None:
        value = data.get(key)
        if not isinstance(value, str) or not 1 <= len(value) <= 200:
            self.fail(f"{path}.{key}", "a name of 1 to 200 characters is expected")
            return None
        return value

    def predicate(self, data: dict[str, Any], path: str, name: str) -> Predicate | None:
        op = data.get("op")
        if op not in OPS:
            self.fail(f"{path}.op", f"one of {', '.join(OPS)} is expected")
            return None
        if op == "exists":
            if "value" in data:
                self.fail(f"{path}.value", "exists takes no value")
                return None
            return Predicate(name, op)
        if "value" not in data:
            self.fail(f"{path}.value", f"{op} needs a value")
            return None
        value = data["value"]
        numbers = value if isinstance(value, list) else [value]
        if any(isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_EXACT for v in numbers):
            self.fail(f"{path}.value", f"integers must lie within ±{MAX_EXACT} (2^53)")
            return None
        if op in _NUMERIC_OPS and not _is_number(value):
            self.fail(f"{path}.value", f"{op} compares with a number")
            return None
        if op == "contains" and not isinstance(value, str):
            self.fail(f"{path}.value", "contains looks for a string")
            return None
        if op == "in":
            if (not isinstance(value, list) or not 1 <= len(value) <= 100
                    or not all(isinstance(v, str | int | float | bool) for v in value)):
                self.fail(f"{path}.value", "in takes a list of 1 to 100 strings, numbers or booleans")
                return None
            return Predicate(name, op, tuple(value))
        if op in ("eq", "neq") and not isinstance(value, str | int | float | bool):
            self.fail(f"{path}.value", f"{op} compares with a string, number or boolean")
            return None
        if isinstance(value, float) and not np.isfinite(value):
            self.fail(f"{path}.value", "a finite number is expected")
            return None
        return Predicate(name, op, value)

    def event(self, data: dict[str, Any], path: str) -> EventCondition | None:
        before = len(self.errors)
        self.only(data, path, {"event", "where", "withinDays", "withinHours", "atLeast", "atMost"})
        name = self.name(data, path, "event")
        where: list[Predicate] = []
        raw_where = data.get("where", [])
        if not isinstance(raw_where, list) or len(raw_where) > 10:
            self.fail(f"{path}.where", "a list of at most 10 property filters is expected")
        else:
            for i, item in enumerate(raw_where):
                at = f"{path}.where.{i}"
                if not isinstance(item, dict):
                    self.fail(at, "a property filter is an object")
                    continue
                self.only(item, at, {"property", "op", "value"})
                prop = self.name(item, at, "property")
                pred = None if prop is None else self.predicate(item, at, prop)
                if pred is not None:
                    where.append(pred)
        if "withinDays" in data and "withinHours" in data:
            self.fail(f"{path}.withinHours", "give withinDays or withinHours, not both")
        days = self.count(data, path, "withinDays", 1, RETENTION_DAYS)
        hours = self.count(data, path, "withinHours", 1, RETENTION_DAYS * 24)
        window = days * DAY_US if days else hours * HOUR_US if hours else RETENTION_DAYS * DAY_US
        at_least = self.count(data, path, "atLeast", 0, 1_000_000)
        at_most = self.count(data, path, "atMost", 0, 1_000_000)
        low = 1 if at_least is None else at_least
        if at_most is not None and at_most < low:
            self.fail(f"{path}.atMost", "atMost must not be below atLeast")
        if len(self.errors) > before or name is None:
            return None
        return EventCondition(name, tuple(where), window, low, at_most)

    def trait(self, data: dict[str, Any], path: str, kind: str) -> TraitCondition | GroupTraitCondition | None:
        """A ``trait`` or ``groupTrait`` condition (the same comparisons)."""
        before = len(self.errors)
        self.only(data, path, {kind, "op", "value"})
        name = self.name(data, path, kind)
        pred = None if name is None else self.predicate(data, path, name)
        if len(self.errors) > before or pred is None:
            return None
        return TraitCondition(pred) if kind == "trait" else GroupTraitCondition(pred)


def compile_definition(data: Any, where: str = "body.definition") -> Definition:
    """A validated definition; 400 ``INVALID_ARGUMENT`` listing every fault with its path otherwise."""
    compiler = _Compiler()
    root = compiler.node(data, where, 1)
    if compiler.errors:
        raise InvalidArgument("The audience definition is invalid.", details=compiler.errors)
    return Definition(tuple(compiler.leaves), root)


def evaluate(node: Node, truth: Callable[[int], NDArray[np.bool_]]) -> NDArray[np.bool_]:
    """The expression over some profiles, given each leaf's truth over the same profiles."""
    kind = node[0]
    if kind == "leaf":
        return truth(node[1])
    if kind == "not":
        return ~evaluate(node[1], truth)
    parts = [evaluate(child, truth) for child in node[1]]
    out = parts[0].copy()
    for part in parts[1:]:
        if kind == "and":
            out &= part
        else:
            out |= part
    return out


class _Runs:
    """Events in a window as time-sorted runs (times and profiles), merged like a binary counter so there are
    O(log n) runs: adding k events costs O(k log n) amortised, expiring is one ``searchsorted`` per run and
    slicing (no copy of the whole queue per tick)."""

    def __init__(self) -> None:
        self.runs: list[tuple[NDArray[np.int64], NDArray[np.int64]]] = []

    def add(self, times: NDArray[np.int64], profiles: NDArray[np.int64]) -> None:
        order = np.argsort(times, kind="stable")
        self.runs.append((times[order], profiles[order]))
        while len(self.runs) > 1 and len(self.runs[-2][0]) <= 2 * len(self.runs[-1][0]):
            (t1, p1), (t2, p2) = self.runs[-2], self.runs.pop()
            times = np.concatenate([t1, t2])
            order = np.argsort(times, kind="stable")
            self.runs[-1] = (times[order], np.concatenate([p1, p2])[order])

    def expire(self, cutoff_us: int) -> NDArray[np.int64]:
        """Remove the events at or before ``cutoff_us``; returns their profiles."""
        gone: list[NDArray[np.int64]] = []
        kept: list[tuple[NDArray[np.int64], NDArray[np.int64]]] = []
        for times, profiles in self.runs:
            cut = int(np.searchsorted(times, cutoff_us, side="right"))
            if cut:
                gone.append(profiles[:cut])
            if cut < len(times):
                kept.append((times[cut:], profiles[cut:]) if cut else (times, profiles))
        self.runs = kept
        return np.concatenate(gone) if gone else np.empty(0, np.int64)

    def __len__(self) -> int:
        return sum(len(t) for t, _ in self.runs)


@dataclass
class _EventColumn:
    """Counts of matching events in the window per profile, and those events by time."""

    cond: EventCondition
    counts: NDArray[np.int32]
    queue: _Runs = field(default_factory=_Runs)


class AudienceState:
    """Membership of one audience over one partner's profiles, kept up to date incrementally.

    Profiles are numbers ``0..n-1`` of the partner's space; ``root`` maps a number to the profile it was merged
    into (itself for live profiles). The caller feeds matching events (:meth:`add_events`), trait changes
    (:meth:`set_traits`), changes of a profile's groups or of their traits (:meth:`set_groups`), merges
    (:meth:`merge`) and the clock (:meth:`expire`), then asks :meth:`update` which profiles entered and left.
    """

    def __init__(self, seq: int, definition: Definition, capacity: int) -> None:
        self.seq = seq
        self.definition = definition
        self._events: dict[int, _EventColumn] = {}
        self._traits: dict[int, NDArray[np.bool_]] = {}
        """Truth of each trait and group-trait condition per profile."""
        self._blank: dict[int, bool] = {}
        """Truth of each trait and group-trait condition for a profile with no traits and no groups (``neq`` holds
        for an absent trait)."""
        for i, leaf in enumerate(definition.leaves):
            if isinstance(leaf, EventCondition):
                self._events[i] = _EventColumn(leaf, np.zeros(capacity, np.int32))
            else:
                blank = leaf.predicate.test_dict({}) if isinstance(leaf, TraitCondition) else leaf.test_groups(())
                self._blank[i] = blank
                self._traits[i] = np.full(capacity, blank, bool)
        self.member = np.zeros(capacity, bool)
        self._dirty: list[NDArray[np.int64]] = []
        self._group_leaves = [(i, leaf) for i, leaf in enumerate(definition.leaves)
                              if isinstance(leaf, GroupTraitCondition)]

    # -- shape -------------------------------------------------------------------------------------------------
    def grow(self, capacity: int) -> None:
        """Make room for profile numbers below ``capacity`` (new profiles start with no events, no traits)."""
        extra = capacity - len(self.member)
        if extra <= 0:
            return
        for col in self._events.values():
            col.counts = np.concatenate([col.counts, np.zeros(extra, np.int32)])
        for i, truth in self._traits.items():
            self._traits[i] = np.concatenate([truth, np.full(extra, self._blank[i], bool)])
        self.member = np.concatenate([self.member, np.zeros(extra, bool)])

    def event_conditions(self) -> list[tuple[int, EventCondition]]:
        """(leaf index, condition) of the event conditions."""
        return [(i, col.cond) for i, col in self._events.items()]

    def trait_conditions(self) -> list[tuple[int, TraitCondition]]:
        """(leaf index, condition) of the trait conditions."""
        return [(i, leaf) for i, leaf in enumerate(self.definition.leaves) if isinstance(leaf, TraitCondition)]

    def group_conditions(self) -> list[tuple[int, GroupTraitCondition]]:
        """(leaf index, condition) of the group-trait conditions."""
        return self._group_leaves

    # -- inputs ------------------------------------------------------------------------------------------------
    def add_events(self, leaf: int, profiles: NDArray[np.int64], time_us: NDArray[np.int64], now_us: int) -> None:
        """Events matching event condition ``leaf`` (root profiles, event instants); those already out of the
        window count nowhere."""
        col = self._events[leaf]
        keep = time_us > now_us - col.cond.window_us
        if not keep.all():
            profiles, time_us = profiles[keep], time_us[keep]
        if not len(profiles):
            return
        who, n = np.unique(profiles, return_counts=True)  # faster than np.add.at for small batches
        col.counts[who] += n.astype(np.int32)
        col.queue.add(time_us, profiles)
        self._dirty.append(profiles)

    def set_traits(self, profile: int, traits: Mapping[str, Any]) -> None:
        """A profile's traits are now ``traits``."""
        for i, leaf in self.trait_conditions():
            self._traits[i][profile] = leaf.predicate.test_dict(traits)
        self._dirty.append(np.array([profile], np.int64))

    def set_groups(self, profile: int, groups: Iterable[Mapping[str, Any]]) -> None:
        """A profile's groups (their traits) are now ``groups``."""
        groups = list(groups)
        for i, leaf in self.group_conditions():
            self._traits[i][profile] = leaf.test_groups(groups)
        self._dirty.append(np.array([profile], np.int64))

    def touch(self, profiles: NDArray[np.int64]) -> None:
        """Re-evaluate these profiles at the next update (new profiles: a ``not`` may hold for them)."""
        self._dirty.append(profiles)

    def merge(self, kept: int, gone: int, traits: Mapping[str, Any], groups: Iterable[Mapping[str, Any]]) -> None:
        """Profile ``gone`` was merged into ``kept`` (whose traits are now ``traits``, its groups' traits
        ``groups``): its counts move over; it is no longer a member of anything (it is not a profile any more)."""
        for col in self._events.values():
            col.counts[kept] += col.counts[gone]
            col.counts[gone] = 0
        for truth in self._traits.values():
            truth[gone] = False
        self.member[gone] = False
        self.set_traits(kept, traits)
        self.set_groups(kept, groups)

    def expire(self, now_us: int, root: NDArray[np.int64]) -> None:
        """The clock is at ``now_us``: events that left their window stop counting."""
        for col in self._events.values():
            expired = col.queue.expire(now_us - col.cond.window_us)
            if len(expired):
                gone = root[expired]
                who, n = np.unique(gone, return_counts=True)
                col.counts[who] -= n.astype(np.int32)
                self._dirty.append(gone)

    # -- evaluation --------------------------------------------------------------------------------------------
    def _truth(self, profiles: NDArray[np.int64]) -> Callable[[int], NDArray[np.bool_]]:
        def truth(leaf: int) -> NDArray[np.bool_]:
            col = self._events.get(leaf)
            if col is None:
                return self._traits[leaf][profiles]
            counts = col.counts[profiles]
            hit = counts >= col.cond.at_least
            if col.cond.at_most is not None:
                hit &= counts <= col.cond.at_most
            return hit

        return truth

    def evaluate(self, profiles: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Whether each of ``profiles`` (roots) meets the definition now."""
        return evaluate(self.definition.root, self._truth(profiles))

    def update(self, root: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Re-evaluate the profiles touched since the last update; returns (entered, exited) root profiles."""
        if not self._dirty:
            empty = np.empty(0, np.int64)
            return empty, empty
        touched = np.unique(np.concatenate(self._dirty))
        self._dirty.clear()
        touched = touched[root[touched] == touched]  # merged-away profiles belong to nothing
        now = self.evaluate(touched)
        was = self.member[touched]
        self.member[touched] = now
        return touched[now & ~was], touched[was & ~now]

    def recompute(self, roots: NDArray[np.int64]) -> None:
        """Membership of every live profile from the columns (after a replay; no change is reported)."""
        self._dirty.clear()
        self.member[:] = False
        self.member[roots] = self.evaluate(roots)

    def members(self) -> NDArray[np.int64]:
        """Member profiles, ascending."""
        return np.flatnonzero(self.member).astype(np.int64)


def matching(leaf: EventCondition, properties: Mapping[str, Any]) -> bool:
    """Whether one event's properties pass every ``where`` filter of ``leaf``."""
    return all(p.fast(properties) for p in leaf.where)


def matching_columns(leaf: EventCondition, columns: Mapping[str, tuple[NDArray[np.bool_], NDArray[Any], bool]],
                     size: int) -> NDArray[np.bool_]:
    """Which of ``size`` events pass every ``where`` filter, given their properties as columns
    (name → (present, values, numeric)); a property with no column is absent from every event."""
    hit = np.ones(size, dtype=bool)
    absent = (np.zeros(size, dtype=bool), np.zeros(size, dtype=object), False)
    for pred in leaf.where:
        present, values, numeric = columns.get(pred.name, absent)
        hit &= pred.mask(present, values, numeric)
    return hit

