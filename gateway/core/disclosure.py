"""What a partner may see of a count: the operator's privacy threshold, written once.

Owns :func:`disclose` (counts from 1 to ``threshold - 1`` are withheld, zero is shown) and :func:`two_significant`
(audience figures rounded so that small differences between two requests reveal no individual). Campaign reports
and estimates and journey reports use them; the CAMARA insights (region device count, population density) apply
their own documented rule, which also withholds zero-free low densities per cell.
"""

from __future__ import annotations


def disclose(n: int, threshold: int) -> int | None:
    """``n`` as a partner may see it: counts from 1 to ``threshold - 1`` are withheld (None); 0 is shown."""
    return n if n == 0 or n >= threshold else None


def two_significant(n: int) -> int:
    """``n`` rounded to two significant figures (1234 → 1200, 56 → 56)."""
    if n < 100:
        return n
    return int(round(n, -(len(str(n)) - 2)))
