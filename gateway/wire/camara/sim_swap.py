"""Wire models of CAMARA ``sim-swap`` v2: the check (``maxAge`` hours) and retrieve-date requests and their
answers.
"""

from __future__ import annotations

from pydantic import StrictInt

from gateway.wire.base import Instant, WireModel
from gateway.wire.camara.subject import PhoneNumber

MAX_AGE_DEFAULT = 240


class CreateCheckSimSwap(WireModel):
    """Has the SIM changed within ``maxAge`` hours (1-2400, default 240)?"""

    phone_number: PhoneNumber | None = None
    max_age: StrictInt = MAX_AGE_DEFAULT


class CreateSimSwapDate(WireModel):
    """When did the SIM last change?"""

    phone_number: PhoneNumber | None = None


class CheckSimSwapInfo(WireModel):
    """Whether the SIM changed within the period."""

    swapped: bool


class SimSwapInfo(WireModel):
    """Latest SIM change (``null`` beyond the monitored period, then ``monitoredPeriod`` in days)."""

    latest_sim_change: Instant | None
    monitored_period: int | None = None
