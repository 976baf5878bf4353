"""Named random streams derived from one root seed.

Every consumer of randomness asks for a stream by name (and optional integer keys such as a block index or a
tick), so results never depend on the order in which streams are created or blocks are processed. Faker
instances are seeded per instance. Nothing here seeds a global generator.
"""

from __future__ import annotations

import hashlib

import numpy as np
from faker import Faker

BLOCK_SIZE = 65_536
"""Subscribers are processed in blocks of this size, each with its own stream."""


def _name_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


class RngStreams:
    """Factory of independent, reproducible numpy generators keyed by name and integers."""

    def __init__(self, seed: int) -> None:
        if seed < 0:
            raise ValueError("seed must be a non-negative integer")
        self.seed = seed

    def seed_sequence(self, name: str, *keys: int) -> np.random.SeedSequence:
        """The SeedSequence of stream ``name`` with ``keys``."""
        return np.random.SeedSequence(entropy=self.seed, spawn_key=(_name_key(name), *keys))

    def stream(self, name: str, *keys: int) -> np.random.Generator:
        """A fresh generator for ``name`` and ``keys``; the same arguments always give the same numbers."""
        return np.random.Generator(np.random.PCG64(self.seed_sequence(name, *keys)))

    def int_seed(self, name: str, *keys: int) -> int:
        """A 63-bit integer seed for libraries that take one (Faker)."""
        return int(self.seed_sequence(name, *keys).generate_state(2, np.uint32).view(np.uint64)[0] >> 1)

    def faker(self, locale: str, name: str) -> Faker:
        """A Faker for ``locale`` seeded through ``seed_instance`` only."""
        fake = Faker(locale)
        fake.seed_instance(self.int_seed("faker:" + name))
        return fake
