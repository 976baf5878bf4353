"""Wire models of the admin line API (``/admin/v1/subscribers/{msisdn}/line``, ``.../sim-swap``): a subscriber's
SIM activation and latest swap.
"""

from __future__ import annotations

from gateway.wire.base import Instant, WireModel


class LineInfo(WireModel):
    """When the line was activated, when its SIM last changed, and how many swaps the simulation made."""

    msisdn: str
    activated_at: Instant
    latest_sim_change: Instant
    swaps_since_start: int
