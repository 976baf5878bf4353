"""Wire model of CAMARA ``device-roaming-status`` v1: whether the device is roaming, and in which country.
"""

from __future__ import annotations

from gateway.wire.base import Instant, WireModel
from gateway.wire.camara.subject import DeviceResponse


class RoamingStatusResponse(WireModel):
    """Roaming now, with the visited country (MCC and ISO code) when roaming."""

    device: DeviceResponse | None = None
    last_status_time: Instant
    roaming: bool
    country_code: int | None = None
    country_name: list[str] | None = None
