"""Subscriber demographics: code tables, catalogues and the vectorised samplers that draw them.

This module owns the *meaning* of the small integer codes stored in the population's columns (gender,
status, OS, tariff, interests bitmask, language) and the distributions they are drawn from, per country.
Every sampler takes a numpy ``Generator`` and whole arrays and returns whole arrays; nothing here loops over
subscribers, holds state, or seeds anything. It does not know about blocks, MSISDNs, places or Faker.

Sources of the numbers (all approximate, rounded; the simulator needs plausible shapes, not census accuracy):

* Age pyramids: UN World Population Prospects 2022, medium variant, estimates for 2023, population by
  five-year age group as a share of the total population.
* Mobile ownership by age: ITU / GSMA Mobile Economy reports (near-universal below 65, falling after 75).
* Employment rates (15–64): ILO modelled estimates 2023; statutory retirement ages: OECD Pensions at a
  Glance 2023 (Russia's transitional ages rounded).
* iOS share: ``Country.ios_share`` in :mod:`simulator.city` (StatCounter 2024); feature phones ("OTHER") ~2%.
* Languages: national census figures on languages spoken at home, rounded to a few minority languages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from simulator.errors import InvalidSubscriberError

GENDERS: tuple[str, ...] = ("FEMALE", "MALE")
FEMALE, MALE = 0, 1

STATUSES: tuple[str, ...] = ("EMPLOYED", "STUDENT", "RETIRED", "UNEMPLOYED", "VISITOR")
EMPLOYED, STUDENT, RETIRED, UNEMPLOYED, VISITOR = range(5)

OS_NAMES: tuple[str, ...] = ("ANDROID", "IOS", "OTHER")
ANDROID, IOS, OTHER = 0, 1, 2

TARIFFS: tuple[str, ...] = ("LOW", "MID", "HIGH", "PREMIUM")

INTERESTS: tuple[str, ...] = (
    "SPORTS", "FOOTBALL", "MUSIC", "TRAVEL", "FOOD", "FASHION", "TECH", "GAMING", "FINANCE", "AUTO", "HEALTH",
    "BEAUTY", "KIDS", "PETS", "HOME", "BOOKS", "MOVIES", "OUTDOORS", "FITNESS", "ART", "EDUCATION", "SHOPPING",
    "NIGHTLIFE", "CRYPTO",
)
"""The fixed interest catalogue; interest ``j`` is bit ``1 << j`` of the uint32 mask."""

MIN_AGE, MAX_AGE = 14, 90
"""Subscribers are people aged 14 to 90 (a SIM of their own)."""

LANGUAGES: tuple[str, ...] = (
    "ru-RU", "ko-KR", "de-DE", "en-US", "en-GB", "fr-FR", "uk-UA", "tr-TR", "zh-CN", "es-US", "pl-PL", "ar",
    "vi-VN", "it-IT", "pt-PT",
)
"""BCP-47 codes of every language the samplers can draw; a population may add more for test subscribers."""

BCP47_PATTERN = re.compile(r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$")
"""The subset of BCP-47 accepted: language, optional script, optional region (``en``, ``zh-Hans-CN``)."""

COUNTRY_LANGUAGES: dict[str, tuple[tuple[str, float], ...]] = {
    # Russian Census 2021 (languages used), rounded.
    "RU": (("ru-RU", 0.93), ("uk-UA", 0.02), ("en-US", 0.02), ("tr-TR", 0.01), ("zh-CN", 0.01), ("de-DE", 0.01)),
    # Korea: near-monolingual; resident foreigners ~4%, mostly Chinese and Vietnamese.
    "KR": (("ko-KR", 0.95), ("zh-CN", 0.02), ("en-US", 0.015), ("vi-VN", 0.015)),
    # Germany, Mikrozensus 2021: German at home ~80%, then Turkish, Russian, Polish, Arabic.
    "DE": (("de-DE", 0.84), ("tr-TR", 0.04), ("ru-RU", 0.03), ("pl-PL", 0.02), ("ar", 0.02), ("en-GB", 0.03),
           ("it-IT", 0.02)),
    # New York City (ACS 2022): English only ~52%, Spanish ~24%; English-first interfaces dominate.
    "US": (("en-US", 0.74), ("es-US", 0.16), ("zh-CN", 0.04), ("ru-RU", 0.03), ("ko-KR", 0.01), ("fr-FR", 0.01),
           ("pl-PL", 0.01)),
    "GB": (("en-GB", 0.91), ("pl-PL", 0.03), ("ar", 0.01), ("pt-PT", 0.02), ("fr-FR", 0.01), ("it-IT", 0.02)),
    "FR": (("fr-FR", 0.91), ("ar", 0.04), ("pt-PT", 0.02), ("en-GB", 0.02), ("tr-TR", 0.01)),
}
"""Languages of subscribers whose home is each country, with shares summing to 1 (first is the national one)."""

FAMILY_NAME_FIRST_LOCALES = frozenset({"ko_KR", "zh_CN", "ja_JP", "hu_HU", "vi_VN"})
"""Locales whose full names are written family name first."""

# Share of each population (percent) in five-year groups 10-14, 15-19, ..., 85-89 and 90+
# (UN WPP 2022, 2023 estimates, rounded). Ages 14 and 90 get a fifth of their group's share.
_AGE_GROUPS: dict[str, tuple[float, ...]] = {
    "RU": (6.4, 5.4, 4.7, 5.0, 7.2, 8.3, 7.5, 6.9, 6.3, 6.5, 7.0, 6.2, 4.6, 2.2, 2.0, 1.0, 0.3),
    "KR": (4.5, 4.5, 5.6, 6.6, 6.5, 6.6, 7.7, 7.9, 8.4, 8.3, 8.0, 6.0, 4.0, 3.1, 2.3, 1.2, 0.5),
    "DE": (4.7, 4.6, 5.2, 5.9, 6.8, 6.6, 6.3, 5.9, 7.2, 8.2, 7.4, 6.3, 5.0, 4.1, 4.4, 2.1, 1.0),
    "US": (6.4, 6.5, 6.5, 6.7, 7.0, 6.8, 6.5, 6.0, 6.1, 6.3, 6.4, 5.5, 4.5, 3.1, 2.0, 1.2, 0.6),
    "GB": (6.0, 5.6, 6.0, 6.6, 6.9, 6.7, 6.3, 6.2, 6.8, 6.8, 6.0, 5.1, 4.8, 3.8, 2.5, 1.5, 0.8),
    "FR": (6.2, 6.1, 5.7, 5.5, 6.0, 6.3, 6.4, 6.2, 6.7, 6.5, 6.3, 5.9, 5.6, 4.1, 2.9, 2.0, 1.0),
}

# Share of people of each age owning a mobile subscription of their own (ITU/GSMA, rounded).
_OWNERSHIP_KNOTS = ((14, 0.85), (18, 0.98), (64, 0.97), (75, 0.85), (85, 0.6), (90, 0.45))

# (female, male) statutory retirement ages and employment rate of people 25 to retirement.
_RETIREMENT: dict[str, tuple[int, int]] = {
    "RU": (60, 64), "KR": (63, 63), "DE": (66, 66), "US": (66, 66), "GB": (66, 66), "FR": (63, 63),
}
_EMPLOYMENT_RATE: dict[str, float] = {"RU": 0.80, "KR": 0.76, "DE": 0.81, "US": 0.77, "GB": 0.79, "FR": 0.73}
_DEFAULT_COUNTRY = "US"

# Female share by age band (<40, 40-64, 65+): women live longer, much more so in Russia.
_FEMALE_SHARE: dict[str, tuple[float, float, float]] = {
    "RU": (0.49, 0.54, 0.67), "KR": (0.48, 0.50, 0.57), "DE": (0.48, 0.50, 0.56),
    "US": (0.49, 0.51, 0.56), "GB": (0.49, 0.51, 0.55), "FR": (0.49, 0.51, 0.57),
}

# Tariff band probabilities (LOW, MID, HIGH, PREMIUM) by status: earners buy bigger bundles.
_TARIFF_BY_STATUS = np.array([
    [0.15, 0.45, 0.30, 0.10],  # EMPLOYED
    [0.50, 0.40, 0.08, 0.02],  # STUDENT
    [0.55, 0.35, 0.08, 0.02],  # RETIRED
    [0.45, 0.40, 0.12, 0.03],  # UNEMPLOYED
    [0.10, 0.45, 0.30, 0.15],  # VISITOR (roaming packs)
])

# Interest weights: a base popularity, then multipliers by age band (14-24, 25-44, 45-64, 65+) and gender.
_INTEREST_TABLE: dict[str, tuple[float, tuple[float, float, float, float], tuple[float, float]]] = {
    #             base   age bands                 (female, male)
    "SPORTS":    (1.0, (1.3, 1.1, 0.9, 0.6), (0.7, 1.3)),
    "FOOTBALL":  (0.8, (1.3, 1.1, 0.9, 0.6), (0.4, 1.6)),
    "MUSIC":     (1.2, (1.8, 1.1, 0.8, 0.5), (1.0, 1.0)),
    "TRAVEL":    (1.0, (0.8, 1.2, 1.1, 0.8), (1.1, 0.9)),
    "FOOD":      (1.1, (0.9, 1.1, 1.1, 0.9), (1.2, 0.8)),
    "FASHION":   (0.8, (1.6, 1.1, 0.7, 0.3), (1.7, 0.3)),
    "TECH":      (0.9, (1.3, 1.2, 0.8, 0.4), (0.6, 1.4)),
    "GAMING":    (0.8, (2.2, 1.1, 0.4, 0.1), (0.6, 1.4)),
    "FINANCE":   (0.6, (0.4, 1.2, 1.3, 0.9), (0.8, 1.2)),
    "AUTO":      (0.6, (0.7, 1.2, 1.1, 0.6), (0.4, 1.6)),
    "HEALTH":    (0.7, (0.4, 0.8, 1.3, 1.8), (1.3, 0.7)),
    "BEAUTY":    (0.6, (1.4, 1.2, 0.8, 0.4), (1.8, 0.2)),
    "KIDS":      (0.5, (0.2, 1.8, 0.8, 0.6), (1.5, 0.5)),
    "PETS":      (0.6, (0.9, 1.0, 1.1, 1.0), (1.3, 0.7)),
    "HOME":      (0.7, (0.3, 1.1, 1.4, 1.3), (1.3, 0.7)),
    "BOOKS":     (0.6, (0.9, 0.9, 1.1, 1.3), (1.3, 0.7)),
    "MOVIES":    (1.0, (1.4, 1.1, 0.8, 0.7), (1.0, 1.0)),
    "OUTDOORS":  (0.6, (0.8, 1.1, 1.1, 0.8), (0.8, 1.2)),
    "FITNESS":   (0.7, (1.3, 1.3, 0.7, 0.3), (1.1, 0.9)),
    "ART":       (0.4, (1.1, 0.9, 1.0, 1.1), (1.4, 0.6)),
    "EDUCATION": (0.5, (2.0, 1.0, 0.6, 0.3), (1.2, 0.8)),
    "SHOPPING":  (0.9, (1.2, 1.1, 0.9, 0.7), (1.5, 0.5)),
    "NIGHTLIFE": (0.5, (2.0, 1.0, 0.4, 0.1), (0.9, 1.1)),
    "CRYPTO":    (0.3, (1.4, 1.3, 0.6, 0.1), (0.4, 1.6)),
}
assert tuple(_INTEREST_TABLE) == INTERESTS
_INTEREST_BASE = np.array([v[0] for v in _INTEREST_TABLE.values()])
# weights[age band, gender, interest]
_INTEREST_WEIGHTS = (
    _INTEREST_BASE[None, None, :]
    * np.array([v[1] for v in _INTEREST_TABLE.values()]).T[:, None, :]
    * np.array([v[2] for v in _INTEREST_TABLE.values()]).T[None, :, :]
).astype(np.float32)
# Probability of each of 4 extra interests beyond the minimum of 2, by age band: the young list more.
_EXTRA_INTEREST_P = np.array([0.55, 0.45, 0.35, 0.25])
MIN_INTERESTS, MAX_INTERESTS = 2, 6


def _country(code: str) -> str:
    return code if code in _AGE_GROUPS else _DEFAULT_COUNTRY


def _age_band(ages: NDArray[np.uint8]) -> NDArray[np.intp]:
    return np.searchsorted(np.array([25, 45, 65]), ages, side="right")


# -- codes ------------------------------------------------------------------------------------------------

def encode(table: Sequence[str], name: str, what: str) -> int:
    """The code of ``name`` in ``table``; raises :class:`InvalidSubscriberError` naming the field and choices."""
    try:
        return list(table).index(name)
    except ValueError:
        raise InvalidSubscriberError(f"unknown {what} {name!r}; expected one of {', '.join(table)}") from None


def decode(table: Sequence[str], codes: ArrayLike) -> list[str]:
    """The names of an array of codes (vectorised lookup)."""
    return list(np.asarray(table, dtype=object)[np.asarray(codes, dtype=np.intp)])


def interests_to_mask(names: Iterable[str]) -> int:
    """The uint32 bitmask of interest names (each must be in :data:`INTERESTS`)."""
    mask = 0
    for name in names:
        mask |= 1 << encode(INTERESTS, name, "interest")
    return mask


def mask_to_interests(mask: int) -> list[str]:
    """The interest names of one bitmask, in catalogue order."""
    return [name for j, name in enumerate(INTERESTS) if mask >> j & 1]


def masks_to_interests(masks: ArrayLike) -> list[list[str]]:
    """Interest names of many bitmasks; each distinct mask is decoded once."""
    arr = np.asarray(masks, dtype=np.uint32)
    uniq, inverse = np.unique(arr, return_inverse=True)
    decoded = [mask_to_interests(int(m)) for m in uniq]
    return [list(decoded[k]) for k in inverse.tolist()]


def mask_has(masks: ArrayLike, names: Iterable[str]) -> NDArray[np.bool_]:
    """Whether each mask contains any of the interest ``names`` (for segment selection)."""
    return np.asarray((np.asarray(masks, dtype=np.uint32) & np.uint32(interests_to_mask(names))) != 0)


# -- samplers ---------------------------------------------------------------------------------------------

def age_distribution(country: str) -> NDArray[np.float64]:
    """Probability of each age ``MIN_AGE..MAX_AGE`` among a country's mobile subscribers.

    The UN WPP five-year shares are spread evenly over single years and multiplied by mobile ownership.
    """
    groups = _AGE_GROUPS[_country(country)]
    ages = np.arange(MIN_AGE, MAX_AGE + 1)
    per_year = np.empty(len(ages))
    per_year[0] = groups[0] / 5  # age 14 is a fifth of the 10-14 group
    per_year[1:-1] = np.repeat(np.asarray(groups[1:-1]) / 5, 5)  # 15..89
    per_year[-1] = groups[-1] / 5  # 90, a slice of 90+
    knots = np.array(_OWNERSHIP_KNOTS)
    weights = per_year * np.interp(ages, knots[:, 0], knots[:, 1])
    return np.asarray(weights / weights.sum())


def median_age(country: str) -> float:
    """Median age of a country's subscribers as :func:`sample_age` draws them."""
    cdf = np.cumsum(age_distribution(country))
    return float(MIN_AGE + np.searchsorted(cdf, 0.5))


