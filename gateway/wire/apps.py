"""Wire models of the partner apps registry (``/apps/v1``) and its operator side (installs, push truth).

Owns the app a partner registers (name, platforms, categories, popularity, push quota), the app as answered, the
admin view of simulated installs and the operator-side truth of one push message. The FCM-compatible send body
lives in :mod:`gateway.wire.fcm`. It must not know about HTTP nor about how installs are drawn.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, StrictFloat, StrictInt, StringConstraints, model_validator

from gateway.wire.base import Instant, WireModel

Platform = Literal["ANDROID", "IOS"]
Category = Literal[
    "SPORTS", "FOOTBALL", "MUSIC", "TRAVEL", "FOOD", "FASHION", "TECH", "GAMING", "FINANCE", "AUTO", "HEALTH",
    "BEAUTY", "KIDS", "PETS", "HOME", "BOOKS", "MOVIES", "OUTDOORS", "FITNESS", "ART", "EDUCATION", "SHOPPING",
    "NIGHTLIFE", "CRYPTO",
]
"""App categories: the interest catalogue of the simulated population (an app of a category draws people with
that interest more)."""
LocationPermission = Literal["NEVER", "WHILE_USING", "ALWAYS"]
PushStatus = Literal["DELIVERED", "HELD", "EXPIRED", "SUPPRESSED"]
"""``SUPPRESSED``: a marketing (visible) push to an install without in-app marketing consent, never sent."""


class AppRequest(WireModel):
    """An app to register: what it is and how popular it is among the simulated subscribers it fits."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
    platforms: list[Platform] = Field(min_length=1, max_length=2)
    categories: list[Category] = Field(default_factory=list, max_length=5)
    popularity: StrictFloat | StrictInt = Field(ge=0, le=1)
    """Share of fitting subscribers who install it (before age and interest weighting)."""
    push_quota_per_minute: StrictInt = Field(default=6000, ge=1, le=600_000)
    """FCM sends the project may make per simulated minute (``QUOTA_EXCEEDED`` beyond)."""


class App(WireModel):
    """A registered app; its ``id`` is also its FCM project id."""

    id: str
    name: str
    platforms: list[Platform]
    categories: list[Category]
    popularity: float
    push_quota_per_minute: int
    installs: int
    """Simulated devices that have it installed now."""
    created_at: Instant


class AppList(WireModel):
    """The partner's apps, oldest first."""

    apps: list[App]


class Installation(WireModel):
    """One simulated install (operator side: it names the subscriber's number)."""

    installation_id: str
    phone_number: str
    user_id: str
    """The brand's own account id of the user (what the partner knows them by)."""
    registration_token: str
    platform: Platform
    notifications_permitted: bool
    marketing_consent: bool
    location_permission: LocationPermission
    installed: bool
    line_linked: bool
    """The user linked their phone line to the app account (operator signals need it and location permission)."""


class InstallationChange(WireModel):
    """Permissions of one install to set now (operator side); at least one, the others stay as they are."""

    notifications: bool | None = None
    """The OS notification permission."""
    marketing_consent: bool | None = None
    location_permission: LocationPermission | None = None
    line_linked: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("give at least one of notifications, marketingConsent, locationPermission, lineLinked")
        nulls = [f for f in sorted(self.model_fields_set) if getattr(self, f) is None]
        if nulls:
            raise ValueError(f"{nulls[0]} must not be null")
        return self


class InstallationList(WireModel):
    """A page of an app's installs, in install-table order."""

    installations: list[Installation]
    total: int


class InstallationQuery(WireModel):
    """Which installs to list: a page, or those of one number."""

    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=100, ge=1, le=1000)
    phone_number: str | None = None


class PushMessage(WireModel):
    """Operator-side truth of one push: where it went and what became of it."""

    id: str
    app_id: str
    installation_id: str
    phone_number: str
    status: PushStatus
    displayed: bool
    """Shown to the user (notification permitted and the message has a notification); false for data only."""
    created_at: Instant
    expires_at: Instant
    delivered_at: Instant | None = None
    opened_at: Instant | None = None
    """When the user tapped it (a displayed push; the partner learns it only from the app's own events)."""
    fanout_id: str | None = None
    """The ``pst_`` message id of the topic or condition send this push is part of."""


class PushFanout(WireModel):
    """Operator-side truth of one topic or condition send (``pst_`` id): its pushes counted by outcome."""

    id: str
    app_id: str
    target: str
    """The topic or condition as sent."""
    created_at: Instant
    recipients: int
    """Installs it went to (one push row each)."""
    delivered: int
    held: int
    expired: int
    suppressed: int
    displayed: int
    opened: int
