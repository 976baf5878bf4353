"""Realism statistics of the mobility model, measured on a fixed sample of subscribers.

Owns counters fed by the world each tick (departures, arrivals, time at home, cell changes of the sample)
and turns them into the figures the README compares with published mobility statistics. It never changes
the world.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simulator.mobility import HOME


class RealismTracker:
    """Collects per-day movement facts for a sample of subscribers."""

    def __init__(self, sample: NDArray[np.int32], n: int) -> None:
        self.sample = np.sort(sample.astype(np.int32))
        self.in_sample = np.zeros(n, bool)
        self.in_sample[self.sample] = True
        self.home_ticks: Counter[int] = Counter()  # per day
        self.trips: Counter[tuple[int, int]] = Counter()  # (day, sub) -> trips
        self.cell_changes: Counter[tuple[int, int]] = Counter()
        self.places_by_day: dict[tuple[int, int], set[int]] = defaultdict(set)
        self.visits: dict[int, Counter[int]] = defaultdict(Counter)
        self.days: set[int] = set()
        self.ticks_per_day: Counter[int] = Counter()
        self.full_day_ticks = 0
        self.weekday_of: dict[int, int] = {}

    def forget_before(self, day: int) -> None:
        """Drop the per-day facts of days before ``day`` (the world's history window).

        The report then covers the days kept.
        """
        if not self.days or min(self.days) >= day:
            return
        self.days = {d for d in self.days if d >= day}
        for counter in (self.home_ticks, self.ticks_per_day):
            for d in [d for d in counter if d < day]:
                del counter[d]
        for d in [d for d in self.weekday_of if d < day]:
            del self.weekday_of[d]
        for per_sub in (self.trips, self.cell_changes, self.places_by_day):
            for key in [k for k in per_sub if k[0] < day]:
                del per_sub[key]

    def on_tick(self, day: int, weekday: int, place: NDArray[np.int32], moving: NDArray[np.bool_]) -> None:
        """Count the sample's ticks at home (not travelling)."""
        self.days.add(day)
        self.weekday_of[day] = weekday
        self.ticks_per_day[day] += 1
        s = self.sample
        self.home_ticks[day] += int(np.count_nonzero((place[s] == HOME) & ~moving[s]))

    def on_departures(self, day: int, subs: NDArray[np.int32], places: NDArray[np.int32]) -> None:
        """Record trips of sampled subscribers."""
        m = self.in_sample[subs]
        for sub, place in zip(subs[m].tolist(), places[m].tolist(), strict=True):
            self.trips[(day, sub)] += 1
            self.places_by_day[(day, sub)].add(place)
            self.visits[sub][place] += 1

    def on_cell_changes(self, day: int, subs: NDArray[np.int32]) -> None:
        """Count cell changes of sampled subscribers."""
        m = self.in_sample[subs]
        for sub in subs[m].tolist():
            self.cell_changes[(day, sub)] += 1

    def report(self) -> dict[str, Any]:
        """The realism figures (see README, "Realism")."""
        # Only whole days count: a run that starts at 06:00 has missed that morning's trips.
        most = max(self.ticks_per_day.values(), default=0)
        days = sorted(d for d in self.days if self.ticks_per_day[d] >= 0.95 * most)
        n = len(self.sample)
        weekdays = [d for d in days if self.weekday_of.get(d, 0) < 5]
        trips_wd = [sum(self.trips[(d, s)] for s in self.sample.tolist()) / max(n, 1) for d in weekdays]
        person_days = [(d, s) for d in days for s in self.sample.tolist()]
        mobile = [pd for pd in person_days if self.trips[pd] > 0]
        distinct = [len(self.places_by_day[pd] | {HOME}) for pd in person_days]
        changes = [self.cell_changes[pd] for pd in mobile]
        # Distinct places visited up to day k (cumulative), averaged over the sample.
        growth = []
        seen: dict[int, set[int]] = defaultdict(lambda: {HOME})
        for d in days:
            for s in self.sample.tolist():
                seen[s] |= self.places_by_day[(d, s)]
            growth.append(float(np.mean([len(seen[s]) for s in self.sample.tolist()])))
        # Visit frequency by rank: share of visits (home counted as the most visited) averaged over people.
        rank_share = np.zeros(10)
        people = 0
        home_first = 0
        for s in self.sample.tolist():
            c = self.visits.get(s)
            if not c:
                continue
            counts = sorted(c.values(), reverse=True)
            if c.get(HOME, 0) == counts[0]:
                home_first += 1
            tot = sum(counts)
            for r, v in enumerate(counts[:10]):
                rank_share[r] += v / tot
            people += 1
        rank_share = rank_share / max(people, 1)
        ranks = np.arange(1, 11)
        ok = rank_share >= 0.01  # the sparse tail of a single week is noise
        zipf = float(-np.polyfit(np.log(ranks[ok]), np.log(rank_share[ok]), 1)[0]) if ok.sum() >= 3 else 0.0
        return {
            "sample": n,
            "days": len(days),
            "tripsPerPersonWeekday": round(float(np.mean(trips_wd)), 3) if trips_wd else None,
            "homeTimeShare": round(sum(self.home_ticks[d] for d in days)
                                   / max(sum(self.ticks_per_day[d] for d in days) * n, 1), 3),
            "shareDaysAtMost6Places": round(float(np.mean(np.asarray(distinct) <= 6)), 3) if distinct else None,
            "meanDistinctPlacesPerDay": round(float(np.mean(distinct)), 3) if distinct else None,
            "distinctPlacesCumulative": [round(g, 3) for g in growth],
            "visitShareByRank": [round(float(v), 4) for v in rank_share],
            "homeMostVisitedShare": round(home_first / max(people, 1), 3),
            "zipfExponent": round(zipf, 3),
            "cellChangesPerMobilePersonDay": round(float(np.mean(changes)), 2) if changes else 0.0,
            "mobilePersonDayShare": round(len(mobile) / max(len(person_days), 1), 3),
        }
