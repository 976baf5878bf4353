"""The sparse cells → areas index finds exactly the entries and exits a dense membership matrix finds."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.services.targeting import area_index, entered

N_CELLS = 40


def dense(cell_sets: list[np.ndarray], old: np.ndarray, new: np.ndarray) -> tuple[set[tuple[int, int]], ...]:
    m = np.zeros((N_CELLS + 1, len(cell_sets)), bool)
    for j, cells in enumerate(cell_sets):
        m[cells, j] = True
    was, now = m[old], m[new]
    e = {(int(r), int(c)) for r, c in zip(*np.nonzero(now & ~was), strict=True)}
    x = {(int(r), int(c)) for r, c in zip(*np.nonzero(was & ~now), strict=True)}
    return e, x


@settings(max_examples=200, deadline=None)
@given(sets=st.lists(st.lists(st.integers(0, N_CELLS - 1), min_size=1, max_size=12, unique=True), max_size=8),
       moves=st.lists(st.tuples(st.integers(-1, N_CELLS - 1), st.integers(-1, N_CELLS - 1)), max_size=60))
def test_entries_and_exits_match_the_dense_matrix(sets: list[list[int]], moves: list[tuple[int, int]]) -> None:
    """Same pairs as the dense reference, sorted by area then row; cell -1 belongs to no area."""
    cell_sets = [np.asarray(s, np.int32) for s in sets]
    old = np.asarray([m[0] for m in moves], np.int32)
    new = np.asarray([m[1] for m in moves], np.int32)
    index = area_index(N_CELLS, cell_sets)
    e_row, e_col, x_row, x_col = entered(index, old, new)
    want_e, want_x = dense(cell_sets, old, new)
    assert set(zip(e_row.tolist(), e_col.tolist(), strict=True)) == want_e and len(e_row) == len(want_e)
    assert set(zip(x_row.tolist(), x_col.tolist(), strict=True)) == want_x and len(x_row) == len(want_x)
    assert list(zip(e_col.tolist(), e_row.tolist(), strict=True)) == sorted(zip(e_col.tolist(), e_row.tolist(),
                                                                               strict=True))
    any_cell = index.any
    for c in range(N_CELLS):
        assert any_cell[c] == any(c in s for s in sets)
    assert not any_cell[N_CELLS]
    # Movers outside the signature filter have no entries or exits at all.
    quiet = ~index.changed(old, new)
    assert not (set(np.flatnonzero(quiet).tolist()) & ({r for r, _ in want_e} | {r for r, _ in want_x}))
