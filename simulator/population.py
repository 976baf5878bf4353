"""The subscriber population as columns: identities, demographics, home and work places.

This module owns the population's numpy columns (one array per attribute, one row per subscriber, see
:data:`COLUMN_DTYPES`), the test subscribers appended to them, lookup by MSISDN and the decoded
:class:`Subscriber` view built on demand for APIs. How rows are drawn lives in :mod:`simulator.synthesis`,
their numbers in :mod:`simulator.numbering` and their text vocabularies in :mod:`simulator.vocabulary`. It must
not hold a Python object per subscriber, loop over subscribers when building, seed any global generator, or
know about cells, movement or consent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from simulator import profiles
from simulator.city import COUNTRIES, City
from simulator.errors import (
    DuplicateSubscriberError,
    InvalidConfigError,
    InvalidSubscriberError,
    UnknownSubscriberError,
)
from simulator.numbering import E164_PATTERN, IMSI_DIGITS, ImsiPlan
from simulator.rng import BLOCK_SIZE, RngStreams
from simulator.synthesis import BuildPlan
from simulator.vocabulary import Interner, email_local_part, name_slug

TEST_EMAIL_DOMAIN = "example.com"
"""Test subscribers get addresses under the RFC 2606 reserved domain."""

T = TypeVar("T", bound=np.generic)

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


@dataclass(frozen=True, slots=True)
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


class Population:
    """Subscribers as columns: one numpy array per attribute, one row per subscriber.

    Columns (see :data:`COLUMN_DTYPES`): ``msisdn`` (E.164 digits without '+'), ``imsi`` (15 digits),
    ``age``, ``gender``/``status``/``os``/``tariff`` (codes of :mod:`simulator.profiles` tables),
    ``language`` (index into :attr:`languages`), ``interests`` (uint32 bitmask of
    :data:`~simulator.profiles.INTERESTS`), ``app_installed``, ``roaming`` (foreign visitor),
    ``home_country`` (index into :attr:`countries`), ``timezone`` (index into :attr:`timezones`),
    ``home_x/home_y/work_x/work_y`` (float32 metres; work is the place of work or study, equal to home for
    those without one), ``first_name``/``last_name``/``email_user``/``email_domain`` (indices into the
    vocabularies) and ``is_test``. An e-mail is the person's names (``first.last``, ASCII) + row index + '@' +
    ``email_domain`` (a reserved domain); ``email_user`` is kept for the streams' sake and not shown.

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
        self._first = Interner(first_names)
        self._last = Interner(last_names)
        self._users = Interner(email_users)
        self._domains = Interner(email_domains)
        self._imsi_plans = imsi_plans
        self._first_slugs: list[str] = []  # name_slug of each first/last name, grown with the vocabularies
        self._last_slugs: list[str] = []
        # Test IMSIs are numbered per IMSI plan (a home network, or the test network every country shares with
        # fictional numbers) from the reserved top of its MSIN range.
        tests = np.bincount(self.home_country[self.is_test], minlength=len(countries))
        self._test_counts: dict[int, int] = {}
        for c, k in zip(countries, tests.tolist(), strict=False):
            base = self._imsi_plan(c).base
            self._test_counts[base] = self._test_counts.get(base, 0) + int(k)
        self.first_row = 0
        """Global row number of row 0: a shard of a larger population (:mod:`simulator.shards`) holds rows
        ``first_row ..``; e-mails carry the global number, so a row decodes the same in a shard as in the whole."""
        self._sorted_keys: NDArray[np.int64] | None = None
        self._sorted_rows: NDArray[np.int64] | None = None
        self._recent: dict[int, int] = {}  # rows appended after the sorted index was built

    # -- construction -----------------------------------------------------------------------------------
    @classmethod
    def build(cls, city: City, n: int, streams: RngStreams, *, fictional_numbers: bool = False,
              roaming_share: float = 0.02) -> Population:
        """Generate ``n`` subscribers living in (or visiting) ``city``.

        Rows are generated (:mod:`simulator.synthesis`) in blocks of :data:`~simulator.rng.BLOCK_SIZE`, block
        ``b`` from ``streams.stream("population", b)``; MSISDNs and IMSIs come from seeded bijections of the
        global row index (:mod:`simulator.numbering`), so any block can be built alone (:meth:`build_block`) with
        the same result. A ``roaming_share`` of subscribers are foreign
        visitors (foreign MCC and MSISDN, status ``VISITOR``, staying near the centre). With
        ``fictional_numbers`` every MSISDN is ``+999`` + 10 digits, a range no real phone can answer.
        """
        plan = BuildPlan.make(city, n, streams, fictional_numbers, roaming_share)
        return cls._from_blocks(plan, range(plan.blocks))

    @classmethod
    def build_block(cls, city: City, n: int, streams: RngStreams, block: int, *, fictional_numbers: bool = False,
                    roaming_share: float = 0.02) -> Population:
        """Only the rows of block ``block`` of the population :meth:`build` makes with the same arguments."""
        plan = BuildPlan.make(city, n, streams, fictional_numbers, roaming_share)
        return cls._from_blocks(plan, [block])

    @classmethod
    def build_blocks(cls, city: City, n: int, streams: RngStreams, first: int, count: int, *,
                     fictional_numbers: bool = False, roaming_share: float = 0.02) -> Population:
        """Rows of blocks ``first .. first + count - 1`` of the population :meth:`build` makes alike.

        A shard of that population: :attr:`first_row` is the global row of its row 0.
        """
        plan = BuildPlan.make(city, n, streams, fictional_numbers, roaming_share)
        pop = cls._from_blocks(plan, range(first, first + count))
        pop.first_row = first * BLOCK_SIZE
        return pop

    @classmethod
    def _from_blocks(cls, plan: BuildPlan, blocks: Iterable[int]) -> Population:
        parts = [{k: np.ascontiguousarray(a, dtype=COLUMN_DTYPES[k]) for k, a in plan.block(b).items()}
                 for b in blocks]
        columns = {k: (np.concatenate([p[k] for p in parts]) if parts else np.empty(0, dt))
                   for k, dt in COLUMN_DTYPES.items()}
        v = plan.vocab
        return cls(plan.city, columns, countries=list(plan.countries), languages=list(profiles.LANGUAGES),
                   timezones=list(plan.city.timezones), first_names=list(v.first_names), last_names=list(v.last_names),
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
        plan = self._imsi_plan(home_code)
        imsi = plan.test_imsi(self._test_counts.get(plan.base, 0))

        # Validated: now mutate.
        if language not in self.languages:
            self.languages.append(language)
        i = self._size
        self._reserve(i + 1)
        row: dict[str, Any] = {
            "msisdn": digits, "imsi": imsi, "age": age, "language": self.languages.index(language),
            "interests": mask, "app_installed": app_installed and codes["os"] != profiles.OTHER,
            "roaming": roaming, "home_country": self.countries.index(home_code),
            "timezone": int(self.city.timezone_of(home[0], home[1])),
            "home_x": home[0], "home_y": home[1], "work_x": work[0], "work_y": work[1],
            "first_name": self._first.add(names["first_name"]), "last_name": self._last.add(names["last_name"]),
            "email_user": self._users.add("test"), "email_domain": self._domains.add(TEST_EMAIL_DOMAIN),
            "is_test": True, **codes,
        }
        for key, value in row.items():
            self._cols[key][i] = value
        self._size = i + 1
        self._test_counts[plan.base] = self._test_counts.get(plan.base, 0) + 1
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

    def _imsi_plan(self, home_code: str) -> ImsiPlan:
        return self._imsi_plans.get(home_code) or self._imsi_plans[self.city.country.code]

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
        """E-mail addresses of ``rows``, unique by construction.

        ``first.last`` of the person's own names (ASCII) + row index + '@' + a reserved domain (``example.com``,
        ``.net`` or ``.org``).
        """
        for names, slugs in ((self.first_names, self._first_slugs), (self.last_names, self._last_slugs)):
            slugs.extend(name_slug(n) for n in names[len(slugs):])  # vocabularies only ever grow
        first = np.asarray(self._first_slugs, dtype=object)[self.first_name[rows]]
        last = np.asarray(self._last_slugs, dtype=object)[self.last_name[rows]]
        domains = np.asarray(self.email_domains, dtype=object)[self.email_domain[rows]]
        numbers = (rows + self.first_row).tolist()
        return [f"{email_local_part(f, s)}{r}@{d}" for f, s, r, d in zip(first.tolist(), last.tolist(), numbers,
                                                                    domains.tolist(), strict=True)]

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
