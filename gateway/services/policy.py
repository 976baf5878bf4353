"""Operator rules deciding, for a batch of candidates of one campaign, who is sent what and who is suppressed.

Pure and vectorised: the caller gathers the facts (consent bits at the send instant, app installed, local
hour, reachability, today's message counts) as arrays aligned with the candidates, and :func:`decide` returns
index arrays. Rules, in the order they apply (the first that refuses gives the reason):

1. ``NO_APP``: a ``PUSH``-only campaign cannot reach a phone without the operator's app (``PUSH_THEN_SMS``
   falls back to SMS instead).
2. ``NO_CONSENT``: a ``PROMO`` message needs ``ADVERTISING`` consent for the channel it would use, active at
   the send instant (``PUSH_THEN_SMS`` uses push when the app is there and push is allowed, else SMS when SMS
   is allowed). ``INFORMATIONAL`` messages (service notices) need no advertising consent; every other rule
   applies to them unchanged.
3. ``QUIET_HOURS``: no campaign message from ``quiet_start_hour`` to ``quiet_end_hour`` (default 21:00-08:00)
   in the subscriber's local time. While the schedule is still open the candidate is *held* and decided
   again (all rules, consent included) at the first tick after quiet hours; otherwise it is suppressed.
4. ``UNREACHABLE``: the phone is off or out of coverage at the send instant (nothing is sent, so it counts
   against no cap).
5. ``FREQUENCY_CAP``: at most ``daily_cap`` (default 1) campaign messages per subscriber per local day across
   all partners, and at most ``partner_daily_cap`` per partner when set. The same campaign never sends twice
   to a subscriber (the engine considers each subscriber once per campaign).
6. ``MAX_RECIPIENTS``: past the campaign's ``maxRecipients``, candidates in index order are suppressed.

``SEGMENT`` (targeting) and ``CANCELLED`` (lifecycle) suppressions are recorded by the engine, not here.
This module must not touch the world, the store or HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

REASONS: tuple[str, ...] = ("NO_CONSENT", "QUIET_HOURS", "FREQUENCY_CAP", "SEGMENT", "MAX_RECIPIENTS", "NO_APP",
                            "UNREACHABLE", "CANCELLED")
"""Suppression reasons; a reason is stored as its index in this tuple."""
NO_CONSENT, QUIET_HOURS, FREQUENCY_CAP, SEGMENT, MAX_RECIPIENTS, NO_APP, UNREACHABLE, CANCELLED = range(8)

CHANNELS: tuple[str, ...] = ("PUSH", "SMS")
"""Channels a message actually travels on; stored as the index in this tuple."""
PUSH, SMS = 0, 1


@dataclass(frozen=True)
class Rules:
    """The operator's settings the policy applies (see :class:`gateway.core.settings.CampaignSettings`)."""

    quiet_start_hour: int = 21
    quiet_end_hour: int = 8
    daily_cap: int = 1
    partner_daily_cap: int | None = None


@dataclass(frozen=True)
class Facts:
    """Everything known about the candidates at the send instant, as arrays aligned with ``subs``."""

    subs: NDArray[np.int32]
    app: NDArray[np.bool_]
    consent_push: NDArray[np.bool_]
    consent_sms: NDArray[np.bool_]
    local_hour: NDArray[np.int16]
    reachable: NDArray[np.bool_]
    sent_today: NDArray[np.int32]
    partner_sent_today: NDArray[np.int32]


@dataclass(frozen=True)
class Decision:
    """Sends (subscriber, channel), held candidates and suppressions (subscriber, reason index)."""

    send: NDArray[np.int32]
    send_channel: NDArray[np.uint8]
    held: NDArray[np.int32]
    suppressed: NDArray[np.int32]
    reason: NDArray[np.uint8]


@dataclass(frozen=True)
class BatchDecision:
    """Per candidate pair: sent (and on which channel), held by quiet hours, or refused (reason, else 255)."""

    send: NDArray[np.bool_]
    channel: NDArray[np.uint8]
    held: NDArray[np.bool_]
    reason: NDArray[np.uint8]


def in_quiet_hours(local_hour: NDArray[np.int16], rules: Rules) -> NDArray[np.bool_]:
    """Whether each local hour is inside quiet hours (the span may wrap midnight)."""
    start, end = rules.quiet_start_hour, rules.quiet_end_hour
    if start == end:
        return np.zeros(len(local_hour), dtype=bool)
    if start > end:
        return np.asarray((local_hour >= start) | (local_hour < end))
    return np.asarray((local_hour >= start) & (local_hour < end))


def _rank(keys: NDArray[np.int64], among: NDArray[np.bool_]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Positions of the ``among`` pairs and each one's rank within its key group (earlier pairs first)."""
    idx = np.flatnonzero(among)
    order = idx[np.argsort(keys[idx], kind="stable")]
    k = keys[order]
    n = len(order)
    starts = np.ones(n, dtype=bool)
    starts[1:] = k[1:] != k[:-1]
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0)) if n else np.zeros(0, np.intp)
    return order, np.arange(n) - first


