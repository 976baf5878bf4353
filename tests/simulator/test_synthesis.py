"""Synthesis: the build plan's checks and the columns each block draws."""

from __future__ import annotations

import pytest

from simulator.city import city_from_preset
from simulator.errors import InvalidConfigError
from simulator.population import COLUMN_DTYPES
from simulator.rng import BLOCK_SIZE, RngStreams
from simulator.synthesis import BuildPlan


def test_a_block_has_every_population_column_in_its_dtype() -> None:
    """A block's columns are exactly the population's, each of its dtype and of the block's length."""
    plan = BuildPlan.make(city_from_preset("seoul"), 700, RngStreams(1), False, 0.1)
    block = plan.block(0)
    assert list(block) == list(COLUMN_DTYPES)
    for name, arr in block.items():
        assert arr.dtype == COLUMN_DTYPES[name] and arr.shape == (700,) and arr.flags.c_contiguous, name


@pytest.mark.parametrize(("n", "blocks"), [
    (0, 0),  # nobody
    (1, 1),  # one short block
    (BLOCK_SIZE, 1),  # exactly one block
    (BLOCK_SIZE + 1, 2),  # one more starts a second block
])
def test_block_count(n: int, blocks: int) -> None:
    """Rows fill blocks of BLOCK_SIZE, the last one possibly short."""
    assert BuildPlan.make(city_from_preset("berlin"), n, RngStreams(1), False, 0.02).blocks == blocks


def test_without_visitors_only_the_home_country_is_numbered() -> None:
    """With no roaming share there are no visitors and only the home country's number plan is made."""
    plan = BuildPlan.make(city_from_preset("berlin"), 500, RngStreams(1), False, 0.0)
    assert list(plan.number_plans) == ["DE"] and list(plan.vocab.by_locale) == ["de_DE"]
    assert not plan.block(0)["roaming"].any()


@pytest.mark.parametrize(("n", "roaming_share", "fictional", "block"), [
    (-1, 0.02, False, 0),  # a negative size
    (100, -0.1, False, 0),  # a negative share
    (100, 1.5, False, 0),  # a share above one
    (10**8 + 1, 0.0, False, 0),  # more than Korea's one mobile prefix holds (checked before drawing anything)
    (100, 0.02, False, 1),  # a block beyond the last
    (100, 0.02, True, -1),  # a negative block
])
def test_bad_plans_and_blocks_are_refused(n: int, roaming_share: float, fictional: bool, block: int) -> None:
    """Impossible sizes, shares and block numbers raise InvalidConfigError."""
    with pytest.raises(InvalidConfigError):
        BuildPlan.make(city_from_preset("seoul"), n, RngStreams(1), fictional, roaming_share).block(block)
