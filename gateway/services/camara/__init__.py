"""The CAMARA network API services (location, insights, device status, geofencing, SIM swap events).

Owns :class:`CamaraServices`, the bundle the CAMARA handlers in :mod:`gateway.http.camara` call.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.services.camara.callbacks import AsyncAnswers
from gateway.services.camara.device_status import DeviceStatusService
from gateway.services.camara.geofencing import GeofencingService
from gateway.services.camara.insights import InsightsService
from gateway.services.camara.location import LocationService


@dataclass(frozen=True)
class CamaraServices:
    """Everything the CAMARA handlers call."""

    location: LocationService
    insights: InsightsService
    status: DeviceStatusService
    geofencing: GeofencingService
    answers: AsyncAnswers
