"""The operator's daily frequency caps of advertising, shared by campaigns and direct ``PROMO`` messages.

Owns two counters per subscriber (the local calendar day of the last counted send and the sends counted that
day) for the operator cap across all partners, and the same pair per partner for the optional partner cap.
:meth:`FrequencyCaps.today` reads the counts of a batch for the day each subscriber is in now; :meth:`record`
counts sends. A count from an earlier day reads as zero, so nothing is ever reset by a timer. The caps
themselves (how many a day) are :class:`gateway.services.policy.Rules`; this module only counts. Columns grow with the
population (test subscribers). It must not touch the store, the world or HTTP.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Counts = tuple[NDArray[np.int32], NDArray[np.int32]]


class FrequencyCaps:
    """Per-subscriber (and per-partner) counts of advertising sends on the subscriber's current local day."""

    def __init__(self, size: int, per_partner: bool) -> None:
        self.per_partner = per_partner
        self._day = np.full(size, -1, np.int32)
        self._count = np.zeros(size, np.int32)
        self._partners: dict[int, Counts] = {}

    def grow(self, size: int) -> None:
        """Make room for subscribers up to ``size`` (added test phones start with no sends)."""
        extra = size - len(self._day)
        if extra <= 0:
            return
        self._day = np.concatenate([self._day, np.full(extra, -1, np.int32)])
        self._count = np.concatenate([self._count, np.zeros(extra, np.int32)])
        for pid, (d, c) in list(self._partners.items()):
            self._partners[pid] = (np.concatenate([d, np.full(extra, -1, np.int32)]),
                                   np.concatenate([c, np.zeros(extra, np.int32)]))

    def today(self, subs: NDArray[np.int32], day: NDArray[np.int32], partner: NDArray[np.int64]) -> Counts:
        """(operator count, count of the pair's partner) of each subscriber on its local ``day`` (aligned)."""
        self.grow(int(subs.max()) + 1 if len(subs) else 0)
        sent = np.where(self._day[subs] == day, self._count[subs], 0).astype(np.int32)
        mine_today = np.zeros(len(subs), np.int32)
        for pid, (p_day, p_count) in self._partners.items():
            mine = partner == pid
            mine_today[mine] = np.where(p_day[subs[mine]] == day[mine], p_count[subs[mine]], 0)
        return sent, mine_today

    def record(self, subs: NDArray[np.int32], day: NDArray[np.int32], partner: NDArray[np.int64]) -> None:
        """Count one send to each of ``subs`` (repeats count repeatedly) on its local ``day``, by ``partner``."""
        if len(subs) == 0:
            return
        self.grow(int(subs.max()) + 1)
        self._add(self._day, self._count, subs, day)
        if not self.per_partner:
            return
        size = len(self._day)
        for pid in np.unique(partner).tolist():
            p_day, p_count = self._partners.setdefault(pid, (np.full(size, -1, np.int32), np.zeros(size, np.int32)))
            sel = partner == pid
            self._add(p_day, p_count, subs[sel], day[sel])

    @staticmethod
    def _add(days: NDArray[np.int32], counts: NDArray[np.int32], subs: NDArray[np.int32],
             day: NDArray[np.int32]) -> None:
        counts[subs[days[subs] != day]] = 0
        days[subs] = day
        np.add.at(counts, subs, 1)
