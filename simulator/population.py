"""The subscriber population as columns: identities, demographics, home and work places.

This module owns the population's numpy columns (one array per attribute, one row per subscriber), how they
are generated (in fixed blocks of :data:`~simulator.rng.BLOCK_SIZE`, each from its own named stream), the
numbering of MSISDNs and IMSIs, the Faker-built vocabularies of names and e-mail parts, and the decoded
:class:`Subscriber` view built on demand for APIs. It must not hold a Python object per subscriber, loop over
subscribers when building, seed any global generator, or know about cells, movement or consent.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from simulator import profiles
from simulator.city import COUNTRIES, FICTIONAL_DIAL, JOB_DENSITY, RESIDENT_DENSITY, City, Country
from simulator.errors import (
    DuplicateSubscriberError,
    InvalidConfigError,
    InvalidSubscriberError,
    UnknownSubscriberError,
)
from simulator.rng import BLOCK_SIZE, RngStreams

E164_PATTERN = re.compile(r"^\+[1-9][0-9]{4,14}$")
"""An MSISDN in E.164 form: '+', a non-zero digit, then 4 to 14 digits."""

FICTIONAL_DIGITS = 10
"""Fictional MSISDNs are ``+999`` followed by this many digits (see :data:`simulator.city.FICTIONAL_DIAL`)."""

IMSI_DIGITS = 15
TEST_MSIN_RESERVE = 1_000_000
"""The top MSINs of every network are kept for test subscribers, so they never collide with generated ones."""

TEST_EMAIL_DOMAIN = "example.com"
"""Test subscribers get addresses under the RFC 2606 reserved domain."""

VOCAB_DRAWS_LOCAL = 3_000
VOCAB_DRAWS_FOREIGN = 400
"""Faker calls per vocabulary for the city's locale and for each visitor locale (draws keep Faker's weights)."""

_USER_PATTERN = re.compile(r"^[a-z][a-z0-9._]*[a-z]$")

T = TypeVar("T", bound=np.generic)


# -- numbering --------------------------------------------------------------------------------------------

def _mix(v: NDArray[np.uint64]) -> NDArray[np.uint64]:
    # splitmix64 finaliser: arrays of uint64 wrap on overflow, which is what we want here.
    v = v * np.uint64(0x9E3779B97F4A7C15)
    v ^= v >> np.uint64(31)
    v = v * np.uint64(0xBF58476D1CE4E5B9)
    v ^= v >> np.uint64(29)
    return v


@dataclass(frozen=True)
class Permutation:
    """A seeded bijection of ``[0, domain)``: a balanced Feistel network with cycle walking.

    Numbers are derived from a subscriber's global ordinal through it, so they are unique across blocks
    without any block knowing about another, and look random rather than sequential.
    """

    domain: int
    keys: tuple[int, ...]

    @classmethod
    def seeded(cls, domain: int, streams: RngStreams, name: str, rounds: int = 6) -> Permutation:
        """A permutation of ``[0, domain)`` keyed by the stream ``name``."""
        if domain < 1:
            raise InvalidConfigError("a permutation needs a non-empty domain")
        keys = streams.stream(name).integers(0, 2**63, rounds, dtype=np.uint64)
        return cls(domain, tuple(int(k) for k in keys))

    def _round_trip(self, x: NDArray[np.uint64]) -> NDArray[np.uint64]:
        half = max(1, ((self.domain - 1).bit_length() + 1) // 2)
        mask = np.uint64((1 << half) - 1)
        left, right = x >> np.uint64(half), x & mask
        for key in self.keys:
            left, right = right, left ^ (_mix(right ^ np.uint64(key)) & mask)
        out: NDArray[np.uint64] = (left << np.uint64(half)) | right
        return out

    def __call__(self, ordinals: ArrayLike) -> NDArray[np.int64]:
        """The images of ``ordinals`` (each in ``[0, domain)``)."""
        x = np.atleast_1d(np.asarray(ordinals, dtype=np.uint64)).copy()
        if x.size and int(x.max()) >= self.domain:
            raise InvalidConfigError(f"ordinal beyond the permutation domain {self.domain}")
        y = self._round_trip(x)
        out = y >= np.uint64(self.domain)
        while out.any():  # cycle walking: re-apply until inside the domain (expected < 4 rounds)
            y[out] = self._round_trip(y[out])
            out = y >= np.uint64(self.domain)
        return y.astype(np.int64)


@dataclass(frozen=True)
class NumberPlan:
    """Bijection from ordinals to the mobile numbers (as int64 digits) of one country, or the fictional range.

    A national number is ``prefix + subscriber digits``; in the NANP (dial code 1) the exchange code's first
    digit must be 2–9, so the subscriber part starts at 2,000,000.
    """

    prefix_values: tuple[int, ...]  # int(dial + prefix) * 10**digits + offset, one per mobile prefix
    space: int  # numbers per prefix
    permutation: Permutation

    @property
    def capacity(self) -> int:
        """How many distinct numbers the plan holds."""
        return self.space * len(self.prefix_values)

    @classmethod
    def for_country(cls, country: Country, streams: RngStreams) -> NumberPlan:
        """The plan of ``country``'s mobile numbers."""
        digits = country.subscriber_digits
        nanp = country.dial == "1"
        offset = 2 * 10 ** (digits - 1) if nanp else 0
        space = 10**digits - offset
        values = tuple(int(country.dial + p) * 10**digits + offset for p in country.mobile_prefixes)
        return cls(values, space, Permutation.seeded(space * len(values), streams, f"msisdn:{country.code}"))

    @classmethod
    def fictional(cls, streams: RngStreams) -> NumberPlan:
        """``+999`` plus :data:`FICTIONAL_DIGITS` digits: ITU code 999 is unassigned, so no real phone answers."""
        space = 10**FICTIONAL_DIGITS
        return cls((int(FICTIONAL_DIAL) * space,), space, Permutation.seeded(space, streams, "msisdn:fictional"))

    def numbers(self, ordinals: ArrayLike) -> NDArray[np.int64]:
        """The MSISDN digits of each ordinal."""
        s = self.permutation(ordinals)
        prefix = np.asarray(self.prefix_values, dtype=np.int64)[s // self.space]
        return prefix + s % self.space


@dataclass(frozen=True)
class ImsiPlan:
    """Bijection from ordinals to IMSIs (MCC + MNC + MSIN, 15 digits) of one country's simulated network."""

    base: int  # int(mcc + mnc) * 10**msin_digits
    space: int  # generated MSINs; the top TEST_MSIN_RESERVE are for test subscribers
    permutation: Permutation

    @classmethod
    def for_country(cls, country: Country, streams: RngStreams) -> ImsiPlan:
        """The plan of ``country``'s network (its MCC and MNC)."""
        msin_digits = IMSI_DIGITS - len(country.mcc) - len(country.mnc)
        space = 10**msin_digits - TEST_MSIN_RESERVE
        return cls(int(country.mcc + country.mnc) * 10**msin_digits, space,
                   Permutation.seeded(space, streams, f"imsi:{country.code}"))

    def imsis(self, ordinals: ArrayLike) -> NDArray[np.int64]:
        """The IMSI of each ordinal."""
        return self.base + self.permutation(ordinals)

    def test_imsi(self, k: int) -> int:
        """The IMSI of the ``k``-th test subscriber of this network."""
        if not 0 <= k < TEST_MSIN_RESERVE:
            raise InvalidSubscriberError("too many test subscribers")
        return self.base + self.space + k


# -- vocabularies -----------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=32)
def _faker_draws(seed: int, locale: str, size: int) -> tuple[tuple[str, ...], ...]:
    """Raw Faker draws for ``locale``: female/male first names, female/male last names, user names, domains.

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
    domains = tuple(fake.free_email_domain() for _ in range(max(50, size // 20)))
    return first_f, first_m, last_f, last_m, tuple(users or ["user"]), domains


class _Interner:
    """Order-preserving string → index table (the vocabulary lists of a population)."""

    def __init__(self, items: Iterable[str] = ()) -> None:
        self.items: list[str] = []
        self._index: dict[str, int] = {}
        for item in items:
            self.add(item)

    def add(self, item: str) -> int:
        if item not in self._index:
            self._index[item] = len(self.items)
            self.items.append(item)
        return self._index[item]

    def codes(self, items: Iterable[str], dtype: type[np.unsignedinteger[Any]]) -> NDArray[Any]:
        return np.array([self.add(i) for i in items], dtype=dtype)


@dataclass(frozen=True)
class _LocaleVocab:
    """Per-locale draws as indices into the population's vocabularies (duplicates keep Faker's weights)."""

    first_female: NDArray[np.uint16]
    first_male: NDArray[np.uint16]
    last_female: NDArray[np.uint16]
    last_male: NDArray[np.uint16]
    users: NDArray[np.uint16]
    domains: NDArray[np.uint8]


@dataclass(frozen=True)
class _Vocabulary:
    first_names: list[str]
    last_names: list[str]
    email_users: list[str]
    email_domains: list[str]
    by_locale: dict[str, _LocaleVocab]

    @classmethod
    def build(cls, seed: int, locales: Sequence[str]) -> _Vocabulary:
        first, last, users, domains = _Interner(), _Interner(), _Interner(), _Interner()
        by_locale = {}
        for k, locale in enumerate(locales):
            ff, fm, lf, lm, us, dm = _faker_draws(seed, locale, VOCAB_DRAWS_LOCAL if k == 0 else VOCAB_DRAWS_FOREIGN)
            by_locale[locale] = _LocaleVocab(first.codes(ff, np.uint16), first.codes(fm, np.uint16),
                                             last.codes(lf, np.uint16), last.codes(lm, np.uint16),
                                             users.codes(us, np.uint16), domains.codes(dm, np.uint8))
        return cls(first.items, last.items, users.items, domains.items, by_locale)


# -- columns ----------------------------------------------------------------------------------------------

COLUMN_DTYPES: dict[str, np.dtype[Any]] = {
    "msisdn": np.dtype(np.int64), "imsi": np.dtype(np.int64), "age": np.dtype(np.uint8),
    "gender": np.dtype(np.uint8), "language": np.dtype(np.uint8), "status": np.dtype(np.uint8),
    "interests": np.dtype(np.uint32), "os": np.dtype(np.uint8), "app_installed": np.dtype(np.bool_),
    "tariff": np.dtype(np.uint8), "roaming": np.dtype(np.bool_), "home_country": np.dtype(np.uint8),
    "timezone": np.dtype(np.uint8), "home_x": np.dtype(np.float32), "home_y": np.dtype(np.float32),
    "work_x": np.dtype(np.float32), "work_y": np.dtype(np.float32), "first_name": np.dtype(np.uint16),
    "last_name": np.dtype(np.uint16), "email_user": np.dtype(np.uint16), "email_domain": np.dtype(np.uint8),
    "is_test": np.dtype(np.bool_),
}
"""Every column of a population and its dtype."""


class _Column(Generic[T]):
    """A typed, read-through view of one population column (valid until the next append)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> _Column[T]: ...

    @overload
    def __get__(self, obj: Population, objtype: type | None = None) -> NDArray[T]: ...

    def __get__(self, obj: Population | None, objtype: type | None = None) -> NDArray[T] | _Column[T]:
        if obj is None:
            return self
        arr: NDArray[T] = obj._cols[self.name][: obj._size]
        return arr


