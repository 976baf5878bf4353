"""App usage draws: picking session candidates by geometric skips keeps each install with the stated chance."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.services.apps.usage import bernoulli_rows


@pytest.mark.parametrize("q", [0.001, 0.01, 0.3])
def test_geometric_skips_keep_each_row_with_probability_q(q: float) -> None:
    """Over many draws each row is kept about q of the time, the uniforms stay under q, rows stay in order."""
    rows = np.arange(5_000, dtype=np.int64) * 3
    counts = np.zeros(len(rows))
    rng = np.random.default_rng(1)
    for _ in range(200):
        kept, u = bernoulli_rows(rng, rows, q)
        assert np.all(np.diff(kept) > 0) and np.isin(kept, rows).all()
        assert len(u) == len(kept) and ((u >= 0) & (u < q)).all()
        counts[kept // 3] += 1
    share = counts.mean() / 200
    assert abs(share - q) < 0.1 * q + 0.0005
    first, last = counts[:2500].mean(), counts[2500:].mean()  # no drift along the rows
    assert abs(first - last) < 0.15 * max(first, last) + 1


@pytest.mark.parametrize(("m", "q", "expected"), [
    (0, 0.5, 0),  # no rows
    (10, 0.0, 0),  # no chance
    (10, 1.0, 10),  # certain: every row, uniforms over [0, 1)
    (10, 2.5, 10),  # above one is certain too
])
def test_edges(m: int, q: float, expected: int) -> None:
    """Empty input, zero and certain chances."""
    kept, u = bernoulli_rows(np.random.default_rng(0), np.arange(m, dtype=np.int64), q)
    assert len(kept) == len(u) == expected
