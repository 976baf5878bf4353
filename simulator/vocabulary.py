"""Text vocabularies of a population: names, e-mail users and domains drawn once from Faker, sampled with numpy.

This module owns the Faker draws per locale (through a seeded instance, cached because Faker is the slow part),
the :class:`Interner` that turns strings into the small integer codes stored in the population's columns, and
the :class:`Vocabulary` of a build: one shared list per kind of text plus, per locale, the codes a block samples
from. Drawing a million names is then numpy indexing, never a Faker call per subscriber. It must not draw per
subscriber, seed any global generator, or know about numbers, places or consent.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from faker.decode import unidecode
from numpy.typing import NDArray

from simulator.rng import RngStreams

VOCAB_DRAWS_LOCAL = 3_000
VOCAB_DRAWS_FOREIGN = 400
"""Faker calls per vocabulary for the city's locale and for each visitor locale (draws keep Faker's weights)."""

_USER_PATTERN = re.compile(r"^[a-z][a-z0-9._]*[a-z]$")

RESERVED_EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
"""Synthetic e-mails live only under the domains RFC 2606 reserves for examples, so a generated address can never
reach a real mailbox (Faker's ``free_email_domain`` yields real providers: gmail.com, mail.ru, naver.com, ...)."""


def reserved_domain(real: str) -> str:
    """The reserved domain standing in for the provider ``real`` (a fixed choice: the same provider, the same)."""
    return RESERVED_EMAIL_DOMAINS[zlib.crc32(real.encode()) % len(RESERVED_EMAIL_DOMAINS)]


def name_slug(name: str) -> str:
    """``name`` as lower-case ASCII letters (transliterated: 'Всеволод' → 'vsevolod', '홍' → 'hong')."""
    return re.sub(r"[^a-z]+", "", unidecode(name).lower())


def email_local_part(first_slug: str, last_slug: str) -> str:
    """The user part of an e-mail from a person's name slugs, ``first.last``.

    It starts and ends with a letter, so appending digits never makes two addresses equal.
    """
    return ".".join(p for p in (first_slug, last_slug) if p) or "user"


@functools.lru_cache(maxsize=32)
def _faker_draws(seed: int, locale: str, size: int) -> tuple[tuple[str, ...], ...]:
    """Raw Faker draws for ``locale``: female/male first names, female/male last names, user names, domains.

    Domains are the reserved stand-ins (:data:`RESERVED_EMAIL_DOMAINS`) of Faker's free e-mail providers.

    Cached because Faker is the slow part and the result is a pure function of its arguments.
    """
    fake = RngStreams(seed).faker(locale, f"population:{locale}")
    first_f = tuple(fake.first_name_female() for _ in range(size))
    first_m = tuple(fake.first_name_male() for _ in range(size))
    last_f = tuple(fake.last_name_female() for _ in range(size))
    last_m = tuple(fake.last_name_male() for _ in range(size))
    users: list[str] = []
    for _ in range(size):
        # Strip trailing digits so that "user" + numeric suffix can never be ambiguous (hence unique).
        u = fake.user_name().lower().rstrip("0123456789._")
        if _USER_PATTERN.match(u):
            users.append(u)
    # Drawn from Faker for its per-locale weights, then replaced by reserved domains (the draw count is kept,
    # so the population's random streams, and every other column, stay as they were).
    domains = tuple(reserved_domain(fake.free_email_domain()) for _ in range(max(50, size // 20)))
    return first_f, first_m, last_f, last_m, tuple(users or ["user"]), domains


class Interner:
    """Order-preserving string → index table (the vocabulary lists of a population).

    ``items[k]`` is the string of code ``k``; codes never change once given, so columns stay valid as it grows.
    """

    def __init__(self, items: Iterable[str] = ()) -> None:
        self.items: list[str] = []
        self._index: dict[str, int] = {}
        for item in items:
            self.add(item)

    def add(self, item: str) -> int:
        """The code of ``item``, appending it first if it is new."""
        if item not in self._index:
            self._index[item] = len(self.items)
            self.items.append(item)
        return self._index[item]

    def codes(self, items: Iterable[str], dtype: type[np.unsignedinteger[Any]]) -> NDArray[Any]:
        """The codes of ``items`` as an array of ``dtype`` (new items are appended in order)."""
        return np.array([self.add(i) for i in items], dtype=dtype)


@dataclass(frozen=True)
class LocaleVocab:
    """Per-locale draws as indices into the population's vocabularies (duplicates keep Faker's weights)."""

    first_female: NDArray[np.uint16]
    first_male: NDArray[np.uint16]
    last_female: NDArray[np.uint16]
    last_male: NDArray[np.uint16]
    users: NDArray[np.uint16]
    domains: NDArray[np.uint8]


@dataclass(frozen=True)
class Vocabulary:
    """The vocabularies of one build: shared string lists, and per locale the codes to sample from."""

    first_names: list[str]
    last_names: list[str]
    email_users: list[str]
    email_domains: list[str]
    by_locale: dict[str, LocaleVocab]

    @classmethod
    def build(cls, seed: int, locales: Sequence[str]) -> Vocabulary:
        """Vocabularies of ``locales`` from ``seed``; the first locale (the city's) gets the most draws.

        Lists are interned in locale order, so the same seed and locales always give the same codes.
        """
        first, last, users, domains = Interner(), Interner(), Interner(), Interner()
        by_locale = {}
        for k, locale in enumerate(locales):
            ff, fm, lf, lm, us, dm = _faker_draws(seed, locale, VOCAB_DRAWS_LOCAL if k == 0 else VOCAB_DRAWS_FOREIGN)
            by_locale[locale] = LocaleVocab(first.codes(ff, np.uint16), first.codes(fm, np.uint16),
                                            last.codes(lf, np.uint16), last.codes(lm, np.uint16),
                                            users.codes(us, np.uint16), domains.codes(dm, np.uint8))
        return cls(first.items, last.items, users.items, domains.items, by_locale)
