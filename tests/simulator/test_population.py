"""Population: identifiers, distributions, determinism, test subscribers, lookup and decoded views.

Numbering plans are tested in test_numbering.py, vocabularies in test_vocabulary.py.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from simulator import profiles
from simulator.city import COUNTRIES, City, city_from_preset
from simulator.errors import DuplicateSubscriberError, InvalidSubscriberError, UnknownSubscriberError
from simulator.population import COLUMN_DTYPES, Population
from simulator.rng import BLOCK_SIZE, RngStreams

_CACHE: dict[tuple[str, int, int, float], Population] = {}


def population(city: str, n: int = 10_000, seed: int = 1, roaming_share: float = 0.02) -> Population:
    """A cached population (building is deterministic, so sharing between read-only tests is safe)."""
    key = (city, n, seed, roaming_share)
    if key not in _CACHE:
        _CACHE[key] = Population.build(city_from_preset(city), n, RngStreams(seed), roaming_share=roaming_share)
    return _CACHE[key]


def fresh(n: int = 200, seed: int = 3) -> Population:
    """A small population that a test may modify."""
    return Population.build(city_from_preset("berlin"), n, RngStreams(seed))


def columns_equal(a: Population, b: Population) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in COLUMN_DTYPES)


def test_msisdns_imsis_and_emails_are_unique() -> None:
    """Identifiers never repeat within a population."""
    pop = population("moscow", 20_000)
    assert len(np.unique(pop.msisdn)) == pop.size
    assert len(np.unique(pop.imsi)) == pop.size
    emails = pop.emails(np.arange(pop.size))
    assert len(set(emails)) == pop.size
    assert all(re.match(r"^[a-z][a-z0-9._]*[0-9]+@[a-z0-9.-]+\.[a-z]+$", e) for e in emails)


def test_imsi_carries_the_home_network_and_visitors_roam() -> None:
    """IMSIs are 15 digits with the home country's MCC+MNC; visitors have a foreign one and status VISITOR."""
    pop = population("seoul")
    table = pop.table()
    for imsi, country, roaming, status in zip(table["imsi"], table["homeCountry"], table["roaming"].tolist(),
                                              table["status"], strict=True):
        c = COUNTRIES[country]
        assert len(imsi) == 15 and imsi.startswith(c.mcc + c.mnc)
        assert roaming == (country != "KR") == (status == "VISITOR")


@pytest.mark.parametrize("city", [
    "moscow",  # median 39.6, iOS 30%
    "seoul",  # oldest median here after Berlin
    "berlin",  # median 45.7, iOS 38%
    "new-york",  # youngest, iOS-majority
])
def test_distributions_are_plausible_for_the_country(city: str) -> None:
    """Age median and iOS share follow the country; several interests each; about 2% visitors."""
    pop = population(city, 20_000)
    country = city_from_preset(city).country
    resident = ~pop.roaming
    assert abs(float(np.median(pop.age[resident])) - country.median_age) <= 6
    ios = float(np.mean(pop.os[resident] == profiles.IOS))
    assert abs(ios - country.ios_share) <= 0.05
    counts = np.bitwise_count(pop.interests)
    assert counts.min() >= 2 and counts.max() <= 6 and 3 <= counts.mean() <= 4.5
    assert 0.015 <= float(pop.roaming.mean()) <= 0.025
    assert 0.38 <= float(pop.app_installed.mean()) <= 0.52
    assert pop.age.min() >= 14 and pop.age.max() <= 90


def test_status_shapes_places_of_work() -> None:
    """Students are young, retirees old; those without work stay home; visitors sleep near the centre."""
    pop = population("moscow", 20_000)
    st = pop.status
    assert np.median(pop.age[st == profiles.STUDENT]) < 22
    assert pop.age[st == profiles.RETIRED].min() >= 60
    idle = (st == profiles.RETIRED) | (st == profiles.UNEMPLOYED) | (st == profiles.VISITOR)
    assert np.array_equal(pop.work_x[idle], pop.home_x[idle]) and np.array_equal(pop.work_y[idle], pop.home_y[idle])
    employed = st == profiles.EMPLOYED
    assert np.mean(pop.work_x[employed] != pop.home_x[employed]) > 0.99
    city = city_from_preset("moscow")
    r_visitor = np.hypot(pop.home_x[st == profiles.VISITOR], pop.home_y[st == profiles.VISITOR])
    assert np.median(r_visitor) < city.centre_radius_m
    # Jobs concentrate in the centre more than homes do.
    assert np.mean(np.hypot(pop.work_x[employed], pop.work_y[employed]) < city.centre_radius_m) > \
        2 * np.mean(np.hypot(pop.home_x, pop.home_y) < city.centre_radius_m)


