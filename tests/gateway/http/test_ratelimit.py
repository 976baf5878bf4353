"""Per-partner request rate limits: token buckets in wall time, 429 with Retry-After in the CAMARA shape."""

from __future__ import annotations

import pytest

from gateway.core.errors import TooManyRequests
from gateway.http.ratelimit import RateLimiter
from tests.gateway.conftest import ADMIN, Client, PartnerCreds, bearer, fetch_token


class FakeMonotonic:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_the_rate_and_refills() -> None:
    """A 2 req/s partner gets 2 at once, is refused the third, and gets one more half a second later."""
    clock = FakeMonotonic()
    limiter = RateLimiter(lambda partner: 2.0, clock)
    limiter.check(1)
    limiter.check(1)
    with pytest.raises(TooManyRequests) as refused:
        limiter.check(1)
    assert refused.value.headers["Retry-After"] == "1"
    clock.now += 0.5
    limiter.check(1)


def test_unlimited_partners_are_never_refused() -> None:
    """No limit, no refusal; partners do not share buckets."""
    limiter = RateLimiter(lambda partner: None if partner == 1 else 1.0, FakeMonotonic())
    for _ in range(1000):
        limiter.check(1)
    limiter.check(2)
    with pytest.raises(TooManyRequests):
        limiter.check(2)
    limiter.check(1)


async def test_limited_partner_gets_429_over_http(client: Client) -> None:
    """Past its requestsPerSecond a partner gets 429 TOO_MANY_REQUESTS with Retry-After; others are unaffected."""
    resp = await client.post("/admin/v1/partners", headers=ADMIN,
                             json={"name": "slow", "scopes": [], "limits": {"requestsPerSecond": 1}})
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    token = await fetch_token(client, PartnerCreds(body["id"], body["clientId"], body["clientSecret"]))
    statuses = []
    for _ in range(3):
        r = await client.get("/partner/v1/me", headers=bearer(token))
        statuses.append(r.status)
        if r.status == 429:
            err = await r.json()
            assert err["status"] == 429 and err["code"] == "TOO_MANY_REQUESTS"
            assert int(r.headers["Retry-After"]) >= 1
            assert r.headers.get("x-correlator")
    assert statuses[0] == 200 and 429 in statuses
