"""What the CDP holds: sources, normalised tracking messages, profiles as the partner sees them, audiences.

Owns :class:`Source` (where a partner's events come from: a write key, optionally bound to one of its apps),
:class:`Message` (one Segment-spec call after normalisation: identities, the event it stands for, its instants),
:class:`ProfileView` (one resolved profile), :class:`Audience` (a stored definition) and the notices the CDP emits
for the triggers that will listen to it (:class:`AudienceChange`, :class:`EventsIngested`). It must not know about
HTTP, SQL or how audiences are evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.core.ids import AUDIENCE_PREFIX, SOURCE_PREFIX, format_id

MESSAGE_TYPES: tuple[str, ...] = ("track", "identify", "page", "screen", "group", "alias")
"""Segment call types (the index is the type code in the log)."""

PAGE_EVENT = "Page Viewed"
"""The event a ``page`` call stands for in profiles and audiences (its ``name`` and ``category`` become
properties)."""
SCREEN_EVENT = "Screen Viewed"
"""The event a ``screen`` call stands for."""

DEDUP_WINDOW_US = 24 * 3600 * 1_000_000
"""A ``messageId`` seen again within this much simulated time is dropped (Segment's rolling de-duplication)."""
RETENTION_DAYS = 90
"""Events older than this are dropped from the log; audience windows are at most this long."""
HISTORY_LIMIT = 100
"""Most recent events a profile read answers with, at most."""


@dataclass(frozen=True)
class Source:
    """A source of one partner: its write key authenticates tracking calls (``app_seq``: bound to that app, whose
    simulated installs report through it)."""

    seq: int
    partner_id: int
    name: str
    app_seq: int | None
    created_at: datetime

    @property
    def id(self) -> str:
        """Public id (``src_000001``)."""
        return format_id(SOURCE_PREFIX, self.seq)


@dataclass(frozen=True)
class Message:
    """One tracking call, normalised: ``event`` is what profiles and audiences count (``None`` for identify, group
    and alias); instants in microseconds of simulated time (``time_us`` is the skew-corrected event time)."""

    type: str
    message_id: str
    user_id: str | None
    anonymous_id: str | None
    event: str | None
    properties: dict[str, Any]
    traits: dict[str, Any]
    previous_id: str | None
    group_id: str | None
    time_us: int
    received_us: int
    original_us: int | None = None
    sent_us: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Stored form (the log's payload)."""
        return {"type": self.type, "event": self.event, "properties": self.properties, "traits": self.traits,
                "previousId": self.previous_id, "groupId": self.group_id, "originalUs": self.original_us,
                "sentUs": self.sent_us}


@dataclass(frozen=True)
class RecentEvent:
    """One event of a profile's history."""

    message_id: str
    type: str
    event: str | None
    properties: dict[str, Any]
    source_id: str | None
    timestamp_us: int
    received_us: int


@dataclass(frozen=True)
class ProfileView:
    """A resolved profile as its partner sees it: its identities, traits, audiences and latest events."""

    user_id: str | None
    user_ids: list[str]
    anonymous_ids: list[str]
    traits: dict[str, Any]
    groups: dict[str, dict[str, Any]]
    audiences: list[str]
    first_seen_us: int
    last_seen_us: int
    events: list[RecentEvent] = field(default_factory=list)


@dataclass(frozen=True)
class Audience:
    """A stored audience definition (``definition`` as submitted, wire form)."""

    seq: int
    partner_id: int
    name: str
    definition: dict[str, Any]
    created_at: datetime

    @property
    def id(self) -> str:
        """Public id (``aud_000001``)."""
        return format_id(AUDIENCE_PREFIX, self.seq)


@dataclass(frozen=True)
class AudienceChange:
    """Profiles that entered and left one audience at one instant (root profile numbers of the partner's space)."""

    partner_id: int
    audience_seq: int
    at_us: int
    entered: NDArray[np.int64]
    exited: NDArray[np.int64]


@dataclass(frozen=True)
class EventsIngested:
    """Events that reached the partner's profiles in one call or app batch (aligned columns)."""

    partner_id: int
    profiles: NDArray[np.int64]
    events: tuple[str, ...]
    """Event names; ``codes`` index into it."""
    codes: NDArray[np.int64]
    time_us: NDArray[np.int64]
    properties: tuple[dict[str, Any], ...] = ()
    """Each event's properties (tracking calls; empty for the simulated installs' batches, which carry none)."""
