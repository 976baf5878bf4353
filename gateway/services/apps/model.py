"""What a partner app is: its registration, its stored form and the answer about one install.

Owns :class:`AppSpec` (as registered), :class:`AppRecord` (as stored, with its counter and instant) and the names of
platforms and location permissions. It must not know about HTTP, SQL or how installs are drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.core.ids import APP_PREFIX, format_id, parse_public_id

PLATFORMS: tuple[str, ...] = ("ANDROID", "IOS")
"""Platform codes of the install table (the index is the code)."""
LOCATION_PERMISSIONS: tuple[str, ...] = ("NEVER", "WHILE_USING", "ALWAYS")
"""In-app location permission codes of the install table (the index is the code)."""


@dataclass(frozen=True)
class AppSpec:
    """An app as the partner registers it."""

    name: str
    platforms: tuple[str, ...]
    categories: tuple[str, ...]
    popularity: float
    push_quota_per_minute: int

    def to_json(self) -> dict[str, Any]:
        """Stored form."""
        return {"name": self.name, "platforms": list(self.platforms), "categories": list(self.categories),
                "popularity": self.popularity, "pushQuotaPerMinute": self.push_quota_per_minute}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AppSpec:
        """Read the stored form back."""
        return cls(data["name"], tuple(data["platforms"]), tuple(data["categories"]), float(data["popularity"]),
                   int(data["pushQuotaPerMinute"]))


@dataclass(frozen=True)
class AppRecord:
    """A registered app: its counter (the id is ``app_<seq>``), owner, spec and registration instant."""

    seq: int
    partner_id: int
    spec: AppSpec
    created_at: datetime

    @property
    def id(self) -> str:
        """Public id, also the app's FCM project id."""
        return format_id(APP_PREFIX, self.seq)


def app_seq(app_id: str) -> int | None:
    """The counter behind an app id, ``None`` when it is not one."""
    return parse_public_id(app_id, APP_PREFIX)


@dataclass(frozen=True)
class InstallInfo:
    """One row of an app's install table, decoded (operator side)."""

    row: int
    subscriber: int
    installation_id: str
    user_id: str
    token: str
    platform: str
    notifications_permitted: bool
    marketing_consent: bool
    location_permission: str
    installed: bool
    line_linked: bool
    """The user linked their phone line to the app account."""
