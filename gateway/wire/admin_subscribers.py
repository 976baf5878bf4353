"""Wire models of the admin subscribers API (``/admin/v1/subscribers``): the operator's view of a subscriber
(profile, location, consent and its history), consent changes, pins, test subscribers to add, and inboxes.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, SerializerFunctionWrapHandler, StringConstraints, model_serializer

from gateway.wire.base import Instant, WireModel
from gateway.wire.geo import Latitude, Longitude

Msisdn = Annotated[str, StringConstraints(pattern=r"^\+?[1-9][0-9]{4,14}$")]


Name = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class SubscriberProfile(WireModel):
    """Operator-side profile of a subscriber (never shown to partners)."""

    msisdn: str
    imsi: str
    name: str
    first_name: str
    last_name: str
    email: str
    age: int
    gender: str
    language: str
    status: str
    interests: list[str]
    os: str
    app_installed: bool
    tariff: str
    roaming: bool
    home_country: str
    timezone: str
    is_test: bool


class ConsentRecord(WireModel):
    """One change of a subscriber's consent; ``channel`` is null for a change on every channel of the purpose."""

    at: Instant
    purpose: str
    channel: str | None
    granted: bool
    source: str

    @model_serializer(mode="wrap")
    def _keep_channel(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A null channel means "every channel": it stays on the wire even when None fields are left out.
        data: dict[str, Any] = handler(self)
        return {key: data.get(key) for key in ("at", "purpose", "channel", "granted", "source")
                if key in data or key == "channel"}


class Location(WireModel):
    """Where the network sees a subscriber (serving cell) and where they truly are (operator-side truth)."""

    model_config = ConfigDict(extra="ignore")  # tolerate fields added later (older clients read newer gateways)

    cell_id: str
    latitude: float
    longitude: float
    cell_latitude: float
    cell_longitude: float
    cell_radius: float
    last_seen: Instant
    reachable: bool
    pinned: bool
    moving: bool | None = None


class SubscriberView(WireModel):
    """Full operator-side view of a subscriber."""

    profile: SubscriberProfile
    location: Location
    consent: dict[str, dict[str, bool]]
    """Granted or not, per purpose and channel (``ANY`` for purposes without channels)."""
    consent_history: list[ConsentRecord]


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
