"""Wire models of CAMARA ``geofencing-subscriptions`` (v0.3 to v0.5): the area-entered/left subscription
request and its config, the subscription and the list.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, RootModel

from gateway.wire.base import Instant, WireModel
from gateway.wire.camara.areas import Circle
from gateway.wire.camara.subject import Device, DeviceResponse
from gateway.wire.camara.subscriptions import Subscription as SubscriptionBase
from gateway.wire.camara.subscriptions import SubscriptionRequest as SubscriptionRequestBase

GeofenceType = Literal["org.camaraproject.geofencing-subscriptions.v0.area-entered",
                       "org.camaraproject.geofencing-subscriptions.v0.area-left"]


class SubscriptionDetailRequest(WireModel):
    """The device (two-legged tokens only) and the circle to watch."""

    device: Device | None = None
    area: Circle


class ConfigRequest(WireModel):
    """Subscription settings."""

    subscription_detail: SubscriptionDetailRequest
    subscription_expire_time: Instant | None = None
    subscription_max_events: int | None = Field(default=None, ge=1)
    initial_event: bool | None = None


class SubscriptionRequest(SubscriptionRequestBase[GeofenceType, ConfigRequest]):
    """A new geofencing subscription."""


class SubscriptionDetail(WireModel):
    """What is watched."""

    device: DeviceResponse | None = None
    area: Circle


class ConfigResponse(WireModel):
    """Settings granted."""

    subscription_detail: SubscriptionDetail
    subscription_expire_time: Instant | None = None
    subscription_max_events: int | None = None
    initial_event: bool | None = None


class Subscription(SubscriptionBase[ConfigResponse]):
    """A geofencing subscription."""


class SubscriptionList(RootModel[list[Subscription]]):
    """The list answer: a bare JSON array of subscriptions, as every CAMARA version served defines it."""
