"""Inbox figures: two busy simulated days of campaign deliveries into the columnar inboxes.

* ``inbox_batch_add_ms``: mean cost of delivering one tick's batch of 2,800 messages (the ENTERS benchmark's
  rate, about 4 million messages a day of 60 s ticks) to random devices of a 1M world, compactions and merges
  included;
  baseline: building one message object per delivery into a per-device list (what the inboxes were before).
* ``inbox_batch_add_worst_ms``: the worst single batch (the one that pays for the largest merge).
* ``inbox_read_ms``: median time to read one device's inbox afterwards.

Usage: python -m benchmarks.bench_inbox [--batches N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from benchmarks._report import emit
from simulator.clock import from_micros
from simulator.inbox import Inboxes, InboxMessage, MessageTemplate

BATCH = 2_800
DEVICES = 1_000_000
START_US = 1_780_000_000_000_000


def _object_inbox(batches: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean ms per batch of the object-per-message inbox, over the first batches."""
    inbox: dict[int, list[InboxMessage]] = {}
    meta = {"campaignId": "cmp_000001"}
    t = time.perf_counter()
    for subs, numbers in batches:
        received = [from_micros(v) for v in (START_US + numbers).tolist()]
        ids = [f"msg_000001_{k:07d}" for k in numbers.tolist()]
        for sub, at, mid in zip(subs.tolist(), received, ids, strict=True):
            inbox.setdefault(sub, []).append(InboxMessage(mid, at, "PUSH", "Bench", "Welcome!", "PROMO", None, meta))
    return (time.perf_counter() - t) * 1000 / len(batches)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=2_880, help="ticks of deliveries (2,880: two days of 60 s ticks)")
    args = ap.parse_args()
    rng = np.random.default_rng(11)
    box = Inboxes()
    template = box.register(MessageTemplate("Bench", "Welcome!", "PROMO", id_prefix="msg_000001_", id_digits=7,
                                            meta={"campaignId": "cmp_000001"}))
    push = box.channel_codes(["PUSH"])[0]
    times = []
    first: list[tuple[np.ndarray, np.ndarray]] = []
    for b in range(args.batches):
        subs = rng.integers(0, DEVICES, BATCH)
        numbers = np.arange(b * BATCH + 1, (b + 1) * BATCH + 1, dtype=np.int64)
        if b < 100:
            first.append((subs, numbers))
        t = time.perf_counter()
        box.add(subs, START_US + numbers, push, template, numbers)
        times.append((time.perf_counter() - t) * 1000)
    baseline = _object_inbox(first)
    emit("inbox_batch_add_ms", statistics.mean(times), baseline, None, "ms", messages=len(box), batch=BATCH)
    emit("inbox_batch_add_worst_ms", max(times), None, None, "ms")
    reads = []
    for sub in rng.integers(0, DEVICES, 200).tolist():
        t = time.perf_counter()
        box.read(sub)
        reads.append((time.perf_counter() - t) * 1000)
    emit("inbox_read_ms", statistics.median(reads), None, None, "ms", messages=len(box))


if __name__ == "__main__":
    main()
