"""Wire models of the CDP: the Segment-spec tracking calls (``/v1/track`` ... ``/v1/batch``) and the partner's
CDP API ``/cdp/v1`` (sources, profiles, audiences).

Tracking calls follow the Segment HTTP API spec, which RudderStack and others share: field names are the spec's
(already camelCase), fields the spec allows but the CDP does not use (``integrations``, ``_metadata``, ``context``
but for an identify's ``context.traits``, ...) are accepted and ignored, so off-the-shelf analytics libraries work
unchanged; the fields it uses are typed strictly. The CDP API models are strict like every other. It must not know
about HTTP nor about how profiles resolve or audiences evaluate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints

from gateway.wire.base import Instant, WireModel

MessageType = Literal["track", "identify", "page", "screen", "group", "alias"]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=200)] | StrictInt
"""A user, anonymous, previous or group id: a string (numbers are accepted and read as their decimal string)."""
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class TrackingCall(BaseModel):
    """One Segment-spec call. Which fields a call needs depends on its ``type`` (checked by the CDP with the
    field's path): ``userId`` or ``anonymousId`` always except for ``alias`` (``userId`` and ``previousId``),
    ``event`` for ``track``, ``groupId`` for ``group``."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    type: MessageType | None = None
    """Required in a batch; the endpoint decides it otherwise."""
    message_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        default=None, alias="messageId")
    user_id: Identifier | None = Field(default=None, alias="userId")
    anonymous_id: Identifier | None = Field(default=None, alias="anonymousId")
    previous_id: Identifier | None = Field(default=None, alias="previousId")
    group_id: Identifier | None = Field(default=None, alias="groupId")
    event: Name | None = None
    name: Name | None = None
    category: Name | None = None
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    timestamp: datetime | None = None
    original_timestamp: datetime | None = Field(default=None, alias="originalTimestamp")
    sent_at: datetime | None = Field(default=None, alias="sentAt")
    write_key: str | None = Field(default=None, alias="writeKey")
    """The source's write key, when it is not given as the HTTP Basic user."""


class TrackingBatch(BaseModel):
    """``/v1/batch``: many calls, each with its ``type``; ``sentAt`` applies to the calls that have none."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    batch: list[TrackingCall] = Field(max_length=10_000)
    sent_at: datetime | None = Field(default=None, alias="sentAt")
    context: dict[str, Any] | None = None
    write_key: str | None = Field(default=None, alias="writeKey")


class TrackingAck(BaseModel):
    """What every accepted tracking call answers (Segment's ``{"success": true}``)."""

    model_config = ConfigDict(frozen=True)

    success: bool = True


# -- the partner's CDP API --------------------------------------------------------------------------------------

class SourceRequest(WireModel):
    """A source to create: its name, and the app whose installs report through it (optional)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
    app_id: str | None = None


class Source(WireModel):
    """A source of the partner's events; ``writeKey`` is shown once, when it is created."""

    id: str
    name: str
    app_id: str | None = None
    write_key: str | None = None
    created_at: Instant


class SourceList(WireModel):
    """The partner's sources, oldest first."""

    sources: list[Source]


class ProfileEvent(WireModel):
    """One call in a profile's history."""

    message_id: str
    type: MessageType
    event: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    source_id: str | None = None
    timestamp: Instant
    received_at: Instant


class Profile(WireModel):
    """A resolved profile: its identities, merged traits, audiences and latest calls (newest first)."""

    user_id: str | None = None
    user_ids: list[str]
    anonymous_ids: list[str]
    traits: dict[str, Any]
    groups: dict[str, dict[str, Any]]
    audiences: list[str]
    first_seen_at: Instant
    last_seen_at: Instant
    events: list[ProfileEvent]


class ProfileQuery(WireModel):
    """How many of the latest calls a profile read answers with."""

    limit: int = Field(default=20, ge=0, le=100)


class AudienceRequest(WireModel):
    """An audience to define: a name and a condition over events, traits and group traits (README "CDP" describes
    the language; the CDP validates it, each fault with its path)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
    definition: dict[str, Any]


class Audience(WireModel):
    """An audience with its current size as the partner may see it: rounded to two significant figures, withheld
    (``sizeSuppressed``) from 1 to the privacy threshold minus one."""

    id: str
    name: str
    definition: dict[str, Any]
    size: int | None = None
    size_suppressed: StrictBool
    created_at: Instant


class AudienceList(WireModel):
    """The partner's audiences, oldest first."""

    audiences: list[Audience]


class MembersQuery(WireModel):
    """A page of an audience's members."""

    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=1000, ge=1, le=10_000)


class AudienceMembers(WireModel):
    """Members of an audience by the partner's own user ids (members known only anonymously are not listed)."""

    audience_id: str
    user_ids: list[str]
    total: int
    """Members with a user id."""
    next_offset: int | None = None
