"""Wire models of the operator console's admin API (``/admin/v1/console``): the map (cells as hexagons, zones,
named places), the live state pushed on every clock move (clock, occupancy per cell, test phones, campaigns,
geofences, recent geofence events, outbox counts) and a subscriber's track of recent cells.

Operator side only: per-cell counts and subscriber numbers are fine here, never on a partner route.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gateway.wire.base import Instant, WireModel


class ConsoleCell(WireModel):
    """One cell drawn as a regular hexagon of the cell's surface around its centre."""

    index: int = Field(description="Position of this cell in every per-cell list (occupancy counts).")
    id: str = Field(description="The network's cell id (ECGI).")
    latitude: float
    longitude: float
    zone: str
    hexagon: list[tuple[float, float]] = Field(description="Six (latitude, longitude) vertices.")


class ConsoleZone(WireModel):
    """A city zone as a ring: everything within ``radius`` metres of the centre and not in an inner zone."""

    name: str
    latitude: float
    longitude: float
    radius: float


class ConsolePlace(WireModel):
    """A named place of the city (a stadium, a station)."""

    name: str
    kind: str
    latitude: float
    longitude: float


class ConsoleMap(WireModel):
    """Everything static the console draws: the city's outline, zones, places and cells."""

    city: str
    country: str
    center: tuple[float, float] = Field(description="(latitude, longitude) of the city centre.")
    bounds: tuple[float, float, float, float] = Field(
        description="(south, west, north, east) in degrees, around every cell.")
    boundary: list[tuple[float, float]] = Field(description="The city's outline as (latitude, longitude) points.")
    zones: list[ConsoleZone]
    places: list[ConsolePlace]
    cells: list[ConsoleCell]


class ConsoleClock(WireModel):
    """The clock as the console shows it."""

    now: Instant
    mode: Literal["manual", "paced"]
    factor: float
    paused: bool


class ConsoleOccupancy(WireModel):
    """Subscribers served by each cell now (operator side, exact)."""

    now: Instant
    total: int
    max: int
    counts: list[int] = Field(description="One count per cell, in the map's cell order.")


class ConsolePhone(WireModel):
    """A test phone and where the network sees it."""

    msisdn: str
    name: str
    latitude: float
    longitude: float
    cell_id: str
    cell_index: int
    pinned: bool


class ConsoleArea(WireModel):
    """A circle (``radius`` metres) or a polygon (``boundary``) in WGS84."""

    kind: Literal["CIRCLE", "POLYGON"]
    latitude: float | None = None
    longitude: float | None = None
    radius: float | None = None
    boundary: list[tuple[float, float]] | None = None


class ConsoleCampaign(WireModel):
    """A campaign's areas and its deliveries so far (raw operator-side totals)."""

    id: str
    partner_id: str
    name: str
    status: str
    areas: list[ConsoleArea]
    sent: int
    delivered: int
    suppressed: int


class ConsoleGeofence(WireModel):
    """A geofencing subscription: the watched phone, its circle and its evaluation state."""

    id: str
    partner_id: str
    msisdn: str
    event_type: str
    area: ConsoleArea
    status: str
    inside: bool
    events: int


class ConsoleEvent(WireModel):
    """A recent geofencing notification in the outbox."""

    event_id: str
    subscription_id: str
    type: str
    time: Instant
    state: str


class ConsoleOutbox(WireModel):
    """Outbox events per delivery state."""

    pending: int
    retrying: int
    delivered: int
    dead: int
    cancelled: int


class ConsoleState(WireModel):
    """What changes as the clock moves: sent on the stream after every move, and by ``GET .../state``."""

    clock: ConsoleClock
    occupancy: ConsoleOccupancy
    phones: list[ConsolePhone]
    campaigns: list[ConsoleCampaign]
    geofences: list[ConsoleGeofence]
    geofence_events: list[ConsoleEvent] = Field(description="The most recent geofencing notifications, newest first.")
    outbox: ConsoleOutbox


class ConsoleTrackPoint(WireModel):
    """The subscriber was served by this cell from ``at``."""

    at: Instant
    cell_id: str
    cell_index: int
    latitude: float
    longitude: float


class ConsoleTrack(WireModel):
    """A subscriber's recent cells, oldest first, and where they are now."""

    msisdn: str
    name: str
    is_test: bool
    since: Instant
    points: list[ConsoleTrackPoint]
    latitude: float
    longitude: float


class ConsoleTrackQuery(WireModel):
    """How far back the track goes."""

    hours: float = Field(default=6.0, gt=0, le=168, description="Hours of history (at most a week).")