@dataclass(frozen=True)
class Subscriber:
    """A decoded, read-only view of one subscriber, built on demand for APIs."""

    index: int
    msisdn: str
    imsi: str
    first_name: str
    last_name: str
    name: str
    email: str
    age: int
    gender: str
    language: str
    status: str
    interests: tuple[str, ...]
    os: str
    app_installed: bool
    tariff: str
    roaming: bool
    home_country: str
    timezone: str
    is_test: bool

    def to_dict(self) -> dict[str, Any]:
        """The view as camelCase JSON-ready data (without the internal row index)."""
        return {
            "msisdn": self.msisdn, "imsi": self.imsi, "name": self.name, "firstName": self.first_name,
            "lastName": self.last_name, "email": self.email, "age": self.age, "gender": self.gender,
            "language": self.language, "status": self.status, "interests": list(self.interests), "os": self.os,
            "appInstalled": self.app_installed, "tariff": self.tariff, "roaming": self.roaming,
            "homeCountry": self.home_country, "timezone": self.timezone, "isTest": self.is_test,
        }


@dataclass(frozen=True)
class _BuildPlan:
    """Everything a block needs that does not depend on the block."""

    city: City
    n: int
    streams: RngStreams
    roaming_share: float
    countries: list[str]  # home country first, then visitor countries
    vocab: _Vocabulary
    number_plans: dict[str, NumberPlan]
    imsi_plans: dict[str, ImsiPlan]
    fictional: NumberPlan | None

    @classmethod
    def make(cls, city: City, n: int, streams: RngStreams, fictional_numbers: bool,
             roaming_share: float) -> _BuildPlan:
        if n < 0:
            raise InvalidConfigError(f"population size must be non-negative, got {n}")
        if not 0.0 <= roaming_share <= 1.0:
            raise InvalidConfigError(f"roaming share must be within [0, 1], got {roaming_share}")
        home = city.country.code
        countries = [home, *sorted(c for c in COUNTRIES if c != home)]
        used = countries if roaming_share > 0 else [home]
        number_plans = {c: NumberPlan.for_country(COUNTRIES.get(c, city.country), streams) for c in used}
        imsi_plans = {c: ImsiPlan.for_country(COUNTRIES.get(c, city.country), streams) for c in countries}
        fictional = NumberPlan.fictional(streams) if fictional_numbers else None
        plans: list[NumberPlan] = [fictional] if fictional else list(number_plans.values())
        for plan in plans:
            if n > plan.capacity:
                raise InvalidConfigError(f"{n} subscribers exceed a numbering plan of {plan.capacity} numbers")
        # Visitor vocabularies are built even when absent so every block sees the same vocabularies.
        locales = list(dict.fromkeys(
            [city.locale, *(COUNTRIES[c].locale for c in countries[1:] if roaming_share > 0)]))
        vocab = _Vocabulary.build(streams.seed, locales)
        return cls(city, n, streams, roaming_share, countries, vocab, number_plans, imsi_plans, fictional)

    @property
    def blocks(self) -> int:
        return math.ceil(self.n / BLOCK_SIZE)

    def _place_hotspots(self, kind: str) -> NDArray[np.float64] | None:
        idx = [i for i, p in enumerate(self.city.places) if p.kind == kind]
        return self.city.place_xy[idx] if idx else None

    def block(self, b: int) -> dict[str, NDArray[Any]]:
        """The columns of block ``b`` (rows ``b * BLOCK_SIZE`` up to the next block or ``n``)."""
        if not 0 <= b < self.blocks:
            raise InvalidConfigError(f"block {b} outside 0..{self.blocks - 1}")
        lo, hi = b * BLOCK_SIZE, min(self.n, (b + 1) * BLOCK_SIZE)
        m = hi - lo
        ordinal = np.arange(lo, hi, dtype=np.int64)
        rng = self.streams.stream("population", b)
        city = self.city
        c: dict[str, NDArray[Any]] = {}

        visitor = rng.random(m) < self.roaming_share
        home_country = np.zeros(m, dtype=np.uint8)
        n_foreign = len(self.countries) - 1
        home_country[visitor] = 1 + rng.integers(0, n_foreign, int(visitor.sum())) if n_foreign else 0

        age = np.empty(m, dtype=np.uint8)
        gender = np.empty(m, dtype=np.uint8)
        language = np.empty(m, dtype=np.uint8)
        first = np.empty(m, dtype=np.uint16)
        last = np.empty(m, dtype=np.uint16)
        user = np.empty(m, dtype=np.uint16)
        domain = np.empty(m, dtype=np.uint8)
        ios_share = np.empty(m, dtype=np.float64)
        msisdn = np.empty(m, dtype=np.int64)
        imsi = np.empty(m, dtype=np.int64)
        # One vectorised pass per home country (a handful), never per subscriber.
        for ci, code in enumerate(self.countries):
            sel = np.flatnonzero(home_country == ci)
            k = len(sel)
            if k == 0:
                continue
            country = COUNTRIES.get(code, city.country)
            a = profiles.sample_age(rng, code, k)
            if ci > 0:  # visitors travel on their own: shift the few teenagers into their twenties
                a = np.where(a < 18, a + 10, a).astype(np.uint8)
            g = profiles.sample_gender(rng, code, a)
            age[sel], gender[sel] = a, g
            language[sel] = profiles.sample_language(rng, code, k)
            lv = self.vocab.by_locale[country.locale if ci > 0 else city.locale]
            female = g == profiles.FEMALE
            first[sel] = np.where(female, lv.first_female[rng.integers(0, len(lv.first_female), k)],
                                  lv.first_male[rng.integers(0, len(lv.first_male), k)])
            last[sel] = np.where(female, lv.last_female[rng.integers(0, len(lv.last_female), k)],
                                 lv.last_male[rng.integers(0, len(lv.last_male), k)])
            user[sel] = lv.users[rng.integers(0, len(lv.users), k)]
            domain[sel] = lv.domains[rng.integers(0, len(lv.domains), k)]
            ios_share[sel] = country.ios_share
            plan = self.fictional or self.number_plans[code]
            msisdn[sel] = plan.numbers(ordinal[sel])
            imsi[sel] = self.imsi_plans[code].imsis(ordinal[sel])

        status = profiles.sample_status(rng, city.country.code, age, gender)
        status[visitor] = profiles.VISITOR
        os = profiles.sample_os(rng, ios_share, age)
        app = profiles.sample_app_installed(rng, age, os)
        app &= ~visitor | (rng.random(m) < 0.05)  # few visitors install a foreign operator's app
        tariff = profiles.sample_tariff(rng, status, os)
        interests = profiles.sample_interests(rng, age, gender)

        home = np.empty((m, 2), dtype=np.float64)
        resident = ~visitor
        home[resident] = city.sample_points(rng, int(resident.sum()), RESIDENT_DENSITY)
        # Visitors stay in hotels near the centre.
        hotel = rng.normal(0.0, city.centre_radius_m * 0.4, (int(visitor.sum()), 2))
        hotel[~city.contains(hotel[:, 0], hotel[:, 1])] = 0.0
        home[visitor] = hotel
        work = home.copy()
        employed = status == profiles.EMPLOYED
        work[employed] = city.sample_points(rng, int(employed.sum()), JOB_DENSITY,
                                            self._place_hotspots("BUSINESS"), 0.25, 600.0)
        higher = (status == profiles.STUDENT) & (age >= 18)
        work[higher] = city.sample_points(rng, int(higher.sum()), JOB_DENSITY,
                                          self._place_hotspots("UNIVERSITY"), 0.6, 800.0)
        school = np.flatnonzero((status == profiles.STUDENT) & (age < 18))
        near = home[school] + rng.normal(0.0, 700.0, (len(school), 2))  # schools are local
        ok = city.contains(near[:, 0], near[:, 1])
        work[school[ok]] = near[ok]

        c["msisdn"], c["imsi"], c["age"], c["gender"], c["language"] = msisdn, imsi, age, gender, language
        c["status"], c["interests"], c["os"], c["app_installed"], c["tariff"] = status, interests, os, app, tariff
        c["roaming"], c["home_country"] = visitor, home_country
        c["timezone"] = np.zeros(m, dtype=np.uint8)  # everyone is physically in the city
        c["home_x"], c["home_y"] = home[:, 0].astype(np.float32), home[:, 1].astype(np.float32)
        c["work_x"], c["work_y"] = work[:, 0].astype(np.float32), work[:, 1].astype(np.float32)
        c["first_name"], c["last_name"], c["email_user"], c["email_domain"] = first, last, user, domain
        c["is_test"] = np.zeros(m, dtype=np.bool_)
        return {name: np.ascontiguousarray(arr, dtype=COLUMN_DTYPES[name]) for name, arr in c.items()}