def test_blocks_built_separately_in_any_order_equal_one_build() -> None:
    """Building each block alone (last first) and concatenating gives exactly the one-shot population."""
    city = city_from_preset("seoul")
    n = 2 * BLOCK_SIZE + 123
    whole = Population.build(city, n, RngStreams(11))
    parts = [Population.build_block(city, n, RngStreams(11), b) for b in (2, 1, 0)]
    joined = Population.concat(parts[::-1])
    assert joined.size == n
    assert columns_equal(whole, joined)
    assert whole.first_names == joined.first_names and whole.email_users == joined.email_users


def test_same_seed_same_population_other_seed_differs() -> None:
    """Seeds alone decide the population."""
    city = city_from_preset("berlin")
    a = Population.build(city, 3_000, RngStreams(5))
    b = Population.build(city, 3_000, RngStreams(5))
    c = Population.build(city, 3_000, RngStreams(6))
    assert columns_equal(a, b) and a.table()["name"] == b.table()["name"]
    assert not np.array_equal(a.msisdn, c.msisdn) and not np.array_equal(a.age, c.age)


def test_columns_are_compact() -> None:
    """Columns have their documented dtypes and cost about 54 bytes per subscriber."""
    pop = population("moscow")
    for name, dtype in COLUMN_DTYPES.items():
        assert getattr(pop, name).dtype == dtype and len(getattr(pop, name)) == pop.size
    assert pop.nbytes <= 60 * pop.size


def test_append_adds_a_findable_test_subscriber() -> None:
    """An appended subscriber is a test row found by MSISDN, decoded as given, with vocabularies grown."""
    pop = fresh()
    n = pop.size
    assert pop.index_of(pop.msisdn_str(17)) == 17  # index built before appending
    i = pop.append(msisdn="+491700000001", age=41, gender="MALE", language="pt-BR", status="STUDENT",
                   interests=["CRYPTO", "BOOKS"], os="IOS", tariff="PREMIUM", home_xy=(100.0, -200.0),
                   first_name="Zebulon", last_name="Quux")
    assert i == n and pop.size == n + 1 and pop.index_of("+491700000001") == i
    v = pop.view(i)
    assert (v.msisdn, v.age, v.gender, v.language, v.status, v.os, v.tariff) == (
        "+491700000001", 41, "MALE", "pt-BR", "STUDENT", "IOS", "PREMIUM")
    assert v.interests == ("BOOKS", "CRYPTO") and v.is_test and v.name == "Zebulon Quux"
    assert v.email == f"zebulon.quux{i}@example.com" and v.imsi.startswith("26201")
    assert "Zebulon" in pop.first_names and pop.work_x[i] == pop.home_x[i]
    d = v.to_dict()
    assert d["appInstalled"] is True and d["isTest"] is True and d["homeCountry"] == "DE"


def test_append_grows_capacity_geometrically() -> None:
    """Many appends keep every earlier row intact and reallocate only a logarithmic number of times."""
    pop = fresh(10)
    reallocations = 0
    for k in range(300):
        before = pop._cols["msisdn"]
        pop.append(msisdn=f"+4915100{k:06d}", home_xy=(0.0, 0.0))
        reallocations += pop._cols["msisdn"] is not before
    assert pop.size == 310 and reallocations <= 6
    assert pop.index_of("+4915100000299") == 309 and pop.index_of(pop.msisdn_str(3)) == 3


def test_roaming_test_subscriber_takes_the_country_of_its_number() -> None:
    """A roaming test subscriber with a +33 number is French with a French IMSI."""
    pop = fresh()
    i = pop.append(msisdn="+33612345678", roaming=True, status="VISITOR", home_xy=(0.0, 0.0))
    v = pop.view(i)
    assert v.home_country == "FR" and v.roaming and v.imsi.startswith("20801")


