"""Audience segments: which subscribers match a set of profile criteria, as one vectorised mask.

This module owns the meaning of a segment (age range, genders, interests any/all, device OS, languages, tariff
bands, roaming visitors included/excluded/only, operator app installed) and its evaluation over the
population's columns for an index array of subscribers. It never loops over subscribers and knows nothing of
areas, consent, campaigns or HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from simulator import profiles
from simulator.errors import InvalidConfigError
from simulator.population import Population

RoamingRule = Literal["INCLUDE", "EXCLUDE", "ONLY"]
"""Foreign visitors: counted like residents (``INCLUDE``), left out (``EXCLUDE``) or the only ones (``ONLY``)."""


@dataclass(frozen=True)
class Segment:
    """Profile criteria; every criterion left empty (or None) matches everyone.

    Within a criterion the listed values are alternatives (any of the genders, any of the OSes...), except
    ``interests_all`` whose interests must all be present. Criteria combine with AND. A language matches
    exactly (``en-US``) or by primary subtag (``en`` matches ``en-US`` and ``en-GB``).
    """

    age_min: int | None = None
    age_max: int | None = None
    genders: tuple[str, ...] = ()
    interests_any: tuple[str, ...] = ()
    interests_all: tuple[str, ...] = ()
    os: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    tariffs: tuple[str, ...] = ()
    roaming: RoamingRule = "INCLUDE"
    app_installed: bool | None = None

    def validate(self) -> None:
        """Raise :class:`InvalidConfigError` naming the first unknown value or inconsistent range."""
        if self.age_min is not None and self.age_max is not None and self.age_min > self.age_max:
            raise InvalidConfigError(f"segment age range {self.age_min}-{self.age_max} is empty")
        for values, table, what in ((self.genders, profiles.GENDERS, "gender"),
                                    (self.interests_any, profiles.INTERESTS, "interest"),
                                    (self.interests_all, profiles.INTERESTS, "interest"),
                                    (self.os, profiles.OS_NAMES, "os"), (self.tariffs, profiles.TARIFFS, "tariff")):
            for value in values:
                if value not in table:
                    raise InvalidConfigError(f"unknown {what} {value!r}; expected one of {', '.join(table)}")
        for tag in self.languages:
            if not profiles.BCP47_PATTERN.match(tag):
                raise InvalidConfigError(f"language {tag!r} is not a BCP-47 tag like 'en' or 'en-US'")
        if self.roaming not in ("INCLUDE", "EXCLUDE", "ONLY"):
            raise InvalidConfigError(f"roaming must be INCLUDE, EXCLUDE or ONLY, got {self.roaming!r}")

    @property
    def is_empty(self) -> bool:
        """True when the segment matches everyone."""
        return self == Segment()

    def mask(self, population: Population, subs: ArrayLike) -> NDArray[np.bool_]:
        """Whether each subscriber of ``subs`` (row indices) matches, aligned with ``subs``."""
        idx = np.asarray(subs, dtype=np.int64).reshape(-1)
        keep = np.ones(len(idx), dtype=bool)
        if self.is_empty or len(idx) == 0:
            return keep
        if self.age_min is not None or self.age_max is not None:
            age = population.age[idx]
            if self.age_min is not None:
                keep &= age >= self.age_min
            if self.age_max is not None:
                keep &= age <= self.age_max
        for values, table, column in ((self.genders, profiles.GENDERS, population.gender),
                                      (self.os, profiles.OS_NAMES, population.os),
                                      (self.tariffs, profiles.TARIFFS, population.tariff)):
            if values:
                allowed = np.zeros(len(table), dtype=bool)
                allowed[[table.index(v) for v in values]] = True
                keep &= allowed[column[idx]]
        if self.interests_any or self.interests_all:
            masks = population.interests[idx]
            if self.interests_any:
                keep &= (masks & np.uint32(profiles.interests_to_mask(self.interests_any))) != 0
            if self.interests_all:
                want = np.uint32(profiles.interests_to_mask(self.interests_all))
                keep &= (masks & want) == want
        if self.languages:
            speaks = np.array([_language_matches(code, self.languages) for code in population.languages], dtype=bool)
            keep &= speaks[population.language[idx]]
        if self.roaming == "EXCLUDE":
            keep &= ~population.roaming[idx]
        elif self.roaming == "ONLY":
            keep &= population.roaming[idx]
        if self.app_installed is not None:
            keep &= population.app_installed[idx] == self.app_installed
        return keep


def _language_matches(code: str, wanted: tuple[str, ...]) -> bool:
    primary = code.split("-")[0]
    return any(w in (code, primary) for w in wanted)
