"""Per-partner request rate limits (the ``requestsPerSecond`` limit an operator sets on a partner).

Owns one token bucket per partner, refilled in wall time (rate limits protect the server, they are not part of
the simulation). A bucket holds one second's worth of requests, so short bursts up to the limit pass. Limits
are read from the store and re-read every few seconds, so a changed limit takes effect without a restart.
This module must not know about HTTP beyond raising :class:`~gateway.core.errors.TooManyRequests`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.core.errors import TooManyRequests

LIMIT_REFRESH_S = 5.0


@dataclass
class _Bucket:
    rate: float | None
    tokens: float
    last: float
    read_at: float


class RateLimiter:
    """Token buckets keyed by partner id."""

    def __init__(self, limit_of: Callable[[int], float | None],
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._limit_of = limit_of
        self._now = monotonic
        self._buckets: dict[int, _Bucket] = {}

    def check(self, partner_id: int) -> None:
        """Take one request from the partner's bucket, or raise 429 with ``Retry-After``."""
        now = self._now()
        bucket = self._buckets.get(partner_id)
        if bucket is None or now - bucket.read_at >= LIMIT_REFRESH_S:
            rate = self._limit_of(partner_id)
            tokens = bucket.tokens if bucket is not None and bucket.rate == rate else (rate or 0.0)
            bucket = _Bucket(rate, tokens, bucket.last if bucket else now, now)
            self._buckets[partner_id] = bucket
        if bucket.rate is None:
            return
        bucket.tokens = min(bucket.rate, bucket.tokens + (now - bucket.last) * bucket.rate)
        bucket.last = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return
        wait = (1.0 - bucket.tokens) / bucket.rate
        raise TooManyRequests(f"Rate limit of {bucket.rate:g} requests per second reached.",
                              headers={"Retry-After": str(max(1, math.ceil(wait)))})
