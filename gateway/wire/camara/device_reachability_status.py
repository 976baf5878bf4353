"""Wire models of CAMARA ``device-reachability-status`` v1: the request (a device) and whether it is reachable
now, by data and/or SMS.
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
