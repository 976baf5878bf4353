"""Wire models every CAMARA event-subscription API shares (``geofencing-subscriptions``,
``sim-swap-subscriptions``): protocols, statuses, HTTP sink settings, and the generic request and subscription.
"""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import Field

from gateway.wire.base import Instant, WireModel
from gateway.wire.webhooks import SinkCredential

Protocols = Literal["HTTP", "MQTT3", "MQTT5", "AMQP", "NATS", "KAFKA"]


Status = Literal["ACTIVATION_REQUESTED", "ACTIVE", "EXPIRED", "INACTIVE", "DELETED"]


TypeT = TypeVar("TypeT")


RequestConfigT = TypeVar("RequestConfigT", bound=WireModel)


ConfigT = TypeVar("ConfigT", bound=WireModel)


class HttpSettings(WireModel):
    """HTTP delivery settings (POST only; custom headers are not supported and refused)."""

    method: Literal["POST"] | None = None


class SubscriptionRequest(WireModel, Generic[TypeT, RequestConfigT]):
    """A new subscription: where and how to deliver, the event types and the API's ``config``."""

    protocol: Protocols
    sink: str = Field(min_length=1, max_length=2048)
    sink_credential: SinkCredential | None = None
    types: list[TypeT] = Field(min_length=1)
    config: RequestConfigT
    protocol_settings: HttpSettings | None = None


class Subscription(WireModel, Generic[ConfigT]):
    """A subscription as answered: the request's delivery fields, the API's ``config`` and the lifecycle."""

    protocol: Literal["HTTP"] = "HTTP"
    sink: str
    types: list[str]
    config: ConfigT
    id: str
    starts_at: Instant
    expires_at: Instant | None = None
    status: Status