@pytest.mark.parametrize(("changes", "error"), [
    ({"msisdn": "491701234567"}, InvalidSubscriberError),  # no '+'
    ({"msisdn": "+0491701234"}, InvalidSubscriberError),  # leading zero country code
    ({"msisdn": "+49"}, InvalidSubscriberError),  # too short
    ({"msisdn": "+4917012345678901"}, InvalidSubscriberError),  # more than 15 digits
    ({"msisdn": "+49 170 1234567"}, InvalidSubscriberError),  # spaces
    ({"msisdn": "TAKEN"}, DuplicateSubscriberError),  # already a subscriber
    ({"gender": "OTHER"}, InvalidSubscriberError),  # unknown gender
    ({"status": "ASTRONAUT"}, InvalidSubscriberError),  # unknown status
    ({"os": "SYMBIAN"}, InvalidSubscriberError),  # unknown OS
    ({"tariff": "GOLD"}, InvalidSubscriberError),  # unknown tariff
    ({"interests": ["SPORTS", "KNITTING"]}, InvalidSubscriberError),  # unknown interest
    ({"interests": "SPORTS"}, InvalidSubscriberError),  # a string, not a list
    ({"language": "english"}, InvalidSubscriberError),  # not BCP-47
    ({"age": 7}, InvalidSubscriberError),  # too young for a SIM of their own
    ({"age": 30.5}, InvalidSubscriberError),  # not an integer
    ({"home_xy": (1e6, 0.0)}, InvalidSubscriberError),  # outside the city
    ({"home_xy": (float("nan"), 0.0)}, InvalidSubscriberError),  # not a number
    ({"work_xy": (0.0,)}, InvalidSubscriberError),  # not a pair
    ({"first_name": ""}, InvalidSubscriberError),  # empty name
])
def test_append_rejects_bad_input_without_changing_anything(changes: dict[str, Any],
                                                            error: type[Exception]) -> None:
    """Bad test-subscriber input raises a clear SimulatorError and leaves the population unchanged."""
    pop = fresh()
    args: dict[str, Any] = {"msisdn": "+491709999999", "home_xy": (0.0, 0.0), **changes}
    if args["msisdn"] == "TAKEN":
        args["msisdn"] = pop.msisdn_str(5)
    n, languages, first = pop.size, list(pop.languages), list(pop.first_names)
    with pytest.raises(error) as info:
        pop.append(**args)
    assert str(info.value)
    assert pop.size == n and pop.languages == languages and pop.first_names == first


@pytest.mark.parametrize("msisdn", [
    "+491709999998",  # well-formed but absent
    "+999",  # too short to be anyone's
])
def test_index_of_unknown_or_malformed_raises(msisdn: str) -> None:
    """index_of raises a SimulatorError for numbers that are not subscribers."""
    with pytest.raises((UnknownSubscriberError, InvalidSubscriberError)):
        fresh().index_of(msisdn)


def test_lookup_and_view_bounds() -> None:
    """Batch lookup gives -1 for unknown numbers; views of missing rows raise UnknownSubscriberError."""
    pop = fresh()
    rows = pop.lookup([pop.msisdn_str(9), "+1", pop.msisdn_str(0), "+491709999998"])
    assert rows.tolist() == [9, -1, 0, -1]
    for bad in (-1, pop.size):
        with pytest.raises(UnknownSubscriberError):
            pop.view(bad)


def test_view_and_table_decode_the_same_values() -> None:
    """A Subscriber view agrees with the decoded table row and uses camelCase keys."""
    pop = population("moscow")
    table = pop.table(np.array([42]))
    d = pop.view(42).to_dict()
    for key in ("msisdn", "imsi", "name", "email", "gender", "language", "status", "os", "tariff", "homeCountry"):
        assert d[key] == table[key][0]
    assert d["interests"] == table["interests"][0] and d["age"] == int(table["age"][0])
    assert d["timezone"] == "Europe/Moscow" and d["language"] in pop.languages
    assert set(d) >= {"appInstalled", "isTest", "firstName", "lastName"}
    lat, lon = float(table["homeLatitude"][0]), float(table["homeLongitude"][0])
    assert abs(lat - 55.75) < 0.5 and abs(lon - 37.6) < 0.8


def test_interest_masks_round_trip() -> None:
    """Interest names and uint32 masks convert both ways in catalogue order."""
    names = ["TRAVEL", "SPORTS", "CRYPTO"]
    mask = profiles.interests_to_mask(names)
    assert profiles.mask_to_interests(mask) == ["SPORTS", "TRAVEL", "CRYPTO"]
    assert profiles.masks_to_interests(np.array([mask, 0, mask], dtype=np.uint32))[2] == ["SPORTS", "TRAVEL", "CRYPTO"]
    assert profiles.mask_has(np.array([mask, 1 << 5], dtype=np.uint32), ["CRYPTO"]).tolist() == [True, False]


def test_custom_city_without_places_builds() -> None:
    """A city with no named places (no business or university hotspots) still gets workplaces."""
    preset = city_from_preset("berlin")
    bare = City("bare", "Bare", preset.projection, preset.country, preset.timezone, preset.locale,
                preset.boundary, preset.centre_radius_m, preset.residential_radius_m)
    pop = Population.build(bare, 500, RngStreams(1))
    assert pop.size == 500 and bool(np.all(bare.contains(pop.work_x, pop.work_y)))