def _capped(facts: Facts, partner: NDArray[np.int64], among: NDArray[np.bool_], rules: Rules) -> NDArray[np.bool_]:
    """Pairs beyond a daily cap when the ``among`` pairs are sent in order (earlier campaigns first)."""
    capped = np.zeros(len(facts.subs), dtype=bool)
    subs = facts.subs.astype(np.int64)
    order, rank = _rank(subs, among)
    capped[order[rank >= rules.daily_cap - facts.sent_today[order]]] = True
    if rules.partner_daily_cap is not None:
        order, rank = _rank(partner * (1 << 32) + subs, among)
        capped[order[rank >= rules.partner_daily_cap - facts.partner_sent_today[order]]] = True
    return capped


def _over(camp: NDArray[np.intp], remaining: NDArray[np.int64], among: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Pairs past their campaign's remaining sends (pairs are grouped by campaign, in order)."""
    cum = np.cumsum(among)
    n = len(camp)
    starts = np.ones(n, dtype=bool)
    starts[1:] = camp[1:] != camp[:-1]
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0)) if n else np.zeros(0, np.intp)
    before = np.concatenate([[0], cum])[first]
    over: NDArray[np.bool_] = among & (cum - before > remaining[camp])
    return over


def decide_batch(facts: Facts, camp: NDArray[np.intp], *, promo: NDArray[np.bool_], channel: NDArray[np.uint8],
                 can_hold: NDArray[np.bool_], remaining: NDArray[np.int64], partner: NDArray[np.int64],
                 rules: Rules) -> BatchDecision:
    """Apply the rules of the module docstring to the candidate pairs of every campaign of a tick at once.

    Pairs (``facts.subs[i]`` for campaign ``camp[i]``) are grouped by campaign in the engine's order; per-campaign
    parameters are indexed by ``camp``: ``channel`` codes 0 PUSH, 1 SMS, 2 PUSH_THEN_SMS; ``remaining`` sends
    under ``maxRecipients`` (a huge number when unlimited). ``can_hold`` is per pair: the schedule stays open
    after quiet hours end in the subscriber's time zone. Caps count earlier campaigns of the same tick first; a
    pair dropped by ``maxRecipients`` gives its cap slot back (one refinement pass), so caps are never exceeded and
    rarely under-used.
    """
    n = len(facts.subs)
    reason = np.full(n, 255, dtype=np.uint8)  # 255: not refused
    is_promo = promo[camp]
    ch = channel[camp]
    push_ok = facts.app & (facts.consent_push | ~is_promo)
    sms_ok = facts.consent_sms | ~is_promo
    use = np.where(ch == SMS, SMS, np.where(ch == PUSH, PUSH, np.where(push_ok, PUSH, SMS))).astype(np.uint8)
    reason[(ch == PUSH) & ~facts.app] = NO_APP
    refused = np.where(ch == PUSH, ~push_ok, np.where(ch == SMS, ~sms_ok, ~push_ok & ~sms_ok))
    reason[(reason == 255) & refused] = NO_CONSENT
    open_ = reason == 255
    quiet = open_ & in_quiet_hours(facts.local_hour, rules)
    held = quiet & can_hold
    reason[quiet & ~held] = QUIET_HOURS
    open_ &= ~quiet
    reason[open_ & ~facts.reachable] = UNREACHABLE
    open_ &= facts.reachable
    capped = _capped(facts, partner[camp], open_, rules)
    dropped = _over(camp, remaining, open_ & ~capped)
    capped = _capped(facts, partner[camp], open_ & ~dropped, rules)
    dropped |= _over(camp, remaining, open_ & ~dropped & ~capped)
    reason[open_ & capped & ~dropped] = FREQUENCY_CAP
    reason[open_ & dropped] = MAX_RECIPIENTS
    send = open_ & ~capped & ~dropped
    return BatchDecision(send=send, channel=use, held=held, reason=reason)


def decide(facts: Facts, *, kind: str, channel: str, rules: Rules, can_hold: bool,
           remaining: int | None) -> Decision:
    """:func:`decide_batch` for the candidates of one campaign (estimates use it)."""
    n = len(facts.subs)
    camp = np.zeros(n, dtype=np.intp)
    d = decide_batch(facts, camp, promo=np.array([kind == "PROMO"]),
                     channel=np.array([("PUSH", "SMS", "PUSH_THEN_SMS").index(channel)], dtype=np.uint8),
                     can_hold=np.full(n, can_hold), remaining=np.array([2**62 if remaining is None else remaining]),
                     partner=np.zeros(1, np.int64), rules=rules)
    refused = d.reason != 255
    return Decision(send=facts.subs[d.send], send_channel=d.channel[d.send], held=facts.subs[d.held],
                    suppressed=facts.subs[refused], reason=d.reason[refused])
