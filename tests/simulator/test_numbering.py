"""Numbering: seeded permutations, each country's mobile numbers, the fictional range and IMSIs."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import profiles
from simulator.city import COUNTRIES, city_from_preset
from simulator.errors import InvalidConfigError, InvalidSubscriberError
from simulator.numbering import (
    E164_PATTERN,
    IMSI_DIGITS,
    TEST_MSIN_RESERVE,
    ImsiPlan,
    NumberPlan,
    Permutation,
)
from simulator.population import Population
from simulator.rng import RngStreams

# Mobile numbering plans written out independently of the code under test.
MOBILE_PATTERNS: dict[str, str] = {
    "RU": r"^7(901|902|903|905|906|909|910|911|912|915|916|917|925|926|962|985)\d{7}$",
    "KR": r"^8210\d{8}$",
    "DE": r"^49(151|152|157|159|160|162|163|17\d)\d{8}$",
    "US": r"^1(212|332|347|646|718|917|929)[2-9]\d{6}$",  # NXX exchange starts 2-9
    "GB": r"^447[45789]\d{8}$",  # 07 mobile range, 10 national digits
    "FR": r"^33[67]\d{8}$",
}


@settings(max_examples=40, deadline=None)
@given(domain=st.integers(1, 5_000), seed=st.integers(0, 2**32))
def test_permutation_is_a_bijection(domain: int, seed: int) -> None:
    """A seeded permutation maps [0, domain) onto itself, one to one, the same way for the same seed."""
    perm = Permutation.seeded(domain, RngStreams(seed), "test")
    images = perm(np.arange(domain))
    assert np.array_equal(np.sort(images), np.arange(domain))
    assert np.array_equal(images, Permutation.seeded(domain, RngStreams(seed), "test")(np.arange(domain)))


def test_permutation_scatters_consecutive_ordinals() -> None:
    """Consecutive ordinals get unrelated images (numbers look random, not sequential)."""
    images = Permutation.seeded(10**8, RngStreams(1), "test")(np.arange(1_000))
    assert np.mean(np.abs(np.diff(images)) > 1_000) > 0.99


@pytest.mark.parametrize(("domain", "ordinals"), [
    (0, [0]),  # an empty domain has no permutation
    (10, [10]),  # just beyond the domain
    (10, [3, 99]),  # one of several beyond it
])
def test_permutation_refuses_what_is_outside_its_domain(domain: int, ordinals: list[int]) -> None:
    """Empty domains and ordinals beyond the domain raise InvalidConfigError."""
    with pytest.raises(InvalidConfigError):
        Permutation.seeded(domain, RngStreams(1), "test")(ordinals)


@pytest.mark.parametrize("code", sorted(MOBILE_PATTERNS))
def test_number_plans_give_unique_mobile_numbers_of_the_country(code: str) -> None:
    """Ordinals across a country's whole plan map to distinct mobile numbers of that country, valid E.164."""
    plan = NumberPlan.for_country(COUNTRIES[code], RngStreams(4))
    ordinals = np.unique(np.concatenate([[0, plan.capacity - 1],
                                         np.linspace(0, plan.capacity - 1, 3_000).astype(np.int64)]))
    numbers = plan.numbers(ordinals)
    assert len(np.unique(numbers)) == len(ordinals)
    for digits in numbers.tolist():
        assert re.match(MOBILE_PATTERNS[code], str(digits)) and E164_PATTERN.match(f"+{digits}")


def test_fictional_plan_uses_the_unassigned_999_range() -> None:
    """The fictional plan holds 10**10 numbers, all +999 and ten digits."""
    plan = NumberPlan.fictional(RngStreams(4))
    assert plan.capacity == 10**10
    assert all(re.match(r"^999\d{10}$", str(d)) for d in plan.numbers(np.arange(0, 10**10, 10**7)).tolist())


@pytest.mark.parametrize("code", sorted(COUNTRIES))
def test_imsis_carry_the_network_and_spare_the_test_reserve(code: str) -> None:
    """Generated IMSIs are 15 digits of the country's MCC+MNC and never reach the MSINs kept for test phones."""
    country = COUNTRIES[code]
    plan = ImsiPlan.for_country(country, RngStreams(4))
    generated = plan.imsis(np.array([0, 1, 2, plan.space - 1]))
    tests = [plan.test_imsi(k) for k in (0, 1, TEST_MSIN_RESERVE - 1)]
    for imsi in [*generated.tolist(), *tests]:
        assert len(str(imsi)) == IMSI_DIGITS and str(imsi).startswith(country.mcc + country.mnc)
    assert int(generated.max()) < min(tests)
    assert len(set(tests)) == 3
    with pytest.raises(InvalidSubscriberError):
        plan.test_imsi(TEST_MSIN_RESERVE)


@pytest.mark.parametrize("city", [
    "moscow",  # +7 9XX, many prefixes
    "seoul",  # +82 10, one prefix
    "berlin",  # +49 15x-17x, 8 subscriber digits
    "new-york",  # NANP: exchange code may not start with 0 or 1
])
def test_msisdns_follow_each_home_countrys_mobile_plan(city: str) -> None:
    """Every MSISDN, resident or visitor, is a valid mobile number of the subscriber's home country."""
    pop = Population.build(city_from_preset(city), 4_000, RngStreams(1), roaming_share=0.3)
    codes = profiles.decode(pop.countries, pop.home_country)
    assert set(codes) == set(COUNTRIES)  # visitors cover every other country
    for digits, code in zip(pop.msisdn.tolist(), codes, strict=True):
        assert re.match(MOBILE_PATTERNS[code], str(digits)), (digits, code)


def test_fictional_numbers_use_the_unassigned_999_range() -> None:
    """With fictional_numbers every MSISDN is +999 and ten digits, still unique."""
    pop = Population.build(city_from_preset("new-york"), 5_000, RngStreams(2), fictional_numbers=True)
    strings = [pop.msisdn_str(i) for i in range(pop.size)]
    assert all(re.match(r"^\+999\d{10}$", s) for s in strings)
    assert len(set(strings)) == pop.size
