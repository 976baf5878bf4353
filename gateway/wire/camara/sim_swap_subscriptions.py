"""Wire models of CAMARA ``sim-swap-subscriptions`` v0.3: the subscription request and its config, the
subscription and the list.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, RootModel

from gateway.wire.base import Instant, WireModel
from gateway.wire.camara.subject import PhoneNumber
from gateway.wire.camara.subscriptions import Subscription as SubscriptionBase
from gateway.wire.camara.subscriptions import SubscriptionRequest as SubscriptionRequestBase


class SubscriptionDetail(WireModel):
    """The line to watch (two-legged tokens only; a three-legged token names it)."""

    phone_number: PhoneNumber | None = None


class Config(WireModel):
    """Subscription settings."""

    subscription_detail: SubscriptionDetail
    subscription_expire_time: Instant | None = None
    subscription_max_events: int | None = Field(default=None, ge=1)


class SubscriptionRequest(SubscriptionRequestBase[
        Literal["org.camaraproject.sim-swap-subscriptions.v0.swapped"], Config]):
    """A new SIM swap subscription."""


class Subscription(SubscriptionBase[Config]):
    """A SIM swap subscription."""


class SubscriptionList(RootModel[list[Subscription]]):
    """The list answer: a bare JSON array of subscriptions, as every CAMARA version served defines it."""
