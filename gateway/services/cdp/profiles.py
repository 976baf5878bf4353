"""Identity resolution of one partner: which calls belong to the same person, and what is known about them.

Owns :class:`ProfileSpace`: profiles are numbers ``0..n-1``; user ids and anonymous ids (an app install's
installation id is its anonymous id) map to the profile that first claimed them, and ``root`` maps a profile to the
one it was merged into. The rules (README "CDP"): a call with a user id belongs to that user's profile; an
anonymous id seen first without a user id is adopted by the first user id it comes with (``identify`` merges the
anonymous profile into the user's); a profile holds one user id from ``identify`` (a shared device identified as
another user starts that user's own profile); ``alias`` merges the previous id's profile into the user's whatever
ids they hold. Merging is small-into-large, so each profile number is relabelled O(log n) times. Groups (Segment's
accounts) are the partner's, not a profile's: a ``group`` call adds the group to the caller's profile and merges its
traits into the group's, which every member then sees. It must not know about HTTP, SQL or audiences.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

_NONE: dict[str, Any] = {}
MergeListener = Callable[[int, int], None]
"""Called with (kept, gone) after ``gone`` was merged into ``kept``."""


class ProfileSpace:
    """The profiles of one partner."""

    def __init__(self) -> None:
        self.by_user: dict[str, int] = {}
        self.by_anon: dict[str, int] = {}
        self.root = np.zeros(1024, np.int64)
        self.first_us = np.zeros(1024, np.int64)
        self.last_us = np.zeros(1024, np.int64)
        self.size = 0
        self.user_ids: list[list[str]] = []
        self.anon_ids: list[list[str]] = []
        # Sparse: only profiles with traits, groups or merged-in profiles have an entry (a million app installs
        # would otherwise carry three empty containers each).
        self.traits: dict[int, dict[str, Any]] = {}
        self.groups: dict[int, list[str]] = {}
        """Profile → the ids of its groups, in the order it joined them."""
        self.group_traits: dict[str, dict[str, Any]] = {}
        """Group id → the group's traits (shared by its members)."""
        self._group_members: dict[str, list[int]] = {}
        """Group id → profiles that joined it (numbers as they were: read through ``root``)."""
        self._members: dict[int, list[int]] = {}
        self.on_merge: list[MergeListener] = []

    @property
    def capacity(self) -> int:
        """Length of the per-profile columns."""
        return len(self.root)

    def _new(self, at_us: int) -> int:
        p = self.size
        if p == len(self.root):
            extra = len(self.root)
            self.root = np.concatenate([self.root, np.zeros(extra, np.int64)])
            self.first_us = np.concatenate([self.first_us, np.zeros(extra, np.int64)])
            self.last_us = np.concatenate([self.last_us, np.zeros(extra, np.int64)])
        self.root[p] = p
        self.first_us[p] = self.last_us[p] = at_us
        self.size += 1
        self.user_ids.append([])
        self.anon_ids.append([])
        return p

    def roots(self) -> NDArray[np.int64]:
        """Live (not merged-away) profiles, ascending."""
        return np.flatnonzero(self.root[: self.size] == np.arange(self.size)).astype(np.int64)

    def find(self, identity: str) -> int | None:
        """The live profile a user id (first) or anonymous id names, ``None`` when unknown."""
        p = self.by_user.get(identity)
        if p is None:
            p = self.by_anon.get(identity)
        return None if p is None else int(self.root[p])

    def lookup(self, user_id: str | None, anonymous_id: str | None) -> int | None:
        """The live profile a call with these ids belongs to, without creating or merging (``None``: none yet)."""
        if user_id is not None:
            p = self.by_user.get(user_id)
            return None if p is None else int(self.root[p])
        p = self.by_anon.get(anonymous_id) if anonymous_id is not None else None
        return None if p is None else int(self.root[p])

    def _add_anon(self, p: int, anonymous_id: str) -> None:
        self.by_anon[anonymous_id] = p
        self.anon_ids[p].append(anonymous_id)

    def _add_user(self, p: int, user_id: str) -> None:
        self.by_user[user_id] = p
        self.user_ids[p].append(user_id)

    def resolve(self, user_id: str | None, anonymous_id: str | None, at_us: int) -> int:
        """The live profile a call with these ids belongs to, created or merged as the rules say."""
        u = None if user_id is None else self.by_user.get(user_id)
        a = None if anonymous_id is None else self.by_anon.get(anonymous_id)
        u = None if u is None else int(self.root[u])
        a = None if a is None else int(self.root[a])
        if u is None and a is None:
            p = self._new(at_us)
            if user_id is not None:
                self._add_user(p, user_id)
            if anonymous_id is not None:
                self._add_anon(p, anonymous_id)
        elif u is None:
            assert a is not None
            if user_id is None:
                p = a
            elif not self.user_ids[a]:
                p = a
                self._add_user(p, user_id)
            else:  # a shared device: the other user gets a profile of their own
                p = self._new(at_us)
                self._add_user(p, user_id)
        elif a is None:
            p = u
            if anonymous_id is not None:
                self._add_anon(p, anonymous_id)
        else:
            p = u
            if a != u and not self.user_ids[a]:  # the anonymous visitor turned out to be this user
                p = self.merge(u, a)
        self.last_us[p] = max(int(self.last_us[p]), at_us)
        return p

    def alias(self, previous_id: str, user_id: str, at_us: int) -> int:
        """``alias``: ``previous_id`` (a user or anonymous id) and ``user_id`` are one person from now on."""
        prev = self.find(previous_id)
        target = self.find(user_id) if user_id in self.by_user else None
        if target is None:
            if prev is None:
                p = self._new(at_us)
                self._add_anon(p, previous_id)
            else:
                p = prev
            self._add_user(p, user_id)
        elif prev is None:
            p = target
            self._add_anon(p, previous_id)
        else:
            p = target if prev == target else self.merge(target, prev)
        self.last_us[p] = max(int(self.last_us[p]), at_us)
        return p

    def merge(self, a: int, b: int) -> int:
        """Merge two live profiles (the larger keeps its number); returns the kept one."""
        kept, gone = (a, b) if len(self.members(a)) >= len(self.members(b)) else (b, a)
        moved = self._members.pop(gone, [gone])
        self.root[np.asarray(moved, np.int64)] = kept
        self._members.setdefault(kept, [kept]).extend(moved)
        self.user_ids[kept].extend(self.user_ids[gone])
        self.anon_ids[kept].extend(self.anon_ids[gone])
        # The older profile's traits are the base; the newer facts win (identify's merge order).
        older, newer = (self.traits_of(gone), self.traits_of(kept)) if kept == a else \
            (self.traits_of(kept), self.traits_of(gone))
        if older or newer:
            self.traits[kept] = {**older, **newer}
        if gone in self.groups:
            self.groups[kept] = list(dict.fromkeys(self.groups.pop(gone) + self.groups.get(kept, [])))
        self.first_us[kept] = min(int(self.first_us[kept]), int(self.first_us[gone]))
        self.last_us[kept] = max(int(self.last_us[kept]), int(self.last_us[gone]))
        self.user_ids[gone], self.anon_ids[gone] = [], []
        self.traits.pop(gone, None)
        for fn in self.on_merge:
            fn(kept, gone)
        return kept

    def members(self, p: int) -> list[int]:
        """Profile numbers merged into live profile ``p`` (itself included)."""
        return self._members.get(p, [p])

    def traits_of(self, p: int) -> dict[str, Any]:
        """The traits of profile ``p`` (empty when it has none; not to be changed in place)."""
        return self.traits.get(p, _NONE)

    def groups_of(self, p: int) -> dict[str, dict[str, Any]]:
        """The groups of profile ``p`` with their traits (empty when none; the traits not to be changed in
        place)."""
        return {g: self.group_traits[g] for g in self.groups.get(p, ())}

    def join(self, p: int, group_id: str, traits: dict[str, Any]) -> NDArray[np.int64]:
        """``group``: live profile ``p`` belongs to ``group_id``, whose traits take ``traits`` (newer values win,
        others stay). Returns the live profiles whose groups' traits changed: every member when the group's traits
        did, else ``p`` when it newly joined, else none."""
        before = self.group_traits.get(group_id)
        # Typed comparison: ``True`` replacing ``1`` is a change (conditions tell them apart).
        changed = before is None or any(k not in before or type(before[k]) is not type(v) or before[k] != v
                                        for k, v in traits.items())
        self.group_traits[group_id] = {**(before or {}), **traits}  # a new dict: views handed out stay as they were
        joined = group_id not in self.groups.get(p, ())
        if joined:
            self.groups.setdefault(p, []).append(group_id)
            self._group_members.setdefault(group_id, []).append(p)
        if changed:
            return np.unique(self.root[np.asarray(self._group_members[group_id], np.int64)])
        return np.array([p] if joined else [], np.int64)

    def primary_user(self, p: int) -> str | None:
        """The user id a profile is known by (the latest its identify calls gave), ``None`` when anonymous."""
        ids = self.user_ids[p]
        return ids[-1] if ids else None

    def resolve_rows(self, user_ids: list[str], anon_ids: list[str], at_us: int) -> NDArray[np.int64]:
        """Profiles of many (user id, anonymous id) pairs at once (app installs: both always given)."""
        return np.fromiter((self.resolve(u, a, at_us) for u, a in zip(user_ids, anon_ids, strict=True)),
                           dtype=np.int64, count=len(user_ids))
