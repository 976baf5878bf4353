"""Wire model of the liveness probe (``/health``): status, simulated time and clock mode.
"""

from __future__ import annotations

from typing import Literal

from gateway.wire.base import Instant, WireModel


class Health(WireModel):
    """The gateway is up; where its world's clock stands."""

    status: Literal["UP"] = "UP"
    sim_time: Instant
    clock_mode: str
