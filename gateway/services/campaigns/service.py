"""Targeted campaigns, the service behind ``/campaigns/v1``: create, estimate, read, cancel, report.

Owns the campaign lifecycle as partners drive it (``SCHEDULED → RUNNING → COMPLETED | CANCELLED``, or
``REJECTED`` by moderation): validation of targeting, schedule and message, moderation, the minimum audience,
audience estimates, idempotent creation, the partner's quota of active campaigns, reports (aggregates with
privacy thresholds) and the operator-side truth (one record per subscriber outcome). The campaigns run in world
ticks in :mod:`gateway.services.campaigns.engine`; their rows are in
:mod:`gateway.services.campaigns.repository`. It knows nothing of HTTP; handlers translate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np

from gateway.core.disclosure import disclose, two_significant
from gateway.core.errors import Conflict, InvalidArgument, InvalidMessage, NotFound, QuotaExceeded
from gateway.core.settings import MIN_RADIUS_M, CampaignSettings
from gateway.core.store import Store
from gateway.services import policy, sms, targeting
from gateway.services.campaigns.engine import CampaignEngine, Listener
from gateway.services.campaigns.model import (
    API,
    CHANNELS,
    KINDS,
    AudienceTooSmall,
    CampaignRequest,
    CampaignView,
    Estimate,
    HourlyPoint,
    Record,
    Report,
    TargetingSpec,
    parse_id,
    public_id,
    record_id,
)
from gateway.services.campaigns.repository import HOUR_US, CampaignRepository
from gateway.services.caps import FrequencyCaps
from gateway.services.targeting import Targeting
from gateway.wire.base import format_instant
from simulator.clock import from_micros, to_micros
from simulator.world import World


class CampaignService:
    """Campaign API service of one world and store; its campaigns run in a :class:`CampaignEngine`."""

    def __init__(self, world: World, store: Store, settings: CampaignSettings,
                 is_live: Callable[[], bool] = lambda: True, caps: FrequencyCaps | None = None,
                 min_radius_m: float = MIN_RADIUS_M,
                 partner_limit: Callable[[int, str], float | None] = lambda partner, name: None) -> None:
        self.world = world
        self.store = store
        self.repository = CampaignRepository(store)
        self._partner_limit = partner_limit
        self.settings = settings
        self.min_radius_m = min_radius_m  # Settings.min_radius_m: one rule with the CAMARA location APIs
        self.rules = policy.Rules(settings.quiet_start_hour, settings.quiet_end_hour, settings.daily_cap,
                                  settings.partner_daily_cap)
        self.caps = caps if caps is not None else FrequencyCaps(world.subscriber_count,
                                                                settings.partner_daily_cap is not None)
        """Daily advertising counts, shared with direct PROMO messages (:mod:`gateway.services.caps`)."""
        self.engine = CampaignEngine(world, self.repository, self.rules, self.caps, settings.privacy_threshold,
                                     is_live)
        """The campaigns running in the world's ticks."""

    def add_listener(self, fn: Listener) -> None:
        """Call ``fn(event_type, data, sim_time)`` for campaign events (see
        :data:`~gateway.services.campaigns.model.EVENT_TYPES`).

        ``data`` holds the campaign id, the partner id and aggregates only, never a subscriber's identity.
        Events are emitted live only: a replay after a restart does not repeat them.
        """
        self.engine.add_listener(fn)

    # -- requests -------------------------------------------------------------------------------------------
    def _targeting(self, spec: TargetingSpec) -> Targeting:
        s = self.settings
        if spec.location_mode not in targeting.LOCATION_MODES:
            raise InvalidArgument(f"locationMode must be one of {', '.join(targeting.LOCATION_MODES)}.")
        if spec.dwell_minutes and spec.location_mode != "ENTERS":
            raise InvalidArgument("dwellMinutes applies to locationMode ENTERS only.")
        if spec.location_mode == "VISITED":
            if spec.visited_from is None or spec.visited_to is None:
                raise InvalidArgument("locationMode VISITED needs visitedFrom and visitedTo.")
            if spec.visited_to <= spec.visited_from:
                raise InvalidArgument("visitedTo must be after visitedFrom.")
            if spec.visited_to > self.world.clock.now:
                raise InvalidArgument("visitedTo must not be in the future: VISITED looks at the past.")
        elif spec.visited_from is not None or spec.visited_to is not None:
            raise InvalidArgument("visitedFrom and visitedTo apply to locationMode VISITED only.")
        try:
            spec.segment.validate()
        except Exception as exc:  # InvalidConfigError: a message meant for users
            raise InvalidArgument(f"Invalid segment: {exc}.") from None
        areas = [targeting.resolve_area(self.world, a, self.min_radius_m, s.max_radius_m) for a in spec.areas]
        return Targeting(targeting.cells_of(self.world, areas), spec.location_mode, spec.segment,
                         spec.dwell_minutes, spec.visited_from, spec.visited_to)

    def _count(self, target: Targeting, kind: str, channel: str, max_recipients: int | None
               ) -> tuple[int, int, dict[str, int]]:
        """Raw (reachable audience, location matches, exclusions by reason) now."""
        cands = targeting.estimate_candidates(self.world, target)
        kept, seg_out = targeting.apply_segment(self.world, cands, target.segment)
        app = self.world.app_installed(kept)
        push = self.world.consent.is_permitted(kept, "ADVERTISING", "PUSH")
        sms_ok = self.world.consent.is_permitted(kept, "ADVERTISING", "SMS")
        assert isinstance(push, np.ndarray) and isinstance(sms_ok, np.ndarray)
        n = len(kept)
        facts = policy.Facts(kept, app, push, sms_ok, np.full(n, 12, np.int16), np.ones(n, bool),
                             np.zeros(n, np.int32), np.zeros(n, np.int32))
        decision = policy.decide(facts, kind=kind, channel=channel, rules=self.rules, can_hold=False, remaining=None)
        reasons = np.bincount(decision.reason, minlength=len(policy.REASONS))
        excluded = {"SEGMENT": len(seg_out), "NO_CONSENT": int(reasons[policy.NO_CONSENT]),
                    "NO_APP": int(reasons[policy.NO_APP])}
        reachable = len(decision.send)
        audience = reachable if max_recipients is None else min(reachable, max_recipients)
        return audience, len(cands), excluded

    def _disclose(self, n: int) -> int | None:
        return disclose(n, self.settings.privacy_threshold)

    def estimate(self, spec: TargetingSpec, kind: str = "PROMO", channel: str = "PUSH_THEN_SMS",
                 max_recipients: int | None = None) -> Estimate:
        """Reachable audience now (after segment and consent), rounded; small counts withheld."""
        audience, matched, excluded = self._count(self._targeting(spec), kind, channel, max_recipients)
        withheld: list[str] = []

        def show(name: str, n: int) -> int | None:
            value = self._disclose(n)
            if value is None:
                withheld.append(name)
                return None
            return two_significant(value)

        shown_excluded = {k: show(f"excluded.{k}", v) for k, v in excluded.items()}
        return Estimate(show("audience", audience), show("matched", matched), shown_excluded, withheld)

    def _check_message(self, req: CampaignRequest) -> None:
        problems = sms.text_problems(req.channel, req.text, req.title)
        sender = sms.sender_problem(req.sender_name)
        if sender:
            problems.insert(0, sender)
        if req.kind not in KINDS or req.channel not in CHANNELS:
            problems.append("unknown kind or channel")
        if problems:
            raise InvalidMessage("; ".join(problems) + ".", api=API)

    def _check_schedule(self, req: CampaignRequest) -> None:
        if req.end <= req.start:
            raise InvalidArgument("schedule.endTime must be after schedule.startTime.")
        if req.end <= self.world.clock.now:
            raise InvalidArgument(f"schedule.endTime is in the past (now is {format_instant(self.world.clock.now)}).")
        if req.daily_hours is not None and req.daily_hours[0] == req.daily_hours[1]:
            raise InvalidArgument("schedule.dailyHours from and to must differ.")
        if req.max_recipients is not None and req.max_recipients < 1:
            raise InvalidArgument("maxRecipients must be at least 1.")

    def create(self, partner_id: int, req: CampaignRequest, idempotency_key: str | None = None
               ) -> tuple[CampaignView, bool]:
        """Validate, moderate, estimate and store a campaign; returns it and whether it is new.

        The same ``idempotency_key`` with the same body gives back the first campaign; with another body, 409.
        """
        self.engine.load()
        body_hash = hashlib.sha256(json.dumps(req.to_json(), sort_keys=True).encode()).hexdigest()
        if idempotency_key is not None:
            found = self.repository.by_idempotency_key(partner_id, idempotency_key)
            if found is not None:
                if found[1] != body_hash:
                    raise Conflict("Idempotency-Key was already used with a different request body.")
                return self.get(partner_id, public_id(found[0])), False
        self._check_quota(partner_id)
        self._check_message(req)
        self._check_schedule(req)
        target = self._targeting(req.targeting)
        now = self.world.clock.now
        hit = sms.moderation_hit(" ".join(filter(None, (req.text, req.title, req.name))),
                                 self.settings.moderation_terms)
        status, reason, audience = "SCHEDULED", None, 0
        if hit is not None:
            status, reason = "REJECTED", f"MODERATION: the text contains the blocked term '{hit}'."
        else:
            audience, _, _ = self._count(target, req.kind, req.channel, req.max_recipients)
            if audience < self.settings.min_audience:
                raise AudienceTooSmall(f"The estimated reachable audience is under the operator minimum of "
                                       f"{self.settings.min_audience}.")
        seq = self.repository.insert(partner_id, req, status, reason, audience, idempotency_key, body_hash,
                                     to_micros(now))
        if reason is not None:
            self.engine.rejected(seq, partner_id, reason, now)
        else:
            self.engine.schedule(seq, partner_id, req, target, to_micros(now))
        return self.get(partner_id, public_id(seq)), True

    def _check_quota(self, partner_id: int) -> None:
        """The partner's ``maxCampaigns`` limit counts its SCHEDULED and RUNNING campaigns (429 QUOTA_EXCEEDED)."""
        limit = self._partner_limit(partner_id, "maxCampaigns")
        if limit is None:
            return
        active = self.repository.active_count(partner_id)
        if active >= limit:
            raise QuotaExceeded(f"The partner's limit of {limit:g} active campaigns is reached; cancel one or wait "
                                "until one completes.")

    def _row(self, partner_id: int | None, campaign_id: str) -> Any:
        seq = parse_id(campaign_id)
        row = None if seq is None else self.repository.get(seq)
        if row is None or (partner_id is not None and row["partner_id"] != partner_id):
            raise NotFound(f"Campaign {campaign_id} not found.")
        return row

    def _view(self, row: Any) -> CampaignView:
        req = CampaignRequest.from_json(json.loads(row["spec"]))
        info = sms.sms_info(req.text)

        def at(us: int | None) -> datetime | None:
            return None if us is None else from_micros(us)

        created = at(row["created_us"])
        assert created is not None
        estimate = self._disclose(int(row["estimate"]))
        return CampaignView(public_id(row["seq"]), row["seq"], row["partner_id"], req, row["status"],
                            row["rejection_reason"], None if estimate is None else two_significant(estimate),
                            created, at(row["started_us"]), at(row["completed_us"]), at(row["cancelled_us"]),
                            info.encoding, info.segments)

    def get(self, partner_id: int | None, campaign_id: str) -> CampaignView:
        """A campaign of that partner (None: any, operator side); 404 otherwise."""
        return self._view(self._row(partner_id, campaign_id))

    def list_own(self, partner_id: int, limit: int, after: str | None = None) -> tuple[list[CampaignView], str | None]:
        """A page of the partner's campaigns, oldest first, and the cursor of the next page."""
        start = 0
        if after is not None:
            seq = parse_id(after)
            if seq is None:
                raise InvalidArgument("cursor is not a campaign id.")
            start = seq
        rows = self.repository.page(partner_id, start, limit + 1)
        views = [self._view(r) for r in rows[:limit]]
        return views, (views[-1].id if len(rows) > limit else None)

    def cancel(self, partner_id: int, campaign_id: str) -> CampaignView:
        """Stop a scheduled or running campaign now: no further sends; held candidates become CANCELLED."""
        self.engine.load()
        row = self._row(partner_id, campaign_id)
        if row["status"] not in ("SCHEDULED", "RUNNING"):
            raise Conflict(f"Campaign {campaign_id} is {row['status']} and cannot be cancelled.")
        now = self.world.clock.now
        self.repository.cancel(row["seq"], to_micros(now))
        # After the transaction: the background record writer must be free to take the write lock.
        self.engine.cancel(row["seq"], now)
        return self.get(partner_id, campaign_id)

    def report(self, partner_id: int | None, campaign_id: str) -> Report:
        """Aggregates of a campaign as of now: totals, suppressions by reason, hourly series."""
        self.engine.load()
        row = self._row(partner_id, campaign_id)
        seq = row["seq"]
        now = self.world.clock.now
        now_us = to_micros(now)
        self.repository.drain()
        totals = self.repository.report_totals(seq, now_us)
        reasons = self.repository.suppressions_by_reason(seq)
        hourly_rows = self.repository.hourly(seq, now_us)
        held = self.engine.held(seq)
        withheld: list[str] = []

        def show(name: str, n: Any) -> int | None:
            value = self._disclose(int(n or 0))
            if value is None:
                withheld.append(name)
            return value

        suppressed = {r: show(f"suppressed.{r}", reasons.get(r, 0)) for r in policy.REASONS}
        hourly = []
        for h in hourly_rows:
            stamp = format_instant(from_micros(int(h["h"]) * HOUR_US))
            hourly.append(HourlyPoint(from_micros(int(h["h"]) * HOUR_US), *(
                show(f"hourly[{stamp}].{k}", h[k]) for k in ("sent", "delivered", "failed", "opened", "clicked",
                                                              "suppressed"))))
        return Report(public_id(seq), row["status"], now, show("matched", int(totals["matched"] or 0) + held),
                      show("held", held), suppressed, show("sent", totals["sent"]),
                      show("delivered", totals["delivered"]), show("failed", totals["failed"]),
                      show("opened", totals["opened"]), show("clicked", totals["clicked"]), hourly, withheld)

    def latest(self, limit: int) -> list[tuple[CampaignView, dict[str, int]]]:
        """Operator side: the most recent campaigns of every partner with their raw totals as written so far
        (sent, delivered, suppressed; records still queued for writing are not counted yet)."""
        now_us = to_micros(self.world.clock.now)
        out = []
        for row in self.repository.latest(limit):
            totals = self.repository.totals(row["seq"], now_us)
            out.append((self._view(row), {k: int(totals[k] or 0) for k in ("sent", "delivered", "suppressed")}))
        return out

    def records(self, campaign_id: str, limit: int, after: int = 0) -> tuple[list[Record], int | None]:
        """Operator-side truth: a page of every outcome (delivery or suppression) with its subscriber."""
        row = self._row(None, campaign_id)
        self.repository.drain()
        rows = self.repository.records(row["seq"], after, limit + 1)
        page = rows[:limit]
        numbers = self.world.msisdns(np.array([r["subscriber"] for r in page], dtype=np.int64))

        def at(us: int | None) -> datetime | None:
            return None if us is None else from_micros(us)

        out = [Record(record_id(r["campaign_seq"], r["seq"], r["outcome"]), r["subscriber"], m,
                      from_micros(r["at_us"]), r["outcome"], r["reason"], r["channel"], at(r["delivered_us"]),
                      at(r["opened_us"]), at(r["clicked_us"])) for r, m in zip(page, numbers, strict=True)]
        return out, (page[-1]["seq"] if len(rows) > limit else None)
