"""Wire models of the admin gatherings API (``/admin/v1/gatherings``): a gathering to add (a named place or a
point, a share or a count of people, between two instants) and the gatherings as listed.
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, StringConstraints, model_validator

from gateway.wire.base import Instant, WireModel
from gateway.wire.geo import Latitude, Longitude


class GatheringCreate(WireModel):
    """A named place of the city or coordinates inside it; a share of the base population or a head count."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    place: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    start: Instant
    end: Instant
    share: Annotated[float, Field(gt=0, le=1)] | None = None
    count: Annotated[int, Field(ge=1)] | None = None
    arrive_before_minutes: Annotated[int, Field(ge=0, le=1440)] = 60
    """Attendees arrive during this lead-up to ``start``."""

    @model_validator(mode="after")
    def _where_and_how_many(self) -> Self:
        if (self.place is None) == (self.latitude is None or self.longitude is None):
            raise ValueError("give either place or both latitude and longitude")
        if self.place is not None and (self.latitude is not None or self.longitude is not None):
            raise ValueError("give either place or both latitude and longitude")
        if (self.share is None) == (self.count is None):
            raise ValueError("give exactly one of share, count")
        return self


class Gathering(WireModel):
    """A gathering as set up: where, when and how many attend."""

    id: str
    name: str
    place: str | None = None
    latitude: float
    longitude: float
    start: Instant
    end: Instant
    attendees: int


class GatheringList(WireModel):
    """Every gathering of the world, in the order they were added."""

    gatherings: list[Gathering]
