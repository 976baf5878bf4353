"""Wire models of :mod:`gateway.http.camara.device_reachability_status`.
"""

from __future__ import annotations

from typing import Literal

from gateway.wire.base import Instant, WireModel
from gateway.wire.camara.subject import Device, DeviceResponse


class DeviceStatusRequest(WireModel):
    """The device (two-legged tokens only)."""

    device: Device | None = None


class ReachabilityStatusResponse(WireModel):
    """Reachability now."""

    device: DeviceResponse | None = None
    last_status_time: Instant
    reachable: bool
    connectivity: list[Literal["DATA", "SMS"]] | None = None
