"""Prometheus metrics of one gateway app: HTTP traffic, the world's vital signs and the business series.

Owns a per-app ``CollectorRegistry`` (never the global one: several apps live in one test process), request
counters and the latency histogram, the webhook delivery histogram (observed by the outbox sender), a collector
that reads the world's summary at scrape time and one that reads the services' counts at scrape time: campaign
sends by outcome and suppressions by reason (counts the campaign engine adds once per batch), outbox events by
delivery state (:data:`gateway.core.webhooks.DELIVERY_STATES`), verifications by status and checks by outcome,
direct messages by status and reason. Nothing is counted per recipient on the tick's path; the SQL counts are one
``GROUP BY`` each, at scrape time. It must not change anything it observes.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.registry import Collector

from gateway.core.store import StoreError
from gateway.core.webhooks import DELIVERY_STATES, Attempt, Outbox
from gateway.services.campaigns.engine import OutcomeCounts
from gateway.services.messages.service import MessageService
from gateway.services.policy import REASONS
from gateway.services.verify import CHECK_OUTCOMES, VerifyService
from simulator.world import World

CONTENT_TYPE = CONTENT_TYPE_LATEST


class _WorldCollector(Collector):
    """Sim time, tick cost and population, read from ``world.summary()`` when scraped."""

    def __init__(self, world: World) -> None:
        self._world = world

    def collect(self) -> Iterator[GaugeMetricFamily]:
        summary = self._world.summary()
        yield GaugeMetricFamily("opsim_sim_time_seconds", "Simulated time, as Unix seconds.",
                                value=self._world.clock.now.timestamp())
        yield GaugeMetricFamily("opsim_tick_duration_seconds", "Wall time the last world tick took.",
                                value=summary.last_tick_ms / 1000.0)
        yield GaugeMetricFamily("opsim_tick_duration_mean_seconds", "Mean wall time of a world tick.",
                                value=summary.mean_tick_ms / 1000.0)
        yield GaugeMetricFamily("opsim_ticks", "World ticks run since start-up.", value=float(summary.ticks))
        yield GaugeMetricFamily("opsim_subscribers", "Subscribers in the world.",
                                value=float(summary.subscribers))
        yield GaugeMetricFamily("opsim_cells", "Cells of the network.", value=float(summary.cells))


@dataclass(frozen=True)
class BusinessSources:
    """Where the business series are read at scrape time."""

    campaigns: OutcomeCounts
    outbox: Outbox
    verify: VerifyService
    messages: MessageService


class _BusinessCollector(Collector):
    """Campaign outcomes, outbox states, verifications and direct messages, read when scraped."""

    def __init__(self, sources: BusinessSources) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        src = self._sources
        sends = CounterMetricFamily(
            "opsim_campaign_sends", "Campaign recipients decided, by outcome (delivered, failed: sent; suppressed) "
            "and suppression reason (a restart's replay counts again: the world's totals).",
            labels=["outcome", "reason"])
        sends.add_metric(["delivered", ""], float(src.campaigns.delivered))
        sends.add_metric(["failed", ""], float(src.campaigns.failed))
        for reason, n in zip(REASONS, src.campaigns.suppressed.tolist(), strict=True):
            sends.add_metric(["suppressed", reason], float(n))
        yield sends
        checks = CounterMetricFamily("opsim_verify_checks", "Verification code checks, by outcome (denied: a wrong "
                                     "code with tries left).", labels=["outcome"])
        for outcome in CHECK_OUTCOMES:
            checks.add_metric([outcome], float(src.verify.check_outcomes.get(outcome, 0)))
        yield checks
        try:  # the SQL counts need the open store (a scrape during start-up or shutdown skips them)
            outbox = src.outbox.counts()
            verifications = src.verify.counts()
            messages = src.messages.counts()
        except StoreError:
            return
        events = GaugeMetricFamily("opsim_webhook_events", "Outbox events by delivery state (pending: never "
                                   "attempted; retrying: in back-off; dead: dead-lettered).", labels=["state"])
        for state in DELIVERY_STATES:
            events.add_metric([state], float(getattr(outbox, state)))
        yield events
        by_status = GaugeMetricFamily("opsim_verifications", "Verifications by status now.", labels=["status"])
        for status, n in verifications.items():
            by_status.add_metric([status.lower()], float(n))
        yield by_status
        direct = GaugeMetricFamily("opsim_messages", "Direct messages by status and reason now (final statuses: "
                                   "delivered, failed, expired, suppressed).", labels=["status", "reason"])
        for (status, reason), n in sorted(messages.items()):
            direct.add_metric([status.lower(), reason], float(n))
        yield direct


class _HeapCollector(Collector):
    """Objects the garbage collector no longer walks (``gc.freeze`` at start-up: ``opsim serve``), when scraped."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("opsim_gc_frozen_objects", "Objects kept out of garbage collection since start-up "
                                "(the world and the restored services; full collections no longer walk them).",
                                value=float(gc.get_freeze_count()))


class Metrics:
    """The metrics of one app."""

    def __init__(self, world: World, business: BusinessSources | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("opsim_http_requests", "HTTP requests served, by route and status.",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("opsim_http_request_duration_seconds", "Wall time to serve a request, by route.",
                                 ["route"], registry=self.registry,
                                 buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                                          5, 10))
        self.faults = Counter("opsim_faults_injected", "Faults injected by fault profiles and network faults, by "
                              "kind (latency, error_503, drop, webhook_duplicate...) and route (or webhook, world).",
                              ["kind", "route"], registry=self.registry)
        self.webhook_latency = Histogram(
            "opsim_webhook_delivery_duration_seconds", "Wall time of a webhook delivery attempt (the POST to the "
            "sink), by result (delivered, retry, dead, gone).", ["result"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        # The labelled children by their labels (as many as the registry holds): labels() validates on every call.
        self._served: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self.registry.register(_WorldCollector(world))
        self.registry.register(_HeapCollector())
        GCCollector(registry=self.registry)  # python_gc_*: collections and what they found, per generation
        if business is not None:
            self.registry.register(_BusinessCollector(business))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one served request."""
        children = self._served.get((method, route, status))
        if children is None:
            children = self._served[(method, route, status)] = (self.requests.labels(method, route, str(status)),
                                                                 self.latency.labels(route))
        children[0].inc()
        children[1].observe(seconds)

    def fault(self, kind: str, route: str) -> None:
        """Count one injected fault."""
        self.faults.labels(kind, route).inc()

    def webhook_attempt(self, attempt: Attempt, result: str) -> None:
        """Observe one webhook delivery attempt (the outbox sender's listener)."""
        self.webhook_latency.labels(result).observe(attempt.duration_ms / 1000.0)

    def render(self) -> bytes:
        """Prometheus text exposition of everything."""
        return generate_latest(self.registry)
