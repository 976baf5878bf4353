"""Wire models of CAMARA ``region-device-count`` v0.2: the area, interval and filters to count, the count
answered, and the asynchronous answer.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gateway.wire.base import Instant, WireModel
from gateway.wire.camara.insights import CountStatus
from gateway.wire.geo import Point
from gateway.wire.webhooks import SinkCredential


class CountArea(WireModel):
    """A circle (center, radius) or polygon (boundary); checked by hand for the API's own error codes."""

    area_type: Literal["CIRCLE", "POLYGON"]
    center: Point | None = None
    radius: float | None = Field(default=None, ge=1)
    boundary: list[Point] | None = None


class Filter(WireModel):
    """Roaming and device-type filters (at least one criterion)."""

    roaming_status: list[Literal["roaming", "non-roaming"]] | None = Field(default=None, min_length=1)
    device_type: list[Literal["human device", "IoT device", "other"]] | None = Field(default=None, min_length=1)


class RegionDeviceCountRequest(WireModel):
    """Area, optional interval (both ends or neither), optional filter."""

    area: CountArea
    starttime: Instant | None = None
    endtime: Instant | None = None
    filter: Filter | None = None
    sink: str | None = None
    sink_credential: SinkCredential | None = None


class RegionDeviceCountResponse(WireModel):
    """The count (absent when withheld) and the status."""

    count: int | None = None
    status: CountStatus


class AcceptedResponse(WireModel):
    """``202``: the answer will be POSTed to the sink (an empty object; the callback carries the x-correlator)."""
