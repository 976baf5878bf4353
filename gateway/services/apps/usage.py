"""App usage in the simulated world: what each app's installs do on each tick, as one event batch per app.

Owns :class:`AppUsage`, which on every tick (after the installs moved on and held pushes were delivered) draws, per
app and from the world's named stream ``("apps-usage", app_seq, tick)``:

- **sessions** of installs whose person is awake (a wake-up time 06:00-08:30 and a bedtime 22:00-24:00 local, drawn
  per person), not travelling (:meth:`simulator.world.World.whereabouts`) and whose phone is on. Per awake hour a
  shopping-like app (categories in :data:`COMMERCE`) has 0.05 sessions per install, any other app 0.10; at home in
  the evening (18:00-22:59 local) 2.5 times as many, at work 0.6 times. A session is ``Application Opened``,
  its domain events, ``Application Backgrounded``: a shopping app views 1 + Poisson(1.5) products, adds one to the
  cart with probability 0.2, starts checkout after that with 0.4 and completes the order with 0.7 (value around
  45.00, log-normal); another app views 1 + Poisson(2) contents. ``item`` is drawn among the app's categories.
- **lifecycle**: ``Application Installed`` / ``Application Uninstalled`` of the tick
  (:mod:`gateway.services.apps.lifecycle`).
- **push**: ``Push Notification Received`` for each push delivered since the last tick; a displayed push is opened
  with probability 0.08 after an exponential delay (mean 30 minutes), when its person is next awake, not travelling
  and still has the app, within a day: ``Push Notification Tapped`` then ``Application Opened`` (recorded as the
  push's ``opened_us``). Whether and when is a keyed hash of the push, so a restart draws the same.

Batches go to :meth:`AppService.publish <gateway.services.apps.service.AppService.publish>` with ``seq`` continuing
the app's counter; the counter after each tick is recorded, so a restart numbers the replayed ticks as before (the
same events under the same ``messageId``s). It must not know about HTTP.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from gateway.services.apps.events import APP_EVENT_CODE, AppEventBatch
from gateway.services.apps.model import AppRecord
from gateway.services.apps.push import PushService
from gateway.services.apps.repository import AppRepository
from gateway.services.apps.service import AppService
from simulator.clock import to_micros
from simulator.world import World

COMMERCE = frozenset({"SHOPPING", "FASHION", "BEAUTY", "HOME", "TECH", "KIDS", "PETS", "AUTO", "FOOD"})
"""Categories that make an app a shop (product events) rather than a content app."""
SESSIONS_PER_AWAKE_HOUR = {True: 0.05, False: 0.10}
"""Sessions per install and awake hour: shop, content app."""
EVENING = (18, 23)
EVENING_HOME_FACTOR = 2.5
AT_WORK_FACTOR = 0.6
WAKE_MINUTES = (360, 510)
SLEEP_MINUTES = (1320, 1440)
DEFAULT_DAY = (420, 1380)
"""Awake minutes of a subscriber outside the base population (test subscribers): 07:00-23:00."""
PRODUCT_VIEWS, CART, CHECKOUT, ORDER = 1.5, 0.2, 0.4, 0.7
CONTENT_VIEWS = 2.0
ORDER_CENTS = (np.log(4500.0), 0.6)
OPEN_SHARE = 0.08
OPEN_DELAY_S = 1800.0
OPEN_WINDOW_US = 86_400_000_000
STEP_US = 20_000_000
"""Time between the events of one session (at most; less when ticks are short)."""

_E = APP_EVENT_CODE


def _mix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """splitmix64 finaliser (vectorised; numpy wraps on overflow as the hash wants)."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def bernoulli_rows(rng: np.random.Generator, rows: NDArray[np.int64], q: float
                    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Each of ``rows`` kept with probability ``q``, with a uniform in ``[0, q)`` for each kept (as if every row
    had drawn a uniform and those under ``q`` were kept), in O(kept) draws."""
    m = len(rows)
    if q >= 1.0:
        return rows, rng.random(m)
    if m == 0 or q <= 0.0:
        return rows[:0], np.zeros(0)
    expected = m * q
    gaps = rng.geometric(q, size=int(expected + 6.0 * np.sqrt(expected) + 16))
    pos = np.cumsum(gaps) - 1
    while pos[-1] < m:  # not enough skips drawn (vanishingly rare): draw more
        pos = np.concatenate([pos, pos[-1] + np.cumsum(rng.geometric(q, size=len(pos)))])
    kept = pos[pos < m]
    return rows[kept], rng.random(len(kept)) * q


class AppUsage:
    """Per-tick app events of every app, handed to :meth:`AppService.publish`."""

    def __init__(self, world: World, apps: AppService, push: PushService, repository: AppRepository) -> None:
        self.world = world
        self.apps = apps
        self.push = push
        self.repository = repository
        self._tick_us = world.config.tick_seconds * 1_000_000
        rng = world.random_stream("apps-chronotype")
        n = world.base_size
        self._wake = rng.integers(*WAKE_MINUTES, size=n).astype(np.int16)
        self._sleep = rng.integers(*SLEEP_MINUTES, size=n).astype(np.int16)
        self._salt = np.uint64(int.from_bytes(hashlib.blake2b(
            world.random_stream("apps-push-opens").bytes(16), digest_size=8).digest(), "big"))
        self._next_seq: dict[int, int] = {}
        # Deliveries not yet reported: push seq, app seq, row, subscriber, delivered µs, displayed.
        self._received: list[tuple[int, int, int, int, int, int]] = []
        # Opens due: open µs, deadline µs, push seq, app seq, row, subscriber.
        self._opens = np.zeros((0, 6), dtype=np.int64)
        world.on_step(self.on_step)

    # -- restart ------------------------------------------------------------------------------------------------
    def resume(self) -> None:
        """Take back the event counters and the pushes whose receipt or tap is still owed (the store is open, the
        world restored, the apps and pushes resumed)."""
        now_us = to_micros(self.world.clock.now)
        self._next_seq = self.repository.event_counters(self.world.tick_index)
        self._received = []
        opens: list[NDArray[np.int64]] = []
        for r in self.repository.delivered_since(now_us - OPEN_WINDOW_US):
            delivered = int(r["delivered_us"])
            item = (int(r["seq"]), int(r["app_seq"]), int(r["row"]), int(r["subscriber"]), delivered,
                    int(r["displayed"]))
            if delivered > now_us:  # after the restored clock: reported (and maybe opened) on the coming ticks
                self._received.append(item)
            elif item[5] and (r["opened_us"] is None or int(r["opened_us"]) > now_us):
                opens.append(self._open_rows([item]))
        self._opens = np.vstack([np.zeros((0, 6), np.int64), *opens])

    # -- per tick -----------------------------------------------------------------------------------------------
    def _open_rows(self, delivered: list[tuple[int, int, int, int, int, int]]) -> NDArray[np.int64]:
        """Which displayed deliveries will be opened, and when (a keyed hash of the push seq)."""
        shown = [d for d in delivered if d[5]]
        if not shown:
            return np.zeros((0, 6), np.int64)
        seq = np.asarray([d[0] for d in shown], dtype=np.uint64)
        h1 = _mix(seq ^ self._salt)
        h2 = _mix(h1 ^ np.uint64(0x9E3779B97F4A7C15))
        u1 = (h1 >> np.uint64(11)).astype(np.float64) / float(1 << 53)
        u2 = ((h2 >> np.uint64(11)).astype(np.float64) + 1.0) / float((1 << 53) + 1)
        at = np.asarray([d[4] for d in shown], dtype=np.int64)
        delay = np.round(-np.log(u2) * OPEN_DELAY_S * 1e6).astype(np.int64)
        rows = np.column_stack([at + delay, at + OPEN_WINDOW_US, seq.astype(np.int64),
                                np.asarray([[d[1], d[2], d[3]] for d in shown], dtype=np.int64).reshape(-1, 3)])
        return rows[u1 < OPEN_SHARE]

    def available(self, subs: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Whether each person could use an app now: awake, not travelling, phone on."""
        if not len(subs):
            return np.zeros(0, dtype=bool)
        minute = self.world.local_clock(subs).minute
        base = subs < len(self._wake)
        idx = np.where(base, subs, 0)
        wake = np.where(base, self._wake[idx], DEFAULT_DAY[0])
        sleep = np.where(base, self._sleep[idx], DEFAULT_DAY[1])
        where = self.world.whereabouts(subs)
        return np.asarray((minute >= wake) & (minute < sleep) & ~where.travelling & self.world.is_reachable(subs))

    def on_step(self, now: datetime) -> None:
        """Draw and publish this tick's app events."""
        apps = self.apps.all()
        self._received.extend(self.push.take_deliveries())
        if not apps:
            return
        k = self.world.tick_index
        now_us = to_micros(now)
        fresh = self._open_rows([d for d in self._received if d[4] <= now_us])
        if len(fresh):
            self._opens = np.vstack([self._opens, fresh])
        received = [d for d in self._received if d[4] <= now_us]
        self._received = [d for d in self._received if d[4] > now_us]
        opened = self._due_opens(now_us)
        published: list[tuple[int, int]] = []
        for app in apps:
            batch = self._batch(app, k, now_us, [d for d in received if d[1] == app.seq],
                                opened[opened[:, 3] == app.seq] if len(opened) else opened)
            if batch.size:
                self._next_seq[app.seq] = int(batch.seq[-1]) + 1
                published.append((app.seq, int(batch.seq[-1]) + 1))
                self.apps.publish(batch)
        if published:
            self.repository.record_event_ticks([a for a, _ in published], k, [e for _, e in published])
        if len(opened):
            self.repository.opened([(int(s), int(t)) for s, t in zip(opened[:, 2], opened[:, 0], strict=True)])

    def _due_opens(self, now_us: int) -> NDArray[np.int64]:
        """Opens that happen this tick (their time set to when they happen); drops those past their day."""
        ops = self._opens
        if not len(ops):
            return ops
        ops = ops[ops[:, 1] > now_us]
        due = ops[:, 0] <= now_us
        cand = ops[due]
        ok = np.zeros(len(cand), dtype=bool)
        if len(cand):
            installed = np.asarray([bool(self.apps.installs(self.apps.by_seq(int(a))).installed[int(r)])
                                    for a, r in zip(cand[:, 3], cand[:, 4], strict=True)], dtype=bool)
            ok = installed & self.available(cand[:, 5])
        done = cand[ok].copy()
        done[:, 0] = np.maximum(done[:, 0], now_us - self._tick_us + 1)
        keep = np.ones(len(ops), dtype=bool)
        keep[np.flatnonzero(due)[ok]] = False
        self._opens = ops[keep]
        return done

    def _batch(self, app: AppRecord, k: int, now_us: int, received: list[tuple[int, int, int, int, int, int]],
               opened: NDArray[np.int64]) -> AppEventBatch:
        table = self.apps.installs(app)
        rng = self.world.random_stream("apps-usage", app.seq, k)
        lo_us = now_us - self._tick_us
        n_cat = len(app.spec.categories)
        parts: list[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64],
                          NDArray[np.int64], NDArray[np.int64]]] = []  # time, row, event, item, value, position

        def add(time: NDArray[np.int64], row: NDArray[np.int64], event: int | NDArray[np.int64],
                item: NDArray[np.int64] | None = None, value: NDArray[np.int64] | None = None,
                pos: NDArray[np.int64] | None = None) -> None:
            n = len(time)
            zeros = np.zeros(n, np.int64)
            parts.append((time, row, np.broadcast_to(np.asarray(event, np.int64), (n,)).copy(),
                          np.full(n, -1, np.int64) if item is None else item, zeros if value is None else value,
                          zeros if pos is None else pos))

        changes = self.apps.changes(app.seq)
        add(changes.installed_us, changes.installed_rows, _E["Application Installed"])
        add(changes.uninstalled_us, changes.uninstalled_rows, _E["Application Uninstalled"])
        if received:
            add(np.asarray([d[4] for d in received], np.int64), np.asarray([d[2] for d in received], np.int64),
                _E["Push Notification Received"])
        if len(opened):
            add(opened[:, 0], opened[:, 4], _E["Push Notification Tapped"])
            add(opened[:, 0], opened[:, 4], _E["Application Opened"], pos=np.ones(len(opened), np.int64))

        shop = bool(set(app.spec.categories) & COMMERCE)
        p = SESSIONS_PER_AWAKE_HOUR[shop] * self.world.config.tick_seconds / 3600.0
        # Only installs under the highest rate can start a session: pick them by geometric skips (cost in the few
        # picked, not in the installs), then ask the world about those alone.
        rows, u = bernoulli_rows(rng, np.flatnonzero(table.installed).astype(np.int64), p * EVENING_HOME_FACTOR)
        subs = table.subscriber[rows]
        if len(rows):
            where = self.world.whereabouts(subs)
            hour = self.world.local_clock(subs).hour
            factor = np.where(where.at_home & (hour >= EVENING[0]) & (hour < EVENING[1]), EVENING_HOME_FACTOR,
                              np.where(where.at_work, AT_WORK_FACTOR, 1.0))
            start = (u < p * factor) & self.available(subs)
            rows = rows[start]
        n = len(rows)
        if n:
            begin = lo_us + 1 + rng.integers(0, max(1, self._tick_us // 2), size=n)
            step = min(STEP_US, max(1, self._tick_us // 32))
            if shop:
                views = 1 + rng.poisson(PRODUCT_VIEWS, n)
                cart = rng.random(n) < CART
                checkout = cart & (rng.random(n) < CHECKOUT)
                order = checkout & (rng.random(n) < ORDER)
                value = np.round(rng.lognormal(*ORDER_CENTS, size=n)).astype(np.int64)
                view_event = _E["Product Viewed"]
            else:
                views = 1 + rng.poisson(CONTENT_VIEWS, n)
                cart = checkout = order = np.zeros(n, dtype=bool)
                value = np.zeros(n, np.int64)
                view_event = _E["Content Viewed"]

            def at(pos: NDArray[np.int64], which: NDArray[np.int64]) -> NDArray[np.int64]:
                return np.asarray(np.minimum(begin[which] + pos * step, now_us), dtype=np.int64)

            every = np.arange(n, dtype=np.int64)
            add(at(np.zeros(n, np.int64), every), rows, _E["Application Opened"])
            who = np.repeat(every, views)
            nth = np.arange(len(who), dtype=np.int64) - np.repeat(np.cumsum(views) - views, views) + 1
            items = rng.integers(0, n_cat, size=len(who)).astype(np.int64) if n_cat else None
            add(at(nth, who), rows[who], view_event, item=items, pos=nth)
            for flag, name, offset in ((cart, "Product Added", 1), (checkout, "Checkout Started", 2),
                                       (order, "Order Completed", 3)):
                sel = np.flatnonzero(flag).astype(np.int64)
                pos = views[sel] + offset
                # The product added is the last one viewed.
                add(at(pos, sel), rows[sel], _E[name], item=(items[np.cumsum(views)[sel] - 1]
                                                           if items is not None and offset == 1 else None),
                    value=value[sel] if name == "Order Completed" else None, pos=pos)
            last = views + 4
            add(at(last, every), rows, _E["Application Backgrounded"], pos=last)

        if not parts or not sum(len(part[0]) for part in parts):
            return AppEventBatch.empty(app.seq)
        time, row, event, item, value, pos = (np.concatenate([part[i] for part in parts]) for i in range(6))
        order_ = np.lexsort((event, pos, row, time))
        first = self._next_seq.get(app.seq, 0)
        return AppEventBatch(app.seq, np.arange(first, first + len(order_), dtype=np.int64),
                             time[order_].astype(np.int64), row[order_].astype(np.int64),
                             event[order_].astype(np.uint8), item[order_].astype(np.int16),
                             value[order_].astype(np.int64))
