"""Numbering plans: the MSISDNs and IMSIs of generated subscribers.

This module owns the seeded bijections that turn a subscriber's global row ordinal into its numbers: a
:class:`Permutation` of ``[0, domain)`` keyed by a named stream, a :class:`NumberPlan` per country's mobile
prefixes (or the fictional ``+999`` range) and an :class:`ImsiPlan` per country's simulated network, whose top
MSINs are reserved for test subscribers. Numbers are unique across blocks without any block knowing another.
It must not hold subscribers, draw anything but the permutation keys, or know about names, cells or consent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from simulator.city import FICTIONAL_DIAL, Country
from simulator.errors import InvalidConfigError, InvalidSubscriberError
from simulator.rng import RngStreams

E164_PATTERN = re.compile(r"^\+[1-9][0-9]{4,14}$")
"""An MSISDN in E.164 form: '+', a non-zero digit, then 4 to 14 digits."""

FICTIONAL_DIGITS = 10
"""Fictional MSISDNs are ``+999`` followed by this many digits (see :data:`simulator.city.FICTIONAL_DIAL`)."""

IMSI_DIGITS = 15
"""Length of an IMSI: MCC, MNC and MSIN together (3GPP TS 23.003)."""

TEST_MSIN_RESERVE = 1_000_000
"""The top MSINs of every network are kept for test subscribers, so they never collide with generated ones."""

TEST_NETWORK_MCC, TEST_NETWORK_MNC = "001", "01"
"""The test network of ITU-T E.212 (MCC 001, MNC 01): IMSIs of worlds with fictional numbers, never a real SIM."""


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

    @classmethod
    def test_network(cls, streams: RngStreams) -> ImsiPlan:
        """The plan of the test network (:data:`TEST_NETWORK_MCC`, :data:`TEST_NETWORK_MNC`).

        A world with fictional numbers uses it for every home country; ordinals are global, so one plan keeps the
        IMSIs unique across countries.
        """
        msin_digits = IMSI_DIGITS - len(TEST_NETWORK_MCC) - len(TEST_NETWORK_MNC)
        space = 10**msin_digits - TEST_MSIN_RESERVE
        return cls(int(TEST_NETWORK_MCC + TEST_NETWORK_MNC) * 10**msin_digits, space,
                   Permutation.seeded(space, streams, "imsi:test-network"))

    def imsis(self, ordinals: ArrayLike) -> NDArray[np.int64]:
        """The IMSI of each ordinal."""
        return self.base + self.permutation(ordinals)

    def test_imsi(self, k: int) -> int:
        """The IMSI of the ``k``-th test subscriber of this network."""
        if not 0 <= k < TEST_MSIN_RESERVE:
            raise InvalidSubscriberError("too many test subscribers")
        return self.base + self.space + k
