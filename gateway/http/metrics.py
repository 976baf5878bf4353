"""Prometheus metrics of one gateway app: HTTP traffic and the world's vital signs.

Owns a per-app ``CollectorRegistry`` (never the global one: several apps live in one test process), request
counters and the latency histogram, and a collector that reads the world's summary at scrape time. It must not
change anything it observes.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

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


class Metrics:
    """The metrics of one app."""

    def __init__(self, world: World) -> None:
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
        self.registry.register(_WorldCollector(world))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one served request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def fault(self, kind: str, route: str) -> None:
        """Count one injected fault."""
        self.faults.labels(kind, route).inc()

    def render(self) -> bytes:
        """Prometheus text exposition of everything."""
        return generate_latest(self.registry)
