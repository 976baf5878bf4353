"""Wire models of CAMARA ``population-density-data`` v0.3: the polygon and interval to cover, the hourly
density grid answered, and the asynchronous answer.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from gateway.wire.base import Instant, WireModel
from gateway.wire.camara.insights import DensityStatus
from gateway.wire.geo import Point
from gateway.wire.webhooks import SinkCredential


class DensityArea(WireModel):
    """The area: a polygon (other shapes are refused with the API's own code)."""

    area_type: Literal["POLYGON", "CIRCLE"]
    boundary: list[Point] | None = None
    center: Point | None = None
    radius: float | None = None


class PopulationDensityRequest(WireModel):
    """Polygon, interval (past or future, at most 7 days) and geohash precision."""

    area: DensityArea
    start_time: Instant
    end_time: Instant
    precision: int = Field(default=7, ge=1, le=12)
    sink: str | None = None
    sink_credential: SinkCredential | None = None


class PopulationDensityResponse(WireModel):
    """Hourly slots of per-geohash densities."""

    timed_population_density_data: list[dict[str, Any]]
    status: DensityStatus


class AcceptedAsyncResponse(WireModel):
    """``202``: the answer will be POSTed to the sink with this ``operationId``."""

    operation_id: str
