"""Simulated delivery of campaign messages: latency, network failures and engagement, seeded and vectorised.

Reachability itself is the world's (``World.is_reachable``: phones off at night for a share, brief losses of
coverage) and is checked by the policy before anything is sent. For the sends of a tick (all campaigns, in campaign
then subscriber order) this module draws from the world's named stream ``("campaign-delivery", tick)``, so the
same seed and the same API calls at the same sim times give the same deliveries:

* latency: log-normal, median 1.5 s for push (σ 0.6) and 4 s for SMS (σ 0.8);
* failure: 2 % of pushes (expired push token, app killed) and 1 % of SMS (SMSC rejection) fail;
* engagement of delivered messages: opened with probability ``base(kind, channel) × hour(local send hour) ×
  age(subscriber)``, clicked with probability ``click(kind) × age`` of those opened:

  - base open rate: push PROMO 8 %, push INFORMATIONAL 25 %, SMS PROMO 20 %, SMS INFORMATIONAL 45 %
    (SMS has no read receipts; "opened" models a read with intent, e.g. a tracked short link);
  - local hour factor: 08-11 ×1.0, 12-13 ×1.15 (lunch), 14-17 ×0.95, 18-20 ×1.2 (evening), other ×0.6;
  - age factor: under 25 ×1.2, 25-44 ×1.0, 45-64 ×0.85, 65 and over ×0.7;
  - click rate of opened messages: PROMO 15 %, INFORMATIONAL 5 %;
  - delays: opening follows delivery after an exponential delay (mean 15 min push, 30 min SMS); a click
    follows its opening after a mean of 2 min. Reports count an open or click once the clock passes it.

It must not decide who may receive a message (that is :mod:`gateway.services.policy`) nor touch the store or HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gateway.services.policy import PUSH

LATENCY_MEDIAN_S = (1.5, 4.0)  # PUSH, SMS
LATENCY_SIGMA = (0.6, 0.8)
FAILURE_RATE = (0.02, 0.01)
OPEN_RATE = {("PROMO", 0): 0.08, ("INFORMATIONAL", 0): 0.25, ("PROMO", 1): 0.20, ("INFORMATIONAL", 1): 0.45}
CLICK_RATE = {"PROMO": 0.15, "INFORMATIONAL": 0.05}
OPEN_DELAY_MEAN_S = (900.0, 1800.0)
CLICK_DELAY_MEAN_S = 120.0
_HOUR_FACTOR = np.array([0.6] * 8 + [1.0] * 4 + [1.15] * 2 + [0.95] * 4 + [1.2] * 3 + [0.6] * 3)
_AGE_BANDS = np.array([25, 45, 65])
_AGE_FACTOR = np.array([1.2, 1.0, 0.85, 0.7])


@dataclass(frozen=True)
class Outcome:
    """Per send (aligned with the sends): delivered or failed, latency, and engagement delays (NaN: none)."""

    delivered: NDArray[np.bool_]
    latency_s: NDArray[np.float64]
    open_after_s: NDArray[np.float64]
    click_after_s: NDArray[np.float64]


def simulate(rng: np.random.Generator, channel: NDArray[np.uint8], kind: NDArray[np.bool_] | str,
             local_hour: NDArray[np.int16], age: NDArray[np.uint8], sms_delay_s: float = 0.0) -> Outcome:
    """Draw latency, failure and engagement for a batch of sends (aligned arrays).

    ``kind`` is one kind for the whole batch (``"PROMO"`` or ``"INFORMATIONAL"``) or, per send, True for PROMO.
    ``sms_delay_s`` (an injected network fault, ``World.sms_delay_s``) is added to every SMS latency; it draws
    nothing, so the streams stay aligned with and without it.
    """
    n = len(channel)
    promo = np.full(n, kind == "PROMO") if isinstance(kind, str) else np.asarray(kind, dtype=bool)
    is_push = channel == PUSH
    median = np.where(is_push, LATENCY_MEDIAN_S[0], LATENCY_MEDIAN_S[1])
    sigma = np.where(is_push, LATENCY_SIGMA[0], LATENCY_SIGMA[1])
    u = rng.random((4, n))
    z = rng.standard_normal(n)
    latency = median * np.exp(sigma * z) + np.where(is_push, 0.0, sms_delay_s)
    delivered = u[0] >= np.where(is_push, FAILURE_RATE[0], FAILURE_RATE[1])
    age_factor = _AGE_FACTOR[np.searchsorted(_AGE_BANDS, age, side="right")]
    base = np.where(is_push, np.where(promo, OPEN_RATE[("PROMO", 0)], OPEN_RATE[("INFORMATIONAL", 0)]),
                    np.where(promo, OPEN_RATE[("PROMO", 1)], OPEN_RATE[("INFORMATIONAL", 1)]))
    p_open = base * _HOUR_FACTOR[local_hour] * age_factor
    opened = delivered & (u[1] < np.clip(p_open, 0.0, 1.0))
    click_rate = np.where(promo, CLICK_RATE["PROMO"], CLICK_RATE["INFORMATIONAL"])
    clicked = opened & (u[2] < np.clip(click_rate * age_factor, 0.0, 1.0))
    open_mean = np.where(is_push, OPEN_DELAY_MEAN_S[0], OPEN_DELAY_MEAN_S[1])
    open_after = np.where(opened, -np.log1p(-u[3]) * open_mean, np.nan)
    click_after = np.where(clicked, open_after + rng.exponential(CLICK_DELAY_MEAN_S, n), np.nan)
    return Outcome(delivered, latency, open_after, click_after)
