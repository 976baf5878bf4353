"""Wire models of the admin subscribers API (``/admin/v1/subscribers``): the operator's view of a subscriber
(profile, location, consent and its history), consent changes, pins, test subscribers to add, and inboxes.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints

from gateway.wire.base import WireModel
from gateway.wire.geo import Latitude, Longitude

Msisdn = Annotated[str, StringConstraints(pattern=r"^\+?[1-9][0-9]{4,14}$")]


Name = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Location(WireModel):
    """Where the network sees a subscriber (serving cell) and where they truly are (operator-side truth)."""

    model_config = ConfigDict(extra="ignore")  # built from the world's dict; tolerate fields added later

    cell_id: str
    latitude: float
    longitude: float
    cell_latitude: float
    cell_longitude: float
    cell_radius: float
    last_seen: str
    reachable: bool
    pinned: bool
    moving: bool | None = None


class SubscriberView(WireModel):
    """Full operator-side view of a subscriber."""

    profile: dict[str, Any]
    location: Location
    consent: dict[str, Any]
    consent_history: list[dict[str, Any]]


class ConsentChange(WireModel):
    """Grant or withdraw consent for a purpose, on one channel or (``channel`` absent/null) all of them."""

    purpose: Name
    channel: Name | None = None
    granted: bool


class PinRequest(WireModel):
    """A place inside the city."""

    latitude: Latitude
    longitude: Longitude


class ProfileFields(WireModel):
    """Profile of a test subscriber; every field optional (the simulator fills sensible defaults)."""

    first_name: Name | None = None
    last_name: Name | None = None
    age: int | None = Field(default=None, ge=0, le=120)
    gender: Name | None = None
    language: Name | None = None
    status: Name | None = None
    interests: list[Name] | None = Field(default=None, max_length=50)
    os: Name | None = None
    app_installed: bool | None = None
    tariff: Name | None = None
    roaming: bool | None = None


class NewTestSubscriber(WireModel):
    """An integrator's QA phone: chosen number, profile fields, consent by purpose and channel, place."""

    msisdn: Msisdn
    profile: ProfileFields = Field(default_factory=ProfileFields)
    consent: dict[Name, dict[Name, bool]] = Field(default_factory=dict)
    latitude: Latitude | None = None
    longitude: Longitude | None = None


class Inbox(WireModel):
    """Messages the device received, oldest first."""

    messages: list[dict[str, Any]]