# -- population -------------------------------------------------------------------------------------------

class Population:
    """Subscribers as columns: one numpy array per attribute, one row per subscriber.

    Columns (see :data:`COLUMN_DTYPES`): ``msisdn`` (E.164 digits without '+'), ``imsi`` (15 digits),
    ``age``, ``gender``/``status``/``os``/``tariff`` (codes of :mod:`simulator.profiles` tables),
    ``language`` (index into :attr:`languages`), ``interests`` (uint32 bitmask of
    :data:`~simulator.profiles.INTERESTS`), ``app_installed``, ``roaming`` (foreign visitor),
    ``home_country`` (index into :attr:`countries`), ``timezone`` (index into :attr:`timezones`),
    ``home_x/home_y/work_x/work_y`` (float32 metres; work is the place of work or study, equal to home for
    those without one), ``first_name``/``last_name``/``email_user``/``email_domain`` (indices into the
    vocabularies) and ``is_test``. An e-mail is ``email_user + row index + '@' + email_domain``.

    Column properties return views; :meth:`append` may reallocate, so re-read them after appending.
    Build with :meth:`build`; the constructor is internal.
    """

    msisdn = _Column[np.int64]()
    imsi = _Column[np.int64]()
    age = _Column[np.uint8]()
    gender = _Column[np.uint8]()
    language = _Column[np.uint8]()
    status = _Column[np.uint8]()
    interests = _Column[np.uint32]()
    os = _Column[np.uint8]()
    app_installed = _Column[np.bool_]()
    tariff = _Column[np.uint8]()
    roaming = _Column[np.bool_]()
    home_country = _Column[np.uint8]()
    timezone = _Column[np.uint8]()
    home_x = _Column[np.float32]()
    home_y = _Column[np.float32]()
    work_x = _Column[np.float32]()
    work_y = _Column[np.float32]()
    first_name = _Column[np.uint16]()
    last_name = _Column[np.uint16]()
    email_user = _Column[np.uint16]()
    email_domain = _Column[np.uint8]()
    is_test = _Column[np.bool_]()

    def __init__(self, city: City, columns: dict[str, NDArray[Any]], *, countries: list[str],
                 languages: list[str], timezones: list[str], first_names: list[str], last_names: list[str],
                 email_users: list[str], email_domains: list[str], imsi_plans: dict[str, ImsiPlan]) -> None:
        sizes = {len(a) for a in columns.values()}
        if set(columns) != set(COLUMN_DTYPES) or len(sizes) > 1:
            raise InvalidConfigError("population columns are incomplete or of different lengths")
        self.city = city
        self._cols = {k: np.ascontiguousarray(columns[k], dtype=dt) for k, dt in COLUMN_DTYPES.items()}
        self._size = sizes.pop() if sizes else 0
        self.countries = countries
        self.languages = languages
        self.timezones = timezones
        self._first = _Interner(first_names)
        self._last = _Interner(last_names)
        self._users = _Interner(email_users)
        self._domains = _Interner(email_domains)
        self._imsi_plans = imsi_plans
        # Test IMSIs are numbered per home network from the reserved top of its MSIN range.
        tests = np.bincount(self.home_country[self.is_test], minlength=len(countries))
        self._test_counts = {c: int(k) for c, k in zip(countries, tests.tolist(), strict=False)}
        self._sorted_keys: NDArray[np.int64] | None = None
        self._sorted_rows: NDArray[np.int64] | None = None
        self._recent: dict[int, int] = {}  # rows appended after the sorted index was built

    # -- construction -----------------------------------------------------------------------------------
    @classmethod
    def build(cls, city: City, n: int, streams: RngStreams, *, fictional_numbers: bool = False,
              roaming_share: float = 0.02) -> Population:
        """Generate ``n`` subscribers living in (or visiting) ``city``.

        Rows are generated in blocks of ``BLOCK_SIZE``, block ``b`` from ``streams.stream("population", b)``;
        MSISDNs and IMSIs come from seeded bijections of the global row index, so any block can be built
        alone (:meth:`build_block`) with the same result. A ``roaming_share`` of subscribers are foreign
        visitors (foreign MCC and MSISDN, status ``VISITOR``, staying near the centre). With
        ``fictional_numbers`` every MSISDN is ``+999`` + 10 digits, a range no real phone can answer.
        """
        plan = _BuildPlan.make(city, n, streams, fictional_numbers, roaming_share)
        return cls._from_blocks(plan, range(plan.blocks))

    @classmethod
    def build_block(cls, city: City, n: int, streams: RngStreams, block: int, *, fictional_numbers: bool = False,
                    roaming_share: float = 0.02) -> Population:
        """Only the rows of block ``block`` of the population :meth:`build` makes with the same arguments."""
        plan = _BuildPlan.make(city, n, streams, fictional_numbers, roaming_share)
        return cls._from_blocks(plan, [block])

    @classmethod
    def _from_blocks(cls, plan: _BuildPlan, blocks: Iterable[int]) -> Population:
        parts = [plan.block(b) for b in blocks]
        columns = {k: (np.concatenate([p[k] for p in parts]) if parts else np.empty(0, dt))
                   for k, dt in COLUMN_DTYPES.items()}
        v = plan.vocab
        return cls(plan.city, columns, countries=list(plan.countries), languages=list(profiles.LANGUAGES),
                   timezones=[plan.city.timezone], first_names=list(v.first_names), last_names=list(v.last_names),
                   email_users=list(v.email_users), email_domains=list(v.email_domains),
                   imsi_plans=plan.imsi_plans)

    @classmethod
    def concat(cls, parts: Sequence[Population]) -> Population:
        """Rows of ``parts`` one after another (parts must share city and vocabularies, e.g. blocks of a build)."""
        if not parts:
            raise InvalidConfigError("nothing to concatenate")
        head = parts[0]
        for p in parts[1:]:
            same = (p.city is head.city and p.countries == head.countries and p.languages == head.languages
                    and p.first_names == head.first_names and p.last_names == head.last_names
                    and p.email_users == head.email_users and p.email_domains == head.email_domains)
            if not same:
                raise InvalidConfigError("populations with different cities or vocabularies cannot be joined")
        columns = {k: np.concatenate([p._cols[k][: p._size] for p in parts]) for k in COLUMN_DTYPES}
        return cls(head.city, columns, countries=list(head.countries), languages=list(head.languages),
                   timezones=list(head.timezones), first_names=list(head.first_names),
                   last_names=list(head.last_names), email_users=list(head.email_users),
                   email_domains=list(head.email_domains), imsi_plans=head._imsi_plans)

    # -- vocabularies and size --------------------------------------------------------------------------
    @property
    def first_names(self) -> list[str]:
        """Vocabulary of first names (``first_name`` indexes it)."""
        return self._first.items

    @property
    def last_names(self) -> list[str]:
        """Vocabulary of last names (``last_name`` indexes it)."""
        return self._last.items

    @property
    def email_users(self) -> list[str]:
        """Vocabulary of e-mail user names (``email_user`` indexes it)."""
        return self._users.items

    @property
    def email_domains(self) -> list[str]:
        """Vocabulary of free e-mail domains (``email_domain`` indexes it)."""
        return self._domains.items

    @property
    def size(self) -> int:
        """Number of subscribers."""
        return self._size

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        """Bytes held by the columns' live rows."""
        return sum(a[: self._size].nbytes for a in self._cols.values())

    # -- test subscribers -------------------------------------------------------------------------------
    def append(self, *, msisdn: str, age: int = 30, gender: str = "FEMALE", language: str | None = None,
               status: str = "EMPLOYED", interests: Sequence[str] = (), os: str = "ANDROID",
               app_installed: bool = True, tariff: str = "MID", roaming: bool = False,
               home_xy: tuple[float, float], work_xy: tuple[float, float] | None = None,
               first_name: str | None = None, last_name: str | None = None) -> int:
        """Add a test subscriber (``is_test``) with a chosen E.164 MSISDN and return its row index.

        Everything is validated before anything changes; bad values raise :class:`InvalidSubscriberError`
        (a taken MSISDN :class:`DuplicateSubscriberError`). Growth doubles capacity, so appends are cheap.
        Names not yet in the vocabularies are added; the e-mail is under ``example.com``.
        """
        if not isinstance(msisdn, str) or not E164_PATTERN.match(msisdn):
            raise InvalidSubscriberError(f"msisdn {msisdn!r} is not E.164 ('+' then 5 to 15 digits, no leading 0)")
        digits = int(msisdn[1:])
        if self._find(digits) >= 0:
            raise DuplicateSubscriberError(f"msisdn {msisdn} is already a subscriber")
        if isinstance(age, bool) or not isinstance(age, int) or not profiles.MIN_AGE <= age <= 120:
            raise InvalidSubscriberError(f"age must be an integer from {profiles.MIN_AGE} to 120, got {age!r}")
        codes = {
            "gender": profiles.encode(profiles.GENDERS, gender, "gender"),
            "status": profiles.encode(profiles.STATUSES, status, "status"),
            "os": profiles.encode(profiles.OS_NAMES, os, "os"),
            "tariff": profiles.encode(profiles.TARIFFS, tariff, "tariff"),
        }
        if isinstance(interests, str):
            raise InvalidSubscriberError("interests must be a list of names, not a string")
        mask = profiles.interests_to_mask(interests)
        if language is None:
            language = profiles.language_table(self.city.country.code)[0][0]
        if not isinstance(language, str) or not profiles.BCP47_PATTERN.match(language):
            raise InvalidSubscriberError(f"language {language!r} is not a BCP-47 tag like 'en-US'")
        home = self._check_point(home_xy, "home_xy")
        work = self._check_point(work_xy, "work_xy") if work_xy is not None else home
        names = {"first_name": "Test" if first_name is None else first_name,
                 "last_name": "Subscriber" if last_name is None else last_name}
        for key, value in names.items():
            if not isinstance(value, str) or not value.strip() or len(value) > 64:
                raise InvalidSubscriberError(f"{key} must be a non-empty string of at most 64 characters")
        if not isinstance(app_installed, bool) or not isinstance(roaming, bool):
            raise InvalidSubscriberError("app_installed and roaming must be booleans")
        if language not in self.languages and len(self.languages) >= 255:
            raise InvalidSubscriberError("too many distinct languages")
        home_code = self._country_of(digits) if roaming else self.city.country.code
        plan = self._imsi_plans.get(home_code) or self._imsi_plans[self.city.country.code]
        imsi = plan.test_imsi(self._test_counts.get(home_code, 0))

        # Validated: now mutate.
        if language not in self.languages:
            self.languages.append(language)
        i = self._size
        self._reserve(i + 1)
        row: dict[str, Any] = {
            "msisdn": digits, "imsi": imsi, "age": age, "language": self.languages.index(language),
            "interests": mask, "app_installed": app_installed and codes["os"] != profiles.OTHER,
            "roaming": roaming, "home_country": self.countries.index(home_code), "timezone": 0,
            "home_x": home[0], "home_y": home[1], "work_x": work[0], "work_y": work[1],
            "first_name": self._first.add(names["first_name"]), "last_name": self._last.add(names["last_name"]),
            "email_user": self._users.add("test"), "email_domain": self._domains.add(TEST_EMAIL_DOMAIN),
            "is_test": True, **codes,
        }
        for key, value in row.items():
            self._cols[key][i] = value
        self._size = i + 1
        self._test_counts[home_code] = self._test_counts.get(home_code, 0) + 1
        if self._sorted_keys is not None:
            self._recent[digits] = i
        return i

    def _check_point(self, xy: tuple[float, float] | None, what: str) -> tuple[float, float]:
        try:
            x, y = (float(v) for v in xy)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise InvalidSubscriberError(f"{what} must be a pair of numbers (metres)") from None
        if not (math.isfinite(x) and math.isfinite(y)) or not bool(self.city.contains(x, y)):
            raise InvalidSubscriberError(f"{what} ({x:.0f}, {y:.0f}) is outside {self.city.display_name}")
        return x, y

    def _country_of(self, digits: int) -> str:
        """The known country whose dial code starts the number (longest match), else the city's."""
        text = str(digits)
        best = max((c for c in self.countries if c in COUNTRIES and text.startswith(COUNTRIES[c].dial)),
                   key=lambda c: len(COUNTRIES[c].dial), default=self.city.country.code)
        return best

    def _reserve(self, needed: int) -> None:
        capacity = len(self._cols["msisdn"])
        if needed <= capacity:
            return
        new_capacity = max(16, 2 * capacity, needed)
        for key, arr in self._cols.items():
            grown = np.zeros(new_capacity, dtype=arr.dtype)
            grown[: self._size] = arr[: self._size]
            self._cols[key] = grown

    # -- lookup -----------------------------------------------------------------------------------------
    def _ensure_index(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        if self._sorted_keys is None or self._sorted_rows is None:
            keys = self.msisdn
            rows = np.argsort(keys, kind="stable").astype(np.int64)
            self._sorted_keys, self._sorted_rows = keys[rows], rows
            self._recent = {}
        return self._sorted_keys, self._sorted_rows

    def _find(self, digits: int) -> int:
        keys, rows = self._ensure_index()
        pos = int(np.searchsorted(keys, digits))
        if pos < len(keys) and int(keys[pos]) == digits:
            return int(rows[pos])
        return self._recent.get(digits, -1)

    def index_of(self, msisdn: str) -> int:
        """Row of the subscriber with E.164 ``msisdn`` ('+' prefixed); O(log n) after a lazy sort."""
        if not isinstance(msisdn, str) or not E164_PATTERN.match(msisdn):
            raise InvalidSubscriberError(f"msisdn {msisdn!r} is not E.164 ('+' then 5 to 15 digits, no leading 0)")
        row = self._find(int(msisdn[1:]))
        if row < 0:
            raise UnknownSubscriberError(f"no subscriber with msisdn {msisdn}")
        return row

    def lookup(self, msisdns: Sequence[str]) -> NDArray[np.int64]:
        """Rows of many E.164 MSISDNs at once, ``-1`` for unknown or malformed ones."""
        keys, rows = self._ensure_index()
        digits = np.array([int(m[1:]) if isinstance(m, str) and E164_PATTERN.match(m) else -1 for m in msisdns],
                          dtype=np.int64)
        pos = np.minimum(np.searchsorted(keys, digits), max(len(keys) - 1, 0))
        found = np.full(len(digits), -1, dtype=np.int64)
        if len(keys):
            hit = keys[pos] == digits
            found[hit] = rows[pos[hit]]
        for j in np.flatnonzero(found < 0):
            found[j] = self._recent.get(int(digits[j]), -1)
        return found

    def _check_row(self, i: int) -> int:
        if isinstance(i, bool) or not isinstance(i, int | np.integer) or not 0 <= int(i) < self._size:
            raise UnknownSubscriberError(f"no subscriber at row {i!r}")
        return int(i)

    # -- decoded views ----------------------------------------------------------------------------------
    def msisdn_str(self, i: int) -> str:
        """The E.164 MSISDN of row ``i`` ('+' prefixed)."""
        return f"+{int(self.msisdn[self._check_row(i)])}"

    def view(self, i: int) -> Subscriber:
        """The decoded :class:`Subscriber` of row ``i``."""
        i = self._check_row(i)
        t = self.table(np.array([i]))
        return Subscriber(
            index=i, msisdn=t["msisdn"][0], imsi=t["imsi"][0], first_name=self.first_names[int(self.first_name[i])],
            last_name=self.last_names[int(self.last_name[i])], name=t["name"][0], email=t["email"][0],
            age=int(self.age[i]), gender=t["gender"][0], language=t["language"][0], status=t["status"][0],
            interests=tuple(t["interests"][0]), os=t["os"][0], app_installed=bool(self.app_installed[i]),
            tariff=t["tariff"][0], roaming=bool(self.roaming[i]), home_country=t["homeCountry"][0],
            timezone=t["timezone"][0], is_test=bool(self.is_test[i]),
        )

    def names(self, rows: NDArray[np.int64]) -> list[str]:
        """Full display names of ``rows`` in each subscriber's customary order."""
        first = np.asarray(self.first_names, dtype=object)[self.first_name[rows]]
        last = np.asarray(self.last_names, dtype=object)[self.last_name[rows]]
        # Subscribers of the city's own country use the city's locale (which a world may override).
        locales = [self.city.locale if k == 0 or c not in COUNTRIES else COUNTRIES[c].locale
                   for k, c in enumerate(self.countries)]
        loc = np.asarray(locales, dtype=object)[self.home_country[rows]]
        return [profiles.full_name(f, s, lc) for f, s, lc in zip(first.tolist(), last.tolist(), loc.tolist(),
                                                                strict=True)]

    def emails(self, rows: NDArray[np.int64]) -> list[str]:
        """E-mail addresses of ``rows`` (user + row index + '@' + domain: unique by construction)."""
        users = np.asarray(self.email_users, dtype=object)[self.email_user[rows]]
        domains = np.asarray(self.email_domains, dtype=object)[self.email_domain[rows]]
        return [f"{u}{r}@{d}" for u, r, d in zip(users.tolist(), rows.tolist(), domains.tolist(), strict=True)]

    def table(self, indices: ArrayLike | None = None) -> dict[str, Any]:
        """Decoded export columns (camelCase keys) of ``indices`` (all rows by default), in that order.

        Codes become strings, interests lists of names, numbers stay numpy arrays, and places become WGS84
        rounded to 5 decimals (about a metre).
        """
        rows = (np.arange(self._size, dtype=np.int64) if indices is None
                else np.asarray(indices, dtype=np.int64).reshape(-1))
        if rows.size and (rows.min() < 0 or rows.max() >= self._size):
            raise UnknownSubscriberError("row index out of range")
        proj = self.city.projection
        home_lat, home_lon = proj.to_latlon(self.home_x[rows], self.home_y[rows])
        work_lat, work_lon = proj.to_latlon(self.work_x[rows], self.work_y[rows])
        return {
            "msisdn": [f"+{v}" for v in self.msisdn[rows].tolist()],
            "imsi": [f"{v:0{IMSI_DIGITS}d}" for v in self.imsi[rows].tolist()],
            "name": self.names(rows),
            "email": self.emails(rows),
            "age": self.age[rows],
            "gender": profiles.decode(profiles.GENDERS, self.gender[rows]),
            "language": profiles.decode(self.languages, self.language[rows]),
            "status": profiles.decode(profiles.STATUSES, self.status[rows]),
            "interests": profiles.masks_to_interests(self.interests[rows]),
            "os": profiles.decode(profiles.OS_NAMES, self.os[rows]),
            "appInstalled": self.app_installed[rows],
            "tariff": profiles.decode(profiles.TARIFFS, self.tariff[rows]),
            "roaming": self.roaming[rows],
            "homeCountry": profiles.decode(self.countries, self.home_country[rows]),
            "timezone": profiles.decode(self.timezones, self.timezone[rows]),
            "homeLatitude": np.round(home_lat, 5),
            "homeLongitude": np.round(home_lon, 5),
            "workLatitude": np.round(work_lat, 5),
            "workLongitude": np.round(work_lon, 5),
            "isTest": self.is_test[rows],
        }
