"""Wire models every partner event-subscription resource shares (``/campaigns/v1/subscriptions``,
``/journeys/v1/subscriptions``): the request generic in its event types, the subscription and the list.
"""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import Field

from gateway.wire.base import Instant, WireModel
from gateway.wire.webhooks import SinkCredential

TypeT = TypeVar("TypeT", bound=str)


class EventSubscriptionRequest(WireModel, Generic[TypeT]):
    """A sink for some event types (all of them when ``types`` is left out)."""

    sink: str = Field(min_length=1, max_length=2048)
    sink_credential: SinkCredential | None = None
    types: list[TypeT] | None = Field(default=None, min_length=1)


class EventSubscriptionView(WireModel):
    """An event subscription."""

    id: str
    sink: str
    types: list[str]
    created_at: Instant
    status: Literal["ACTIVE", "EXPIRED"]


class EventSubscriptionList(WireModel):
    """The partner's event subscriptions of one resource, oldest first."""

    subscriptions: list[EventSubscriptionView]
