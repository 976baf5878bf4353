"""Synthesis of subscriber columns: the build plan and the blocks it generates.

This module owns how a population is drawn. A :class:`BuildPlan` holds everything that does not depend on the
block (numbering plans, vocabularies, visitor countries); :meth:`BuildPlan.block` draws the columns of one
block of :data:`~simulator.rng.BLOCK_SIZE` rows from its own stream ``("population", b)``: home country,
demographics and names, numbers derived from each row's global ordinal, device and tariff, home and place of
work or study. Any block can therefore be built alone, in any order, with the same result. It must not loop
over subscribers, seed any global generator, or know about cells, movement or consent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simulator import profiles
from simulator.city import COUNTRIES, FICTIONAL_DIAL, JOB_DENSITY, RESIDENT_DENSITY, City, Country
from simulator.errors import InvalidConfigError
from simulator.numbering import FICTIONAL_DIGITS, ImsiPlan, NumberPlan
from simulator.rng import BLOCK_SIZE, RngStreams
from simulator.vocabulary import Vocabulary


def check_number_capacity(n: int, country: Country, roaming_share: float, fictional_numbers: bool,
                          territory: str) -> None:
    """Refuse ``n`` subscribers that the numbering plans in use cannot number; the error names the plan and limit.

    The plans are the home country's and, with roaming visitors, each visitor country's (a row's number comes
    from its global ordinal). Numbering is the only limit on size; memory is the machine's.
    """
    if fictional_numbers:
        if n > 10**FICTIONAL_DIGITS:
            raise InvalidConfigError(f"{n:,} subscribers exceed the fictional +{FICTIONAL_DIAL} numbering plan: at "
                                     f"most {10**FICTIONAL_DIGITS:,}")
        return
    if n > country.number_capacity:
        raise InvalidConfigError(
            f"{n:,} subscribers exceed the mobile numbering plan of {territory} ({country.code}, +{country.dial}): "
            f"at most {country.number_capacity:,} subscribers")
    if roaming_share > 0:
        for code, visitor in COUNTRIES.items():
            if code != country.code and n > visitor.number_capacity:
                raise InvalidConfigError(
                    f"{n:,} subscribers exceed the numbering plan of roaming visitors from {code} (+{visitor.dial}): "
                    f"at most {visitor.number_capacity:,} subscribers in {territory} with roaming visitors")


@dataclass(frozen=True)
class BuildPlan:
    """Everything a block needs that does not depend on the block (make it with :meth:`make`)."""

    city: City
    n: int
    streams: RngStreams
    roaming_share: float
    countries: list[str]  # home country first, then visitor countries
    vocab: Vocabulary
    number_plans: dict[str, NumberPlan]
    imsi_plans: dict[str, ImsiPlan]
    fictional: NumberPlan | None

    @classmethod
    def make(cls, city: City, n: int, streams: RngStreams, fictional_numbers: bool,
             roaming_share: float) -> BuildPlan:
        """The plan of ``n`` subscribers of ``city``; bad sizes or shares raise :class:`InvalidConfigError`.

        Numbering plans are keyed by named streams (``msisdn:<country>``, ``imsi:<country>``,
        ``msisdn:fictional``) and vocabularies by the seed, so every block of the same arguments sees the same.
        """
        if n < 0:
            raise InvalidConfigError(f"population size must be non-negative, got {n}")
        if not 0.0 <= roaming_share <= 1.0:
            raise InvalidConfigError(f"roaming share must be within [0, 1], got {roaming_share}")
        home = city.country.code
        countries = [home, *sorted(c for c in COUNTRIES if c != home)]
        used = countries if roaming_share > 0 else [home]
        number_plans = {c: NumberPlan.for_country(COUNTRIES.get(c, city.country), streams) for c in used}
        if fictional_numbers:  # fictional numbers, test-network SIMs: nothing can reach a real subscriber
            test_network = ImsiPlan.test_network(streams)
            imsi_plans = {c: test_network for c in countries}
        else:
            imsi_plans = {c: ImsiPlan.for_country(COUNTRIES.get(c, city.country), streams) for c in countries}
        fictional = NumberPlan.fictional(streams) if fictional_numbers else None
        check_number_capacity(n, city.country, roaming_share, fictional_numbers, city.display_name)
        # Visitor vocabularies are built even when absent so every block sees the same vocabularies.
        locales = list(dict.fromkeys(
            [city.locale, *(COUNTRIES[c].locale for c in countries[1:] if roaming_share > 0)]))
        vocab = Vocabulary.build(streams.seed, locales)
        return cls(city, n, streams, roaming_share, countries, vocab, number_plans, imsi_plans, fictional)

    @property
    def blocks(self) -> int:
        """Number of blocks (the last may be short)."""
        return math.ceil(self.n / BLOCK_SIZE)

    def _place_hotspots(self, kind: str) -> NDArray[np.float64] | None:
        idx = [i for i, p in enumerate(self.city.places) if p.kind == kind]
        return self.city.place_xy[idx] if idx else None

    def _metro_places(self, rng: np.random.Generator, home: NDArray[np.float64], resident: NDArray[np.bool_],
                      visitor: NDArray[np.bool_], employed: NDArray[np.bool_], higher: NDArray[np.bool_]
                      ) -> NDArray[np.float64]:
        """Homes (filled in) and places of work or study (returned) in a territory of several metros.

        Each row's metro is drawn by the metros' population shares; residents live, work and study in their own
        metro, visitors stay in hotels near its centre.
        """
        city = self.city
        cum = np.cumsum(city.metro_shares)
        metro = np.minimum(np.searchsorted(cum, rng.random(len(home)) * cum[-1], side="right"), len(cum) - 1)
        work = np.empty_like(home)
        business, university = self._place_hotspots("BUSINESS"), self._place_hotspots("UNIVERSITY")
        for mi, mm in enumerate(city.metros):
            here = metro == mi
            res = np.flatnonzero(here & resident)
            home[res] = city.sample_points(rng, len(res), RESIDENT_DENSITY, metro=mi)
            vis = np.flatnonzero(here & visitor)
            hotel = np.asarray([mm.x, mm.y]) + rng.normal(0.0, mm.centre_radius_m * 0.4, (len(vis), 2))
            hotel[~city.contains(hotel[:, 0], hotel[:, 1])] = (mm.x, mm.y)
            home[vis] = hotel
            work[here] = home[here]
            emp = np.flatnonzero(here & employed)
            work[emp] = city.sample_points(rng, len(emp), JOB_DENSITY, business, 0.25, 600.0, metro=mi)
            uni = np.flatnonzero(here & higher)
            work[uni] = city.sample_points(rng, len(uni), JOB_DENSITY, university, 0.6, 800.0, metro=mi)
        return work

    def block(self, b: int) -> dict[str, NDArray[Any]]:
        """The columns of block ``b`` (rows ``b * BLOCK_SIZE`` up to the next block or ``n``).

        Keys are the column names of :data:`simulator.population.COLUMN_DTYPES`, each array already of that dtype.
        """
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
        employed = status == profiles.EMPLOYED
        higher = (status == profiles.STUDENT) & (age >= 18)
        if len(city.metros) == 1:
            home[resident] = city.sample_points(rng, int(resident.sum()), RESIDENT_DENSITY)
            # Visitors stay in hotels near the centre.
            hotel = rng.normal(0.0, city.centre_radius_m * 0.4, (int(visitor.sum()), 2))
            hotel[~city.contains(hotel[:, 0], hotel[:, 1])] = 0.0
            home[visitor] = hotel
            work = home.copy()
            work[employed] = city.sample_points(rng, int(employed.sum()), JOB_DENSITY,
                                                self._place_hotspots("BUSINESS"), 0.25, 600.0)
            work[higher] = city.sample_points(rng, int(higher.sum()), JOB_DENSITY,
                                              self._place_hotspots("UNIVERSITY"), 0.6, 800.0)
        else:
            work = self._metro_places(rng, home, resident, visitor, employed, higher)
        school = np.flatnonzero((status == profiles.STUDENT) & (age < 18))
        near = home[school] + rng.normal(0.0, 700.0, (len(school), 2))  # schools are local
        ok = city.contains(near[:, 0], near[:, 1])
        work[school[ok]] = near[ok]

        c["msisdn"], c["imsi"], c["age"], c["gender"], c["language"] = msisdn, imsi, age, gender, language
        c["status"], c["interests"], c["os"], c["app_installed"], c["tariff"] = status, interests, os, app, tariff
        c["roaming"], c["home_country"] = visitor, home_country
        # Everyone is physically in the territory: on the time of the metro they live (or stay) in.
        c["timezone"] = city.timezone_of(home[:, 0], home[:, 1])
        c["home_x"], c["home_y"] = home[:, 0].astype(np.float32), home[:, 1].astype(np.float32)
        c["work_x"], c["work_y"] = work[:, 0].astype(np.float32), work[:, 1].astype(np.float32)
        c["first_name"], c["last_name"], c["email_user"], c["email_domain"] = first, last, user, domain
        c["is_test"] = np.zeros(m, dtype=np.bool_)
        return c
