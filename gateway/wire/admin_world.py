"""Wire model of the admin world API (``/admin/v1/world``): the world's summary (city, size, cells, sim time, tick
cost).
"""

from __future__ import annotations

from pydantic import ConfigDict

from gateway.wire.base import Instant, WireModel


class WorldSummary(WireModel):
    """What world is being served and how costly its ticks are."""

    model_config = ConfigDict(extra="ignore")  # tolerate fields added later (older clients read newer gateways)

    city: str
    subscribers: int
    cells: int
    now: Instant
    tick_seconds: int
    ticks: int
    last_tick_ms: float
    mean_tick_ms: float
    seed: int | None = None
    country: str | None = None
    timezone: str | None = None
    start: Instant | None = None
    clock_mode: str | None = None