def sample_age(rng: np.random.Generator, country: str, n: int) -> NDArray[np.uint8]:
    """Ages of ``n`` subscribers from ``country``'s pyramid (ISO alpha-2; unknown countries use US shapes)."""
    cdf = np.cumsum(age_distribution(country))
    idx = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(cdf) - 1)
    return (idx + MIN_AGE).astype(np.uint8)


def sample_gender(rng: np.random.Generator, country: str, ages: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Genders given ages; the female share rises with age as women live longer."""
    share = np.asarray(_FEMALE_SHARE[_country(country)])[np.searchsorted(np.array([40, 65]), ages, side="right")]
    return np.where(rng.random(len(ages)) < share, FEMALE, MALE).astype(np.uint8)


def sample_status(rng: np.random.Generator, country: str, ages: NDArray[np.uint8],
                  genders: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Employment or study status given age and gender (never ``VISITOR``; the caller marks visitors).

    14–17 are at school (``STUDENT``); the student share falls from 70% at 18 to ~25% at 24 and 3% at 25–29;
    between study and retirement a country's employment rate applies; after the statutory retirement age
    (by gender) people are ``RETIRED`` except a share still working that fades out by 75.
    """
    c = _country(country)
    a = ages.astype(np.float64)
    u = rng.random(len(ages))
    retire_at = np.where(genders == FEMALE, *_RETIREMENT[c])
    employment = _EMPLOYMENT_RATE[c]
    student_p = np.select([a < 18, a < 25, a < 30], [0.97, 0.70 - (a - 18) * 0.075, 0.03], 0.0)
    working_after = np.clip(0.25 * (75 - a) / 10.0, 0.0, 0.25)  # retirees still working
    status = np.full(len(ages), UNEMPLOYED, dtype=np.uint8)
    is_student = u < student_p
    # Rescale the remaining uniform so the employment draw is independent of the student draw.
    v = np.where(is_student, 0.0, (u - student_p) / np.maximum(1.0 - student_p, 1e-9))
    retired = a >= retire_at
    employed_p = np.select([retired, a < 18, a < 25], [working_after, 0.3, employment * 0.8], employment)
    status[~is_student & (v < employed_p)] = EMPLOYED
    status[~is_student & retired & (v >= employed_p)] = RETIRED
    status[is_student] = STUDENT
    return status


def sample_os(rng: np.random.Generator, ios_share: ArrayLike, ages: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Device OS: ~2% feature phones (more among the old), iPhones at the country share tilted to the young.

    The tilt (×1.2 under 30, ×0.75 from 60) averages to about 1 over a pyramid, keeping the country share.
    """
    a = ages.astype(np.float64)
    tilt = np.select([a < 30, a < 60], [1.2, 1.0], 0.75)
    other_p = np.where(a >= 70, 0.08, 0.01)
    p_ios = np.clip(np.asarray(ios_share, dtype=np.float64) * tilt, 0.0, 1.0) * (1.0 - other_p)
    u = rng.random(len(ages))
    return np.select([u < other_p, u < other_p + p_ios], [OTHER, IOS], ANDROID).astype(np.uint8)


def sample_app_installed(rng: np.random.Generator, ages: NDArray[np.uint8], os: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """Whether the operator's push-capable app is installed: ~45% overall, 62% at 20 falling to ~30% at 75.

    Feature phones cannot install it.
    """
    p = np.clip(0.62 - 0.006 * (ages.astype(np.float64) - 20.0), 0.15, 0.65)
    return np.asarray((rng.random(len(ages)) < p) & (os != OTHER))


def sample_tariff(rng: np.random.Generator, status: NDArray[np.uint8], os: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Tariff band by status (earners buy bigger plans); a quarter of iPhone owners move one band up."""
    cdf = np.cumsum(_TARIFF_BY_STATUS, axis=1)[status]
    band = (rng.random(len(status))[:, None] >= cdf[:, :-1]).sum(axis=1)
    up = (os == IOS) & (rng.random(len(status)) < 0.25)
    return np.asarray(np.minimum(band + up, len(TARIFFS) - 1), dtype=np.uint8)


def sample_interests(rng: np.random.Generator, ages: NDArray[np.uint8],
                     genders: NDArray[np.uint8]) -> NDArray[np.uint32]:
    """Interest bitmasks with 2–6 interests each, weighted by age band and gender, without replacement.

    Weighted sampling without replacement is an exponential race: each interest gets the key ``E / w`` with
    ``E ~ Exp(1)`` and the ``k`` smallest keys win.
    """
    n = len(ages)
    band = _age_band(ages)
    k = MIN_INTERESTS + rng.binomial(MAX_INTERESTS - MIN_INTERESTS, _EXTRA_INTEREST_P[band])
    weights = _INTEREST_WEIGHTS[band, genders]
    keys = rng.standard_exponential((n, len(INTERESTS)), dtype=np.float32) / weights
    threshold = np.take_along_axis(np.sort(keys, axis=1), (k - 1)[:, None], axis=1)
    bits = np.uint32(1) << np.arange(len(INTERESTS), dtype=np.uint32)
    return np.asarray(np.where(keys <= threshold, bits, np.uint32(0)).sum(axis=1, dtype=np.uint32))


def sample_language(rng: np.random.Generator, country: str, n: int) -> NDArray[np.uint8]:
    """Language codes (indices into :data:`LANGUAGES`) of ``n`` people living in ``country``."""
    table = language_table(country)
    codes = np.array([LANGUAGES.index(code) for code, _ in table])
    cdf = np.cumsum([share for _, share in table])
    idx = np.minimum(np.searchsorted(cdf / cdf[-1], rng.random(n), side="right"), len(codes) - 1)
    return codes[idx].astype(np.uint8)


def language_table(country: str) -> tuple[tuple[str, float], ...]:
    """The (BCP-47 code, share) pairs of a country; unknown countries speak English."""
    return COUNTRY_LANGUAGES.get(country, (("en-US", 1.0),))


def full_name(first: str, last: str, locale: str) -> str:
    """A display name in the order customary for ``locale`` (family first, unspaced, for Korean)."""
    if locale in FAMILY_NAME_FIRST_LOCALES:
        return f"{last}{first}" if locale in ("ko_KR", "zh_CN", "ja_JP") else f"{last} {first}"
    return f"{first} {last}"


def shares(codes: NDArray[np.integer], table: Sequence[str]) -> Mapping[str, float]:
    """Share of each name of ``table`` among ``codes`` (for summaries and realism checks)."""
    if len(codes) == 0:
        return dict.fromkeys(table, 0.0)
    counts = np.bincount(codes.astype(np.intp), minlength=len(table))
    return {name: float(c) / len(codes) for name, c in zip(table, counts, strict=False)}
